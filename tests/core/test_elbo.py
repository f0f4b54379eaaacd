"""Rollout, stop probabilities, the relaxed ELBO and the training step."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import peakflow
from peakflow.core.elbo import log_stop_probs, relaxed_loss, rollout, state_elbos, stop_weights
from peakflow.core.policy import init_policy, make_policy
from peakflow.core.simulator import simulate_batch


def test_stop_probabilities_form_a_distribution():
    logits = jax.random.normal(jax.random.PRNGKey(0), (4, 7)) * 3
    probs = jnp.exp(log_stop_probs(logits))
    chex.assert_shape(probs, (5, 7))
    np.testing.assert_allclose(probs.sum(0), 1.0, rtol=1e-5)
    # P(stop at 0) = π_0, P(stop at 1) = (1 - π_0) π_1
    pi = jax.nn.sigmoid(logits)
    np.testing.assert_allclose(probs[0], pi[0], rtol=1e-5)
    np.testing.assert_allclose(probs[1], (1 - pi[0]) * pi[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("relaxation", ["gumbel", "enumerated"])
def test_stop_weights_sum_to_one(relaxation):
    cfg = peakflow.config.with_overrides(peakflow.config.preset("tiny"),
                                         {"model.relaxation": relaxation})
    rho = stop_weights(jnp.zeros((4, 50)), jax.random.PRNGKey(0), cfg)
    np.testing.assert_allclose(rho.sum(0), 1.0, rtol=1e-5)
    spread_over_batch = float(rho.std(axis=1).max())  # same logits: only noise differs
    assert (spread_over_batch > 0.05) == (relaxation == "gumbel")


def _setup(name="tiny", **overrides):
    cfg = peakflow.config.with_overrides(peakflow.config.preset(name), overrides)
    policy = make_policy(cfg.policy, cfg.model.family)
    params = init_policy(policy, jax.random.PRNGKey(0), cfg.sim.num_points)
    data = simulate_batch(jax.random.PRNGKey(1), cfg.sim, 8)
    return cfg, policy, params, data


@pytest.mark.parametrize("name, overrides", [  # the tiny default: see test_train
    ("tiny", {"model.prior": "flat", "model.backward": "paper", "model.k_max": 2,
              "sim.k_max": 2}),
    pytest.param("tiny", {"model.family": "mean_field", "model.relaxation": "enumerated",
                          "model.heads.sd_transform": "exp", "model.k_max": 2, "sim.k_max": 2},
                 marks=pytest.mark.slow),  # 22 s: a second family and relaxation
    pytest.param("paper", {"model.k_max": 2, "sim.k_max": 2},
                 marks=pytest.mark.slow),  # 11 s: the paper's CNN
    pytest.param("broad", {"policy.features": 4, "policy.hidden": 16, "model.k_max": 3,
                           "sim.k_max": 3}, marks=pytest.mark.slow),  # 36 s: the broad policy
])
def test_loss_and_gradients_are_finite(name, overrides):
    cfg, policy, params, data = _setup(name, **overrides)
    (loss, info), grads = jax.value_and_grad(relaxed_loss, argnums=1, has_aux=True)(
        policy.apply, params, data.spectrum, jax.random.PRNGKey(2), cfg, data.noise)
    assert np.isfinite(float(loss))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(optax.global_norm(grads)) > 0


def test_rollout_shapes_and_mean_path():
    cfg, policy, params, data = _setup()
    traj = rollout(policy.apply, params, data.spectrum, None, cfg)
    chex.assert_shape(traj.stop_logit, (4, 8))
    chex.assert_shape(traj.log_lik, (5, 8))
    chex.assert_shape(traj.q.loc, (4, 8, 4))
    np.testing.assert_allclose(traj.peaks.location, traj.q.mean().location)
    np.testing.assert_allclose(traj.log_lik[0], peakflow.core.log_likelihood(
        data.spectrum, jnp.zeros(500), 0.01), rtol=1e-5)
    assert float(jnp.abs(traj.log_q).max()) == 0.0


def test_backward_policies_and_priors_enter_the_elbo_as_documented():
    cfg, policy, params, data = _setup()
    traj = rollout(policy.apply, params, data.spectrum, jax.random.PRNGKey(0), cfg)
    flat = peakflow.config.with_overrides(cfg, {"model.prior": "flat", "model.backward": "uniform"})
    paper = peakflow.config.with_overrides(flat, {"model.backward": "paper"})
    diff = np.asarray(state_elbos(traj, flat) - state_elbos(traj, paper))
    # paper P_B = 1/(k+1)! vs uniform 1/k!: log(k+1) more per state
    np.testing.assert_allclose(diff[:, 0], np.log(np.arange(1, 6)), rtol=1e-4, atol=1e-3)


def _logits_for(rho):
    """Stop logits (K, B) whose stop distribution is rho (K+1, B)."""
    reached = 1.0 - np.cumsum(rho, axis=0)[:-1] + rho[:-1]
    pi = rho[:-1] / reached
    return np.log(pi) - np.log1p(-pi)


def test_optimal_stop_loss_fits_the_stop_head_to_softmax_of_the_scores():
    from peakflow.core.elbo import optimal_stop_loss

    scores = jnp.asarray(np.random.default_rng(0).normal(0, 3, (5, 3)), jnp.float32)
    target = np.asarray(jax.nn.softmax(scores, axis=0), np.float64)
    logits = jnp.asarray(_logits_for(target), jnp.float32)
    np.testing.assert_allclose(np.exp(log_stop_probs(logits)), target, rtol=1e-4, atol=1e-6)
    grad = jax.grad(optimal_stop_loss, argnums=1)(scores, logits)
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)  # the cross-entropy's minimum
    entropy = -np.sum(target * np.log(target), axis=0)
    lse = np.asarray(jax.nn.logsumexp(scores, axis=0))
    assert float(optimal_stop_loss(scores, logits)) == pytest.approx(
        np.mean(entropy - lse), rel=1e-4)
    # a saturated head (never stop) still gets a full-size gradient towards stopping early
    stuck = jnp.full((4, 3), -10.0)
    stop_first = jnp.asarray(np.r_[[8.0], np.zeros(4)][:, None] * np.ones((1, 3)), jnp.float32)
    g = jax.grad(optimal_stop_loss, argnums=1)(stop_first, stuck)
    assert np.all(np.asarray(g[0]) < -0.2)


@pytest.mark.slow  # 28 s: gradients through two rollouts
def test_optimal_cross_entropy_trains_the_stop_head_only():
    """The "optimal" loss's gradient is that of -logsumexp(A) (peaks, through the samples) plus
    that of the cross-entropy at fixed residuals (weights only): no leak into the peak heads."""
    from peakflow.core.elbo import state_scores, stop_logits_fixed

    cfg, policy, params, data = _setup("tiny", **{"model.relaxation": "optimal",
                                                  "model.k_max": 2, "sim.k_max": 2})
    key = jax.random.PRNGKey(3)
    sample_key = jax.random.split(key)[0]  # the key `relaxed_loss` samples the peaks with
    noise = jnp.full((8,), cfg.sim.noise)

    def peaks_part(p):
        traj = rollout(policy.apply, p, data.spectrum, sample_key, cfg)
        return -jnp.mean(jax.nn.logsumexp(state_scores(traj, cfg), axis=0))

    fixed = jax.lax.stop_gradient(rollout(policy.apply, params, data.spectrum, sample_key, cfg))
    target = jax.nn.softmax(state_scores(fixed, cfg), axis=0)

    def stop_part(p):
        logits = stop_logits_fixed(policy.apply, p, fixed, noise, cfg)
        return jnp.mean(-jnp.sum(target * log_stop_probs(logits), axis=0))

    total = jax.grad(lambda p: relaxed_loss(policy.apply, p, data.spectrum, key, cfg)[0])(params)
    parts = jax.tree.map(jnp.add, jax.grad(peaks_part)(params), jax.grad(stop_part)(params))
    for got, want in zip(jax.tree.leaves(total), jax.tree.leaves(parts)):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-4)
    assert float(optax.global_norm(jax.grad(stop_part)(params))) > 0
