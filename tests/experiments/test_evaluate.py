"""`python -m peakflow.experiments.evaluate` with tiny settings."""

import json

import pytest

from peakflow.experiments import evaluate


@pytest.mark.slow  # 36 s on 2 cores: SBC, the exactness step and P(K) reliability end to end
def test_evaluate_reports_accuracy(tmp_path, capsys):
    metrics = evaluate.main(["--n", "64", "--json", str(tmp_path / "m.json")])
    assert metrics["k_accuracy"] >= 0.95 and metrics["failure_rate"] <= 0.05
    assert sum(map(sum, metrics["confusion"])) == 64
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 64
    assert "K accuracy" in capsys.readouterr().out
