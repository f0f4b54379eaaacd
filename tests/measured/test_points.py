"""The data points under each window: positions in grid points, values without the baseline
in window units, per-point weights, padding, and the averaging of very dense data."""

import numpy as np

from peakflow.measured.points import MAX_PER_GRID_POINT, WindowPoints, window_points


def test_points_are_the_data_in_the_window_coordinates():
    x = np.arange(0.0, 100.0, 0.5)                   # data step 0.5, grid step 1
    y = 3.0 + np.sin(x)
    grid = np.arange(0.0, 100.0)
    points = window_points(x, y, np.full(x.size, 0.1), grid, np.full(grid.size, 3.0),
                           np.array([0, 50]), np.array([2.0, 4.0]), 40, 0.0)
    assert points.omega.shape[1] == 79                # 0..39 in steps of 0.5
    np.testing.assert_allclose(points.omega[1, :79], np.arange(0, 39.5, 0.5))
    np.testing.assert_allclose(points.values[1, :79], np.sin(x[100:179]) / 4.0)
    np.testing.assert_allclose(points.weight[0, :79], 2.0 / 0.1)
    assert np.all(points.counts == 79)


def test_the_noise_floor_bounds_the_weights_and_padding_has_none():
    x = np.arange(30.0)
    points = window_points(x, np.zeros(30), np.full(30, 1e-6), np.arange(-10.0, 40.0),
                           np.zeros(50), np.array([0]), np.array([1.0]), 50, 0.01)
    assert points.counts[0] == 30 and np.all(points.weight[0, :30] == 100.0)
    wide = WindowPoints.concatenate([points, points.padded(64)])
    assert wide.omega.shape == (2, 64) and np.all(wide.weight[:, 30:] == 0)


def test_dense_data_are_averaged_to_a_few_points_per_grid_step():
    x = np.linspace(0.0, 100.0, 20001)                # 200 points per grid step
    sd = np.full(x.size, 1.0)
    points = window_points(x, x.copy(), sd, np.arange(101.0), np.zeros(101), np.array([0]),
                           np.array([1.0]), 64, 0.0)
    count = points.counts[0]
    assert count <= MAX_PER_GRID_POINT * 64
    inside = points.weight[0] > 0
    np.testing.assert_allclose(points.values[0, inside], points.omega[0, inside], atol=1e-9)
    group = round(20000 / 100 * 63 / count)           # points per group, about
    assert np.median(1.0 / points.weight[0, inside]) < 1.2 / np.sqrt(group)
