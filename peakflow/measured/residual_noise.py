"""The noise a window's residual has, where the noise floor raised the noise the fit is told.

The noise sd the model is told is never below ``noise_floor`` of a window's scale
(`FitOptions.noise_floor`): at signal-to-noise ratios of hundreds real bands depart from the
pseudo-Voigt shape by more than the noise, and the refinement should not pay peaks for that
departure. Its Laplace sds, at the floored noise, were then too wide wherever the shape did
hold: an isolated pseudo-Voigt at 300 / 1,000 noise sds reported sds 1.6–2× / 5–6× its
estimates' scatter over noise draws.

So the fit keeps the floored noise (its optimum, pruning and flags are unchanged) and each
window's posterior uses the noise its residual shows: its variance is the floored one times

    c = clip(χ² / (n − p), E, 1),

χ² the window's χ² at its optimum (the baseline marginalised), n its points, p the peaks'
parameters and the baseline's effective ones, and E = mean over its points of (noise sd /
floored sd)², the reduced χ² that pure noise would give. Where the residual is noise (the
shape holds) c = E and the sds are those of the point's own noise; where it shows a misfit
up to the floor, c → 1 and they stay as wide as before; windows the floor does not touch
have E = 1, so c = 1. The same c scales the exactness step's target (`peakflow.measured.stages`).
Scaling JᵀMJ by 1 / c is exact for the noise sd √c times the told one with the baseline
deviation's prior κ in units of that noise, as everywhere else (`window_baseline`).
"""

from __future__ import annotations

import numpy as np

from peakflow.measured.points import WindowPoints
from peakflow.measured.window_baseline import marginal_baseline


def noise_scale(points: WindowPoints, chi2: np.ndarray, parameters: np.ndarray,
                table: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(M,) √c of each window (see the module docstring): the factor on the noise sd the fit
    was told that its residual supports, in [√E, 1].

    Args:
      points: the M windows' data points; chi2: (M,) each window's χ² at its optimum (NaN:
        not fitted, factor 1); parameters: (M,) its peaks' parameters (4 per peak, 5 with an
        asymmetry); table, prior: the windows' baseline basis and prior precisions
        (`window_baseline.baseline_modes`, `prior_precision`).
    """
    count = points.counts
    expected = np.sum(points.ratio ** 2, axis=1) / np.maximum(count, 1)
    scale = np.ones(count.shape)
    rows = np.flatnonzero((expected < 1.0) & np.isfinite(chi2))  # the others: c = 1
    if rows.size:
        dof = marginal_baseline(points.omega[rows], np.zeros_like(points.omega[rows]),
                                points.weight[rows], table, prior[rows])[2]
        n = count[rows]
        reduced = chi2[rows] / np.maximum(n - dof - parameters[rows], np.maximum(n / 2, 1))
        scale[rows] = np.sqrt(np.clip(reduced, expected[rows], 1.0))
    return scale
