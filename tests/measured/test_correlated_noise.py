"""Spectra whose noise is correlated (interpolated onto many more points, smoothed) give the
peaks of the original spectrum, not peaks made of noise wiggles."""

import numpy as np
import pytest
from scipy import ndimage

from peakflow.experiments.realistic import match, realistic_spectrum
from peakflow.measured import fit


@pytest.fixture(scope="module")
def original(broad_model):
    y, x, truth = realistic_spectrum(np.random.default_rng(3), points=(2000, 2000),
                                     peaks=(6, 6), min_gap=2.0)
    order = np.argsort(x)
    x, y = x[order], y[order]
    return x, y, truth, fit(y, x, model=broad_model)


def test_an_interpolated_spectrum_gives_the_original_peaks(original, broad_model):
    x, y, truth, base = original
    assert base.num_peaks == truth.location.size == 6
    fine = np.linspace(x[0], x[-1], (x.size - 1) * 100 + 1)          # 199,901 points
    over = fit(np.interp(fine, x, y), fine, model=broad_model)
    assert over.num_peaks == base.num_peaks                         # was ~200 noise peaks
    np.testing.assert_array_less(np.abs(over.peaks.location - base.peaks.location),
                                 0.5 * base.peaks.location_sd)
    np.testing.assert_allclose(over.peaks.location_sd, base.peaks.location_sd, rtol=0.2)
    assert over.noise == pytest.approx(base.noise, rel=0.3)


def test_a_smoothed_spectrum_gives_the_true_peaks(original, broad_model):
    x, y, truth, _ = original
    smoothed = fit(ndimage.gaussian_filter1d(y, 1.5), x, model=broad_model)
    assert smoothed.num_peaks == 6                                  # was 66 at sigma = 2
    assert len(match(smoothed, truth)[0]) == 6
