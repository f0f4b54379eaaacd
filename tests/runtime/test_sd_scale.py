"""Calibrated amortized sds: the factors' file, their fit, and their use by infer and reweight."""

import dataclasses
import shutil

import numpy as np
import pytest
from scipy import stats

import peakflow
from peakflow.core.correlated import CorrelatedQ
from peakflow.runtime.integrity import verify_manifest
from peakflow.runtime.sd_scale import (
    SD_SCALE,
    calibrate_in_place,
    read_sd_scale,
    scale_factors,
    scaled,
    write_sd_scale,
)
from peakflow.runtime.trained import GRID_MODEL


def test_factors_make_the_interval_cover_the_level():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((20000, 3)) * np.array([1.0, 1.3, 0.5])
    factors = scale_factors(z, 0.9)
    np.testing.assert_allclose(factors, [1.0, 1.3, 0.5], rtol=0.03)
    inside = np.mean(np.abs(z) < stats.norm.ppf(0.95) * factors, axis=0)
    np.testing.assert_allclose(inside, 0.9, atol=0.002)
    with pytest.raises(ValueError, match="standardised errors"):
        scale_factors(np.zeros((0, 4)))


def test_file_round_trip_and_bad_files_are_named(tmp_path):
    assert read_sd_scale(tmp_path) is None and read_sd_scale(None) is None
    write_sd_scale(tmp_path, [1.2, 1.1, 1.3, 1.9], {"seed": 99})
    np.testing.assert_allclose(read_sd_scale(tmp_path), [1.2, 1.1, 1.3, 1.9])
    with pytest.raises(ValueError, match="4 finite positive"):
        write_sd_scale(tmp_path, [1.0, -1.0, 1.0, 1.0], {})
    (tmp_path / SD_SCALE).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        read_sd_scale(tmp_path)


def test_bundled_grid_model_is_calibrated_and_sealed():
    factors = read_sd_scale(GRID_MODEL)
    assert factors is not None and np.all(factors >= 1.0)  # the ELBO's q is too narrow
    assert verify_manifest(GRID_MODEL)
    assert peakflow.load_model(None).sd_scale == tuple(factors.tolist())


def test_infer_widens_the_sds_and_reweight_samples_the_policys_own_q(grid_batch):
    model = peakflow.load_model(None)
    raw = dataclasses.replace(model, sd_scale=None)
    spectra = np.asarray(grid_batch.spectrum)[:16]
    wide, narrow = peakflow.infer(spectra, model=model), peakflow.infer(spectra, model=raw)
    np.testing.assert_allclose(wide.q.scale(), narrow.q.scale() * np.asarray(model.sd_scale),
                               rtol=1e-4)
    np.testing.assert_allclose(wide.location.mean, narrow.location.mean, atol=1e-4)
    a = peakflow.reweight(spectra, wide, model=model, seed=3)
    b = peakflow.reweight(spectra, narrow, model=raw, seed=3)
    np.testing.assert_allclose(a.importance.khat, b.importance.khat, atol=0.01)
    np.testing.assert_allclose(a.amplitude.mean, b.amplitude.mean, rtol=1e-3, equal_nan=True)


def test_copied_model_without_the_file_loads_uncalibrated(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(GRID_MODEL, target)
    (target / SD_SCALE).unlink()
    (target / "MANIFEST.sha256").unlink()
    assert peakflow.load_model(target).sd_scale is None


def test_calibration_in_place_equals_the_pure_one_block_by_block():
    rng = np.random.default_rng(1)
    loc = rng.normal(size=(10, 3, 4)).astype(np.float32)
    raw = rng.normal(size=(10, 3, 4, 4)).astype(np.float32)
    tril = np.tril(raw) + 2.0 * np.eye(4, dtype=np.float32)
    q = CorrelatedQ(loc.copy(), tril.copy())
    factors = np.array([1.2, 1.3, 1.1, 1.9])
    want = scaled(CorrelatedQ(loc, tril), factors)
    got = calibrate_in_place(q, factors, block=4)
    assert got.loc is q.loc and got.scale_tril is q.scale_tril       # no second copy
    np.testing.assert_allclose(got.loc, want.loc, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.scale_tril, want.scale_tril, rtol=1e-6)
    assert calibrate_in_place(q, None) is q
