"""Accuracy of the real-data path on realistic simulated spectra with known peaks.

``python -m peakflow.experiments.realistic [--n 50] [--seed 0] [--out DIR]``

Each spectrum has 1,500-4,000 points on an axis of arbitrary offset, span and direction,
8-25 pseudo-Voigt peaks (FWHM 8-20 points, varying ×0.6-1.6 within a spectrum; amplitudes
log-uniform over a factor 20; some blended down to 0.8 FWHM apart), a baseline (a quadratic
plus a broad Gaussian hump, up to 40 % of the tallest peak) and Gaussian noise of 0.2-2 % of the
tallest peak. ``--harsh`` makes them harder, as measured Raman spectra are: a fluorescence
background (a decay or a broad hump) up to 2× the tallest peak, shot noise (its sd growing with
the square root of the signal) on top of read noise, 0-4 one- or two-point cosmic-ray spikes,
and 2-4 weak peaks of 3-5 noise sds. Fits use `peakflow.fit_many` with its defaults. A true
peak counts as *detectable* when its height is at least 5 noise sds (at its centre); found
peaks are matched to true ones within half the true FWHM (`peakflow.metrics.match_peaks`).

Printed: recall of detectable peaks, precision of found peaks, median |location error| in
FWHM, median relative errors of FWHM, amplitude and area, how often the ±2 sd intervals cover
the truth, and whether reported existence probabilities mean what they say (ECE of the
probability against being real, drawn in ``reliability.png``; precision among peaks above
0.9). ``--stability 200`` also refits 5 spectra with 200 fresh noise draws each: how often the
modal count comes back, also for 5 spectra whose peaks are all ≥ 5 noise sds and ≥ 2 FWHM
apart (``separated_*``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from peakflow.core.lineshape import area, fwhm_ratio, profile
from peakflow.measured import SpectrumFit, fit_many
from peakflow.metrics import match_peaks
from peakflow.reliability import plot_reliability, reliability
from peakflow.runtime.reweighting import KHAT_MAX


@dataclass(frozen=True)
class Truth:
    """Known peaks of one simulated spectrum, each (P,), in its x and y units; ``noise`` is the
    noise sd at each peak's centre ((P,); the same everywhere unless the spectrum is harsh);
    ``spikes`` (S,) the x of the cosmic-ray spike points (harsh spectra only); ``baseline`` (n,)
