"""The pseudo-Voigt peak (the paper's Eq. 8) and the quantities derived from its shape.

Each formula is written once and runs on JAX arrays (inside jit/vmap, float32) and on numpy
arrays (the measured-spectrum path, float64 in the caller's units): functions that need more
than arithmetic take the array namespace as ``xp`` (`jax.numpy` by default, or `numpy`).
Functions over a whole spectrum are written for one spectrum; batch them with `jax.vmap`.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PARAMETERS = ("amplitude", "location", "width", "lorentzian")
SQRT_2PI = math.sqrt(2.0 * math.pi)
RATIO_TABLE = 4097  # values of η in the table of `fwhm_ratio_table`


Array = jax.Array | np.ndarray  # records travel between the device (jax) and the host (numpy)


class Peaks(NamedTuple):
    """Parameters of one or more pseudo-Voigt peaks; every field has the same shape (...,).

    Attributes:
      amplitude: height α of the peak at its centre.
      location: centre c, in grid points (or the caller's x units on the measured path).
      width: γ, the Lorentzian half-width and the Gaussian standard deviation (not a FWHM).
      lorentzian: η in [0, 1], the Lorentzian fraction (0 = Gaussian, 1 = Lorentzian).
    """

    amplitude: Array
    location: Array
    width: Array
    lorentzian: Array


def profile(x, amplitude, location, width, lorentzian, xp: ModuleType = jnp):
    """``α [η / (1 + z²) + (1 - η) exp(-z² / 2)]`` with ``z = (x - c) / γ``, broadcast.

    Args:
      x: positions, any shape that broadcasts with the parameters.
      amplitude, location, width, lorentzian: α, c, γ, η.
      xp: `jax.numpy` (default) or `numpy`.

    Returns:
      The broadcast shape of the inputs.
    """
    z = (x - location) / width
    z2 = z * z
    return amplitude * (lorentzian * (1.0 / (1.0 + z2)) + (1.0 - lorentzian) * xp.exp(-0.5 * z2))


def skewed_profile(x, amplitude, location, width, lorentzian, asymmetry, xp: ModuleType = jnp):
    """The split pseudo-Voigt: `profile` with the half-width γ(1 − a) left of the centre and
    γ(1 + a) right of it (a = `asymmetry`, |a| < 1), broadcast. Its maximum α stays at c, its
    FWHM and area are those of the symmetric peak of width γ (each is linear in the two
    half-widths)."""
    side = xp.where(x < location, -1.0, 1.0)
    return profile(x, amplitude, location, width * (1.0 + asymmetry * side), lorentzian, xp=xp)


def mean_profile(omega, half, amplitude, location, width, lorentzian, xp: ModuleType = jnp,
                 grouped: bool | None = None, asymmetry=None):
    """The pseudo-Voigt (`profile`; with `asymmetry`, `skewed_profile`) as data points see it,
    broadcast: its value at omega where δ = `half` is 0; for a group of points, its mean over
    [omega − δ, omega + δ] by two-point Gauss-Legendre quadrature (the mean of the values at
    omega ± δ/√3: exact for cubics, off by δ⁴ f⁗ / 135, about 10⁻⁵ of the height for a group
    half a grid step wide on a peak of 12 grid points FWHM).

    Args:
      grouped: whether any δ > 0 (None: look); False evaluates at omega only.
    """
    grouped = bool(np.any(np.asarray(half) > 0)) if grouped is None else grouped
    if asymmetry is None:
        at = lambda w: profile(w, amplitude, location, width, lorentzian, xp=xp)
    else:
        at = lambda w: skewed_profile(w, amplitude, location, width, lorentzian, asymmetry, xp)
    if not grouped:
        return at(omega)
    offset = half / math.sqrt(3.0)
    return 0.5 * (at(omega - offset) + at(omega + offset))


def pseudo_voigt(omega: jax.Array, peak: Peaks) -> jax.Array:
    """Height-normalised pseudo-Voigt peak scaled by its amplitude (`profile` of a `Peaks`).

    Args:
      omega: (W,) grid.
      peak: one peak, scalar fields.

    Returns:
      (W,) the peak on the grid.
    """
    return profile(omega, *peak)


def slot_mask(num_peaks, slots: int):
    """(..., slots) bool: True for the first `num_peaks` of `slots` peak slots.

    Works on numpy and JAX arrays (also under jit) and returns the same kind.
    """
    return np.arange(slots) < num_peaks[..., None]


def peak_sum(omega: jax.Array, peaks: Peaks, mask: jax.Array | None = None) -> jax.Array:
    """Sum of peaks, Eq. 8.

    Args:
      omega: (W,) grid.
      peaks: fields of shape (K,).
      mask: optional (K,) bool; peaks where it is False contribute nothing (their
        parameters may then be anything, NaN included).

    Returns:
      (W,) noise-free spectrum.
    """
    each = jax.vmap(pseudo_voigt, in_axes=(None, 0))(omega, peaks)  # (K, W)
    if mask is not None:
        each = jnp.where(mask[:, None], each, 0.0)
    return jnp.sum(each, axis=0)


def fwhm_ratio(lorentzian, xp: ModuleType = jnp):
    """FWHM / γ of the height-normalised pseudo-Voigt, elementwise.

    Solves ``η / (1 + s) + (1 - η) exp(-s/2) = 1/2`` for s = z² by Newton's method (the left
    side is monotone in s between the Lorentzian root s = 1 and the Gaussian root
    s = 2 ln 2), then returns ``2 √s``: 2 for η = 1, 2√(2 ln 2) ≈ 2.355 for η = 0.

    Args:
      lorentzian: (...,) η (clipped to [0, 1]).
      xp: `jax.numpy` (default) or `numpy` (then computed in float64).
    """
    eta = xp.clip(xp.asarray(lorentzian, **({"dtype": np.float64} if xp is np else {})),
                  0.0, 1.0)
    s = eta + (1.0 - eta) * 2.0 * math.log(2.0)  # initial guess
    for _ in range(4):  # quadratic convergence: 3 steps reach float64 precision on [0, 1]
        lor, gau = 1.0 / (1.0 + s), xp.exp(-0.5 * s)
        s = s - (eta * lor + (1.0 - eta) * gau - 0.5) / (-eta * lor * lor - 0.5 * (1.0 - eta) * gau)
    return 2.0 * xp.sqrt(s)


@functools.lru_cache(maxsize=1)
def _ratio_table() -> tuple[np.ndarray, np.ndarray]:
    eta = np.linspace(0.0, 1.0, RATIO_TABLE)  # uniform: the index is computed, not searched
    return eta, fwhm_ratio(eta, np)


def fwhm_ratio_table(lorentzian) -> np.ndarray:
    """`fwhm_ratio` on the host by linear interpolation in a table of `RATIO_TABLE` values
    (within 1e-8 of it; several times faster on the large arrays of posterior draws).

    Args:
      lorentzian: (...,) η (clipped to [0, 1]).

    Returns:
      (...,) float64.
    """
    _, ratio = _ratio_table()
    where = np.clip(np.asarray(lorentzian, np.float64), 0.0, 1.0) * (RATIO_TABLE - 1)
    index = np.minimum(where.astype(np.int64), RATIO_TABLE - 2)
    frac = where - index
    return ratio[index] * (1.0 - frac) + ratio[index + 1] * frac


def fwhm(width, lorentzian, xp: ModuleType = jnp):
    """Full width at half maximum, ``γ · fwhm_ratio(η)``, in the units of `width`."""
    return width * fwhm_ratio(lorentzian, xp)


def area_factor(lorentzian):
    """Area / (α γ) of the pseudo-Voigt: ``η π + (1 - η) √(2π)`` (arithmetic only)."""
    return lorentzian * math.pi + (1.0 - lorentzian) * SQRT_2PI


def area(amplitude, width, lorentzian):
    """Integral of the peak over the whole axis, ``α γ (η π + (1 - η) √(2π))``."""
    return amplitude * width * area_factor(lorentzian)
