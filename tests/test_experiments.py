"""The runnable modules (evaluate, bench, demo, stream) with tiny settings."""

import json

import numpy as np

from peakflow.evaluation import confusion_matrix, match_peaks
from peakflow.experiments import bench, demo, evaluate, stream


def test_match_peaks_and_confusion():
    true = np.array([[10.0, 200.0, 0.0]])
    mask = np.array([[True, True, False]])
    est = np.array([[201.0, 12.0, np.nan]])
    np.testing.assert_array_equal(match_peaks(true, mask, est), [[1, 0, -1]])
    matrix = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 2)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_evaluate_reports_accuracy(tmp_path, capsys):
    metrics = evaluate.main(["--n", "64", "--json", str(tmp_path / "m.json")])
    assert metrics["k_accuracy"] >= 0.95 and metrics["failure_rate"] <= 0.05
    assert sum(map(sum, metrics["confusion"])) == 64
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 64
    assert "K accuracy" in capsys.readouterr().out


def test_bench_prints_figures(capsys):
    out = bench.main(["--presets", "tiny", "--steps", "2", "--batches", "8", "--repeats", "3"])
    assert out["train"][0]["steps_per_s"] > 0
    assert out["inference"]["batched"][0]["spectra_per_s"] > 0
    assert "single spectrum" in capsys.readouterr().out


def test_demo_writes_a_plot(tmp_path, capsys):
    demo.main(["--out", str(tmp_path / "demo.png")])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "Posterior:" in capsys.readouterr().out


def test_stream_measures_memory(capsys):
    result = stream.main(["--n", "300", "--chunk", "64"])
    assert result["spectra"] == 300 and result["growth_mib"] >= 0
