"""The ``peakflow`` command (also ``python -m peakflow``).

    peakflow fit FILE... [--x-range LO HI] [--out DIR] [--plot] [--model DIR]
                         [--baseline {arpls,asls,snip,none}] [--fwhm W] [--x-col C] [--y-col C]

For each file, ``fit`` writes ``<stem>.peaks.csv`` and ``<stem>.peaks.json`` (location, FWHM,
amplitude, area, Lorentzian fraction and γ, each with its sd, and P(K) of the window that found
each peak) and, with ``--plot``, ``<stem>.png``. All files' windows go through the model
together. A file that cannot be read or fitted is reported on stderr and the others are still
written; the exit status is 1 when any file failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from peakflow.io import SpectrumFileError, read_spectrum
from peakflow.measured import FitOptions, SpectrumFit, fit_many
from peakflow.measured.baseline import METHODS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakflow", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit peaks in spectrum files and write peak tables")
    fit.add_argument("files", nargs="+", metavar="FILE",
                     help="two-column text/CSV (any delimiter, headers, decimal commas), "
                          ".xye, or JCAMP-DX (.jdx/.dx)")
    fit.add_argument("--x-range", nargs=2, type=float, metavar=("LO", "HI"),
                     help="fit only this part of the x axis")
    fit.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                     help="output folder (default: the current folder)")
    fit.add_argument("--plot", action="store_true", help="also write a PNG of each fit")
    fit.add_argument("--model", default=None, metavar="DIR",
                     help="model directory (default: the bundled real-data model)")
    fit.add_argument("--baseline", default="arpls", choices=METHODS,
                     help="baseline removed before fitting (default arpls)")
    fit.add_argument("--fwhm", type=float, default=None,
                     help="typical peak FWHM in x units (default: estimated from the data)")
    fit.add_argument("--x-col", default=None, help="x column of a table, by name or index")
    fit.add_argument("--y-col", default=None, help="y column of a table, by name or index")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _column(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else value


def _write(fit: SpectrumFit, out: Path, plot: bool) -> list[Path]:
    stem = Path(fit.name).stem
    paths = [out / f"{stem}.peaks.csv", out / f"{stem}.peaks.json"]
    fit.write_csv(paths[0])
    fit.write_json(paths[1])
    if plot:
        import matplotlib.pyplot as plt

        from peakflow.plotting import plot_spectrum_fit

        figure = plot_spectrum_fit(fit, title=f"{Path(fit.name).name}: {fit.num_peaks} peak(s)")
        paths.append(out / f"{stem}.png")
        figure.savefig(paths[-1], dpi=120)
        plt.close(figure)
    return paths


def run_fit(args: argparse.Namespace) -> int:
    """Reads, fits and writes every file; returns the exit status."""
    args.out.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    spectra, names = [], []
    for path in tqdm(args.files, desc="read", unit="file", disable=args.quiet):
        try:
            spectrum = read_spectrum(path, x=_column(args.x_col), y=_column(args.y_col))
        except (SpectrumFileError, OSError, ValueError) as err:
            failures[path] = getattr(err, "problem", str(err))
            continue
        spectra.append(spectrum)
        names.append(path)
    options = FitOptions(baseline=args.baseline, fwhm=args.fwhm,
                         x_range=tuple(args.x_range) if args.x_range else None)
    fits = fit_many(spectra, model=args.model, names=names, options=options) if spectra else []
    for fit in tqdm(fits, desc="write", unit="file", disable=args.quiet):
        if fit.error:
            failures[fit.name] = fit.error
            continue
        try:
            _write(fit, args.out, args.plot)
        except OSError as err:
            failures[fit.name] = f"cannot write results: {err}"
            continue
        if not args.quiet:
            flag = "  (some windows unexplained)" if fit.unexplained else ""
            tqdm.write(f"{fit.name}: {fit.num_peaks} peak(s){flag}")
    for path, problem in failures.items():
        print(f"peakflow: {path}: {problem}", file=sys.stderr)
    if not args.quiet:
        print(f"{len(fits) - sum(f.error is not None for f in fits)} of {len(args.files)} "
              f"file(s) fitted; results in {args.out}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "fit":
        return run_fit(args)
    return 2  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":
    sys.exit(main())
