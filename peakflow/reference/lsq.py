"""Least-squares baseline with lmfit: what practitioners run today.

K is known; initial guesses come from `scipy.signal.find_peaks` on the lightly smoothed
spectrum (the K most prominent peaks, their heights and half-widths); the model is the
package's own height-normalised pseudo-Voigt (`peakflow.core.lineshape.profile`); standard
errors come from lmfit's covariance estimate (NaN where it could not be computed).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from peakflow.core.lineshape import PARAMETERS, Peaks, profile
from peakflow.extras import require


class LsqFit(NamedTuple):
    """Best-fit values and standard errors, `Peaks` with fields (N, slots); NaN where absent."""

    value: Peaks
    stderr: Peaks


def _pseudo_voigt(x, amplitude, location, width, lorentzian):
    """`profile` in numpy with the signature lmfit reads its parameter names from."""
    return profile(x, amplitude, location, width, lorentzian, xp=np)


def initial_guesses(y: np.ndarray, k: int) -> list[dict[str, float]]:
    """K starting peaks from the K most prominent maxima of the smoothed spectrum.

    Missing ones (fewer maxima than K) are placed at the largest remaining residual.
    """
    smooth = gaussian_filter1d(y, 2.0)
    idx, props = find_peaks(smooth, prominence=0.0, width=0.0)
    order = np.argsort(props["prominences"])[::-1][:k]
    guesses = [{"amplitude": float(smooth[idx[i]]), "location": float(idx[i]),
                "width": float(max(props["widths"][i] / (2 * math.sqrt(2 * math.log(2))), 1.0)),
                "lorentzian": 0.5} for i in order]
    omega = np.arange(len(y), dtype=float)
    while len(guesses) < k:
        residual = smooth - sum(_pseudo_voigt(omega, **g) for g in guesses)
        c = int(np.argmax(residual))
        guesses.append({"amplitude": float(max(residual[c], 0.05)), "location": float(c),
                        "width": 8.0, "lorentzian": 0.5})
    return guesses


def fit_one(y: np.ndarray, k: int) -> tuple[list[dict], list[dict]]:
    """lmfit of a K-peak pseudo-Voigt to one spectrum; returns (values, stderrs) per peak."""
    omega = np.arange(len(y), dtype=float)
    lmfit = require("lmfit", "the least-squares reference fit")
    model, params = None, lmfit.Parameters()
    for i, guess in enumerate(initial_guesses(y, k)):
        part = lmfit.Model(_pseudo_voigt, prefix=f"p{i}_")
        model = part if model is None else model + part
        params.add(f"p{i}_amplitude", guess["amplitude"], min=0.0, max=10.0)
        params.add(f"p{i}_location", guess["location"], min=-0.5 * len(y), max=1.5 * len(y))
        params.add(f"p{i}_width", guess["width"], min=0.3, max=float(len(y)))
        params.add(f"p{i}_lorentzian", guess["lorentzian"], min=0.0, max=1.0)
    result = model.fit(y, params, x=omega)
    values, errors = [], []
    for i in range(k):
        values.append({p: result.params[f"p{i}_{p}"].value for p in PARAMETERS})
        errors.append({p: (result.params[f"p{i}_{p}"].stderr
                           if result.params[f"p{i}_{p}"].stderr is not None else np.nan)
                       for p in PARAMETERS})
    return values, errors


def fit_lsq(spectra: np.ndarray, num_peaks: np.ndarray, slots: int,
            progress: Callable[[int], None] | None = None) -> LsqFit:
    """`fit_one` on every spectrum; fields (N, slots), peaks sorted by location."""
    n = spectra.shape[0]
    value = {p: np.full((n, slots), np.nan) for p in PARAMETERS}
    stderr = {p: np.full((n, slots), np.nan) for p in PARAMETERS}
    for i in range(n):
        k = int(num_peaks[i])
        if k > 0:
            vals, errs = fit_one(np.asarray(spectra[i], float), k)
            order = np.argsort([v["location"] for v in vals])
            for j, o in enumerate(order):
                for p in PARAMETERS:
                    value[p][i, j] = vals[o][p]
                    stderr[p][i, j] = errs[o][p]
        if progress is not None:
            progress(1)
    return LsqFit(Peaks(**value), Peaks(**stderr))
