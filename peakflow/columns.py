"""Which columns of a table are the spectrum: chosen by what their names mean.

Vendor exports hold many columns (pixel, wavelength, wavenumber, Raman shift, dark, reference,
raw, dark-subtracted, %T, absorbance, irradiance, ...) and the first two are usually not the
spectrum. Names are compared case- and punctuation-insensitively, by their words:

* x, best first: Raman shift > wavenumber > 2θ / angle > energy > wavelength > pixel / index
  (the last only when nothing else names an axis);
* y, best first: processed, dark- or background-subtracted, corrected > intensity, counts,
  signal, ``y`` > raw. Reference, dark, background, %T / transmittance, absorbance and
  irradiance columns are never chosen as y in a table that has a better one; in a two-column
  file the column beside x is the spectrum, whatever it measures (an IR absorbance spectrum).

A table of three or more columns must name them (or the caller must choose): `choose` raises
`ColumnError` listing the columns and how to choose, rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

X_KINDS = ("raman_shift", "wavenumber", "angle", "energy", "wavelength", "pixel")
Y_KINDS = ("processed", "intensity", "raw")
NEVER_Y = ("reference", "dark", "background", "transmittance", "absorbance", "irradiance")

# each kind: word sequences (any of them, found as consecutive words of the name)
_KIND_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "raman_shift": (("raman", "shift"), ("ramanshift",), ("raman",), ("shift",)),
    "wavenumber": (("wavenumber",), ("wavenumbers",), ("wave", "number"), ("wave", "numbers"),
                   ("cm", "1"), ("cm1",), ("1", "cm")),
    "angle": (("2theta",), ("2", "theta"), ("two", "theta"), ("theta",), ("2θ",), ("angle",),
              ("2th",)),
    "energy": (("energy",), ("ev",), ("kev",), ("binding",)),
    "wavelength": (("wavelength",), ("wavelengths",), ("wave", "length"), ("lambda",),
                   ("nm",)),
    "pixel": (("pixel",), ("pixels",), ("index",), ("channel",), ("point",), ("points",)),
    "processed": (("processed",), ("dark", "subtracted"), ("background", "subtracted"),
                  ("baseline", "subtracted"), ("subtracted",), ("corrected",), ("net",)),
    "intensity": (("intensity",), ("intensities",), ("counts",), ("count",), ("signal",),
                  ("cps",), ("y",), ("data",), ("spectrum",), ("raman", "intensity")),
    "raw": (("raw",),),
    "reference": (("reference",), ("ref",)),
    "dark": (("dark",),),
    "background": (("background",), ("bkg",), ("bg",)),
    "transmittance": (("tr",), ("transmittance",), ("transmission",)),
    "absorbance": (("absorbance",), ("abs",), ("absorption",)),
    "irradiance": (("irradiance",), ("radiance",), ("power",)),
    "x": (("x",),),
}
# a name's kind is the first of these that matches (so "Dark Subtracted" is processed, not
# dark, and "Raman Intensity" is an intensity, not a shift)
_ORDER = ("processed", "raw", "reference", "irradiance", "absorbance", "transmittance",
          "background", "dark", "intensity", "raman_shift", "wavenumber", "angle", "energy",
          "wavelength", "pixel", "x")


class ColumnError(ValueError):
    """The columns of a table cannot be chosen without the caller's help."""


def words(name: str) -> list[str]:
    """Lower-case words of a column name, digits apart from letters: ``"Raman_Shift (cm-1)
    #1"`` → ``[raman, shift, cm, 1, 1]``, ``"2Theta"`` → ``[2, theta]``; ``%T`` and ``%TR``
    become ``tr``."""
    lower = re.sub(r"%\s*t[a-z]*", " tr ", name.lower())
    lower = re.sub(r"(?<=[a-zθ])(?=\d)|(?<=\d)(?=[a-zθ])", " ", lower)
    return [w for w in re.split(r"[^0-9a-zθµ]+", lower) if w]


