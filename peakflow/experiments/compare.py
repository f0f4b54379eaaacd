"""Amortized inference against the references: ``python -m peakflow.experiments.compare``.

One common simulated test set (the bundled model's setting); every method runs on it:

* amortized      – `peakflow.infer` (one pass; K estimated),
* amortized+exact – `peakflow.reweight`: the exactness step (importance sampling against the
                   exact posterior of the chosen K, Pareto-smoothed by ArviZ),
* amortized+finetune – `peakflow.finetune`: a few SVI steps from the amortized posterior,
* SVI            – NumPyro, the paper's mean-field guide from random starts, K known,
* MCMC           – NumPyro NUTS from the ground truth, K known (on the first ``--mcmc-n``),
* least squares  – lmfit from `find_peaks` guesses, K known.

Writes to ``--out``: the figures of the paper's Figs. 4-7 (log-likelihood histogram, K
confusion, absolute errors, sd against MCMC sd), calibration beyond the paper (coverage of
50 % and 90 % credible intervals, SBC ECDF-difference plots with simultaneous bands of the
amortized posterior with and without the exactness step, the median ratio of each method's sd
to MCMC's), a timing
table, ``metrics.json`` and ``report.md``. ``--quick`` shrinks everything to finish in minutes
on 2 CPU cores and says so in the report.

SVI, MCMC and least squares run on chunks of ``--chunk`` spectra, each written to
``OUT/parts`` as it finishes (`peakflow.experiments.compare_parts`): a killed or cut-off run
started again with the same arguments continues where it stopped, on the same test set with
the same seeds (chunk i's key is the method's key folded with its first row; the first chunk
uses the key itself, so one chunk reproduces an unchunked run), and ``--status`` says what is
done. The amortized methods take seconds and are rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import peakflow  # noqa: E402
from peakflow.core.lineshape import PARAMETERS, Peaks, slot_mask  # noqa: E402
from peakflow.core.training import FAILURE_THRESHOLD  # noqa: E402
from peakflow.core.variational import PeakQ  # noqa: E402
from peakflow.experiments.compare_parts import (  # noqa: E402
    check_settings,
    flat,
    remove_partial,
    run_in_parts,
    status,
    unflat,
)
from peakflow.experiments.compare_report import (  # noqa: E402
    MethodResult,
    matched_peaks,
    plot_confusion,
    plot_errors,
    plot_log_lik,
    plot_sd_vs_mcmc,
    take,
    write_report,
)
from peakflow.grid.posterior import fit_log_likelihood  # noqa: E402
from peakflow.metrics import confusion_matrix  # noqa: E402
from peakflow.reference import fit_lsq, fit_svi_restarts, run_mcmc  # noqa: E402
from peakflow.reliability import (  # noqa: E402
    coverage,
    normal_interval,
    plot_sbc_ecdf,
    sbc,
    uniformity_p,
)

LEVELS = (0.5, 0.9)


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
    p.add_argument("--finetune-steps", type=int, default=300)
    p.add_argument("--mcmc-n", type=int, help="spectra for MCMC (default all; quick 20)")
    p.add_argument("--mcmc-warmup", type=int, help="default 1000 (quick 300)")
    p.add_argument("--mcmc-samples", type=int, help="default 2000 (quick 500)")
    p.add_argument("--mcmc-chains", type=int, default=2)
    p.add_argument("--lsq-n", type=int, help="spectra for least squares (default all)")
    p.add_argument("--skip", nargs="*", default=[], choices=["finetune", "svi", "mcmc", "lsq"])
    p.add_argument("--chunk", type=int, help="spectra per saved part (default 50; quick: all)")
    p.add_argument("--status", action="store_true", help="print which parts are done, exit")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = dict(n=(100, 1000), svi_steps=(5000, 100_000), svi_lr=(1e-2, 1e-3),
                    mcmc_n=(20, None), mcmc_warmup=(300, 1000), mcmc_samples=(500, 2000))
    for name, (q, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, q if quick else full)
    args.mcmc_n = min(args.mcmc_n or args.n, args.n)
    args.lsq_n = min(args.lsq_n or args.n, args.n)
    if args.chunk is None:
        args.chunk = args.n if quick else 50
    return args


def chunk_key(key: jax.Array, rows: np.ndarray) -> jax.Array:
    """The key of the chunk starting at ``rows[0]`` (the method's own key for the first)."""
    return key if rows[0] == 0 else jax.random.fold_in(key, int(rows[0]))


def _from_posterior(name, post, rows, batched, single) -> MethodResult:
    intervals = {lv: post.interval(lv) for lv in LEVELS}
    return MethodResult(name, rows, post.mean(), post.sd(), intervals, post.log_likelihood,
                        batched, single)


def _from_q(name, q, num_peaks, x, noise, rows, batched, single) -> MethodResult:
    present = slot_mask(num_peaks, q.amplitude_mean.shape[-1])
    q = jax.tree.map(lambda a: np.where(present, np.asarray(a, np.float64), np.nan), q)
    mean, std = q.mean(), q.sd()
    mean, std = Peaks(*map(np.asarray, mean)), Peaks(*map(np.asarray, std))
    intervals = {lv: q.interval(lv) for lv in LEVELS}
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


def run_exact(x, post, model, args) -> tuple[MethodResult, peakflow.Posterior]:
    peakflow.reweight(x, post, model=model)  # compile first
    exact, seconds = _timed(peakflow.reweight, x, post, model=model)
    one = peakflow.infer(x[0], model=model)
    single = float(np.median([_timed(peakflow.reweight, x[0], one, model=model)[1]
                              for _ in range(5)]))
    return _from_posterior("amortized+exact", exact, np.arange(len(x)), seconds / len(x),
                           single), exact


def run_finetune(x, post, model, args) -> MethodResult:
    kwargs = dict(steps=args.finetune_steps, model=model)
    refined, seconds = _timed(peakflow.finetune, x, post, **kwargs)
    one = peakflow.infer(x[0], model=model)
    peakflow.finetune(x[0], one, **kwargs)
    _, single = _timed(peakflow.finetune, x[0], one, **kwargs)
    return _from_posterior("amortized+finetune", refined, np.arange(len(x)), seconds / len(x),
                           single)


def run_svi(x, data, model, args) -> MethodResult:
    cfg = model.config
    k = np.asarray(data.num_peaks)
    common = dict(restarts=args.svi_restarts, steps=args.svi_steps, lr=args.svi_lr,
                  noise=cfg.sim.noise, sim=cfg.sim, slots=cfg.model.k_max, init=args.svi_init)
    key = jax.random.PRNGKey(args.seed)

    def compute(rows):
        return flat("q", fit_svi_restarts(jnp.asarray(x[rows]), jnp.asarray(k[rows]),
                                          key=chunk_key(key, rows), **common))

    def alone(rows):  # one spectrum, the same steps, its compilation included
        fit_svi_restarts(jnp.asarray(x[:1]), jnp.asarray(k[:1]), key=jax.random.PRNGKey(1),
                         **common)
        return {}

    bar = tqdm(total=len(x), desc="SVI", unit="spectrum")
    parts = run_in_parts(args.out, "SVI", len(x), args.chunk, compute, bar.update)
    bar.close()
    single = float(run_in_parts(args.out, "SVI single", 1, 1, alone)["seconds"][0])
    q = unflat("q", parts, PeakQ)
    return _from_q("SVI", q, k, x, cfg.sim.noise, np.arange(len(x)),
                   float(parts["seconds"].sum()) / len(x), single)


def run_mcmc_reference(x, data, model, args) -> tuple[MethodResult, dict]:
    cfg = model.config
    k = np.asarray(data.num_peaks)
    key = jax.random.PRNGKey(args.seed + 1)

    def compute(rows):
        truth = jax.tree.map(lambda a: np.asarray(a)[rows], data.peaks)
        s = run_mcmc(x[rows], k[rows], truth, key=chunk_key(key, rows),
                     num_warmup=args.mcmc_warmup, num_samples=args.mcmc_samples,
                     num_chains=args.mcmc_chains, noise=cfg.sim.noise, sim=cfg.sim,
                     slots=cfg.model.k_max)
        return {**flat("mean", s.mean), **flat("sd", s.sd), **flat("quantiles", s.quantiles),
                "rhat": s.rhat, "ess": s.ess}

    bar = tqdm(total=args.mcmc_n, desc="MCMC (NUTS)", unit="spectrum")
    parts = run_in_parts(args.out, "MCMC", args.mcmc_n, args.chunk, compute, bar.update)
    bar.close()
    rows = np.arange(args.mcmc_n)
    mean, sd = unflat("mean", parts, Peaks), unflat("sd", parts, Peaks)
    quant = unflat("quantiles", parts, Peaks)  # (n, P, 5) at 0.05 .. 0.95
    intervals = {0.5: (Peaks(*(q[..., 1] for q in quant)), Peaks(*(q[..., 3] for q in quant))),
                 0.9: (Peaks(*(q[..., 0] for q in quant)), Peaks(*(q[..., 4] for q in quant)))}
    seconds = float(parts["seconds"].sum()) / len(rows)
    result = MethodResult("MCMC", rows, mean, sd, intervals,
                          fit_log_likelihood(x[rows], mean, cfg.sim.noise), seconds, seconds)
    rhat, ess = parts["rhat"], parts["ess"]
    finite = np.isfinite(ess)
    diagnostics = {"max_rhat": float(np.max(rhat)),
                   "median_rhat": float(np.median(rhat[finite])) if finite.any() else None,
                   "min_ess": float(np.min(ess[finite])) if finite.any() else None,
                   "median_ess": float(np.median(ess[finite])) if finite.any() else None,
                   "not_converged": [int(i) for i in np.flatnonzero(rhat > 1.1)],
                   "warmup": args.mcmc_warmup, "samples": args.mcmc_samples,
                   "chains": args.mcmc_chains, "spectra": len(rows)}
    return result, diagnostics


def run_lsq(x, data, model, args) -> MethodResult:
    k = np.asarray(data.num_peaks)

    def compute(rows):
        fit = fit_lsq(x[rows], k[rows], model.config.model.k_max)
        return {**flat("value", fit.value), **flat("stderr", fit.stderr)}

    bar = tqdm(total=args.lsq_n, desc="least squares (lmfit)", unit="spectrum")
    parts = run_in_parts(args.out, "least squares", args.lsq_n, args.chunk, compute,
                         bar.update)
    bar.close()
    rows = np.arange(args.lsq_n)
    value, stderr = unflat("value", parts, Peaks), unflat("stderr", parts, Peaks)
    intervals = {}
    for lv in LEVELS:
        bounds = [normal_interval(v, s, lv) for v, s in zip(value, stderr)]
        intervals[lv] = (Peaks(*(b[0] for b in bounds)), Peaks(*(b[1] for b in bounds)))
    seconds = float(parts["seconds"].sum()) / len(rows)
    return MethodResult("least squares", rows, value, stderr, intervals,
                        fit_log_likelihood(x[rows], value, model.config.sim.noise),
                        seconds, seconds)


def method_metrics(result: MethodResult, data) -> dict:
    idx, matched = matched_peaks(result, data)
    out = {"spectra": int(len(result.rows)),
           "failure_rate": float(np.mean(result.log_lik < FAILURE_THRESHOLD)),
           "median_log_lik": float(np.median(result.log_lik)),
           "seconds_per_spectrum_batched": result.seconds_per_spectrum_batched,
           "seconds_per_spectrum_single": result.seconds_per_spectrum_single,
           "median_abs_error": {}, "coverage": {}}
    for name in PARAMETERS:
        truth = np.asarray(getattr(data.peaks, name))[result.rows]
        err = np.abs(take(getattr(result.mean, name), idx) - truth)[matched]
        out["median_abs_error"][name] = float(np.median(err)) if err.size else None
        out["coverage"][name] = {
            str(lv): coverage(take(getattr(lo, name), idx), take(getattr(hi, name), idx),
                              truth, matched)
            for lv, (lo, hi) in result.intervals.items()}
    return out


def sd_ratios(results: list[MethodResult], mcmc: MethodResult, data) -> dict:
    """Median over matched peaks of each method's sd / MCMC's sd, per parameter."""
    ref_idx, ref_ok = matched_peaks(mcmc, data)
    out = {}
    for r in results:
        if r.name == "MCMC" or r.sd is None:
            continue
        sub = r._replace(mean=Peaks(*(np.asarray(a)[mcmc.rows] for a in r.mean)),
                         rows=mcmc.rows)
        idx, ok = matched_peaks(sub, data)
        both = ok & ref_ok
        out[r.name] = {}
        for name in PARAMETERS:
            mine = take(np.asarray(getattr(r.sd, name))[mcmc.rows], idx)
            ref = take(np.asarray(getattr(mcmc.sd, name)), ref_idx)
            ratio = (mine / ref)[both]
            out[r.name][name] = float(np.median(ratio)) if ratio.size else None
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.status:
        done = status(args.out)
        for method, count in done.items():
            print(f"{method:>14}: {count['done']} of {count['chunks']} chunks")
        if not done:
            print(f"{args.out}: no run started")
        return done
    args.out.mkdir(parents=True, exist_ok=True)
    check_settings(args.out, args)
    remove_partial(args.out)
    model = peakflow.load_model(args.model)
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(args.seed), model.config.sim, args.n)
    x = np.asarray(data.spectrum)
    print(f"test set: {args.n} spectra; model {model.path}", flush=True)

    amortized, post = run_amortized(x, model, args)
    exact_result, exact = run_exact(x, post, model, args)
    results = [amortized, exact_result]
    if "finetune" not in args.skip:
        results.append(run_finetune(x, post, model, args))
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
    metrics["sbc_uniformity_p"] = {}
    for name, p in (("amortized", post), ("amortized+exact", exact)):
        ranks = sbc(p, data, jax.random.PRNGKey(args.seed + 2), draws)
        metrics["sbc_uniformity_p"][name] = {q: uniformity_p(r, draws) for q, r in ranks.items()}
        plot_sbc_ecdf(ranks, draws, args.out / f"sbc_ecdf_{name.replace('+', '_')}.png", name)
    metrics["importance"] = {
        "khat_below_0.7": float(np.mean(exact.importance.khat[exact.num_peaks > 0] <= 0.7)),
        "median_khat": float(np.nanmedian(exact.importance.khat)),
        "median_ess": float(np.nanmedian(exact.importance.ess[exact.num_peaks > 0]))}
    if mcmc is not None:
        metrics["sd_ratio_to_mcmc"] = sd_ratios(results, mcmc, data)

    plot_log_lik(results, args.out / "loglik_hist.png")
    plot_confusion(metrics["confusion"], args.out / "confusion.png")
    plot_errors(results, data, args.out / "abs_errors.png")
    if mcmc is not None:
        plot_sd_vs_mcmc([r for r in results if r.name != "MCMC"], mcmc, data,
                        args.out / "sd_vs_mcmc.png")
    metrics["confusion"] = metrics["confusion"].tolist()
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(args.out / "report.md", metrics, args)
    print((args.out / "report.md").read_text())
    return metrics


if __name__ == "__main__":
    main()
