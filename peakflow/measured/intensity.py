"""Intensities of any magnitude: a measured spectrum's y (and its per-point sigma and the
caller's noise) is scaled by a power of two, which is exact, so that its largest |y| lies in
[1, 2) before fitting, and every y-unit field of the fit is scaled back after. So values near
1e-300 or 1e300 neither underflow nor overflow in squares."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from peakflow.measured.options import FitOptions
from peakflow.measured.results import SpectrumFit


def unit_exponent(y: Any) -> int:
    """The power of two that brings the largest finite |y| into [1, 2); 0 for input the
    checks will refuse (not a 1-D real array) or without a nonzero finite value."""
    array = np.asarray(y)
    if array.dtype.kind not in "iuf" or array.ndim != 1:
        return 0
    finite = np.abs(array[np.isfinite(array)].astype(np.float64))
    return int(np.frexp(finite.max())[1]) - 1 if finite.size and finite.max() > 0 else 0


def scale_input(item: tuple, exponent: int) -> tuple:
    """``(y, x[, sigma])`` with y and sigma multiplied by 2**-exponent."""
    if not exponent:
        return item
    y, x, *sigma = item
    down = lambda v: np.ldexp(np.asarray(v, np.float64), -exponent)
    return (down(y), x, *(down(v) for v in sigma))


def scale_options(options: FitOptions, exponent: int) -> FitOptions:
    """`options` with the caller's ``noise`` (y units) multiplied by 2**-exponent."""
    if not exponent or options.noise is None:
        return options
    return replace(options, noise=float(np.ldexp(options.noise, -exponent)))


def scale_fit(fit: SpectrumFit, exponent: int) -> SpectrumFit:
    """`fit` with every y-unit field (the spectrum, baseline, fit, noise, amplitudes and areas
    and their sds, the draws' y scale) multiplied by 2**exponent."""
    if not exponent:
        return fit
    factor = 2.0 ** exponent
    p = fit.peaks
    peaks = replace(p, amplitude=p.amplitude * factor, amplitude_sd=p.amplitude_sd * factor,
                    area=p.area * factor, area_sd=p.area_sd * factor)
    draws = (None if fit.draws is None
             else replace(fit.draws, y_scale=fit.draws.y_scale * factor))
    return replace(fit, peaks=peaks, y=fit.y * factor, baseline=fit.baseline * factor,
                   fitted=fit.fitted * factor, noise=fit.noise * factor, draws=draws)
