"""Peak quantities in the caller's units and their propagated sds."""

import numpy as np
import pytest

from peakflow.measured.assemble import area_and_sd, fwhm_and_sd


def test_area_and_fwhm_are_analytic():
    area, area_sd = area_and_sd(np.array([2.0]), np.array([3.0]), np.array([1.0]),
                            np.array([0.0]), np.array([0.0]), np.array([0.0]))
    assert area[0] == pytest.approx(2.0 * 3.0 * np.pi) and area_sd[0] == 0
    # first-order sd: relative sds add in quadrature when η is known
    _, sd = area_and_sd(np.array([2.0]), np.array([3.0]), np.array([0.3]), np.array([0.02]),
                        np.array([0.09]), np.array([0.0]))
    assert sd[0] == pytest.approx(area_and_sd(2.0, 3.0, 0.3, 0, 0, 0)[0] * np.hypot(0.01, 0.03))
    value, sd = fwhm_and_sd(np.array([2.0]), np.array([0.0]), np.array([0.1]), np.array([0.0]))
    assert value[0] == pytest.approx(2 * 2.0 * np.sqrt(2 * np.log(2)), rel=1e-4)
    assert sd[0] == pytest.approx(0.1 * 2 * np.sqrt(2 * np.log(2)), rel=1e-4)
