"""Sealed model directories: exported with a self-test batch and a checksum manifest, and
checked against both (`peakflow.runtime.integrity` holds the file formats)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peakflow.config import Config
from peakflow.core.training import TrainState
from peakflow.runtime.checkpoint import load_params, manager, save
from peakflow.runtime.integrity import (
    MANIFEST,
    SELFTEST,
    CheckReport,
    compare_selftest,
    write_manifest,
    write_selftest,
)
from peakflow.runtime.trained import TrainedModel, load_model


def export_model(state: TrainState, config: Config, directory: str | os.PathLike,
                 metrics: dict[str, Any] | None = None) -> Path:
    """Writes an inference-only model directory (params + config + metrics, no optimiser),
    with its self-test batch and checksum manifest."""
    mngr = manager(directory, keep=1)
    save(mngr, state, config, metrics, with_optimizer=False)
    mngr.wait_until_finished()
    mngr.close()
    write_selftest(TrainedModel(config, state.params, str(directory), metrics), directory)
    write_manifest(directory)
    return Path(directory)


def seal(directory: str | os.PathLike) -> Path:
    """Writes a model directory's self-test batch and then its manifest (replacing both);
    for models made before `export_model` wrote them (``make bundle`` runs it)."""
    directory = Path(directory)
    (directory / MANIFEST).unlink(missing_ok=True)
    (directory / SELFTEST).unlink(missing_ok=True)
    config, params, meta = load_params(directory)
    write_selftest(TrainedModel(config, params, str(directory), meta.get("metrics")), directory)
    return write_manifest(directory)


def check_model(model: str | os.PathLike | TrainedModel | None = None) -> CheckReport:
    """Verifies a model's files against its manifest and reruns its self-test batch.

    Args:
      model: a model directory, a `TrainedModel` loaded from one, or None (the bundled grid
        model).

    Returns:
      The `CheckReport` (``.ok``; ``print`` it for a summary).

    Raises:
      ModelIntegrityError: files that do not match the manifest.
      FileNotFoundError: the model has no ``selftest.npz``.
    """
    trained = load_model(model)
    if trained.path is None:
        raise ValueError("an in-memory model has no files to check; check its directory")
    return compare_selftest(trained, trained.path)
