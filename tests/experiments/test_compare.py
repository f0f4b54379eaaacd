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


TINY = ["--quick", "--n", "8", "--chunk", "2", "--svi-steps", "100", "--finetune-steps", "10",
        "--mcmc-n", "4", "--mcmc-warmup", "20", "--mcmc-samples", "20", "--lsq-n", "4",
        "--skip", "finetune"]


def _without_timings(metrics: dict) -> dict:
    """The metrics with every timing and the output folder removed."""
    if isinstance(metrics, dict):
        return {k: _without_timings(v) for k, v in metrics.items()
                if "seconds" not in k and k != "out"}
    return metrics


@pytest.mark.slow  # three tiny compare runs (~2 min)
def test_a_killed_compare_run_resumes_to_the_same_metrics(tmp_path):
    import subprocess
    import sys
    import time

    whole = compare.main([*TINY, "--out", str(tmp_path / "whole")])
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "peakflow.experiments.compare", *TINY,
                             "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((out / "parts" / "MCMC").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    done = compare.main([*TINY, "--out", str(out), "--status"])
    assert done["SVI"] == {"done": 4, "chunks": 4}      # killed during NUTS (2 s a chunk)
    assert 1 <= done["MCMC"]["done"] < done["MCMC"]["chunks"] == 2
    resumed = compare.main([*TINY, "--out", str(out)])
    assert _without_timings(resumed) == _without_timings(whole)
    with pytest.raises(ValueError, match="other settings .*svi_steps: 100 -> 200"):
        compare.main([*TINY[:-6], "--svi-steps", "200", *TINY[-6:], "--out", str(out)])
