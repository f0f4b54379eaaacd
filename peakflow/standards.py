"""Reference lines of axis-calibration standards, shipped as package data with their sources
(``peakflow/data/standards/*.csv``): the ASTM E1840 polystyrene Raman shifts, NIST neon
emission lines (converted to Raman shift with the laser wavelength) and the silicon band."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "standards"
STANDARDS = ("polystyrene", "neon", "silicon")
IN_NM = {"neon"}  # standards whose lines are tabulated as wavelengths (nm)


@dataclass(frozen=True)
class Lines:
    """Reference lines in Raman shift (cm⁻¹), each (L,).

    Attributes:
      name: the standard (or ``"lines"`` for a caller's list).
      position, sd: the lines and their uncertainties.
      intensity: relative intensities where tabulated (1 otherwise).
      source: where the values come from.
    """

    name: str
    position: np.ndarray
    sd: np.ndarray
    intensity: np.ndarray
    source: str


def standard_lines(standard: str, laser_nm: float | None = None) -> Lines:
    """The lines of a named standard (`STANDARDS`) in Raman shift.

    Raises:
      ValueError: an unknown standard, or neon without a laser wavelength.
    """
    if standard not in STANDARDS:
        raise ValueError(f"unknown standard {standard!r}; known: {', '.join(STANDARDS)}, or "
                         f"give the lines' positions")
    path = DATA / f"{standard}.csv"
    text = path.read_text()
    source = " ".join(line.lstrip("# ").strip() for line in text.splitlines()
                      if line.startswith("#"))
    table = _table(text)
    position, sd, intensity = table.T
    if standard in IN_NM:
        if laser_nm is None or not laser_nm > 0:
            raise ValueError(f"the {standard} lines are wavelengths: give the laser wavelength "
                             f"(laser_nm=) to convert them to Raman shift")
        shift = 1e7 / laser_nm - 1e7 / position
        return Lines(standard, shift, 1e7 * sd / position**2, intensity,
                     f"{source} Laser {laser_nm:g} nm.")
    return Lines(standard, position, sd, intensity, source)


def _table(text: str) -> np.ndarray:
    """(L, 3) rows of position, sd, intensity below the header line."""
    rows = [line.split(",") for line in text.splitlines()
            if line.strip() and not line.startswith("#") and not line.startswith("position")]
    return np.array([[float(v) for v in row[:3]] for row in rows], np.float64)


def custom_lines(position, sd=None) -> Lines:
    """A caller's reference lines (cm⁻¹), with sds (default 0.1)."""
    position = np.atleast_1d(np.asarray(position, np.float64))
    if position.ndim != 1 or not position.size or not np.all(np.isfinite(position)):
        raise ValueError("reference lines must be a non-empty 1-D list of finite positions")
    sd = np.full(position.size, 0.1) if sd is None else np.broadcast_to(
        np.asarray(sd, np.float64), position.shape).copy()
    return Lines("lines", position, sd, np.ones(position.size), "given by the caller")
