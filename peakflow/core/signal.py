"""Signal helpers shared by the policy, the simulator and both inference paths: Gaussian
smoothing, the window intensity scale (so the network sees training and real windows on the
same scale) and robust noise estimates (numpy, host side), also for correlated noise.

`smooth` and `window_scale` run on JAX arrays (inside jit) and on numpy arrays (on the host, so
preparing measured spectra of any shape compiles nothing); both give the same numbers."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from peakflow.core.likelihood import project

DETREND_DEGREE = 3
SMOOTH = 2.0


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised Gaussian kernel of standard deviation `sigma` points, truncated at 4σ."""
    half = max(1, int(math.ceil(4 * sigma)))
    t = np.arange(-half, half + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return kernel / np.sum(kernel)


def smooth(x: jax.Array, sigma: float) -> jax.Array:
    """(..., W) Gaussian smoothing of each row ("same" length, zero beyond the edges).

    Numpy in, numpy out (scipy's `convolve1d`); JAX in, JAX out."""
    kernel = gaussian_kernel(sigma)
    if isinstance(x, np.ndarray):
        return ndimage.convolve1d(x, kernel.astype(x.dtype), axis=-1, mode="constant")
    flat = jnp.reshape(x, (-1, x.shape[-1]))
    out = jax.vmap(lambda r: jnp.convolve(r, kernel, mode="same"))(flat)
    return jnp.reshape(out, x.shape)


def window_scale(x: jax.Array, noise: jax.Array, floor: float) -> jax.Array:
    """Intensity scale of windows: the height of their tallest feature, at least floor·noise.

    The height is the maximum of the lightly smoothed window after removing its least-squares
    cubic (so a baseline does not count), evaluated away from the outermost 2σ points.

    Args:
      x: (..., W) windows.
      noise: (...,) noise sd of each window.
      floor: the smallest scale in noise sds (``SimulatorConfig.scale_floor``).

    Returns:
      (...,) positive scales; dividing a window by its scale puts its tallest peak near 1 and
      its noise sd at or below 1/floor. Numpy in, numpy out; JAX in, JAX out.
    """
    xp = np if isinstance(x, np.ndarray) else jnp
    cut = int(math.ceil(4 * SMOOTH))
    height = xp.max(project(smooth(x, SMOOTH), DETREND_DEGREE)[..., cut:-cut], axis=-1)
    return xp.maximum(height, floor * xp.asarray(noise, height.dtype))


def estimate_noise(y: np.ndarray) -> float | np.ndarray:
    """Robust noise sd of a spectrum (or of each row) from its second differences.

    For white noise of sd σ the second difference has sd √6 σ; its median absolute deviation
    ignores the few points where peaks (a few points wide or wider) curve the signal. Where
    that is 0 (integer counts that are mostly equal), the mean absolute deviation is used.

    Args:
      y: (n,) intensities, n >= 4, or (N, n) rows.

    Returns:
      σ̂ > 0 (a tiny fraction of the intensity range for noise-free data): a float for one
      spectrum, (N,) float64 for rows.
    """
    y = np.asarray(y, np.float64)
    d2 = np.diff(y, 2, axis=-1)
    deviation = np.abs(d2 - np.median(d2, axis=-1, keepdims=True))
    mad = np.median(deviation, axis=-1)
    # counts quantised to whole numbers can leave most second differences exactly at their
    # median (MAD 0): the mean absolute deviation (sd = 1.2533 × it) still sees their spread
    spread = np.where(mad > 0, 1.4826 * mad, 1.2533 * np.mean(deviation, axis=-1))
    sigma = spread / math.sqrt(6.0)
    span = np.ptp(y, axis=-1)
    span = np.where(span > 0, span, 1.0)
    sigma = np.maximum(sigma, 1e-6 * span)
    return float(sigma) if y.ndim == 1 else sigma


CORRELATED = 1.5   # the noise estimate rising by more than this per doubling of the lag
MIN_ROWS = 64      # second differences needed for an estimate at a lag


class NoiseLevel(NamedTuple):
    """A spectrum's noise: ``point``, the sd of one point; ``spacing``, the lag in points
    beyond which the noise is uncorrelated (1 for white noise); ``long_run``, the sd one point
    would have if the noise were white with the same power at low frequencies (= ``point``
    for white noise): a mean over w ≫ ``spacing`` points has sd ``long_run`` / √w."""

    point: float
    spacing: int
    long_run: float


QUANTILE = 0.25    # of |second differences|: robust to peaks on up to 3/4 of the points
GAUSS_QUANTILE = 0.31864  # that quantile of |z| for a standard normal z


def _lagged_noise(y: np.ndarray, lag: int, block: bool) -> float:
    """Robust sd of the second differences at `lag` over √6: of every lag-th point (all
    phases), or of the means of blocks of `lag` points (then × √lag: the long-run sd). The
    lower quartile of their magnitudes, not the median, so that peaks, which grow
    narrower relative to the lag, may spoil up to 3/4 of them."""
    rows = y[: y.size // lag * lag].reshape(-1, lag)
    d2 = np.diff(rows.mean(axis=1) if block else rows, 2, axis=0).ravel()
    deviation = np.abs(d2 - np.median(d2))
    spread = np.quantile(deviation, QUANTILE) / GAUSS_QUANTILE
    mean = 1.2533 * float(np.mean(deviation))
    if spread <= 1e-6 * mean:           # mostly equal (quantised counts, linear stretches)
        spread = mean
    return spread / math.sqrt(6.0) * (math.sqrt(lag) if block else 1.0)


def _prominent_width(y: np.ndarray) -> float:
    """Median FWHM in points of the peaks standing out by a quarter of the spectrum's range
    (after light smoothing); inf without any."""
    from scipy.signal import find_peaks, peak_widths

    smooth_y = ndimage.uniform_filter1d(y, 3)
    found, props = find_peaks(smooth_y, prominence=0.25 * float(np.ptp(smooth_y)))
    if not found.size:
        return math.inf
    return float(np.median(peak_widths(smooth_y, found, rel_height=0.5)[0]))


def noise_level(y: np.ndarray) -> NoiseLevel:
    """The noise of a spectrum (n,) on a uniform axis, white or correlated.

    Oversampled, interpolated or smoothed spectra (zero-filled FTIR, resampled exports) have
    noise correlated over several points: their second differences are small at lag 1 and
    `estimate_noise` would report far too little noise. Here the second-difference estimate
    is repeated on every k-th point for k = 1, 2, 4, ...: white noise gives about the same
    value at every lag (peak curvature adds a little), correlated noise a value that rises
    until k passes the correlation length. The first k at which it rises by less than
    `CORRELATED` per doubling is ``spacing``; ``point`` is the estimate there and
    ``long_run`` comes from the means of blocks of 2k points (white: both are
    `estimate_noise`). The walk stops before the second differences span more than half the
    FWHM of the spectrum's most prominent peaks (beyond that their curvature, not the noise, would
    rise). Peaks narrower than a few ``spacing`` inflate the estimates: the error is on the
    side of too much noise.

    Returns:
      `NoiseLevel`; spacing 1 when no correlation is seen (or the spectrum is too short to
      look).
    """
    y = np.asarray(y, np.float64)
    white = float(estimate_noise(y))
    floor = 1e-6 * (float(np.ptp(y)) or 1.0)
    sigma, lag = _lagged_noise(y, 1, False), 1
    if y.size < 2 * MIN_ROWS or (sigma > floor
                                 and _lagged_noise(y, 2, False) <= CORRELATED * sigma):
        return NoiseLevel(white, 1, white)              # white: the common case, decided fast
    widest = max(2, 0.5 * _prominent_width(y))          # 2 × lag within half a FWHM
    while y.size // (2 * lag) >= MIN_ROWS and 2 * lag <= widest:
        wider = _lagged_noise(y, 2 * lag, False)
        if sigma > floor and wider <= CORRELATED * sigma:
            break
        sigma, lag = wider, 2 * lag
    if lag == 1:
        return NoiseLevel(white, 1, white)
    long_run = _lagged_noise(y, 2 * lag, True) if y.size // (2 * lag) >= 3 else sigma
    return NoiseLevel(max(sigma, floor), lag, max(long_run, sigma, floor))
