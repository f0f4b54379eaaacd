"""Bands: components the data cannot tell apart reported as one row, their summed shape and
its sds from joint draws."""

import numpy as np
import pytest

from peakflow.core.correlated import CorrelatedQ
from peakflow.core.lineshape import Peaks, area, fwhm
from peakflow.experiments.asymmetric import SETS, asymmetric_spectrum, count_per_band
from peakflow.measured import fit_many
from peakflow.measured.bands import band_labels, band_table, summed_shape
from peakflow.measured.results import PeakDraws, PeakTable


def _table(location, fwhm_, amplitude, eta=0.5, sd=0.01) -> PeakTable:
    location = np.asarray(location, np.float64)
    n = location.size
    full = lambda v: np.broadcast_to(np.asarray(v, np.float64), (n,)).copy()
    fw, amp, lor = full(fwhm_), full(amplitude), full(eta)
    width = fw / fwhm(1.0, lor, np)
    return PeakTable(location=location, location_sd=full(sd), fwhm=fw, fwhm_sd=full(sd),
                     amplitude=amp, amplitude_sd=full(sd), area=area(amp, width, lor),
                     area_sd=full(sd), lorentzian=lor, lorentzian_sd=full(sd), width=width,
                     width_sd=full(sd), probability=full(1.0), window=np.zeros(n, np.int64))


def test_the_summed_shape_of_one_peak_is_the_peak():
    x = np.linspace(40.2, 60.2, 4001)      # symmetric about the peak, as a band's extent
    peak = Peaks(np.array([3.0]), np.array([50.2]), np.array([1.5]), np.array([0.3]))
    centroid, top, height, width = summed_shape(x, peak)
    assert centroid == pytest.approx(50.2, abs=1e-6)
    assert top == pytest.approx(50.2, abs=1e-4)
    assert height == pytest.approx(3.0, rel=1e-6)
    assert width == pytest.approx(float(fwhm(1.5, 0.3, np)), rel=1e-4)


def test_two_gaussians_far_apart_are_two_bands_and_close_ones_one():
    apart = _table([100.0, 130.0], 10.0, [1.0, 0.8], eta=0.0)
    assert list(band_labels(apart)) == [0, 1]
    # a weak companion 0.5 FWHM beside a band: one maximum, one band
    close = _table([100.0, 105.0], 10.0, [1.0, 0.2], eta=0.0)
    assert list(band_labels(close)) == [0, 0]
    # equal Gaussians 0.75 FWHM apart: no dip (two maxima need > 0.85 FWHM), one band
    assert list(band_labels(_table([100.0, 107.5], 10.0, 1.0, eta=0.0))) == [0, 0]
    # but 1.2 FWHM apart: a dip, two bands even within REACH x the larger FWHM
    assert list(band_labels(_table([100.0, 112.0], 10.0, 1.0, eta=0.0))) == [0, 1]


def test_heights_that_trade_off_make_one_band():
    peaks = _table([100.0, 109.0, 160.0], 10.0, 1.0, eta=0.0)   # 0.9 FWHM: beyond REACH
    corr = np.eye(3)
    corr[0, 1] = corr[1, 0] = -0.9
    assert list(band_labels(peaks)) == [0, 1, 2]
    assert list(band_labels(peaks, corr)) == [0, 0, 1]


def test_heights_that_trade_off_but_show_two_maxima_are_two_bands():
    """RRUFF quartz's 777 / 797 cm⁻¹ doublet as fitted: 19.5 cm⁻¹ apart (within the larger
    FWHM), heights correlated at −0.73, but their sum has two maxima."""
    pair = lambda second: _table([777.8, second], [20.16, 15.89], [0.1232, 0.1029],
                                 eta=[0.56, 0.08])
    corr = np.array([[1.0, -0.73], [-0.73, 1.0]])
    assert list(band_labels(pair(797.31), corr)) == [0, 1]
    # the same pair 0.6 FWHM apart: one maximum, one band
    assert list(band_labels(pair(789.9), corr)) == [0, 0]


