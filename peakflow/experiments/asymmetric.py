"""Asymmetric bands: how many components and bands a slightly asymmetric real band becomes.

``python -m peakflow.experiments.asymmetric [--n 40] [--seed 0] [--shape asymmetric]
[--repeats 3] [--out DIR]``

``python -m peakflow.experiments.asymmetric --figure PNG [--data DIR]`` instead draws one real
band fitted both ways: the 1,031 cm⁻¹ band of ``DIR/raman_polystyrene`` (``../shared/data``)
with ``shape="symmetric"`` and ``shape="asymmetric"`` (`band_figure`).

Each spectrum has 1,024-2,048 points, 3-8 split pseudo-Voigt bands (left and right half-widths
γ(1 − a) and γ(1 + a), so the asymmetry a = 0.1 makes them differ by 20 %; FWHM 10-24 points),
at least 3 FWHM apart, with signal-to-noise ratios (height / noise sd) log-uniform over 20-300,
on a smooth baseline (a quadratic, up to 30 % of the tallest band), with white noise. Three sets
of asymmetry: none, mild (3-12 %) and strong (10-35 %). Each band counts the reported peaks
whose locations lie within one FWHM of it (its *components*) and the bands of `fit.bands` whose
location does (`SpectrumFit.bands`); a band is *found* when one of either is within half its
FWHM.

Printed per set: components per band, the share of bands fitted as exactly one component,
recall, bands of `fit.bands` per band (and the share as exactly one), and the ±2 sd coverage of
the area of the band (`fit.bands` row nearest each band).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peakflow.core.lineshape import area, fwhm_ratio, profile
from peakflow.measured import SpectrumFit, fit_many

SETS = {"symmetric": (0.0, 0.0), "mild": (0.03, 0.12), "strong": (0.10, 0.35)}


@dataclass(frozen=True)
class Bands:
    """The true bands of one spectrum, each (B,), in its x and y units: centre (the maximum),
    FWHM, height, η, asymmetry a (half-widths γ(1 ∓ a) left and right) and area."""

    location: np.ndarray
    fwhm: np.ndarray
    amplitude: np.ndarray
    lorentzian: np.ndarray
    asymmetry: np.ndarray

    @property
    def area(self) -> np.ndarray:
        # each half is half of a symmetric pseudo-Voigt of that half's γ
        gamma = self.fwhm / fwhm_ratio(self.lorentzian, np)
        return area(self.amplitude, gamma, self.lorentzian)


def split_pseudo_voigt(x: np.ndarray, amplitude, location, width, lorentzian, asymmetry):
    """(..., n) pseudo-Voigt of height `amplitude` at `location` whose half-width is
    width·(1 − asymmetry) left of it and width·(1 + asymmetry) right of it (broadcast)."""
    left = profile(x, amplitude, location, width * (1.0 - asymmetry), lorentzian, xp=np)
    right = profile(x, amplitude, location, width * (1.0 + asymmetry), lorentzian, xp=np)
    return np.where(x < location, left, right)


def asymmetric_spectrum(rng: np.random.Generator, asymmetry: tuple[float, float]
                        ) -> tuple[np.ndarray, np.ndarray, Bands]:
    """One spectrum of split pseudo-Voigt bands: (y (n,), x (n,), its `Bands`); the sign of
    each band's asymmetry is random, its size uniform over `asymmetry`."""
    n = int(rng.integers(1024, 2049))
    start, step = rng.uniform(100, 3000), rng.uniform(0.2, 2.0)
    x = start + step * np.arange(n)
    fwhm0 = step * rng.uniform(10, 24)
    count = int(rng.integers(3, 9))
    fwhm = fwhm0 * np.exp(rng.uniform(np.log(0.8), np.log(1.25), count))
    gaps = 3.0 * np.maximum(fwhm[1:], fwhm[:-1])
    slack = (n - 1) * step - 8 * fwhm.max() - gaps.sum()
    if slack <= 0:
        return asymmetric_spectrum(rng, asymmetry)
    location = (start + 4 * fwhm.max() + np.sort(rng.uniform(0, slack, count))
                + np.concatenate([[0.0], np.cumsum(gaps)]))
    noise = 1.0
    amplitude = noise * np.exp(rng.uniform(np.log(20), np.log(300), count))
    eta = rng.uniform(0, 1, count)
    a = rng.uniform(*asymmetry, count) * rng.choice([-1.0, 1.0], count)
    gamma = fwhm / fwhm_ratio(eta, np)
    bands = split_pseudo_voigt(x[None], amplitude[:, None], location[:, None],
                               gamma[:, None], eta[:, None], a[:, None]).sum(axis=0)
    t = np.linspace(-1, 1, n)
    quad = np.polyval(rng.normal(0, 0.1, 3), t)
    baseline = 0.3 * amplitude.max() * rng.uniform() * (quad - quad.min()) / max(np.ptp(quad),
                                                                                1e-9)
    y = bands + baseline + rng.normal(0.0, noise, n)
    return y, x, Bands(location, fwhm, amplitude, eta, a)


