"""A measured fit as an lmfit model: the same curve, and lmfit started there stays with the
same peaks."""

import numpy as np
import pytest

from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured import fit


@pytest.fixture(scope="module")
def measured(broad_model):
    y, x, _ = realistic_spectrum(np.random.default_rng(7), points=(1500, 1500), peaks=(8, 8),
                                 min_gap=1.5)
    return fit(y, x, model=broad_model)


def test_the_lmfit_model_is_the_fits_peaks_exactly(measured):
    model, params = measured.to_lmfit()
    curve = model.eval(params, x=measured.x)
    expected = measured.components().sum(axis=0)
    np.testing.assert_allclose(curve, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert len(model.components) == 2 * measured.num_peaks


def test_lmfit_started_there_converges_to_the_same_peaks(measured):
    model, params = measured.to_lmfit()
    result = model.fit(measured.y - measured.baseline, params, x=measured.x)
    assert result.success
    p = measured.peaks
    # peakflow fits cell averages on its grid, lmfit the raw points: for the tallest peaks
    # (signal-to-noise ~100) heights come out up to 2.6 sds higher and widths 2.4 lower
    for i in range(measured.num_peaks):
        centre, height = result.params[f"p{i}g_center"].value, result.params[f"p{i}height"].value
        assert abs(centre - p.location[i]) < 2 * p.location_sd[i]
        assert abs(height - p.amplitude[i]) < 3 * p.amplitude_sd[i]
        assert abs(result.params[f"p{i}g_sigma"].value - p.width[i]) < 3 * p.width_sd[i]
        assert abs(result.params[f"p{i}eta"].value - p.lorentzian[i]) < 2 * p.lorentzian_sd[i]


def test_a_fit_without_peaks_says_so(broad_model):
    x = np.linspace(0, 100, 400)
    empty = fit(np.random.default_rng(0).normal(0, 1, x.size), x, model=broad_model)
    assert empty.num_peaks == 0
    with pytest.raises(ValueError, match="no peaks"):
        empty.to_lmfit()


def test_draws_follow_the_peak_table_and_go_into_arviz(measured):
    import arviz as az

    draws = measured.sample(4000, seed=1)
    p = measured.peaks
    assert draws.location.shape == (4000, measured.num_peaks)
    np.testing.assert_array_less(np.abs(draws.location.mean(0) - p.location), 0.1 * p.location_sd)
    np.testing.assert_allclose(draws.location.std(0), p.location_sd, rtol=0.1)
    data = measured.to_inference_data(300)
    assert data.posterior["area"].shape == (1, 300, measured.num_peaks)
    k = data.posterior["K"].values
    assert k.max() <= measured.num_peaks and k.mean() == pytest.approx(p.probability.sum(),
                                                                      abs=0.5)
    summary = az.summary(data, var_names=["location"])
    np.testing.assert_allclose(summary["mean"], p.location, atol=float(p.location_sd.max()))
