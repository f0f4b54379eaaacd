"""The report benchmark: size, write time and, with a Chromium, open time."""

from peakflow.experiments.bench_report import measure, simulated_fits
from peakflow.experiments.browser import find_chromium


def test_the_benchmark_measures_a_small_report(tmp_path):
    fits = simulated_fits(3, seed=1)
    out = measure(fits, tmp_path / "r.html")
    assert out["spectra"] == 3 and 0 < out["size_mb"] < 1 and out["write_s"] > 0
    if find_chromium() is None:
        assert out["browser"] is None
    else:
        assert out["console_messages"] == [] and out["open_ready_ms"] > 0
