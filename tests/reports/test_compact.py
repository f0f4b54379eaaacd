"""Curves made small for reports: decimation that keeps extremes, 16-bit packing, supports,
thumbnails."""

import numpy as np

from peakflow.reports.compact import extremes, pack, support, thumbnail, unpack


def test_packing_round_trips_to_half_a_level():
    values = np.random.default_rng(0).normal(size=3000) * 1e4 + 5e5
    packed = pack(values)
    assert set(packed) == {"o", "s", "d"}
    np.testing.assert_allclose(unpack(packed), values, atol=packed["s"] / 2 + 1e-9)
    assert np.isclose(packed["s"] * 65535, np.ptp(values))


def test_packing_a_constant_or_non_finite_curve_gives_finite_values():
    np.testing.assert_array_equal(unpack(pack(np.full(5, 3.0))), np.full(5, 3.0))
    out = unpack(pack(np.array([1.0, np.nan, np.inf, 2.0])))
    assert np.all(np.isfinite(out)) and out[0] == 1.0 and abs(out[3] - 2.0) < 1e-4


def test_decimation_keeps_every_point_of_a_short_curve_and_the_extremes_of_a_long_one():
    short = np.arange(100.0)
    np.testing.assert_array_equal(extremes(short, 60), np.arange(100))
    y = np.random.default_rng(1).normal(size=20_000)
    y[12_345] = 50.0                                  # a one-point spike
    y[777] = -40.0
    keep = extremes(y, 500)
    assert keep.size <= 1000 and np.all(np.diff(keep) > 0)
    assert 12_345 in keep and 777 in keep


def test_support_is_where_a_curve_reaches_a_share_of_its_height():
    x = np.arange(200.0)
    curve = np.exp(-0.5 * ((x - 100) / 5) ** 2)
    lo, hi = support(curve, 1e-2)
    assert curve[lo] >= 1e-2 and curve[lo - 1] < 1e-2 and curve[hi - 1] >= 1e-2
    assert support(np.zeros(10)) == (0, 0)


def test_a_thumbnail_is_an_svg_with_the_data_and_the_fit():
    x = np.linspace(0, 10, 5000)
    y = np.exp(-(x - 5) ** 2)
    svg = thumbnail(x, y, y, flagged=True)
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and "#c0392b" in svg
    assert len(svg) < 4000
