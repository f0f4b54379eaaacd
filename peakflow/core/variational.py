"""The per-peak mean-field variational family of Eq. 9 and the map from network outputs to it.

q(θ_k) = N(α | μ_α, σ_α²) · N(c | μ_c, σ_c²) · N(γ | μ_γ, σ_γ²) · Beta(η | a, b).

The policy emits 9 raw numbers per step, in this order (`RAW_FIELDS`):

  =====  ==================  ============================================================
  index  parameter           mapping (`HeadConfig`)
  =====  ==================  ============================================================
  0      amplitude mean      lo + (hi - lo) · sigmoid(raw)
  1      amplitude sd        bounded: lo + (hi - lo) · sigmoid(raw); unbounded: lo + exp(raw)
  2      location mean       anchor + span · tanh(raw / 2)  (paper: W · sigmoid(raw))
  3      location sd         as index 1
  4      width mean          lo + (hi - lo) · sigmoid(raw)
  5      width sd            as index 1
  6      Beta a of η         exp(log lo + (log hi - log lo) · sigmoid(raw))
  7      Beta b of η         as index 6
  8      stop logit          bound · tanh(raw / bound)
  =====  ==================  ============================================================
"""

from __future__ import annotations

import math
from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp

from peakflow.config import HeadConfig
from peakflow.core.lineshape import Peaks

RAW_FIELDS = ("amplitude_mean", "amplitude_sd", "location_mean", "location_sd", "width_mean",
              "width_sd", "lorentzian_a", "lorentzian_b", "stop_logit")
NUM_RAW = len(RAW_FIELDS)


class PeakQ(NamedTuple):
    """Variational parameters of one peak per element; every field has shape (...,)."""

    amplitude_mean: jax.Array
    amplitude_sd: jax.Array
    location_mean: jax.Array
    location_sd: jax.Array
    width_mean: jax.Array
    width_sd: jax.Array
    lorentzian_a: jax.Array
    lorentzian_b: jax.Array

    def distributions(self) -> Peaks:
        """The four distrax factors, as a `Peaks` of distributions."""
        return Peaks(
            amplitude=distrax.Normal(self.amplitude_mean, self.amplitude_sd),
            location=distrax.Normal(self.location_mean, self.location_sd),
            width=distrax.Normal(self.width_mean, self.width_sd),
            lorentzian=distrax.Beta(self.lorentzian_a, self.lorentzian_b),
        )

    def sample(self, key: jax.Array) -> Peaks:
        """One reparameterised draw (pathwise gradients, implicit for the Beta): fields (...,)."""
        keys = jax.random.split(key, 4)
        return Peaks(*(d.sample(seed=k) for d, k in zip(self.distributions(), keys)))

    def log_prob(self, peaks: Peaks) -> jax.Array:
        """(...,) log q(θ) summed over the four factors."""
        dists = self.distributions()
        eta = jnp.clip(peaks.lorentzian, 1e-6, 1.0 - 1e-6)
        values = peaks._replace(lorentzian=eta)
        return sum(d.log_prob(v) for d, v in zip(dists, values))

    def mean(self) -> Peaks:
        """Posterior means, fields (...,); numpy in, numpy out (arithmetic only)."""
        a, b = self.lorentzian_a, self.lorentzian_b
        return Peaks(self.amplitude_mean, self.location_mean, self.width_mean, a / (a + b))

    def std(self) -> Peaks:
        """Posterior standard deviations, fields (...,); numpy in, numpy out."""
        a, b = self.lorentzian_a, self.lorentzian_b
        eta_sd = (a * b / ((a + b) ** 2 * (a + b + 1.0))) ** 0.5
        return Peaks(self.amplitude_sd, self.location_sd, self.width_sd, eta_sd)


def _bounded(raw: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    lo, hi = bounds
    return lo + (hi - lo) * jax.nn.sigmoid(raw)


def _sd(raw: jax.Array, bounds: tuple[float, float], transform: str) -> jax.Array:
    if transform == "exp":
        return bounds[0] + jnp.exp(jnp.clip(raw, -30.0, 30.0))
    return _bounded(raw, bounds)


def _log_bounded(raw: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(raw))


def decode_heads(raw: jax.Array, anchor: jax.Array, config: HeadConfig
                 ) -> tuple[PeakQ, jax.Array]:
    """Maps the policy's raw outputs to the variational family and the stop logit.

    Args:
      raw: (..., 9) raw outputs in `RAW_FIELDS` order.
      anchor: (...,) centre of the location head (grid points).
      config: the output ranges.

    Returns:
      (q, stop_logit): q with fields (...,) and the (...,) logit of stopping now.
    """
    r = [raw[..., i] for i in range(NUM_RAW)]
    t = config.sd_transform
    q = PeakQ(
        amplitude_mean=_bounded(r[0], config.amplitude_mean),
        amplitude_sd=_sd(r[1], config.amplitude_sd, t),
        location_mean=anchor + config.location_span * jnp.tanh(0.5 * r[2]),
        location_sd=_sd(r[3], config.location_sd, t),
        width_mean=_bounded(r[4], config.width_mean),
        width_sd=_sd(r[5], config.width_sd, t),
        lorentzian_a=_log_bounded(r[6], config.lorentzian_concentration),
        lorentzian_b=_log_bounded(r[7], config.lorentzian_concentration),
    )
    bound = config.stop_logit_bound
    stop_logit = bound * jnp.tanh(r[8] / bound)
    return q, stop_logit
