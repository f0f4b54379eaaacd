"""The correlated per-peak family: a full-covariance Gaussian over (log α, c, log γ, logit η)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from peakflow.config import HeadConfig
from peakflow.core.correlated import (
    CorrelatedQ,
    corr_cholesky,
    logit_normal_loc,
    logit_normal_moments,
)
from peakflow.core.heads import decode_heads, num_raw
from peakflow.core.lineshape import PARAMETERS, Peaks


def make_q():
    partial = jnp.array([[0.6, -0.5, 0.2, 0.4, 0.1, -0.3]])
    scale = jnp.array([[0.05, 0.4, 0.08, 0.6]])
    loc = jnp.array([[np.log(0.5), 200.0, np.log(9.0), -0.5]])
    return CorrelatedQ(loc, scale[..., :, None] * corr_cholesky(partial))


def test_corr_cholesky_gives_correlation_matrices():
    z = 0.99 * jnp.tanh(3.0 * jax.random.normal(jax.random.PRNGKey(0), (200, 6)))
    factor = corr_cholesky(z)
    corr = np.asarray(factor @ jnp.swapaxes(factor, -1, -2), np.float64)
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0, rtol=1e-5)
    assert np.all(np.linalg.eigvalsh(corr) > -1e-6)
    assert np.all(np.triu(np.asarray(factor), 1) == 0)
    np.testing.assert_allclose(corr_cholesky(jnp.zeros(6)), np.eye(4), atol=1e-7)
    # the first row's partial correlations are plain correlations
    np.testing.assert_allclose(corr[:, 1, 0], np.asarray(z[:, 0]), rtol=1e-5, atol=1e-6)


def test_log_prob_is_the_gaussian_density_with_the_jacobian():
    q = make_q()
    theta = Peaks(jnp.array([0.52]), jnp.array([200.3]), jnp.array([8.5]), jnp.array([0.4]))
    u = np.array([np.log(0.52), 200.3, np.log(8.5), np.log(0.4 / 0.6)])
    cov = np.asarray(q.scale_tril[0] @ q.scale_tril[0].T, np.float64)
    log_jacobian = np.log(0.52) + np.log(8.5) + np.log(0.4 * 0.6)
    want = stats.multivariate_normal(np.asarray(q.loc[0], np.float64), cov).logpdf(u)
    assert float(q.log_prob(theta)[0]) == pytest.approx(want - log_jacobian, rel=1e-5)
    draw, log_q = q.sample_and_log_prob(jax.random.PRNGKey(1))
    np.testing.assert_allclose(log_q, q.log_prob(draw), rtol=1e-4)


def test_moments_intervals_and_correlation_match_draws():
    q = make_q()
    draws = jax.vmap(q.sample)(jax.random.split(jax.random.PRNGKey(2), 40000))
    mean, std = q.mean(), q.sd()
    lo, hi = jax.tree.map(np.asarray, q).interval(0.9)
    for name in PARAMETERS:
        got = np.asarray(getattr(draws, name), np.float64)[:, 0]
        assert got.mean() == pytest.approx(float(getattr(mean, name)[0]), rel=2e-3, abs=2e-3)
        assert got.std() == pytest.approx(float(getattr(std, name)[0]), rel=0.03)
        inside = np.mean((got >= getattr(lo, name)[0]) & (got <= getattr(hi, name)[0]))
        assert inside == pytest.approx(0.9, abs=0.01)
    u = np.stack([np.log(np.asarray(draws.amplitude, np.float64)[:, 0]),
                  np.asarray(draws.location, np.float64)[:, 0],
                  np.log(np.asarray(draws.width, np.float64)[:, 0]),
                  np.asarray(jax.scipy.special.logit(draws.lorentzian), np.float64)[:, 0]])
    np.testing.assert_allclose(np.corrcoef(u), q.correlation()[0], atol=0.02)


def test_numpy_in_numpy_out():
    q = jax.tree.map(np.asarray, make_q())
    assert all(isinstance(v, np.ndarray) for v in (*q.mean(), *q.sd(), q.correlation()))


def test_heads_decode_to_valid_correlated_parameters():
    cfg = HeadConfig()
    raw = 20.0 * jax.random.normal(jax.random.PRNGKey(3), (500, num_raw("correlated")))
    q, stop = decode_heads(raw, jnp.full((500,), 100.0), cfg, "correlated")
    mean = q.mean()
    assert float(mean.amplitude.min()) > 0 and float(mean.width.min()) > 0
    assert float(jnp.abs(q.loc[:, 1] - 100.0).max()) <= cfg.location_span
    sd = np.asarray(q.scale())
    for i, (lo, hi) in enumerate([cfg.amplitude_log_sd, cfg.location_sd, cfg.width_log_sd,
                                  cfg.lorentzian_logit_sd]):
        assert sd[:, i].min() >= lo * (1 - 1e-4) and sd[:, i].max() <= hi * (1 + 1e-4)
    assert np.all(np.abs(np.asarray(q.correlation())) <= 1 + 1e-5)
    assert float(jnp.abs(stop).max()) <= cfg.stop_logit_bound
    zero, _ = decode_heads(jnp.zeros((1, 15)), jnp.zeros(1), cfg, "correlated")
    np.testing.assert_allclose(zero.correlation()[0], np.eye(4), atol=1e-6)


def test_samples_are_reparameterised():
    def f(loc):
        q = make_q()._replace(loc=loc)
        theta, log_q = q.sample_and_log_prob(jax.random.PRNGKey(4))
        return jnp.sum(theta.location + theta.width) + jnp.sum(log_q)

    grad = jax.grad(f)(make_q().loc)
    assert np.all(np.isfinite(np.asarray(grad)))
    assert float(grad[0, 1]) == pytest.approx(1.0, rel=1e-4)  # log q is shift-invariant in c


def test_scaled_multiplies_each_sd_and_keeps_correlations_and_means():
    q = make_q()
    factors = np.array([1.2, 1.5, 0.8, 1.9])
    wide = q.scaled(factors)
    np.testing.assert_allclose(wide.scale(), np.asarray(q.scale()) * factors, rtol=1e-5)
    np.testing.assert_allclose(wide.correlation(), np.asarray(q.correlation()), atol=1e-5)
    for name in PARAMETERS:   # the means of α, c, γ and η do not move
        np.testing.assert_allclose(getattr(wide.mean(), name),
                                   np.asarray(getattr(q.mean(), name)), rtol=1e-5)
    back = wide.scaled(1.0 / factors)
    np.testing.assert_allclose(back.scale_tril, q.scale_tril, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(back.loc, q.loc, rtol=1e-5, atol=1e-5)


def test_logit_normal_loc_inverts_the_mean():
    rng = np.random.default_rng(0)
    target = np.concatenate([rng.uniform(0.0, 1.0, 500), 10.0 ** rng.uniform(-6, -1, 100),
                             1.0 - 10.0 ** rng.uniform(-6, -1, 100)])
    sd = rng.uniform(0.0, 6.0, target.size)
    mean = logit_normal_moments(logit_normal_loc(target, sd), sd, np)[0]
    np.testing.assert_allclose(mean, np.clip(target, 1e-6, 1 - 1e-6), rtol=1e-8, atol=1e-12)
    assert logit_normal_loc(0.5, 2.0) == pytest.approx(0.0, abs=1e-12)