the true baseline at each point of the spectrum, in its order."""

    location: np.ndarray
    fwhm: np.ndarray
    amplitude: np.ndarray
    lorentzian: np.ndarray
    noise: np.ndarray
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    baseline: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def area(self) -> np.ndarray:
        return area(self.amplitude, self.fwhm / fwhm_ratio(self.lorentzian, np), self.lorentzian)


TALLEST = 1000.0  # height of a spectrum's tallest peak


def realistic_spectrum(rng: np.random.Generator, points: tuple[int, int] = (1500, 4000),
                       peaks: tuple[int, int] = (8, 25),
                       noise_rng: np.random.Generator | None = None, min_gap: float = 0.8,
                       min_snr: float = 0.0, harsh: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, Truth]:
    """One measured-looking spectrum: (y (n,), x (n,), its `Truth`); see the module docstring.

    `points` and `peaks` are the inclusive ranges of the length and of the number of peaks;
    `noise_rng`, when given, draws the noise (the same `rng` state then gives the same
    spectrum with fresh noise); neighbouring peaks are at least `min_gap` × the larger FWHM
    apart, and no peak is lower than `min_snr` noise sds. `harsh` adds what measured Raman and
    fluorescence-laden spectra bring (`harsh_parts`): a fluorescence background up to twice
    the tallest peak, shot noise, cosmic-ray spikes and 2-4 weak peaks of 3-5 noise sds.
    """
    n = int(rng.integers(points[0], points[1] + 1))
    start, span = rng.uniform(-500, 3000), rng.uniform(50, 5000)
    x = np.linspace(start, start + span, n)
    count = int(rng.integers(peaks[0], peaks[1] + 1))
    location, fwhm = _peak_positions(rng, count, start, span, span / (n - 1), min_gap)
    if location is None:
        return realistic_spectrum(rng, points, peaks, noise_rng, min_gap, min_snr, harsh)
    amplitude = TALLEST * np.exp(rng.uniform(np.log(0.05), 0.0, count))
    amplitude[rng.integers(count)] = TALLEST
    eta = rng.uniform(0, 1, count)
    t = (x - start) / span * 2 - 1
    quad = np.polyval(rng.normal(0, 0.1, 3), t)
    hump = rng.uniform(0, 0.25) * np.exp(-0.5 * ((t - rng.uniform(-1, 1)) / rng.uniform(0.3, 1))
                                         ** 2)
    baseline = TALLEST * (quad - quad.min() + hump)
    noise = TALLEST * np.exp(rng.uniform(np.log(0.002), np.log(0.02)))
    sd = lambda signal: np.full_like(signal, noise)
    spikes, weak = np.zeros(n), np.zeros(count, bool)
    if harsh:
        fluorescence, sd, spikes, num_weak = harsh_parts(rng, t)
        baseline = baseline + fluorescence
        others = np.flatnonzero(amplitude < TALLEST)    # the tallest peak stays
        weak[rng.choice(others, size=min(num_weak, others.size), replace=False)] = True
        amplitude[weak] = 0.0   # for now: set below from the noise at their centres
    width = fwhm / fwhm_ratio(eta, np)
    lines = lambda a: profile(x[None, :], a[:, None], location[:, None], width[:, None],
                              eta[:, None], xp=np).sum(axis=0)
    at_peaks = lambda signal: np.interp(location, x, signal)
    floor = at_peaks(sd(baseline + lines(amplitude)))
    amplitude[weak] = rng.uniform(3.0, 5.0, int(weak.sum())) * floor[weak]
    amplitude = np.maximum(amplitude, min_snr * floor)
    clean = lines(amplitude) + baseline
    sds = sd(clean)
    y = clean + spikes + (rng if noise_rng is None else noise_rng).normal(0.0, 1.0, n) * sds
    truth = Truth(location, fwhm, amplitude, eta, at_peaks(sds), x[spikes != 0], baseline)
    if rng.uniform() < 0.5:  # a descending axis, as many instruments write wavenumbers
        x, y = x[::-1], y[::-1]
        truth = replace(truth, baseline=baseline[::-1])
    return y, x, truth


def _peak_positions(rng: np.random.Generator, count: int, start: float, span: float,
                    step: float, min_gap: float) -> tuple[np.ndarray | None, np.ndarray]:
    """(location (P,), fwhm (P,)): FWHM 8-20 grid points varying ×0.6-1.6, locations sorted
    with gaps of at least `min_gap` × the larger FWHM, the rest spread at random; location
    None when they do not fit in the span."""
    base_fwhm = step * rng.uniform(8, 20)
    fwhm = base_fwhm * np.exp(rng.uniform(np.log(0.6), np.log(1.6), count))
    gaps = min_gap * np.maximum(fwhm[1:], fwhm[:-1])
    margin = 2 * fwhm.max()
    slack = span - 2 * margin - gaps.sum()
    if slack <= 0:
        return None, fwhm
    offsets = np.sort(rng.uniform(0, slack, count))
    return start + margin + offsets + np.concatenate([[0.0], np.cumsum(gaps)]), fwhm


def harsh_parts(rng: np.random.Generator, t: np.ndarray):
    """What `realistic_spectrum(harsh=True)` adds, on the axis ``t`` (n,) in [-1, 1].

    Returns:
      fluorescence (n,): a broad background (a decaying exponential or a wide Gaussian) whose
        maximum is 0.2-2 × the tallest peak;
      sd: signal (n,) → noise sd (n,): read noise (0.2-1 % of the tallest peak) and shot
        noise growing as the square root of the signal (0.5-2 % of the tallest peak at its
        height);
      spikes (n,): 0-4 cosmic-ray spikes of one or two points, 0.3-3 × the tallest peak;
      the number of peaks to make weak (2-4).
    """
    if rng.uniform() < 0.5:
        shape = np.exp(-(t + 1) / rng.uniform(0.3, 2.0))
    else:
        shape = np.exp(-0.5 * ((t - rng.uniform(-1, 1)) / rng.uniform(0.5, 1.5)) ** 2)
    fluorescence = TALLEST * rng.uniform(0.2, 2.0) * shape / shape.max()
    read = TALLEST * rng.uniform(0.002, 0.01)
    gain = TALLEST * rng.uniform(0.005, 0.02) ** 2       # shot sd = sqrt(gain · signal)
    sd = lambda signal: np.sqrt(read ** 2 + gain * np.maximum(signal, 0.0))
    spikes = np.zeros(t.size)
    for _ in range(min(int(rng.poisson(1.5)), 4)):
        where = int(rng.integers(0, t.size - 1))
        spikes[where:where + int(rng.integers(1, 3))] += TALLEST * rng.uniform(0.3, 3.0)
    return fluorescence, sd, spikes, int(rng.integers(2, 5))


def match(fit: SpectrumFit, truth: Truth) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (true index, found index) within half the true FWHM (`match_peaks`)."""
    found = match_peaks(truth.location[None], np.ones((1, truth.location.size), bool),
                        fit.peaks.location[None], 0.5 * truth.fwhm[None])[0]
    true_idx = np.flatnonzero(found >= 0)
    return true_idx, found[true_idx]


