"""The ``peakflow`` command line."""

import csv
import json

import numpy as np
from conftest import run_python

from peakflow.cli import main as cli_main
from peakflow.experiments.realistic import realistic_spectrum


def test_cli_writes_tables_and_plots_and_reports_bad_files(tmp_path, capsys):
    rng = np.random.default_rng(9)
    y, x, _ = realistic_spectrum(rng)
    good = tmp_path / "good.csv"
    np.savetxt(good, np.c_[x, y], delimiter=";", header="wavenumber;intensity", comments="")
    comma = tmp_path / "comma.txt"
    comma.write_text("x\ty\n" + "".join(f"{a:.6f}\t{b:.6f}\n".replace(".", ",")
                                        for a, b in zip(x, y)))
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a spectrum\n")
    out = tmp_path / "out"
    status = cli_main(["fit", str(good), str(bad), str(comma), str(tmp_path / "missing.csv"),
                       "--out", str(out), "--plot", "--quiet", "--report",
                       str(out / "report.html")])
    assert status == 1
    err = capsys.readouterr().err
    assert "bad.txt: contains no rows of numbers" in err and "missing.csv: no such file" in err
    page = (out / "report.html").read_text()            # every file, the failures with why
    assert page.count('<tr class="failed"') == 2 and page.count("data-i=") == 4
    assert "failed: contains no rows of numbers" in page and "no such file" in page
    for name in ("good.csv", "comma.txt", "bad.txt", "missing.csv"):
        assert f">{name}</span>" in page
    for stem in ("good", "comma"):
        assert (out / f"{stem}.png").stat().st_size > 10_000
        with open(out / f"{stem}.peaks.csv") as handle:
            rows = list(csv.DictReader(handle))
        summary = json.loads((out / f"{stem}.peaks.json").read_text())
        assert len(rows) == summary["num_peaks"] > 5
        assert {"location", "location_sd", "fwhm", "fwhm_sd", "amplitude", "area", "area_sd",
                "lorentzian", "lorentzian_sd", "window_p_k0"} <= set(rows[0])
        with open(out / f"{stem}.bands.csv") as handle:
            bands = list(csv.DictReader(handle))
        assert len(bands) == summary["num_bands"] == len(summary["bands"]) > 5
        members = sorted(int(m) for b in bands for m in b["members"].split(";"))
        assert members == list(range(len(rows)))           # every peak in exactly one band
    with open(out / "bands.csv") as handle:
        assert {r["spectrum"] for r in csv.DictReader(handle)} == {str(good), str(comma)}
    tables = [np.loadtxt(out / f"{stem}.peaks.csv", delimiter=",", skiprows=1)
              for stem in ("good", "comma")]  # the same data, written with 6 decimals
    np.testing.assert_allclose(tables[0], tables[1], rtol=1e-3, atol=1e-3)
    assert cli_main(["fit", str(good), "--out", str(out), "--quiet",
                     "--x-range", str(x.min()), str(np.median(x))]) == 0


def test_python_dash_m_peakflow_runs_the_cli():
    result = run_python(["-m", "peakflow", "fit", "--help"], timeout=120)
    assert "--x-range" in result.stdout and "arpls" in result.stdout


def test_cli_map_writes_the_dataset_band_images_and_a_plot(tmp_path, capsys):
    import xarray as xr

    from peakflow.experiments.bench_measured import simulated_map

    cube, x, truth = simulated_map(np.random.default_rng(2), (3, 4), 800)
    lines = ["#X\t#Y\t#Wave\t#Intensity"]
    for j in range(3):
        for i in range(4):
            lines += [f"{i}\t{j}\t{w:.4f}\t{v:.4f}" for w, v in zip(x[::-1], cube[j, i, ::-1])]
    source = tmp_path / "wire_export.txt"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "result.nc"
    assert cli_main(["map", str(source), "--out", str(out), "--plot", "--quiet",
                     "--report", str(tmp_path / "map.html")]) == 0
    page = (tmp_path / "map.html").read_text()
    assert "12 pixels (y 3 × x 4): 12 fitted" in page and page.count("data:image/png") == 2
    with xr.open_dataset(out) as result:
        assert result["location"].dims == ("y", "x", "peak")
        assert np.all(result["num_peaks"].values >= 3)
    with xr.open_dataset(out.with_suffix(".bands.nc")) as bands:
        np.testing.assert_allclose(bands["band_location"].values[:3], truth["location"][:3],
                                   atol=1.0)
    assert out.with_suffix(".bands.png").stat().st_size > 10_000
    bad = tmp_path / "one_spectrum.txt"
    bad.write_text("".join(f"{a}\t{b}\n" for a, b in zip(x, cube[0, 0])))
    assert cli_main(["map", str(bad), "--quiet"]) == 1
    assert "not a map export" in capsys.readouterr().err


