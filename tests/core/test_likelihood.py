"""The Gaussian likelihood and the marginalised polynomial baseline."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from peakflow.core.likelihood import log_likelihood, polynomial_basis, project, reduced_chi2


def test_log_likelihood_matches_the_gaussian_density():
    x = jnp.linspace(0.0, 1.0, 500)
    fitted = x + 0.01
    # every residual is exactly one sd: -W/2 - W log(σ sqrt(2π))
    want = -250.0 - 500 * (math.log(0.01) + 0.5 * math.log(2 * math.pi))
    assert float(log_likelihood(x, fitted, 0.01)) == pytest.approx(want, rel=1e-5)


def test_perfect_fit_scores_about_1600_nats():
    noise = 0.01 * jax.random.normal(jax.random.PRNGKey(0), (500,))
    ll = float(log_likelihood(noise, jnp.zeros(500), 0.01))
    assert 1540 < ll < 1640  # 1843 - W/2 ± a few sqrt(W/2)


def test_polynomial_projection_removes_cubics_and_nothing_orthogonal():
    basis = polynomial_basis(256, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-5)
    t = np.linspace(-1, 1, 256)
    cubic = 3 - 2 * t + 0.5 * t**2 - 4 * t**3
    np.testing.assert_allclose(project(cubic[None].astype(np.float32), 3), 0.0, atol=1e-4)
    other = np.random.default_rng(0).normal(size=256).astype(np.float32)
    other = other - basis @ (basis.T @ other)
    np.testing.assert_allclose(project(other[None], 3)[0], other, atol=1e-5)
    np.testing.assert_array_equal(project(other[None], -1)[0], other)


def test_reduced_chi2_inverts_the_log_likelihood():
    x = np.random.default_rng(0).normal(0, 0.02, (3, 256)).astype(np.float32)
    noise = np.array([0.01, 0.02, 0.04], np.float32)
    ll = log_likelihood(x, 0.0, noise)
    want = np.mean((x / noise[:, None]) ** 2, axis=1)
    np.testing.assert_allclose(reduced_chi2(np.asarray(ll), noise, 256), want, rtol=1e-4)
    np.testing.assert_allclose(reduced_chi2(ll, jnp.asarray(noise), 256), want, rtol=1e-4)