def score(fits: list[SpectrumFit], truths: list[Truth]) -> dict[str, float]:
    """Recall, precision and the matched peaks' errors over a set of fits."""
    detectable = matched_detectable = found = matched_found = 0
    loc, width, amp, area = [], [], [], []
    cover = {"location": [], "fwhm": [], "amplitude": [], "area": []}
    probability, real = [], []
    for fit, truth in zip(fits, truths):
        t, f = match(fit, truth)
        probability.extend(fit.peaks.probability)
        real.extend(np.isin(np.arange(len(fit.peaks)), f))
        visible = truth.amplitude >= 5 * truth.noise
        detectable += int(visible.sum())
        matched_detectable += int(visible[t].sum())
        found += len(fit.peaks)
        matched_found += len(f)
        p = fit.peaks
        loc.extend(np.abs(p.location[f] - truth.location[t]) / truth.fwhm[t])
        width.extend(np.abs(p.fwhm[f] / truth.fwhm[t] - 1))
        amp.extend(np.abs(p.amplitude[f] / truth.amplitude[t] - 1))
        area.extend(np.abs(p.area[f] / truth.area[t] - 1))
        for name in cover:
            value, sd = getattr(p, name)[f], getattr(p, f"{name}_sd")[f]
            cover[name].extend(np.abs(value - getattr(truth, name)[t]) <= 2 * sd)
    stated = reliability(probability, real)
    return {
        "spectra": len(fits),
        "true_peaks_detectable": detectable,
        "recall": matched_detectable / max(detectable, 1),
        "precision": matched_found / max(found, 1),
        "median_location_error_fwhm": float(np.median(loc)),
        "median_fwhm_rel_error": float(np.median(width)),
        "median_amplitude_rel_error": float(np.median(amp)),
        "median_area_rel_error": float(np.median(area)),
        **{f"{name}_2sd_coverage": float(np.mean(c)) for name, c in cover.items()},
        "unexplained_spectra": float(np.mean([f.unexplained for f in fits])),
        # among reported peaks of probability p, is a fraction p real?
        "probability_ece": stated["ece"],
        "reliability_bins": stated["bins"],
        "precision_probability_above_0.9": _share(np.asarray(real)[np.asarray(probability) > 0.9]),
        "windows_khat_trusted": _khat_share(fits),
    }


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if flags.size else float("nan")


def _khat_share(fits: list[SpectrumFit]) -> float:
    """Share of reweighted windows (with peaks) whose k̂ ≤ `KHAT_MAX`; NaN without the exact
    step."""
    khat = np.concatenate([f.windows.khat for f in fits])
    khat = khat[~np.isnan(khat)]
    return float(np.mean(khat <= KHAT_MAX)) if khat.size else float("nan")


def evaluate(n: int, seed: int, model=None, exact: bool = False, harsh: bool = False,
             refine: bool = True, baseline_refits: int = 0
             ) -> tuple[dict[str, float], list, list]:
    """Simulates `n` spectra (`realistic_spectrum`, `harsh` or not), fits them in one batch
    (twice: cold, then timed warm; `exact`, `refine` and `baseline_refits` as in
    `FitOptions`), scores them.

    Returns:
      (metrics, fits, [(x, y, truth)]).
    """
    rng = np.random.default_rng(seed)
    data = [realistic_spectrum(rng, harsh=harsh) for _ in range(n)]
    pairs = [(y, x) for y, x, _ in data]
    seconds = []
    for _ in range(2):  # the first call includes compiling the policy for this batch size
        start = time.perf_counter()
        fits = fit_many(pairs, model=model, exact=exact, refine=refine,
                        baseline_refits=baseline_refits)
        seconds.append(time.perf_counter() - start)
    metrics = score(fits, [t for *_, t in data])
    metrics["seconds_per_spectrum"] = seconds[1] / n
    metrics["seconds_first_call"] = seconds[0]
    return metrics, fits, data


