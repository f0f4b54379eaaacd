"""The data's floor: a reported baseline must not sink below the data.

Each window marginalises a cubic with a flat prior besides the removed baseline's smooth
deviation (`peakflow.measured.window_baseline`). Where peaks fill a window (a band complex, a
dense XRD pattern) the data cannot tell that cubic from the peaks' tails, and the fit can pay
for wrong components, or for tails heavier than the real line shape's, with a baseline bent
far below the data: on the shared polystyrene spectrum it sank 42 noise sds below the data's
lower convex hull under the C–H stretch complex, on RRUFF calcite R050048 29, on the LaB6 scan
35 (narrow dips under the strongest reflections). No baseline can lie below the data by more
than their noise, so a fit whose baseline sinks more than `FLOOR_SIGMAS` noise sds below the
lower hull (`depth_below`, away from the range's ends) has the windows where it does and
their neighbours (`sunk_windows`) refitted from the policy's proposals without the cubic
(their baseline then is the removed one plus its smooth deviation, whose prior keeps it
within a few noise sds; `floor_round`). The refit is kept where its baseline sinks less and
its χ² is at most `chi2_allowed`: the fit's, plus `WORSE` − 1 times the fit's misfit beyond
the noise (χ² − 1, per point), plus what dropping the refitted windows' f cubic coefficients
costs a fit at the noise (Δχ² ~ χ²_f: f + `SLACK`·√(2f) over the spectrum's points). A
baseline at the floor that leaves the data unexplained is no better (RRUFF calcite R040070,
9 sds below: χ² 6.2 → 41 without the cubic), and a fit that already explains its data to
within their noise has nothing to trade: on simulated spectra of bands on a convex quadratic
baseline (`peakflow.experiments.asymmetric`, seed 0) the fitted baseline lay 3.5–3.7 sds
below the hull (the hull's chords pass above a convex baseline under a band) at χ² 0.90–0.99;
without the cubic χ² rose by 0.12–0.33 per point (Δχ² 130–500) and seven of twelve band
areas left their ±2 sd intervals (the rule was χ² ≤ 3× the fit's before 2026-12-08). The
real files whose refit is kept raise χ² by 1.1–1.9× from 4.7–5.9 (LaB6, quartz,
polystyrene), within the misfit term.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

FLOOR_SIGMAS = 3.0  # how far (noise sds) a baseline may lie below the data's lower hull
WORSE = 3.0         # a refit may add this many − 1 times the fit's χ² beyond the noise ...
SLACK = 3.0         # ... and the dropped coefficients' χ² plus this many of its sds
EDGE = 0.05         # share of the points at either end left out: the hull is pinned to the end
                    # points there, so a band cut by the range's edge would count as floor


def lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) the lower convex hull of the points (x, y) (the largest convex function below
    them) at x; x (n,) ascending, y (n,).

    Points above the chord of their neighbours cannot be vertices (a convex function below
    both neighbours lies below that chord); removing them all, pass after pass, only lowers
    the polyline through the rest, and it stops when that polyline is convex: the hull
    (a few passes on noisy spectra; 3× faster than Qhull on 1,800 points)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 3:
        return y.copy()
    keep = np.arange(x.size)
    while keep.size > 2:
        xs, ys = x[keep], y[keep]
        left, right = xs[1:-1] - xs[:-2], xs[2:] - xs[:-2]
        above = (ys[1:-1] - ys[:-2]) * right > (ys[2:] - ys[:-2]) * left
        if not above.any():
            break
        keep = np.concatenate([keep[:1], keep[1:-1][~above], keep[-1:]])
    return np.interp(x, x[keep], y[keep])


def _depths(fit) -> tuple[np.ndarray, np.ndarray]:
    """(x ascending (n,), how far the baseline lies below the lower hull there in noise sds
    (n,), −inf within the outer `EDGE` of the points on either side)."""
    order = np.argsort(fit.x)
    x, y, base = fit.x[order], fit.y[order], fit.baseline[order]
    depth = np.full(x.size, -np.inf)
    inner = slice(int(EDGE * x.size), max(int((1.0 - EDGE) * x.size), int(EDGE * x.size) + 1))
    depth[inner] = ((lower_hull(x, y) - base) / fit.noise)[inner]
    return x, depth


def depth_below(fit) -> float:
    """How far the fit's reported baseline lies below the data's lower hull at its worst,
    in noise sds (negative: above it everywhere), the outer `EDGE` of the points on either
    side left out; NaN for a failed fit."""
    if fit.error is not None or not fit.x.size or not fit.noise > 0:
        return float("nan")
    return float(np.max(_depths(fit)[1]))


def sunk_windows(fit) -> np.ndarray:
    """(m,) int: the fit's windows over whose x range its baseline lies more than
    `FLOOR_SIGMAS` below the data's lower hull (away from the ends), and those overlapping
    them: a window's peaks are reported on the baseline blended with its neighbours', so
    they must marginalise the same kind (polystyrene: χ² 98 refitting only the sunk
    windows, whose peaks then sat up to 27 noise sds above the data on the neighbours'
    higher baseline, against 46 with them)."""
    x, depth = _depths(fit)
    lo = np.minimum(fit.windows.start, fit.windows.stop)
    hi = np.maximum(fit.windows.start, fit.windows.stop)
    sunk = np.array([np.any(depth[(x >= a) & (x <= b)] > FLOOR_SIGMAS) for a, b in zip(lo, hi)],
                    bool)
    overlap = (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None])
    return np.flatnonzero(np.any(overlap[:, sunk], axis=1)).astype(np.int64)


def chi2_allowed(chi2: float, size: int, freed: int) -> float:
    """The largest χ² (per point) a floor refit may have that drops `freed` baseline
    coefficients of a fit with χ² `chi2` over `size` points:
    `chi2` + (`WORSE` − 1)·max(`chi2` − 1, 0) + (f + `SLACK`·√(2f)) / `size`."""
    return (chi2 + (WORSE - 1.0) * max(chi2 - 1.0, 0.0)
            + (freed + SLACK * math.sqrt(2.0 * freed)) / max(size, 1))


def floor_round(fits: list, sunk: np.ndarray, refit: Callable[[np.ndarray], list],
                coefficients: int = 4) -> list:
    """The fits with those where the (S,) mask `sunk` is set replaced by `refit(sunk)`'s (one
    new fit per set entry, in order) wherever the new baseline sinks less (`depth_below`) and
    its χ² is at most `chi2_allowed`, the refit dropping `coefficients` (the cubic's) in each
    of the fit's `sunk_windows`."""
    if not sunk.any():
        return fits
    fits = list(fits)
    for i, new in zip(np.flatnonzero(sunk), refit(sunk)):
        freed = coefficients * sunk_windows(fits[i]).size
        if (new.error is None and depth_below(new) < depth_below(fits[i])
                and new.chi2 <= chi2_allowed(fits[i].chi2, fits[i].x.size, freed)):
            fits[i] = new
    return fits


def sunk_fits(fits: list, active: np.ndarray) -> np.ndarray:
    """(S,) bool: the fits where the (S,) mask `active` is set whose baseline sinks more than
    `FLOOR_SIGMAS` below the data's lower hull."""
    return np.array([bool(on) and depth_below(f) > FLOOR_SIGMAS for f, on in zip(fits, active)],
                    bool)
