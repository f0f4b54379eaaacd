"""`peakflow.calibrate` on a measured standard, and fits made with its calibration."""

import numpy as np
import pytest

import peakflow
from peakflow.experiments.axis_calibration import run, standard_spectrum
from peakflow.measured import calibrate
from peakflow.standards import standard_lines


def test_an_offset_and_stretched_polystyrene_axis_is_corrected(broad_model):
    """Target: +8 cm⁻¹ and 0.3 % stretch corrected to <= 0.3 cm⁻¹ RMS on the ASTM lines."""
    y, x = standard_spectrum(np.random.default_rng(0), offset=8.0, stretch=0.003)
    cal = calibrate((y, x), "polystyrene", model="auto")
    assert cal.reference.size == 11 and not cal.unmatched.size
    assert cal.rms <= 0.3
    truth = standard_lines("polystyrene").position
    np.testing.assert_allclose(cal(truth * 1.003 + 8.0), truth, atol=0.5)


def test_calibrated_positions_cover_the_truth_over_noise_draws(broad_model):
    out = run(draws=6, offset=8.0, stretch=0.003, noise=0.01, seed=3)
    assert out["calibration_rms_max"] <= 0.3 and out["sample_rms"] <= 0.3
    assert 0.9 <= out["coverage_2sd"] <= 1.0       # 66 positions; nominal 0.954


def test_a_fit_with_a_calibration_reports_calibrated_positions_with_wider_sds(broad_model):
    rng = np.random.default_rng(5)
    cal = calibrate(standard_spectrum(rng), "polystyrene")
    y, x = standard_spectrum(rng)
    plain, calibrated = peakflow.fit(y, x), peakflow.fit(y, x, calibration=cal)
    line = lambda f: int(np.argmin(np.abs(f.peaks.location - 1001.4 * 1.003 - 8.0)))
    i = line(plain)
    j = int(np.argmin(np.abs(calibrated.peaks.location - 1001.4)))
    assert abs(calibrated.peaks.location[j] - 1001.4) < 0.5 < abs(plain.peaks.location[i] - 1001.4)
    assert calibrated.peaks.location_sd[j] > plain.peaks.location_sd[i]
    assert calibrated.meta["calibration"] == "polystyrene"
    many = peakflow.fit_many([(y, x)], calibration=cal)[0]
    np.testing.assert_allclose(many.peaks.location, calibrated.peaks.location)


def test_silicon_gives_an_offset_and_neon_needs_the_laser(broad_model):
    x = np.linspace(400.0, 650.0, 600)
    y = 1.0 / (1.0 + ((x - 523.0) / 2.0) ** 2) + np.random.default_rng(1).normal(0, 0.01, x.size)
    cal = calibrate((y, x), "silicon")
    assert cal.model == "offset" and cal(523.0) == pytest.approx(520.45, abs=0.1)
    with pytest.raises(ValueError, match="laser wavelength"):
        calibrate((y, x), "neon")
    with pytest.raises(ValueError, match="model must be"):
        calibrate((y, x), "silicon", model="spline")


def test_the_shared_renishaw_polystyrene_calibrates_within_a_wavenumber(data_dir, broad_model):
    path = data_dir / "raman_polystyrene" / "PST_Reflex532_Z050_010_10000msx2.txt"
    if not path.is_file():
        pytest.skip("no shared polystyrene spectrum")
    cal = calibrate(peakflow.read_spectrum(path), "polystyrene")
    assert cal.reference.size >= 10 and cal.rms < 1.0
    assert np.all(np.abs(cal.residual) < 2.0)
