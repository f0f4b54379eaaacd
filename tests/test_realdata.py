"""The real-data path with the bundled broad model: simulated truth, real files, the CLI."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import peakflow
from peakflow.cli import main as cli_main
from peakflow.experiments.realdata import doublets_resolved, references, report
from peakflow.experiments.realistic import evaluate, realistic_spectrum
from peakflow.fitting import BROAD_MODEL, SpectrumFit, fit_spectra


@pytest.fixture(scope="module")
def broad():
    return peakflow.load_model(BROAD_MODEL)


def test_bundled_broad_model_is_the_broad_preset(broad):
    assert broad.config.preset == "broad" and broad.num_points == 256
    assert broad.config.model.k_max == 8 and broad.config.policy.noise_input


def test_realistic_simulated_spectra_are_recovered(broad):
    metrics, fits, _ = evaluate(6, seed=11, model=broad)
    assert metrics["recall"] >= 0.9
    assert metrics["precision"] >= 0.85
    assert metrics["median_location_error_fwhm"] < 0.05
    assert metrics["median_fwhm_rel_error"] < 0.15
    assert metrics["median_area_rel_error"] < 0.2
    assert all(isinstance(f, SpectrumFit) and f.error is None for f in fits)


def test_results_follow_the_callers_units_and_axis_direction(broad):
    x, y, _ = realistic_spectrum(np.random.default_rng(5))
    base = peakflow.infer(y, x=x, model=broad)
    # same spectrum, axis scaled ×0.01 and shifted, reversed, intensities ×1000
    moved = peakflow.infer(1000 * y[::-1], x=(0.01 * x + 7)[::-1], model=broad)
    assert moved.num_peaks == base.num_peaks > 5
    np.testing.assert_allclose(moved.peaks.location, 0.01 * base.peaks.location + 7, rtol=1e-4)
    np.testing.assert_allclose(moved.peaks.fwhm, 0.01 * base.peaks.fwhm, rtol=1e-3)
    np.testing.assert_allclose(moved.peaks.amplitude, 1000 * base.peaks.amplitude, rtol=1e-3)
    np.testing.assert_allclose(moved.peaks.area, 10 * base.peaks.area, rtol=1e-3)
    np.testing.assert_allclose(moved.noise, 1000 * base.noise, rtol=1e-6)


def test_a_bad_spectrum_in_a_batch_keeps_the_others(broad):
    rng = np.random.default_rng(6)
    (x1, y1, _), (x2, y2, _) = realistic_spectrum(rng), realistic_spectrum(rng)
    broken = y2.copy()
    broken[10] = np.nan
    fits = fit_spectra([(x1, y1), (x2, broken), (x2, y2)], model=broad)
    assert fits[1].error == "y contains 1 NaN and 0 inf value(s)" and fits[1].num_peaks == 0
    assert fits[0].error is None and fits[2].error is None and fits[0].num_peaks > 5
    alone = fit_spectra([(x1, y1)], model=broad)[0]
    np.testing.assert_allclose(alone.peaks.location, fits[0].peaks.location)
    with pytest.raises(ValueError, match="NaN"):
        peakflow.infer(broken, x=x2, model=broad)
    with pytest.raises(TypeError, match="need the axis x"):
        peakflow.infer(y1, baseline="none")


def test_every_window_reports_its_number_of_peaks(broad):
    x, y, _ = realistic_spectrum(np.random.default_rng(7))
    fit = peakflow.infer(y, x=x, model=broad)
    w = fit.windows
    assert w.k_probs.shape == (w.start.size, 9)
    np.testing.assert_allclose(w.k_probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(w.num_peaks, w.k_probs.argmax(axis=1))
    assert np.all(w.start < w.stop) and fit.x[0] <= w.start.min() and w.stop.max() <= fit.x[-1]
    assert np.all(np.isin(fit.peaks.window, np.arange(w.start.size)))
    residual = fit.y - fit.fitted
    assert np.std(residual) < 3 * fit.noise  # the curve explains the spectrum


def test_a_window_the_model_cannot_explain_is_flagged(broad):
    x = np.linspace(0, 100, 1500)
    y = np.where((x > 40) & (x < 60), 1.0, 0.0)  # a box: no sum of peaks explains its edges
    y = y + np.random.default_rng(8).normal(0, 1e-3, x.size)
    fit = peakflow.infer(y, x=x, model=broad, fwhm=2.0, baseline="none")
    assert fit.unexplained and fit.windows.unexplained.any()


# ------------------------------------------------------------------ real spectra

def _fit_file(data_dir, name, broad, **options):
    s = peakflow.read_spectrum(data_dir / name)
    return peakflow.infer(s.y, x=s.x, model=broad, **options)


@pytest.mark.parametrize("name, tolerance", [("Gauss1", 1.5), ("Gauss2", 1.5), ("Gauss3", 3.0)])
def test_nist_gauss_centres_match_the_certified_values(data_dir, broad, name, tolerance):
    fit = _fit_file(data_dir, f"nist_strd/{name}.dat", broad)
    certified = references(data_dir)[f"nist_strd/{name}.dat"]
    big = np.argsort(fit.peaks.area)[::-1][:2]  # the two largest peaks
    found = np.sort(fit.peaks.location[big])
    np.testing.assert_allclose(found, [c for _, c in certified], atol=tolerance)


def test_lab6_k_alpha_doublets_are_resolved(data_dir, broad):
    name = "xrd_lab6/LaB6_d500_si_psd.xye"
    fit = _fit_file(data_dir, name, broad, x_range=(20, 56))
    rows = report(fit, references(data_dir)[name][:12])  # (100) .. (211)
    assert doublets_resolved(rows, tolerance=0.02) == (6, 6)


@pytest.mark.parametrize("mineral, bands", [
    ("Quartz__R040031", [453, 694, 777, 797, 1163]),
    ("Calcite__R050048", [712, 872, 1795, 2515]),
    ("Calcite__R040070", [712, 872, 1795, 2515]),
])
def test_rruff_ir_bands_are_found(data_dir, broad, mineral, bands):
    (path,) = (data_dir / "rruff_ir").glob(f"{mineral}*.txt")
    fit = _fit_file(data_dir, path.relative_to(data_dir), broad)
    rows = report(fit, [(str(b), float(b)) for b in bands])
    assert max(abs(r["error"]) for r in rows) < 5.0
    assert len({r["index"] for r in rows}) == len(bands)  # 777/797 are two peaks


# ------------------------------------------------------------------ command line

def test_cli_writes_tables_and_plots_and_reports_bad_files(tmp_path, capsys):
    rng = np.random.default_rng(9)
    x, y, _ = realistic_spectrum(rng)
    good = tmp_path / "good.csv"
    np.savetxt(good, np.c_[x, y], delimiter=";", header="wavenumber;intensity", comments="")
    comma = tmp_path / "comma.txt"
    comma.write_text("x\ty\n" + "".join(f"{a:.6f}\t{b:.6f}\n".replace(".", ",")
                                        for a, b in zip(x, y)))
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a spectrum\n")
    out = tmp_path / "out"
    status = cli_main(["fit", str(good), str(bad), str(comma), str(tmp_path / "missing.csv"),
                       "--out", str(out), "--plot", "--quiet"])
    assert status == 1
    err = capsys.readouterr().err
    assert "bad.txt: contains no rows of numbers" in err and "missing.csv: no such file" in err
    for stem in ("good", "comma"):
        assert (out / f"{stem}.png").stat().st_size > 10_000
        with open(out / f"{stem}.peaks.csv") as handle:
            rows = list(csv.DictReader(handle))
        summary = json.loads((out / f"{stem}.peaks.json").read_text())
        assert len(rows) == summary["num_peaks"] > 5
        assert {"location", "location_sd", "fwhm", "fwhm_sd", "amplitude", "area", "area_sd",
                "lorentzian", "lorentzian_sd", "window_p_k0"} <= set(rows[0])
    tables = [np.loadtxt(out / f"{stem}.peaks.csv", delimiter=",", skiprows=1)
              for stem in ("good", "comma")]  # the same data, written with 6 decimals
    np.testing.assert_allclose(tables[0], tables[1], rtol=1e-3, atol=1e-3)
    assert cli_main(["fit", str(good), "--out", str(out), "--quiet",
                     "--x-range", str(x.min()), str(np.median(x))]) == 0


def test_python_dash_m_peakflow_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "peakflow", "fit", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--x-range" in result.stdout


def test_non_numeric_and_empty_spectra_are_named(broad):
    with pytest.raises(ValueError, match="y must be a 1-D array of real numbers"):
        peakflow.infer(["a"] * 10, x=np.arange(10.0), model=broad)
    with pytest.raises(ValueError, match="at least 8 points, got 0"):
        peakflow.infer([], x=[], model=broad)
    fits = fit_spectra([(np.arange(10.0), ["a"] * 10)], model=broad)
    assert "real numbers" in fits[0].error and fits[0].x.size == 0
