"""Fitting a grid model's sd factors on held-out simulated spectra."""

import shutil

import numpy as np

from peakflow.experiments.calibrate_sds import main
from peakflow.runtime.integrity import verify_manifest, write_manifest
from peakflow.runtime.sd_scale import SD_SCALE, read_sd_scale
from peakflow.runtime.trained import GRID_MODEL


def test_writes_factors_that_widen_and_keeps_the_model_sealed(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(GRID_MODEL, target)
    (target / SD_SCALE).unlink()
    write_manifest(target)   # an uncalibrated model
    out = main(["--model", str(target), "--n", "200"])
    assert out["matched_peaks"] > 300
    # the uncalibrated q covers less than 90 %, so every factor widens
    assert all(c < 0.9 for c in out["coverage_before"]) and min(out["factors"]) > 1.0
    assert verify_manifest(target)
    np.testing.assert_allclose(read_sd_scale(target), out["factors"])


def test_dry_run_writes_nothing(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(GRID_MODEL, target)
    main(["--model", str(target), "--n", "100", "--dry-run"])
    assert (target / SD_SCALE).read_bytes() == (GRID_MODEL / SD_SCALE).read_bytes()
