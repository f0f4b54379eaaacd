"""The policy rollout and the relaxed negative ELBO (the paper's Eqs. 11-15).

A rollout visits the states s_0..s_K (K = K_max): at s_k the policy reads the residual x_k
(x_0 = x) and emits q_{k+1} and the probability π_k of stopping at s_k; a peak θ_{k+1} ~ q_{k+1}
is subtracted to give x_{k+1}. The stop at s_K is forced (π_K := 1), so the policy runs K times
and `lax.scan` (unrolled: XLA:CPU differentiates convolutions in a rolled loop ~12× slower)
carries the residual through them.

For each state k the ELBO term is

    log p(x | θ_{1:k}) + Σ_{i≤k} log p(θ_i) + log p(K=k)
      - [log π_k + Σ_{i<k} log(1 - π_i) + Σ_{i≤k} log q(θ_i)] + log P_B(τ_k)

and the loss is ``-Σ_k ρ_k · term_k`` (Eq. 15), with ρ_k the relaxed stop weights of Eq. 14
(``relaxation="gumbel"``) or the exact probabilities of stopping at s_k (``"enumerated"``);
``"optimal"`` trains the peaks on the best stop distribution for the sampled peaks and the stop
head towards it (`optimal_stop_loss`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from peakflow.config import Config
from peakflow.core.heads import VariationalQ, decode_heads
from peakflow.core.likelihood import log_likelihood, project
from peakflow.core.lineshape import Peaks, pseudo_voigt
from peakflow.core.priors import log_prior_count, log_prior_peak

ApplyFn = Callable[[dict, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


class Trajectory(NamedTuple):
    """One rollout of the policy over a batch; K = K_max, B = batch size.

    Attributes:
      q: variational parameters of the peak added at each step, fields (K, B, ...).
      stop_logit: (K, B) logit of stopping at states s_0..s_{K-1}.
      peaks: the peaks subtracted (samples, or the means), fields (K, B).
      log_q: (K, B) log q(θ_k) of those peaks (zeros for a mean rollout).
      log_lik: (K+1, B) log-likelihood of the model with the first k peaks, k = 0..K.
      states: (K, B, W) the residuals the policy read at s_0..s_{K-1}.
    """

    q: VariationalQ
    stop_logit: jax.Array
    peaks: Peaks
    log_q: jax.Array
    log_lik: jax.Array
    states: jax.Array


def noise_of(spectra: jax.Array, noise: jax.Array | None, config: Config) -> jax.Array:
    """(B,) noise sd of each spectrum: `noise` broadcast, or the simulator's fixed level."""
    level = config.sim.noise if noise is None else noise
    return jnp.broadcast_to(jnp.asarray(level, jnp.float32), spectra.shape[:1])


def rollout(apply_fn: ApplyFn, params: dict, spectra: jax.Array, key: jax.Array | None,
            config: Config, noise: jax.Array | None = None) -> Trajectory:
    """Runs the policy K_max times on the successive residuals (`policy_step`).

    With ``model.baseline_degree`` >= 0 the spectra carry a polynomial baseline, which is
    marginalised: the policy reads, and the likelihood scores, the projected residual.

    Args:
      apply_fn: the policy's ``apply``: (params, residual (B, W), noise (B,)) →
        (raw (B, R), anchor (B,)).
      params: policy variables.
      spectra: (B, W) input spectra.
      key: PRNG key to sample each step's peak; None subtracts the posterior means instead
        (the deterministic path used for inference).
      config: model and simulator settings.
      noise: (B,) noise sd of each spectrum; None: ``config.sim.noise``.

    Returns:
      The `Trajectory`.
    """
    noise = noise_of(spectra, noise, config)
    k_max = config.model.k_max

    def step(residual, step_key):
        q, stop_logit, theta, log_q, after = policy_step(
            apply_fn, params, residual, noise, config, None if key is None else step_key)
        return after, (q, stop_logit, theta, log_q, log_likelihood(after, 0.0, noise), residual)

    keys = jax.random.split(key if key is not None else jax.random.PRNGKey(0), k_max)
    start = project(spectra, config.model.baseline_degree)
    _, (q, stop_logit, theta, log_q, log_lik, states) = jax.lax.scan(step, start, keys,
                                                                    unroll=True)
    log_lik0 = log_likelihood(start, 0.0, noise)
    return Trajectory(q, stop_logit, theta, log_q, jnp.concatenate([log_lik0[None], log_lik]),
                      states)


