"""The exactness step: importance sampling against the exact posterior, PSIS via ArviZ."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peakflow
from peakflow.core.importance import log_target
from peakflow.core.lineshape import Peaks, pseudo_voigt
from peakflow.core.priors import log_prior_peak
from peakflow.grid.weighted import weighted_interval, weighted_summaries


def test_log_target_is_likelihood_plus_priors_of_present_peaks(default_model):
    cfg = default_model.config
    peaks = Peaks(*(jnp.array([[a, b]]) for a, b in
                    ((0.5, 0.3), (100.0, 300.0), (8.0, 9.0), (0.2, 0.7))))
    mask = jnp.array([[True, False]])
    omega = jnp.arange(500.0)
    x = pseudo_voigt(omega, jax.tree.map(lambda a: a[0, 0], peaks)) + 0.01
    x = x[None]
    got = log_target(peaks, mask, x, jnp.array([0.01]), cfg)
    resid = np.full(500, 0.01)
    want = (-0.5 * np.sum((resid / 0.01) ** 2) - 500 * (np.log(0.01) + 0.5 * np.log(2 * np.pi))
            + float(log_prior_peak(jax.tree.map(lambda a: a[0, 0], peaks), cfg.model, cfg.sim)))
    assert float(got[0]) == pytest.approx(want, rel=1e-5)


def test_weighted_summaries_and_intervals():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(1, 4000, 1))
    draws = Peaks(values, 2 * values + 1, values**2, -values)
    log_w = np.full((1, 4000), -np.log(4000))
    mean, std, corr = weighted_summaries(draws, log_w)
    assert float(mean.location[0, 0]) == pytest.approx(2 * values.mean() + 1, rel=1e-5)
    assert float(std.location[0, 0]) == pytest.approx(2 * values.std(), rel=1e-4)
    assert float(corr[0, 0, 0, 1]) == pytest.approx(1.0, abs=1e-5)
    assert float(corr[0, 0, 0, 3]) == pytest.approx(-1.0, abs=1e-5)
    lo, hi = weighted_interval(draws, log_w, 0.9)
    assert float(lo.amplitude[0, 0]) == pytest.approx(np.quantile(values, 0.05), abs=0.01)
    assert float(hi.amplitude[0, 0]) == pytest.approx(np.quantile(values, 0.95), abs=0.01)
    # weights that keep only positive values move the interval
    log_w = np.where(values[..., 0] > 0, 0.0, -np.inf)
    log_w -= np.log(np.sum(np.exp(log_w)))
    lo, _ = weighted_interval(draws, log_w, 0.9)
    assert float(lo.amplitude[0, 0]) > 0


@pytest.mark.slow  # 19 s; the step also runs in test_infer_exact_single_spectrum_and_bad_rows
def test_exact_step_on_simulated_spectra(grid_batch, grid_posterior, default_model):
    x = np.asarray(grid_batch.spectrum)[:32]
    post = peakflow.grid.posterior._reshape(grid_posterior, lambda a: np.asarray(a)[:32])
    ex = peakflow.reweight(x, post, model=default_model, num_samples=128)
    imp = ex.importance
    assert imp.khat.shape == (32,) and imp.ess.shape == (32,)
    assert imp.draws.location.shape == (32, 128, default_model.k_max)
    np.testing.assert_allclose(np.exp(imp.log_weights).sum(-1), 1.0, rtol=1e-6)
    has = post.num_peaks > 0
    assert np.all((imp.ess[has] >= 1.0) & (imp.ess[has] <= 128 + 1e-6))
    assert np.isnan(imp.khat[~has]).all() and imp.trustworthy[~has].all()
    assert np.mean(imp.trustworthy) >= 0.5
    present = ~np.isnan(post.location.mean)
    np.testing.assert_array_equal(~np.isnan(ex.location.mean), present)
    assert np.all(np.abs(ex.location.mean - post.location.mean)[present] < 1.0)
    # a proposal made too narrow is flagged: k̂ rises and fewer spectra are trustworthy
    narrow = dataclasses.replace(post, q=post.q.widen(0.3))
    ex_narrow = peakflow.reweight(x, narrow, model=default_model, num_samples=128)
    assert np.nanmedian(ex_narrow.importance.khat) > np.nanmedian(imp.khat)
    assert np.mean(ex_narrow.importance.trustworthy) < np.mean(imp.trustworthy)
    draws = ex.sample(5, seed=jax.random.PRNGKey(0))
    assert draws.location.shape == (5, 32, default_model.k_max)


def test_infer_exact_single_spectrum_and_bad_rows(grid_batch, default_model):
    x = np.asarray(grid_batch.spectrum)[:4].copy()
    one = peakflow.infer(x[0], model=default_model, exact=True)
    assert one.importance.khat.shape == () and one.location.mean.shape == (default_model.k_max,)
    x[1, 3] = np.nan
    with pytest.warns(RuntimeWarning):
        post = peakflow.infer(x, model=default_model, exact=True)
    assert not post.valid[1] and np.isnan(post.importance.ess[1])
    assert not post.importance.trustworthy[1] and post.importance.trustworthy[[0, 2, 3]].any()


def test_reweight_rejects_mismatched_input(grid_batch, grid_posterior, default_model):
    x = np.asarray(grid_batch.spectrum)
    with pytest.raises(ValueError, match="does not match the model's grid"):
        peakflow.reweight(x[:, :400], grid_posterior, model=default_model)
    with pytest.raises(ValueError, match="post holds 64 spectra but 2 were given"):
        peakflow.reweight(x[:2], grid_posterior, model=default_model)
    with pytest.raises(TypeError, match="real numbers"):
        peakflow.reweight("spectra", grid_posterior, model=default_model)


@pytest.mark.parametrize("present", [(True, True), (True, False)])
def test_student_proposal_density_matches_scipy(present):
    """StudentQ's log density of the present slots is a multivariate t in u (block-diagonal
    scale over the present peaks) times the Jacobian of u → θ."""
    from scipy import linalg, stats

    from peakflow.core.correlated import CorrelatedQ, PeakBijector, to_vector
    from peakflow.core.importance import StudentQ

    rng = np.random.default_rng(3)
    loc = rng.normal(size=(1, 2, 4)).astype(np.float32)
    tril = np.tril(rng.normal(size=(1, 2, 4, 4)) * 0.3).astype(np.float32)
    tril[..., np.arange(4), np.arange(4)] = np.abs(tril[..., np.arange(4), np.arange(4)]) + 0.5
    mask = jnp.array([present])
    q = StudentQ(CorrelatedQ(jnp.asarray(loc), jnp.asarray(tril)), 4.0)
    for i in range(5):
        theta, log_q = q.sample_and_log_prob(jax.random.PRNGKey(i), mask)
        u, inv_log_det = PeakBijector().inverse_and_log_det(to_vector(theta))
        keep = np.flatnonzero(present)
        scale = linalg.block_diag(*(tril[0, k] @ tril[0, k].T for k in keep))
        want = stats.multivariate_t(loc[0, keep].ravel(), scale, df=4.0).logpdf(
            np.asarray(u[0, keep], np.float64).ravel())
        want += float(np.sum(np.asarray(inv_log_det)[0, keep]))
        assert float(log_q[0]) == pytest.approx(want, rel=1e-4, abs=1e-3)


def test_the_arguments_in_the_old_order_are_refused_by_name(grid_batch, grid_posterior):
    x = np.asarray(grid_batch.spectrum)
    for step in (peakflow.reweight, peakflow.finetune):
        with pytest.raises(TypeError, match=r"\(spectra, post\): post must be a Posterior"):
            step(grid_posterior, x)
