"""Amortized inference against the references: ``python -m peakflow.experiments.compare``.

One common simulated test set (the bundled model's setting); every method runs on it:

* amortized      – `peakflow.infer` (one pass; K estimated),
* amortized+refine – `peakflow.refine`: a few SVI steps from the amortized posterior,
* SVI            – NumPyro, the paper's mean-field guide from random starts, K known,
* MCMC           – NumPyro NUTS from the ground truth, K known (on the first ``--mcmc-n``),
* least squares  – lmfit from `find_peaks` guesses, K known.

Writes to ``--out``: the figures of the paper's Figs. 4-7 (log-likelihood histogram, K
confusion, absolute errors, sd against MCMC sd), calibration beyond the paper (coverage of
50 % and 90 % credible intervals, SBC rank histograms of the amortized posterior), a timing
table, ``metrics.json`` and ``report.md``. ``--quick`` shrinks everything to finish in minutes
on 2 CPU cores and says so in the report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import peakflow  # noqa: E402
from peakflow.calibration import coverage, normal_interval, q_intervals, sbc_ranks  # noqa: E402
from peakflow.evaluation import confusion_matrix, match_peaks  # noqa: E402
from peakflow.inference import fit_log_likelihood  # noqa: E402
from peakflow.model import PARAMETERS, Peaks  # noqa: E402
from peakflow.reference import fit_lsq, fit_svi_restarts, run_mcmc  # noqa: E402
from peakflow.train import FAILURE_THRESHOLD  # noqa: E402

LEVELS = (0.5, 0.9)


class MethodResult(NamedTuple):
    """One method's answer on the rows it ran on; Peaks fields (n, P)."""

    name: str
    rows: np.ndarray
    mean: Peaks
    std: Peaks
    intervals: dict  # level -> (lo Peaks, hi Peaks)
    log_lik: np.ndarray
    seconds_per_spectrum_batched: float
    seconds_per_spectrum_single: float | None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, help="test spectra (default 1000; quick 100)")
    p.add_argument("--quick", action="store_true", help="fewer spectra, shorter SVI and MCMC")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--model", default=None, help="model directory (default: bundled)")
    p.add_argument("--out", type=Path, default=Path("experiments/results/compare"))
    p.add_argument("--svi-steps", type=int, help="default 100000 (quick 5000)")
    p.add_argument("--svi-restarts", type=int, default=1)
    p.add_argument("--svi-init", choices=["random", "peaks"], default="random",
                   help="SVI starts: uniform random (as plain SVI) or find_peaks guesses")
    p.add_argument("--svi-lr", type=float, help="default 1e-3 as in the paper (quick 1e-2)")
    p.add_argument("--refine-steps", type=int, default=300)
    p.add_argument("--mcmc-n", type=int, help="spectra for MCMC (default all; quick 20)")
    p.add_argument("--mcmc-warmup", type=int, help="default 1000 (quick 300)")
    p.add_argument("--mcmc-samples", type=int, help="default 2000 (quick 500)")
    p.add_argument("--mcmc-chains", type=int, default=2)
    p.add_argument("--lsq-n", type=int, help="spectra for least squares (default all)")
    p.add_argument("--skip", nargs="*", default=[], choices=["refine", "svi", "mcmc", "lsq"])
    args = p.parse_args(argv)
    quick = args.quick
    defaults = dict(n=(100, 1000), svi_steps=(5000, 100_000), svi_lr=(1e-2, 1e-3),
                    mcmc_n=(20, None), mcmc_warmup=(300, 1000), mcmc_samples=(500, 2000))
    for name, (q, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, q if quick else full)
    args.mcmc_n = min(args.mcmc_n or args.n, args.n)
    args.lsq_n = min(args.lsq_n or args.n, args.n)
    return args


def _from_posterior(name, post, rows, batched, single) -> MethodResult:
    mean = Peaks(*(getattr(post, p).mean for p in PARAMETERS))
    std = Peaks(*(getattr(post, p).std for p in PARAMETERS))
    intervals = {lv: q_intervals(post._q, lv) for lv in LEVELS}
    return MethodResult(name, rows, mean, std, intervals, post.log_likelihood, batched, single)


