"""A fit shown: flags in words, tables with sds, and the notebook display."""

from dataclasses import replace

import numpy as np
import pytest

import peakflow
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured.fit_view import band_rows, fit_html, flags, peak_rows
from peakflow.measured.results import failed_fit


@pytest.fixture(scope="module")
def fit(broad_model):
    y, x, _ = realistic_spectrum(np.random.default_rng(5), points=(1500, 1500), peaks=(8, 8))
    return peakflow.fit(y, x, model=broad_model, name="s<1>.csv")


def test_tables_show_every_peak_and_band_with_its_sd(fit):
    header, rows = peak_rows(fit)
    assert len(rows) == fit.num_peaks and header[:5] == ["#", "location", "FWHM", "height",
                                                          "area"]
    first = rows[0]
    value, sd = (float(v) for v in first[1].split(" ± "))
    assert value == pytest.approx(fit.peaks.location[0], abs=sd / 2)
    assert sd == pytest.approx(fit.peaks.location_sd[0], rel=0.05)
    assert first[-2] == f"{fit.peaks.probability[0]:.3f}"
    header, rows = band_rows(fit)
    assert len(rows) == len(fit.bands)
    listed = sorted(int(m) for r in rows for m in r[-1].split(", "))
    assert listed == list(range(1, fit.num_peaks + 1))     # every peak in one band


def test_flags_say_what_to_look_at(fit):
    assert bool(flags(fit)) == (bool(fit.unexplained) or fit.spikes.size > 0)
    windows = replace(fit.windows, unexplained=np.arange(fit.windows.start.size) == 0)
    marked = replace(fit, windows=windows, unexplained=True, stretch=12.3,
                     spikes=np.array([1.0, 2.0]))
    assert flags(marked) == [f"1/{fit.windows.start.size} windows unexplained, residual "
                             "stretch 12.3 sd", "2 spike(s) replaced"]
    assert flags(failed_fit("y is empty", "a.txt", 4)) == ["failed: y is empty"]


def test_the_notebook_display_holds_the_figure_and_the_tables(fit):
    shown = fit._repr_html_()
    assert shown.count("<img") == 1 and "data:image/png;base64," in shown
    assert "s&lt;1&gt;.csv" in shown and "<1>" not in shown
    assert shown.count("<tr>") >= fit.num_peaks + 1
    assert repr(fit).startswith("SpectrumFit:")           # the plain repr is unchanged
    failed = fit_html(failed_fit("y contains 3 NaN", "b.txt", 4))
    assert "failed: y contains 3 NaN" in failed and "<img" not in failed
