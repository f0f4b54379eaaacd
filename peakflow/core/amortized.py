"""The amortized posterior of a batch in one pass: pure, jit-compiled once per shape."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from peakflow.config import Config
from peakflow.core.elbo import ApplyFn, log_stop_probs, noise_of, policy_step, rollout
from peakflow.core.heads import VariationalQ
from peakflow.core.likelihood import log_likelihood, project
from peakflow.core.lineshape import Array, Peaks, peak_sum, slot_mask


class Prediction(NamedTuple):
    """The policy's posterior for a batch, with K = K_max peak slots in policy order.

    Attributes:
      k_probs: (B, K+1) probabilities of 0..K peaks.
      num_peaks: (B,) int, the most probable number of peaks.
      q: variational parameters of each slot, fields (B, K, ...).
      fitted: (B, W) the model with the first `num_peaks` peaks at their posterior means.
      log_lik: (B,) log-likelihood of `fitted` (of the residual with its polynomial baseline
        projected out, when the model has one).
    """

    k_probs: Array
    num_peaks: Array
    q: VariationalQ
    fitted: Array | None
    log_lik: Array


def amortized_posterior(apply_fn: ApplyFn, params: dict, spectra: jax.Array,
                        key: jax.Array | None, config: Config, noise: jax.Array | None = None,
                        num_paths: int = 32) -> Prediction:
    """Posterior of each spectrum from the deterministic (posterior-mean) rollout.

    Args:
      apply_fn, params: the policy.
      spectra: (B, W) spectra on the model's grid.
      config: the model's configuration.
      key: a PRNG key or None; when given, `k_probs` is averaged over `num_paths` trajectories
        whose peaks are sampled from q (a Monte Carlo estimate of P(K | x) that accounts for
        the uncertainty of earlier peaks), instead of read off the mean trajectory.
      num_paths: trajectories for that estimate.
      noise: (B,) noise sd of each spectrum; None: the model's fixed ``config.sim.noise``.

    Returns:
      The `Prediction`.
    """
    noise = noise_of(spectra, noise, config)
    traj = rollout(apply_fn, params, spectra, None, config, noise)
    k_probs = None
    if key is not None:
        path = lambda k: rollout(apply_fn, params, spectra, k, config, noise).stop_logit
        sampled = jax.vmap(path)(jax.random.split(key, num_paths))
        k_probs = jnp.mean(jnp.exp(log_stop_probs(jnp.moveaxis(sampled, 0, 1))), axis=1).T
    return summarise(traj.q, traj.stop_logit, traj.peaks, spectra, config, noise, k_probs)


def summarise(q: VariationalQ, stop_logit: jax.Array, peaks: Peaks, spectra: jax.Array,
              config: Config, noise: jax.Array, k_probs: jax.Array | None = None
              ) -> Prediction:
    """The `Prediction` of a batch from its mean rollout's K_max slots.

    Args:
      q: fields (K, B, ...); stop_logit: (K, B); peaks: the posterior means, fields (K, B).
      spectra: (B, W); noise: (B,).
      k_probs: (B, K+1) to use instead of the plug-in read off `stop_logit`.
    """
    if k_probs is None:
        k_probs = jnp.exp(log_stop_probs(stop_logit)).T  # (B, K+1)
    num_peaks = jnp.argmax(k_probs, axis=-1)
    q = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), q)  # fields (B, K, ...)
    peaks = jax.tree.map(lambda a: a.T, peaks)
    mask = slot_mask(num_peaks, config.model.k_max)
    omega = jnp.arange(spectra.shape[-1], dtype=jnp.float32)
    fitted = jax.vmap(peak_sum, in_axes=(None, 0, 0))(omega, peaks, mask)
    log_lik = log_likelihood(project(spectra - fitted, config.model.baseline_degree), 0.0, noise)
    return Prediction(k_probs, num_peaks, q, fitted, log_lik)


def start_residual(spectra: jax.Array, config: Config) -> jax.Array:
    """(B, W) the residual the rollout starts from: the spectra with their polynomial baseline
    projected out (as is when the model has none)."""
    return project(spectra, config.model.baseline_degree)


def advance_rows(apply_fn: ApplyFn, params: dict, residual: jax.Array, noise: jax.Array,
                 rows: jax.Array, config: Config) -> tuple[jax.Array, tuple]:
    """One mean step of the rollout for some rows of a batch (to stop rows that are done).

    Args:
      residual: (B, W) every row's current residual (`start_residual`, then this).
      noise: (B,) noise sd of each row.
      rows: (A,) int indices of the rows to advance; a repeated row gets the same result.

    Returns:
      (the residual (B, W) with those rows advanced by one peak, (q fields (A, ...), stop
      logit (A,), the peak subtracted, fields (A,)) of the rows in `rows`' order)
    """
    q, stop_logit, theta, _, after = policy_step(apply_fn, params, residual[rows], noise[rows],
                                                 config)
    return residual.at[rows].set(after), (q, stop_logit, theta)