def stability(seeds: range, draws: int, model=None, **shape) -> dict[str, float]:
    """The same spectra measured again: each seed's spectrum with `draws` fresh noise draws
    (`shape`: `realistic_spectrum`'s ``min_gap``, ``min_snr`` and ``harsh``).

    Returns:
      ``modal_share`` (mean over seeds of the share of draws giving the modal peak count),
      ``modal_share_min``, and ``modal_is_detectable_count`` (share of seeds whose modal
      count equals their number of detectable true peaks).
    """
    shares, right = [], []
    for seed in seeds:
        data = [realistic_spectrum(np.random.default_rng(seed),
                                   noise_rng=np.random.default_rng([seed, d]), **shape)
                for d in range(draws)]
        counts = np.array([f.num_peaks for f in fit_many([(y, x) for y, x, _ in data],
                                                         model=model)])
        values, tally = np.unique(counts, return_counts=True)
        shares.append(tally.max() / draws)
        truth = data[0][2]
        right.append(values[tally.argmax()] == int(np.sum(truth.amplitude >= 5 * truth.noise)))
    return {"modal_share": float(np.mean(shares)), "modal_share_min": float(np.min(shares)),
            "modal_is_detectable_count": float(np.mean(right))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/realistic"))
    parser.add_argument("--exact", action="store_true",
                        help="fit with the exactness step (FitOptions(exact=True))")
    parser.add_argument("--no-refine", action="store_true",
                        help="fit without refinement and pruning (FitOptions(refine=False))")
    parser.add_argument("--stability", type=int, default=0, metavar="DRAWS",
                        help="also refit 5 spectra with DRAWS fresh noise draws each")
    parser.add_argument("--harsh", action="store_true",
                        help="fluorescence up to 2x the tallest peak, shot noise, cosmic-ray "
                             "spikes and weak peaks of 3-5 noise sds (realistic_spectrum)")
    parser.add_argument("--baseline-refits", type=int, default=0, metavar="N",
                        help="FitOptions.baseline_refits (default 0)")
    args = parser.parse_args(argv)
    metrics, fits, data = evaluate(args.n, args.seed, args.model, args.exact, args.harsh,
                                   not args.no_refine, args.baseline_refits)
    if args.stability:
        seeds = range(args.seed, args.seed + 5)
        metrics.update(stability(seeds, args.stability, args.model, harsh=args.harsh))
        separated = stability(seeds, args.stability, args.model, min_gap=2.0, min_snr=5.0,
                              harsh=args.harsh)
        metrics.update({f"separated_{name}": value for name, value in separated.items()})
    for name, value in metrics.items():
        if name != "reliability_bins":
            print(f"{name:>30}: {value:.4g}" if isinstance(value, float)
                  else f"{name:>30}: {value}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    from peakflow.plotting import plot_spectrum_fit

    plot_reliability({"reported peaks": {"ece": metrics["probability_ece"],
                                         "bins": metrics["reliability_bins"]}},
                     args.out / "reliability.png", xlabel="reported probability (P(exists))",
                     ylabel="share matched to a true peak")

    figure = plot_spectrum_fit(fits[0], title=f"realistic simulated spectrum: "
                               f"{len(data[0][2].location)} true peaks, {fits[0].num_peaks} found")
    truth = data[0][2]
    figure.axes[0].plot(truth.location, truth.amplitude + np.interp(
        truth.location, fits[0].x, fits[0].baseline), "kv", ms=4, label="true peaks")
    figure.axes[0].legend(loc="upper right", fontsize=8)
    figure.savefig(args.out / "example.png", dpi=120)
    print(f"wrote {args.out / 'metrics.json'}, {args.out / 'example.png'} and "
          f"{args.out / 'reliability.png'}")


if __name__ == "__main__":
    main()
