"""The map from the policy's raw outputs to a variational family and the stop logit.

``model.family = "mean_field"`` (the paper's Eq. 9, `PeakQ`): 9 raw numbers per step.

  =====  ==================  ============================================================
  index  parameter           mapping (`HeadConfig`)
  =====  ==================  ============================================================
  0      amplitude mean      lo + (hi - lo) · sigmoid(raw)
  1      amplitude sd        bounded: lo + (hi - lo) · sigmoid(raw); unbounded: lo + exp(raw)
  2      location mean       anchor + span · tanh(raw / 2)  (paper: W · sigmoid(raw))
  3      location sd         as index 1
  4      width mean          lo + (hi - lo) · sigmoid(raw)
  5      width sd            as index 1
  6      Beta a of η         log-bounded: exp(log lo + (log hi - log lo) · sigmoid(raw))
  7      Beta b of η         as index 6
  8      stop logit          bound · tanh(raw / bound)
  =====  ==================  ============================================================

``model.family = "correlated"`` (`CorrelatedQ`, a Gaussian over u = (log α, c, log γ, logit η)
with Cholesky factor L = diag(s) · C): 15 raw numbers per step.

  =====  ==================  ============================================================
  index  parameter           mapping (`HeadConfig`)
  =====  ==================  ============================================================
  0      μ of log α          log of a log-bounded value in ``amplitude_mean``
  1      μ of c              anchor + span · tanh(raw / 2)
  2      μ of log γ          log of a log-bounded value in ``width_mean``
  3      μ of logit η        bound · tanh(raw / bound), bound = ``lorentzian_logit_bound``
  4-7    sds s of u          log-bounded in ``amplitude_log_sd``, ``location_sd``,
                             ``width_log_sd``, ``lorentzian_logit_sd``
  8-13   partial correlations  ``max_correlation`` · tanh(raw) → C, the Cholesky factor of a
                             correlation matrix (`correlated.corr_cholesky`)
  14     stop logit          bound · tanh(raw / bound)
  =====  ==================  ============================================================

With all raw outputs 0 the correlated family starts as a mean-field Gaussian in u.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from peakflow.config import HeadConfig
from peakflow.core.correlated import CorrelatedQ, corr_cholesky
from peakflow.core.variational import PeakQ

NUM_RAW = {"mean_field": 9, "correlated": 15}
VariationalQ = PeakQ | CorrelatedQ  # either family; both have the same methods


def num_raw(family: str) -> int:
    """Raw outputs per step of the policy for `family`."""
    return NUM_RAW[family]


def _bounded(raw: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    lo, hi = bounds
    return lo + (hi - lo) * jax.nn.sigmoid(raw)


def _sd(raw: jax.Array, bounds: tuple[float, float], transform: str) -> jax.Array:
    if transform == "exp":
        return bounds[0] + jnp.exp(jnp.clip(raw, -30.0, 30.0))
    return _bounded(raw, bounds)


def _log_of_log_bounded(raw: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    return lo + (hi - lo) * jax.nn.sigmoid(raw)


def _soft_clip(raw: jax.Array, bound: float) -> jax.Array:
    return bound * jnp.tanh(raw / bound)


def _mean_field(r: list[jax.Array], anchor: jax.Array, config: HeadConfig) -> PeakQ:
    t = config.sd_transform
    return PeakQ(
        amplitude_mean=_bounded(r[0], config.amplitude_mean),
        amplitude_sd=_sd(r[1], config.amplitude_sd, t),
        location_mean=anchor + config.location_span * jnp.tanh(0.5 * r[2]),
        location_sd=_sd(r[3], config.location_sd, t),
        width_mean=_bounded(r[4], config.width_mean),
        width_sd=_sd(r[5], config.width_sd, t),
        lorentzian_a=jnp.exp(_log_of_log_bounded(r[6], config.lorentzian_concentration)),
        lorentzian_b=jnp.exp(_log_of_log_bounded(r[7], config.lorentzian_concentration)),
    )


def _correlated(r: list[jax.Array], anchor: jax.Array, config: HeadConfig) -> CorrelatedQ:
    loc = jnp.stack([
        _log_of_log_bounded(r[0], config.amplitude_mean),
        anchor + config.location_span * jnp.tanh(0.5 * r[1]),
        _log_of_log_bounded(r[2], config.width_mean),
        _soft_clip(r[3], config.lorentzian_logit_bound),
    ], axis=-1)
    ranges = (config.amplitude_log_sd, config.location_sd, config.width_log_sd,
              config.lorentzian_logit_sd)
    scale = jnp.exp(jnp.stack([_log_of_log_bounded(r[4 + i], b) for i, b in enumerate(ranges)],
                              axis=-1))
    partial = config.max_correlation * jnp.tanh(jnp.stack(r[8:14], axis=-1))
    return CorrelatedQ(loc, scale[..., :, None] * corr_cholesky(partial))


def decode_heads(raw: jax.Array, anchor: jax.Array, config: HeadConfig,
                 family: str = "mean_field") -> tuple[VariationalQ, jax.Array]:
    """Maps the policy's raw outputs to the variational family and the stop logit.

    Args:
      raw: (..., R) raw outputs, R = `num_raw(family)`, in the order of the module's tables.
      anchor: (...,) centre of the location head (grid points).
      config: the output ranges.
      family: ``"mean_field"`` or ``"correlated"``.

    Returns:
      (q, stop_logit): q with per-peak leading shape (...,) and the (...,) logit of stopping.
    """
    r = [raw[..., i] for i in range(num_raw(family))]
    build = {"mean_field": _mean_field, "correlated": _correlated}[family]
    return build(r, anchor, config), _soft_clip(r[-1], config.stop_logit_bound)
