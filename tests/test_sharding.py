"""Data parallelism on forced host devices (each case runs in a fresh process, because
``--xla_force_host_platform_device_count`` must be set before JAX starts)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import peakflow

ROOT = Path(__file__).resolve().parents[1]


def run_with_devices(code: str, devices: int = 4, timeout: int = 600) -> str:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_sharded_training_step_equals_single_device_step():
    out = run_with_devices("""
        import jax, numpy as np, peakflow
        from peakflow.devices import data_mesh, replicated
        cfg = peakflow.with_overrides(peakflow.preset("tiny"), {"train.batch_size": 16})
        key, params = jax.random.PRNGKey(0), []
        for mesh in (None, data_mesh()):
            init, step = peakflow.make_train(cfg, mesh)
            state = init(key)
            if mesh is not None:
                state = jax.device_put(state, replicated(mesh))
            step = jax.jit(step)
            for _ in range(3):
                state, _ = step(state, key)
            params.append(state.params)
        sharded = jax.tree.leaves(params[1])[0]
        assert len(sharded.sharding.device_set) == 4
        for a, b in zip(jax.tree.leaves(params[0]), jax.tree.leaves(params[1])):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        print("devices", jax.device_count())
    """)
    assert "devices 4" in out


def test_batch_that_does_not_split_is_refused():
    out = run_with_devices("""
        import peakflow
        from peakflow.devices import data_mesh
        cfg = peakflow.with_overrides(peakflow.preset("tiny"), {"train.batch_size": 10})
        try:
            peakflow.make_train(cfg, data_mesh())
        except ValueError as err:
            print("refused:", err)
    """)
    assert "does not split over 4 devices" in out


def test_chunked_sharded_inference_equals_unchunked(tmp_path):
    data = peakflow.simulate_batch(jax.random.PRNGKey(3), peakflow.SimulatorConfig(), 50)
    x = np.asarray(data.spectrum)
    np.save(tmp_path / "x.npy", x)
    run_with_devices(f"""
        import numpy as np, peakflow
        post = peakflow.infer(np.load("{tmp_path / 'x.npy'}", mmap_mode="r"), chunk_size=16)
        np.savez("{tmp_path / 'out.npz'}", k=post.num_peaks, p=post.k_probs,
                 loc=post.location.mean, sd=post.amplitude.std)
    """)
    got = np.load(tmp_path / "out.npz")
    want = peakflow.infer(x)  # one device, one chunk
    np.testing.assert_array_equal(got["k"], want.num_peaks)
    np.testing.assert_allclose(got["p"], want.k_probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["loc"], want.location.mean, rtol=1e-5)
    np.testing.assert_allclose(got["sd"], want.amplitude.std, rtol=1e-4)


def _stream(n: int, devices: int, chunk: int = 1024) -> dict:
    out = run_with_devices(f"""
        from peakflow.experiments.stream import main
        main(["--n", "{n}", "--chunk", "{chunk}"])
    """, devices=devices, timeout=3000)
    return json.loads(out[out.index("{"):])


def test_memory_mapped_stream_keeps_memory_bounded():
    """Heap growth while streaming does not hold the input: 4x the spectra (19 -> 76 MB on
    disk) adds only the O(N·K_max) results (~0.5 kB per spectrum against 2 kB of input),
    under half of the extra input (loading it would add at least all of it)."""
    small, large = _stream(10_000, 2, chunk=128), _stream(40_000, 2, chunk=128)
    assert large["spectra"] == 40_000
    extra_input = large["input_mib"] - small["input_mib"]
    assert large["growth_mib"] - small["growth_mib"] < 0.5 * extra_input, (small, large)
    assert large["growth_mib"] < 200, large


@pytest.mark.slow
def test_million_spectra_stream_keeps_memory_bounded():
    result = _stream(1_000_000, devices=1)
    assert result["growth_mib"] < 0.25 * result["input_mib"], result
