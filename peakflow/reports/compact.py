"""A fit's curves made small enough for a report of thousands of spectra: decimated to what
a screen shows (each bucket's lowest and highest point, so that spikes and narrow peaks
survive), packed as 16-bit integers in base64, and an inline SVG thumbnail."""

from __future__ import annotations

import base64

import numpy as np

BUCKETS = 800  # a detail figure's curves: at most 2 points per bucket (≈ its plot's width)
THUMB_BUCKETS = 75
THUMB_SIZE = (150, 34)  # pixels
LEVELS = 65535  # 16 bits


def extremes(y: np.ndarray, buckets: int) -> np.ndarray:
    """(m,) sorted indices into `y` (n,): every index when n ≤ 2·`buckets`, else each of
    `buckets` equal runs' argmin and argmax."""
    n = y.size
    if n <= 2 * buckets:
        return np.arange(n)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    picks = [lo + np.array([np.argmin(y[lo:hi]), np.argmax(y[lo:hi])])
             for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]
    return np.unique(np.concatenate(picks))


def pack(values: np.ndarray) -> dict:
    """(m,) floats → ``{"o": offset, "s": step, "d": base64 of little-endian uint16}``:
    values = o + s·d to within s/2 = range/131070; NaN and ±inf become the offset."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    lo = float(values[finite].min()) if finite.any() else 0.0
    hi = float(values[finite].max()) if finite.any() else 0.0
    step = (hi - lo) / LEVELS if hi > lo else 1.0
    codes = np.where(finite, np.round((np.where(finite, values, lo) - lo) / step), 0)
    data = codes.astype("<u2").tobytes()
    return {"o": lo, "s": step, "d": base64.b64encode(data).decode("ascii")}


def unpack(packed: dict) -> np.ndarray:
    """The inverse of `pack` (what the report's script does), for tests."""
    codes = np.frombuffer(base64.b64decode(packed["d"]), "<u2").astype(np.float64)
    return packed["o"] + packed["s"] * codes


def support(curve: np.ndarray, share: float = 1e-2) -> tuple[int, int]:
    """[lo, hi) of the points where |curve| reaches `share` of its largest |value| ((0, 0)
    for a curve that is zero everywhere)."""
    height = np.max(np.abs(curve), initial=0.0)
    above = np.flatnonzero((np.abs(curve) >= share * height) & (height > 0))
    return (0, 0) if not above.size else (int(above[0]), int(above[-1]) + 1)


def thumbnail(x: np.ndarray, y: np.ndarray, fitted: np.ndarray, flagged: bool) -> str:
    """An inline SVG sparkline of the data (grey) and the fit (blue; red when `flagged`)."""
    width, height = THUMB_SIZE
    keep = extremes(y, THUMB_BUCKETS)
    x, y, fitted = x[keep], y[keep], fitted[keep]
    lo, hi = np.nanmin([y.min(), fitted.min()]), np.nanmax([y.max(), fitted.max()])
    span_x = (x[-1] - x[0]) or 1.0
    px = (x - x[0]) / span_x * (width - 2) + 1
    to_y = lambda v: (height - 2) - (v - lo) / ((hi - lo) or 1.0) * (height - 4) + 1
    line = lambda v: " ".join(f"{a:.0f},{b:.0f}" for a, b in zip(px, to_y(v)))
    colour = "#c0392b" if flagged else "#1f77b4"
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img"><polyline points="{line(y)}" fill="none" stroke="#999" '
            f'stroke-width="0.8"/><polyline points="{line(fitted)}" fill="none" '
            f'stroke="{colour}" stroke-width="1"/></svg>')
