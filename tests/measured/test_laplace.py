"""The Laplace posterior of refined peaks: valid, bounded factors, centred on the refined
values."""

import numpy as np
import pytest

from peakflow.measured.laplace import laplace_posterior, laplace_trils


def test_laplace_factors_are_valid_and_capped():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(3, 40, 8))
    hess = np.einsum("mwi,mwj->mij", jac, jac)
    hess[1] *= 1e10                                 # determined far below the heads' lowest
    hess[2] *= 1e-12                                # undetermined: capped at the highest
    bounds = np.array([[1e-3, 1.0], [1e-3, 5.0], [1e-3, 1.0], [1e-2, 5.0]])
    tril = laplace_trils(hess, np.array([[True, True], [True, False], [True, True]]), bounds)
    assert tril.shape == (3, 2, 4, 4) and np.all(np.isfinite(tril))
    sd = np.sqrt(np.sum(tril.astype(np.float64) ** 2, axis=-1))
    assert np.all(sd <= bounds[:, 1] * (1 + 1e-5))
    np.testing.assert_allclose(sd[1, 0], np.sqrt(np.diag(np.linalg.inv(hess[1][:4, :4]))),
                               rtol=1e-4)          # not widened to the heads' lowest
    np.testing.assert_allclose(sd[2], np.broadcast_to(bounds[:, 1], (2, 4)), rtol=1e-5)
    np.testing.assert_array_equal(tril[1, 1], np.eye(4))   # an unused slot
    exact = np.linalg.inv(hess[0])[:4, :4]
    np.testing.assert_allclose(sd[0, 0], np.minimum(np.sqrt(np.diag(exact)), bounds[:, 1]),
                               rtol=1e-4)


def test_the_posterior_means_are_the_refined_values():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(1, 60, 4))
    hess = np.einsum("mwi,mwj->mij", jac, jac) * 50.0
    loc = np.array([[[np.log(0.8), 100.0, np.log(4.0), 0.5]]])
    bounds = np.array([[1e-3, 1.0], [1e-3, 5.0], [1e-3, 1.0], [1e-2, 5.0]])
    out, tril, corr, skew = laplace_posterior(loc, hess, np.ones((1, 1), bool), bounds)
    np.testing.assert_allclose(np.diagonal(corr[0]), 1.0, rtol=1e-6)
    assert not skew.any()                           # no asymmetries fitted
    u = out[0, 0][:, None] + tril[0, 0].astype(np.float64) @ rng.normal(size=(4, 200000))
    assert np.mean(np.exp(u[0])) == pytest.approx(0.8, rel=3e-3)
    assert np.mean(u[1]) == pytest.approx(100.0, abs=3e-3)
    assert np.mean(np.exp(u[2])) == pytest.approx(4.0, rel=3e-3)
    assert np.mean(1 / (1 + np.exp(-u[3]))) == pytest.approx(1 / (1 + np.exp(-0.5)), abs=3e-3)


def test_each_windows_covariance_is_the_inverse_over_its_used_peaks():
    """Windows with 1, 2 (not the first slots) and 8 peaks of 8: the joint covariance is the
    inverse of JᵀMJ over the used coordinates and the identity elsewhere; the correlations
    and the per-peak blocks follow from it."""
    from peakflow.measured.laplace import covariance_blocks, joint_correlation, joint_covariance

    rng = np.random.default_rng(1)
    jac = rng.normal(size=(3, 80, 32))
    hess = np.einsum("mwi,mwj->mij", jac, jac)
    mask = np.zeros((3, 8), bool)
    mask[0, 0], mask[1, [1, 3]], mask[2] = True, True, True
    cov = joint_covariance(hess, mask)
    corr = joint_correlation(cov)
    blocks = covariance_blocks(hess, mask, cov)
    for m in range(3):
        used = np.repeat(mask[m], 4)
        expect = np.eye(32)
        expect[np.ix_(used, used)] = np.linalg.inv(hess[m][np.ix_(used, used)])
        np.testing.assert_allclose(cov[m], expect, rtol=1e-5, atol=1e-9)   # the 1e-8 ridge
        sd = np.sqrt(np.diag(expect))
        np.testing.assert_allclose(corr[m], expect / sd[:, None] / sd[None], atol=1e-6)
        for k in range(8):
            want = expect[4 * k:4 * k + 4, 4 * k:4 * k + 4] if mask[m, k] else np.eye(4)
            np.testing.assert_allclose(blocks[m, k], want, rtol=1e-5, atol=1e-9)


def test_sds_are_drawn_about_the_best_fit_where_eta_reaches_a_bound():
    """A refined peak at η's lower bound with a wide logit sd: its mean-centred q squeezes η
    against 0, the best-fit-centred one spreads it over the shapes the data allow (η sd and
    area sd grow); a peak well inside (0, 1) keeps its sds; an unrefined peak is untouched."""
    from peakflow.core.correlated import CorrelatedQ
    from peakflow.measured.assemble import derived_sds
    from peakflow.measured.laplace import about_best_fit

    loc = np.array([[np.log(0.5), 100.0, np.log(4.0), -4.0],
                    [np.log(0.5), 100.0, np.log(4.0), 0.3],
                    [np.log(0.5), 100.0, np.log(4.0), -4.0]])
    tril = np.stack([np.diag([0.01, 0.1, 0.01, s]) for s in (2.5, 0.2, 2.5)]).astype(np.float32)
    from peakflow.core.correlated import logit_normal_loc

    eta = 1.0 / (1.0 + np.exp(-loc[:, 3]))
    loc[:, 3] = logit_normal_loc(eta, np.array([2.5, 0.2, 2.5]))    # mean-centred, as refined
    q = CorrelatedQ(loc.astype(np.float32), tril)
    spread = about_best_fit(q, np.array([True, True, False]))
    np.testing.assert_allclose(spread.mean().amplitude, q.mean().amplitude, rtol=1e-6)
    before, after = q.sd().lorentzian, spread.sd().lorentzian
    assert after[0] > 2 * before[0] and after[0] > 0.1
    np.testing.assert_allclose(after[1], before[1], rtol=0.05)
    assert after[2] == before[2]
    rng = lambda: np.random.default_rng(0)
    area_before = derived_sds(q, np.ones(3), 1.0, rng())[2]
    area_after = derived_sds(spread, np.ones(3), 1.0, rng())[2]
    assert area_after[0] > 1.5 * area_before[0]
    np.testing.assert_allclose(area_after[1], area_before[1], rtol=0.05)
