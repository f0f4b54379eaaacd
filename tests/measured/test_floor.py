"""The data's floor: the lower convex hull, how far a baseline sinks below it, the refit
without the cubic (kept only where it sinks less and fits nearly as well), and the shared
polystyrene spectrum, whose baseline sank 42 noise sds below the data before."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial import ConvexHull

import peakflow
from peakflow.measured.floor import (
    EDGE,
    FLOOR_SIGMAS,
    chi2_allowed,
    depth_below,
    floor_round,
    lower_hull,
    sunk_fits,
    sunk_windows,
)


def _fit(x, y, baseline, noise=1.0, chi2=1.0):
    return SimpleNamespace(x=x, y=y, baseline=baseline, noise=noise, chi2=chi2, error=None)


def test_the_hull_of_a_convex_curve_is_the_curve_and_of_a_bump_on_a_line_the_line():
    x = np.linspace(-3.0, 5.0, 401)
    np.testing.assert_allclose(lower_hull(x, x ** 2), x ** 2, atol=1e-3)  # chords of a fine grid
    line = 2.0 - 0.3 * x
    bump = line + 10.0 * np.exp(-0.5 * ((x - 1.0) / 0.4) ** 2)
    np.testing.assert_allclose(lower_hull(x, bump), line, atol=1e-9)


def test_the_hull_lies_under_noisy_data_is_convex_and_meets_them_at_the_ends():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, 1e3, 2000))
    y = 1e4 * np.exp(-x / 300.0) + rng.normal(0.0, 50.0, x.size) + 5e3 * (np.abs(x - 600) < 20)
    hull = lower_hull(x, y)
    assert np.all(hull <= y + 1e-6 * np.ptp(y))
    slopes = np.diff(hull) / np.diff(x)
    assert np.all(np.diff(slopes) >= -1e-6 * np.ptp(slopes))
    np.testing.assert_allclose(hull[[0, -1]], y[[0, -1]])
    # the largest such function: Qhull's lower facets (an independent construction) agree
    points = np.column_stack([x / np.ptp(x), y / np.ptp(y)])
    facets = ConvexHull(points)
    corners = np.unique(facets.simplices[facets.equations[:, 1] < 0])
    np.testing.assert_allclose(hull, np.interp(x, x[corners], y[corners]), atol=1e-9 * np.ptp(y))


def test_depth_counts_noise_sds_below_the_hull_away_from_the_ends():
    x = np.arange(1000.0)
    y = np.zeros(1000)
    baseline = np.zeros(1000)
    baseline[400:420] = -5.0 * 2.0                       # 5 noise sds (noise 2) in the middle
    assert depth_below(_fit(x, y, baseline, noise=2.0)) == pytest.approx(5.0)
    baseline[:] = 0.0
    baseline[: int(0.5 * EDGE * x.size)] = -100.0        # only at the very start: not counted
    assert depth_below(_fit(x, y, baseline)) == pytest.approx(0.0)
    assert depth_below(_fit(x[::-1], y, baseline[::-1])) == pytest.approx(0.0)  # any x order


def test_the_windows_refitted_are_those_over_the_sunk_stretch_and_their_neighbours():
    x = np.arange(1000.0)
    baseline = np.where(np.abs(x - 500) < 10, -10.0, 0.0)    # sunk around x = 500 only
    fit = _fit(x, np.zeros(1000), baseline)
    starts = np.arange(0.0, 900.0, 150.0)                    # windows of 200, overlapping
    fit.windows = SimpleNamespace(start=starts, stop=starts + 200.0)
    assert sunk_windows(fit).tolist() == [1, 2, 3, 4]        # 2 and 3 hold it, 1 and 4 overlap
    fit.windows = SimpleNamespace(start=starts[::-1] + 200.0, stop=starts[::-1])  # any order
    assert sunk_windows(fit).tolist() == [1, 2, 3, 4]


def _windows(fit, width: float = 200.0, step: float = 150.0):
    starts = np.arange(0.0, fit.x[-1] - width + step, step)
    fit.windows = SimpleNamespace(start=starts, stop=starts + width)
    return fit


def test_a_refit_is_kept_only_where_its_baseline_sinks_less_and_it_fits_nearly_as_well():
    x = np.arange(500.0)
    flat, sunk = np.zeros(500), np.where(np.abs(x - 250) < 30, -10.0, 0.0)
    fits = [_windows(_fit(x, flat, sunk, chi2=5.0)) for _ in range(2)] + [_fit(x, flat, flat)]
    mask = sunk_fits(fits, np.array([True, True, True]))
    assert mask.tolist() == [True, True, False] and FLOOR_SIGMAS < 10.0
    assert not sunk_fits(fits, np.array([False, False, False])).any()
    assert sunk_windows(fits[0]).size == 3        # windows at 0, 150 and 300 hold 220-280
    # 5 + 2 × 4 (twice the misfit) + (12 + 3 √24) / 500 for 3 windows' 4 coefficients
    most = chi2_allowed(5.0, 500, 12)
    assert most == pytest.approx(13.0 + (12.0 + 3.0 * np.sqrt(24.0)) / 500)
    refits = [_fit(x, flat, flat, chi2=most), _fit(x, flat, flat, chi2=most + 0.01)]
    out = floor_round(fits, mask, lambda m: refits[: int(m.sum())])
    assert out[0] is refits[0]                  # sinks less, χ² within the allowance: kept
    assert out[1] is fits[1] and out[2] is fits[2]    # χ² beyond it; never sunk


def test_a_fit_at_the_noise_keeps_its_cubic_unless_the_refit_fits_as_well():
    """χ² 0.99 (the data explained to within their noise): a refit at the floor may raise
    the spectrum's χ² by about what the dropped coefficients explain, not by WORSE times (a
    simulated convex baseline: χ² 0.991 → 1.111 over 1,100 points, Δχ² 132)."""
    x = np.arange(1100.0)
    flat, sunk = np.zeros(1100), np.where(np.abs(x - 500) < 30, -5.0, 0.0)
    fits = [_windows(_fit(x, flat, sunk, chi2=0.991)) for _ in range(2)]
    refits = [_fit(x, flat, flat, chi2=1.111), _fit(x, flat, flat, chi2=1.0)]
    out = floor_round(fits, np.array([True, True]), lambda m: refits)
    assert out[0] is fits[0] and out[1] is refits[1]
    assert chi2_allowed(0.991, 1100, 12) == pytest.approx(0.991 + 26.7 / 1100, abs=1e-4)


def test_the_polystyrene_baseline_stays_on_the_data(data_dir, broad_model):
    path = data_dir / "raman_polystyrene" / "PST_Reflex532_Z050_010_10000msx2.txt"
    fit = peakflow.fit(peakflow.read_spectrum(path), model=broad_model)
    assert depth_below(fit) <= FLOOR_SIGMAS
    assert fit.chi2 < 20.0    # 198 with the baseline 42 noise sds under the data; 46 with each
    #                           window's baseline solved against its own peaks, not the reported
