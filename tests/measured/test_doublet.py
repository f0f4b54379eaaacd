"""Known doublets: Kα1/Kα2 from Bragg's law, constant splittings, and each reflection reported
once at its main line with the second line in the fitted curve."""

import json
from pathlib import Path

import numpy as np
import pytest

import peakflow
from peakflow.core.lineshape import fwhm_ratio, profile
from peakflow.measured.doublet import ANODES, Doublet, as_doublet, main_line, second_line

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_kalpha2_follows_braggs_law():
    cu = as_doublet("CuKa")
    # the LaB6 reference table: (110) at 30.385 (Kα1) and 30.462 (Kα2), (111) 37.442 / 37.538
    assert cu.second(30.385) == pytest.approx(30.462, abs=1e-3)
    assert cu.second(37.442) == pytest.approx(37.538, abs=1e-3)
    x = np.linspace(10.0, 150.0, 50)
    second, slope = second_line(x, cu.params)
    assert np.all(second > x) and np.all(np.diff(second - x) > 0)   # the split grows with 2θ
    np.testing.assert_allclose(main_line(second, cu.params), x, atol=1e-9)
    numeric = (second_line(x + 1e-6, cu.params)[0] - second_line(x - 1e-6, cu.params)[0]) / 2e-6
    np.testing.assert_allclose(slope, numeric, rtol=1e-6)


def test_doublet_names_and_bad_values():
    assert as_doublet("Cu") is ANODES["CuKa"] and as_doublet("mo-kalpha") is ANODES["MoKa"]
    assert as_doublet(None) is None
    assert as_doublet("1.2,0.5") == Doublet(split=1.2, ratio=0.5)
    with pytest.raises(ValueError, match="unknown doublet"):
        as_doublet("Xx")
    with pytest.raises(ValueError, match="ratio"):
        Doublet(split=1.0, ratio=0.0)
    with pytest.raises(ValueError, match="splitting"):
        Doublet(ratio=0.5)
    with pytest.raises(ValueError, match="refine"):
        peakflow.FitOptions(doublet="CuKa", exact=True)
    with pytest.raises(ValueError, match="2-theta"):
        peakflow.fit(np.ones(500), np.linspace(150.0, 250.0, 500), doublet="CuKa")
    pair = Doublet(split=-2.5, ratio=0.5)
    np.testing.assert_allclose(pair.second(np.array([10.0, 20.0])), [7.5, 17.5])


def _pattern(rng, doublet: Doublet, centres, heights, fwhm: float, x: np.ndarray):
    eta = 0.4
    gamma = fwhm / float(fwhm_ratio(eta, np))
    lines = [(c, h) for c, h in zip(centres, heights)]
    lines += [(doublet.second(c), doublet.ratio * h) for c, h in zip(centres, heights)]
    clean = sum(profile(x, h, c, gamma, eta, xp=np) for c, h in lines)
    return clean + 20.0 + rng.normal(0.0, 3.0, x.size)


def test_each_reflection_is_one_peak_at_its_kalpha1(broad_model):
    rng = np.random.default_rng(0)
    x = np.arange(20.0, 80.0, 0.01)
    centres = np.array([24.3, 31.7, 38.9, 47.2, 55.6, 63.1, 71.4])
    heights = rng.uniform(200, 1500, centres.size)
    y = _pattern(rng, ANODES["CuKa"], centres, heights, 0.08, x)
    single = peakflow.fit(y, x, model=broad_model)
    fit = peakflow.fit(y, x, model=broad_model, doublet="CuKa")
    cu = ANODES["CuKa"]
    near = lambda f: [int(np.sum((f.peaks.location > c - 0.05)
                                 & (f.peaks.location < cu.second(c) + 0.05))) for c in centres]
    assert near(single) == [2] * centres.size        # single lines: Kα1 and Kα2 apart
    assert near(fit) == [1] * centres.size
    found = fit.peaks.location[[np.argmin(np.abs(fit.peaks.location - c)) for c in centres]]
    z = (found - centres) / fit.peaks.location_sd[np.isin(fit.peaks.location, found)]
    assert np.all(np.abs(z) < 4)
    amp = fit.peaks.amplitude[np.isin(fit.peaks.location, found)]
    np.testing.assert_allclose(amp, heights, rtol=0.1)     # the Kα1 height, not the sum
    assert fit.chi2 < 1.3 and not fit.unexplained           # the Kα2 lines are in the curve


def test_a_constant_splitting_pairs_lines_in_x_units(broad_model):
    rng = np.random.default_rng(1)
    x = np.linspace(280.0, 300.0, 1500)
    pair = Doublet(split=1.2, ratio=0.5)                     # e.g. a spin-orbit pair
    centres = np.array([283.0, 287.5, 293.0])
    y = _pattern(rng, pair, centres, np.array([900.0, 500.0, 1200.0]), 0.5, x)
    fit = peakflow.fit(y, x, model=broad_model, doublet=pair)
    assert fit.num_peaks == 3
    np.testing.assert_allclose(fit.peaks.location, centres, atol=0.02)
    model, params = fit.to_lmfit()
    np.testing.assert_allclose(model.eval(params, x=fit.x), fit.components().sum(axis=0),
                               atol=1e-9 * np.max(fit.y))


@pytest.mark.skipif(not (DATA / "xrd_lab6").is_dir(), reason="shared data not present")
def test_lab6_gives_each_reflection_once(broad_model):
    table = json.loads((DATA / "reference_peaks.json").read_text())
    lines = next(v for k, v in table.items() if k.startswith("LaB6"))
    kalpha1 = np.array([line["two_theta_CuKa1_deg"] for line in lines])
    spectrum = peakflow.read_spectrum(DATA / "xrd_lab6" / "LaB6_d500_si_psd.xye")
    fit = peakflow.fit(spectrum, model=broad_model, doublet="CuKa")
    bands = fit.bands
    assert [int(np.sum(np.abs(bands.maximum - c) < 0.03)) for c in kalpha1] == [1] * 20
    errors = np.array([bands.maximum[np.argmin(np.abs(bands.maximum - c))] - c
                       for c in kalpha1])
    assert np.all(np.abs(errors) < 0.012)       # the scan's zero offset: +0.004 to +0.009
    assert not fit.windows.unexplained.any()
