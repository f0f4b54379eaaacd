"""The public `peakflow.infer` contract, its bad inputs, and the bundled model's accuracy."""

import jax
import numpy as np
import pytest

import peakflow
from peakflow.metrics import match_peaks
from peakflow.runtime import GRID_MODEL

W = 500


@pytest.fixture
def batch(grid_batch):
    return grid_batch


@pytest.fixture
def post(grid_posterior):
    return grid_posterior


def test_batch_contract(post):
    n, kmax = 64, 4
    assert post.num_peaks.shape == (n,) and post.num_peaks.dtype.kind == "i"
    assert post.k_probs.shape == (n, kmax + 1)
    np.testing.assert_allclose(post.k_probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(post.num_peaks, post.k_probs.argmax(-1))
    for name in ("amplitude", "location", "width", "lorentzian"):
        p = getattr(post, name)
        assert p.mean.shape == p.sd.shape == (n, kmax)
        present = np.arange(kmax)[None, :] < post.num_peaks[:, None]
        assert np.all(np.isfinite(p.mean[present])) and np.all(p.sd[present] > 0)
        assert np.all(np.isnan(p.mean[~present])) and np.all(np.isnan(p.sd[~present]))
    assert post.fitted.shape == (n, W)
    loc = post.location.mean
    assert np.all(np.diff(loc, axis=1)[~np.isnan(np.diff(loc, axis=1))] > 0)  # sorted


def test_single_spectrum_has_no_leading_axis(batch, post):
    one = peakflow.infer(np.asarray(batch.spectrum[3]))
    assert one.num_peaks.shape == () and one.k_probs.shape == (5,)
    assert one.location.mean.shape == (4,) and one.fitted.shape == (W,)
    assert int(one.num_peaks) == int(post.num_peaks[3])
    np.testing.assert_allclose(one.k_probs, post.k_probs[3], rtol=1e-4, atol=1e-6)
    text = repr(one)
    assert "P(K=0)" in text and f"{int(one.num_peaks)} peak(s)" in text
    assert text.count("±") == 4 * int(one.num_peaks)


def test_sample_shapes_and_spread(batch):
    one = peakflow.infer(np.asarray(batch.spectrum[5]))
    draws = one.sample(4000, seed=jax.random.PRNGKey(0))
    assert draws.location.shape == (4000, 4)
    k = int(one.num_peaks)
    np.testing.assert_allclose(draws.location[:, :k].mean(0), one.location.mean[:k],
                               atol=4 * one.location.sd[:k].max() / np.sqrt(4000) + 1e-3)
    np.testing.assert_allclose(draws.amplitude[:, :k].std(0), one.amplitude.sd[:k], rtol=0.1)
    assert np.all(np.isnan(draws.location[:, k:]))


@pytest.mark.slow  # 9 s: 32 sampled trajectories per spectrum
def test_key_gives_monte_carlo_k_probs(batch, post):
    mc = peakflow.infer(np.asarray(batch.spectrum), seed=0)
    np.testing.assert_allclose(mc.k_probs.sum(-1), 1.0, rtol=1e-5)
    assert np.mean(mc.num_peaks == post.num_peaks) > 0.9
    assert not np.allclose(mc.k_probs, post.k_probs)  # averaged over sampled trajectories
    again = peakflow.infer(np.asarray(batch.spectrum), seed=0)
    np.testing.assert_array_equal(again.k_probs, mc.k_probs)  # and reproducible


def test_accepts_lists_ints_and_float64():
    zeros = peakflow.infer([0] * W)
    assert zeros.num_peaks.shape == ()
    assert peakflow.infer(np.zeros((2, W), np.float64)).num_peaks.shape == (2,)


@pytest.mark.parametrize("bad, error, match", [
    (np.full(W, np.nan), ValueError, "NaN"),
    (np.r_[np.zeros(W - 1), np.inf], ValueError, "inf"),
    (np.zeros(0), ValueError, "empty"),
    (np.zeros((0, W)), ValueError, "empty"),
    (np.zeros((2, 2, W)), ValueError, "shape"),
    (np.float32(1.0), ValueError, "shape"),
    (np.zeros(300), ValueError, "length 300"),
    (np.array(["a"] * W), TypeError, "real numbers"),
    (np.zeros(W, complex), TypeError, "real numbers"),
    ([[0.0] * W, [0.0] * 3], ValueError, "rectangular"),
    (np.full((3, W), np.nan), ValueError, "all 3 rows"),
])
def test_bad_input_is_named(bad, error, match):
    with pytest.raises(error, match=match):
        peakflow.infer(bad)


def test_bad_rows_do_not_cost_the_good_ones(batch, post):
    x = np.array(batch.spectrum[:4])
    x[2, 10] = np.nan
    with pytest.warns(RuntimeWarning, match="rows \\[2\\]"):
        mixed = peakflow.infer(x)
    np.testing.assert_array_equal(mixed.valid, [True, True, False, True])
    assert mixed.num_peaks[2] == -1 and np.all(np.isnan(mixed.k_probs[2]))
    assert "NaN" in mixed.errors[2] and mixed.errors[0] is None
    np.testing.assert_array_equal(mixed.num_peaks[[0, 1, 3]], post.num_peaks[[0, 1, 3]])
    np.testing.assert_allclose(mixed.location.mean[[0, 1, 3]], post.location.mean[[0, 1, 3]],
                               rtol=1e-5)


def test_fits_far_from_the_models_noise_are_flagged(batch, post):
    assert post.chi2.shape == (64,) and np.all((post.chi2 > 0.6) & (post.chi2 < 1.6))
    x = np.array(batch.spectrum[:3])
    x[1] = 100 * x[1] + 3  # e.g. a measured spectrum in its own units
    with pytest.warns(RuntimeWarning, match=r"rows \[1\]\): not on this model's grid"):
        mixed = peakflow.infer(x)
    assert mixed.chi2[1] > 4 and np.all(mixed.chi2[[0, 2]] < 2)
    with pytest.warns(RuntimeWarning, match="for measured spectra use peakflow.fit"):
        one = peakflow.infer(x[1])
    assert float(one.chi2) > 4 and "reduced χ²" in repr(one)


def test_model_argument_and_wrong_grid(tiny_model_dir):
    post = peakflow.infer(np.zeros(W), model=tiny_model_dir)
    assert post.k_probs.shape == (5,)
    model = peakflow.load_model(tiny_model_dir)
    assert peakflow.infer(np.zeros(W), model=model).k_probs.shape == (5,)
    with pytest.raises(FileNotFoundError):
        peakflow.infer(np.zeros(W), model="/nonexistent/model")


def test_no_recompilation_across_batch_sizes():
    model = peakflow.load_model()
    peakflow.infer(np.zeros((3, W)), model=model)
    before = model._predict(32).signatures
    for n in (1, 5, 8):
        peakflow.infer(np.zeros((n, W)), model=model)
    peakflow.infer(np.zeros(W), model=model)
    assert model._predict(32).signatures == before


def test_memory_mapped_input_is_streamed_in_chunks(tmp_path, batch, post):
    """A .npy opened with mmap_mode streams chunk by chunk, with the same results."""
    path = tmp_path / "spectra.npy"
    np.save(path, np.asarray(batch.spectrum))
    streamed = peakflow.infer(np.load(path, mmap_mode="r"), progress=True, chunk_size=16)
    np.testing.assert_array_equal(streamed.num_peaks, post.num_peaks)
    np.testing.assert_allclose(streamed.k_probs, post.k_probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(streamed.location.mean, post.location.mean, rtol=1e-5)
    np.testing.assert_allclose(streamed.fitted, post.fitted, atol=1e-5)


# --- the bundled model recovers known parameters from simulated spectra -------------------

def test_bundled_model_exists():
    assert (GRID_MODEL).is_dir(), "the default model must ship inside the package"


def test_bundled_model_counts_peaks(post, batch):
    accuracy = np.mean(post.num_peaks == np.asarray(batch.num_peaks))
    assert accuracy >= 0.95
    assert np.median(post.log_likelihood) > 1450


def test_bundled_model_recovers_parameters(post, batch):
    right = post.num_peaks == np.asarray(batch.num_peaks)
    mask = np.asarray(batch.mask)[right]
    idx = match_peaks(np.asarray(batch.peaks.location)[right], mask,
                      post.location.mean[right])
    assert np.all(idx[mask] >= 0)
    errors = {}
    for name in ("amplitude", "location", "width", "lorentzian"):
        est = np.take_along_axis(getattr(post, name).mean[right], np.maximum(idx, 0), axis=1)
        errors[name] = np.median(np.abs(est - np.asarray(getattr(batch.peaks, name))[right])[mask])
    assert errors["location"] < 0.5      # grid points
    assert errors["amplitude"] < 0.02
    assert errors["width"] < 0.5
    assert errors["lorentzian"] < 0.15


def test_single_known_peak_is_recovered_with_sensible_uncertainty():
    omega = np.arange(W, dtype=np.float32)
    truth = peakflow.Peaks(0.5, 231.3, 8.0, 0.4)
    clean = np.asarray(peakflow.core.pseudo_voigt(omega, truth))
    noisy = clean + 0.01 * np.random.default_rng(0).standard_normal(W)
    post = peakflow.infer(noisy)
    assert int(post.num_peaks) == 1
    for name, tol in [("location", 0.5), ("amplitude", 0.02), ("width", 0.5)]:
        p = getattr(post, name)
        assert abs(p.mean[0] - getattr(truth, name)) < tol
        assert 0 < p.sd[0] < tol