def _from_q(name, q, num_peaks, x, noise, rows, batched, single) -> MethodResult:
    present = np.arange(q.amplitude_mean.shape[-1])[None, :] < num_peaks[:, None]
    q = jax.tree.map(lambda a: np.where(present, np.asarray(a, np.float64), np.nan), q)
    mean, std = q.mean(), q.std()
    mean, std = Peaks(*map(np.asarray, mean)), Peaks(*map(np.asarray, std))
    intervals = {lv: q_intervals(q, lv) for lv in LEVELS}
    log_lik = fit_log_likelihood(x, mean, noise)
    return MethodResult(name, rows, mean, std, intervals, log_lik, batched, single)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def run_amortized(x, model, args) -> tuple[MethodResult, peakflow.Posterior]:
    peakflow.infer(x, model=model)
    post, seconds = _timed(peakflow.infer, x, model=model)
    peakflow.infer(x[0], model=model)
    singles = [_timed(peakflow.infer, x[i % len(x)], model=model)[1] for i in range(20)]
    rows = np.arange(len(x))
    return _from_posterior("amortized", post, rows, seconds / len(x),
                           float(np.median(singles))), post


def run_refine(x, post, model, args) -> MethodResult:
    kwargs = dict(steps=args.refine_steps, model=model)
    refined, seconds = _timed(peakflow.refine, x, post, **kwargs)
    one = peakflow.infer(x[0], model=model)
    peakflow.refine(x[0], one, **kwargs)
    _, single = _timed(peakflow.refine, x[0], one, **kwargs)
    return _from_posterior("amortized+refine", refined, np.arange(len(x)), seconds / len(x),
                           single)


def run_svi(x, data, model, args) -> MethodResult:
    cfg = model.config
    k = np.asarray(data.num_peaks)
    common = dict(restarts=args.svi_restarts, steps=args.svi_steps, lr=args.svi_lr,
                  noise=cfg.sim.noise, sim=cfg.sim, slots=cfg.model.k_max, init=args.svi_init)
    bar = tqdm(total=args.svi_steps, desc="SVI (all spectra)", unit="step")
    q, seconds = _timed(fit_svi_restarts, jnp.asarray(x), jnp.asarray(k),
                        key=jax.random.PRNGKey(args.seed), progress=lambda d: bar.update(
                            d - bar.n), **common)
    bar.close()
    # one spectrum alone, with the same steps (includes its compilation, like the batch)
    _, single = _timed(fit_svi_restarts, jnp.asarray(x[:1]), jnp.asarray(k[:1]),
                       key=jax.random.PRNGKey(1), **common)
    return _from_q("SVI", q, k, x, cfg.sim.noise, np.arange(len(x)), seconds / len(x), single)


def run_mcmc_reference(x, data, model, args) -> tuple[MethodResult, dict]:
    cfg = model.config
    rows = np.arange(args.mcmc_n)
    truth = jax.tree.map(lambda a: np.asarray(a)[rows], data.peaks)
    bar = tqdm(total=len(rows), desc="MCMC (NUTS)", unit="spectrum")
    summary, seconds = _timed(
        run_mcmc, x[rows], np.asarray(data.num_peaks)[rows], truth,
        key=jax.random.PRNGKey(args.seed + 1), num_warmup=args.mcmc_warmup,
        num_samples=args.mcmc_samples, num_chains=args.mcmc_chains, noise=cfg.sim.noise,
        sim=cfg.sim, slots=cfg.model.k_max, progress=bar.update)
    bar.close()
    quant = summary.quantiles  # (n, P, 5) at 0.05 .. 0.95
    intervals = {0.5: (Peaks(*(q[..., 1] for q in quant)), Peaks(*(q[..., 3] for q in quant))),
                 0.9: (Peaks(*(q[..., 0] for q in quant)), Peaks(*(q[..., 4] for q in quant)))}
    result = MethodResult("MCMC", rows, summary.mean, summary.std, intervals,
                          fit_log_likelihood(x[rows], summary.mean, cfg.sim.noise),
                          seconds / len(rows), seconds / len(rows))
    finite = np.isfinite(summary.ess)
    diagnostics = {"max_rhat": float(np.max(summary.rhat)),
                   "median_rhat": float(np.median(summary.rhat[finite])) if finite.any() else None,
                   "min_ess": float(np.min(summary.ess[finite])) if finite.any() else None,
                   "median_ess": float(np.median(summary.ess[finite])) if finite.any() else None,
                   "warmup": args.mcmc_warmup, "samples": args.mcmc_samples,
                   "chains": args.mcmc_chains, "spectra": len(rows)}
    return result, diagnostics


