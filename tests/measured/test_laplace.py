"""The Laplace posterior of refined peaks: valid, bounded factors, and η's posterior near its
bounds."""

import numpy as np
import pytest

from peakflow.measured.laplace import (
    covariance_blocks,
    eta_posterior,
    laplace_posterior,
    laplace_trils,
)


def test_laplace_factors_are_valid_and_bounded():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(3, 40, 8))
    hess = np.einsum("mwi,mwj->mij", jac, jac)
    hess[2] *= 1e-12                                # undetermined: clipped to the bounds
    bounds = np.array([[1e-3, 1.0], [1e-3, 5.0], [1e-3, 1.0], [1e-2, 5.0]])
    tril = laplace_trils(hess, np.array([[True, True], [True, False], [True, True]]), bounds)
    assert tril.shape == (3, 2, 4, 4) and np.all(np.isfinite(tril))
    sd = np.sqrt(np.sum(tril.astype(np.float64) ** 2, axis=-1))
    assert np.all(sd <= bounds[:, 1] * (1 + 1e-5)) and np.all(sd >= bounds[:, 0] * (1 - 1e-5))
    np.testing.assert_allclose(sd[2], np.broadcast_to(bounds[:, 1], (2, 4)), rtol=1e-5)
    np.testing.assert_array_equal(tril[1, 1], np.eye(4))   # an unused slot
    exact = np.linalg.inv(hess[0])[:4, :4]
    np.testing.assert_allclose(sd[0, 0], np.minimum(np.sqrt(np.diag(exact)), bounds[:, 1]),
                               rtol=1e-4)


def test_eta_near_a_bound_gets_the_truncated_posterior_and_inside_is_left_alone():
    logit = np.array([8.0, -8.0, 0.0])
    eta = 1 / (1 + np.exp(-logit))
    logit_sd = np.array([0.1 / (eta[0] * (1 - eta[0])), 0.05 / (eta[1] * (1 - eta[1])), 0.2])
    mean, sd = eta_posterior(logit, logit_sd)
    # a normal at the bound with sd s, truncated: mean s·√(2/π) inside the bound
    np.testing.assert_allclose(mean[:2], [1 - 0.1 * np.sqrt(2 / np.pi),
                                          0.05 * np.sqrt(2 / np.pi)], rtol=1e-3, atol=1e-3)
    assert np.all(sd[:2] < logit_sd[:2]) and np.all(sd[:2] > 0.3)
    assert mean[2] == 0.5 and sd[2] == 0.2


def test_a_peak_at_eta_s_bound_is_centred_inside_with_its_draws_spread():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(1, 60, 4))
    jac[..., 3] *= 1e-3                       # η barely determined in logit at the bound
    hess = np.einsum("mwi,mwj->mij", jac, jac)
    loc = np.array([[[0.0, 100.0, 1.5, -8.0]]])
    bounds = np.array([[1e-3, 1.0], [1e-3, 5.0], [1e-3, 1.0], [1e-2, 5.0]])
    out, tril = laplace_posterior(loc, hess, np.ones((1, 1), bool), bounds)
    eta_hat = 1 / (1 + np.exp(8.0))
    sd_eta = np.sqrt(covariance_blocks(hess, np.ones((1, 1), bool))[0, 0, 3, 3]) * eta_hat
    u = out[0, 0, 3] + tril[0, 0, 3, :] @ rng.normal(size=(4, 20000))
    eta = 1 / (1 + np.exp(-u))
    # the half-normal's mean and sd, not η pinned at the bound (3e-4)
    assert np.mean(eta) == pytest.approx(sd_eta * np.sqrt(2 / np.pi), rel=0.05)
    assert np.std(eta) == pytest.approx(sd_eta * np.sqrt(1 - 2 / np.pi), rel=0.3)
