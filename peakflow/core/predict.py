"""The amortized posterior of a batch in one pass: pure, jit-compiled once per shape."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from peakflow.config import Config
from peakflow.core.likelihood import log_likelihood, project
from peakflow.core.elbo import ApplyFn, Trajectory, log_stop_probs, noise_of, rollout
from peakflow.core.lineshape import Peaks, slot_mask, spectrum
from peakflow.core.heads import VariationalQ


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

    k_probs: jax.Array
    num_peaks: jax.Array
    q: VariationalQ
    fitted: jax.Array
    log_lik: jax.Array


def predict(apply_fn: ApplyFn, params: dict, spectra: jax.Array, config: Config,
            key: jax.Array | None = None, num_paths: int = 32,
            noise: jax.Array | None = None) -> Prediction:
    """Posterior of each spectrum from the deterministic (posterior-mean) rollout.

    Args:
      apply_fn, params: the policy.
      spectra: (B, W) spectra on the model's grid.
      config: the model's configuration.
      key: optional PRNG key; when given, `k_probs` is averaged over `num_paths` trajectories
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
    fitted = jax.vmap(spectrum, in_axes=(None, 0, 0))(omega, peaks, mask)
    log_lik = log_likelihood(project(spectra - fitted, config.model.baseline_degree), 0.0, noise)
    return Prediction(k_probs, num_peaks, q, fitted, log_lik)


def first_steps(apply_fn: ApplyFn, params: dict, spectra: jax.Array, noise: jax.Array,
                config: Config, steps: int) -> tuple[Trajectory, jax.Array, jax.Array]:
    """The first `steps` steps of the mean rollout, for stopping early.

    Returns:
      (trajectory of `steps` slots, (B,) P(K >= steps), (B, W) the spectra minus those
      steps' peaks: where the rest of the rollout starts).
    """
    traj = rollout(apply_fn, params, spectra, None, config, noise, steps=steps)
    survival = jnp.exp(jnp.sum(jax.nn.log_sigmoid(-traj.stop_logit), axis=0))
    omega = jnp.arange(spectra.shape[-1], dtype=jnp.float32)
    mask = jnp.ones(traj.stop_logit.shape[::-1], bool)
    taken = jax.vmap(spectrum, in_axes=(None, 0, 0))(omega, jax.tree.map(lambda a: a.T,
                                                                         traj.peaks), mask)
    return traj, survival, spectra - taken


def rest_steps(apply_fn: ApplyFn, params: dict, rest: jax.Array, noise: jax.Array,
               alive: jax.Array, config: Config, first: int) -> Trajectory:
    """The remaining K_max - `first` mean steps for the rows `alive` (A,) of `rest` (B, W)
    (the spectra minus the first steps' peaks, from `first_steps`)."""
    return rollout(apply_fn, params, rest[alive], None, config, noise[alive],
                   steps=config.model.k_max - first)


def join_steps(head: Trajectory, tail: Trajectory, alive: jax.Array, spectra: jax.Array,
               noise: jax.Array, config: Config) -> Prediction:
    """The `Prediction` from `head` (the first steps of every row) and `tail` (the remaining
    steps of the rows `alive`). The other rows stop right after `head` (their remaining stop
    logits at the bound; their unused slots repeat head's last one): they had P(K >= first)
    below the early-exit threshold, which is all the probability this moves."""
    first = head.stop_logit.shape[0]
    rest = config.model.k_max - first

    def extend(h, t, fill):
        full = jnp.concatenate([h, jnp.broadcast_to(fill, (rest,) + h.shape[1:])])
        return full.at[first:, alive].set(t)

    q = jax.tree.map(lambda h, t: extend(h, t, h[-1:]), head.q, tail.q)
    peaks = jax.tree.map(lambda h, t: extend(h, t, h[-1:]), head.peaks, tail.peaks)
    stop = extend(head.stop_logit, tail.stop_logit,
                  jnp.asarray(config.model.heads.stop_logit_bound, head.stop_logit.dtype))
    return summarise(q, stop, peaks, spectra, config, noise)
