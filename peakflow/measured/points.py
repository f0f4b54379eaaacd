"""The data points under each window: where the refinement's likelihood is evaluated.

The policy sees the spectrum resampled onto its model grid (`peakflow.measured.resample`),
and resampling smooths: linear interpolation acts as a kernel of variance h²/6 (h the data
step), cell averages add H²/12 (H the grid step), so peaks on the grid are lower and wider than
in the data, and the grid's noise is correlated. The refinement therefore fits each window's
peaks at the data's own points, with each point's own noise sd, in the window's coordinates
(grid points from the window's first one, the removed baseline subtracted, divided by the
window's scale). Nothing is smoothed and the noise is white, so the χ² and the Laplace sds
mean what they say.

Data denser than the grid are averaged in consecutive groups of b points (b chosen so that a
window holds at most W of them), and a group's model is the mean of the peak over the group's
span [ω − δ, ω + δ] (`peakflow.core.lineshape.mean_profile`, by two-point quadrature), not
its value at the centre: the mean of b samples differs from the mean over their span only by
the midpoint rule's h²/24 · f'' (≤ 0.03 % of a peak of 12 grid points FWHM), so the fit stays
unbiased while a window costs about two of its W points each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FIELDS = ("omega", "values", "weight", "half")  # what the refinement's likelihood reads
CARRIED = FIELDS + ("noise_ratio",)


@dataclass(frozen=True)
class WindowPoints:
    """M windows' data points, padded to a common P.

    Attributes:
      omega: (M, P) each point's position in grid points from the window's first.
      values: (M, P) (y − removed baseline) / the window's scale.
      weight: (M, P) 1 / the point's noise sd in the same units; 0 for padding.
      half: (M, P) δ, half the span (grid points) a point averages: 0 for a single data
        point, > 0 for a group of points (`peakflow.core.lineshape.mean_profile`).
      noise_ratio: (M, P) the point's noise sd over the sd its weight tells the likelihood:
        below 1 where the noise floor (`FitOptions.noise_floor`) raised it, 0 for padding;
        None: 1 at every point (`ratio`).
    """

    omega: np.ndarray
    values: np.ndarray
    weight: np.ndarray
    half: np.ndarray
    noise_ratio: np.ndarray | None = None

    @property
    def ratio(self) -> np.ndarray:
        """(M, P) `noise_ratio`, 1 at every real point when it is None."""
        if self.noise_ratio is not None:
            return self.noise_ratio
        return (self.weight > 0).astype(np.float64)

    def field(self, name: str) -> np.ndarray:
        """The attribute `name` (`ratio` for ``noise_ratio``)."""
        return self.ratio if name == "noise_ratio" else getattr(self, name)

    @property
    def counts(self) -> np.ndarray:
        """(M,) data points in each window."""
        return np.sum(self.weight > 0, axis=1)

    @property
    def grouped(self) -> np.ndarray:
        """(M,) bool: the window's points are groups (δ > 0)."""
        return np.any(self.half > 0, axis=1)

    def take(self, rows: np.ndarray, size: int | None = None) -> WindowPoints:
        """The windows `rows` (their first `size` points)."""
        return WindowPoints(*(self.field(f)[rows, :size] for f in CARRIED))

    def padded(self, size: int) -> WindowPoints:
        """The same points padded (weight 0) to `size` >= P columns."""
        extra = size - self.omega.shape[1]
        return WindowPoints(*(np.pad(self.field(f), ((0, 0), (0, extra))) for f in CARRIED))

    @staticmethod
    def concatenate(parts: list[WindowPoints]) -> WindowPoints:
        """The windows of `parts` in one, padded to the widest."""
        size = max([p.omega.shape[1] for p in parts], default=1)
        parts = [p.padded(size) for p in parts]
        return WindowPoints(*(np.concatenate([p.field(f) for p in parts]) if parts
                              else np.zeros((0, size)) for f in CARRIED))


def window_points(x: np.ndarray, y: np.ndarray, sd: np.ndarray, grid: np.ndarray,
                  baseline: np.ndarray, starts: np.ndarray, scales: np.ndarray,
                  num_points: int, floor: float) -> WindowPoints:
    """The data points of one spectrum's windows.

    Args:
      x, y: (n,) the checked, sorted data; sd: (n,) each point's noise sd.
      grid: (g,) the uniform model grid (padding included); baseline: (g,) the removed
        baseline on it; starts: (M,) each window's first grid index; scales: (M,) the
        windows' scales; num_points: W.
      floor: the smallest noise sd, as a fraction of a window's scale (`FitOptions.noise_floor`).

    Returns:
      `WindowPoints` padded to the most points a window holds.
    """
    step = grid[1] - grid[0]
    x, y, sd, half = _grouped(x, y, sd, _group_size(x, step, num_points))
    lo = np.searchsorted(x, grid[starts], side="left")
    hi = np.searchsorted(x, grid[starts + num_points - 1], side="right")
    size = max(int(np.max(hi - lo)), 1)
    index = np.minimum(lo[:, None] + np.arange(size)[None], x.size - 1)
    inside = np.arange(size)[None] < (hi - lo)[:, None]
    omega = (x[index] - grid[starts][:, None]) / step
    values = (y[index] - np.interp(x[index], grid, baseline)) / scales[:, None]
    own = sd[index] / scales[:, None]
    told = np.maximum(own, floor)
    return WindowPoints(*(np.where(inside, a, 0.0) for a in (omega, values, 1.0 / told,
                                                            half[index] / step, own / told)))


def _group_size(x: np.ndarray, step: float, num_points: int) -> int:
    """b: consecutive points averaged so that a window holds at most W of them."""
    densest = np.max(np.searchsorted(x, x + step * (num_points - 1), side="right")
                     - np.arange(x.size))
    return max(1, math.ceil(densest / num_points))


def _grouped(x: np.ndarray, y: np.ndarray, sd: np.ndarray, size: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive groups of `size` points (the last may be shorter): (centre, mean y, sd of
    the mean = √(Σ sd²) / count, δ) with the span of a group from the midpoint before its first
    point to the midpoint after its last (half a step beyond the ends); δ = 0 when
    `size` is 1."""
    if size == 1:
        return x, y, sd, np.zeros_like(x)
    starts = np.arange(0, x.size, size)
    count = np.diff(np.append(starts, x.size))
    mids = 0.5 * (x[1:] + x[:-1])
    bounds = np.concatenate([[x[0] - (mids[0] - x[0])], mids, [x[-1] + (x[-1] - mids[-1])]])
    edges = bounds[np.append(starts, x.size)]
    mean = lambda a: np.add.reduceat(a, starts) / count
    return (0.5 * (edges[1:] + edges[:-1]), mean(y), np.sqrt(np.add.reduceat(sd ** 2, starts))
            / count, 0.5 * np.diff(edges))
