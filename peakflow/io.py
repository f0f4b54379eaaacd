"""Reading spectra from files: delimited text and vendor tables, JCAMP-DX and Galactic SPC.

`read_spectrum(path)` returns a `Spectrum` (x, y and metadata). Text files may use any
delimiter (comma, semicolon, tab, whitespace), decimal commas, any number of header lines
(``#``/``##`` comments, free text, a line of column names) and named columns chosen with
``x=``/``y=``. JCAMP-DX files (``.jdx``, ``.dx``, ``.jcamp``, or text that starts with
``##TITLE=``) are read with the `jcamp` package, ``.spc`` files with `spc-io`. Every failure
raises `SpectrumFileError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peakflow.axes import raman_shift
from peakflow.columns import ColumnError, choose
from peakflow.extras import require
from peakflow.metadata import known_fields, parse_metadata


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, so writers that go by the suffix
    still work) and renames it to `path` when the block completes: an interrupted run leaves
    the old file or none, never a half-written one.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

JCAMP_SUFFIXES = {".jdx", ".dx", ".jcamp", ".jcm"}
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_VALUE = re.compile(r"^[+-]?\d+([.,]\d+)?\s")  # "785 nm": a metadata value, not a name


class SpectrumFileError(ValueError):
    """A spectrum file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


@dataclass(frozen=True)
class Spectrum:
    """A spectrum as read from a file.

    Attributes:
      x: (W,) axis values in the file's units (wavenumber, 2θ, ...), in file order.
      y: (W,) intensities.
      sigma: (W,) per-point uncertainties when the file gives them (e.g. ``.xye``), else None.
      meta: the path, the columns and why they were chosen, the file's metadata block
        (``header``; JCAMP labels) and the fields recognised in it (``laser_nm``,
        ``exposure``, ``instrument``, ``date``).
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def x_label(self) -> str | None:
        """The x axis's name and units as the file gives them (JCAMP-DX ``##XUNITS``, or the
        x column's header), or None."""
        return self._label("xunits", "x_column")

    @property
    def y_label(self) -> str | None:
        """The intensities' name and units as the file gives them (JCAMP-DX ``##YUNITS``, or
        the y column's header), or None."""
        return self._label("yunits", "y_column")

    def _label(self, units: str, column: str) -> str | None:
        if self.meta.get(units):
            return str(self.meta[units])
        names, index = self.meta.get("columns"), self.meta.get(column)
        return str(names[index]) if names and index is not None else None