def run_lsq(x, data, model, args) -> MethodResult:
    rows = np.arange(args.lsq_n)
    k = np.asarray(data.num_peaks)[rows]
    bar = tqdm(total=len(rows), desc="least squares (lmfit)", unit="spectrum")
    fit, seconds = _timed(fit_lsq, x[rows], k, model.config.model.k_max, progress=bar.update)
    bar.close()
    intervals = {}
    for lv in LEVELS:
        bounds = [normal_interval(v, s, lv) for v, s in zip(fit.value, fit.stderr)]
        intervals[lv] = (Peaks(*(b[0] for b in bounds)), Peaks(*(b[1] for b in bounds)))
    return MethodResult("least squares", rows, fit.value, fit.stderr, intervals,
                        fit_log_likelihood(x[rows], fit.value, model.config.sim.noise),
                        seconds / len(rows), seconds / len(rows))


def _matched(result: MethodResult, data) -> tuple[np.ndarray, np.ndarray]:
    """Index of the method's peak matched to each true peak (rows of the result) and mask."""
    mask = np.asarray(data.mask)[result.rows]
    idx = match_peaks(np.asarray(data.peaks.location)[result.rows], mask, result.mean.location)
    return np.maximum(idx, 0), mask & (idx >= 0)


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(values, idx, axis=1)


def method_metrics(result: MethodResult, data) -> dict:
    idx, matched = _matched(result, data)
    out = {"spectra": int(len(result.rows)),
           "failure_rate": float(np.mean(result.log_lik < FAILURE_THRESHOLD)),
           "median_log_lik": float(np.median(result.log_lik)),
           "seconds_per_spectrum_batched": result.seconds_per_spectrum_batched,
           "seconds_per_spectrum_single": result.seconds_per_spectrum_single,
           "median_abs_error": {}, "coverage": {}}
    for name in PARAMETERS:
        truth = np.asarray(getattr(data.peaks, name))[result.rows]
        err = np.abs(_take(getattr(result.mean, name), idx) - truth)[matched]
        out["median_abs_error"][name] = float(np.median(err)) if err.size else None
        out["coverage"][name] = {
            str(lv): coverage(_take(getattr(lo, name), idx), _take(getattr(hi, name), idx),
                              truth, matched)
            for lv, (lo, hi) in result.intervals.items()}
    return out


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _finish_panels(fig, axes, ylabel, path):
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7)
    _save(fig, path)


def plot_log_lik(results, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    lo = 1000.0
    bins = np.linspace(lo, 1700, 71)
    for r in results:
        ax.hist(np.clip(r.log_lik, lo, None), bins=bins, histtype="step", lw=1.5,
                label=f"{r.name} ({np.mean(r.log_lik < FAILURE_THRESHOLD):.1%} fail)")
    ax.axvline(FAILURE_THRESHOLD, color="k", ls="--", lw=1, label="failure threshold")
    ax.set_xlabel(f"log-likelihood of the fit (nats; values < {lo:.0f} shown at {lo:.0f})")
    ax.set_ylabel("spectra")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_confusion(matrix, path):
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), c in np.ndenumerate(matrix):
        ax.text(j, i, str(c), ha="center", va="center",
                color="white" if c > matrix.max() / 2 else "black")
    ax.set_xlabel("estimated K")
    ax.set_ylabel("true K")
    ax.set_title("amortized: number of peaks")
    _save(fig, path)


def plot_errors(results, data, path):
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
    for ax, name in zip(axes, PARAMETERS):
        errs = []
        for r in results:
            idx, matched = _matched(r, data)
            truth = np.asarray(getattr(data.peaks, name))[r.rows]
            errs.append(np.abs(_take(getattr(r.mean, name), idx) - truth)[matched])
        top = max(float(np.quantile(np.concatenate(errs), 0.99)), 1e-6)
        bins = np.logspace(np.log10(top) - 4, np.log10(top) + 0.5, 40)
        for r, e in zip(results, errs):
            ax.hist(np.clip(e, bins[0], None), bins=bins, histtype="step", lw=1.3, label=r.name)
        ax.set_xscale("log")
        ax.set_title(f"|error| of {name}")
    _finish_panels(fig, axes, "peaks", path)


