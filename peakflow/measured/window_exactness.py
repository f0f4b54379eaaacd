"""The measured path's exactness step (``FitOptions(exact=True)``): each window's amortized
posterior reweighted towards the window's exact posterior.

The windows' q (the amortized posterior of the peaks the refinement's pruning keeps:
`peakflow.measured.stages.reweight_windows`) is the proposal of
`peakflow.runtime.reweighting.importance_weights` (the same adaptive importance sampler,
Student-t last round and PSIS as ``peakflow.reweight``), against the exact posterior of the
window model: the likelihood of the window's data points at their own noise sds with its
baseline (cubic and smooth deviation) marginalised, as the refinement uses it (`target_points`;
the resampled grid with the cubic projected out when no points are given), times the priors,
for the window's chosen K. Each peak's posterior is then summarised by a correlated Gaussian in
u = (log α, c, log γ, logit η) moment-matched to the weighted draws
(`peakflow.core.importance.fit_proposal`), so the peak table's means, sds and derived sds
(FWHM, area, amplitude) come from the reweighted posterior. Each window reports its Pareto k̂
(``WindowTable.khat``). Above `KHAT_MAX` (0.65) the weights cannot be trusted; there the
weighted covariance is shrunk towards the unweighted covariance of the last round's (Student-t)
draws, as the adaptive sampler does for its proposals (`peakflow.core.importance.SHRINK`): a
deliberately wide answer, marked by its k̂.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.core.importance import SHRINK, fit_proposal
from peakflow.core.likelihood import PointData, log_likelihood, project
from peakflow.core.lineshape import profile, slot_mask
from peakflow.measured.points import WindowPoints
from peakflow.measured.refine import points_bucket
from peakflow.measured.window_baseline import (
    SMOOTHNESS,
    baseline_modes,
    prior_precision,
    weighted_basis,
)
from peakflow.runtime.reweighting import KHAT_MAX, importance_weights
from peakflow.runtime.trained import TrainedModel


def reweight_predictions(pred: Prediction, windows: np.ndarray, noise: np.ndarray,
                         trained: TrainedModel, key: jax.Array,
                         points: WindowPoints | None = None,
                         deviation_sd: np.ndarray | None = None, lam: float = SMOOTHNESS
                         ) -> tuple[Prediction, np.ndarray]:
    """The exactness step for a batch of windows.

    Args:
      pred: the amortized `Prediction` of M windows (fields (M, ...)).
      windows: (M, W) the windows in model units; noise: (M,) the noise sd the model was told.
      trained: the model that made `pred`.
      key: PRNG key of the draws.
      points: the windows' data points: the target is then their likelihood with the
        baseline marginalised (`target_points`), as in the refinement; None: the windows on
        the grid with the cubic projected out.
      deviation_sd, lam: each window's baseline deviation sd and the baseline's smoothness
        (`peakflow.measured.window_baseline`), with `points`.

    Returns:
      (the `Prediction` with q replaced by the moment-matched `CorrelatedQ` of the weighted
      draws (shrunk where k̂ > `KHAT_MAX`) and ``fitted``/``log_lik`` recomputed at its
      means, (M,) k̂: NaN for windows without peaks).
    """
    num_peaks = np.asarray(pred.num_peaks)
    target = windows if points is None else target_points(
        points, np.zeros(len(windows)) if deviation_sd is None else deviation_sd,
        windows.shape[-1], trained.config.model.baseline_degree, lam)
    weighted = importance_weights(pred.q, num_peaks, target, noise, trained.config, key)
    mask = slot_mask(num_peaks, trained.k_max)
    draws = jax.tree.map(lambda a: jnp.asarray(np.nan_to_num(np.swapaxes(a, 0, 1), nan=1.0)),
                         weighted.draws)  # (S, M, P)
    log_w, mask_j = jnp.asarray(weighted.log_weights.T, jnp.float32), jnp.asarray(mask)
    exact = jax.tree.map(np.asarray, fit_proposal(draws, log_w, mask_j, shrink=0.0))
    wide = jax.tree.map(np.asarray, fit_proposal(draws, log_w, mask_j, shrink=SHRINK))
    trusted = np.asarray(weighted.khat <= KHAT_MAX)  # NaN (no peaks): either, unused
    q = jax.tree.map(lambda a, b: np.where(trusted.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                     exact, wide)
    size = windows.shape[-1]
    omega = np.arange(size, dtype=np.float64)
    mean = jax.tree.map(lambda a: np.asarray(a, np.float64)[..., None], q.mean())
    each = profile(omega[None, None, :], *mean, xp=np)  # (M, P, W)
    fitted = np.sum(np.where(mask[..., None], each, 0.0), axis=1)
    residual = project(np.asarray(windows, np.float64) - fitted,
                       trained.config.model.baseline_degree)
    log_lik = log_likelihood(residual, 0.0, np.asarray(noise, np.float64))
    return pred._replace(q=q, fitted=fitted, log_lik=log_lik), weighted.khat


def target_points(points: WindowPoints, deviation_sd: np.ndarray, num_points: int,
                  degree: int, lam: float) -> PointData:
    """The windows' data points as the exactness step's target (`PointData`, fields
    (M, ...)), padded to W points each (`points_bucket` of the largest)."""
    size = max(points_bucket(int(points.counts.max(initial=1)), num_points),
               points.omega.shape[1])
    points = points.padded(size)
    table, share = baseline_modes(num_points, degree, lam)
    basis, gram = weighted_basis(points.omega, points.weight, table,
                                 prior_precision(share, deviation_sd, num_points))
    grouped = bool(points.grouped.any())
    return PointData(points.omega, points.values, points.weight, basis, gram,
                     points.half if grouped else None)
