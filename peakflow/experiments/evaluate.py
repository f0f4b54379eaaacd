"""Evaluate a model on fresh simulated spectra: ``python -m peakflow.experiments.evaluate``.

Draws a test set of the model's simulator setting (1000 spectra, seed 2024 by default; the
training data and the validation set use other seeds) and prints K accuracy, the K confusion
matrix, the failure rate, median parameter errors on matched peaks and the posterior sd; then
calibration: coverage of central 50 % / 90 % intervals per parameter and SBC uniformity
p-values, for the amortized posterior alone and after the exactness step (importance sampling,
`peakflow.reweight`, with k̂, effective sample size and its cost), and the reliability of P(K)
(expected calibration error) on the test set and on a harder set where K is genuinely
uncertain (weak peaks down to 2 noise sd, pairs as close as 15 points), both for the plug-in
P(K) of the posterior-mean trajectory and for P(K) averaged over sampled trajectories.
``--out`` also writes the SBC ECDF-difference plots and the reliability diagram.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import jax
import numpy as np

import peakflow
from peakflow.core.lineshape import PARAMETERS
from peakflow.experiments import save_json
from peakflow.metrics import evaluate_posterior, format_report
from peakflow.reliability import (
    calibration_report,
    k_reliability,
    plot_reliability,
    plot_sbc_ecdf,
)
from peakflow.runtime.reweighting import KHAT_MAX


def hard_setting(sim: peakflow.config.SimulatorConfig) -> peakflow.config.SimulatorConfig:
    """`sim` with weak peaks (amplitudes from 2 noise sd) and close pairs (15 points apart)."""
    return dataclasses.replace(sim, amplitude=(2 * sim.noise, sim.amplitude[1]),
                               amplitude_separation=0.0, min_separation=15.0)


def format_calibration(name: str, cal: dict) -> str:
    """A short text table of one `calibration_report`."""
    lines = [f"calibration — {name} ({cal['sbc_peaks']} matched peaks)",
             f"{'parameter':<12}{'50 % cov':>10}{'90 % cov':>10}{'SBC p':>12}"]
    for p in PARAMETERS:
        cov = cal["coverage"][p]
        lines.append(f"{p:<12}{cov['0.5']:>10.3f}{cov['0.9']:>10.3f}"
                     f"{cal['sbc_uniformity_p'][p]:>12.3g}")
    if "importance" in cal:
        imp = cal["importance"]
        lines.append(f"k̂ ≤ {KHAT_MAX:.2f} on {imp['khat_trusted']:.3f} of spectra with peaks; "
                     f"median k̂ "
                     f"{imp['median_khat']:.2f}, median ESS {imp['median_ess']:.0f}")
    return "\n".join(lines)


def k_calibration(model, sim, n: int, seed: int) -> dict:
    """ECE of P(K) on `n` spectra of `sim`: plug-in and trajectory-averaged P(K)."""
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(seed), sim, n)
    x, true_k = np.asarray(data.spectrum), np.asarray(data.num_peaks)
    with warnings.catch_warnings():  # the hard set lies outside the prior: misfits expected
        warnings.simplefilter("ignore", RuntimeWarning)
        plug_in = peakflow.infer(x, model=model)
        sampled = peakflow.infer(x, model=model, seed=seed + 1)
    return {"k_accuracy": float(np.mean(plug_in.num_peaks == true_k)),
            "plug_in": k_reliability(plug_in.k_probs, true_k),
            "sampled_paths": k_reliability(sampled.k_probs, true_k)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--n", type=int, default=1000, help="test spectra")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--setting-of", metavar="MODEL", default=None,
                        help="simulate the test spectra with this model's simulator (e.g. "
                             "'default' for the paper's setting); default: the evaluated one's")
    parser.add_argument("--amplitude-separation", type=float, default=None, metavar="GAP",
                        help="simulate with this gap between sorted amplitudes instead of the "
                             "setting's (0: amplitudes may be arbitrarily close, which breaks "
                             "the paper's separation rule)")
    parser.add_argument("--json", type=Path, help="also write the metrics here")
    parser.add_argument("--out", type=Path, help="folder for the calibration plots")
    parser.add_argument("--no-calibration", action="store_true",
                        help="accuracy and speed only")
    args = parser.parse_args(argv)

    model = peakflow.load_model(args.model)
    sim = model.config.sim if args.setting_of is None else _setting(args.setting_of)
    if args.amplitude_separation is not None:
        sim = dataclasses.replace(sim, amplitude_separation=args.amplitude_separation)
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(args.seed), sim, args.n)
    spectra = np.asarray(data.spectrum)
    peakflow.infer(spectra, model=model)  # compile for this batch size first
    start = time.perf_counter()
    post = peakflow.infer(spectra, model=model)
    elapsed = time.perf_counter() - start
    metrics = evaluate_posterior(post, data)
    metrics.update(model=str(model.path), seed=args.seed, seconds=elapsed)
    print(f"model: {model.path}")
    print(format_report(metrics))
    print(f"inference: {elapsed:.2f} s for {args.n} spectra ({args.n / elapsed:.0f} spectra/s)")
    if not args.no_calibration:
        metrics["calibration"] = calibrate(post, data, spectra, model, args, sim)
    save_json(args.json, metrics)
    return metrics


def _setting(name: str) -> peakflow.config.SimulatorConfig:
    """The simulator of a model directory, or of the bundled default for ``default``."""
    return peakflow.load_model(None if name == "default" else name).config.sim


def calibrate(post, data, spectra, model, args, sim) -> dict:
    """The calibration part of `main` (printed, plotted under ``--out``, returned)."""
    key = jax.random.PRNGKey(args.seed + 7)
    peakflow.reweight(spectra, post, model=model)  # compile first: time the second call
    start = time.perf_counter()
    exact = peakflow.reweight(spectra, post, model=model, seed=key)
    exact_ms = 1000 * (time.perf_counter() - start) / len(spectra)
    out = {}
    ranks = {}
    for name, p in (("amortized", post), ("exact", exact)):
        out[name], ranks[name] = calibration_report(p, data, jax.random.fold_in(key, 1))
        print(format_calibration(name, out[name]))
    out["exact"]["milliseconds_per_spectrum"] = exact_ms
    print(f"exactness step: {exact_ms:.2f} ms per spectrum (batched, {len(spectra)} spectra)")
    hard = hard_setting(sim)
    out["k_test_set"] = k_calibration(model, sim, args.n, args.seed + 11)
    out["k_hard_set"] = k_calibration(model, hard, args.n, args.seed + 13)
    out["k_hard_set"]["setting"] = {"amplitude": hard.amplitude,
                                    "min_separation": hard.min_separation}
    for label in ("k_test_set", "k_hard_set"):
        k = out[label]
        print(f"P(K) on the {label.split('_', 1)[1].replace('_', ' ')}: K accuracy "
              f"{k['k_accuracy']:.3f}; ECE plug-in {k['plug_in']['ece']:.4f}, "
              f"sampled trajectories {k['sampled_paths']['ece']:.4f}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, r in ranks.items():
            plot_sbc_ecdf(r, 99, args.out / f"sbc_ecdf_{name}.png", f"{name} posterior")
        plot_reliability({f"{label} {kind}": out[label][kind]
                          for label in ("k_test_set", "k_hard_set")
                          for kind in ("plug_in", "sampled_paths")},
                         args.out / "k_reliability.png")
    return out


if __name__ == "__main__":
    main()
