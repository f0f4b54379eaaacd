"""Cosmic-ray spikes: one- or two-point spikes found and replaced before fitting.

A cosmic ray (Raman CCDs) or a dead pixel puts one or two points far from their neighbours.
`find_spikes` marks point i when

* it stands far from its 5-point running median: |y_i − median(y_{i−2..i+2})| > `Z` s_i, s_i
  the local robust scale of that excess (1.4826 × its median absolute value over the `LOCAL`
  points around i, at least the spectrum's noise estimate: counting noise grows with the
  signal, so one global σ̂ would mark every noisy stretch), and
* that excess is nearly all of its local prominence: the excess is more than `SHARPNESS` of
  |y_i − the farthest of y_{i−3..i+3} on the other side|.

The second condition is what separates a spike from a real peak. A spike of one or two points
leaves the 5-point median at the background, so the excess is its whole height; a peak even
two points wide (FWHM) keeps its neighbours high, so the median follows it: the excess is at
most ~55 % of its height (Lorentzian, FWHM 2 points) and ~40 % at FWHM 3. This is the
Whitaker–Hayes idea (Chemometr. Intell. Lab. Syst. 179, 2018: a spike is an outlier that is
narrow on the sampling grid) with the modified z-score taken against the running median
rather than of the first differences, whose flanks exceed any fixed threshold at high
signal-to-noise ratios. `remove_spikes` replaces marked points by linear interpolation between
their nearest unmarked neighbours.

At the ends the running filters mirror the spectrum about its end point (``mode="mirror"``), so
an end point is compared with its real neighbours. Padding with copies of the end point
(``"nearest"``, until 2026-12-08) made the end point its own 5-point median: a dropout there was
invisible. Every RRUFF infrared file in `../shared/data` starts with one (0 at 399 cm⁻¹, the
data 0.02–0.22), and the fit paid for it with components and a bent baseline (corundum χ² 48.7,
calcite R050048 19.7; 5.7 and 9.2 once it is removed).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, minimum_filter1d

Z = 8.0           # local robust scales from the running median
SHARPNESS = 0.75  # share of the local prominence the excess must reach
LOCAL = 51        # points over which the excess's scale is measured


def find_spikes(y: np.ndarray, noise: float) -> np.ndarray:
    """(n,) bool: the spike points of a spectrum (n,) on an ascending axis whose noise sd is
    estimated as `noise`."""
    y = np.asarray(y, np.float64)
    if y.size < 7:
        return np.zeros(y.size, bool)
    excess = y - median_filter(y, size=5, mode="mirror")
    size = np.abs(excess)
    spikes = size > Z * noise                   # the scale is at least `noise`: candidates
    if not spikes.any():
        return spikes
    low = minimum_filter1d(y, size=7, mode="mirror")
    high = maximum_filter1d(y, size=7, mode="mirror")
    spikes &= size > SHARPNESS * np.where(excess > 0, y - low, high - y)
    for i in np.flatnonzero(spikes):            # few: the local scale only where needed
        local = size[max(i - LOCAL // 2, 0):i + LOCAL // 2 + 1]
        spikes[i] = size[i] > Z * max(1.4826 * float(np.median(local)), noise)
    return spikes


def remove_spikes(x: np.ndarray, y: np.ndarray, noise: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Replaces the spikes of a spectrum by interpolation between their neighbours.

    Args:
      x, y: (n,) the spectrum, x ascending; noise: its noise sd.

    Returns:
      (y without spikes (n,), x of the removed points (S,)).
    """
    spikes = find_spikes(y, noise)
    if not spikes.any() or spikes.all():
        return y, x[:0]
    clean = y.copy()
    clean[spikes] = np.interp(x[spikes], x[~spikes], y[~spikes])
    return clean, x[spikes]
