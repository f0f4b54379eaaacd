"""Fit a simulated spectrum with the bundled model: ``python -m peakflow.experiments.demo``.

Prints the posterior table beside the true peaks and writes a plot of the fit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

import peakflow
from peakflow.plotting import plot_fit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=3, help="which simulated spectrum")
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/demo.png"))
    args = parser.parse_args(argv)

    model = peakflow.load_model(args.model)
    sim = peakflow.core.simulate(jax.random.PRNGKey(args.seed), model.config.sim)
    x = np.asarray(sim.spectrum)
    peakflow.infer(x, model=model)  # compile once, then time a call
    start = time.perf_counter()
    post = peakflow.infer(x, model=model)
    elapsed = time.perf_counter() - start

    k = int(sim.num_peaks)
    print(f"simulated spectrum (seed {args.seed}): {k} true peak(s)")
    for i in range(k):
        t = [float(getattr(sim.peaks, n)[i]) for n in peakflow.Peaks._fields]
        print(f"  true peak {i + 1}: amplitude {t[0]:.3f}  location {t[1]:.2f}  "
              f"width {t[2]:.2f}  lorentzian {t[3]:.2f}")
    print(post)
    print(f"inference took {elapsed * 1e3:.1f} ms (one spectrum, after compilation)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    truth = jax.tree.map(lambda a: np.where(np.asarray(sim.mask), a, np.nan), sim.peaks)
    plot_fit(x, post, truth).savefig(args.out, dpi=120)
    print(f"plot written to {args.out}")


if __name__ == "__main__":
    main()
