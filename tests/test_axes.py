"""Raman shift from wavelength and absolute-wavenumber axes."""

import numpy as np
import pytest

from peakflow.axes import raman_shift


def test_a_wavelength_axis_becomes_raman_shift():
    nm = np.array([536.0, 561.0, 620.0])
    shift, label = raman_shift(nm, "Wavelength (nm)", 532.0)
    np.testing.assert_allclose(shift, 1e7 / 532.0 - 1e7 / nm)
    assert shift[0] == pytest.approx(140.3, abs=0.1) and "532 nm laser" in label


def test_an_absolute_wavenumber_axis_becomes_raman_shift_but_an_ir_axis_does_not():
    absolute = 1e7 / 785.0 - np.array([200.0, 1000.0, 3000.0])
    shift, label = raman_shift(absolute, "Wavenumber", 785.0)
    np.testing.assert_allclose(shift, [200.0, 1000.0, 3000.0], atol=1e-9)
    assert label.startswith("Raman shift") and "absolute Wavenumber" in label
    assert raman_shift(np.linspace(400, 4000, 10), "Wavenumber (cm-1)", 785.0) is None  # IR
    assert raman_shift(np.linspace(100, 3000, 10), "Raman Shift", 532.0) is None
    assert raman_shift(np.linspace(10, 80, 10), "2Theta", 532.0) is None
    with pytest.raises(ValueError, match="positive number of nm"):
        raman_shift(np.ones(3), "Wavelength", 0.0)
