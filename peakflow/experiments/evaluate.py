"""Evaluate a model on fresh simulated spectra: ``python -m peakflow.experiments.evaluate``.

Draws a test set of the model's simulator setting (1000 spectra, seed 2024 by default; the
training data and the validation set use other seeds) and prints K accuracy, the K confusion
matrix, the failure rate, median parameter errors on matched peaks and the posterior sd.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

import peakflow
from peakflow.evaluation import evaluate_posterior, format_report
from peakflow.experiments import save_json


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--n", type=int, default=1000, help="test spectra")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", type=Path, help="also write the metrics here")
    args = parser.parse_args(argv)

    model = peakflow.load_model(args.model)
    data = peakflow.simulate_batch(jax.random.PRNGKey(args.seed), model.config.sim, args.n)
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
    save_json(args.json, metrics)
    return metrics


if __name__ == "__main__":
    main()
