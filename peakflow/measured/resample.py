"""Host-side (numpy) signal estimates of a measured spectrum: typical peak width, and
resampling onto a uniform grid (the noise level: `peakflow.core.signal.estimate_noise`)."""

from __future__ import annotations

import numpy as np

TARGET_FWHM = 12.0  # grid points: a pseudo-Voigt with γ ≈ 5, in the middle of the trained range
UNIFORM = 1e-6      # an axis whose steps differ by less than this fraction is uniform


def typical_fwhm(y: np.ndarray, noise: float, most: int = 20) -> float | None:
    """Median full width at half maximum, in points, of the most prominent peaks of `y`.

    Peaks are the maxima of the lightly smoothed spectrum with a prominence of at least
    10 noise sds (scipy.signal.find_peaks); widths are measured at half prominence.

    Args:
      y: (n,) intensities on a uniform grid, peaks pointing up.
      noise: noise sd of `y`.
      most: how many of the most prominent peaks to use.

    Returns:
      The median FWHM in points, or None when no peak stands out of the noise.
    """
    from scipy.signal import find_peaks, peak_widths

    smooth_y = np.convolve(np.asarray(y, np.float64), np.ones(3) / 3.0, mode="same")
    found, props = find_peaks(smooth_y, prominence=10.0 * noise)
    if found.size == 0:
        return None
    top = found[np.argsort(props["prominences"])[::-1][:most]]
    widths = peak_widths(smooth_y, top, rel_height=0.5)[0]
    return float(np.median(widths))


def data_step(x: np.ndarray) -> float:
    """The median step of an increasing axis (n >= 2) (exact and cheap on a uniform one)."""
    steps = np.diff(x)
    if np.ptp(steps) <= UNIFORM * steps[0]:
        return float((x[-1] - x[0]) / (x.size - 1))
    return float(np.median(steps))


def on_data_step(x: np.ndarray, y: np.ndarray, step: float) -> np.ndarray:
    """The spectrum on a uniform grid of its own median `step` from x[0] (as is when x is
    already uniform)."""
    if np.ptp(np.diff(x)) <= UNIFORM * step:
        return np.asarray(y, np.float64)
    return resample(x, y, np.arange(x[0], x[-1] + 0.5 * step, step), step)


def resample(x: np.ndarray, y: np.ndarray, grid: np.ndarray,
             step_of_x: float | None = None) -> np.ndarray:
    """Values of the spectrum (x ascending, y) on the uniform `grid`.

    Where the grid is coarser than the data, each grid value is the mean of the data over its
    cell (integrating the linear interpolant), so noise is averaged rather than aliased;
    where it is finer, it is the linear interpolant.

    Args:
      x: (n,) strictly increasing positions; y: (n,) intensities.
      grid: (m,) uniform, increasing positions inside [x[0], x[-1]].
      step_of_x: the median step of x, when the caller has it (`data_step`).

    Returns:
      (m,) float64 values.
    """
    step = grid[1] - grid[0]
    if step <= (data_step(x) if step_of_x is None else step_of_x):
        return np.interp(grid, x, y)
    # cumulative integral of the piecewise-linear interpolant, differenced over each cell
    area = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))])
    edges = np.clip(np.concatenate([grid - step / 2, grid[-1:] + step / 2]), x[0], x[-1])
    integral = np.interp(edges, x, area)
    width = np.diff(edges)
    return np.where(width > 0, np.diff(integral) / np.maximum(width, 1e-300), np.interp(grid, x, y))