def policy_step(apply_fn: ApplyFn, params: dict, residual: jax.Array, noise: jax.Array,
                config: Config, key: jax.Array | None = None
                ) -> tuple[VariationalQ, jax.Array, Peaks, jax.Array, jax.Array]:
    """One step of the rollout: the policy reads the residual and its peak is subtracted.

    Args:
      residual: (B, W) the current (projected) residual; noise: (B,) its noise sd.
      key: PRNG key to sample the peak; None takes the posterior mean.

    Returns:
      (q, fields (B, ...); stop logit (B,); the peak θ, fields (B,); log q(θ) (B,), zeros for
      the mean; the next residual (B, W), projected)
    """
    raw, anchor = apply_fn(params, residual, noise)
    q, stop_logit = decode_heads(raw, anchor, config.model.heads, config.model.family)
    if key is None:
        theta, log_q = q.mean(), jnp.zeros_like(stop_logit)
    else:
        theta, log_q = q.sample_and_log_prob(key)
    omega = jnp.arange(residual.shape[-1], dtype=jnp.float32)
    subtract = jax.vmap(pseudo_voigt, in_axes=(None, 0))
    after = project(residual - subtract(omega, theta), config.model.baseline_degree)
    return q, stop_logit, theta, log_q, after


def log_stop_probs(stop_logit: jax.Array) -> jax.Array:
    """Log probability of stopping at each state: log π_k + Σ_{i<k} log(1 - π_i).

    Args:
      stop_logit: (K, ...) logits of π_0..π_{K-1}; π_K = 1.

    Returns:
      (K+1, ...) log-probabilities; they sum (exponentiated) to 1 over the first axis.
    """
    log_stop = jax.nn.log_sigmoid(stop_logit)
    log_cont = jax.nn.log_sigmoid(-stop_logit)
    zeros = jnp.zeros_like(stop_logit[:1])
    survive = jnp.concatenate([zeros, jnp.cumsum(log_cont, axis=0)])
    return survive + jnp.concatenate([log_stop, zeros])


def _log_backward(k: jax.Array, backward: str) -> jax.Array:
    """log P_B of a k-step trajectory: -log k! (uniform) or -log (k+1)! (paper's Eq. 12)."""
    shift = 1.0 if backward == "paper" else 0.0
    return -jax.scipy.special.gammaln(k + 1.0 + shift)


def state_scores(traj: Trajectory, config: Config) -> jax.Array:
    """Each terminal state's ELBO term without the stop probabilities (A_k below).

        A_k = log p(x | θ_{1:k}) + Σ_{i≤k} log p(θ_i) + log p(K=k) - Σ_{i≤k} log q(θ_i)
              + log P_B(τ_k)

    Returns:
      (K+1, B) scores for k = 0..K_max.
    """
    model = config.model
    k = jnp.arange(model.k_max + 1, dtype=jnp.float32)[:, None]
    zeros = jnp.zeros_like(traj.log_q[:1])
    log_prior = log_prior_peak(traj.peaks, model, config.sim)
    cum_prior = jnp.concatenate([zeros, jnp.cumsum(log_prior, axis=0)])
    cum_log_q = jnp.concatenate([zeros, jnp.cumsum(traj.log_q, axis=0)])
    log_p = traj.log_lik + cum_prior + log_prior_count(k, model)
    return log_p - cum_log_q + _log_backward(k, model.backward)


def state_elbos(traj: Trajectory, config: Config) -> jax.Array:
    """The ELBO term of each terminal state, A_k - log ρ_k (see the module docstring).

    Returns:
      (K+1, B) terms for k = 0..K_max.
    """
    return state_scores(traj, config) - log_stop_probs(traj.stop_logit)


def stop_weights(stop_logit: jax.Array, key: jax.Array, config: Config) -> jax.Array:
    """ρ_k of Eq. 14: relaxed with a binary Gumbel-softmax, or exact.

    Args:
      stop_logit: (K, B) logits.
      key: PRNG key of the logistic noise ℓ.

    Returns:
      (K+1, B) weights summing to 1 over the first axis.
    """
    model = config.model
    if model.relaxation == "enumerated":
        return jnp.exp(log_stop_probs(stop_logit))
    noise = jax.random.logistic(key, stop_logit.shape)
    relaxed_logit = (stop_logit + noise) / model.temperature
    return jnp.exp(log_stop_probs(relaxed_logit))


