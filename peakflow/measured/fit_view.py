"""Figures of a measured spectrum's fit (`peakflow.SpectrumFit`): data, baseline, fit with its
95 % band, components or bands, flagged windows, and the residual with ±2 noise sd."""

from __future__ import annotations

import html

import jax
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from peakflow.core.seeds import as_generator
from peakflow.display import AxesArg, panels, plus_minus, png_uri, table
from peakflow.measured.doublet import line_profile


def spectrum_band(fit, key: jax.Array, n: int = 200, level: float = 0.95
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise central credible band of a `SpectrumFit`'s curve (baseline held fixed).

    Each peak's parameters are drawn jointly from its posterior (`SpectrumFit.sample`: the
    height-width correlation keeps a poorly determined peak's curve in check), peaks
    independently.

    Returns:
      (lo, hi), each (n_points,) on ``fit.x``.
    """
    if fit.draws is None:
        raise ValueError("this fit carries no posterior draws")
    draws, asymmetry = fit.draws.sample_with_asymmetry(as_generator(key), n)
    curves = np.zeros((n, fit.x.size))
    for i in range(fit.num_peaks):  # peaks one at a time keeps memory at n × n_points
        skew = asymmetry[:, i:i + 1] if np.any(asymmetry[:, i]) else None
        curves += line_profile(fit.x[None, :], *(v[:, i:i + 1] for v in draws), fit.doublet,
                               skew)
    tail = (1.0 - level) / 2
    curves += fit.baseline[None, :]
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


MAX_COMPONENTS = 40  # more peaks than this: marks at their heights instead of curves


def plot_spectrum_fit(fit, key: jax.Array | None = None, title: str | None = None,
                      xlabel: str | None = None, ylabel: str | None = None,
                      ax: AxesArg = None, min_probability: float = 0.0,
                      max_components: int = MAX_COMPONENTS) -> plt.Figure:
    """Figure of a measured spectrum's fit (`peakflow.SpectrumFit`).

    Top: data, baseline, fit with its 95 % band, each component (on the baseline) with its
    centre's ±2 sd, each band of several components (`SpectrumFit.bands`) as their sum,
    windows flagged as unexplained shaded red. Bottom: residual with ±2 noise sd.

    Args:
      key: PRNG key for the band (default PRNGKey(0)).
      xlabel, ylabel: axis labels; default the file's (``fit.meta``: ``x_label``,
        ``y_label``, from `read_spectrum`), else "x" and "intensity".
      ax: draw on these axes: one `Axes` (no residual panel) or a pair (fit, residual);
        default a new figure with both.
      min_probability: show only the peaks whose existence probability reaches this.
      max_components: with more peaks than this shown, each is a mark at its height (with
        its ±2 sd) instead of a dashed curve, so that spectra with hundreds stay readable.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    fig, top, bottom = panels(ax, (11, 6.5))
    top.plot(fit.x, fit.y, color="0.55", lw=0.8, label="data")
    top.plot(fit.x, fit.baseline, color="C2", lw=1, label="baseline")
    if len(fit.peaks):
        lo, hi = spectrum_band(fit, key)
        top.fill_between(fit.x, lo, hi, color="C0", alpha=0.3, label="95 % band")
    top.plot(fit.x, fit.fitted, color="C0", lw=1.2, label="fit")
    _draw_peaks(top, fit, np.flatnonzero(fit.peaks.probability >= min_probability),
                max_components)
    for start, stop, flag in zip(fit.windows.start, fit.windows.stop, fit.windows.unexplained):
        if flag:
            for panel in (top, bottom):
                if panel is not None:
                    panel.axvspan(start, stop, color="red", alpha=0.06)
    top.set_title(title or f"{fit.name or 'spectrum'}: {fit.num_peaks} peak(s), "
                  f"{len(fit.bands)} band(s)"
                  + ("  (red: windows not explained)" if fit.unexplained else ""))
    top.legend(loc="upper right", fontsize=8)
    top.set_ylabel(ylabel or fit.meta.get("y_label") or "intensity")
    xlabel = xlabel or fit.meta.get("x_label") or "x"
    if bottom is None:
        top.set_xlabel(xlabel)
        return fig
    bottom.plot(fit.x, fit.y - fit.fitted, color="0.3", lw=0.6)
    bottom.axhspan(-2 * fit.noise, 2 * fit.noise, color="C0", alpha=0.2, label="±2 noise sd")
    bottom.set_ylabel("residual")
    bottom.set_xlabel(xlabel)
    bottom.legend(loc="upper right", fontsize=8)
    if ax is None:
        fig.tight_layout()
    return fig


