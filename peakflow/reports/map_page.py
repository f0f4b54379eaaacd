"""`peakflow.reports.map_report`: a fitted map (`peakflow.fit_map`) and its bands
(`peakflow.band_maps`) on one self-contained HTML page: the pixels fitted and failed (with
the reasons), a table of the bands, their images and a histogram of each over its pixels."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import numpy as np

from peakflow.display import png_uri, table
from peakflow.plotting import plot_band_histograms, plot_band_maps
from peakflow.reports.page import stamp, write_page


def map_report(result, bands, path: str | os.PathLike, *, variable: str = "area",
               title: str | None = None) -> Path:
    """Writes the report of a map (`result` from `peakflow.fit_map`, `bands` from
    `peakflow.band_maps` of it) to `path`, atomically, and returns the path; the images and
    histograms show `variable` (``area``, ``amplitude``, ``location``, ``fwhm`` or
    ``components``)."""
    if variable not in bands:
        raise ValueError(f"map_report: band_maps has no variable {variable!r}; choose one "
                         f"of {sorted(str(v) for v in bands.data_vars)}")
    errors = np.asarray(result["error"].values).ravel()
    reasons = Counter(str(e) for e in errors if e)
    title = title or "peakflow map report"
    dims = " × ".join(f"{d} {n}" for d, n in result["num_peaks"].sizes.items())
    count = bands.sizes["band"]
    body = (f"<header><h1>{html.escape(title)}</h1><p>{errors.size} pixels ({dims}): "
            f"{errors.size - sum(reasons.values())} fitted, <span class='failed-text'>"
            f"{sum(reasons.values())} failed</span>; {count} band(s) found in at least "
            f"5 % of the fitted pixels.</p><p class='stamp'>{html.escape(stamp())}</p>"
            "</header>")
    if reasons:
        body += "<h2>Failed pixels</h2>" + table(["pixels", "reason"],
                                                 [[n, r] for r, n in reasons.most_common()])
    body += "<h2>Bands</h2>" + table(*band_rows(bands))
    if count:
        body += (f"<h2>Band images: {html.escape(variable)}</h2>"
                 f"<img alt='band images' src='{png_uri(plot_band_maps(bands, variable))}'>"
                 f"<h2>Histograms over the pixels: {html.escape(variable)}</h2>"
                 f"<img alt='band histograms' "
                 f"src='{png_uri(plot_band_histograms(bands, variable))}'>")
    return write_page(path, title, body, script=False)


def band_rows(bands) -> tuple[list[str], list[list]]:
    """(header, rows): each band's centre, the share of pixels that have it, and the median
    (with the 10th-90th percentiles) of its height, FWHM and area over those pixels."""
    header = ["band", "centre", "pixels with it", "height", "FWHM", "area"]
    rows = []
    for b in range(bands.sizes["band"]):
        cells = []
        for name in ("amplitude", "fwhm", "area"):
            values = np.asarray(bands[name].isel(band=b).values, np.float64).ravel()
            values = values[np.isfinite(values)]
            low, mid, high = (np.percentile(values, [10, 50, 90]) if values.size
                              else (np.nan,) * 3)
            cells.append(f"{mid:.4g} ({low:.4g} – {high:.4g})")
        rows.append([b + 1, float(bands["band_location"][b]), f"{float(bands['share'][b]):.0%}",
                     *cells])
    return header, rows
