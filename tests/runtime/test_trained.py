"""`TrainedModel`: loading, padded and chunked prediction, sharding over forced host devices
(those cases run in a fresh process: the device count must be set before JAX starts)."""

import json

import numpy as np
import pytest
from conftest import run_python, simulate

import peakflow


def test_load_model_resolves_once(default_model, tiny_model_dir):
    assert peakflow.load_model() is default_model  # the bundled default, cached
    assert peakflow.load_model(default_model) is default_model
    tiny = peakflow.load_model(tiny_model_dir)
    assert tiny is peakflow.load_model(str(tiny_model_dir)) and tiny.num_points == 500
    assert tiny.k_max == tiny.config.model.k_max == 4


def test_padded_sizes_are_few(default_model):
    sizes = {default_model.padded_size(n) for n in range(1, 1025)}
    assert sizes == {8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024}
    assert all(default_model.padded_size(n) >= n for n in range(1, 1025))
    assert default_model.padded_size(3, min_batch=64) == 64


def test_chunks_and_padding_do_not_change_results(default_model):
    x = np.asarray(simulate(37, seed=4).spectrum)
    whole = default_model.predict(x)
    parts = default_model.predict(x, chunk_size=10, min_batch=64)
    assert whole.q.loc.shape == (37, 4, 4) and whole.q.scale_tril.shape == (37, 4, 4, 4)
    assert whole.fitted is None
    np.testing.assert_array_equal(parts.num_peaks, whole.num_peaks)
    np.testing.assert_allclose(parts.k_probs, whole.k_probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(parts.q.loc, whole.q.loc, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(parts.q.scale_tril, whole.q.scale_tril, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="chunk_size must be positive"):
        default_model.predict(x, chunk_size=0)


@pytest.mark.slow  # 20 s: compiles for a 2-device mesh
def test_chunked_sharded_inference_equals_unchunked(tmp_path):
    x = np.asarray(simulate(50, seed=3).spectrum)
    np.save(tmp_path / "x.npy", x)
    run_python(["-c", f"""
        import numpy as np, peakflow
        post = peakflow.infer(np.load("{tmp_path / 'x.npy'}", mmap_mode="r"), chunk_size=16)
        np.savez("{tmp_path / 'out.npz'}", k=post.num_peaks, p=post.k_probs,
                 loc=post.location.mean, sd=post.amplitude.sd)
    """], devices=4)
    got = np.load(tmp_path / "out.npz")
    want = peakflow.infer(x)  # one device, one chunk
    np.testing.assert_array_equal(got["k"], want.num_peaks)
    np.testing.assert_allclose(got["p"], want.k_probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["loc"], want.location.mean, rtol=1e-5)
    np.testing.assert_allclose(got["sd"], want.amplitude.sd, rtol=1e-4)


def _stream(n: int, devices: int, chunk: int = 1024) -> dict:
    out = run_python(["-m", "peakflow.experiments.stream", "--n", str(n), "--chunk", str(chunk)],
                     devices=devices, timeout=3000).stdout
    return json.loads(out[out.index("{"):])


@pytest.mark.slow
def test_memory_mapped_stream_keeps_memory_bounded():
    """Heap growth while streaming does not hold the input: 4x the spectra (19 -> 76 MB on
    disk) adds only the O(N·K_max) results (~1.2 kB per spectrum at peak with the correlated
    family's Cholesky factors, against 2 kB of input), less than the extra input (loading it
    would add all of it on top of the results)."""
    small, large = _stream(10_000, 2, chunk=128), _stream(40_000, 2, chunk=128)
    assert large["spectra"] == 40_000
    extra_input = large["input_mib"] - small["input_mib"]
    assert large["growth_mib"] - small["growth_mib"] < 0.8 * extra_input, (small, large)
    assert large["growth_mib"] < 200, large


@pytest.mark.slow
def test_million_spectra_stream_keeps_memory_bounded():
    result = _stream(1_000_000, devices=1)
    assert result["growth_mib"] < 0.8 * result["input_mib"], result


def test_early_exit_equals_the_full_rollout(broad_model):
    """Windows that have surely stopped skip the last steps; nothing a caller reads changes
    beyond the early-exit threshold."""
    from peakflow.experiments.bench_measured import mixed_spectra
    from peakflow.measured.options import FitOptions
    from peakflow.measured.prepare import prepare_many
    from peakflow.runtime.trained import EARLY_EXIT

    pairs = mixed_spectra(12, 3)
    prepared = prepare_many(pairs, broad_model.config.sim, [FitOptions()] * len(pairs),
                            raise_errors=True)
    windows = np.concatenate([p.windows for p in prepared])
    noise = np.concatenate([p.noise_model for p in prepared])
    early = broad_model.predict_chunk(windows, noise)
    full = broad_model.predict_chunk(windows, noise, early_exit=False)
    assert 0 < np.mean(early.num_peaks < broad_model.k_max // 2)  # some rows did stop early
    np.testing.assert_array_equal(early.num_peaks, full.num_peaks)
    np.testing.assert_allclose(early.k_probs, full.k_probs, atol=EARLY_EXIT)
    present = np.arange(broad_model.k_max)[None] < full.num_peaks[:, None]
    for name in full.q._fields:
        np.testing.assert_allclose(np.asarray(getattr(early.q, name))[present],
                                   np.asarray(getattr(full.q, name))[present],
                                   rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(early.log_lik, full.log_lik, rtol=1e-5)


def test_warm_steps_run_every_program_the_early_rollout_can_meet(broad_model):
    """After `warm_steps` for chunks of 8 and 32 rows, predicting any count of windows up to
    32 runs no new step program (the rows come from the ladder)."""
    from peakflow.runtime.saved_programs import _ALL

    assert broad_model.warm_steps(rows=(8, 32)) == (2 + 1) + (2 + 2)
    met = lambda: {(id(p), s) for p in list(_ALL) for s in p.shapes()
                   if p.name in ("start_residual", "advance_rows", "summarise")}
    before = met()
    rng = np.random.default_rng(0)
    for count in (1, 5, 9, 17, 30):
        broad_model.predict(rng.normal(0.0, 0.05, (count, broad_model.num_points)))
    assert met() == before
