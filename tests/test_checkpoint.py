"""Orbax checkpoints: round trip, resume after an interruption, mismatches."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import peakflow
from peakflow import checkpoint
from peakflow.experiments.train import check_resumable
from peakflow.policy import init_policy

ROOT = Path(__file__).resolve().parents[1]


def trees_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_round_trip(tmp_path, tiny_config):
    init, step = peakflow.make_train(tiny_config)
    state, _ = jax.jit(step)(init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    mngr = checkpoint.manager(tmp_path / "ckpt")
    checkpoint.save(mngr, state, tiny_config, {"k_accuracy": 0.5})
    mngr.wait_until_finished()
    restored = checkpoint.restore_state(mngr, tiny_config)
    assert int(restored.step) == 1
    assert trees_equal(restored.params, state.params)
    assert trees_equal(restored.opt_state, state.opt_state)
    meta = checkpoint.read_meta(mngr)
    mngr.close()
    assert peakflow.Config.from_dict(meta["config"]) == tiny_config
    assert meta["metrics"] == {"k_accuracy": 0.5}


def test_model_directory_loads_for_inference(tiny_model_dir, tiny_config):
    config, params, _ = checkpoint.load_params(tiny_model_dir)
    assert config == tiny_config
    assert jax.tree.structure(params) == jax.tree.structure(
        init_policy(peakflow.make_policy(config.policy), jax.random.PRNGKey(0), 500))


def test_mismatched_checkpoint_is_named(tmp_path, tiny_config):
    init, _ = peakflow.make_train(tiny_config)
    mngr = checkpoint.manager(tmp_path / "ckpt")
    checkpoint.save(mngr, init(jax.random.PRNGKey(0)), tiny_config)
    mngr.wait_until_finished()
    bigger = peakflow.with_overrides(tiny_config, {"policy.hidden": 32})
    with pytest.raises(ValueError, match="does not match"):
        checkpoint.restore_state(mngr, bigger)
    mngr.close()
    with pytest.raises(ValueError, match="policy.hidden"):
        check_resumable(tiny_config, bigger)
    check_resumable(tiny_config, peakflow.with_overrides(tiny_config, {"train.steps": 99}))


def test_missing_or_corrupt_model_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.load_params(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load_params(tmp_path / "empty")


def run_train(workdir, *extra):
    cmd = [sys.executable, "-m", "peakflow.experiments.train", "--preset", "tiny",
           "--workdir", str(workdir), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_train_module_smoke_run(tmp_path):
    out = run_train(tmp_path / "run", "--steps", "12", "--set", "train.eval_every=6")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "K accuracy" in out.stdout and "model written" in out.stdout
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert [json.loads(line)["step"] for line in text.splitlines()] == [6, 12]
    post = peakflow.infer(np.zeros(500), model=tmp_path / "run" / "model")
    assert post.k_probs.shape == (5,)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGTERM mid-run, resume, and compare with an uninterrupted run of the same seed."""
    settings = ["--set", "train.checkpoint_every=10", "train.eval_every=1000", "--steps", "300"]
    straight = run_train(tmp_path / "straight", *settings)
    assert straight.returncode == 0, straight.stderr[-2000:]

    cmd = [sys.executable, "-m", "peakflow.experiments.train", "--preset", "tiny",
           "--workdir", str(tmp_path / "killed"), *settings]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (ckpts.is_dir() and any(
            p.name.isdigit() for p in ckpts.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, log
    assert "stopped at step" in log
    resumed = run_train(tmp_path / "killed", *settings)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from step" in resumed.stdout

    _, a, _ = checkpoint.load_params(tmp_path / "straight" / "model")
    _, b, _ = checkpoint.load_params(tmp_path / "killed" / "model")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments" / "configs").glob("*.json")),
                         ids=lambda p: p.name)
def test_bundled_config_files_load(path):
    from peakflow.experiments.train import build_config, parse_args

    preset = "paper" if path.name.startswith("paper-short") else "compact"
    config = build_config(parse_args(["--preset", preset, "--config", str(path)]))
    overrides = json.loads(path.read_text())
    for section, values in overrides.items():
        for key, value in values.items():
            assert getattr(getattr(config, section), key) == value