def optimal_stop_loss(scores: jax.Array, stop_logit: jax.Array) -> jax.Array:
    """Loss of ``relaxation="optimal"``, averaged over the batch.

    For the sampled peaks, the stop distribution that maximises Σ_k ρ_k (A_k - log ρ_k) is
    ρ* = softmax(A), where that sum equals logsumexp(A). The peak heads maximise
    E[logsumexp_k A_k] (each state weighted by ρ*, not by the current stop head), and the stop
    head is fitted to ρ* by cross-entropy, -Σ_k ρ*_k log ρ_k. Both gradients stay alive when
    the stop head is saturated, which the ELBO's own gradient (proportional to ρ_k) does not.

    What this optimises: E[logsumexp_k A_k] is a valid bound on the evidence (tighter than
    the ELBO) for a stop distribution that may look at the later peaks; the deployed stop head
    sees only the current residual, and its cross-entropy optimum,
    π_k = E[ρ*_k | θ_{1:k}] / E[Σ_{j≥k} ρ*_j | θ_{1:k}], is not the ELBO's optimum
    σ(A_k - E[V_{k+1}]) unless the later scores are deterministic. `relaxed_loss` feeds this
    function stop logits recomputed on gradient-stopped residuals (`stop_logits_fixed`), so the
    cross-entropy trains the stop head only and never reaches the peak heads.

    Args:
      scores: (K+1, B) A_k from `state_scores`.
      stop_logit: (K, B).

    Returns:
      () loss.
    """
    target = jax.lax.stop_gradient(jax.nn.softmax(scores, axis=0))
    cross_entropy = -jnp.sum(target * log_stop_probs(stop_logit), axis=0)
    return jnp.mean(cross_entropy - jax.nn.logsumexp(scores, axis=0))


def stop_logits_fixed(apply_fn: ApplyFn, params: dict, traj: Trajectory, noise: jax.Array,
                      config: Config) -> jax.Array:
    """(K, B) stop logits recomputed from the trajectory's residuals with their gradient
    stopped: one batched pass of the policy over all K·B states, whose gradient reaches the
    policy's weights only (not the peaks sampled earlier in the trajectory)."""
    states = jax.lax.stop_gradient(traj.states)
    k, b, w = states.shape
    raw, anchor = apply_fn(params, states.reshape(k * b, w), jnp.tile(noise, k))
    _, stop_logit = decode_heads(raw, anchor, config.model.heads, config.model.family)
    return stop_logit.reshape(k, b)


class LossInfo(NamedTuple):
    """Diagnostics of one loss evaluation, each ()."""

    elbo: jax.Array
    expected_k: jax.Array
    log_lik: jax.Array


def relaxed_loss(apply_fn: ApplyFn, params: dict, spectra: jax.Array, key: jax.Array,
                 config: Config, noise: jax.Array | None = None) -> tuple[jax.Array, LossInfo]:
    """Relaxed negative ELBO (Eq. 15), single-sample pathwise estimate, averaged over the batch.

    Args:
      apply_fn: the policy's ``apply``.
      params: policy variables (the argument differentiated in training).
      spectra: (B, W) spectra.
      key: PRNG key (peak samples and the Gumbel noise).
      config: the configuration.
      noise: (B,) noise sd of each spectrum; None: ``config.sim.noise``.

    Returns:
      (loss, info): the () loss in nats per spectrum and its `LossInfo`.
    """
    sample_key, stop_key = jax.random.split(key)
    traj = rollout(apply_fn, params, spectra, sample_key, config, noise)
    terms = state_elbos(traj, config)
    probs = jnp.exp(log_stop_probs(traj.stop_logit))
    if config.model.relaxation == "optimal":
        stop_logit = stop_logits_fixed(apply_fn, params, traj, noise_of(spectra, noise, config),
                                       config)
        loss = optimal_stop_loss(state_scores(traj, config), stop_logit)
        elbo = jnp.mean(jnp.sum(probs * terms, axis=0))
        info_loss = -elbo
    else:
        rho = stop_weights(traj.stop_logit, stop_key, config)
        loss = info_loss = -jnp.mean(jnp.sum(rho * terms, axis=0))
    k = jnp.arange(config.model.k_max + 1, dtype=jnp.float32)[:, None]
    info = LossInfo(elbo=-info_loss, expected_k=jnp.mean(jnp.sum(probs * k, axis=0)),
                    log_lik=jnp.mean(jnp.sum(probs * traj.log_lik, axis=0)))
    return loss, info
