"""`make demo` (`peakflow.experiments.demo`)."""

from peakflow.experiments import demo


def test_demo_writes_a_plot(tmp_path, capsys):
    demo.main(["--out", str(tmp_path / "demo.png")])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "Posterior:" in capsys.readouterr().out
