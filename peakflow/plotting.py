"""Matplotlib figures of fits: a measured spectrum's (`plot_spectrum_fit`, from
`peakflow.measured.fit_view`), a grid posterior's (`plot_fit`, from
`peakflow.grid.posterior_view`) and a map's band images and histograms (`plot_band_maps`,
`plot_band_histograms`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from peakflow.grid.posterior_view import band, plot_fit
from peakflow.measured.fit_view import MAX_COMPONENTS, plot_spectrum_fit, spectrum_band

__all__ = ["MAX_COMPONENTS", "band", "plot_band_histograms", "plot_band_maps", "plot_fit",
           "plot_spectrum_fit", "spectrum_band"]


def _band_panels(count: int, columns: int, size: tuple[float, float]
                 ) -> tuple[plt.Figure, list]:
    """A figure with one panel per band (`columns` across), the spare panels hidden."""
    across = min(columns, max(count, 1))
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, across, squeeze=False,
                             figsize=(size[0] * across, size[1] * rows))
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    return fig, list(axes.ravel()[:count])


def _band_title(bands, b: int, what: str) -> str:
    centre, share = float(bands["band_location"][b]), float(bands["share"][b])
    return f"{what} at {centre:.6g} ({share:.0%} of pixels)"


def plot_band_maps(bands, variable: str = "area", columns: int = 4) -> plt.Figure:
    """A page of band images (`peakflow.band_maps` output): one panel per band showing
    `variable` over the two spatial dimensions (a line scan is drawn as a curve), titled with
    the band's centre and the share of pixels that have it."""
    fig, axes = _band_panels(bands.sizes["band"], columns, (3.4, 3.0))
    for b, ax in enumerate(axes):
        image = bands[variable].isel(band=b)
        if image.ndim == 2:
            dims = image.dims
            shown = ax.imshow(image.values, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xlabel(dims[1])
            ax.set_ylabel(dims[0])
            fig.colorbar(shown, ax=ax, shrink=0.85)
        else:
            ax.plot(image.values, ".-", ms=3)
            ax.set_xlabel(image.dims[0])
        ax.set_title(_band_title(bands, b, variable), fontsize=9)
    fig.tight_layout()
    return fig


def plot_band_histograms(bands, variable: str = "area", columns: int = 4,
                         bins: int = 30) -> plt.Figure:
    """One histogram per band (`peakflow.band_maps` output) of `variable` over the pixels
    that have the band, with its median marked."""
    fig, axes = _band_panels(bands.sizes["band"], columns, (3.2, 2.4))
    for b, ax in enumerate(axes):
        values = np.asarray(bands[variable].isel(band=b).values, np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            ax.hist(values, bins=bins, color="C0", alpha=0.8)
            ax.axvline(np.median(values), color="C3", lw=1)
        ax.set_xlabel(variable)
        ax.set_title(_band_title(bands, b, "band"), fontsize=9)
    fig.tight_layout()
    return fig