def read_spectrum(path: str | os.PathLike, *, x: str | int | None = None,
                  y: str | int | None = None, laser_nm: float | None = None) -> Spectrum:
    """Reads one spectrum.

    Args:
      path: a delimited text file (vendor exports with a metadata block included), a
        JCAMP-DX file or a Galactic ``.spc`` file (its first subfile).
      x, y: for text tables, the columns to use, by header name (case- and
        punctuation-insensitive) or by 0-based index. Default: chosen by what the header's
        names mean (`peakflow.columns`: Raman shift before wavenumber, 2θ, energy,
        wavelength, pixel; processed or dark-subtracted before intensity before raw; never
        a dark, reference, background, %T, absorbance or irradiance column when a better one
        exists); a two-column file is x then y; a third column of an ``.xye`` file is sigma.
      laser_nm: the laser wavelength; with it (or with one in the file's metadata), an x
        axis in wavelength (nm) or absolute wavenumber is converted to Raman shift (cm⁻¹),
        as ``x_label`` then says.

    Returns:
      The `Spectrum`; ``meta`` holds the columns (``columns``, ``columns_chosen``), the
      metadata block (``header``) and the fields recognised in it (``laser_nm``,
      ``exposure``, ``instrument``, ``date``).

    Raises:
      SpectrumFileError: missing or unreadable file, no numeric rows, too few columns, an
        unknown column, a table whose columns cannot be chosen without guessing (the
        message lists them), non-finite axis values, or fewer than 3 points.
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFileError(path, "no such file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpectrumFileError(path, f"cannot be read ({err.strerror})") from err
    if path.suffix.lower() == ".spc":
        spectrum = _read_spc(path, raw)
    else:
        text = _decode(raw, path)
        if path.suffix.lower() in JCAMP_SUFFIXES or text.lstrip().upper().startswith("##TITLE="):
            spectrum = _read_jcamp(path)
        else:
            spectrum = _read_table(path, text, x, y)
    return _as_raman_shift(spectrum, laser_nm)


def _as_raman_shift(spectrum: Spectrum, laser_nm: float | None) -> Spectrum:
    """`spectrum` with a wavelength or absolute-wavenumber x converted to Raman shift when a
    laser wavelength is known (the caller's, else the file's ``laser_nm``)."""
    laser = laser_nm if laser_nm is not None else spectrum.meta.get("laser_nm")
    if laser is None:
        return spectrum
    converted = raman_shift(spectrum.x, spectrum.x_label, float(laser))
    if converted is None:
        return spectrum
    x, label = converted
    meta = {**spectrum.meta, "xunits": label, "laser_nm": float(laser),
            "x_original": spectrum.x_label}
    return Spectrum(x, spectrum.y, spectrum.sigma, meta)


# Galactic SPC axis and intensity type codes → labels (the common ones; others keep the code)
SPC_LABELS = {"XWAVEN": "Wavenumber (cm-1)", "XRAMANS": "Raman shift (cm-1)",
              "XNMETR": "Wavelength (nm)", "XUMETR": "Wavelength (um)",
              "XDEGRS": "Angle (degrees)", "XEV": "Energy (eV)", "XSECS": "Time (s)",
              "XMINUTS": "Time (min)", "XHERTZ": "Frequency (Hz)", "XPPM": "Shift (ppm)",
              "YABSRB": "Absorbance", "YCOUNT": "Counts", "YTRANS": "Transmittance",
              "YREFLEC": "Reflectance", "YKMONK": "Kubelka-Munk", "YINTENS": "Intensity",
              "YRELINT": "Relative intensity", "YEMISN": "Emission", "YPERCNT": "Percent"}


def _read_spc(path: Path, raw: bytes) -> Spectrum:
    """A Galactic/Thermo ``.spc`` file (spc-io): its first subfile, with the file's axis and
    intensity types as labels (``meta``: ``xunits``, ``yunits``, ``subfiles``)."""
    import io as bytes_io

    SPC = require("spc_io", "reading .spc files").SPC

    with _captured_log("spc_io") as notes:  # e.g. a WITec file's "year 0 is out of range"
        try:
            spc = SPC.from_bytes_io(bytes_io.BytesIO(raw))
        except Exception as err:  # the parser raises many kinds of errors on malformed input
            raise SpectrumFileError(path, f"is not a readable SPC file ({err})") from err
    if not len(spc):
        raise SpectrumFileError(path, "SPC file holds no spectrum")
    first = spc[0]
    x = np.asarray(first.xarray if first.xarray is not None else spc.xarray, np.float64)
    y = np.asarray(first.yarray, np.float64)
    if x.size < 3 or x.shape != y.shape:
        raise SpectrumFileError(path, f"SPC data has {y.size} points; need at least 3")
    meta = {"path": str(path), "subfiles": len(spc), "reader_notes": notes,
            "xunits": SPC_LABELS.get(str(spc.xtype), str(spc.xtype)),
            "yunits": SPC_LABELS.get(str(spc.ytype), str(spc.ytype))}
    return Spectrum(x, y, None, meta)


@contextlib.contextmanager
def _captured_log(name: str) -> Iterator[list[str]]:
    """Collects what the logger `name` (a reader library) would print to stderr while a file
    is parsed: the reader's complaints become the spectrum's ``meta["reader_notes"]``."""
    logger = logging.getLogger(name)
    notes: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield notes
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:4096]:
        raise SpectrumFileError(path, "is a binary file, not a text, JCAMP-DX or .spc spectrum")
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpectrumFileError(path, "is not text")  # latin-1 decodes anything; kept for clarity


def _split(line: str, delimiter: str | None) -> list[str]:
    parts = line.split() if delimiter is None else line.split(delimiter)
    return [p.strip() for p in parts if p.strip() != ""] if delimiter is None else \
        [p.strip() for p in parts]


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the sample lines into the same number (>= 2) of numbers."""
    for delimiter in ("\t", ";", ",", None):
        counts: set[int] = set()
        for line in lines:
            parts = _split(line, delimiter)
            if len(parts) < 2 or not all(_NUMBER.match(p) for p in parts if p):
                counts = set()
                break
            counts.add(len(parts))
        if len(counts) == 1:
            return delimiter
    return None


def _to_float(token: str, decimal_comma: bool) -> float:
    return float(token.replace(",", ".") if decimal_comma else token)


