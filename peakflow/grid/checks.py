"""Input checks shared by `infer`, `reweight` and `refine`: shape and type, and rows with NaN
or inf reported (not fitted) without costing the other rows their results."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from peakflow.core.likelihood import MISFIT_CHI2


def check_input(spectra: Any, num_points: int) -> tuple[np.ndarray, bool]:
    """Checks type and shape without copying (a memory-mapped array stays on disk).

    Returns:
      (array of shape (N, W), whether the input was a single (W,) spectrum).

    Raises:
      TypeError, ValueError: as documented in `infer`.
    """
    try:
        array = spectra if isinstance(spectra, np.ndarray) else np.asarray(spectra)
    except (ValueError, TypeError) as err:
        raise ValueError(f"spectra must be a rectangular numeric array: {err}") from err
    if array.dtype.kind not in "iuf":
        raise TypeError(f"spectra must be real numbers, got dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 2:
        raise ValueError(f"spectra must have shape (W,) or (N, W); got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"spectra are empty (shape {array.shape})")
    if array.shape[-1] != num_points:
        raise ValueError(f"spectrum length {array.shape[-1]} does not match the model's grid "
                         f"of W = {num_points} points")
    return (array[None] if array.ndim == 1 else array), array.ndim == 1


def row_errors(batch: np.ndarray) -> list[str | None]:
    """Per row: None when finite, else a message counting its NaN and inf values."""
    nan, inf = np.isnan(batch).sum(axis=1), np.isinf(batch).sum(axis=1)
    errors: list[str | None] = [None] * batch.shape[0]
    for i in np.flatnonzero(nan + inf):
        what = " and ".join(s for s in (f"{nan[i]} NaN" if nan[i] else "",
                                        f"{inf[i]} inf" if inf[i] else "") if s)
        errors[i] = f"spectrum contains {what} value(s)"
    return errors


def report_bad_rows(errors: list[str | None], single: bool) -> None:
    """Raises when every row is bad; warns (naming the rows) when some are."""
    bad = np.flatnonzero([e is not None for e in errors])
    if len(bad) == len(errors):
        where = "" if single else f" (all {len(errors)} rows)"
        raise ValueError(f"{errors[bad[0]]}{where}; the model needs finite values")
    if len(bad):
        more = "..." if len(bad) > 10 else ""
        warnings.warn(f"{len(bad)} of {len(errors)} spectra are not finite (rows "
                      f"{bad[:10].tolist()}{more}); their results are NaN, see "
                      f"Posterior.errors", RuntimeWarning, stacklevel=3)




def report_misfits(chi2: np.ndarray, valid: np.ndarray, single: bool) -> None:
    """Warns when fits are far worse than the model's noise: such input is almost never a
    spectrum on the model's grid and noise level (a measured spectrum passed to `infer`)."""
    bad = np.flatnonzero(valid & (chi2 > MISFIT_CHI2))
    if not len(bad):
        return
    what = ("the spectrum" if single else
            f"{len(bad)} of {len(chi2)} spectra (rows {bad[:10].tolist()}"
            f"{'...' if len(bad) > 10 else ''})")
    warnings.warn(f"the fit leaves residuals far above the noise this model assumes (reduced "
                  f"χ² up to {float(np.max(chi2[bad])):.3g} > {MISFIT_CHI2:g}) in {what}: not "
                  f"on this model's grid and noise level (for measured spectra use "
                  f"peakflow.fit(y, x)), or not explained by its prior (e.g. peaks weaker or "
                  f"closer than it was trained on); see Posterior.chi2", RuntimeWarning,
                  stacklevel=3)


def read_chunk(rows: np.ndarray) -> tuple[np.ndarray, list]:
    """`rows` (B, W) as float32 with non-finite rows zeroed, and their errors."""
    chunk = np.asarray(rows, np.float32)
    errors = row_errors(chunk)
    bad = np.array([e is not None for e in errors])
    if bad.any():
        chunk = np.where(bad[:, None], np.float32(0.0), chunk)
    return chunk, errors
