"""Shared fixtures and helpers: the bundled models (loaded once), simulated data, a tiny model
on disk, the real-data folder, and one launcher for code that must run in a fresh process.

Compiled XLA programs are shared across the session's tests and the processes they start
through a persistent compilation cache in a fresh temporary folder (so a run starts cold, as
on a new machine, but compiles an identical program once): tests build new jitted closures of
the same functions (a model loaded again, a training step made again), which the in-memory
cache cannot see. ``PEAKFLOW_TEST_XLA_CACHE=0`` turns it off.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

if os.environ.get("PEAKFLOW_TEST_XLA_CACHE", "1") != "0":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="peakflow-xla-"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
else:
    os.environ.setdefault("PEAKFLOW_CACHE_DIR", "0")  # not the user's cache either

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peakflow
from peakflow.runtime import GRID_MODEL, MEASURED_MODEL, sealed

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def simulate(n: int, seed: int = 0, **overrides) -> peakflow.core.Simulated:
    """`n` spectra of the paper's setting (or with `SimulatorConfig` overrides)."""
    return peakflow.core.simulate_batch(jax.random.PRNGKey(seed),
                                   peakflow.config.SimulatorConfig(**overrides), n)


def run_python(args: list[str], devices: int | None = None, timeout: int = 600,
               check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` in the repository root in a fresh process.

    Args:
      args: e.g. ``["-m", "peakflow.experiments.train", ...]`` or ``["-c", code]`` (code is
        dedented).
      devices: force this many host devices (XLA must see the flag before JAX starts).
      check: assert a zero exit status (showing the end of stderr otherwise).
      env: the environment (default: this process's).
    """
    env = dict(os.environ if env is None else env)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    if args and args[0] == "-c":
        args = ["-c", textwrap.dedent(args[1]), *args[2:]]
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def default_model() -> peakflow.TrainedModel:
    return peakflow.load_model(GRID_MODEL)


@pytest.fixture(scope="session")
def broad_model() -> peakflow.TrainedModel:
    return peakflow.load_model(MEASURED_MODEL)


@pytest.fixture(scope="session")
def grid_batch() -> peakflow.core.Simulated:
    """64 spectra of the paper's setting (seed 7)."""
    return simulate(64, seed=7)


@pytest.fixture(scope="session")
def grid_posterior(grid_batch, default_model) -> peakflow.Posterior:
    """The bundled default model's posterior of `grid_batch`."""
    return peakflow.infer(np.asarray(grid_batch.spectrum), model=default_model)


@pytest.fixture(scope="session")
def tiny_config():
    return peakflow.config.preset("tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_config):
    """An untrained-but-valid tiny model exported to disk (fast; for contract tests)."""
    init, _ = peakflow.core.make_train(tiny_config)
    state = init(jax.random.PRNGKey(0))
    return sealed.export_model(state, tiny_config, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def data_dir():
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return DATA


# the reference-fit tests' easy two-peak spectrum with known truth
EASY_TRUTH = peakflow.Peaks(np.array([[0.6, 0.35]]), np.array([[150.0, 320.0]]),
                       np.array([[9.0, 6.0]]), np.array([[0.3, 0.8]]))


@pytest.fixture(scope="session")
def truth():
    """The easy spectrum's two peaks, fields (1, 2)."""
    return EASY_TRUTH


@pytest.fixture(scope="session")
def easy():
    """(spectra (1, 500) with noise sd 0.01, num_peaks (1,)) of the `truth` peaks."""
    omega = np.arange(500, dtype=np.float32)
    mask = np.array([True, True])
    clean = peakflow.core.peak_sum(omega, jax.tree.map(lambda a: jnp.asarray(a[0], jnp.float32),
                                                       EASY_TRUTH), mask)
    noisy = np.asarray(clean) + 0.01 * np.random.default_rng(1).standard_normal(500)
    return noisy[None].astype(np.float32), np.array([2])


def _assert_recovers(mean, sd=None, tol=(0.03, 0.5, 0.5, 0.15)):
    order = np.argsort(mean.location[0, :2])
    for name, t in zip(peakflow.Peaks._fields, tol):
        est = np.asarray(getattr(mean, name))[0, :2][order]
        np.testing.assert_allclose(est, getattr(EASY_TRUTH, name)[0], atol=t, err_msg=name)
        if sd is not None:
            s = np.asarray(getattr(sd, name))[0, :2]
            assert np.all((s > 0) & (s < t)), (name, s)


@pytest.fixture(scope="session")
def assert_recovers():
    """``assert_recovers(mean, sd=None)``: both peaks within tolerance, sds positive and
    below it."""
    return _assert_recovers
