"""The K-peak pseudo-Voigt spectrum (the paper's Eq. 8) and its Gaussian likelihood.

All functions are pure and written for one spectrum; batch them with `jax.vmap`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

PARAMETERS = ("amplitude", "location", "width", "lorentzian")


class Peaks(NamedTuple):
    """Parameters of one or more pseudo-Voigt peaks; every field has the same shape (...,).

    Attributes:
      amplitude: height α of the peak at its centre.
      location: centre c, in grid points.
      width: γ, the Lorentzian half-width and the Gaussian standard deviation (not a FWHM).
      lorentzian: η in [0, 1], the Lorentzian fraction (0 = Gaussian, 1 = Lorentzian).
    """

    amplitude: jax.Array
    location: jax.Array
    width: jax.Array
    lorentzian: jax.Array


def pseudo_voigt(omega: jax.Array, peak: Peaks) -> jax.Array:
    """Height-normalised pseudo-Voigt peak scaled by its amplitude.

    Args:
      omega: (W,) grid.
      peak: one peak, scalar fields.

    Returns:
      (W,) ``α [η / (1 + z²) + (1 - η) exp(-z² / 2)]`` with ``z = (ω - c) / γ``.
    """
    z = (omega - peak.location) / peak.width
    lorentz = 1.0 / (1.0 + z * z)
    gauss = jnp.exp(-0.5 * z * z)
    return peak.amplitude * (peak.lorentzian * lorentz + (1.0 - peak.lorentzian) * gauss)


def spectrum(omega: jax.Array, peaks: Peaks, mask: jax.Array | None = None) -> jax.Array:
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


def log_likelihood(x: jax.Array, fitted: jax.Array, noise: float | jax.Array) -> jax.Array:
    """Gaussian log-likelihood ``log N(x | fitted, noise² I)`` in nats.

    Args:
      x: (..., W) observed spectra.
      fitted: (..., W) model spectra (or anything that broadcasts, e.g. 0.0).
      noise: noise standard deviation σ, a scalar or one per spectrum (...,).

    Returns:
      (...,) log-likelihood; for W = 500 and σ = 0.01 a perfect fit scores about 1593 nats.
    """
    noise = jnp.asarray(noise, jnp.float32)
    r = (x - fitted) / noise[..., None]
    num_points = x.shape[-1]
    log_norm = jnp.log(noise) + 0.5 * math.log(2 * math.pi)
    return -0.5 * jnp.sum(r * r, axis=-1) - num_points * log_norm


def fwhm(width: jax.Array, lorentzian: jax.Array) -> jax.Array:
    """Full width at half maximum of the height-normalised pseudo-Voigt.

    Solves ``η / (1 + z²) + (1 - η) exp(-z²/2) = 1/2`` for z > 0 by Newton's method (the left
    side is monotone in z² between the Lorentzian root z² = 1 and the Gaussian root
    z² = 2 ln 2), then returns ``2 z γ``.

    Args:
      width: (...,) γ.
      lorentzian: (...,) η.

    Returns:
      (...,) FWHM in the units of `width`: 2γ for η = 1, 2√(2 ln 2)·γ ≈ 2.355γ for η = 0.
    """
    eta = jnp.clip(lorentzian, 0.0, 1.0)
    s = eta * 1.0 + (1.0 - eta) * 2.0 * math.log(2.0)  # initial guess for z²

    def newton(s, _):
        lor = 1.0 / (1.0 + s)
        gau = jnp.exp(-0.5 * s)
        value = eta * lor + (1.0 - eta) * gau - 0.5
        slope = -eta * lor * lor - 0.5 * (1.0 - eta) * gau
        return s - value / slope, None

    s, _ = jax.lax.scan(newton, s, None, length=8)
    return 2.0 * jnp.sqrt(s) * width
