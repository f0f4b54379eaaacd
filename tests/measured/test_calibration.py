"""The `Calibration` record: matching lines, the weighted correction, its uncertainty, JSON."""

import numpy as np
import pytest

from peakflow.measured.calibration import Calibration, fit_correction, match_lines
from peakflow.standards import custom_lines, standard_lines


def test_lines_are_matched_through_a_large_offset_and_stretch_despite_extra_peaks():
    lines = standard_lines("polystyrene").position
    found = lines * 1.004 + 17.0
    extra = np.array([700.0, 1200.0, 1330.0, 2890.0])   # other polystyrene bands, weaker
    location = np.concatenate([found, extra])
    height = np.concatenate([np.ones(found.size), np.full(extra.size, 0.3)])
    got, sd, matched = match_lines(lines, location, np.full(location.size, 0.1), height)
    assert matched.all()
    np.testing.assert_allclose(got, found)


def _synthetic(slope, offset, noise, rng, n=11):
    ref = custom_lines(np.linspace(500.0, 3000.0, n), sd=0.0)
    true_found = (ref.position - offset) / (1 + slope)
    sd = np.full(n, noise)
    return ref, true_found + rng.normal(0.0, noise, n), sd


def test_a_linear_axis_error_is_recovered_with_honest_uncertainty():
    rng = np.random.default_rng(0)
    z = []
    for _ in range(200):
        ref, found, sd = _synthetic(0.003, 8.0, 0.2, rng)
        cal = fit_correction(ref, found, sd, np.ones(found.size, bool), "linear", None)
        probe = np.array([700.0, 1500.0, 2800.0])
        truth = probe * 1.003 + 8.0 - 0.0  # x' = x (1 + s) + o maps measured to reference
        z.append((cal(probe) - truth) / cal.sd(probe))
    z = np.concatenate(z)
    assert np.mean(np.abs(z) <= 2.0) == pytest.approx(0.954, abs=0.03)
    assert cal.model == "linear" and cal.chi2 == pytest.approx(1.0, abs=0.8)
    np.testing.assert_allclose(cal.slope(1000.0), 1.003, atol=2e-4)


def test_auto_chooses_the_degree_and_an_outlier_is_dropped():
    rng = np.random.default_rng(1)
    ref, found, sd = _synthetic(0.0, -3.0, 0.1, rng)
    found[4] += 5.0                                        # a wrong match
    cal = fit_correction(ref, found, sd, np.ones(found.size, bool), "auto", None)
    assert cal.model == "offset" and cal.reference.size == 10
    assert ref.position[4] in cal.unmatched
    assert cal.rms < 0.2


def test_too_few_lines_for_the_model_are_refused():
    ref = custom_lines([520.45])
    with pytest.raises(ValueError, match="too few for a linear correction"):
        fit_correction(ref, np.array([522.0]), np.array([0.1]), np.array([True]), "linear", None)
    offset = fit_correction(ref, np.array([522.0]), np.array([0.1]), np.array([True]), "auto",
                            None)
    assert offset.model == "offset" and offset(600.0) == pytest.approx(598.45)


def test_json_round_trip_and_the_residual_table(tmp_path):
    rng = np.random.default_rng(2)
    ref, found, sd = _synthetic(0.001, 2.0, 0.1, rng)
    cal = fit_correction(ref, found, sd, np.ones(found.size, bool), "quadratic", 532.0)
    cal.save(tmp_path / "cal.json")
    back = Calibration.load(tmp_path / "cal.json")
    probe = np.linspace(400.0, 3100.0, 7)
    np.testing.assert_allclose(back(probe), cal(probe))
    np.testing.assert_allclose(back.sd(probe), cal.sd(probe))
    assert back.laser_nm == 532.0 and back.model == "quadratic"
    text = repr(back)
    assert "Calibration against lines (quadratic, 11 lines" in text
    assert len(text.splitlines()) == 13
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a peakflow calibration"):
        Calibration.load(tmp_path / "bad.json")
