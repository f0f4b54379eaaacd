"""Peaks evaluated at any window of their spectrum, and the baseline solved against the
peaks a spectrum reports."""

import numpy as np
import pytest

from peakflow.core.lineshape import Peaks, profile, skewed_profile
from peakflow.measured.points import WindowPoints
from peakflow.measured.window_peaks import (
    NEGLIGIBLE,
    own_triples,
    peaks_at_points,
    reaching,
    reported_triples,
)


def _points(count: int, size: int) -> WindowPoints:
    omega = np.tile(np.arange(size, dtype=np.float64), (count, 1))
    return WindowPoints(omega=omega, values=np.zeros((count, size)),
                        weight=np.ones((count, size)), half=np.zeros((count, size)))


def _peaks(rows) -> Peaks:
    """Fields (M, 2): one peak per window in slot 0, slot 1 empty."""
    fields = np.zeros((4, len(rows), 2))
    fields[:, :, 0] = np.asarray(rows, np.float64).T
    return Peaks(*fields)


def test_a_peak_seen_from_a_neighbouring_window_is_the_same_curve():
    points = _points(2, 64)
    starts, scales = np.array([0, 40]), np.array([2.0, 0.5])     # y units per window unit
    mean = _peaks([(1.5, 50.0, 3.0, 0.4), (0.0, 0.0, 1.0, 0.0)])
    out = peaks_at_points(points, starts, scales, mean, None, None, np.array([0, 1]),
                          np.array([0, 0]), np.array([0, 0]))
    x = np.arange(64.0)
    in_y = 2.0 * profile(x, 1.5, 50.0, 3.0, 0.4, xp=np)           # window 0, y units
    assert out[0] == pytest.approx(in_y / 2.0)
    assert out[1] * 0.5 == pytest.approx(2.0 * profile(x + 40, 1.5, 50.0, 3.0, 0.4, xp=np))
    assert out[1].max() * 0.5 == pytest.approx(3.0, rel=1e-3)     # its top at x = 10 there


def test_own_triples_sum_each_windows_own_peaks_with_their_asymmetry():
    points = _points(2, 32)
    mean = _peaks([(1.0, 10.0, 2.0, 0.0), (0.5, 20.0, 4.0, 1.0)])
    present = np.array([[True, False], [True, False]])
    skew = np.zeros((2, 2, 7))
    skew[1, 0, 0] = 0.3
    out = peaks_at_points(points, np.zeros(2, int), np.ones(2), mean, None, skew,
                          *own_triples(present))
    x = np.arange(32.0)
    assert out[0] == pytest.approx(profile(x, 1.0, 10.0, 2.0, 0.0, xp=np))
    assert out[1] == pytest.approx(skewed_profile(x, 0.5, 20.0, 4.0, 1.0, 0.3, xp=np))


def test_reported_peaks_reach_every_window_of_their_spectrum_and_background_only_its_own():
    offsets = np.array([0, 3, 5])                      # spectrum 0: rows 0-2, spectrum 1: 3-4
    kept = [(np.array([1]), np.array([0])), (np.array([0, 1]), np.array([2, 0]))]
    background = [(np.array([2]), np.array([1])), (np.zeros(0, int), np.zeros(0, int))]
    target, source, slot = reported_triples(offsets, kept, background)
    triples = set(zip(target.tolist(), source.tolist(), slot.tolist()))
    assert triples == {(0, 1, 0), (1, 1, 0), (2, 1, 0), (2, 2, 1),
                       (3, 3, 2), (3, 4, 0), (4, 3, 2), (4, 4, 0)}
    assert len(triples) == target.size


def test_a_window_baseline_solved_against_the_reported_peaks_holds_none_of_them():
    """Window 1 (points 40-103) reports no peak of its own; window 0's peak at 70 reaches into
    it. Solved against its own (no) peaks its baseline bends to hold the peak's part; solved
    against the reported peaks it is flat, so the blended fit counts the peak once."""
    from types import SimpleNamespace

    from peakflow.measured.assemble import window_fits

    points = _points(2, 64)
    starts, scales = np.array([0, 40]), np.ones(2)
    mean = _peaks([(1.0, 60.0, 4.0, 0.5), (0.0, 0.0, 1.0, 0.0)])
    x = np.arange(104.0)
    curve = profile(x, 1.0, 60.0, 4.0, 0.5, xp=np)
    points.values[0], points.values[1] = curve[:64], curve[40:]
    batch = SimpleNamespace(values=points.values, points=points, pair=None, skew=None,
                            noise=np.full(2, 0.01),
                            deviation_sd=np.full(2, 0.05),
                            pred=SimpleNamespace(num_peaks=np.array([1, 0])))
    report = reported_triples(np.array([0, 2]), [(np.array([0]), np.array([0]))],
                              [(np.zeros(0, int), np.zeros(0, int))])
    own, chi2_own = window_fits(batch, mean, 3, 1e3)
    shared, chi2_shared = window_fits(batch, mean, 3, 1e3, 0.0, (starts, scales), report)
    assert np.abs(own[1]).max() > 0.2                    # it holds the peak's part
    assert np.abs(shared[1]).max() < 1e-6 and np.abs(shared[0]).max() < 1e-6
    assert chi2_shared == pytest.approx(chi2_own)        # χ²: each window's own fit


def test_peaks_too_far_to_matter_are_skipped_and_nothing_that_matters_is():
    points = _points(3, 64)
    starts, scales = np.array([0, 200, 400]), np.ones(3)
    mean = _peaks([(1.0, 30.0, 3.0, 0.0), (1.0, 30.0, 3.0, 1.0), (0.0, 0.0, 1.0, 0.0)])
    target, source, slot = np.array([2, 2, 0]), np.array([0, 1, 0]), np.array([0, 0, 0])
    # window 2 starts 370 / 170 grid points past the peaks: a Gaussian of σ 3 is gone, a
    # Lorentzian of γ 3 still 3e-4 there; a peak always counts in its own window
    noise = np.full(3, 1e-4)
    assert reaching(points, starts, scales, mean, target, source, slot,
                    NEGLIGIBLE * noise[target]).tolist() == [False, True, True]
    out = peaks_at_points(points, starts, scales, mean, None, None, target, source, slot, noise)
    x = np.arange(64.0) + 400
    full = profile(x, 1.0, 30.0, 3.0, 0.0, xp=np) + profile(x - 200, 1.0, 30.0, 3.0, 1.0, xp=np)
    assert np.abs(out[2] - full).max() < NEGLIGIBLE * noise[2]
    coarse = peaks_at_points(points, starts, scales, mean, None, None, target, source, slot,
                             np.full(3, 0.01))               # the Lorentzian's 3e-4 is skipped
    assert np.abs(coarse[2]).max() == 0.0
