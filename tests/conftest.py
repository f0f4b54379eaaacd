"""Shared fixtures and helpers: the bundled models (loaded once), simulated data, a tiny model
on disk, the real-data folder, and one launcher for code that must run in a fresh process."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import peakflow
from peakflow.runtime import BROAD_MODEL, DEFAULT_MODEL, sealed

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def simulate(n: int, seed: int = 0, **overrides) -> peakflow.Simulated:
    """`n` spectra of the paper's setting (or with `SimulatorConfig` overrides)."""
    return peakflow.simulate_batch(jax.random.PRNGKey(seed),
                                   peakflow.SimulatorConfig(**overrides), n)


def run_python(args: list[str], devices: int | None = None, timeout: int = 600,
               check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` in the repository root in a fresh process.

    Args:
      args: e.g. ``["-m", "peakflow.experiments.train", ...]`` or ``["-c", code]`` (code is
        dedented).
      devices: force this many host devices (XLA must see the flag before JAX starts).
      check: assert a zero exit status (showing the end of stderr otherwise).
    """
    env = dict(os.environ)
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
    return peakflow.load_model(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def broad_model() -> peakflow.TrainedModel:
    return peakflow.load_model(BROAD_MODEL)


@pytest.fixture(scope="session")
def grid_batch() -> peakflow.Simulated:
    """64 spectra of the paper's setting (seed 7)."""
    return simulate(64, seed=7)


@pytest.fixture(scope="session")
def grid_posterior(grid_batch, default_model) -> peakflow.Posterior:
    """The bundled default model's posterior of `grid_batch`."""
    return peakflow.infer(np.asarray(grid_batch.spectrum), model=default_model)


@pytest.fixture(scope="session")
def tiny_config():
    return peakflow.preset("tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_config):
    """An untrained-but-valid tiny model exported to disk (fast; for contract tests)."""
    init, _ = peakflow.make_train(tiny_config)
    state = init(jax.random.PRNGKey(0))
    return sealed.export_model(state, tiny_config, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def data_dir():
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return DATA
