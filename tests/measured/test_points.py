"""The data points under each window: positions in grid points, values without the baseline
in window units, per-point weights, padding, and the averaging of very dense data."""

import numpy as np

from peakflow.core.lineshape import mean_profile, profile
from peakflow.measured.points import WindowPoints, window_points


def test_points_are_the_data_in_the_window_coordinates():
    x = np.arange(0.0, 100.0, 1.25)                  # data step 1.25, grid step 1
    y = 3.0 + np.sin(x)
    grid = np.arange(0.0, 100.0)
    points = window_points(x, y, np.full(x.size, 0.1), grid, np.full(grid.size, 3.0),
                           np.array([0, 50]), np.array([2.0, 4.0]), 40, 0.0)
    assert not points.grouped.any() and np.all(points.counts == 32)   # 0 .. 38.75
    np.testing.assert_allclose(points.omega[1], np.arange(0, 39, 1.25))
    np.testing.assert_allclose(points.values[1], np.sin(x[40:72]) / 4.0)
    np.testing.assert_allclose(points.weight[0], 2.0 / 0.1)


def test_the_noise_floor_bounds_the_weights_and_padding_has_none():
    x = np.arange(30.0)
    points = window_points(x, np.zeros(30), np.full(30, 1e-6), np.arange(-10.0, 40.0),
                           np.zeros(50), np.array([0]), np.array([1.0]), 50, 0.01)
    assert points.counts[0] == 30 and np.all(points.weight[0, :30] == 100.0)
    wide = WindowPoints.concatenate([points, points.padded(64)])
    assert wide.omega.shape == (2, 64) and np.all(wide.weight[:, 30:] == 0)


def test_dense_data_are_grouped_and_a_group_sees_the_peak_s_mean_over_its_span():
    x = np.linspace(0.0, 100.0, 20001)                # 200 points per grid step
    y = profile(x, 1.0, 31.0, 2.0, 0.4, xp=np)        # a narrow peak: ~4.3 grid points FWHM
    points = window_points(x, y, np.full(x.size, 1.0), np.arange(101.0), np.zeros(101),
                           np.array([0]), np.array([1.0]), 64, 0.0)
    inside = points.weight[0] > 0
    count = int(inside.sum())
    assert count <= 64 and np.all(points.half[0, inside] > 0)
    group = 20000 / 100 * 63 / count                  # points per group, about
    assert np.median(1.0 / points.weight[0, inside]) < 1.2 / np.sqrt(group)
    omega, half = points.omega[0, inside], points.half[0, inside]
    mean = mean_profile(omega, half, 1.0, 31.0, 2.0, 0.4, xp=np)
    np.testing.assert_allclose(points.values[0, inside], mean, atol=3e-4)  # δ⁴ f⁗ / 135
    at_centre = profile(omega, 1.0, 31.0, 2.0, 0.4, xp=np)
    assert np.max(np.abs(points.values[0, inside] - at_centre)) > 0.005
