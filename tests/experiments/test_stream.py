"""`python -m peakflow.experiments.stream` with tiny settings."""

import pytest

from peakflow.experiments import stream


def test_stream_measures_memory(capsys):
    result = stream.main(["--n", "300", "--chunk", "64"])
    assert result["spectra"] == 300 and result["chunk"] == 64
    assert result["input_mib"] == pytest.approx(300 * 500 * 4 / 2**20)
    assert result["spectra_per_s"] == pytest.approx(300 / result["seconds"])
    assert 1.5 < result["mean_num_peaks"] < 2.5  # K ~ U{0..4}