def plot_sd_vs_mcmc(results, mcmc, data, path):
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    mask = np.asarray(data.mask)[mcmc.rows]
    for ax, name in zip(axes, PARAMETERS):
        ref = getattr(mcmc.std, name)[mask]
        for r in results:
            idx, matched = _matched(r, data)
            sd = _take(getattr(r.std, name)[mcmc.rows], idx[mcmc.rows])
            ok = mask & matched[mcmc.rows] & np.isfinite(sd)
            if not ok.any():
                continue
            ref_r, sd_r = getattr(mcmc.std, name)[ok], sd[ok]
            if r.name == "amortized":
                ax.scatter(ref_r, sd_r, s=5, alpha=0.4, color="C1")
            edges = np.quantile(ref_r, np.linspace(0, 1, 11))
            which = np.clip(np.searchsorted(edges, ref_r, side="right") - 1, 0, 9)
            xs = [ref_r[which == b].mean() for b in range(10) if np.any(which == b)]
            ys = [sd_r[which == b].mean() for b in range(10) if np.any(which == b)]
            ax.plot(xs, ys, "s-", ms=4, label=r.name)
        if ref.size:
            lim = [ref.min(), ref.max()]
            ax.plot(lim, lim, "k--", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"MCMC sd of {name}")
    _finish_panels(fig, axes, "estimated sd", path)


def amortized_sbc(post, data, key, draws=99) -> dict[str, np.ndarray]:
    samples = post.sample(key, draws)
    idx, matched = _matched(MethodResult("a", np.arange(len(data.num_peaks)),
                                         Peaks(*(getattr(post, p).mean for p in PARAMETERS)),
                                         None, {}, None, 0, 0), data)
    out = {}
    for name in PARAMETERS:
        d = np.take_along_axis(getattr(samples, name), np.broadcast_to(idx, (draws,) + idx.shape),
                               axis=2)
        out[name] = sbc_ranks(d, np.asarray(getattr(data.peaks, name)), matched)
    return out


def plot_sbc(ranks, draws, path):
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for ax, (name, r) in zip(axes, ranks.items()):
        ax.hist(r, bins=np.linspace(-0.5, draws + 0.5, 21), color="C0")
        ax.axhline(len(r) / 20, color="k", ls="--", lw=1)
        ax.set_title(f"SBC ranks of {name}")
    _save(fig, path)


