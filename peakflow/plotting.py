"""Matplotlib figures of a fit: data, fit, components, uncertainty band and residual."""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from peakflow.core.lineshape import Peaks, peak_sum, pseudo_voigt
from peakflow.core.seeds import as_generator
from peakflow.grid.posterior import Posterior
from peakflow.measured.doublet import line_profile

AxesArg = Axes | tuple[Axes, Axes] | None


def _panels(ax: AxesArg, figsize: tuple[float, float]) -> tuple[plt.Figure, Axes, Axes | None]:
    """(figure, top, bottom): a new two-panel figure (fit above, residual below) when `ax` is
    None; the caller's axes otherwise (one: no residual panel; a pair: fit and residual)."""
    if ax is None:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=figsize, sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1]})
        return fig, top, bottom
    top, bottom = ax if isinstance(ax, tuple) else (ax, None)
    return top.figure, top, bottom


def band(post: Posterior, key: jax.Array, n: int = 200, level: float = 0.95
         ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise central credible band of the fitted curve of a single-spectrum posterior.

    Returns:
      (lo, hi), each (W,).
    """
    draws = post.sample(n, seed=key)  # fields (n, P)
    present = ~np.isnan(draws.amplitude[0])
    omega = np.arange(post.fitted.shape[-1], dtype=np.float32)
    filled = Peaks(*(np.where(present, d, 1.0).astype(np.float32) for d in draws))
    curves = np.asarray(jax.vmap(peak_sum, in_axes=(None, 0, None))(omega, filled, present))
    tail = (1.0 - level) / 2
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


def plot_fit(x: np.ndarray, post: Posterior, truth: Peaks | None = None,
             key: jax.Array | None = None, title: str | None = None,
             ax: AxesArg = None) -> plt.Figure:
    """Figure of one spectrum's fit.

    Args:
      x: (W,) the spectrum.
      post: its single-spectrum `Posterior`.
      truth: optional true peaks (fields (K,), NaN or zero amplitude for absent ones).
      key: PRNG key for the 95 % band (default PRNGKey(0)).
      ax: draw on these axes: one `Axes` (the fit only) or a pair (fit, residual); default
        a new figure with both.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    omega = np.arange(x.shape[-1], dtype=np.float32)
    fig, top, bottom = _panels(ax, (9, 6))
    top.plot(omega, x, color="0.6", lw=0.8, label="data")
    lo, hi = band(post, key)
    top.fill_between(omega, lo, hi, color="C0", alpha=0.3, label="95 % band")
    top.plot(omega, post.fitted, color="C0", lw=1.5, label="posterior-mean fit")
    for i in range(int(post.num_peaks)):
        peak = Peaks(*(getattr(post, name).mean[i] for name in Peaks._fields))
        top.plot(omega, np.asarray(pseudo_voigt(omega, peak)), "--", lw=1,
                 label="components" if i == 0 else None, color="C1")
        top.axvspan(peak.location - 2 * post.location.sd[i],
                    peak.location + 2 * post.location.sd[i], color="C1", alpha=0.2)
    if truth is not None:
        present = np.asarray(truth.amplitude) > 0
        top.plot(np.asarray(truth.location)[present], np.asarray(truth.amplitude)[present],
                 "kv", label="true peaks")
    probs = ", ".join(f"{p:.2f}" for p in post.k_probs)
    top.set_title(title or f"{int(post.num_peaks)} peak(s);  P(K=0..) = [{probs}]")
    top.legend(loc="upper right", fontsize=8)
    top.set_ylabel("intensity")
    if bottom is None:
        top.set_xlabel("grid point")
        return fig
    bottom.plot(omega, x - post.fitted, color="0.3", lw=0.8)
    bottom.axhline(0, color="C0", lw=1)
    bottom.set_ylabel("residual")
    bottom.set_xlabel("grid point")
    if ax is None:
        fig.tight_layout()
    return fig


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
    fig, top, bottom = _panels(ax, (11, 6.5))
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


def plot_band_maps(bands, variable: str = "area", columns: int = 4) -> plt.Figure:
    """A page of band images (`peakflow.band_maps` output): one panel per band showing
    `variable` over the two spatial dimensions (a line scan is drawn as a curve), titled with
    the band's centre and the share of pixels that have it."""
    count = bands.sizes["band"]
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, min(columns, max(count, 1)), squeeze=False,
                             figsize=(3.4 * min(columns, max(count, 1)), 3.0 * rows))
    for b, ax in enumerate(axes.ravel()):
        if b >= count:
            ax.axis("off")
            continue
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
        centre, share = float(bands["band_location"][b]), float(bands["share"][b])
        ax.set_title(f"{variable} at {centre:.6g} ({share:.0%} of pixels)", fontsize=9)
    fig.tight_layout()
    return fig
