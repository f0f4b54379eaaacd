"""The baseline a window marginalises: the modes, their prior, and the marginal χ² against
the explicit augmented least squares it stands for."""

import numpy as np

from peakflow.measured.window_baseline import (
    at_points,
    baseline_modes,
    marginal_baseline,
    prior_precision,
)


def test_modes_are_orthonormal_polynomials_first_then_smooth_modes_by_share():
    table, share = baseline_modes(128, 3, 1e4)
    np.testing.assert_allclose(table.T @ table, np.eye(table.shape[1]), atol=1e-6)
    assert np.all(share[:4] == 0) and abs(share[4:].sum() - 1.0) < 1e-12
    assert np.all(np.diff(share[4:]) <= 0) and share.size > 6
    t = np.linspace(-1, 1, 128)
    cubic = 1 + t - 2 * t ** 3
    np.testing.assert_allclose(table[:, :4] @ (table[:, :4].T @ cubic), cubic, atol=1e-8)


def test_prior_is_flat_for_the_cubic_and_scaled_by_the_deviation_sd():
    _, share = baseline_modes(64, 3, 1e3)
    prior = prior_precision(share, np.array([0.5, 0.0]), 64)
    assert np.all(prior[:, :4] == 0)
    np.testing.assert_allclose(1.0 / prior[0, 4:], 64 * 0.25 * share[4:])
    assert np.all(prior[1, 4:] > 1e20)   # κ = 0: the cubic only


def test_marginal_chi2_is_the_minimum_of_the_penalised_least_squares():
    rng = np.random.default_rng(0)
    table, share = baseline_modes(64, 3, 1e3)
    omega = np.sort(rng.uniform(0, 63, (2, 90)), axis=1)
    weight = rng.uniform(0.5, 2.0, (2, 90))
    weight[1, 80:] = 0.0                                   # padding
    residual = rng.normal(size=(2, 90))
    prior = prior_precision(share, np.array([0.7, 0.3]), 64)
    coef, chi2, dof, _ = marginal_baseline(omega, residual, weight, table, prior)
    for m in range(2):
        basis = at_points(table, omega[m]) * weight[m, :, None]
        design = np.vstack([basis, np.diag(np.sqrt(prior[m]))])
        target = np.concatenate([residual[m] * weight[m], np.zeros(table.shape[1])])
        best = np.linalg.lstsq(design, target, rcond=None)[0]
        np.testing.assert_allclose(coef[m], best, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(chi2[m], np.sum((design @ best - target) ** 2), rtol=1e-8)
        assert 4 < dof[m] < table.shape[1]


def test_basis_at_the_grid_points_is_the_table():
    table, _ = baseline_modes(32, 2, 1e2)
    np.testing.assert_allclose(at_points(table, np.arange(32.0)), table)