def kind(name: str) -> str | None:
    """What a column name says it holds: one of `X_KINDS`, `Y_KINDS`, `NEVER_Y` or ``"x"``;
    None when no rule matches."""
    found = words(name)
    for candidate in _ORDER:
        for seq in _KIND_WORDS[candidate]:
            n = len(seq)
            if any(tuple(found[i:i + n]) == seq for i in range(len(found) - n + 1)):
                return candidate
    return None


@dataclass(frozen=True)
class Choice:
    """The chosen columns (0-based) and why."""

    x: int
    y: int
    reason: str


def describe(names: list[str] | None, width: int) -> str:
    """The columns as a message lists them: ``0 'Pixel', 1 'Wavelength', ...``."""
    if not names:
        return f"{width} unnamed columns"
    return ", ".join(f"{i} {n!r}" for i, n in enumerate(names))


HOW = "choose them with read_spectrum(path, x=..., y=...) or peakflow fit --x-col/--y-col"


def choose(names: list[str] | None, width: int, x: str | int | None = None,
           y: str | int | None = None, *, sigma_third: bool = False) -> Choice:
    """The x and y columns of a table of `width` columns.

    Args:
      names: the header's column names (None: no header names them).
      x, y: the caller's choice, by name (case-insensitive; also ignoring punctuation) or
        0-based index (negative counts from the end); None: chosen by meaning.
      sigma_third: the file's format puts a sigma in the third column (``.xye``), so three
        unnamed columns are x, y, sigma.

    Raises:
      ColumnError: an unknown name or index, x and y the same column, or a table the rules
        cannot read without guessing (three or more unnamed columns; a header that names no
        y); the message lists the columns and says how to choose.
    """
    xi = None if x is None else _index(x, names, width)
    yi = None if y is None else _index(y, names, width)
    kinds: list[str | None] = [kind(n) for n in names] if names else [None] * width
    if xi is None:
        xi = _best(kinds, X_KINDS + ("x",), exclude=yi)
        if xi is None:
            if width > 2 and not (sigma_third and width == 3) and names is not None:
                raise ColumnError(f"no column names an axis ({describe(names, width)}); {HOW}")
            xi = 0 if yi != 0 else 1
    if yi is None:
        yi = _best(kinds, Y_KINDS, exclude=xi)
        if yi is None:
            others = [i for i in range(width) if i != xi]
            if width == 2 or (sigma_third and width == 3 and names is None):
                yi = others[0]
            elif names is None:
                raise ColumnError(f"has {width} numeric columns and no header line naming "
                                  f"them; {HOW}")
            else:
                raise ColumnError(f"no column is a spectrum's intensity "
                                  f"({describe(names, width)}); {HOW}")
    if xi == yi:
        raise ColumnError(f"x and y are the same column ({xi}); {HOW}")
    label = lambda i: repr(names[i]) if names else f"column {i}"
    given = "as asked" if x is not None and y is not None else "by their names" if names \
        else "the first two columns"
    return Choice(xi, yi, f"x = {label(xi)}, y = {label(yi)} ({given})")


def _best(kinds: list[str | None], order: tuple[str, ...], exclude: int | None) -> int | None:
    """The first column of the best kind in `order`, or None."""
    for wanted in order:
        for i, k in enumerate(kinds):
            if k == wanted and i != exclude:
                return i
    return None


def _index(choice: str | int, names: list[str] | None, width: int) -> int:
    if isinstance(choice, int) or (isinstance(choice, str) and re.fullmatch(r"-?\d+", choice)
                                   and not (names and choice in names)):
        index = int(choice)
        if not -width <= index < width:
            raise ColumnError(f"has {width} columns; column {index} is out of range")
        return index % width
    if not names:
        raise ColumnError(f"has no column named {choice!r}; columns: none (no header line of "
                          f"names)")
    lower = [n.lower() for n in names]
    if choice.lower() in lower:
        return lower.index(choice.lower())
    squeezed = [" ".join(words(n)) for n in names]
    if " ".join(words(choice)) in squeezed:
        return squeezed.index(" ".join(words(choice)))
    raise ColumnError(f"has no column named {choice!r}; columns: {', '.join(names)}")
