"""Signal helpers shared by the policy, the simulator and both inference paths: Gaussian
smoothing, the window intensity scale (so the network sees training and real windows on the
same scale) and a robust noise estimate (numpy, host side).

`smooth` and `window_scale` run on JAX arrays (inside jit) and on numpy arrays (on the host, so
preparing measured spectra of any shape compiles nothing); both give the same numbers."""

from __future__ import annotations

import math

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
    ignores the few points where peaks (a few points wide or wider) curve the signal.

    Args:
      y: (n,) intensities, n >= 4, or (N, n) rows.

    Returns:
      σ̂ > 0 (a tiny fraction of the intensity range for noise-free data): a float for one
      spectrum, (N,) float64 for rows.
    """
    y = np.asarray(y, np.float64)
    d2 = np.diff(y, 2, axis=-1)
    mad = np.median(np.abs(d2 - np.median(d2, axis=-1, keepdims=True)), axis=-1)
    sigma = 1.4826 * mad / math.sqrt(6.0)
    span = np.ptp(y, axis=-1)
    span = np.where(span > 0, span, 1.0)
    sigma = np.maximum(sigma, 1e-6 * span)
    return float(sigma) if y.ndim == 1 else sigma
