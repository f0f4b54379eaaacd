"""Figures and the Markdown report of ``python -m peakflow.experiments.compare``, and the
per-method result they are drawn from."""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.core.training import FAILURE_THRESHOLD
from peakflow.grid.exactness import NUM_SAMPLES
from peakflow.metrics import match_peaks


class MethodResult(NamedTuple):
    """One method's answer on the rows it ran on; Peaks fields (n, P)."""

    name: str
    rows: np.ndarray
    mean: Peaks
    sd: Peaks
    intervals: dict  # level -> (lo Peaks, hi Peaks)
    log_lik: np.ndarray
    seconds_per_spectrum_batched: float
    seconds_per_spectrum_single: float | None


def matched_peaks(result: MethodResult, data) -> tuple[np.ndarray, np.ndarray]:
    """Index of the method's peak matched to each true peak (rows of the result) and mask."""
    mask = np.asarray(data.mask)[result.rows]
    idx = match_peaks(np.asarray(data.peaks.location)[result.rows], mask, result.mean.location)
    return np.maximum(idx, 0), mask & (idx >= 0)


def take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(values, idx, axis=1)


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
            idx, matched = matched_peaks(r, data)
            truth = np.asarray(getattr(data.peaks, name))[r.rows]
            errs.append(np.abs(take(getattr(r.mean, name), idx) - truth)[matched])
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
        ref = getattr(mcmc.sd, name)[mask]
        for r in results:
            idx, matched = matched_peaks(r, data)
            sd = take(getattr(r.sd, name)[mcmc.rows], idx[mcmc.rows])
            ok = mask & matched[mcmc.rows] & np.isfinite(sd)
            if not ok.any():
                continue
            ref_r, sd_r = getattr(mcmc.sd, name)[ok], sd[ok]
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


def write_report(path, metrics, args):
    m = metrics["methods"]
    lines = ["# peakflow: amortized inference against reference fits", ""]
    if args.quick:
        lines += ["**Quick run** (`--quick`): fewer spectra and much shorter SVI and MCMC than "
                  "the paper's; numbers are indicative only.", ""]
    s = metrics["settings"]
    lines += [f"Test set: {s['n']} simulated spectra (seed {s['seed']}); SVI {s['svi_steps']} "
              f"Adam steps (lr {s['svi_lr']}, {s['svi_restarts']} {s['svi_init']} start(s)); "
              f"finetune {s['finetune_steps']} steps; MCMC NUTS on {s['mcmc_n']} spectra "
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
    lines += ["", "SBC (99 draws per peak; χ² p-values of rank uniformity, > 0.01 is "
              "consistent with calibration; ECDF-difference plots with simultaneous 95 % bands "
              "in `sbc_ecdf_*.png`):", "", "| posterior | " + " | ".join(PARAMETERS) + " |",
              "|---" * 5 + "|"]
    for name, ps in metrics["sbc_uniformity_p"].items():
        lines.append(f"| {name} | " + " | ".join(f"{ps[p]:.3g}" for p in PARAMETERS) + " |")
    imp = metrics["importance"]
    lines += ["", f"Exactness step: k̂ < 0.7 on {imp['khat_below_0.7']:.3f} of spectra with "
              f"peaks (median k̂ {imp['median_khat']:.2f}, median effective sample size "
              f"{imp['median_ess']:.0f} of {NUM_SAMPLES} draws).", ""]
    if "sd_ratio_to_mcmc" in metrics:
        lines += ["Median ratio of each method's posterior sd to MCMC's (matched peaks; 1 is "
                  "ideal):", "", "| method | " + " | ".join(PARAMETERS) + " |", "|---" * 5 + "|"]
        for name, ratios in metrics["sd_ratio_to_mcmc"].items():
            lines.append(f"| {name} | " + " | ".join(
                f"{ratios[p]:.2f}" if ratios[p] is not None else "–" for p in PARAMETERS) + " |")
    lines += ["",
              "## Time per spectrum (same machine)", "",
              "| method | batched (s/spectrum) | single spectrum (s) | amortized speed-up "
              "(batched / single) |", "| --- | --- | --- | --- |"]
    a = m["amortized"]
    for name, r in m.items():
        sb, ss = r["seconds_per_spectrum_batched"], r["seconds_per_spectrum_single"]
        speed = (f"{sb / a['seconds_per_spectrum_batched']:.3g}× / "
                 f"{ss / a['seconds_per_spectrum_single']:.3g}×" if name != "amortized" else "1×")
        lines.append(f"| {name} | {sb:.3g} | {ss:.3g} | {speed} |")
    lines += ["", "Amortized timings exclude the one-off compilation; SVI and finetune single "
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
    lines += ["![SBC amortized](sbc_ecdf_amortized.png)",
              "![SBC exact](sbc_ecdf_amortized_exact.png)"]
    path.write_text("\n".join(lines) + "\n")
