"""Joint refinement and pruning of a window's peaks: recovery from a perturbed start, a
superfluous peak dropped, a real one kept, the Laplace sds, and the NIST files."""

from pathlib import Path

import numpy as np
import pytest

import peakflow
from peakflow.core.amortized import Prediction
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.lineshape import profile
from peakflow.measured.points import WindowPoints
from peakflow.measured.refine import _refine_chunk, heads_sd_bounds, refine_predictions

W, NOISE = 256, 0.01
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nist_strd"


def _window(peaks: list[tuple[float, float, float, float]], seed: int = 0) -> np.ndarray:
    """(1, W) peaks (α, c, γ, η) on a linear baseline, with noise of sd `NOISE`."""
    omega = np.arange(W, dtype=np.float64)
    y = 0.05 + 1e-4 * omega + np.random.default_rng(seed).normal(0.0, NOISE, W)
    for a, c, g, e in peaks:
        y += profile(omega, a, c, g, e, xp=np)
    return y[None].astype(np.float32)


def _prediction(starts: list[tuple[float, float, float, float]], k_max: int = 8) -> Prediction:
    """One window's `Prediction` whose first slots start at `starts` (α, c, γ, η)."""
    loc = np.zeros((1, k_max, 4), np.float32)
    for i, (a, c, g, e) in enumerate(starts):
        loc[0, i] = np.log(a), c, np.log(g), np.log(e / (1 - e))
    tril = np.broadcast_to(0.01 * np.eye(4, dtype=np.float32), (1, k_max, 4, 4)).copy()
    k_probs = np.zeros((1, k_max + 1), np.float32)
    k_probs[0, len(starts)] = 1.0
    return Prediction(k_probs, np.array([len(starts)], np.int32), CorrelatedQ(loc, tril), None,
                      np.zeros(1, np.float32))


def _refine(window: np.ndarray, pred: Prediction, broad_model, omega: np.ndarray | None = None,
            deviation_sd: float = 0.0) -> Prediction:
    """`refine_predictions` of one window whose points are at `omega` (default: the grid)."""
    omega = np.arange(window.shape[1], dtype=np.float64) if omega is None else omega
    points = WindowPoints(omega[None], window.astype(np.float64),
                          np.full(window.shape, 1.0 / NOISE), np.zeros(window.shape))
    heads = broad_model.config.model.heads
    return refine_predictions(pred, points, np.full(1, deviation_sd), W, 3, 1e5,
                              heads_sd_bounds(heads))[0]


def test_a_perturbed_start_is_refined_to_the_truth(broad_model):
    truth = [(0.8, 100.0, 5.0, 0.3), (0.4, 118.0, 4.0, 0.6)]
    out = _refine(_window(truth), _prediction([(0.7, 102.0, 6.0, 0.5), (0.5, 116.0, 3.0, 0.5)]),
                  broad_model)
    assert out.num_peaks[0] == 2
    u = out.q.loc[0, :2].astype(np.float64)
    sd = np.sqrt(np.sum(out.q.scale_tril[0, :2].astype(np.float64) ** 2, axis=-1))
    # the means are the refined values (log α, log γ shifted by half their variance)
    amplitude = np.exp(u[:, 0] + 0.5 * sd[:, 0] ** 2)
    np.testing.assert_allclose(amplitude, [0.8, 0.4], rtol=0.05)
    np.testing.assert_allclose(u[:, 1], [100.0, 118.0], atol=0.3)
    assert np.all(np.abs(u[:, 1] - [100.0, 118.0]) < 4 * sd[:, 1])  # honest location sds
    assert out.k_probs[0, 2] == pytest.approx(1.0)


def test_a_superfluous_shoulder_is_dropped_and_a_real_one_kept(broad_model):
    one = _window([(1.0, 120.0, 5.0, 0.4)], seed=1)
    shoulder = (0.05, 131.0, 4.0, 0.5)   # the policy's second guess: not in the data
    out = _refine(one, _prediction([(0.95, 119.0, 5.5, 0.4), shoulder]), broad_model)
    assert out.num_peaks[0] == 1
    assert np.exp(out.q.loc[0, 0, 0]) == pytest.approx(1.0, rel=0.05)
    assert out.k_probs[0, 1] == pytest.approx(1.0)  # P(K) counts only the kept peak

    two = _window([(1.0, 120.0, 5.0, 0.4), (0.08, 134.0, 4.0, 0.5)], seed=1)  # 8 noise sd
    out = _refine(two, _prediction([(0.95, 119.0, 5.5, 0.4), shoulder]), broad_model)
    assert out.num_peaks[0] == 2


def test_peaks_are_fitted_where_the_data_are_not_on_a_resampled_grid(broad_model):
    """Data 1.37 grid points apart (no resampling: the points' own positions), almost no
    noise: the height comes back to 0.1 %, where a grid interpolated from them would be
    ~2 % low for this narrow peak."""
    omega = np.arange(0.0, W - 1, 1.37)
    truth = (1.0, 120.3, 3.0, 0.2)
    y = 0.05 + profile(omega, *truth, xp=np) + np.random.default_rng(0).normal(0, 1e-5,
                                                                              omega.size)
    out = _refine(y[None], _prediction([(0.9, 121.0, 3.5, 0.4)]), broad_model, omega)
    sd = np.sqrt(np.sum(out.q.scale_tril[0, 0].astype(np.float64) ** 2, axis=-1))
    assert np.exp(out.q.loc[0, 0, 0] + 0.5 * sd[0] ** 2) == pytest.approx(1.0, rel=1e-3)
    assert out.q.loc[0, 0, 1] == pytest.approx(120.3, abs=0.01)


