"""The noise a window's residual has under the noise floor: the factor's bounds, and sds of
a peak far above the floor that match its estimates' scatter."""

import numpy as np
import pytest

import peakflow
from peakflow.core.lineshape import profile
from peakflow.measured.points import WindowPoints
from peakflow.measured.residual_noise import noise_scale
from peakflow.measured.window_baseline import baseline_modes, prior_precision

W = 64


def _points(ratio: float, count: int = 3) -> WindowPoints:
    """`count` windows of W single points whose told sd is 1 / `ratio` times their own."""
    shape = (count, W)
    omega = np.broadcast_to(np.arange(W, dtype=np.float64), shape)
    return WindowPoints(omega, np.zeros(shape), np.ones(shape), np.zeros(shape),
                        np.full(shape, ratio))


def _scale(points: WindowPoints, chi2: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    table, share = baseline_modes(W, 3, 1e5)
    prior = prior_precision(share, np.full(len(chi2), 0.1), W)
    return noise_scale(points, chi2, parameters, table, prior)


def test_the_factor_lies_between_the_points_own_noise_and_the_floor():
    free = W - 4 - 4                                # roughly: the cubic and one peak
    scale = _scale(_points(0.2), np.array([0.04 * free, 0.3 * free, 5.0 * free]),
                   np.full(3, 4))
    assert scale[0] == pytest.approx(0.2, rel=0.1)  # a residual of the points' own noise
    assert 0.3 < scale[1] ** 2 < 0.45               # a misfit between the two: what it shows
    assert scale[2] == 1.0                          # never wider than the floor
    # untouched by the floor, or not fitted: 1
    np.testing.assert_array_equal(_scale(_points(1.0), np.full(3, 0.01), np.full(3, 4)), 1.0)
    np.testing.assert_array_equal(_scale(_points(0.2), np.full(3, np.nan), np.full(3, 4)), 1.0)


def test_sds_of_a_peak_far_above_the_floor_match_its_scatter():
    """A pseudo-Voigt 1,000 noise sds high (the floor at 5 of them): its location, FWHM and
    amplitude sds were 5-6× the scatter of its estimates over noise draws."""
    x = np.arange(1200, dtype=np.float64)
    clean = profile(x, 1000.0, 600.3, 7.5, 0.5, xp=np)
    rng = np.random.default_rng(3)
    fits = peakflow.fit_many([(clean + rng.normal(size=x.size), x) for _ in range(40)],
                             baseline="none")
    nearest = [np.argmin(np.abs(f.peaks.location - 600.3)) for f in fits]
    for name in ("location", "fwhm", "amplitude"):
        values = np.array([getattr(f.peaks, name)[i] for f, i in zip(fits, nearest)])
        sds = np.array([getattr(f.peaks, f"{name}_sd")[i] for f, i in zip(fits, nearest)])
        assert 0.7 < np.mean(sds) / np.std(values) < 1.5, name
