"""Smoothing, the window intensity scale and the robust noise estimates (white and
correlated)."""

import numpy as np
import pytest
from scipy import ndimage

from peakflow.core.lineshape import profile
from peakflow.core.signal import estimate_noise, noise_level, window_scale


def pv(x, amplitude, location, width, lorentzian):
    return profile(x, amplitude, location, width, lorentzian, xp=np)


def test_estimate_noise_ignores_peaks():
    rng = np.random.default_rng(1)
    x = np.arange(3000.0)
    y = sum(pv(x, 50.0, c, 8.0, 0.5) for c in range(100, 3000, 150))
    y = y + rng.normal(0, 0.7, x.size)
    assert estimate_noise(y) == pytest.approx(0.7, rel=0.08)


def test_estimate_noise_of_rows_equals_each_row_alone():
    rows = np.random.default_rng(5).normal(0, [[0.5], [2.0], [0.01]], (3, 400))
    each = [estimate_noise(r) for r in rows]
    np.testing.assert_allclose(estimate_noise(rows), each, rtol=1e-12)
    np.testing.assert_allclose(each, [0.5, 2.0, 0.01], rtol=0.15)


def _peaks_and_noise(points, sd, rng, height=50.0):
    x = np.arange(float(points))
    y = sum(pv(x, height, c, 8.0, 0.5) for c in range(100, points, 150))
    return y + rng.normal(0, sd, x.size)


def test_noise_level_of_white_noise_is_the_second_difference_estimate():
    y = _peaks_and_noise(3000, 0.7, np.random.default_rng(1))
    level = noise_level(y)
    assert level.spacing == 1 and level.point == level.long_run == estimate_noise(y)


@pytest.mark.parametrize("factor", [3, 10, 100])
def test_noise_level_sees_through_interpolation(factor):
    # the spectrum linearly interpolated onto `factor` × more points: second differences at
    # lag 1 vanish, but a mean over many points keeps the original noise / √(original points)
    y = _peaks_and_noise(3000, 0.7, np.random.default_rng(2), height=10.0)
    fine = np.interp(np.linspace(0, 2999, 2999 * factor + 1), np.arange(3000.0), y)
    assert estimate_noise(fine) < 0.7 / 3                        # the white-noise estimate fails
    level = noise_level(fine)
    assert factor <= level.spacing <= 2 * factor
    assert level.long_run == pytest.approx(0.7 * np.sqrt(factor), rel=0.15)


@pytest.mark.parametrize("width", [1.0, 1.5])
def test_noise_level_of_smoothed_noise(width):
    y = _peaks_and_noise(3000, 0.7, np.random.default_rng(3), height=10.0)
    smoothed = ndimage.gaussian_filter1d(y, width)              # long-run sd stays 0.7
    assert estimate_noise(smoothed) < 0.5 * 0.7
    level = noise_level(smoothed)
    assert level.spacing > 1 and 0.8 * 0.7 <= level.long_run <= 1.5 * 0.7


def test_noise_level_does_not_run_away_with_peak_curvature():
    # noise smoothed over a good part of a peak width (FWHM ~16 points), peaks 70 sds high:
    # noise and curvature cannot be told apart; the estimate stays within a few times
    y = _peaks_and_noise(3000, 0.7, np.random.default_rng(3))
    assert 0.7 <= noise_level(ndimage.gaussian_filter1d(y, 2.0)).long_run <= 6 * 0.7


def test_window_scale_is_the_tallest_feature_or_the_noise_floor():
    x = np.arange(256.0)
    window = pv(x, 0.7, 128.0, 6.0, 0.0) + 0.4 + 0.001 * x  # peak on a ramp
    scale = float(window_scale(window[None].astype(np.float32), np.array([0.001]), 20.0)[0])
    assert 0.5 < scale < 0.75
    flat = np.random.default_rng(4).normal(0, 0.01, (1, 256)).astype(np.float32)
    assert float(window_scale(flat, np.array([0.01]), 20.0)[0]) == pytest.approx(0.2)


def test_window_scale_on_the_host_equals_the_jax_one():
    """Measured spectra are scaled with numpy (no compilation per shape); training windows
    with JAX: both must give the same scales."""
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    x = np.arange(256.0)
    windows = np.stack([pv(x, a, c, w, 0.3) + rng.normal(0, 0.02, x.size)
                        for a, c, w in ((0.9, 40.0, 3.0), (0.1, 250.0, 12.0), (0.02, 128, 5.0))])
    windows = windows.astype(np.float32)
    noise = np.array([0.02, 0.02, 0.02], np.float32)
    host = window_scale(windows, noise, 20.0)
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, np.asarray(window_scale(jnp.asarray(windows), noise, 20.0)),
                               rtol=1e-5)
