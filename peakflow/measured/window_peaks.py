"""Peaks as the data points of any window of their spectrum see them.

A window's baseline (its cubic and smooth deviation, `peakflow.measured.window_baseline`) is
what its points hold beyond its peaks. The reported fit keeps each peak once, from one window
(`peakflow.measured.tiling.merge`), and blends the windows' baselines (`assemble.blend`).
Solved against the window's *own* peaks, a window's baseline holds whatever its own fit left
to it: where a neighbour's reported peak reaches into the window and the window's own version
of that peak differs (cut at its edge, split differently), the same counts are explained twice
in the blended fit (on the shared polystyrene spectrum, 50 noise sds above the data on the
flank of the 3,055 cm⁻¹ band). So the baseline a window reports is solved against the peaks
its spectrum reports, whichever window they come from (`reported_triples`), each evaluated at
this window's points in this window's units (`peaks_at_points`).
"""

from __future__ import annotations

import numpy as np

from peakflow.core.lineshape import Peaks, mean_profile
from peakflow.measured.doublet import second_location
from peakflow.measured.points import WindowPoints

CHUNK = 8192  # (window, peak) pairs evaluated at once: memory ∝ CHUNK × points per window
NEGLIGIBLE = 0.1  # a peak whose curve stays below this many of a window's noise sds there
                  # is not evaluated there (what smooth baseline absorbs, far below the noise)


def peaks_at_points(points: WindowPoints, starts: np.ndarray, scales: np.ndarray, mean: Peaks,
                    pair: np.ndarray | None, skew: np.ndarray | None, target: np.ndarray,
                    source: np.ndarray, slot: np.ndarray, noise: np.ndarray | None = None
                    ) -> np.ndarray:
    """(M, P) for each window, the sum over the triples aimed at it of peak `slot` of window
    `source` at its data points, in its units.

    Args:
      points: the M windows' data points (omega: grid units from each window's first point).
      starts: (M,) each window's first point on its spectrum's grid (windows of one spectrum
        share the grid); scales: (M,) their intensity scales (y units per window unit).
      mean: the windows' peaks (posterior means), fields (M, K), in their own windows' units.
      pair: (M, 6) each window's doublet (`WindowBatch.pair`; None: single lines).
      skew: (M, K, ≥1) each peak's asymmetry in [..., 0] (None: all symmetric).
      target, source, slot: (T,) int: peak `slot` of window `source` at window `target`'s
        points (the two windows of one spectrum).
      noise: (M,) each window's noise sd (its units): a peak that does not reach another
        window by `NEGLIGIBLE` of it there (`reaching`) is skipped; None: none is.
    """
    keep = np.ones(target.shape, bool) if noise is None else reaching(
        points, starts, scales, mean, target, source, slot, NEGLIGIBLE * noise[target])
    if pair is not None:
        keep |= pair[source, 0] > 0                       # its second line may reach further
    target, source, slot = target[keep], source[keep], slot[keep]
    out = np.zeros(points.omega.shape)
    for lo in range(0, target.size, CHUNK):
        t, s, k = (a[lo:lo + CHUNK] for a in (target, source, slot))
        omega = points.omega[t] + (starts[t] - starts[s]).astype(np.float64)[:, None]
        half = points.half[t]
        params = [np.asarray(v, np.float64)[s, k, None] for v in mean]
        params[0] = params[0] * (scales[s] / scales[t])[:, None]
        a = None if skew is None or not np.any(skew[s, k, 0]) else skew[s, k, 0][:, None]
        curve = mean_profile(omega, half, *params, xp=np, asymmetry=a)
        if pair is not None and np.any(pair[s, 0] > 0):   # doublets: the second lines too
            two = np.flatnonzero(pair[s, 0] > 0)
            second = [v[two] for v in params]
            second[1] = second_location(second[1], pair[s[two]])
            curve[two] += pair[s[two], :1] * mean_profile(
                omega[two], half[two], *second, xp=np, asymmetry=None if a is None else a[two])
        order = np.argsort(t, kind="stable")            # rows summed per window at once
        first = np.flatnonzero(np.r_[True, np.diff(t[order]) > 0])
        out[t[order][first]] += np.add.reduceat(curve[order], first, axis=0)
    return out


def reaching(points: WindowPoints, starts: np.ndarray, scales: np.ndarray, mean: Peaks,
             target: np.ndarray, source: np.ndarray, slot: np.ndarray,
             floor: np.ndarray | float) -> np.ndarray:
    """(T,) bool: the triples whose peak reaches window `target` with more than `floor` ((T,)
    or scalar, in its units) at the window's nearest point (its own window: always). A
    peak's doublet line lies within a few FWHM of it but may be nearer the window:
    `peaks_at_points` keeps doublets whatever this says."""
    height = np.asarray(mean.amplitude, np.float64)[source, slot] * scales[source] / scales[target]
    centre = np.asarray(mean.location, np.float64)[source, slot] + starts[source] - starts[target]
    width = np.asarray(mean.width, np.float64)[source, slot]
    eta = np.asarray(mean.lorentzian, np.float64)[source, slot]
    last = np.max(points.omega, axis=1)[target]
    z = np.maximum(np.maximum(-centre, centre - last), 0.0) / np.maximum(width, 1e-12)
    tail = height * (eta / (1.0 + z * z) + (1.0 - eta) * np.exp(-0.5 * np.minimum(z * z, 1e3)))
    return (target == source) | (tail > floor)


def own_triples(present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target, source, slot) of every window's own peaks at its own points; present: (M, K)
    the slots in use."""
    rows, slots = np.nonzero(present)
    return rows, rows, slots


def unreported(own: tuple, report: tuple, slots: int) -> tuple[np.ndarray, ...]:
    """The triples of `own` (`own_triples`) that `report` (`reported_triples`) leaves out: a
    window's own peaks reported from another window (or not at all), so that the reported
    peaks at a window are its own fit's, less these, plus the other windows' that reach it."""
    key = lambda t: t[0] * slots + t[2]
    mine = report[0] == report[1]
    missing = ~np.isin(key(own), key(tuple(a[mine] for a in report)))
    return tuple(a[missing] for a in own)


def reported_triples(offsets: np.ndarray, kept: list[tuple[np.ndarray, np.ndarray]],
                     background: list[tuple[np.ndarray, np.ndarray]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target, source, slot): every peak a spectrum reports at every window of that spectrum,
    and each window's background components (not reported, part of its own baseline) at that
    window only.

    Args:
      offsets: (S + 1,) spectrum i owns rows ``offsets[i]:offsets[i + 1]``.
      kept, background: per spectrum, (window, slot) of its reported peaks and of its
        background components (`assemble.select_peaks`), windows counted from its first row.
    """
    parts = [np.zeros((3, 0), np.int64)]
    for i, ((win, slot), (back, back_slot)) in enumerate(zip(kept, background)):
        rows = np.arange(offsets[i], offsets[i + 1])
        parts.append(np.stack([np.repeat(rows, win.size), np.tile(offsets[i] + win, rows.size),
                               np.tile(slot, rows.size)]))
        parts.append(np.stack([offsets[i] + back, offsets[i] + back, back_slot]))
    target, source, slot = np.concatenate(parts, axis=1).astype(np.int64)
    return target, source, slot
