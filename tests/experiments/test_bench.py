"""`python -m peakflow.experiments.bench` with tiny settings."""

import pytest

from peakflow.experiments import bench


@pytest.mark.slow  # 15 s: trains and times every preset's step
def test_bench_prints_figures(capsys):
    out = bench.main(["--presets", "tiny", "--steps", "2", "--batches", "8", "--repeats", "3"])
    train, batched = out["train"][0], out["inference"]["batched"][0]
    assert train["preset"] == "tiny" and train["batch_size"] == 8
    assert train["steps_per_s"] * train["s_per_step"] == pytest.approx(1.0)
    assert batched["spectra_per_s"] == pytest.approx(8 / batched["seconds"])
    printed = capsys.readouterr().out
    assert f"{batched['spectra_per_s']:>9.0f} spectra/s" in printed and "single spectrum" in printed
