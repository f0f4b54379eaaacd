"""The batched stages of `peakflow.measured.pipeline` on a `WindowBatch` of many spectra'
windows: the policy's pass (step 5), the refinement (step 6, of whole spectra or of chosen
windows) and the exactness step, and each window's doublet as the refinement reads it."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import jax
import numpy as np

from peakflow.measured.batch import WindowBatch
from peakflow.measured.options import FitOptions
from peakflow.measured.prepare import Prepared
from peakflow.measured.refine import heads_sd_bounds, refine_predictions
from peakflow.measured.window_exactness import reweight_predictions
from peakflow.runtime.trained import TrainedModel

MIN_BATCH = 64  # windows: every call with up to 64 windows shares one compiled program


def window_pairs(prepared: Sequence[Prepared], options: Sequence[FitOptions]) -> np.ndarray:
    """(M, 6) each window's doublet as the refinement reads it (`Window`): its spectrum's
    ``doublet`` parameters (zeros: none), the x of the window's grid point 0, the step and
    the window's intensity scale."""
    rows = [np.zeros((0, 6))]
    for prep, opts in zip(prepared, options):
        step = float(prep.grid[1] - prep.grid[0])
        params = np.zeros(3) if opts.doublet is None else opts.doublet.params
        rows.append(np.column_stack([np.tile(params, (prep.starts.size, 1)),
                                     prep.grid[0] + prep.starts * step,
                                     np.full(prep.starts.size, step), prep.scales]))
    return np.concatenate(rows)


def predict_windows(trained: TrainedModel, batch: WindowBatch) -> WindowBatch:
    """Step 5's policy pass: the amortized posterior of every window of the batch."""
    if not batch.counts.size:
        return batch
    pred = trained.predict(batch.values, noise=batch.noise, min_batch=MIN_BATCH)
    return replace(batch, pred=pred)


def refine_windows(trained: TrainedModel, batch: WindowBatch, spectra: np.ndarray,
                   lam: float, asymmetric: bool = False, step: float = 0.0,
                   degree: int | None = None, refit: bool = False) -> WindowBatch:
    """Step 6: joint refinement and pruning (`peakflow.measured.refine`) of the windows of
    the spectra where the (S,) mask `spectra` is set, all in one call, on their data points
    with the baseline (Whittaker smoothness `lam`) marginalised; with `asymmetric`, a split
    pseudo-Voigt tried for each window's closest pair (`peakflow.measured.asymmetry`); a
    Shirley background of direction `step` fitted with the peaks (0: none); `degree`: the
    polynomial each window marginalises (None: the model's; negative: none); with `refit`
    the windows' refined peaks are refitted, none dropped."""
    return refine_rows(trained, batch, batch.rows_of(spectra), lam, asymmetric, step, degree,
                       refit)


def refine_rows(trained: TrainedModel, batch: WindowBatch, rows: np.ndarray, lam: float,
                asymmetric: bool = False, step: float = 0.0, degree: int | None = None,
                refit: bool = False) -> WindowBatch:
    """`refine_windows` for the windows (M',) `rows` of the batch."""
    if not rows.size:
        return batch
    refined, joint, skew, _ = _refined(trained, batch, rows, lam, asymmetric, step, degree,
                                       refit)
    return batch.with_rows(rows, refined, joint=joint, skew=skew)


def _refined(trained: TrainedModel, batch: WindowBatch, rows: np.ndarray, lam: float,
             asymmetric: bool = False, step: float = 0.0, degree: int | None = None,
             refit: bool = False, prune_only: bool = False):
    """`refine_predictions` of the windows `rows` of the batch (its outputs)."""
    pred = batch.take(rows)[0]
    model = trained.config.model
    return refine_predictions(
        pred, batch.points.take(rows), batch.deviation_sd[rows], trained.num_points,
        model.baseline_degree if degree is None else degree, lam, heads_sd_bounds(model.heads),
        None if batch.pair is None else batch.pair[rows],
        np.repeat(np.arange(batch.counts.size), batch.counts)[rows], asymmetric, step, refit,
        prune_only)


def reweight_windows(trained: TrainedModel, batch: WindowBatch, spectra: np.ndarray,
                     key: jax.Array, lam: float, step: float = 0.0) -> WindowBatch:
    """The exactness step (`peakflow.measured.window_exactness`) for the windows of the
    spectra where the (S,) mask `spectra` is set, all in one call, against their data
    points' likelihood (baseline smoothness `lam`); sets their k̂. Its proposal is the
    amortized posterior of the peaks the refinement keeps (`refine_predictions`'s
    ``prune_only``; a Shirley background of direction `step` as there): the policy's late
    shoulder slots, which the pruning drops, otherwise stay as peaks (realistic set:
    precision 0.914 → 0.997). Its target's noise is the one each window's residual supports
    (`peakflow.measured.residual_noise`), as the refinement's Laplace posterior."""
    rows = batch.rows_of(spectra)
    if not rows.size:
        return batch
    _, values, noise = batch.take(rows)
    pred, _, _, scale = _refined(trained, batch, rows, lam, step=step, prune_only=True)
    points = batch.points.take(rows)
    points = replace(points, weight=points.weight / scale[:, None])
    new, khat = reweight_predictions(pred, values, noise, trained, key, points,
                                     batch.deviation_sd[rows] * scale, lam)
    return batch.with_rows(rows, new, khat)
