"""Fit a grid model's sd factors: ``python -m peakflow.experiments.calibrate_sds --model DIR``.

Simulates ``--n`` spectra of the model's own simulator with a seed used nowhere else (99:
training, validation and `evaluate`'s test set, 2024, use others), runs the amortized pass,
matches the peaks to the truth by location and sets each coordinate's factor so that the
central 90 % interval covers 90 % of the matched peaks' standardised errors
(`peakflow.runtime.sd_scale.scale_factors`); then writes ``sd_scale.json`` into the model
directory and rewrites its manifest (``--dry-run``: print only). ``make bundle`` runs it for
the grid model. Models of the correlated family only.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import numpy as np

import peakflow
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.simulator import Simulated, simulate_batch
from peakflow.metrics import match_peaks
from peakflow.runtime.integrity import write_manifest
from peakflow.runtime.sd_scale import scale_factors, write_sd_scale

SEED = 99


def standardised_errors(q: CorrelatedQ, data: Simulated) -> np.ndarray:
    """(M, 4) (true u − q's mean) / q's sd of the M true peaks matched by location, u = (log α,
    c, log γ, logit η); q: slots (N, P, ...) of the spectra `data` holds (absent: NaN)."""
    loc, sd = np.asarray(q.loc, np.float64), np.asarray(q.scale(), np.float64)
    idx = match_peaks(np.asarray(data.peaks.location), np.asarray(data.mask), loc[..., 1])
    matched, idx = idx >= 0, np.maximum(idx, 0)[..., None]
    peaks = data.peaks
    eta = np.clip(np.asarray(peaks.lorentzian, np.float64), 1e-6, 1.0 - 1e-6)
    with np.errstate(divide="ignore"):  # absent peaks: α = γ = 0, never matched
        truth = np.stack([np.log(np.asarray(peaks.amplitude, np.float64)),
                          np.asarray(peaks.location, np.float64),
                          np.log(np.asarray(peaks.width, np.float64)),
                          np.log(eta / (1.0 - eta))], axis=-1)
    z = (truth - np.take_along_axis(loc, idx, 1)) / np.take_along_axis(sd, idx, 1)
    return z[matched]


def fit_factors(trained: peakflow.TrainedModel, n: int, seed: int = SEED,
                level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """((4,) factors, (M, 4) standardised errors) of `trained`'s uncalibrated posterior on `n`
    spectra of its simulator."""
    data = simulate_batch(jax.random.PRNGKey(seed), trained.config.sim, n)
    post = peakflow.infer(np.asarray(data.spectrum),
                          model=dataclasses.replace(trained, sd_scale=None))
    if not isinstance(post.q, CorrelatedQ):
        raise TypeError("sd factors are defined for models of the correlated family")
    z = standardised_errors(post.q, data)
    return scale_factors(z, level), z


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model directory (written to)")
    parser.add_argument("--n", type=int, default=2000, help="held-out simulated spectra")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = parser.parse_args(argv)
    trained = peakflow.load_model(args.model)
    factors, z = fit_factors(trained, args.n, args.seed)
    inside = np.mean(np.abs(z) < 1.6448536, axis=0)
    print(f"{z.shape[0]} matched peaks; ±1.645 sd held the truth for "
          + " / ".join(f"{v:.3f}" for v in inside) + " (log α / c / log γ / logit η)")
    print("sd factors: " + " / ".join(f"{v:.3f}" for v in factors))
    about = {"level": 0.9, "spectra": args.n, "seed": args.seed, "matched_peaks": int(z.shape[0]),
             "coverage_before": inside.tolist()}
    if not args.dry_run:
        print(f"wrote {write_sd_scale(args.model, factors, about)}; manifest "
              f"{write_manifest(args.model)}")
    return {"factors": factors.tolist(), **about}


if __name__ == "__main__":
    main()
