"""``python -m peakflow.experiments.train``: a run, a killed run resumed to the same weights,
and the bundled configuration files."""

import json
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, run_python

import peakflow
from peakflow.runtime import checkpoint

SETTINGS = ["--preset", "tiny", "--steps", "200", "--set", "train.checkpoint_every=50",
            "train.eval_every=100", "model.k_max=2", "sim.k_max=2"]


def train_command(workdir):
    return ["-m", "peakflow.experiments.train", "--workdir", str(workdir), *SETTINGS]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """An uninterrupted run's work directory."""
    workdir = tmp_path_factory.mktemp("train") / "straight"
    out = run_python(train_command(workdir))
    return workdir, out.stdout


@pytest.mark.slow  # 40 s: a whole training run in a subprocess
def test_a_run_logs_validates_and_exports_a_model(straight_run):
    workdir, stdout = straight_run
    assert "K accuracy" in stdout and "model written" in stdout
    text = (workdir / "metrics.jsonl").read_text()
    assert [json.loads(line)["step"] for line in text.splitlines()] == [100, 200]
    post = peakflow.infer(np.zeros(500), model=workdir / "model")
    assert post.k_probs.shape == (3,)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path, straight_run):
    """A run stopped by SIGTERM and resumed: the same weights as the uninterrupted run."""
    proc = subprocess.Popen([sys.executable, *train_command(tmp_path / "killed")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (ckpts.is_dir() and any(
            p.name.isdigit() for p in ckpts.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, log
    assert "stopped at step" in log
    resumed = run_python(train_command(tmp_path / "killed"))
    assert "resumed from step" in resumed.stdout

    _, a, _ = checkpoint.load_params(straight_run[0] / "model")
    _, b, _ = checkpoint.load_params(tmp_path / "killed" / "model")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _finished(ckpts):
    return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) \
        if ckpts.is_dir() else []


def _kill_when(proc, ready, timeout=300.0):
    """SIGKILL `proc` as soon as ``ready()`` holds (polled every 2 ms); whether it held."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if ready():
            proc.kill()
            break
        time.sleep(0.002)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


def _after_a_new_checkpoint(ckpts, delay):
    """A condition that holds `delay` seconds after a checkpoint newer than the present ones
    is finished."""
    before, seen = len(_finished(ckpts)), []

    def ready():
        if len(_finished(ckpts)) > before and not seen:
            seen.append(time.time())
        return bool(seen) and time.time() - seen[0] > delay

    return ready


@pytest.mark.slow
def test_runs_killed_with_sigkill_resume_to_the_same_weights(tmp_path, straight_run):
    """kill -9 three times (once while a checkpoint is being written, twice at random moments
    after a checkpoint), then a run to the end: the same weights as the uninterrupted run."""
    workdir, rng = tmp_path / "killed", np.random.default_rng(0)
    ckpts = workdir / "checkpoints"
    start = lambda: subprocess.Popen([sys.executable, *train_command(workdir)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    writing = lambda: ckpts.is_dir() and any("tmp" in p.name for p in ckpts.iterdir())
    assert _kill_when(start(), writing), "no checkpoint write to interrupt"
    for _ in range(2):
        assert _kill_when(start(), _after_a_new_checkpoint(ckpts, rng.uniform(0.0, 1.0)))
    resumed = run_python(train_command(workdir))
    assert "resumed from step" in resumed.stdout and "model written" in resumed.stdout
    _, a, _ = checkpoint.load_params(straight_run[0] / "model")
    _, b, _ = checkpoint.load_params(workdir / "model")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments" / "configs").glob("*.json")),
                         ids=lambda p: p.name)
def test_bundled_config_files_load(path):
    from peakflow.experiments.train import build_config, parse_args

    preset = "paper" if path.name.startswith("paper-short") else "compact"
    config = build_config(parse_args(["--preset", preset, "--config", str(path)]))
    stored = json.loads(json.dumps(config.to_dict()))  # tuples as lists, as in the file

    def check(overrides, node, where):
        for key, value in overrides.items():
            if isinstance(value, dict):
                check(value, node[key], f"{where}{key}.")
            else:
                assert node[key] == value, f"{where}{key}"

    check(json.loads(path.read_text()), stored, "")


def test_next_stop_lands_on_every_validation_and_checkpoint():
    from peakflow.experiments.train import next_stop

    cfg = peakflow.config.with_overrides(peakflow.config.preset("tiny"), {
        "train.steps": 130, "train.eval_every": 40, "train.checkpoint_every": 30})
    stops, step = [], 0
    while step < 130:
        step = next_stop(step, cfg, per_call=50)
        stops.append(step)
    assert stops == list(range(10, 131, 10))  # gcd(40, 30, 50) = 10
    assert next_stop(125, cfg, per_call=50) == 130


def test_warm_start_copies_the_arrays_that_match():
    from peakflow.core.policy import init_policy, make_policy
    from peakflow.experiments.train import warm_start

    cfg = peakflow.config.preset("tiny")
    source = init_policy(make_policy(cfg.policy, "mean_field"), jax.random.PRNGKey(1), 500)
    target = init_policy(make_policy(cfg.policy, "correlated"), jax.random.PRNGKey(2), 500)
    merged, copied = warm_start(target, source)
    leaves = jax.tree_util.tree_leaves_with_path(merged)
    assert copied == len(leaves) - 2  # all but the output layer's kernel and bias (9 vs 15)
    src = dict(jax.tree_util.tree_leaves_with_path(source))
    for path, leaf in leaves:
        same = path in src and src[path].shape == leaf.shape
        expected = src[path] if same else dict(jax.tree_util.tree_leaves_with_path(target))[path]
        np.testing.assert_array_equal(leaf, expected)
