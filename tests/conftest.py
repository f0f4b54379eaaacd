"""Shared fixtures: a tiny trained model (module-scoped) and the real-data folder."""

from pathlib import Path

import jax
import pytest

import peakflow
from peakflow import checkpoint

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_config():
    return peakflow.preset("tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_config):
    """An untrained-but-valid tiny model exported to disk (fast; for contract tests)."""
    init, _ = peakflow.make_train(tiny_config)
    state = init(jax.random.PRNGKey(0))
    return checkpoint.export_model(state, tiny_config, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def data_dir():
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return DATA
