"""Intact models: a checksum manifest beside every saved model, and a self-test batch.

Orbax does not checksum array data, so a model directory damaged by a bad copy or disk loads
without complaint and answers wrongly. Every model directory written by `export_model` (and so
every bundled model) therefore carries

* ``MANIFEST.sha256``: the SHA-256 of each of its files, one ``<digest>  <relative path>`` line
  each (the format of ``sha256sum``, so ``cd MODEL && sha256sum -c MANIFEST.sha256`` checks it
  too). `load_params` verifies it and names any damaged, missing or unexpected file;
* ``selftest.npz``: a fixed batch of simulated windows and the model's outputs on it, written
  where the model was made. `peakflow.check_model` (``peakflow check``) runs the batch again
  and compares: the quickest way to confirm the numerics on a new platform or accelerator.

This module reads and writes those files; `peakflow.runtime.sealed` makes and checks models.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANIFEST = "MANIFEST.sha256"
SELFTEST = "selftest.npz"
SELFTEST_SIZE = 16    # windows in the self-test batch
SELFTEST_SEED = 7
# Float32 on another platform (other BLAS, accelerator) differs in the last digits; a damaged
# or mismatched model is off by far more.
TOLERANCE = {"k_probs": 2e-3, "log_lik": 2e-3, "mean": 2e-3}


class ModelIntegrityError(ValueError):
    """A model directory's files do not match its manifest."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file under `directory` but the manifest, sorted."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: str | os.PathLike) -> Path:
    """Writes ``MANIFEST.sha256`` over every file of a model directory; returns its path."""
    directory = Path(directory)
    lines = [f"{_digest(directory / name)}  {name}\n" for name in _files(directory)]
    path = directory / MANIFEST
    temporary = path.with_name(MANIFEST + ".tmp")
    temporary.write_text("".join(lines))
    temporary.replace(path)
    return path


def verify_manifest(directory: str | os.PathLike) -> bool:
    """Checks a model directory against its manifest.

    Returns:
      True when verified, False when the directory has no manifest (older models).

    Raises:
      ModelIntegrityError: naming every damaged, missing or unlisted file.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        return False
    listed: dict[str, str] = {}
    for line in path.read_text().splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ModelIntegrityError(f"{path}: malformed line {line!r}")
        listed[name] = digest
    present = set(_files(directory))
    damaged = [n for n in sorted(listed) if n in present and _digest(directory / n) != listed[n]]
    missing = sorted(set(listed) - present)
    extra = sorted(present - set(listed))
    problems = ([f"damaged (checksum differs): {', '.join(damaged)}"] if damaged else []) + \
        ([f"missing: {', '.join(missing)}"] if missing else []) + \
        ([f"not in the manifest: {', '.join(extra)}"] if extra else [])
    if problems:
        raise ModelIntegrityError(f"model {directory} does not match its {MANIFEST}: "
                                  + "; ".join(problems))
    return True


def _selftest_batch(trained) -> tuple[np.ndarray, np.ndarray]:
    """The fixed self-test input of a model: (windows (B, W) float32, noise (B,) float32),
    drawn from its own simulator with a fixed seed."""
    import jax

    from peakflow.core.simulator import simulate_batch

    batch = simulate_batch(jax.random.PRNGKey(SELFTEST_SEED), trained.config.sim, SELFTEST_SIZE)
    return np.asarray(batch.spectrum, np.float32), np.asarray(batch.noise, np.float32)


def _outputs(trained, windows: np.ndarray, noise: np.ndarray) -> dict[str, np.ndarray]:
    """The model's deterministic outputs on a batch: P(K), log-likelihood, posterior means."""
    pred = trained.predict_chunk(windows, noise, early_exit=False)
    mean = pred.q.mean()
    return {"k_probs": np.asarray(pred.k_probs, np.float64),
            "log_lik": np.asarray(pred.log_lik, np.float64),
            "mean": np.stack([np.asarray(v, np.float64) for v in mean], axis=-1)}


def write_selftest(trained, directory: str | os.PathLike) -> Path:
    """Writes ``selftest.npz`` (the fixed batch and `trained`'s outputs on it) into a model
    directory; returns its path."""
    windows, noise = _selftest_batch(trained)
    path = Path(directory) / SELFTEST
    with path.open("wb") as handle:
        np.savez(handle, windows=windows, noise=noise, **_outputs(trained, windows, noise))
    return path


@dataclass(frozen=True)
class CheckReport:
    """What `check_model` found: ``ok`` and, per output, the largest deviation from the
    stored value relative to its tolerance scale (``deviation``) and the tolerance."""

    model: str
    manifest: bool                 # False: the directory has no manifest to verify
    deviation: dict[str, float]
    tolerance: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(self.deviation[k] <= self.tolerance[k] for k in self.tolerance)

    def __str__(self) -> str:
        rows = [f"model {self.model}",
                f"  manifest: {'verified' if self.manifest else 'none (not checked)'}"]
        for k, limit in self.tolerance.items():
            verdict = "ok" if self.deviation[k] <= limit else "FAILED"
            rows.append(f"  {k:8s} max deviation {self.deviation[k]:.2e} (tolerance "
                        f"{limit:.0e}) {verdict}")
        return "\n".join(rows + [f"  {'passed' if self.ok else 'FAILED'}"])


def compare_selftest(trained, directory: str | os.PathLike) -> CheckReport:
    """Reruns a model directory's self-test batch with `trained` (the model loaded from it)
    and compares with the stored outputs. Deviations: P(K) absolute, log-likelihood relative
    to its magnitude, posterior means relative to their scale.

    Raises:
      FileNotFoundError: the directory has no ``selftest.npz``.
    """
    directory = Path(directory)
    path = directory / SELFTEST
    if not path.is_file():
        raise FileNotFoundError(f"model {directory} has no {SELFTEST} to check against")
    with np.load(path) as stored:
        stored = dict(stored)
    got = _outputs(trained, stored["windows"], stored["noise"])
    deviation = {
        "k_probs": float(np.max(np.abs(got["k_probs"] - stored["k_probs"]))),
        "log_lik": float(np.max(np.abs(got["log_lik"] - stored["log_lik"])
                                / np.maximum(np.abs(stored["log_lik"]), 1.0))),
        "mean": float(np.max(np.abs(got["mean"] - stored["mean"])
                             / np.maximum(np.abs(stored["mean"]), 1.0))),
    }
    return CheckReport(str(directory), verify_manifest(directory), deviation, dict(TOLERANCE))
