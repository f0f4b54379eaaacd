"""`PeakDraws`: each reported peak's posterior, to draw from in the caller's units: the peaks
of one refined window jointly (their Laplace correlations), asymmetries with their peaks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import jax
import numpy as np

from peakflow.core.correlated import CorrelatedQ, peaks_of
from peakflow.core.lineshape import Peaks


@dataclass(frozen=True)
class PeakDraws:
    """Each reported peak's joint posterior, to draw from: its variational posterior in its
    window's units (``q``: `CorrelatedQ` or `PeakQ`, fields (P, ...), in `PeakTable` order)
    and the maps to the caller's units, each (P,): ``origin`` (x of the window's grid point
    0), ``grid_step`` (x units per grid point), ``y_scale`` (y units per window unit).

    Peaks refined together in one window are drawn jointly: ``group`` (P,) names the row of
    ``joint`` (G, 4K, 4K) that holds the correlations between all coordinates of all slots
    of the peak's window (`peakflow.measured.laplace.joint_correlation`), ``slot`` (P,) the
    peak's slot there; group −1: the peak is independent of the others."""

    q: Any
    origin: np.ndarray
    grid_step: np.ndarray
    y_scale: np.ndarray
    group: np.ndarray | None = None
    slot: np.ndarray | None = None
    joint: np.ndarray | None = None
    skew: np.ndarray | None = None

    def sample(self, rng: np.random.Generator, num: int) -> Peaks:
        """`num` joint draws of every peak: `Peaks` with fields (num, P) in the caller's
        units (η clipped to [0, 1]); peaks of one refined window jointly, others
        independently."""
        return self.sample_with_asymmetry(rng, num)[0]

    def sample_with_asymmetry(self, rng: np.random.Generator,
                              num: int) -> tuple[Peaks, np.ndarray]:
        """`sample`, and each draw's asymmetry (num, P) (0 for symmetric peaks): drawn with
        the rest of its peak (``skew``: `peakflow.measured.laplace.asymmetry_stats`)."""
        if not isinstance(self.q, CorrelatedQ):
            d, asymmetry = self.q.host_sample(rng, num), np.zeros((num, len(self.origin)))
        else:
            u = self._joint_u(rng, num)
            d, asymmetry = peaks_of(u), self._asymmetry(u, rng)
        return Peaks(amplitude=d.amplitude * self.y_scale,
                     location=self.origin + d.location * self.grid_step,
                     width=np.abs(d.width) * self.grid_step,
                     lorentzian=np.clip(d.lorentzian, 0.0, 1.0)), asymmetry

    def _asymmetry(self, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(num, P) a = â + B·(u − μ) + sd·ε given the draws u (num, P, 4)."""
        if self.skew is None or not np.any(self.skew[:, 1] > 0):
            return np.zeros(u.shape[:2])
        s = np.asarray(self.skew, np.float64)
        shift = np.einsum("npi,pi->np", u - np.asarray(self.q.loc, np.float64), s[:, 3:])
        noise = rng.standard_normal(u.shape[:2]) * s[:, 2]
        return np.clip(s[:, 0] + shift + noise, -0.95, 0.95)

    def _joint_u(self, rng: np.random.Generator, num: int) -> np.ndarray:
        """(num, P, 4) draws of u in the window's units, the peaks of each group jointly:
        each peak's own (clipped) sds with its window's correlations."""
        loc = np.asarray(self.q.loc, np.float64)
        tril = np.asarray(self.q.scale_tril, np.float64)
        eps = rng.standard_normal((num,) + loc.shape)
        u = loc + np.einsum("pij,npj->npi", tril, eps)
        if self.group is None or self.slot is None or self.joint is None:
            return u
        for g in np.unique(self.group[self.group >= 0]):
            idx = np.flatnonzero(self.group == g)
            if idx.size < 2:
                continue
            sd = np.sqrt(np.sum(tril[idx] ** 2, axis=-1)).ravel()          # (4m,)
            coords = (4 * self.slot[idx, None] + np.arange(4)).ravel()
            corr = np.asarray(self.joint[g], np.float64)[np.ix_(coords, coords)]
            factor = _psd_factor(sd[:, None] * corr * sd[None, :])
            flat = eps[:, idx].reshape(num, -1) @ factor.T
            u[:, idx] = loc[idx] + flat.reshape(num, idx.size, 4)
        return u

    def take(self, index: np.ndarray) -> PeakDraws:
        """The draws of the peaks at `index` (P',), in that order."""
        pick = lambda a: np.asarray(a)[index]
        maybe = lambda a: None if a is None else pick(a)
        return replace(self, q=jax.tree.map(pick, self.q), origin=pick(self.origin),
                       grid_step=pick(self.grid_step), y_scale=pick(self.y_scale),
                       group=maybe(self.group), slot=maybe(self.slot), skew=maybe(self.skew))

    @staticmethod
    def concatenate(first: PeakDraws, second: PeakDraws) -> PeakDraws:
        both = lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)])
        joint = group = slot = None
        if (first.joint is not None and second.joint is not None and second.group is not None
                and first.joint.shape[1:] == second.joint.shape[1:]):
            shifted = np.where(second.group >= 0, second.group + len(first.joint), -1)
            joint, group = both(first.joint, second.joint), both(first.group, shifted)
            slot = both(first.slot, second.slot)
        skew = None
        if first.skew is not None or second.skew is not None:
            none = lambda d: np.zeros((len(d.origin), 7)) if d.skew is None else d.skew
            skew = both(none(first), none(second))
        return PeakDraws(q=jax.tree.map(both, first.q, second.q),
                         origin=both(first.origin, second.origin),
                         grid_step=both(first.grid_step, second.grid_step),
                         y_scale=both(first.y_scale, second.y_scale),
                         group=group, slot=slot, joint=joint, skew=skew)


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    """A factor F with F Fᵀ = `cov` (d, d), its negative eigenvalues (rounding) set to 0."""
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    return vectors * np.sqrt(np.maximum(values, 0.0))
