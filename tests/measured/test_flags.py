"""Honest misfit flags on measured spectra: window χ² over data points, the whole spectrum's
χ² and worst stretch, and edge features kept in the fitted curve."""

from dataclasses import replace

import numpy as np
import pytest

import peakflow
from peakflow.core.lineshape import profile
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured import fit
from peakflow.measured.assemble import STRETCH_SIGMA, spectrum_misfit, with_misfit


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
    flat = peakflow.SpectrumFit(None, None, x, y, np.zeros_like(x), np.zeros_like(x), 1.0,
                                1.0, False)
    chi2, stretch = spectrum_misfit(flat)
    assert chi2 == pytest.approx(1.0, abs=0.1) and stretch < 1.7
    bumped = flat.__class__(None, None, x, y + np.where(x < 24, 5.0, 0.0), x * 0, x * 0, 1.0,
                            1.0, False)
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
