"""Peak quantities in the caller's units and their sds from joint posterior draws."""

from dataclasses import replace

import numpy as np
import pytest

import peakflow
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.lineshape import area, profile
from peakflow.core.variational import PeakQ
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured import fit
from peakflow.measured.assemble import STRETCH_SIGMA, derived_sds, spectrum_misfit, with_misfit


def test_sds_from_draws_match_analytic_cases():
    # only the amplitude is uncertain: every sd is the relative amplitude sd times the value
    q = PeakQ(*(np.array([v], np.float32) for v in (2.0, 0.02, 50.0, 1e-6, 3.0, 1e-6, 1e4, 1e4)))
    amp_sd, fwhm_sd, area_sd = derived_sds(q, np.array([10.0]), 0.5, np.random.default_rng(0),
                                           num_draws=4000)
    assert amp_sd[0] == pytest.approx(0.2, rel=0.05)
    assert fwhm_sd[0] < 0.01  # γ certain, η nearly (sd 0.0035): FWHM ≈ 3.3 ± 0.002
    assert area_sd[0] == pytest.approx(area(20.0, 1.5, 0.5) * 0.01, rel=0.05)


def test_joint_draws_carry_the_correlation():
    """Area ∝ α·γ: with log α and log γ perfectly anti-correlated it is certain, while
    independent sds would propagate to a large area sd."""
    sd = np.array([0.1, 0.2, 0.1, 0.01])
    corr = np.eye(4)
    corr[0, 2] = corr[2, 0] = -0.999
    cov = corr * np.outer(sd, sd)
    tril = np.linalg.cholesky(cov)[None].astype(np.float32)
    loc = np.array([[np.log(2.0), 50.0, np.log(3.0), 0.0]], np.float32)
    joint = CorrelatedQ(loc, tril)
    independent = CorrelatedQ(loc, np.diag(sd)[None].astype(np.float32))
    _, _, area_joint = derived_sds(joint, np.array([1.0]), 1.0, np.random.default_rng(1),
                                num_draws=4000)
    _, _, area_indep = derived_sds(independent, np.array([1.0]), 1.0, np.random.default_rng(1),
                                num_draws=4000)
    value = area(2.0, 3.0, 0.5)
    assert area_joint[0] < 0.02 * value
    assert area_indep[0] == pytest.approx(value * np.hypot(0.1, 0.1), rel=0.1)


@pytest.mark.parametrize("family", ["mean_field", "correlated"])
def test_host_draws_match_the_jax_sampler(family):
    """`host_sample` (numpy) and `sample` (JAX) draw from the same distribution."""
    import jax

    if family == "correlated":
        tril = np.array([[0.2, 0, 0, 0], [0.5, 1.0, 0, 0], [-0.1, 0.2, 0.3, 0],
                         [0.1, 0.0, 0.2, 0.8]], np.float32)
        q = CorrelatedQ(np.array([[0.3, 10.0, 1.0, -0.5]], np.float32), tril[None])
    else:
        q = PeakQ(*(np.array([v], np.float32) for v in (2.0, 0.2, 50.0, 1.0, 3.0, 0.3, 2.0, 5.0)))
    host = q.host_sample(np.random.default_rng(0), 20000)
    device = jax.vmap(q.sample)(jax.random.split(jax.random.PRNGKey(0), 20000))
    for a, b in zip(host, device):
        a, b = np.asarray(a, np.float64)[:, 0], np.asarray(b, np.float64)[:, 0]
        assert np.mean(a) == pytest.approx(np.mean(b), abs=float(0.03 * np.std(b)))
        assert np.std(a) == pytest.approx(np.std(b), rel=0.03)


@pytest.mark.slow  # 16 s: a 2,000-point realistic fit
def test_a_well_fitted_spectrum_has_chi2_near_one_and_no_long_misfit(broad_model):
    y, x, _ = realistic_spectrum(np.random.default_rng(12))
    result = fit(y, x, model=broad_model)
    assert 0.7 < result.chi2 < 1.5
    assert result.stretch < STRETCH_SIGMA
    assert result.to_dict()["chi2"] == pytest.approx(result.chi2)


def test_the_worst_stretch_measures_a_run_of_residual_in_standard_errors():
    rng = np.random.default_rng(0)
    x = np.arange(3000.0)
    y = rng.normal(0, 1, x.size)
    flat = peakflow.SpectrumFit(peaks=None, windows=None, x=x, y=y, baseline=np.zeros_like(x),
                                fitted=np.zeros_like(x), noise=1.0, grid_step=1.0,
                                unexplained=False)
    chi2, stretch = spectrum_misfit(flat)
    assert chi2 == pytest.approx(1.0, abs=0.1) and stretch < 1.7
    bumped = replace(flat, y=y + np.where(x < 24, 5.0, 0.0))
    # 24 points 5 sd high: a 12-point run (one FWHM at step 1) averages 5 sd (± 0.3)
    assert spectrum_misfit(bumped)[1] == pytest.approx(5.0, abs=1.0)


def test_a_run_of_residual_flags_the_spectrum_even_when_every_window_passes(broad_model):
    """An edge the fit misses (30 points 6 noise sd high) sets ``unexplained`` through the
    worst stretch, with no window flagged."""
    y, x, _ = realistic_spectrum(np.random.default_rng(12))
    good = fit(y, x, model=broad_model)
    assert not good.windows.unexplained.any() and not good.unexplained
    missed = replace(good, y=good.y + np.where(np.arange(x.size) < 30, 6 * good.noise, 0.0))
    flagged = with_misfit(missed)
    assert flagged.stretch > STRETCH_SIGMA and flagged.unexplained
    assert not flagged.windows.unexplained.any()


def test_a_peak_centred_beyond_the_data_stays_in_the_fitted_curve(broad_model):
    """Its tail inside the data is fitted (by a peak in the padding or the baseline), so the
    residual stays at the noise, and it is not reported as a peak of the spectrum."""
    x = np.linspace(0, 120, 240)
    rng = np.random.default_rng(4)
    y = (profile(x, 40.0, -4.0, 5.0, 0.3, xp=np) + profile(x, 30.0, 60.0, 3.0, 0.5, xp=np)
         + rng.normal(0, 0.5, x.size))
    result = fit(y, x, model=broad_model, baseline="none")
    assert np.all((result.peaks.location >= x[0]) & (result.peaks.location <= x[-1]))
    assert result.chi2 < 1.5 and not result.unexplained
    assert np.abs(result.peaks.location - 60.0).min() < 0.5


def test_nist_gauss1_and_gauss2_are_explained(data_dir, broad_model):
    for name in ("Gauss1.dat", "Gauss2.dat"):
        result = fit(peakflow.read_spectrum(data_dir / "nist_strd" / name), model=broad_model)
        assert 0.8 < result.chi2 < 1.3 and result.stretch < STRETCH_SIGMA, name
        assert not result.unexplained, name
