"""From a measured spectrum to model windows: noise level, resampling grid, intensity scale.

`window_scale` is shared by the simulator (`SimulatorConfig.normalise`) and the real-data path,
so the network sees training and real windows on the same intensity scale.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.baseline import project

DETREND_DEGREE = 3
SMOOTH = 2.0


def gaussian_kernel(sigma: float) -> jax.Array:
    """Normalised Gaussian kernel of standard deviation `sigma` points, truncated at 4σ."""
    half = max(1, int(math.ceil(4 * sigma)))
    t = jnp.arange(-half, half + 1, dtype=jnp.float32)
    kernel = jnp.exp(-0.5 * (t / sigma) ** 2)
    return kernel / jnp.sum(kernel)


def smooth(x: jax.Array, sigma: float) -> jax.Array:
    """(..., W) Gaussian smoothing of each row ("same" length, zero beyond the edges)."""
    kernel = gaussian_kernel(sigma)
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
      floor: the smallest scale in noise sds.

    Returns:
      (...,) positive scales; dividing a window by its scale puts its tallest peak near 1 and
      its noise sd at or below 1/floor.
    """
    cut = int(math.ceil(4 * SMOOTH))
    height = jnp.max(project(smooth(x, SMOOTH), DETREND_DEGREE)[..., cut:-cut], axis=-1)
    return jnp.maximum(height, floor * jnp.asarray(noise))


TARGET_FWHM = 12.0  # grid points: a pseudo-Voigt with γ ≈ 5, in the middle of the trained range


def estimate_noise(y: np.ndarray) -> float:
    """Robust noise sd of a spectrum from its second differences.

    For white noise of sd σ the second difference has sd √6 σ; its median absolute deviation
    ignores the few points where peaks (a few points wide or wider) curve the signal.

    Args:
      y: (n,) intensities, n >= 4.

    Returns:
      σ̂ > 0 (a tiny fraction of the intensity range for noise-free data).
    """
    d2 = np.diff(np.asarray(y, np.float64), 2)
    mad = np.median(np.abs(d2 - np.median(d2)))
    sigma = 1.4826 * mad / math.sqrt(6.0)
    span = float(np.ptp(y)) or 1.0
    return float(max(sigma, 1e-6 * span))


def typical_fwhm(y: np.ndarray, noise: float, most: int = 20) -> float | None:
    """Median full width at half maximum, in points, of the most prominent peaks of `y`.

    Peaks are the maxima of the lightly smoothed spectrum with a prominence of at least
    10 noise sds (scipy.signal.find_peaks); widths are measured at half prominence.

    Args:
      y: (n,) intensities on a uniform grid, peaks pointing up.
      noise: noise sd of `y`.
      most: how many of the most prominent peaks to use.

    Returns:
      The median FWHM in points, or None when no peak stands out of the noise.
    """
    from scipy.signal import find_peaks, peak_widths

    smooth_y = np.convolve(np.asarray(y, np.float64), np.ones(3) / 3.0, mode="same")
    found, props = find_peaks(smooth_y, prominence=10.0 * noise)
    if found.size == 0:
        return None
    top = found[np.argsort(props["prominences"])[::-1][:most]]
    widths = peak_widths(smooth_y, top, rel_height=0.5)[0]
    return float(np.median(widths))


def resample(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Values of the spectrum (x ascending, y) on the uniform `grid`.

    Where the grid is coarser than the data, each grid value is the mean of the data over its
    cell (integrating the linear interpolant), so noise is averaged rather than aliased;
    where it is finer, it is the linear interpolant.

    Args:
      x: (n,) strictly increasing positions; y: (n,) intensities.
      grid: (m,) uniform, increasing positions inside [x[0], x[-1]].

    Returns:
      (m,) float64 values.
    """
    step = grid[1] - grid[0]
    if step <= np.median(np.diff(x)):
        return np.interp(grid, x, y)
    # cumulative integral of the piecewise-linear interpolant, differenced over each cell
    area = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))])
    edges = np.clip(np.concatenate([grid - step / 2, grid[-1:] + step / 2]), x[0], x[-1])
    integral = np.interp(edges, x, area)
    width = np.diff(edges)
    return np.where(width > 0, np.diff(integral) / np.maximum(width, 1e-300), np.interp(grid, x, y))
