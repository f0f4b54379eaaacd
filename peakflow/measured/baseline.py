"""The smooth baseline removed from a measured spectrum before the model sees it.

`remove_baseline` subtracts a smooth baseline from a whole real spectrum with
pybaselines (asymmetrically reweighted penalised least squares by default), which handles
baselines far from polynomial over thousands of points; the in-model polynomial then absorbs
what is left in each window (`peakflow.core.likelihood.project`).
"""

from __future__ import annotations

import numpy as np

METHODS = ("arpls", "asls", "snip", "none")  # the choices of `remove_baseline` and the CLI


def remove_baseline(y: np.ndarray, method: str = "arpls", lam: float | None = None,
                    half_window: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Subtracts a smooth baseline from a spectrum on a uniform grid (pybaselines).

    Args:
      y: (n,) intensities on a uniform grid on which peaks are a few to ~20 points wide
        (as after `peakflow.measured.signal.resample`).
      method: ``"arpls"`` (default), ``"asls"``, ``"snip"`` or ``"none"``.
      lam: smoothness of the Whittaker methods; default 1e5, whose smoother passes
        variations slower than ~110 points (about 9 FWHM of a peak on the model grid), so the
        baseline follows curvature over a few peak widths while the asymmetric weights keep
        it under the peaks.
      half_window: SNIP's largest half-window in points.

    Returns:
      (corrected (n,), baseline (n,)).
    """
    if method not in METHODS:
        raise ValueError(f"baseline method must be one of {METHODS}, got {method!r}")
    y = np.asarray(y, np.float64)
    if method == "none" or y.size < 8:
        return y.copy(), np.zeros_like(y)
    from pybaselines import Baseline

    fitter = Baseline(np.arange(y.size, dtype=np.float64))
    lam = 1e5 if lam is None else lam
    if method == "arpls":
        base, _ = fitter.arpls(y, lam=lam)
    elif method == "asls":
        base, _ = fitter.asls(y, lam=lam, p=0.01)
    else:
        base, _ = fitter.snip(y, max_half_window=half_window, decreasing=True)
    return y - base, base
