"""Baselines: a polynomial marginalised inside the model, and a smooth one removed beforehand.

Inside the model (`ModelConfig.baseline_degree` = d >= 0) a window carries an unknown baseline
``Φ β`` (Φ: the W × (d+1) polynomials up to degree d) with a flat prior on β. Integrating β
out of the Gaussian likelihood leaves the likelihood of the residual projected onto the
complement of the polynomials, ``P r = r - Q Qᵀ r`` with Q an orthonormal basis of Φ's columns
(up to a constant that does not depend on the peaks), so `project` is all the model needs.

Before the model, `remove_baseline` subtracts a smooth baseline from a whole real spectrum with
pybaselines (asymmetrically reweighted penalised least squares by default), which handles
baselines far from polynomial over thousands of points; the in-model polynomial then absorbs
what is left in each window.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("arpls", "asls", "snip", "none")


@functools.lru_cache(maxsize=32)
def polynomial_basis(num_points: int, degree: int) -> np.ndarray:
    """(W, d+1) float32 orthonormal basis of the polynomials of degree <= d on W points."""
    t = np.linspace(-1.0, 1.0, num_points)
    q, _ = np.linalg.qr(np.vander(t, degree + 1, increasing=True))
    return q.astype(np.float32)


def project(residual: jax.Array, degree: int) -> jax.Array:
    """Removes the least-squares polynomial of degree `degree` from each row.

    Args:
      residual: (..., W).
      degree: polynomial degree; negative returns `residual` unchanged.

    Returns:
      (..., W) the component orthogonal to the polynomials.
    """
    if degree < 0:
        return residual
    basis = jnp.asarray(polynomial_basis(residual.shape[-1], degree))
    return residual - (residual @ basis) @ basis.T


def remove_baseline(y: np.ndarray, method: str = "arpls", lam: float | None = None,
                    half_window: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Subtracts a smooth baseline from a spectrum on a uniform grid (pybaselines).

    Args:
      y: (n,) intensities on a uniform grid on which peaks are a few to ~20 points wide
        (as after `peakflow.preprocess.resample`).
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
