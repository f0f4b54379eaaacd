"""``python -m peakflow.experiments.compare``: every method, figure and table, tiny sizes."""

import json

import pytest

from peakflow.experiments import compare


@pytest.mark.slow
def test_compare_quick_writes_every_artifact(tmp_path):
    out = tmp_path / "compare"
    compare.main(["--quick", "--n", "8", "--svi-steps", "100", "--finetune-steps", "20",
                  "--mcmc-n", "1", "--mcmc-warmup", "30", "--mcmc-samples", "30", "--lsq-n", "4",
                  "--out", str(out)])
    for name in ("loglik_hist.png", "confusion.png", "abs_errors.png", "sd_vs_mcmc.png",
                 "sbc_ecdf_amortized.png", "sbc_ecdf_amortized_exact.png", "metrics.json",
                 "report.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"amortized", "amortized+exact", "amortized+finetune",
                                       "SVI", "MCMC", "least squares"}
    assert set(metrics["sd_ratio_to_mcmc"]) == set(metrics["methods"]) - {"MCMC"}
    assert set(metrics["sbc_uniformity_p"]) == {"amortized", "amortized+exact"}
    report = (out / "report.md").read_text()
    assert "Quick run" in report and "speed-up" in report and "coverage" in report
