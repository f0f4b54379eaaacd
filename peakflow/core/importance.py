"""Importance sampling of the exact posterior for a fixed number of peaks, with the amortized
posterior as the proposal (pure JAX; Pareto smoothing is left to the caller).

For a spectrum x with K peaks the target is the unnormalised exact posterior

    p(θ_{1:K} | x, K) ∝ p(x | θ_{1:K}) · Π_k p(θ_k)

(the likelihood of the model's noise level, with a polynomial baseline marginalised when the
model has one, and the model's priors). The proposal draws each present slot independently
from its q, optionally widened; the log weight of a draw is log target - log proposal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from peakflow.config import Config
from peakflow.core.heads import VariationalQ
from peakflow.core.likelihood import log_likelihood, project
from peakflow.core.lineshape import Peaks, spectrum
from peakflow.core.priors import log_prior_peak


def log_target(peaks: Peaks, mask: jax.Array, spectra: jax.Array, noise: jax.Array,
               config: Config) -> jax.Array:
    """Unnormalised log posterior of each spectrum's present peaks.

    Args:
      peaks: fields (B, P).
      mask: (B, P) which slots are peaks.
      spectra: (B, W).
      noise: (B,) noise sd.
      config: the model (priors, baseline degree, ranges).

    Returns:
      (B,) log p(x | θ) + Σ_present log p(θ_k).
    """
    omega = jnp.arange(spectra.shape[-1], dtype=jnp.float32)
    curves = jax.vmap(spectrum, in_axes=(None, 0, 0))(omega, peaks, mask)
    residual = project(spectra - curves, config.model.baseline_degree)
    log_prior = log_prior_peak(peaks, config.model, config.sim)
    return log_likelihood(residual, 0.0, noise) + jnp.sum(jnp.where(mask, log_prior, 0.0), -1)


def importance_sample(q: VariationalQ, mask: jax.Array, spectra: jax.Array, noise: jax.Array,
                      key: jax.Array, config: Config, num_samples: int = 256,
                      widen: float = 1.0, batch_size: int = 32) -> tuple[Peaks, jax.Array]:
    """Draws from the (widened) amortized posterior and their log importance weights.

    Args:
      q: each slot's variational parameters, fields (B, P, ...); absent slots must hold
        finite placeholder values (they are drawn but neither scored nor used).
      mask: (B, P) which slots are peaks (the first K of the spectrum's chosen K).
      spectra: (B, W); noise: (B,).
      key: PRNG key.
      config: the model's configuration.
      num_samples: S, draws per spectrum.
      widen: proposal sds are this multiple of q's (heavier coverage of the tails).
      batch_size: draws evaluated at once (working memory ∝ batch_size · B · P · W).

    Returns:
      (draws, log_w): `Peaks` with fields (S, B, P) and (S, B) unnormalised log weights.
    """
    proposal = q.widen(widen)

    def one(sample_key):
        theta, log_q = proposal.sample_and_log_prob(sample_key)
        log_w = log_target(theta, mask, spectra, noise, config)
        return theta, log_w - jnp.sum(jnp.where(mask, log_q, 0.0), axis=-1)

    keys = jax.random.split(key, num_samples)
    return jax.lax.map(one, keys, batch_size=min(batch_size, num_samples))
