"""Pieces of the real-data path that need no trained model: baselines, noise, grids, tiles."""

import jax
import numpy as np
import pytest

import peakflow
from peakflow.baseline import polynomial_basis, project, remove_baseline
from peakflow.fitting import (
    area_of,
    check_axis,
    fwhm_and_sd,
    model_grid,
    pad_to,
    pseudo_voigt_x,
)
from peakflow.preprocess import TARGET_FWHM, estimate_noise, resample, window_scale
from peakflow.tiling import merge, owner, window_starts


def test_polynomial_projection_removes_cubics_and_nothing_orthogonal():
    basis = polynomial_basis(256, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-5)
    t = np.linspace(-1, 1, 256)
    cubic = 3 - 2 * t + 0.5 * t**2 - 4 * t**3
    np.testing.assert_allclose(project(cubic[None].astype(np.float32), 3), 0.0, atol=1e-4)
    other = np.random.default_rng(0).normal(size=256).astype(np.float32)
    other = other - basis @ (basis.T @ other)
    np.testing.assert_allclose(project(other[None], 3)[0], other, atol=1e-5)
    np.testing.assert_array_equal(project(other[None], -1)[0], other)


def test_estimate_noise_ignores_peaks():
    rng = np.random.default_rng(1)
    x = np.arange(3000.0)
    y = sum(pseudo_voigt_x(x, 50.0, c, 8.0, 0.5) for c in range(100, 3000, 150))
    y = y + rng.normal(0, 0.7, x.size)
    assert estimate_noise(y) == pytest.approx(0.7, rel=0.08)


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
    peaks = sum(pseudo_voigt_x(x, 100.0, c, 5.0, 0.3) for c in (200, 650, 1100, 1500, 1800))
    y = base + peaks + np.random.default_rng(3).normal(0, 0.5, x.size)
    corrected, found = remove_baseline(y)
    assert np.max(np.abs(found - base)) < 3.0  # 3 % of the peak height
    np.testing.assert_allclose(corrected + found, y)
    with pytest.raises(ValueError, match="baseline method"):
        remove_baseline(y, "polynomial")
    assert np.all(remove_baseline(y, "none")[1] == 0)


def test_window_scale_is_the_tallest_feature_or_the_noise_floor():
    x = np.arange(256.0)
    window = pseudo_voigt_x(x, 0.7, 128.0, 6.0, 0.0) + 0.4 + 0.001 * x  # peak on a ramp
    scale = float(window_scale(window[None].astype(np.float32), np.array([0.001]), 20.0)[0])
    assert 0.5 < scale < 0.75
    flat = np.random.default_rng(4).normal(0, 0.01, (1, 256)).astype(np.float32)
    assert float(window_scale(flat, np.array([0.01]), 20.0)[0]) == pytest.approx(0.2)


def test_windows_cover_the_grid_and_each_point_has_an_owner_away_from_edges():
    starts = window_starts(1000, 256)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert np.all(np.diff(starts) <= 128)
    positions = np.arange(1000)
    own = owner(positions, starts, 256)
    inner = (positions - starts[own] >= 64) & (starts[own] + 255 - positions >= 64)
    edge = (positions < 64) | (positions > 999 - 64)  # only the spectrum's own ends
    assert np.all(inner | edge)
    with pytest.raises(ValueError, match="shorter than one window"):
        window_starts(100, 256)


def test_merge_keeps_one_copy_of_a_peak_and_both_peaks_of_a_doublet():
    starts = window_starts(512, 256)  # 0, 128, 256; centres 127.5, 255.5, 383.5
    # one peak near the 0/1 boundary (191.5) seen by both windows, straddling it;
    # a close doublet inside window 1, also seen by window 2 near its edge
    position = np.array([192.5, 190.8, 250.0, 258.0, 250.5, 258.6])
    window = np.array([0, 1, 1, 1, 2, 2])
    size = np.full(6, 12.0)
    keep = merge(position, window, size, starts, 256)
    kept = sorted(position[keep])
    assert len(kept) == 3
    assert kept[0] == pytest.approx(190.8, abs=2.0)  # one copy of the straddling peak
    assert kept[1:] == [250.0, 258.0]  # the doublet, from the window that centres it


def test_area_and_fwhm_are_analytic():
    area, area_sd = area_of(np.array([2.0]), np.array([3.0]), np.array([1.0]),
                            np.array([0.0]), np.array([0.0]), np.array([0.0]))
    assert area[0] == pytest.approx(2.0 * 3.0 * np.pi) and area_sd[0] == 0
    x = np.linspace(-3000, 3000, 600001)  # Lorentzian tails beyond: < 3e-4 of the area
    numeric = np.trapezoid(pseudo_voigt_x(x, 2.0, 0.0, 3.0, 0.3), x)
    assert area_of(2.0, 3.0, 0.3, 0.0, 0.0, 0.0)[0] == pytest.approx(numeric, rel=1e-3)
    value, sd = fwhm_and_sd(np.array([2.0]), np.array([0.0]), np.array([0.1]), np.array([0.0]))
    assert value[0] == pytest.approx(2 * 2.0 * np.sqrt(2 * np.log(2)), rel=1e-4)
    assert sd[0] == pytest.approx(0.1 * 2 * np.sqrt(2 * np.log(2)), rel=1e-4)


def test_model_grid_puts_the_typical_fwhm_at_the_target():
    x = np.linspace(100, 2100, 4001)  # step 0.5
    y = sum(pseudo_voigt_x(x, 10.0, c, 3.0, 0.0) for c in range(200, 2100, 100))
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
])
def test_bad_spectra_are_named(y, x, message):
    with pytest.raises(ValueError, match=message):
        check_axis(y, x)


def test_broad_simulator_normalises_and_varies_the_noise():
    cfg = peakflow.preset("broad")
    data = peakflow.simulate_batch(jax.random.PRNGKey(0), cfg.sim, 256)
    noise = np.asarray(data.noise)
    assert data.spectrum.shape == (256, 256) and noise.shape == (256,)
    assert noise.max() <= 1 / cfg.sim.scale_floor + 1e-6  # the floor of the window scale
    assert noise.min() < 0.01 and np.ptp(np.log(noise)) > 1.5
    heights = np.asarray(window_scale(data.spectrum, noise, cfg.sim.scale_floor))
    np.testing.assert_allclose(heights, 1.0, rtol=1e-4)  # normalised as real windows are
    peaks = np.asarray(data.peaks.location)[np.asarray(data.mask)]
    assert peaks.min() < 0 and peaks.max() > 255  # some peaks are cut by the window edge


def test_numpy_fwhm_matches_the_model_fwhm():
    from peakflow.fitting import fwhm_ratio

    eta = np.linspace(0, 1, 11)
    np.testing.assert_allclose(fwhm_ratio(eta), peakflow.fwhm(np.ones(11), eta), rtol=1e-5)
