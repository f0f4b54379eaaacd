"""`WindowBatch`: the windows of every spectrum of one call in one batch, built once from the
prepared spectra; the policy, the refinement and the exactness step each take it and return
it, and `assemble` splits it per spectrum at the end."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import jax
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.measured.points import CARRIED, WindowPoints
from peakflow.measured.prepare import Prepared


@dataclass(frozen=True)
class WindowBatch:
    """M windows of S spectra, spectrum by spectrum.

    Attributes:
      values: (M, W) the normalised windows.
      noise: (M,) the noise sd the model is told for each.
      points: the windows' data points (`peakflow.measured.points`).
      deviation_sd: (M,) the prior sd of each window's baseline deviation
        (`peakflow.measured.window_baseline`).
      counts: (S,) windows of each spectrum: spectrum i owns rows
        ``offsets[i]:offsets[i + 1]``.
      pred: their `Prediction` (fields (M, ...); ``fitted`` None) once the policy has run.
      khat: (M,) Pareto k̂ of the exactness step; NaN where it did not run or found no peaks.
      pair: (M, 6) each window's doublet (ratio, λ₂/λ₁ or 0, split, x at its grid point 0, x
        per grid point: `peakflow.measured.window_model.Window`; ratio 0: single lines) and
        its intensity scale (y units per window unit).
      skew: (M, K, 7) each peak's asymmetry (`peakflow.measured.laplace.asymmetry_stats`;
        zeros: symmetric), None before the refinement.
      joint: (M, 4K, 4K) the correlations between all coordinates of all peak slots of each
        refined window (`peakflow.measured.laplace.joint_correlation`); NaN for the windows
        whose peaks are independent (not refined); None before the refinement.
    """

    values: np.ndarray
    noise: np.ndarray
    points: WindowPoints
    deviation_sd: np.ndarray
    counts: np.ndarray
    pred: Prediction | None = None
    khat: np.ndarray | None = None
    joint: np.ndarray | None = None
    pair: np.ndarray | None = None
    skew: np.ndarray | None = None

    @classmethod
    def of(cls, prepared: Sequence[Prepared]) -> WindowBatch:
        """The windows of `prepared` (which may be empty) in one batch."""
        width = prepared[0].windows.shape[1] if prepared else 0
        values = (np.concatenate([p.windows for p in prepared]) if prepared
                  else np.zeros((0, width), np.float32))
        noise = (np.concatenate([p.noise_model for p in prepared]) if prepared
                 else np.zeros(0, np.float32))
        counts = np.array([p.windows.shape[0] for p in prepared], np.int64)
        points = WindowPoints.concatenate([p.points for p in prepared])
        deviation = np.concatenate([np.zeros(0)] + [p.deviation_sd for p in prepared])
        return cls(values, noise, points, deviation, counts,
                   khat=np.full(values.shape[0], np.nan))

    @property
    def offsets(self) -> np.ndarray:
        """(S + 1,) the first row of each spectrum, then M."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def rows_of(self, spectra: np.ndarray) -> np.ndarray:
        """(M',) the rows of the spectra where the (S,) bool mask `spectra` is set."""
        return np.flatnonzero(np.repeat(np.asarray(spectra, bool), self.counts))

    def take(self, rows: np.ndarray) -> tuple[Prediction, np.ndarray, np.ndarray]:
        """(prediction, values, noise) of `rows`."""
        return (jax.tree.map(lambda a: np.asarray(a)[rows], self.pred), self.values[rows],
                self.noise[rows])

    def with_rows(self, rows: np.ndarray, pred: Prediction, khat: np.ndarray | None = None,
                  joint: np.ndarray | None = None,
                  skew: np.ndarray | None = None) -> WindowBatch:
        """The batch with the prediction (and k̂, the joint correlations, the asymmetries) of
        `rows` replaced; the whole prediction takes the wider dtype of the two (rows not replaced
        keep their values exactly)."""
        def put(whole: Any, new: Any) -> np.ndarray:
            new = np.asarray(new)
            out = np.asarray(whole).astype(np.result_type(np.asarray(whole).dtype, new.dtype))
            out[rows] = new
            return out

        pred = pred._replace(fitted=None)
        whole = rows.size == self.values.shape[0]  # (q may change family: nothing to merge)
        merged = pred if whole else jax.tree.map(put, self.pred, pred)
        out = replace(self, pred=merged)
        if khat is not None:
            out = replace(out, khat=put(self.khat, khat))
        if joint is not None:
            every = (np.full((self.values.shape[0],) + joint.shape[1:], np.nan, np.float32)
                     if self.joint is None else self.joint)
            out = replace(out, joint=put(every, joint))
        if skew is not None:
            every = (np.zeros((self.values.shape[0],) + skew.shape[1:]) if self.skew is None
                     else self.skew)
            out = replace(out, skew=put(every, skew))
        return out

    def adopt(self, other: WindowBatch, spectra: np.ndarray) -> WindowBatch:
        """The batch with the windows of the spectra where the (S,) mask `spectra` is set
        taken from `other` (the same windows, refitted: values, points, prediction, joint
        correlations and asymmetries)."""
        rows = self.rows_of(spectra)
        if not rows.size:
            return self
        take = lambda a: None if a is None else np.asarray(a)[rows]
        out = self.with_rows(rows, jax.tree.map(take, other.pred), joint=take(other.joint),
                             skew=take(other.skew))
        values = self.values.copy()
        values[rows] = other.values[rows]
        points = WindowPoints(*(np.where(np.isin(np.arange(self.values.shape[0]), rows)[:, None],
                                         other.points.field(f), self.points.field(f))
                                for f in CARRIED))
        return replace(out, values=values, points=points)

    def subset(self, spectra: np.ndarray) -> WindowBatch:
        """The batch of only the spectra where the (S,) mask `spectra` is set."""
        rows = self.rows_of(spectra)
        take = lambda a: None if a is None else np.asarray(a)[rows]
        return replace(self, values=self.values[rows], noise=self.noise[rows],
                       points=self.points.take(rows), deviation_sd=self.deviation_sd[rows],
                       counts=self.counts[np.asarray(spectra, bool)],
                       pred=None if self.pred is None else jax.tree.map(take, self.pred),
                       khat=take(self.khat), joint=take(self.joint), pair=take(self.pair),
                       skew=take(self.skew))

    def split(self, tree: Any) -> list:
        """A pytree with leading axis M → one pytree per spectrum."""
        bounds = self.offsets
        return [jax.tree.map(lambda a, lo=lo, hi=hi: a[lo:hi], tree)
                for lo, hi in zip(bounds[:-1], bounds[1:])]
