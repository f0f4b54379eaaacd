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


def test_points_likelihood_is_minus_half_the_marginal_chi2():
    """`points_log_likelihood` (the exactness step's target on data points) and the
    refinement's marginal χ² (`marginal_baseline`) are the same quantity."""
    from peakflow.core.likelihood import PointData, points_log_likelihood
    from peakflow.core.lineshape import Peaks, mean_profile
    from peakflow.measured.window_baseline import (
        baseline_modes,
        marginal_baseline,
        prior_precision,
        weighted_basis,
    )

    rng = np.random.default_rng(0)
    omega = np.sort(rng.uniform(0, 63, (1, 80)), axis=1)
    half = np.full((1, 80), 0.3)
    weight = rng.uniform(20, 60, (1, 80))
    values = rng.normal(0, 0.02, (1, 80)) + mean_profile(omega, half, 0.7, 30.0, 4.0, 0.3, xp=np)
    table, share = baseline_modes(64, 3, 1e3)
    prior = prior_precision(share, np.array([0.01]), 64)
    peaks = Peaks(*(np.array([v, 0.2]) for v in (0.6, 29.0, 4.5, 0.5)))
    mask = np.array([True, False])
    model = mean_profile(omega, half, 0.6, 29.0, 4.5, 0.5, xp=np)
    _, chi2, _, _ = marginal_baseline(omega, values - model, weight, table, prior)
    basis, gram = weighted_basis(omega, weight, table, prior)
    with jax.enable_x64(True):
        data = PointData(*(jnp.asarray(a[0]) for a in (omega, values, weight, basis, gram,
                                                         half)))
        got = points_log_likelihood(jax.tree.map(jnp.asarray, peaks), jnp.asarray(mask), data)
    assert float(got) == pytest.approx(-0.5 * chi2[0], rel=1e-6)
