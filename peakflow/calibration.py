"""Credible intervals, their coverage, and simulation-based-calibration ranks (numpy)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.core.variational import PeakQ


def normal_interval(mean: np.ndarray, sd: np.ndarray, level: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Central `level` interval of N(mean, sd²), elementwise."""
    z = stats.norm.ppf(0.5 + level / 2)
    return mean - z * sd, mean + z * sd


def q_intervals(q: PeakQ, level: float) -> tuple[Peaks, Peaks]:
    """Central `level` intervals of the mean-field family: Normal factors, Beta for η.

    Args:
      q: fields (...,).

    Returns:
      (lo, hi) as `Peaks` of (...,) arrays.
    """
    lo, hi = {}, {}
    for name in PARAMETERS[:3]:
        lo[name], hi[name] = normal_interval(np.asarray(getattr(q, f"{name}_mean")),
                                             np.asarray(getattr(q, f"{name}_sd")), level)
    a, b = np.asarray(q.lorentzian_a), np.asarray(q.lorentzian_b)
    tail = (1 - level) / 2
    lo["lorentzian"] = stats.beta.ppf(tail, a, b)
    hi["lorentzian"] = stats.beta.ppf(1 - tail, a, b)
    return Peaks(**lo), Peaks(**hi)


def coverage(lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Share of the true values (where `mask`) that fall inside [lo, hi]."""
    inside = (truth >= lo) & (truth <= hi)
    return float(np.mean(inside[mask])) if mask.any() else float("nan")


def sbc_ranks(draws: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rank of each true value among its L posterior draws (0..L), where `mask`.

    Args:
      draws: (L, ...) posterior draws.
      truth: (...,) true values; `mask` (...,) which to use.

    Returns:
      (M,) int ranks; uniform on 0..L when the posterior is calibrated.
    """
    return np.sum(draws < truth[None], axis=0)[mask]
