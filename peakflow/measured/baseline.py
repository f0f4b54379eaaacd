"""The smooth baseline removed from a measured spectrum before the model sees it.

`remove_baseline` subtracts a smooth baseline from a whole real spectrum (asymmetrically
reweighted penalised least squares by default), which handles baselines far from polynomial
over thousands of points; the in-model polynomial then absorbs what is left in each window
(`peakflow.core.likelihood.project`). `remove_baselines` does it for many spectra: arPLS
batched in JAX (`peakflow.measured.arpls`, pybaselines' algorithm), the other methods with
pybaselines one spectrum at a time.
"""

from __future__ import annotations

import numpy as np

from peakflow.config import BASELINE_METHODS
from peakflow.measured.arpls import arpls_many
from peakflow.measured.window_baseline import SMOOTHNESS

METHODS = BASELINE_METHODS  # the choices of `remove_baseline` and the CLI
REMOVED = ("arpls", "asls", "snip")  # the others remove nothing (Shirley: fitted with peaks)


def remove_baseline(y: np.ndarray, method: str = "arpls", lam: float | None = None,
                    half_window: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Subtracts a smooth baseline from a spectrum on a uniform grid.

    Args:
      y: (n,) intensities on a uniform grid on which peaks are a few to ~20 points wide
        (as after `peakflow.measured.resample.resample`).
      method: ``"arpls"`` (default), ``"asls"``, ``"snip"``; ``"none"``, ``"shirley"`` and
        ``"shirley-ke"`` remove nothing (the Shirley step is fitted with the peaks).
      lam: smoothness of the Whittaker methods; default 1e5, whose smoother passes
        variations slower than ~110 points (about 9 FWHM of a peak on the model grid), so the
        baseline follows curvature over a few peak widths while the asymmetric weights keep
        it under the peaks.
      half_window: SNIP's largest half-window in points.

    Returns:
      (corrected (n,), baseline (n,)).
    """
    ((corrected, base),) = remove_baselines([y], method, lam, half_window)
    return corrected, base


def remove_baselines(spectra: list[np.ndarray], method: str = "arpls", lam: float | None = None,
                     half_window: int = 60) -> list[tuple[np.ndarray, np.ndarray]]:
    """`remove_baseline` for many spectra (any lengths); arPLS runs them as one batch.

    Args:
      spectra: each (n_i,) on its own uniform grid.
      method, lam, half_window: as `remove_baseline`.

    Returns:
      One (corrected (n_i,), baseline (n_i,)) per spectrum.
    """
    if method not in METHODS:
        raise ValueError(f"baseline method must be one of {METHODS}, got {method!r}")
    spectra = [np.asarray(y, np.float64) for y in spectra]
    lam = SMOOTHNESS if lam is None else lam
    bases = [np.zeros_like(y) for y in spectra]
    todo = [i for i, y in enumerate(spectra) if method in REMOVED and y.size >= 8]
    if method == "arpls":
        for i, base in zip(todo, arpls_many([spectra[i] for i in todo], lam)):
            bases[i] = base
    else:
        for i in todo:
            bases[i] = _pybaselines(spectra[i], method, lam, half_window)
    return [(y - base, base) for y, base in zip(spectra, bases)]


def _pybaselines(y: np.ndarray, method: str, lam: float, half_window: int) -> np.ndarray:
    """The baseline (n,) of one spectrum by pybaselines' ``asls`` or ``snip``."""
    from pybaselines import Baseline

    fitter = Baseline(np.arange(y.size, dtype=np.float64))
    if method == "asls":
        base, _ = fitter.asls(y, lam=lam, p=0.01)
    else:
        base, _ = fitter.snip(y, max_half_window=half_window, decreasing=True)
    return base
