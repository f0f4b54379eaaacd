"""The removed baseline re-estimated from the data minus the peaks: the banded Whittaker
system, the robust symmetric smoother, the re-estimation on a spectrum with no baseline, and
the pipeline's rounds (a round never raises a spectrum's χ² nor sinks its baseline under the
data's floor)."""

from pathlib import Path

import numpy as np
import pytest

from peakflow.core.lineshape import profile
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.io import read_spectrum
from peakflow.measured import FitOptions, fit_many
from peakflow.measured.floor import FLOOR_SIGMAS, depth_below
from peakflow.measured.points import window_points
from peakflow.measured.prepare import prepare_many
from peakflow.measured.rebaseline import rebaselined, symmetric_baseline, whittaker_bands
from peakflow.measured.window_baseline import SMOOTHNESS


def _dense(weights: np.ndarray, lam: float) -> np.ndarray:
    second = np.diff(np.eye(weights.size), 2, axis=0)
    return np.diag(weights) + lam * second.T @ second


@pytest.mark.parametrize("size", [5, 6, 40])
def test_the_banded_system_is_the_dense_one(size):
    rng = np.random.default_rng(size)
    weights, rhs = rng.uniform(0.1, 2.0, size), rng.normal(size=size)
    from scipy.linalg import solveh_banded

    banded = solveh_banded(whittaker_bands(size, 7.0, weights), rhs)
    np.testing.assert_allclose(banded, np.linalg.solve(_dense(weights, 7.0), rhs), rtol=1e-9,
                               atol=1e-12)


def test_the_symmetric_smoother_follows_the_baseline_and_ignores_narrow_features():
    rng = np.random.default_rng(0)
    g = np.arange(2000.0)
    truth = 5.0 + 3.0 * np.sin(g / 400.0) + 1e-3 * g
    values = truth + rng.normal(0.0, 1.0, g.size)
    for centre in (300, 800, 1500):   # narrow features of 30 noise sds: left-over peaks
        values += profile(g, 30.0, centre, 4.0, 0.5, xp=np)
    noise = np.ones(g.size)
    robust = symmetric_baseline(values, noise, SMOOTHNESS, np.full(g.size, values.mean()))
    plain = np.linalg.solve(_dense(np.ones(g.size), SMOOTHNESS), values)
    at = [300, 800, 1500]
    assert np.max(np.abs(robust - truth)[at]) < 1.0       # the features' low wings still count
    assert np.min((plain - truth)[at]) > 4.0             # what equal weights would do
    assert np.median(np.abs(robust - truth)) < 0.3


def test_re_estimating_from_the_true_peaks_removes_the_arpls_bias(broad_model):
    """A spectrum with no baseline at all: arPLS rides up under the peak cluster; the symmetric
    estimate from the data minus the true peaks does not, and the windows' data points are
    those the new baseline gives."""
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 1000.0, 2048)
    peaks = sum(profile(x, a, c, 3.0, 0.5, xp=np)
                for a, c in [(80, 300), (60, 312), (90, 326), (50, 600), (70, 612)])
    y = peaks + rng.normal(0.0, 1.0, x.size)
    options = FitOptions()
    (prep,) = prepare_many([(y, x)], broad_model.config.sim, [options])
    new = rebaselined(prep, peaks, np.interp(prep.x, prep.grid, prep.baseline),
                      options.smoothness)
    under = np.searchsorted(prep.grid, [300, 312, 326, 600, 612])
    assert np.mean(prep.baseline[under]) > 1.0             # arPLS: above the truth (0)
    assert np.max(np.abs(new.baseline[under])) < 0.5
    again = window_points(prep.x, prep.y, np.full(x.size, prep.noise), prep.grid, new.baseline,
                          prep.starts, prep.scales, prep.windows.shape[1],
                          options.noise_floor)
    np.testing.assert_allclose(new.points.values, again.values, atol=1e-9)
    np.testing.assert_array_equal(new.points.weight, prep.points.weight)
    shift = (prep.baseline - new.baseline)[prep.starts[0]:prep.starts[0] + 256]
    np.testing.assert_allclose(new.windows[0] - prep.windows[0], shift / prep.scales[0],
                               atol=1e-5)


def test_baseline_rounds_never_raise_a_spectrums_chi2(broad_model):
    rng = np.random.default_rng(11)
    pairs = [realistic_spectrum(rng, points=(1500, 2000), peaks=(8, 12))[:2] for _ in range(3)]
    pairs.append((np.full(40, np.nan), np.arange(40.0)))    # a bad item keeps the others
    before = fit_many(pairs, model=broad_model)
    after = fit_many(pairs, model=broad_model, baseline_refits=2)
    assert after[3].error is not None
    for old, new in zip(before[:3], after[:3]):
        assert new.chi2 <= old.chi2 * (1.0 + 3.0 * np.sqrt(2.0 / old.x.size)) + 1e-9
        assert abs(new.num_peaks - old.num_peaks) <= 1
    assert any(not np.array_equal(o.baseline, n.baseline) for o, n in zip(before, after[:3]))


LAB6 = Path(__file__).resolve().parents[3] / "shared" / "data" / "xrd_lab6" / "LaB6_d500_si_psd.xye"


@pytest.mark.skipif(not LAB6.exists(), reason="shared LaB6 pattern not present")
def test_a_round_never_leaves_the_baseline_under_the_datas_floor(broad_model):
    """The LaB6 pattern's round sank its baseline 36 noise sds under the data's lower hull
    (25 after the floor guard, 0 without the round): such a round is refused."""
    spectrum = read_spectrum(LAB6)
    fit = fit_many([spectrum], model=broad_model, baseline_refits=1, coarse=None)[0]
    assert depth_below(fit) <= FLOOR_SIGMAS


@pytest.mark.parametrize("bad", [-1, 1.5, "2"])
def test_baseline_refits_must_be_a_count(bad):
    with pytest.raises(ValueError, match="baseline_refits"):
        FitOptions(baseline_refits=bad)