def count_per_band(fit: SpectrumFit, truth: Bands) -> dict[str, np.ndarray]:
    """Per true band (B,): reported components and `fit.bands` rows within one FWHM, whether
    one of either lies within half a FWHM (found), and whether the nearest band's ±2 sd area
    interval holds the true area (NaN: no band near)."""
    near = lambda loc, reach: np.abs(loc[None, :] - truth.location[:, None]) <= reach[:, None]
    comps = near(fit.peaks.location, truth.fwhm)
    bands = near(fit.bands.location, truth.fwhm)
    found = near(fit.peaks.location, 0.5 * truth.fwhm).any(axis=1) | near(
        fit.bands.location, 0.5 * truth.fwhm).any(axis=1)
    covered = np.full(truth.location.size, np.nan)
    if len(fit.bands):
        nearest = np.argmin(np.abs(fit.bands.location[None, :] - truth.location[:, None]), axis=1)
        hit = bands.any(axis=1)
        err = np.abs(fit.bands.area[nearest] - truth.area)
        covered[hit] = (err <= 2 * fit.bands.area_sd[nearest])[hit]
    return {"components": comps.sum(axis=1), "bands": bands.sum(axis=1), "found": found,
            "area_covered": covered}


def evaluate(name: str, n: int, seed: int, model=None, shape: str = "symmetric",
             repeats: int = 1) -> dict[str, float]:
    """Fits `n` spectra of the set `name` (`SETS`) in one batch (``FitOptions.shape``
    `shape`; once untimed, then `repeats` times, the median timed) and scores them."""
    rng = np.random.default_rng([seed, list(SETS).index(name)])
    data = [asymmetric_spectrum(rng, SETS[name]) for _ in range(n)]
    fits = fit_many([(y, x) for y, x, _ in data], model=model, shape=shape)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fits = fit_many([(y, x) for y, x, _ in data], model=model, shape=shape)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    per = [count_per_band(f, t) for f, (_, _, t) in zip(fits, data)]
    cat = {k: np.concatenate([p[k] for p in per]) for k in per[0]}
    covered = cat["area_covered"][~np.isnan(cat["area_covered"])]
    skew = [asymmetry_covered(f, t) for f, (_, _, t) in zip(fits, data)]
    skew_hits = np.concatenate(skew) if skew else np.zeros(0)
    return {"set": name, "shape": shape, "spectra": n, "bands": int(cat["found"].size),
            "components_per_band": float(cat["components"].mean()),
            "one_component": float(np.mean(cat["components"] == 1)),
            "recall": float(cat["found"].mean()),
            "bands_per_band": float(cat["bands"].mean()),
            "one_band": float(np.mean(cat["bands"] == 1)),
            "band_area_2sd_coverage": float(covered.mean()) if covered.size else float("nan"),
            "asymmetry_2sd_coverage": (float(np.mean(skew_hits)) if skew_hits.size
                                       else float("nan")),
            "seconds_per_spectrum": seconds / n}