def test_outputs_are_written_whole_or_not_at_all(tmp_path):
    from peakflow.io import atomic_write

    target = tmp_path / "table.csv"
    target.write_text("old")
    try:
        with atomic_write(target) as temporary:
            temporary.write_text("half a ta")
            raise KeyboardInterrupt  # the run is interrupted mid-write
    except KeyboardInterrupt:
        pass
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "table.csv"]
    with atomic_write(target) as temporary:
        assert temporary.suffix == ".csv" and temporary.parent == tmp_path
        temporary.write_text("new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_resume_skips_files_already_done(tmp_path, capsys):
    rng = np.random.default_rng(4)
    files = []
    for stem in ("a", "b"):
        y, x, _ = realistic_spectrum(rng)
        files.append(tmp_path / f"{stem}.csv")
        np.savetxt(files[-1], np.c_[x, y], delimiter=",")
    out = tmp_path / "out"
    assert cli_main(["fit", *map(str, files), "--out", str(out)]) == 0
    (out / "b.peaks.json").unlink()                 # b was interrupted before it finished
    before = (out / "a.peaks.csv").stat().st_mtime_ns
    capsys.readouterr()
    assert cli_main(["fit", *map(str, files), "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "1 file(s) already done, skipped" in err and "1 of 1 file(s) fitted" in err
    assert (out / "b.peaks.json").is_file()
    assert (out / "a.peaks.csv").stat().st_mtime_ns == before


def test_version_is_printed(capsys):
    import pytest

    import peakflow

    with pytest.raises(SystemExit) as stop:
        cli_main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"peakflow {peakflow.__version__}"


def test_inputs_sharing_a_stem_keep_their_folders_and_a_combined_table(tmp_path, capsys):
    import pandas as pd

    for folder, seed in (("a", 1), ("b", 2)):
        y, x, _ = realistic_spectrum(np.random.default_rng(seed))
        (tmp_path / folder).mkdir()
        np.savetxt(tmp_path / folder / "s.txt", np.c_[x, y])
    out = tmp_path / "out"
    files = [str(tmp_path / "a" / "s.txt"), str(tmp_path / "b" / "s.txt")]
    assert cli_main(["fit", *files, "--out", str(out)]) == 0
    first = json.loads((out / "a" / "s.peaks.json").read_text())
    second = json.loads((out / "b" / "s.peaks.json").read_text())
    assert first["name"] != second["name"]                       # neither overwrote the other
    table = pd.read_csv(out / "peaks.csv")
    assert sorted(table["spectrum"].unique()) == sorted(files)
    assert len(table) == first["num_peaks"] + second["num_peaks"]
    assert "2 of 2 file(s) fitted; results in" in capsys.readouterr().err


def test_when_every_file_fails_the_summary_says_so(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("no numbers here\n")
    assert cli_main(["fit", str(bad), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "0 of 1 file(s) fitted, 1 failed" in err and "results in" not in err
    assert not (tmp_path / "out" / "peaks.csv").exists()


def test_help_is_plain_text_and_does_not_load_jax():
    code = ("import sys, contextlib, io; import peakflow.cli as c; buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
            "    c.main(['--help'])\n"
            "print('``' in buf.getvalue(), 'jax' in sys.modules)")
    assert run_python(["-c", code], timeout=120).stdout.split() == ["False", "False"]


def test_calibrate_writes_a_calibration_that_fit_applies(tmp_path, capsys):
    from peakflow.experiments.axis_calibration import standard_spectrum

    y, x = standard_spectrum(np.random.default_rng(4))
    standard = tmp_path / "ps.txt"
    np.savetxt(standard, np.c_[x, y], header="Raman Shift\tIntensity", comments="",
               delimiter="\t")
    assert cli_main(["calibrate", str(standard), "--out", str(tmp_path / "cal.json")]) == 0
    printed = capsys.readouterr().out
    assert "Calibration against polystyrene (linear, 11 lines" in printed
    assert "written to" in printed and (tmp_path / "cal.json").is_file()
    assert cli_main(["fit", str(standard), "--calibration", str(tmp_path / "cal.json"),
                     "--out", str(tmp_path / "out"), "--quiet"]) == 0
    fitted = json.loads((tmp_path / "out" / "ps.peaks.json").read_text())
    nearest = min(fitted["peaks"], key=lambda p: abs(p["location"] - 1001.4))
    assert abs(nearest["location"] - 1001.4) < 0.5 and fitted["calibration"] == "polystyrene"
    assert "calibrated against polystyrene" in fitted["x_label"]
    assert cli_main(["calibrate", str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err


def test_cli_fits_doublets_and_refuses_an_unknown_one(tmp_path, capsys):
    from peakflow.measured.doublet import Doublet

    rng = np.random.default_rng(4)
    x = np.linspace(280.0, 300.0, 1200)
    pair = Doublet(split=1.2, ratio=0.5)
    y = 10.0 + rng.normal(0.0, 2.0, x.size)
    for c, h in ((284.0, 600.0), (292.0, 900.0)):
        for at, height in ((c, h), (pair.second(c), 0.5 * h)):
            y += height / (1.0 + ((x - at) / 0.3) ** 2)
    source = tmp_path / "xps.txt"
    np.savetxt(source, np.c_[x, y])
    out = tmp_path / "out"
    assert cli_main(["fit", str(source), "--doublet", "1.2,0.5", "--out", str(out),
                     "--quiet"]) == 0
    summary = json.loads((out / "xps.peaks.json").read_text())
    assert summary["num_peaks"] == 2
    assert cli_main(["fit", str(source), "--doublet", "XxKa", "--out", str(out)]) == 2
    assert "unknown doublet" in capsys.readouterr().err



def test_fit_options_come_from_the_command_line():
    from peakflow.cli import _options, build_parser
    from peakflow.measured.doublet import Doublet

    args = build_parser().parse_args(["fit", "a.txt", "--baseline-refits", "2", "--doublet",
                                      "1.2,0.5", "--x-range", "100", "200"])
    options = _options(args)
    assert options.baseline_refits == 2 and options.doublet == Doublet(split=1.2, ratio=0.5)
    assert options.x_range == (100.0, 200.0) and options.refine
    assert not _options(build_parser().parse_args(["fit", "a.txt", "--no-refine"])).refine
    assert _options(build_parser().parse_args(["fit", "a.txt"])).baseline_refits == 0
