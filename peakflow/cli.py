"""The ``peakflow`` command (also ``python -m peakflow``).

    peakflow fit FILE... [--x-range LO HI] [--out DIR] [--plot] [--model DIR] [--resume]
                         [--baseline {arpls,asls,snip,none}] [--fwhm W] [--x-col C] [--y-col C]
                         [--laser NM] [--calibration CAL.json] [--exact] [--no-despike]
                         [--no-refine] [--seed N] [--doublet CuKa|SPLIT,RATIO]
                         [--shape symmetric|asymmetric] [--report REPORT.html]
    peakflow calibrate FILE [--standard polystyrene|neon|silicon|P1,P2,...] [--laser NM]
                            [--model auto|offset|linear|quadratic|cubic] [--out CAL.json]
    peakflow map FILE [--out RESULT.nc] [--plot] [--axis FILE] [--model DIR] [--baseline ...]
                      [--fwhm W] [--x-range LO HI] [--max-peaks N] [--variable area] [--exact]
                      [--no-despike] [--no-refine] [--report REPORT.html]
    peakflow check [MODEL_DIR...]    |    peakflow warmup [--model DIR]

For each file, ``fit`` writes ``<stem>.peaks.csv`` and ``<stem>.peaks.json`` (location, FWHM,
amplitude, area, Lorentzian fraction and γ, each with its sd, and P(K) of the window that found
each peak), ``<stem>.bands.csv`` (one row per band) and, with ``--plot``, ``<stem>.png``;
``--report`` writes one HTML page of them all (`peakflow.report`). Inputs sharing a stem
(``a/s.txt``, ``b/s.txt``) keep their folders below their common one (``OUT/a/s.peaks.csv``).
``peaks.csv`` and ``bands.csv`` in ``--out`` hold every file's peaks and bands in one table
each with a ``spectrum`` column (and ``peaks.parquet`` when pyarrow is installed); with
``--resume`` they hold the files fitted in that run (`peakflow.cli_outputs`). The files' windows go
through the model together, 64 files at a time, with a progress bar. A file that cannot be
read or fitted is reported on stderr and the others are still written; the exit status is 1
when any file failed, 2 for bad arguments. Every output is written to a temporary name and
renamed when complete; ``--resume`` skips the files whose outputs are already in ``--out``.

``map`` reads a spectral map (`peakflow.map_io.read_map`: Renishaw ``.wdf``, HORIBA ``.xml``,
``.hspy``, WiRE/LabSpec text exports, ``.nc``, ``.npz``, ``.npy`` with ``--axis``), fits every
pixel on one shared grid with a progress bar (`peakflow.fit_map`), writes the per-pixel
dataset to ``RESULT.nc`` and the band images (`peakflow.band_maps`) to ``RESULT.bands.nc``,
and with ``--plot`` a page of band images to ``RESULT.bands.png``. Pixels that cannot be
fitted are counted on stderr (their reasons are in the dataset's ``error``); the exit status is
1 when the file cannot be read.

Columns of a table are chosen by what their names mean (`peakflow.columns`: Raman shift over
wavenumber over wavelength over pixel; processed or dark-subtracted over intensity over raw);
each file's line says which were used, and a table that cannot be read without guessing is
refused with its columns listed (choose with ``--x-col``/``--y-col``). With ``--laser`` (or a
laser wavelength in the file's metadata) a wavelength axis becomes Raman shift.

``calibrate`` fits a measured standard, matches its peaks to the reference lines
(`peakflow.calibrate`), prints the residual per line and writes the correction to
``CAL.json``; ``fit --calibration CAL.json`` applies it.

``check`` verifies each model directory (default: both bundled models) against its checksum
manifest and reruns its self-test batch (`peakflow.check_model`); the exit status is 1 when
any model is damaged or its outputs differ from the stored ones. ``warmup`` fills the caches
(`peakflow.experiments.warmup`) so that later processes load instead of compile.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tqdm import tqdm

from peakflow.cli_outputs import (
    output_stems,
    outputs,
    write_combined,
    write_fit,
    write_report,
)
from peakflow.config import BASELINE_METHODS
from peakflow.extras import require
from peakflow.io import SpectrumFileError, atomic_write, read_spectrum

GROUP = 64  # files fitted per call (one progress step); the model sees all their windows at once


def _version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("peakflow")
    except PackageNotFoundError:
        from peakflow import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakflow", description=_plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"peakflow {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit peaks in spectrum files and write peak tables")
    fit.add_argument("files", nargs="+", metavar="FILE",
                     help="two-column text/CSV (any delimiter, headers, decimal commas), "
                          ".xye (its sigma column is the noise), JCAMP-DX (.jdx/.dx) or .spc")
    fit.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                     help="output folder (default: the current folder)")
    fit.add_argument("--plot", action="store_true", help="also write a PNG of each fit")
    fit.add_argument("--report", type=Path, default=None, metavar="REPORT.html",
                     help="also write one self-contained HTML page of this run's files: a "
                          "sortable summary (flagged and failed first) and each fit's figure "
                          "and tables")
    fit.add_argument("--x-col", default=None, help="x column of a table, by name or index")
    fit.add_argument("--y-col", default=None, help="y column of a table, by name or index")
    fit.add_argument("--laser", type=float, default=None, metavar="NM",
                     help="laser wavelength: a wavelength or absolute-wavenumber axis becomes "
                          "Raman shift (default: the file's metadata, if it names one)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    fit.add_argument("--resume", action="store_true",
                     help="skip files whose outputs are already in --out (outputs are written "
                          "to temporary names and renamed, so none is ever half-written)")
    fit.add_argument("--calibration", type=Path, default=None, metavar="CAL.json",
                     help="an axis calibration from `peakflow calibrate`: the axis is corrected "
                          "and each location's sd includes the calibration's")
    _add_common(fit)
    cal = commands.add_parser("calibrate", help="calibrate an instrument's axis against a "
                                                "measured standard; write CAL.json")
    cal.add_argument("file", metavar="FILE", help="the standard's spectrum file")
    cal.add_argument("--standard", default="polystyrene",
                     help="polystyrene (ASTM E1840), neon (needs the laser wavelength), "
                          "silicon, or comma-separated line positions (default polystyrene)")
    cal.add_argument("--model", default="auto",
                     choices=["auto", "offset", "linear", "quadratic", "cubic"],
                     help="the correction (default auto: the lowest BIC)")
    cal.add_argument("--laser", type=float, default=None, metavar="NM",
                     help="laser wavelength (default: the file's metadata)")
    cal.add_argument("--x-col", default=None, help="x column of a table, by name or index")
    cal.add_argument("--y-col", default=None, help="y column of a table, by name or index")
    cal.add_argument("--out", type=Path, default=None, metavar="CAL.json",
                     help="where to write it (default: FILE's stem + .calibration.json)")
    warm = commands.add_parser("warmup", help="compile and save the measured path's fixed "
                                              "set of programs ahead of time (once per "
                                              "machine, a few minutes)")
    warm.add_argument("--model", default=None, help="model directory (default: bundled broad)")
    check = commands.add_parser("check", help="verify models' checksums and rerun their "
                                              "self-test batch")
    check.add_argument("models", nargs="*", metavar="MODEL_DIR",
                       help="model directories (default: both bundled models)")
    maps = commands.add_parser("map", help="fit every pixel of a spectral map; write a netCDF "
                                           "dataset and band images")
    maps.add_argument("file", metavar="FILE", help="a map file (.wdf, .xml, .hspy, WiRE or "
                                                  "LabSpec text export, .nc, .npz, .npy)")
    maps.add_argument("--out", type=Path, default=None, metavar="RESULT.nc",
                      help="output dataset (default: FILE's stem + .peaks.nc)")
    maps.add_argument("--axis", default=None, metavar="FILE",
                      help="the spectral axis (text or .npy) when FILE has none (.npy)")
    maps.add_argument("--plot", action="store_true", help="also write a page of band images")
    maps.add_argument("--report", type=Path, default=None, metavar="REPORT.html",
                      help="also write an HTML page: failed pixels, the bands, their images "
                           "and histograms")
    maps.add_argument("--variable", default="area",
                      choices=["area", "amplitude", "location", "fwhm", "components"],
                      help="what the band images show (default area)")
    maps.add_argument("--max-peaks", type=int, default=32, help="peak slots per pixel")
    maps.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    _add_common(maps)
    return parser


def _add_common(command: argparse.ArgumentParser) -> None:
    """Options shared by ``fit`` and ``map``."""
    command.add_argument("--x-range", nargs=2, type=float, metavar=("LO", "HI"),
                         help="fit only this part of the x axis")
    command.add_argument("--model", default=None, metavar="DIR",
                         help="model directory (default: the bundled real-data model)")
    command.add_argument("--baseline", default="arpls", choices=BASELINE_METHODS,
                         help="baseline removed before fitting (default arpls)")
    command.add_argument("--baseline-refits", type=int, default=0, metavar="N",
                         help="re-estimate the baseline from the data minus the peaks and "
                              "refit, N rounds (default 0; 1: truer error bars, slower)")
    command.add_argument("--fwhm", type=float, default=None,
                         help="typical peak FWHM in x units (default: estimated from the data)")
    command.add_argument("--exact", action="store_true",
                         help="reweight every window towards its exact posterior (calibrated "
                              "sds, k̂ per window; ~10x slower)")
    command.add_argument("--no-despike", action="store_true",
                         help="keep one- and two-point spikes (default: replaced before fitting)")
    command.add_argument("--no-refine", action="store_true",
                         help="report the amortized posterior as is (default: each window's "
                              "peaks refined jointly and the ones the data do not need dropped;"
                              " ~2x faster without)")
    command.add_argument("--doublet", default=None, metavar="ANODE|SPLIT,RATIO",
                         help="every peak is a pair of lines, reported once at its main line: "
                              "CuKa, CoKa, MoKa, FeKa or CrKa (K-alpha1/2 on a 2-theta axis in "
                              "degrees), or SPLIT,RATIO (a second line SPLIT x units away, "
                              "RATIO times as high)")
    command.add_argument("--shape", default="symmetric", choices=["symmetric", "asymmetric"],
                         help="peak shape: pseudo-Voigt, or a split pseudo-Voigt per peak where "
                              "the data want one (asymmetric bands as one peak each)")
    command.add_argument("--seed", type=int, default=0,
                         help="seed of the fit's random numbers (default 0): padding noise, "
                              "the draws behind the sds, the exactness step")


def _plain(text: str) -> str:
    """A docstring as plain text for ``--help``: no reST backticks."""
    return re.sub(r"`+([^`]+)`+", r"\1", text).strip()


def _options(args: argparse.Namespace):
    from peakflow.measured import FitOptions

    return FitOptions(baseline=args.baseline, baseline_refits=args.baseline_refits,
                      fwhm=args.fwhm, exact=args.exact,
                      x_range=tuple(args.x_range) if args.x_range else None,
                      despike=not args.no_despike, refine=not args.no_refine,
                      seed=args.seed, doublet=args.doublet, shape=args.shape)


def _column(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else value


def run_fit(args: argparse.Namespace) -> int:
    """Reads, fits and writes every file; returns the exit status."""
    args.out.mkdir(parents=True, exist_ok=True)
    stems = output_stems(args.files)
    todo = [path for path in args.files if not (
        args.resume and all(p.is_file() for p in outputs(stems[path], args.out, args.plot)))]
    if len(todo) < len(args.files) and not args.quiet:
        print(f"--resume: {len(args.files) - len(todo)} file(s) already done, skipped",
              file=sys.stderr)
    failures: dict[str, str] = {}
    spectra, names = [], []
    for path in tqdm(todo, desc="read", unit="file", disable=args.quiet or not todo):
        try:
            spectrum = read_spectrum(path, x=_column(args.x_col), y=_column(args.y_col),
                                     laser_nm=args.laser)
        except (SpectrumFileError, OSError, ValueError) as err:
            failures[path] = getattr(err, "problem", str(err))
            continue
        spectra.append(spectrum)
        names.append(path)
    fits = _fit_groups(spectra, names, args)
    written = []
    for fit in tqdm(fits, desc="write", unit="file", disable=args.quiet or not fits):
        if fit.error:
            failures[fit.name] = fit.error
            continue
        try:
            write_fit(fit, stems[fit.name], args.out, args.plot)
        except OSError as err:
            failures[fit.name] = f"cannot write results: {err}"
            continue
        written.append(fit)
        if not args.quiet:
            flag = "  (some windows unexplained)" if fit.unexplained else ""
            chosen = f"  [{fit.meta['columns_chosen']}]" if "columns_chosen" in fit.meta else ""
            tqdm.write(f"{fit.name}: {fit.num_peaks} peak(s){flag}{chosen}")
    if written:
        write_combined(written, args.out)
    if args.report is not None:
        path = write_report(fits, failures, args.report)
        if not args.quiet:
            print(f"report: {path}", file=sys.stderr)
    for path, problem in failures.items():
        print(f"peakflow: {path}: {problem}", file=sys.stderr)
    if not args.quiet:
        where = f"; results in {args.out}" if written else ""
        print(f"{len(written)} of {len(todo)} file(s) fitted{where}"
              + (f", {len(failures)} failed" if failures else ""), file=sys.stderr)
    return 1 if failures else 0


def _fit_groups(spectra: list, names: list[str], args: argparse.Namespace) -> list:
    """`fit_many` on groups of `GROUP` files, with a progress bar over the files."""
    if not spectra:
        return []
    from peakflow.measured import fit_many

    options, fits = _options(args), []
    calibration = None
    if args.calibration is not None:
        from peakflow.measured import Calibration

        calibration = Calibration.load(args.calibration)
    with tqdm(total=len(spectra), desc="fit", unit="file", disable=args.quiet) as bar:
        for lo in range(0, len(spectra), GROUP):
            fits += fit_many(spectra[lo:lo + GROUP], model=args.model,
                             names=names[lo:lo + GROUP], calibration=calibration,
                             options=options)
            bar.update(len(spectra[lo:lo + GROUP]))
    return fits


def run_map(args: argparse.Namespace) -> int:
    """Reads, fits and writes one map; returns the exit status."""
    from peakflow.map_io import SPECTRAL, read_map
    from peakflow.measured import band_maps, fit_map

    try:
        cube = read_map(args.file, axis=args.axis)
    except SpectrumFileError as err:
        print(f"peakflow: {err}", file=sys.stderr)
        return 1
    out = args.out or Path(args.file).with_suffix(".peaks.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = fit_map(cube, dim=SPECTRAL, model=args.model, options=_options(args),
                     max_peaks=args.max_peaks, progress=not args.quiet)
    bands = band_maps(result)
    bands_path = out.with_suffix(".bands.nc")
    for dataset, path in ((result, out), (bands, bands_path)):
        with atomic_write(path) as temporary:
            require("h5netcdf", "writing map results (netCDF)")
            dataset.to_netcdf(temporary, engine="h5netcdf")
    written = [out, bands_path]
    if args.plot:
        import matplotlib.pyplot as plt

        from peakflow.plotting import plot_band_maps

        figure = plot_band_maps(bands, args.variable)
        written.append(out.with_suffix(".bands.png"))
        with atomic_write(written[-1]) as temporary:
            figure.savefig(temporary, dpi=110)
        plt.close(figure)
    if args.report is not None:
        from peakflow.reports import map_report

        written.append(map_report(result, bands, args.report, variable=args.variable,
                                  title=f"peakflow map report: {Path(args.file).name}"))
    failed = int((result["error"] != "").sum())
    if not args.quiet:
        print(f"{result['num_peaks'].size - failed} of {result['num_peaks'].size} pixel(s) "
              f"fitted, {bands.sizes['band']} band(s); wrote "
              + ", ".join(str(p) for p in written), file=sys.stderr)
    if failed:
        print(f"peakflow: {failed} pixel(s) could not be fitted (see the 'error' variable)",
              file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    """`peakflow check`: manifest and self-test of each model; 1 if any fails."""
    from peakflow.runtime.compile_cache import ENV, enable_compile_cache
    from peakflow.runtime.integrity import ModelIntegrityError
    from peakflow.runtime.saved_programs import SUBFOLDER
    from peakflow.runtime.sealed import check_model
    from peakflow.runtime.trained import GRID_MODEL, MEASURED_MODEL

    folder = enable_compile_cache()
    print(f"compilation cache: {folder if folder else 'off'} (move or turn off with {ENV}); "
          f"saved programs in {folder / SUBFOLDER if folder else '-'}")
    failed = 0
    for model in args.models or [GRID_MODEL, MEASURED_MODEL]:
        try:
            report = check_model(model)
        except (ModelIntegrityError, FileNotFoundError) as err:
            print(f"model {model}\n  FAILED: {err}", file=sys.stderr)
            failed += 1
            continue
        print(report)
        failed += not report.ok
    return int(failed > 0)


def run_calibrate(args: argparse.Namespace) -> int:
    """Fits the standard, writes the calibration and prints its residual table."""
    from peakflow.measured import calibrate

    standard = args.standard if not args.standard[0].isdigit() else [
        float(v) for v in args.standard.split(",")]
    try:
        spectrum = read_spectrum(args.file, x=_column(args.x_col), y=_column(args.y_col),
                                 laser_nm=args.laser)
        result = calibrate(spectrum, standard, model=args.model, laser_nm=args.laser)
    except ValueError as err:  # SpectrumFileError names the file
        print(f"peakflow: {err}", file=sys.stderr)
        return 1
    out = args.out or Path(args.file).with_suffix(".calibration.json")
    result.save(out)
    print(f"{result}\nwritten to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("fit", "map"):
        try:
            _options(args)
        except ValueError as err:       # e.g. an unknown --doublet: bad arguments
            print(f"peakflow: {err}", file=sys.stderr)
            return 2
    if args.command == "fit":
        return run_fit(args)
    if args.command == "map":
        return run_map(args)
    if args.command == "check":
        return run_check(args)
    if args.command == "calibrate":
        return run_calibrate(args)
    if args.command == "warmup":
        from peakflow.experiments.warmup import main as warm

        return warm([] if args.model is None else ["--model", args.model])
    return 2  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":
    sys.exit(main())