def test_a_broad_companion_linked_to_two_bands_does_not_join_them():
    """Polystyrene's 1,155 and 1,182 cm⁻¹ bands and a companion at 1,163 that trades height
    with both: single linkage would make one band with two maxima; it is cut at the dip."""
    peaks = _table([1155.3, 1163.5, 1182.0], [9.8, 24.0, 12.3], [3070.0, 360.0, 4184.0])
    corr = np.eye(3)
    corr[0, 1] = corr[1, 0] = corr[1, 2] = corr[2, 1] = -0.8
    assert list(band_labels(peaks, corr)) == [0, 0, 1]
    # the same three with the companion between equal tops and no dip: still one band
    close = _table([100.0, 104.0, 108.0], [10.0, 20.0, 10.0], [1.0, 0.3, 1.0], eta=0.0)
    assert list(band_labels(close, corr)) == [0, 0, 0]


def _two_peak_draws(rho: float) -> PeakDraws:
    """Two peaks of one window whose log-heights correlate with `rho`."""
    loc = np.array([[np.log(1.0), 20.0, np.log(2.0), 0.0], [np.log(0.5), 23.0, np.log(2.0), 0.0]])
    sd = np.array([0.1, 0.05, 0.01, 0.01])
    tril = np.stack([np.diag(sd)] * 2)
    joint = np.eye(8)
    joint[0, 4] = joint[4, 0] = rho
    return PeakDraws(q=CorrelatedQ(loc, tril), origin=np.zeros(2), grid_step=np.ones(2),
                     y_scale=np.ones(2), group=np.zeros(2, np.int64), slot=np.arange(2),
                     joint=joint[None].astype(np.float32))


def test_peaks_of_one_window_are_drawn_jointly():
    draws = _two_peak_draws(-0.8).sample(np.random.default_rng(0), 20000)
    log_heights = np.log(draws.amplitude)
    assert np.corrcoef(log_heights.T)[0, 1] == pytest.approx(-0.8, abs=0.02)
    assert log_heights.std(axis=0) == pytest.approx([0.1, 0.1], rel=0.03)
    assert draws.location.std(axis=0) == pytest.approx([0.05, 0.05], rel=0.03)


def test_a_band_of_traded_heights_has_the_small_sd_of_their_sum():
    peaks = _table([20.0, 23.0], float(fwhm(2.0, 0.5, np)), [1.0, 0.5], eta=0.5)  # as drawn
    traded = band_table(peaks, _two_peak_draws(-0.95), num=4000)
    independent = band_table(peaks, _two_peak_draws(0.0), labels=np.zeros(2, np.int64),
                             num=4000)
    assert len(traded) == 1 and traded.components[0] == 2
    assert list(traded.members[0]) == [0, 1]
    assert traded.area[0] == pytest.approx(peaks.area.sum())
    # area sd of α1 A1 + α2 A2 with log-sds 0.1 each: independent vs. correlation -0.95
    a1, a2 = peaks.area * 0.1
    assert independent.area_sd[0] == pytest.approx(np.hypot(a1, a2), rel=0.06)
    assert traded.area_sd[0] == pytest.approx(np.sqrt(a1 ** 2 + a2 ** 2 - 1.9 * a1 * a2),
                                              rel=0.1)


def test_asymmetric_bands_are_reported_once(broad_model):
    """Split pseudo-Voigt bands (half-widths differing by 20-70 %) fitted as several
    components come back as one band each, and the band's area covers the truth."""
    rng = np.random.default_rng([3, 2])
    data = [asymmetric_spectrum(rng, SETS["strong"]) for _ in range(4)]
    fits = fit_many([(y, x) for y, x, _ in data], model=broad_model)
    per = [count_per_band(f, t) for f, (_, _, t) in zip(fits, data)]
    components = np.concatenate([p["components"] for p in per])
    bands = np.concatenate([p["bands"] for p in per])
    covered = np.concatenate([p["area_covered"] for p in per])
    assert components.mean() > 1.3          # the symmetric components fragment these bands
    assert np.mean(bands == 1) >= 0.9
    assert np.nanmean(covered) >= 0.8
    assert all(np.concatenate([p["found"] for p in per]))