def _draw_peaks(top: Axes, fit, shown: np.ndarray, max_components: int) -> None:
    """The peaks `shown` (indices): dashed components on the baseline with their centres'
    ±2 sd, or, when there are more than `max_components`, a mark at each one's height with a
    horizontal ±2 sd bar."""
    p = fit.peaks
    if shown.size > max_components:
        base = np.interp(p.location[shown], fit.x, fit.baseline)
        top.errorbar(p.location[shown], base + p.amplitude[shown],
                     xerr=2 * p.location_sd[shown], fmt="v", ms=3, color="C1", lw=0.8,
                     label=f"peaks ({shown.size}), ±2 sd")
        return
    components = fit.components()
    for n, i in enumerate(shown):
        top.plot(fit.x, fit.baseline + components[i], "--", lw=0.8, color="C1",
                 label="components" if n == 0 else None)
        centre, sd = p.location[i], p.location_sd[i]
        top.axvspan(centre - 2 * sd, centre + 2 * sd, color="C1", alpha=0.25)
    _draw_bands(top, fit, components, shown)


def _draw_bands(top: Axes, fit, components: np.ndarray, shown: np.ndarray) -> None:
    """Each band of several shown components (`SpectrumFit.bands`): their sum as a solid
    curve on the baseline, and a mark at its maximum."""
    drawn = 0
    for members in fit.bands.members:
        members = np.intersect1d(members, shown)
        if members.size < 2:
            continue
        curve = fit.baseline + components[members].sum(axis=0)
        top.plot(fit.x, curve, "-", lw=1.0, color="C3", alpha=0.8,
                 label="bands of several components" if drawn == 0 else None)
        top_point = int(np.argmax(curve - fit.baseline))
        top.plot(fit.x[top_point], curve[top_point], "v", color="C3", ms=4)
        drawn += 1


def flags(fit) -> list[str]:
    """What a reader should look at first, in words: why the fit failed, windows the model
    does not explain (with the worst stretch of residual), spikes replaced; empty when none."""
    if fit.error:
        return [f"failed: {fit.error}"]
    found = []
    flagged = int(np.sum(fit.windows.unexplained))
    if flagged:
        found.append(f"{flagged}/{fit.windows.start.size} windows unexplained, residual "
                     f"stretch {fit.stretch:.1f} sd")
    elif fit.unexplained:
        found.append(f"unexplained: residual stretch {fit.stretch:.1f} sd")
    if fit.spikes.size:
        found.append(f"{fit.spikes.size} spike(s) replaced")
    return found


def peak_rows(fit) -> tuple[list[str], list[list]]:
    """(header, rows) of the peak table as shown: each quantity ± its sd, η, the asymmetry
    when the fit has one, P(exists) and the window."""
    p = fit.peaks
    skewed = bool(np.any(p.asymmetry))
    header = ["#", "location", "FWHM", "height", "area", "η", *(["asymmetry"] * skewed),
              "P(exists)", "window"]
    rows = []
    for i in range(len(p)):
        row = [i + 1, *(plus_minus(getattr(p, c)[i], getattr(p, c + "_sd")[i])
                        for c in ("location", "fwhm", "amplitude", "area", "lorentzian"))]
        row += [plus_minus(p.asymmetry[i], p.asymmetry_sd[i])] if skewed else []
        rows.append(row + [f"{p.probability[i]:.3f}", int(p.window[i])])
    return header, rows


def band_rows(fit) -> tuple[list[str], list[list]]:
    """(header, rows) of the band table as shown: centroid, maximum, height, FWHM and area
    ± sd, P(exists) and the peaks it holds (numbered as in `peak_rows`)."""
    b = fit.bands
    header = ["#", "location", "maximum", "height", "FWHM", "area", "P(exists)", "peaks"]
    rows = [[i + 1, *(plus_minus(getattr(b, c)[i], getattr(b, c + "_sd")[i])
                      for c in ("location", "maximum", "height", "fwhm", "area")),
             f"{b.probability[i]:.3f}", ", ".join(str(int(m) + 1) for m in b.members[i])]
            for i in range(len(b))]
    return header, rows


def fit_tables(fit) -> str:
    """The fit's band table (when a band holds several peaks) and peak table, as HTML."""
    parts = []
    if len(fit.bands) and np.any(fit.bands.components > 1):
        parts.append("<h4>Bands</h4>" + table(*band_rows(fit)))
    return "".join(parts) + f"<h4>Peaks</h4>{table(*peak_rows(fit))}"


def fit_html(fit, dpi: int = 80) -> str:
    """A fit as HTML (`SpectrumFit._repr_html_`): a summary line with its flags, its figure
    (`plot_spectrum_fit`, embedded PNG) and its tables."""
    name = html.escape(str(fit.name or "spectrum"))
    if fit.error:
        return f"<div class='peakflow'><b>{name}</b>: failed: {html.escape(fit.error)}</div>"
    summary = (f"<b>{name}</b>: {fit.num_peaks} peak(s) in {len(fit.bands)} band(s), "
               f"χ² {fit.chi2:.3g}, noise sd {fit.noise:.3g}")
    warn = "".join(f"<br><span style='color:#b00'>{html.escape(f)}</span>" for f in flags(fit))
    figure = plot_spectrum_fit(fit)
    figure.set_size_inches(9, 5)
    return (f"<div class='peakflow'><p>{summary}{warn}</p>"
            f"<img alt='fit of {name}' src='{png_uri(figure, dpi)}'>{fit_tables(fit)}</div>")
