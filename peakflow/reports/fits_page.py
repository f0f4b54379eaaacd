"""`peakflow.report`: the fits of a batch of spectra on one self-contained HTML page.

A summary table of every spectrum (file, thumbnail, peaks, bands, χ², worst stretch, noise,
flags), sortable by any column, the spectra that failed or that the model does not explain
first and highlighted; a click on a row opens that spectrum's figure (data, baseline, fit,
components or bands, flagged windows; residual with ±2 noise sd) and its band and peak
tables. The curves are stored small (`peakflow.reports.compact`) and drawn by the page's
script only when opened, so that a report of thousands of spectra opens at once.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from peakflow.measured.fit_view import MAX_COMPONENTS, fit_tables, flags
from peakflow.measured.results import SpectrumFit
from peakflow.reports.compact import BUCKETS, extremes, pack, support, thumbnail
from peakflow.reports.page import json_script, stamp, write_page

COLUMNS = ("#", "file", "preview", "peaks", "bands", "χ²", "stretch (sd)", "noise sd", "flags")


def report(fits: Sequence[SpectrumFit], path: str | os.PathLike, *,
           title: str | None = None) -> Path:
    """Writes the HTML report of `fits` (from `peakflow.fit_many` or `peakflow fit`) to
    `path`, atomically, and returns the path. Failed fits are listed with their reasons.

    Raises:
      ValueError: `fits` is empty or holds something other than `SpectrumFit`.
    """
    fits = list(fits)
    if not fits:
        raise ValueError("report: no fits given")
    if not all(isinstance(f, SpectrumFit) for f in fits):
        raise ValueError("report: every item must be a SpectrumFit (from peakflow.fit)")
    order = sorted(range(len(fits)), key=lambda i: (rank(fits[i]), i))
    rows = "".join(summary_row(i, fits[i]) for i in order)
    failed = sum(f.error is not None for f in fits)
    flagged = sum(bool(f.unexplained) and f.error is None for f in fits)
    title = title or f"peakflow report: {len(fits)} spectra"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = (f"<header><h1>{html.escape(title)}</h1><p>{len(fits)} spectra: "
            f"{len(fits) - failed - flagged} fitted and explained, "
            f"<span class='flagged-text'>{flagged} flagged (part of the data the model does "
            f"not explain)</span>, <span class='failed-text'>{failed} failed</span>. Flagged "
            f"and failed spectra come first. Click a column to sort, a row for its figure and "
            f"tables."
            f"</p><p class='stamp'>{html.escape(stamp())}</p>"
            f"<label><input type='checkbox' id='pf-only-flagged'> only flagged or failed"
            f"</label></header><table id='pf-summary'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>")
    data = "".join(json_script(f"pf-{i}", payload(f)) for i, f in enumerate(fits)
                   if f.error is None)
    return write_page(path, title, body, data)


def rank(fit: SpectrumFit) -> int:
    """0 failed, 1 not explained, 2 the rest: the summary's default order."""
    return 0 if fit.error else 1 if fit.unexplained else 2


def summary_row(index: int, fit: SpectrumFit) -> str:
    """One ``<tr>`` of the summary; each cell's ``data-v`` is what sorting reads."""
    name = str(fit.name if fit.name is not None else f"spectrum {index}")
    state = ["ok", "flagged", "failed"][2 - rank(fit)]
    said = "; ".join(flags(fit))
    file = (name, f'<span title="{html.escape(name)}">{html.escape(Path(name).name)}</span>')
    if fit.error:
        cells = [(index, str(index)), file, ("", "")] + [("", "–")] * 5
    else:
        cells = [(index, str(index)), file,
                 ("", thumbnail(fit.x, fit.y, fit.fitted, bool(fit.unexplained))),
                 (fit.num_peaks, str(fit.num_peaks)), (len(fit.bands), str(len(fit.bands))),
                 *((v, f"{v:.3g}") for v in (fit.chi2, fit.stretch, fit.noise))]
    cells.append((said, html.escape(said)))
    tds = "".join(f'<td data-v="{html.escape(str(_sortable(v)))}">{shown}</td>'
                  for v, shown in cells)
    return f'<tr class="{state}" data-i="{index}">{tds}</tr>'


def _sortable(value) -> object:
    return "" if isinstance(value, float) and not np.isfinite(value) else value


def payload(fit: SpectrumFit) -> dict:
    """What the page's script draws a fit from: its curves at the points `extremes` keeps
    (packed: x, data, fit, baseline, residual), the components (or, with more than
    `MAX_COMPONENTS`, marks at their heights) and bands of several components as
    ``[first point, packed curve]`` over their support, the flagged windows' x ranges, the
    noise sd, axis labels and the tables as HTML."""
    keep = extremes(fit.y, BUCKETS)
    x, baseline = fit.x[keep], fit.baseline[keep]
    components = fit.components()[:, keep] if fit.num_peaks else np.zeros((0, keep.size))
    spans = lambda curves: [[lo, pack(c[lo:hi])] for c in curves
                            for lo, hi in [support(c)] if hi > lo]
    several = [m for m in fit.bands.members if len(m) > 1]
    p = fit.peaks
    marks = fit.num_peaks > MAX_COMPONENTS
    w = fit.windows
    notes = [f"{key.replace('_', ' ')}: {fit.meta[key]}" for key in ("columns_chosen", "path")
             if fit.meta.get(key)] + [str(n) for n in fit.meta.get("reader_notes", [])]
    return {
        "name": str(fit.name or "spectrum"), "noise": float(fit.noise),
        "x": pack(x), "y": pack(fit.y[keep]), "fit": pack(fit.fitted[keep]),
        "base": pack(baseline), "res": pack(fit.y[keep] - fit.fitted[keep]),
        "comp": [] if marks else spans(components),
        "marks": [[float(c), float(a), float(2 * s)] for c, a, s in
                  zip(p.location, p.amplitude + np.interp(p.location, fit.x, fit.baseline),
                      p.location_sd)] if marks else [],
        "bands": spans([components[m].sum(axis=0) for m in several]),
        "flag": [[float(a), float(b)] for a, b, u in zip(w.start, w.stop, w.unexplained) if u],
        "xlabel": str(fit.meta.get("x_label") or "x"),
        "ylabel": str(fit.meta.get("y_label") or "intensity"),
        "summary": (f"{fit.num_peaks} peak(s) in {len(fit.bands)} band(s), χ² {fit.chi2:.3g}, "
                    f"noise sd {fit.noise:.3g}, grid step {fit.grid_step:.4g}"),
        "flags": flags(fit), "notes": notes, "tables": fit_tables(fit),
    }
