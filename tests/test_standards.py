"""Reference lines of the calibration standards, shipped with their sources."""

import numpy as np
import pytest

from peakflow.standards import custom_lines, standard_lines


def test_the_astm_polystyrene_lines_and_silicon():
    ps = standard_lines("polystyrene")
    assert ps.position.size == 11 and ps.position[2] == 1001.4 and ps.intensity[2] == 100
    assert "ASTM E1840" in ps.source
    assert standard_lines("silicon").position.tolist() == [520.45]


def test_neon_lines_need_the_laser_and_become_raman_shifts():
    with pytest.raises(ValueError, match="laser wavelength"):
        standard_lines("neon")
    ne = standard_lines("neon", laser_nm=532.0)
    line = np.argmin(np.abs(ne.position - (1e7 / 532.0 - 1e7 / 585.24878)))
    assert ne.position[line] == pytest.approx(1710.2, abs=0.1) and 0 < ne.sd[line] < 0.05
    assert "NIST" in ne.source and "532 nm" in ne.source


def test_unknown_standards_and_bad_custom_lines_are_refused():
    with pytest.raises(ValueError, match="unknown standard 'teflon'"):
        standard_lines("teflon")
    assert custom_lines([100.0, 200.0]).sd.tolist() == [0.1, 0.1]
    with pytest.raises(ValueError, match="non-empty"):
        custom_lines([])
