"""Matplotlib figures of a fit: data, fit, components, uncertainty band and residual."""

from __future__ import annotations

import jax
import matplotlib

matplotlib.use("Agg")  # headless by default; callers with a display may switch back
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from peakflow.core.lineshape import Peaks, profile, pseudo_voigt, spectrum  # noqa: E402
from peakflow.grid.posterior import Posterior  # noqa: E402


def band(post: Posterior, key: jax.Array, n: int = 200, level: float = 0.95
         ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise central credible band of the fitted curve of a single-spectrum posterior.

    Returns:
      (lo, hi), each (W,).
    """
    draws = post.sample(key, n)  # fields (n, P)
    present = ~np.isnan(draws.amplitude[0])
    omega = np.arange(post.fitted.shape[-1], dtype=np.float32)
    filled = Peaks(*(np.where(present, d, 1.0).astype(np.float32) for d in draws))
    curves = np.asarray(jax.vmap(spectrum, in_axes=(None, 0, None))(omega, filled, present))
    tail = (1.0 - level) / 2
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


def plot_fit(x: np.ndarray, post: Posterior, truth: Peaks | None = None,
             key: jax.Array | None = None, title: str | None = None) -> plt.Figure:
    """Figure of one spectrum's fit.

    Args:
      x: (W,) the spectrum.
      post: its single-spectrum `Posterior`.
      truth: optional true peaks (fields (K,), NaN or zero amplitude for absent ones).
      key: PRNG key for the 95 % band (default PRNGKey(0)).
    """
    key = jax.random.PRNGKey(0) if key is None else key
    omega = np.arange(x.shape[-1], dtype=np.float32)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(omega, x, color="0.6", lw=0.8, label="data")
    lo, hi = band(post, key)
    top.fill_between(omega, lo, hi, color="C0", alpha=0.3, label="95 % band")
    top.plot(omega, post.fitted, color="C0", lw=1.5, label="posterior-mean fit")
    for i in range(int(post.num_peaks)):
        peak = Peaks(*(getattr(post, name).mean[i] for name in Peaks._fields))
        top.plot(omega, np.asarray(pseudo_voigt(omega, peak)), "--", lw=1,
                 label="components" if i == 0 else None, color="C1")
        top.axvspan(peak.location - 2 * post.location.std[i],
                    peak.location + 2 * post.location.std[i], color="C1", alpha=0.2)
    if truth is not None:
        present = np.asarray(truth.amplitude) > 0
        top.plot(np.asarray(truth.location)[present], np.asarray(truth.amplitude)[present],
                 "kv", label="true peaks")
    probs = ", ".join(f"{p:.2f}" for p in post.k_probs)
    top.set_title(title or f"{int(post.num_peaks)} peak(s);  P(K=0..) = [{probs}]")
    top.legend(loc="upper right", fontsize=8)
    top.set_ylabel("intensity")
    bottom.plot(omega, x - post.fitted, color="0.3", lw=0.8)
    bottom.axhline(0, color="C0", lw=1)
    bottom.set_ylabel("residual")
    bottom.set_xlabel("grid point")
    fig.tight_layout()
    return fig


def spectrum_band(fit, key: jax.Array, n: int = 200, level: float = 0.95
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise central credible band of a `SpectrumFit`'s curve (baseline held fixed).

    Peak parameters are drawn from their mean-field marginals (Normal; η clipped to [0, 1]).

    Returns:
      (lo, hi), each (n_points,) on ``fit.x``.
    """
    p = fit.peaks
    keys = jax.random.split(key, 4)
    draw = lambda k, mean, sd: np.asarray(mean + sd * jax.random.normal(k, (n, mean.size)))
    amp = draw(keys[0], p.amplitude, p.amplitude_sd)
    loc = draw(keys[1], p.location, p.location_sd)
    wid = np.abs(draw(keys[2], p.width, p.width_sd)) + 1e-12
    eta = np.clip(draw(keys[3], p.lorentzian, p.lorentzian_sd), 0.0, 1.0)
    curves = np.zeros((n, fit.x.size))
    for i in range(len(p)):  # peaks one at a time keeps memory at n × n_points
        curves += profile(fit.x[None, :], amp[:, i:i + 1], loc[:, i:i + 1], wid[:, i:i + 1],
                          eta[:, i:i + 1], xp=np)
    tail = (1.0 - level) / 2
    curves += fit.baseline[None, :]
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


def plot_spectrum_fit(fit, key: jax.Array | None = None, title: str | None = None,
                      xlabel: str = "x") -> plt.Figure:
    """Figure of a measured spectrum's fit (`peakflow.SpectrumFit`).

    Top: data, baseline, fit with its 95 % band, each component (on the baseline), peak
    centres with ±2 sd; windows flagged as unexplained are shaded red. Bottom: residual with
    ±2 noise sd.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(fit.x, fit.y, color="0.55", lw=0.8, label="data")
    top.plot(fit.x, fit.baseline, color="C2", lw=1, label="baseline")
    if len(fit.peaks):
        lo, hi = spectrum_band(fit, key)
        top.fill_between(fit.x, lo, hi, color="C0", alpha=0.3, label="95 % band")
    top.plot(fit.x, fit.fitted, color="C0", lw=1.2, label="fit")
    for i, component in enumerate(fit.components()):
        top.plot(fit.x, fit.baseline + component, "--", lw=0.8, color="C1",
                 label="components" if i == 0 else None)
        centre, sd = fit.peaks.location[i], fit.peaks.location_sd[i]
        top.axvspan(centre - 2 * sd, centre + 2 * sd, color="C1", alpha=0.25)
    for start, stop, flag in zip(fit.windows.start, fit.windows.stop, fit.windows.unexplained):
        if flag:
            for ax in (top, bottom):
                ax.axvspan(start, stop, color="red", alpha=0.06)
    top.set_title(title or f"{fit.name or 'spectrum'}: {fit.num_peaks} peak(s)"
                  + ("  (red: windows not explained)" if fit.unexplained else ""))
    top.legend(loc="upper right", fontsize=8)
    top.set_ylabel("intensity")
    bottom.plot(fit.x, fit.y - fit.fitted, color="0.3", lw=0.6)
    bottom.axhspan(-2 * fit.noise, 2 * fit.noise, color="C0", alpha=0.2, label="±2 noise sd")
    bottom.set_ylabel("residual")
    bottom.set_xlabel(xlabel)
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


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
