"""Preparing a measured spectrum: axis checks, resampling, baselines, the grid, padding."""

import numpy as np
import pytest

from peakflow.core.lineshape import profile
from peakflow.measured.baseline import remove_baseline
from peakflow.measured.prepare import check_axis, model_grid, pad_to
from peakflow.measured.resample import TARGET_FWHM, resample


def pv(x, amplitude, location, width, lorentzian):
    return profile(x, amplitude, location, width, lorentzian, xp=np)


def test_resample_keeps_lines_and_averages_noise_when_coarser():
    x = np.linspace(0, 10, 2001)
    line = 2 * x + 1
    fine = np.linspace(0.5, 9.5, 4000)
    coarse = np.linspace(0.5, 9.5, 200)
    np.testing.assert_allclose(resample(x, line, fine), 2 * fine + 1, rtol=1e-9)
    np.testing.assert_allclose(resample(x, line, coarse), 2 * coarse + 1, rtol=1e-4)
    noise = np.random.default_rng(2).normal(0, 1, x.size)
    # 10 data points per coarse cell: the cell means have sd ~ 1/sqrt(10)
    assert np.std(resample(x, noise, coarse)) == pytest.approx(1 / np.sqrt(10), rel=0.25)


def test_remove_baseline_follows_a_smooth_baseline_under_peaks():
    x = np.arange(2000.0)
    base = 30 + 20 * np.sin(x / 700) + 1e-5 * (x - 800) ** 2
    peaks = sum(pv(x, 100.0, c, 5.0, 0.3) for c in (200, 650, 1100, 1500, 1800))
    y = base + peaks + np.random.default_rng(3).normal(0, 0.5, x.size)
    corrected, found = remove_baseline(y)
    assert np.max(np.abs(found - base)) < 3.0  # 3 % of the peak height
    np.testing.assert_allclose(corrected + found, y)
    with pytest.raises(ValueError, match="baseline method"):
        remove_baseline(y, "polynomial")
    assert np.all(remove_baseline(y, "none")[1] == 0)


def test_model_grid_puts_the_typical_fwhm_at_the_target():
    x = np.linspace(100, 2100, 4001)  # step 0.5
    y = sum(pv(x, 10.0, c, 3.0, 0.0) for c in range(200, 2100, 100))
    grid = model_grid(x, y, 0.01, None)
    expected = 2 * 3.0 * np.sqrt(2 * np.log(2)) / TARGET_FWHM
    assert grid[1] - grid[0] == pytest.approx(expected, rel=0.1)
    assert model_grid(x, y, 0.01, 1e4).size == 32  # a huge FWHM still leaves 32 points


def test_a_short_grid_is_padded_with_noise_to_one_window():
    grid = np.linspace(10, 20, 101)
    values = np.ones(101)
    padded, corrected, base = pad_to(grid, values, 2 * values, 256, 0.1)
    assert padded.size == corrected.size == base.size == 256
    np.testing.assert_allclose(np.diff(padded), 0.1)
    inside = (padded > 9.99) & (padded < 20.01)
    np.testing.assert_allclose(corrected[inside], 1.0)
    np.testing.assert_allclose(base[inside], 2.0)
    assert np.std(corrected[~inside]) == pytest.approx(0.1, rel=0.2)
    assert np.mean(corrected[~inside]) == pytest.approx(1.0, abs=0.03)  # the ends' level
    assert np.all(base[~inside] == 0)
    same = pad_to(grid, values, values, 100, 0.1)  # long enough: unchanged
    assert same[0] is grid


@pytest.mark.parametrize("y, x, message", [
    (np.ones(20), np.arange(19.0), "x has 19 values but y has 20"),
    (np.ones(5), np.arange(5.0), "at least 8 points"),
    (np.r_[np.ones(19), np.nan], np.arange(20.0), "y contains 1 NaN"),
    (np.ones(20), np.r_[np.arange(19.0), np.inf], "x contains 0 NaN and 1 inf"),
    (np.ones(20), np.r_[np.arange(19.0), 5.0], "repeated values"),
    (np.ones((2, 20)), np.arange(20.0), "1-D"),
    (np.ones(20), np.arange(20.0) * 1e200, "overflow when squared"),
])
def test_bad_spectra_are_named(y, x, message):
    with pytest.raises(ValueError, match=message):
        check_axis(y, x)


@pytest.mark.parametrize("y, what", [(np.ones(20) + 1j, "complex"), (np.ones(20, bool), "boolean")])
def test_intensities_that_are_not_real_numbers_are_refused(y, what):
    with pytest.raises(TypeError, match=f"y must be real numbers, got {what}"):
        check_axis(y, np.arange(20.0))


def test_a_files_sigma_sets_the_noise_of_each_window():
    from peakflow.config import preset
    from peakflow.measured import FitOptions
    from peakflow.measured.prepare import prepare_many

    x = np.linspace(0.0, 100.0, 4000)
    y = 50 + 40 * pv(x, 1.0, 50.0, 0.5, 0.5)
    sigma = np.where(x < 50, 1.0, 4.0)                      # noisier on the right
    sigma[::97] = 0.0                                       # zero counts: sigma 0, skipped
    sim = preset("broad").sim
    given = prepare_many([(y[::-1], x[::-1], sigma[::-1])], sim, [FitOptions()],
                         raise_errors=True)[0]
    assert given.noise == pytest.approx(np.median(sigma[sigma > 0]))
    left, right = given.noise_model[0] * given.scales[0], given.noise_model[-1] * given.scales[-1]
    assert right == pytest.approx(4 * left, rel=0.05)
    told = prepare_many([(y, x, sigma)], sim, [FitOptions(noise=2.0)],  # the caller's noise wins
                        raise_errors=True)[0]
    assert told.noise == 2.0
    with pytest.raises(ValueError, match="sigma has 3 values but x has 4000"):
        prepare_many([(y, x, np.ones(3))], sim, [FitOptions()], raise_errors=True)[0]
