"""Display pieces every layer's results share: two-panel figures, figures as embedded PNGs
and HTML tables (notebook displays, `peakflow.report`). Imports no other peakflow module."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import cast

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

AxesArg = Axes | tuple[Axes, Axes] | None


def panels(ax: AxesArg, figsize: tuple[float, float]) -> tuple[Figure, Axes, Axes | None]:
    """(figure, top, bottom): a new two-panel figure (fit above, residual below) when `ax` is
    None; the caller's axes otherwise (one: no residual panel; a pair: fit and residual)."""
    if ax is None:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=figsize, sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1]})
        return fig, top, bottom
    top, bottom = ax if isinstance(ax, tuple) else (ax, None)
    return cast(Figure, top.figure), top, bottom  # a SubFigure draws the same way


def png_uri(fig: Figure, dpi: int = 90, close: bool = True) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (closed afterwards by default)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def cell(value) -> str:
    """A table cell's text: floats to 6 significant digits, NaN as an en dash, the rest
    escaped."""
    if isinstance(value, float):
        return "–" if value != value else f"{value:.6g}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Iterable[Sequence], css: str = "peakflow") -> str:
    """An HTML ``<table>`` with the given header cells and rows (cells through `cell`;
    columns whose first value is a number are right-aligned)."""
    rows = [list(r) for r in rows]
    numeric = [bool(rows) and isinstance(v, (int, float)) for v in (rows[0] if rows else [])]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f"<td{' class=num' if n else ''}>{cell(v)}</td>" for v, n in zip(r, numeric))
        + "</tr>" for r in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def plus_minus(value: float, sd: float) -> str:
    """``value ± sd``, the sd to 2 significant digits and the value to the same decimal
    place (``2844.4, 363`` → ``2840 ± 360``); without a usable sd, the value alone."""
    value, sd = float(value), float(sd)
    if not (math.isfinite(value) and math.isfinite(sd) and sd > 0):
        return cell(value)
    digits = 1 - math.floor(math.log10(sd))
    if digits > 6 or abs(value) >= 1e9:  # scientific: as many digits as the sd allows
        magnitude = math.floor(math.log10(abs(value))) if value else 1 - digits
        return f"{value:.{max(magnitude + digits, 1)}e} ± {sd:.1e}"
    if digits > 0:
        return f"{value:.{digits}f} ± {sd:.{digits}f}"
    return f"{round(value, digits):.0f} ± {round(sd, digits):.0f}"
