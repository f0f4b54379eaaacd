"""What ``peakflow fit`` writes: per file its peak table (CSV and JSON), its band table and
figure, and the tables of all files; every file written whole or not at all (`atomic_write`)."""

from __future__ import annotations

import os
from pathlib import Path

from peakflow.io import atomic_write


def output_stems(files: list[str]) -> dict[str, Path]:
    """Each input's output stem below ``--out``: its file stem, or, when two inputs share a
    stem, its path below the inputs' common folder without the suffix."""
    stems = [Path(f).stem for f in files]
    if len(set(stems)) == len(stems):
        return {f: Path(s) for f, s in zip(files, stems)}
    absolute = [Path(f).resolve() for f in files]
    common = Path(os.path.commonpath([p.parent for p in absolute]))
    return {f: p.relative_to(common).with_suffix("") for f, p in zip(files, absolute)}


def outputs(stem: Path, out: Path, plot: bool) -> list[Path]:
    """The files `peakflow fit` writes for an input: peaks CSV, JSON, bands CSV (and
    figure)."""
    base = out / stem
    names = [f"{base.name}.peaks.csv", f"{base.name}.peaks.json", f"{base.name}.bands.csv"]
    return [base.with_name(n) for n in names] + ([base.with_name(f"{base.name}.png")]
                                                  if plot else [])


def write_fit(fit, stem: Path, out: Path, plot: bool) -> list[Path]:
    """Writes a fit's outputs (`outputs`), each to a temporary name renamed when complete
    (the JSON last, so a rerun with ``--resume`` treats a file as finished only when all are
    there)."""
    paths = outputs(stem, out, plot)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    fit.write_csv(paths[0])
    fit.write_bands_csv(paths[2])
    if plot:
        import matplotlib.pyplot as plt

        from peakflow.plotting import plot_spectrum_fit

        figure = plot_spectrum_fit(fit, title=f"{Path(fit.name).name}: {fit.num_peaks} "
                                   f"peak(s), {len(fit.bands)} band(s)")
        with atomic_write(paths[3]) as temporary:
            figure.savefig(temporary, dpi=120)
        plt.close(figure)
    fit.write_json(paths[1])
    return paths


def write_combined(fits: list, out: Path) -> None:
    """Every fit's peaks in one table, ``peaks.csv`` (and ``peaks.parquet`` with pyarrow),
    and every fit's bands in ``bands.csv``, each with a ``spectrum`` column."""
    from peakflow.measured import fits_to_dataframe
    from peakflow.measured.bands import bands_to_dataframe

    for name, table in (("peaks", fits_to_dataframe(fits)), ("bands", bands_to_dataframe(fits))):
        with atomic_write(out / f"{name}.csv") as temporary:
            table.to_csv(temporary, index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return
    with atomic_write(out / "peaks.parquet") as temporary:
        fits_to_dataframe(fits).to_parquet(temporary, index=False)


def write_report(fits: list, failures: dict[str, str], path: Path) -> Path:
    """`peakflow.report` of the run's fits, with the files that could not be read (in
    `failures`, path → problem, and not among `fits`) listed as failed; returns its path."""
    from peakflow.measured.results import failed_fit
    from peakflow.reports import report

    fitted = {f.name for f in fits}
    unread = [failed_fit(problem, name, 0) for name, problem in failures.items()
              if name not in fitted]
    return report(fits + unread, path)