def test_a_baseline_deviation_prior_widens_the_height_most(broad_model):
    """κ > 0: the height trades off against the smooth baseline under the peak, so its sd
    grows, and more than the location's."""
    window = _window([(0.5, 128.0, 8.0, 0.5)], seed=2)
    start = _prediction([(0.45, 127.0, 9.0, 0.5)])
    sds = [np.sqrt(np.sum(_refine(window, start, broad_model, deviation_sd=k * NOISE)
                          .q.scale_tril[0, 0].astype(np.float64) ** 2, axis=-1))
           for k in (0.0, 1.0)]
    assert sds[1][0] > 1.3 * sds[0][0]
    assert sds[1][1] / sds[0][1] < sds[1][0] / sds[0][0]


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("name", ["Gauss1", "Gauss2", "Gauss3"])
def test_nist_files_give_exactly_their_two_certified_peaks(name):
    """Two Gaussians on an exponential decay: the decay goes to the baseline (broad or edge
    components whose height the window does not determine), not into peaks."""
    fit = peakflow.fit(peakflow.read_spectrum(DATA / f"{name}.dat"))
    assert fit.num_peaks == 2
    assert np.all(fit.peaks.probability > 0.9)


def test_padding_rows_are_refined_but_never_pruned():
    """A chunk is padded with copies of its windows; pruning them again would only cost."""
    rows, bucket, count = 12, 2, 7
    seen = []

    def first(u, mask, *rest):
        n = u.shape[0]
        return u, mask, np.zeros(n), np.ones(n, bool), np.zeros((n, 4 * bucket, 4 * bucket))

    def more(u, mask, chi2, *rest):
        seen.extend(u[:, 0, 0].tolist())
        n = u.shape[0]   # every try removes a peak, so the windows go on while tries are left
        return u, mask, chi2, np.ones(n, bool), np.zeros((n, 4 * bucket, 4 * bucket))

    u = np.zeros((rows, bucket, 4))
    u[:, 0, 0] = np.arange(rows)                 # each row's index, to see which are pruned
    points = tuple(np.zeros((rows, 3)) for _ in range(4))
    _refine_chunk((first, more), u, np.ones((rows, bucket), bool), points, np.zeros((rows, 3)),
                  np.zeros((rows, 6)), bucket, count)
    assert set(seen) <= set(range(count)) and set(range(count)) <= set(seen)


def test_a_refit_starts_from_the_refined_optimum_and_keeps_every_peak(broad_model):
    """Refitting a refinement's peaks on the same data is a fixed point (after the first
    refit, which finishes what 8 steps from the policy's start left): it starts at the means
    the Laplace q is centred on, not at q's shifted loc, and drops no peak."""
    truth = [(0.8, 100.0, 5.0, 0.3), (0.4, 118.0, 4.0, 0.6), (0.05, 180.0, 30.0, 0.5)]
    window = _window(truth)
    fits = [_refine(window, _prediction([(0.7, 102.0, 6.0, 0.5), (0.5, 116.0, 3.0, 0.5),
                                         (0.05, 180.0, 30.0, 0.5)]), broad_model)]
    points = WindowPoints(np.arange(W, dtype=np.float64)[None], window.astype(np.float64),
                          np.full(window.shape, 1.0 / NOISE), np.zeros(window.shape))
    for _ in range(2):
        fits.append(refine_predictions(fits[-1], points, np.zeros(1), W, 3, 1e5,
                                       heads_sd_bounds(broad_model.config.model.heads),
                                       refit=True)[0])
    assert [int(f.num_peaks[0]) for f in fits] == [3, 3, 3]
    for a, b in zip(fits[1].q.mean(), fits[2].q.mean()):
        np.testing.assert_allclose(np.asarray(b)[0, :3], np.asarray(a)[0, :3], rtol=5e-3)


def _signatures(name: str) -> set:
    from peakflow.runtime.saved_programs import _ALL

    return {(id(p), shapes) for p in list(_ALL) if p.name == name for shapes in p.shapes()}


def test_warm_runs_the_programs_a_fit_then_finds(broad_model):
    """`refine.warm` runs the very programs (same instances, same signatures) that a fit
    meets: after warming 8-row batches of 1-2 peak slots, a short spectrum whose windows hold
    one or two peaks adds no refinement program of those shapes."""
    from peakflow.measured import refine
    from peakflow.measured.options import FitOptions

    degree = broad_model.config.model.baseline_degree
    assert refine.warm(broad_model.num_points, degree, FitOptions().smoothness, rows=(8,),
                       buckets=(1, 2)) == 2 * 2 * 2 * 2
    before = {name: _signatures(name) for name in ("refine_first", "refine_more")}
    x = np.linspace(0.0, 100.0, 400)
    peakflow.fit(100.0 * profile(x, 1.0, 50.0, 2.0, 0.5, np) + 0.01 * np.sin(x), x,
                 model=broad_model)
    for name, old in before.items():
        new = _signatures(name) - old
        assert all(shapes[0][0] != 8 or shapes[0][1] > 2 for _, shapes in new)
    assert any(shapes[0][:2] in ((8, 1), (8, 2)) for _, shapes in before["refine_first"])