def _read_table(path: Path, text: str, x_col, y_col) -> Spectrum:
    """A delimited table: the longest run of numeric rows is the data, the line above it the
    column names (when it names every column), the lines above those the metadata block;
    x and y chosen by the columns' names (`peakflow.columns.choose`)."""
    content = [line.strip() for line in text.splitlines() if line.strip()]
    start = _data_start(content)
    if start is None:
        raise SpectrumFileError(path, "contains no rows of numbers")
    rows = [line for line in content[start:] if _is_numeric_row(line)]
    delimiter = _sniff_delimiter(rows[: min(50, len(rows))])
    decimal_comma = delimiter != "," and any("," in row for row in rows[:50])
    table = []
    for row in rows:
        parts = _split(row, delimiter)
        try:
            table.append([_to_float(p, decimal_comma) if p else np.nan for p in parts])
        except ValueError:
            continue
    width = max(len(r) for r in table)
    data = np.array([r + [np.nan] * (width - len(r)) for r in table], dtype=np.float64)
    above = content[start - 1] if start > 0 else ""
    header = "" if above.startswith("##") or "=" in above else above  # not a JCAMP label
    names = _header_names(header, width, delimiter)
    while data.shape[1] > 2 and np.all(np.isnan(data[:, -1])) and (
            names is None or len(names) == data.shape[1] - 1 or not names[-1]):
        data = data[:, :-1]                                  # a trailing delimiter's column
        names = _header_names(header, data.shape[1], delimiter) if header else None
    width = data.shape[1]
    if width < 2:
        raise SpectrumFileError(path, "has a single column; need an x and a y column")
    try:
        choice = choose(names, width, x_col, y_col, sigma_third=path.suffix.lower() == ".xye")
    except ColumnError as err:
        raise SpectrumFileError(path, str(err)) from err
    xi, yi = choice.x, choice.y
    sigma = data[:, 2] if (path.suffix.lower() == ".xye" and width >= 3 and 2 not in (xi, yi)
                           and names is None) else None
    x, y = data[:, xi], data[:, yi]
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        raise SpectrumFileError(path, f"has {int(keep.sum())} complete rows in its columns "
                                      f"{choice.reason.split(' (')[0]}; need at least 3")
    block = parse_metadata(content[:max(start - 1, 0)] if names else content[:start])
    meta = {"path": str(path), "columns": names, "x_column": xi, "y_column": yi,
            "columns_chosen": choice.reason, "decimal_comma": decimal_comma,
            "delimiter": {None: "whitespace", "\t": "tab"}.get(delimiter, delimiter),
            "header": block, **known_fields(block)}
    return Spectrum(x[keep], y[keep], None if sigma is None else sigma[keep], meta)


def _data_start(content: list[str]) -> int | None:
    """Index in `content` of the first row of its longest run of numeric rows, or None."""
    best, best_length, run_start = None, 0, None
    for i, line in enumerate(content + [""]):
        numeric = i < len(content) and not line.startswith("#") and _is_numeric_row(line)
        if numeric and run_start is None:
            run_start = i
        elif not numeric and run_start is not None:
            if i - run_start > best_length:
                best, best_length = run_start, i - run_start
            run_start = None
    return best


def _is_numeric_row(line: str) -> bool:
    for delimiter in ("\t", ";", ",", None):
        parts = _split(line, delimiter)
        if len(parts) >= 2 and all(_NUMBER.match(p) for p in parts if p) and any(parts):
            return True
    return False


def _header_names(line: str, width: int, delimiter: str | None) -> list[str] | None:
    """Column names from the line above the data, when it has one name per column."""
    line = re.sub(r"^\s*[A-Za-z ]+:\s*", "", line) if ":" in line else line  # "Data:  y  x"
    for sep in (delimiter, None):
        names = [n.strip().strip('"').lstrip("#").strip() for n in _split(line, sep)]
        while names and not names[-1]:
            names.pop()                                       # a trailing delimiter
        if len(names) == width and all(names) and not any(
                _NUMBER.match(n) or _VALUE.match(n) for n in names):
            return names
    return None


def _read_jcamp(path: Path) -> Spectrum:
    try:
        import jcamp
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise SpectrumFileError(path, "JCAMP-DX needs the 'jcamp' package") from err
    try:
        data = jcamp.readfile(str(path))
    except Exception as err:  # the parser raises many kinds of errors on malformed input
        raise SpectrumFileError(path, f"is not a readable JCAMP-DX file ({err})") from err
    if "x" not in data or "y" not in data:
        raise SpectrumFileError(path, "JCAMP-DX file holds no XY data")
    x = np.asarray(data["x"], dtype=np.float64)
    y = np.asarray(data["y"], dtype=np.float64)
    if x.size < 3 or x.shape != y.shape:
        raise SpectrumFileError(path, f"JCAMP-DX data has {x.size} points; need at least 3")
    labels = {k: v for k, v in data.items() if k not in ("x", "y")
              and not isinstance(v, np.ndarray)}
    header = {str(k): str(v) for k, v in labels.items()}
    return Spectrum(x, y, None, {**labels, "path": str(path), "header": header,
                                 **known_fields(header)})
