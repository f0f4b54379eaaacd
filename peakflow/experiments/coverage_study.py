"""Controlled comparisons behind the measured path's error bars: what biases ±2 sd coverage.

``python -m peakflow.experiments.coverage_study [--n 30] [--seed 0] [--out DIR]``

On realistic simulated spectra (`peakflow.experiments.realistic`, whose generator also gives
the true baseline) each variant changes one thing and reports how often the ±2 sd intervals
of location, FWHM, amplitude and area hold the truth (nominal 0.954):

* ``default``: `fit_many` as shipped;
* ``true baseline``: the true baseline subtracted, ``baseline="none"`` (the removed baseline's
  error gone);
* ``true baseline, grid = data``: and ``fwhm`` chosen so the model grid is the data's own
  points (no resampling at all); ``grid 1e-9 wider``: the same but a hair coarser, which
  switches the resampling to cell averages (the grid's smoothing, were the likelihood on the
  grid, would show here as lost coverage);
* ``baseline_sd=κ``: the prior sd of each window's smooth baseline deviation, in noise sds
  (`peakflow.measured.window_baseline`), on the realistic and the harsh set.

It also splits the default fit's matched peaks by whether their η's ±2 sd interval reaches
past 0 or 1, to show whether the sds hold at η's bounds. Writes ``coverage_study.json`` and
``coverage_study.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from peakflow.experiments.realistic import match, realistic_spectrum, score
from peakflow.measured import fit, fit_many
from peakflow.measured.pipeline import measured_model
from peakflow.measured.resample import TARGET_FWHM, data_step

PARAMETERS = ("location", "fwhm", "amplitude", "area")
KAPPAS = (0.0, 0.25, 0.35, 1.0)


def _row(fits, truths) -> dict[str, float]:
    metrics = score(fits, truths)
    return {**{name: metrics[f"{name}_2sd_coverage"] for name in PARAMETERS},
            "recall": metrics["recall"], "precision": metrics["precision"]}


def _on_data_grid(data, trained, wider: float) -> list:
    """Each spectrum fitted with its true baseline subtracted on a grid of its own data step
    (× `wider`)."""
    return [fit(y - t.baseline, x, model=trained, baseline="none",
                fwhm=TARGET_FWHM * data_step(np.sort(x)) * wider) for y, x, t in data]


def _eta_split(fits, truths) -> dict[str, float]:
    """Area coverage of matched peaks whose η's ±2 sd interval reaches past 0 or 1, and of
    the others."""
    edge, inside = [], []
    for f, t in zip(fits, truths):
        ti, fi = match(f, t)
        eta, sd = f.peaks.lorentzian[fi], f.peaks.lorentzian_sd[fi]
        hit = np.abs(f.peaks.area[fi] - t.area[ti]) <= 2 * f.peaks.area_sd[fi]
        at_bound = (eta - 2 * sd < 0) | (eta + 2 * sd > 1)
        edge.extend(hit[at_bound])
        inside.extend(hit[~at_bound])
    return {"eta_at_bound_peaks": len(edge), "eta_at_bound_area": float(np.mean(edge)),
            "eta_inside_area": float(np.mean(inside))}


def study(n: int, seed: int, model=None) -> dict:
    trained = measured_model(model)
    sets = {}
    for harsh in (False, True):
        rng = np.random.default_rng(seed)
        sets["harsh" if harsh else "realistic"] = [realistic_spectrum(rng, harsh=harsh)
                                                   for _ in range(n)]
    data = sets["realistic"]
    truths = [t for *_, t in data]
    pairs = [(y, x) for y, x, _ in data]
    default = fit_many(pairs, model=trained)
    rows = {
        "default": _row(default, truths),
        "true baseline": _row(fit_many([(y - t.baseline, x) for y, x, t in data],
                                       model=trained, baseline="none"), truths),
        "true baseline, grid = data": _row(_on_data_grid(data, trained, 1.0), truths),
        "true baseline, grid 1e-9 wider": _row(_on_data_grid(data, trained, 1 + 1e-9), truths),
    }
    kappa = {name: {str(k): _row(fit_many([(y, x) for y, x, _ in spectra], model=trained,
                                          baseline_sd=k), [t for *_, t in spectra])
                    for k in KAPPAS}
             for name, spectra in sets.items()}
    return {"spectra": n, "seed": seed, "variants": rows, "baseline_sd": kappa,
            "eta": _eta_split(default, truths)}


def markdown(result: dict) -> str:
    head = "| variant | " + " | ".join(PARAMETERS) + " | recall | precision |\n"
    rule = "| --- " * (len(PARAMETERS) + 3) + "|\n"
    line = lambda name, r: (f"| {name} | " + " | ".join(f"{r[p]:.3f}" for p in PARAMETERS)
                            + f" | {r['recall']:.3f} | {r['precision']:.3f} |\n")
    text = (f"# Coverage study ({result['spectra']} realistic spectra, seed {result['seed']})"
            "\n\n±2 sd coverage (nominal 0.954).\n\n" + head + rule)
    text += "".join(line(name, r) for name, r in result["variants"].items())
    text += "\n## Baseline deviation prior (baseline_sd = κ)\n\n" + head + rule
    text += "".join(line(f"{name}, κ = {k}", r) for name, rows in result["baseline_sd"].items()
                    for k, r in rows.items())
    eta = result["eta"]
    text += (f"\nArea coverage of the peaks whose η ± 2 sd reaches past 0 or 1 "
             f"({eta['eta_at_bound_peaks']}): {eta['eta_at_bound_area']:.3f}; of the others: "
             f"{eta['eta_inside_area']:.3f}.\n")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/coverage_study"))
    args = parser.parse_args(argv)
    result = study(args.n, args.seed, args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "coverage_study.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (args.out / "coverage_study.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
