"""Priors over peak parameters and the number of peaks.

``"flat"`` is the paper's improper p(θ) ∝ 1. ``"uniform"`` puts a uniform prior over each of
the simulator's ranges; its edges are soft (a product of two logistic sigmoids), so that a
Normal variational sample just outside a range costs a steep but finite penalty instead of
-inf. For a range much wider than its edge the density still integrates to ~1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from peakflow.config import ModelConfig, SimulatorConfig
from peakflow.core.lineshape import PARAMETERS, Peaks


def _soft_uniform_logpdf(value: jax.Array, lo: float, hi: float, edge: float) -> jax.Array:
    scale = edge * (hi - lo)
    inside = jax.nn.log_sigmoid((value - lo) / scale) + jax.nn.log_sigmoid((hi - value) / scale)
    return inside - math.log(hi - lo)


def log_prior_peak(peaks: Peaks, model: ModelConfig, sim: SimulatorConfig) -> jax.Array:
    """Log prior density of each peak.

    Args:
      peaks: fields of shape (...,).
      model: selects ``flat`` or ``uniform`` and the edge softness.
      sim: the ranges of the uniform prior.

    Returns:
      (...,) log p(θ); zeros under the flat prior. The Lorentzian fraction's range is its
      Beta support, so it adds only the uniform density's constant.
    """
    if model.prior == "flat":
        return jnp.zeros_like(peaks.amplitude)
    total = 0.0
    for name in PARAMETERS[:3]:
        lo, hi = getattr(sim, name)
        if name == "amplitude" and model.prior_amplitude is not None:
            lo, hi = model.prior_amplitude
        total = total + _soft_uniform_logpdf(getattr(peaks, name), lo, hi, model.prior_edge)
    lo, hi = sim.lorentzian
    return total - math.log(hi - lo)


def log_prior_count(k: jax.Array, model: ModelConfig) -> jax.Array:
    """Log prior of the number of peaks plus the exchangeable-set term.

    Under ``uniform``: K ~ U{0..K_max} and the peaks form an unordered set, whose density
    is k! times that of the ordered list (``log k!`` here). Zero under ``flat``.

    Args:
      k: (...,) numbers of peaks.

    Returns:
      (...,) log prior of k.
    """
    if model.prior == "flat":
        return jnp.zeros(jnp.shape(k))
    k = jnp.asarray(k, jnp.float32)
    return jax.scipy.special.gammaln(k + 1.0) - math.log(model.k_max + 1)
