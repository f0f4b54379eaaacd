"""Figures of a grid posterior (`peakflow.grid.Posterior`; not imported here, since its
``_repr_html_`` imports this module): the fit, its components and 95 % band, and the
residual; the same as HTML for notebooks."""

from __future__ import annotations

import html

import jax
import matplotlib.pyplot as plt
import numpy as np

from peakflow.core.lineshape import Peaks, peak_sum, pseudo_voigt
from peakflow.display import AxesArg, panels, plus_minus, png_uri, table


def band(post, key: jax.Array, n: int = 200, level: float = 0.95
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


def plot_fit(x: np.ndarray | None, post, truth: Peaks | None = None,
             key: jax.Array | None = None, title: str | None = None,
             ax: AxesArg = None) -> plt.Figure:
    """Figure of one spectrum's fit.

    Args:
      x: (W,) the spectrum; None: the posterior alone (no data, no residual panel).
      post: its single-spectrum `Posterior`.
      truth: optional true peaks (fields (K,), NaN or zero amplitude for absent ones).
      key: PRNG key for the 95 % band (default PRNGKey(0)).
      ax: draw on these axes: one `Axes` (the fit only) or a pair (fit, residual); default
        a new figure with both.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    omega = np.arange(post.num_points, dtype=np.float32)
    if x is None and ax is None:
        ax = plt.subplots(figsize=(9, 4))[1]
    fig, top, bottom = panels(ax, (9, 6))
    if x is not None:
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
    if bottom is None or x is None:
        top.set_xlabel("grid point")
        return fig
    bottom.plot(omega, x - post.fitted, color="0.3", lw=0.8)
    bottom.axhline(0, color="C0", lw=1)
    bottom.set_ylabel("residual")
    bottom.set_xlabel("grid point")
    if ax is None:
        fig.tight_layout()
    return fig


PREVIEW = 50  # a batch's HTML lists this many spectra


def posterior_html(post, dpi: int = 80) -> str:
    """A posterior as HTML (`Posterior._repr_html_`). One spectrum: P(K), its figure
    (`plot_fit` without the data, which a posterior does not hold) and a table of each peak's
    mean ± sd; a batch: the number of peaks and P(K) of its first `PREVIEW` spectra."""
    if post.num_peaks.ndim:
        rows = [[i, int(post.num_peaks[i]), f"{np.max(post.k_probs[i]):.3f}",
                 "" if post.valid[i] else str(post.errors[i])]
                for i in range(min(PREVIEW, post.num_peaks.shape[0]))]
        more = post.num_peaks.shape[0] - len(rows)
        return (f"<div class='peakflow'><p>Posterior: batch of {post.num_peaks.shape[0]} "
                f"spectra{f' (first {len(rows)} shown)' if more > 0 else ''}</p>"
                + table(["spectrum", "peaks", "P(K = peaks)", "error"], rows) + "</div>")
    if not post.valid:
        return (f"<div class='peakflow'>Posterior: invalid input: "
                f"{html.escape(str(post.errors[0]))}</div>")
    count = int(post.num_peaks)
    rows = [[i + 1, *(plus_minus(float(getattr(post, p).mean[i]), float(getattr(post, p).sd[i]))
                      for p in ("location", "fwhm", "amplitude", "width", "lorentzian"))]
            for i in range(count)]
    probs = ", ".join(f"P(K={k}) {p:.3f}" for k, p in enumerate(post.k_probs))
    image = png_uri(plot_fit(None, post), dpi)
    return (f"<div class='peakflow'><p><b>Posterior</b>: {count} peak(s); {probs}</p>"
            f"<img alt='posterior fit' src='{image}'>"
            + table(["#", "location", "FWHM", "amplitude", "γ", "η"], rows) + "</div>")