def asymmetry_covered(fit: SpectrumFit, truth: Bands) -> np.ndarray:
    """Per true band fitted as exactly one component (within one FWHM): whether that peak's
    ±2 sd asymmetry interval holds the true asymmetry (a fit without asymmetries: a = 0 ± 0,
    so only symmetric bands are covered)."""
    near = np.abs(fit.peaks.location[None, :] - truth.location[:, None]) <= truth.fwhm[:, None]
    one = np.flatnonzero(near.sum(axis=1) == 1)
    found = np.argmax(near[one], axis=1)
    p = fit.peaks
    return np.abs(p.asymmetry[found] - truth.asymmetry[one]) <= 2 * p.asymmetry_sd[found] + 1e-12


POLYSTYRENE = "raman_polystyrene/PST_Reflex532_Z050_010_10000msx2.txt"
BAND = (1012.0, 1056.0)  # the x range the figure shows: the 1,031 cm⁻¹ band


def residual_in(fit: SpectrumFit) -> np.ndarray:
    """The fit's residual over `BAND`."""
    shown = (fit.x > BAND[0]) & (fit.x < BAND[1])
    return (fit.y - fit.fitted)[shown]


def band_figure(data: Path, path: Path, model=None) -> dict[str, float]:
    """Draws the polystyrene band `BAND` fitted with either shape side by side (data, fit, 95 %
    band, components, residual; `plot_spectrum_fit`), writes `path` and returns the
    asymmetric peak's location, asymmetry and its sd."""
    import matplotlib.pyplot as plt

    from peakflow.io import read_spectrum
    from peakflow.measured.fit_view import plot_spectrum_fit

    spectrum = read_spectrum(data / POLYSTYRENE)
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.5), height_ratios=(3, 1), sharex=True)
    found = {}
    for column, shape in enumerate(("symmetric", "asymmetric")):
        fit = fit_many([spectrum], model=model, shape=shape)[0]
        inside = np.flatnonzero((fit.peaks.location > BAND[0]) & (fit.peaks.location < BAND[1]))
        plot_spectrum_fit(fit, ax=(axes[0, column], axes[1, column]),
                          title=f"shape={shape!r}: {inside.size} component(s), residual "
                                f"rms {np.sqrt(np.mean(residual_in(fit) ** 2)):.0f}")
        residual = np.abs(residual_in(fit)).max() + 2.0 * fit.noise
        shown = (fit.x > BAND[0]) & (fit.x < BAND[1])
        axes[0, column].set_ylim(0.0, 1.15 * fit.y[shown].max())
        axes[1, column].set_ylim(-1.2 * residual, 1.2 * residual)
        if shape == "asymmetric" and inside.size:
            i = inside[np.argmax(fit.peaks.amplitude[inside])]
            found = {"location": float(fit.peaks.location[i]),
                     "asymmetry": float(fit.peaks.asymmetry[i]),
                     "asymmetry_sd": float(fit.peaks.asymmetry_sd[i])}
            axes[0, column].text(0.03, 0.92, f"asymmetry {found['asymmetry']:+.3f} ± "
                                 f"{found['asymmetry_sd']:.3f}",
                                 transform=axes[0, column].transAxes)
    axes[0, 0].set_xlim(*BAND)
    fig.suptitle("polystyrene, the 1,031 cm-1 band (../shared/data)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--shape", default="symmetric", choices=["symmetric", "asymmetric"],
                        help="FitOptions.shape of the fits")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/asymmetric"))
    parser.add_argument("--figure", type=Path, default=None,
                        help="draw the real band of `band_figure` to this PNG instead")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    if args.figure is not None:
        print(band_figure(args.data, args.figure, args.model))
        return
    rows = [evaluate(name, args.n, args.seed, args.model, args.shape, args.repeats)
            for name in args.sets]
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k])
                         for k in header))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
