"""`calibrate`: an instrument's axis calibrated against a measured standard (polystyrene,
neon, silicon or the caller's lines); see `peakflow.measured.calibration` for the matching,
the correction and its uncertainty."""

from __future__ import annotations

from typing import Any, Sequence

from peakflow.io import Spectrum
from peakflow.measured.calibration import MODELS, Calibration, fit_correction, match_lines
from peakflow.measured.pipeline import fit
from peakflow.standards import Lines, custom_lines, standard_lines


def reference_lines(standard: str | Sequence[float] | Lines, laser_nm: float | None) -> Lines:
    """The `Lines` a ``standard=`` argument names: a standard's name, `Lines`, or the
    positions."""
    if isinstance(standard, Lines):
        return standard
    if isinstance(standard, str):
        return standard_lines(standard, laser_nm)
    return custom_lines(standard)


def calibrate(spectrum: Spectrum | tuple,
              standard: str | Sequence[float] | Lines = "polystyrene", *,
              model: str = "auto", laser_nm: float | None = None, seed: int = 0,
              **fit_options: Any) -> Calibration:
    """Calibrates an instrument's axis against a measured standard.

    Args:
      spectrum: the standard's measured spectrum: a `Spectrum` or ``(y, x)``.
      standard: ``"polystyrene"`` (ASTM E1840), ``"neon"`` (needs the laser wavelength),
        ``"silicon"`` (one line: an offset), the lines' positions in x units (sd 0.1), or
        `peakflow.standards.Lines` with their own sds.
      model: the correction: ``"offset"``, ``"linear"``, ``"quadratic"``, ``"cubic"`` or
        ``"auto"`` (the lowest BIC among those the matched lines allow).
      laser_nm: the laser wavelength (nm); default: the file's metadata.
      seed, fit_options: passed to `peakflow.fit`.

    Returns:
      The `Calibration` (print it for its residual table).

    Raises:
      ValueError: an unknown standard or model, or too few lines matched for the model.
    """
    if model != "auto" and model not in MODELS:
        raise ValueError(f"model must be 'auto' or one of {list(MODELS)}, got {model!r}")
    if isinstance(spectrum, Spectrum) and laser_nm is None:
        laser_nm = spectrum.meta.get("laser_nm")
    lines = reference_lines(standard, laser_nm)  # a bad standard is refused before fitting
    fitted = (fit(spectrum, seed=seed, **fit_options) if isinstance(spectrum, Spectrum)
              else fit(*spectrum, seed=seed, **fit_options))
    peaks = fitted.peaks
    inside = (lines.position >= fitted.x.min()) & (lines.position <= fitted.x.max())
    found, sd, matched = match_lines(lines.position, peaks.location, peaks.location_sd,
                                     peaks.amplitude)
    keep = matched & inside
    if not keep.any():
        raise ValueError(f"no peak of the spectrum matches a {lines.name} line")
    return fit_correction(lines, found, sd, keep, model, laser_nm)
