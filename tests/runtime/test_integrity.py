"""Model integrity: checksum manifests, self-test batches, `peakflow check`."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import peakflow
from peakflow.cli import main
from peakflow.runtime.checkpoint import load_params
from peakflow.runtime.integrity import (
    MANIFEST,
    SELFTEST,
    ModelIntegrityError,
    verify_manifest,
    write_manifest,
)
from peakflow.runtime.sealed import check_model
from peakflow.runtime.trained import GRID_MODEL, MEASURED_MODEL

BUNDLED = {"default": GRID_MODEL, "broad": MEASURED_MODEL}


@pytest.fixture(params=sorted(BUNDLED))
def bundled_copy(request, tmp_path) -> Path:
    """A fresh copy of one bundled model directory."""
    return Path(shutil.copytree(BUNDLED[request.param], tmp_path / request.param))


def _largest_array_file(directory: Path) -> Path:
    return max((p for p in directory.rglob("d/*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_every_bundled_model_is_sealed_and_passes_its_self_test():
    for directory in BUNDLED.values():
        assert verify_manifest(directory)
        report = check_model(directory)
        assert report.ok and report.manifest, str(report)
        assert max(report.deviation.values()) < 1e-5


def test_a_bit_flip_in_the_weights_is_caught_and_the_file_named(bundled_copy):
    target = _largest_array_file(bundled_copy)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x10
    target.write_bytes(bytes(data))
    name = target.relative_to(bundled_copy).as_posix()
    with pytest.raises(ModelIntegrityError, match=f"damaged.*{name}"):
        load_params(bundled_copy)
    with pytest.raises(ModelIntegrityError):
        peakflow.load_model(bundled_copy)
    assert main(["check", str(bundled_copy)]) == 1


def test_missing_and_unexpected_files_are_named(bundled_copy):
    target = _largest_array_file(bundled_copy)
    target.unlink()
    (bundled_copy / "notes.txt").write_text("left behind")
    with pytest.raises(ModelIntegrityError, match="missing: .*not in the manifest: notes.txt"):
        load_params(bundled_copy)


def test_the_self_test_catches_outputs_that_changed(bundled_copy):
    with np.load(bundled_copy / SELFTEST) as stored:
        stored = dict(stored)
    stored["mean"] = stored["mean"] * 1.05 + 0.01
    np.savez(bundled_copy / SELFTEST, **stored)
    write_manifest(bundled_copy)                 # intact files, different expected outputs
    report = check_model(bundled_copy)
    assert report.manifest and not report.ok
    assert report.deviation["mean"] > report.tolerance["mean"]
    assert report.deviation["k_probs"] == 0.0
    assert "FAILED" in str(report)


def test_exported_models_carry_a_manifest_and_a_self_test(tiny_model_dir, capsys):
    directory = Path(tiny_model_dir)
    assert (directory / MANIFEST).is_file() and (directory / SELFTEST).is_file()
    assert verify_manifest(directory)
    assert check_model(directory).ok
    assert main(["check", str(directory)]) == 0
    assert "passed" in capsys.readouterr().out


def test_models_without_a_manifest_still_load(tiny_model_dir, tmp_path):
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "old"))
    (copy / MANIFEST).unlink()
    assert not verify_manifest(copy)
    load_params(copy)
    assert not check_model(copy).manifest