def write_report(path, metrics, args):
    m = metrics["methods"]
    lines = ["# peakflow: amortized inference against reference fits", ""]
    if args.quick:
        lines += ["**Quick run** (`--quick`): fewer spectra and much shorter SVI and MCMC than "
                  "the paper's; numbers are indicative only.", ""]
    s = metrics["settings"]
    lines += [f"Test set: {s['n']} simulated spectra (seed {s['seed']}); SVI {s['svi_steps']} "
              f"Adam steps (lr {s['svi_lr']}, {s['svi_restarts']} {s['svi_init']} start(s)); "
              f"refine {s['refine_steps']} steps; MCMC NUTS on {s['mcmc_n']} spectra "
              f"({s['mcmc_chains']} chains × {s['mcmc_warmup']} warm-up + {s['mcmc_samples']} "
              f"draws, started at the truth); least squares on {s['lsq_n']} spectra. "
              f"Device: {metrics['device']}.", ""]
    lines += ["## Fit quality (Fig. 4) and number of peaks (Fig. 5)", "",
              "| method | spectra | failure rate (< 1300 nats) | median log-lik |",
              "| --- | --- | --- | --- |"]
    for name, r in m.items():
        lines.append(f"| {name} | {r['spectra']} | {r['failure_rate']:.3f} | "
                     f"{r['median_log_lik']:.1f} |")
    lines += ["", f"Amortized K accuracy: {metrics['k_accuracy']:.4f} (SVI, MCMC and least "
              "squares are given the true K).", "", "## Median absolute error (Fig. 6)", "",
              "| method | " + " | ".join(PARAMETERS) + " |", "|---" * 5 + "|"]
    for name, r in m.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r['median_abs_error'][p]:.4g}" if r['median_abs_error'][p] is not None else "–"
            for p in PARAMETERS) + " |")
    lines += ["", "## Calibration: coverage of central credible intervals", "",
              "Share of true values inside each method's central 50 % / 90 % interval "
              "(calibrated: 0.50 / 0.90). Least squares uses ± z·stderr.", "",
              "| method | " + " | ".join(PARAMETERS) + " |", "|---" * 5 + "|"]
    for name, r in m.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r['coverage'][p]['0.5']:.2f} / {r['coverage'][p]['0.9']:.2f}"
            for p in PARAMETERS) + " |")
    lines += ["", "SBC rank histograms of the amortized posterior: `sbc_ranks.png` "
              "(flat when calibrated). Chi-square p-values of uniformity: " + ", ".join(
                  f"{p} {v:.3g}" for p, v in metrics["sbc_uniformity_p"].items()) + ".", "",
              "## Time per spectrum (same machine)", "",
              "| method | batched (s/spectrum) | single spectrum (s) | amortized speed-up "
              "(batched / single) |", "| --- | --- | --- | --- |"]
    a = m["amortized"]
    for name, r in m.items():
        sb, ss = r["seconds_per_spectrum_batched"], r["seconds_per_spectrum_single"]
        speed = (f"{sb / a['seconds_per_spectrum_batched']:.3g}× / "
                 f"{ss / a['seconds_per_spectrum_single']:.3g}×" if name != "amortized" else "1×")
        lines.append(f"| {name} | {sb:.3g} | {ss:.3g} | {speed} |")
    lines += ["", "Amortized timings exclude the one-off compilation; SVI and refine single "
              "timings include it (the batch figures amortise it); MCMC and least squares run "
              "spectrum by spectrum, so batched = single.", ""]
    if "mcmc_diagnostics" in metrics:
        d = metrics["mcmc_diagnostics"]
        lines += ["## MCMC diagnostics", "",
                  f"split R-hat: max {d['max_rhat']:.3f}, median {d['median_rhat']:.3f}; "
                  f"effective sample size: min {d['min_ess']:.0f}, median {d['median_ess']:.0f} "
                  f"({d['chains']} chains × {d['samples']} draws).", ""]
    lines += ["## Figures", "", "![log-likelihood](loglik_hist.png)",
              "![confusion](confusion.png)", "![errors](abs_errors.png)"]
    if (path.parent / "sd_vs_mcmc.png").exists():
        lines.append("![sd vs MCMC](sd_vs_mcmc.png)")
    lines.append("![SBC](sbc_ranks.png)")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> dict:
    from scipy import stats

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    model = peakflow.load_model(args.model)
    data = peakflow.simulate_batch(jax.random.PRNGKey(args.seed), model.config.sim, args.n)
    x = np.asarray(data.spectrum)
    print(f"test set: {args.n} spectra; model {model.path}", flush=True)

    amortized, post = run_amortized(x, model, args)
    results = [amortized]
    if "refine" not in args.skip:
        results.append(run_refine(x, post, model, args))
    if "svi" not in args.skip:
        results.append(run_svi(x, data, model, args))
    mcmc = None
    metrics = {"device": f"{jax.devices()[0].device_kind} ({jax.default_backend()})",
               "quick": args.quick,
               "settings": {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in vars(args).items()}}
    if "mcmc" not in args.skip:
        mcmc, metrics["mcmc_diagnostics"] = run_mcmc_reference(x, data, model, args)
        results.append(mcmc)
    if "lsq" not in args.skip:
        results.append(run_lsq(x, data, model, args))

    metrics["methods"] = {r.name: method_metrics(r, data) for r in results}
    true_k = np.asarray(data.num_peaks)
    metrics["k_accuracy"] = float(np.mean(post.num_peaks == true_k))
    metrics["confusion"] = confusion_matrix(true_k, post.num_peaks, model.config.model.k_max)
    draws = 99
    ranks = amortized_sbc(post, data, jax.random.PRNGKey(args.seed + 2), draws)
    counts = {p: np.histogram(r, bins=np.linspace(-0.5, draws + 0.5, 21))[0]
              for p, r in ranks.items()}
    metrics["sbc_uniformity_p"] = {p: float(stats.chisquare(c).pvalue) for p, c in counts.items()}

    plot_log_lik(results, args.out / "loglik_hist.png")
    plot_confusion(metrics["confusion"], args.out / "confusion.png")
    plot_errors(results, data, args.out / "abs_errors.png")
    if mcmc is not None:
        plot_sd_vs_mcmc([r for r in results if r.name != "MCMC"], mcmc, data,
                        args.out / "sd_vs_mcmc.png")
    plot_sbc(ranks, draws, args.out / "sbc_ranks.png")
    metrics["confusion"] = metrics["confusion"].tolist()
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(args.out / "report.md", metrics, args)
    print((args.out / "report.md").read_text())
    return metrics


if __name__ == "__main__":
    main()
