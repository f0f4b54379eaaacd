"""The runnable modules (evaluate, bench, demo, stream) with tiny settings."""

import json

import numpy as np
import pytest

from peakflow.evaluation import confusion_matrix, match_peaks
from peakflow.experiments import bench, demo, evaluate, stream


def test_match_peaks_and_confusion():
    true = np.array([[10.0, 200.0, 0.0]])
    mask = np.array([[True, True, False]])
    est = np.array([[201.0, 12.0, np.nan]])
    np.testing.assert_array_equal(match_peaks(true, mask, est), [[1, 0, -1]])
    # with a distance limit: the near pair is kept even where a far pairing sums lower
    est = np.array([[11.0, 260.0, np.nan]])
    np.testing.assert_array_equal(match_peaks(true, mask, est, max_distance=5.0), [[0, -1, -1]])
    np.testing.assert_array_equal(match_peaks(true, mask, est), [[0, 1, -1]])
    matrix = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 2)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


@pytest.mark.slow  # 36 s on 2 cores: SBC, the exactness step and P(K) reliability end to end
def test_evaluate_reports_accuracy(tmp_path, capsys):
    metrics = evaluate.main(["--n", "64", "--json", str(tmp_path / "m.json")])
    assert metrics["k_accuracy"] >= 0.95 and metrics["failure_rate"] <= 0.05
    assert sum(map(sum, metrics["confusion"])) == 64
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 64
    assert "K accuracy" in capsys.readouterr().out


def test_bench_prints_figures(capsys):
    out = bench.main(["--presets", "tiny", "--steps", "2", "--batches", "8", "--repeats", "3"])
    train, batched = out["train"][0], out["inference"]["batched"][0]
    assert train["preset"] == "tiny" and train["batch_size"] == 8
    assert train["steps_per_s"] * train["s_per_step"] == pytest.approx(1.0)
    assert batched["spectra_per_s"] == pytest.approx(8 / batched["seconds"])
    printed = capsys.readouterr().out
    assert f"{batched['spectra_per_s']:>9.0f} spectra/s" in printed and "single spectrum" in printed


def test_demo_writes_a_plot(tmp_path, capsys):
    demo.main(["--out", str(tmp_path / "demo.png")])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "Posterior:" in capsys.readouterr().out


def test_stream_measures_memory(capsys):
    result = stream.main(["--n", "300", "--chunk", "64"])
    assert result["spectra"] == 300 and result["chunk"] == 64
    assert result["input_mib"] == pytest.approx(300 * 500 * 4 / 2**20)
    assert result["spectra_per_s"] == pytest.approx(300 / result["seconds"])
    assert 1.5 < result["mean_num_peaks"] < 2.5  # K ~ U{0..4}
