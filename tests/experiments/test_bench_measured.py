"""The measured-path benchmark reports every first-pass stage, refinement included."""

from peakflow.experiments.bench_measured import FIRST_PASS, main


def test_prints_each_stage(capsys):
    out = main(["--n", "3", "--repeats", "1"])
    assert set(FIRST_PASS) <= set(out) and all(out[k] > 0 for k in FIRST_PASS)
    assert out["windows"] >= 3 and out["end_to_end_spectra_per_s"] > 0
    printed = capsys.readouterr().out
    assert all(f"  {name[:-2]} " in printed for name in FIRST_PASS)
