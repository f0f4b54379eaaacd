"""Joint refinement and pruning of each window's peaks (after the policy, before assembly).

The policy places one peak at a time, each on the residual of the ones before; at high
signal-to-noise ratios a large peak placed a few % off leaves a residual that the next step
explains with a small shoulder peak that is not there. Here all of a window's peaks are refined
together, then the peaks the data do not need are dropped:

1. **Refine**: Levenberg-Marquardt on every window's peaks at once (vmapped, one compiled
   program per peak-count bucket, number of points and batch rows, the rows from the ladder
   8, 32, 128, 256 (`peakflow.core.buckets.pieces`); in float64, so that
   JᵀMJ, whose inverse gives the sds, is not rounded to float32 where neighbouring peaks make
   it ill-conditioned), in the policy's coordinates u = (log α, c, log γ, logit η) starting
   from the amortized posterior mean, at the window's own data points with each point's noise
   sd (`peakflow.measured.points`: no resampling between the data and the likelihood), with
   the window's baseline marginalised: its cubic (flat prior) and a smooth deviation from the
   removed baseline (Gaussian prior, `peakflow.measured.window_baseline`), so that χ² is
   rᵀMr with M the marginal precision and the baseline is refitted exactly at every step
   (variable projection). Derivatives in closed form (`peak_jacobian`).
2. **Prune**: the peak whose log-amplitude is least determined (largest Laplace sd, i.e. the
   weakest evidence given its neighbours) is removed and the rest refitted; the removal stands
   when χ² rises by less than `PENALTY` (the BIC price of a peak's 4 parameters on a window,
   4·ln 252 ≈ 22). Only windows with a peak weak enough to go are pruned (`_has_weak_peak`),
   two tries at a time: the least determined peak, then the one whose curve carries the
   least χ² (which finds a shoulder split off a broad peak when the pair is equally
   undetermined: `_candidate`); two more for the windows where a removal stood, up to
   `MAX_TRIES` (realistic set: precision 0.993 / 0.997 / 0.999 at 2 / 4 / 8 tries, bench
   13.1 / 13.9 / 16.3 ms per spectrum).
3. **Posterior**: each kept peak's q becomes the Laplace approximation at the optimum: its
   covariance the peak's 4 × 4 block of (JᵀMJ)⁻¹ (its marginal, neighbours' and the
   baseline's trade-offs included; sds capped at the widest the model's heads give),
   centred so that the means of α, c and γ are the refined values (log α and log γ shifted
   by half their variance), in the correlated family's own form, so everything downstream
   (moments, derived sds, the exactness step) reads it unchanged.

A window's P(K) then counts only the peaks it keeps: the survival P(K ≥ m) of its m-th kept
peak is that of the slot the peak came from, and no mass is left beyond the last kept peak.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.core.buckets import bucket_size, ladder, padded_pieces
from peakflow.core.correlated import CorrelatedQ
from peakflow.measured.asymmetry import compiled as compiled_merge
from peakflow.measured.asymmetry import merge_chunk
from peakflow.measured.doublet import pair_proposals
from peakflow.measured.laplace import laplace_posterior
from peakflow.measured.least_squares import levenberg_marquardt, normal_equations
from peakflow.measured.points import FIELDS, WindowPoints
from peakflow.measured.residual_noise import noise_scale
from peakflow.measured.window_baseline import baseline_modes, prior_precision
from peakflow.measured.window_model import Window, make_window, peak_curves
from peakflow.runtime.saved_programs import Saved

ITERATIONS = 8         # Levenberg-Marquardt steps of the first refinement
SURE = 3.0             # a peak whose removal would cost SURE × PENALTY is not tried
MAX_TRIES = 4          # removals tried per window at most (and at most its slots)
REFIT = 4              # and after each trial removal
PENALTY = 4.0 * math.log(252.0)  # χ² a peak must explain: BIC for 4 parameters, W − 4 points
BUCKETS = (1, 2, 4, 6, 8)  # peak slots per compiled program (a window's count rounded up)
CHUNK = 256            # windows per call


def _evidence(u, mask, win: Window, hess: jax.Array) -> tuple[jax.Array, jax.Array]:
    """((K,) the Laplace sd of each peak's log α, its neighbours marginalised; (K,) the χ²
    its own curve carries, Σ (peak / noise)²), given JᵀMJ (4K, 4K) at u."""
    inactive = jnp.repeat(~mask, 4).astype(u.dtype)
    cov = jnp.linalg.inv(hess + jnp.diag(inactive + 1e-9 * (jnp.diagonal(hess) + 1.0)))
    sd = jnp.sqrt(jnp.maximum(jnp.diagonal(cov)[0::4], 0.0))
    return sd, jnp.sum((peak_curves(u, win) * win.weight) ** 2, axis=1)


def _candidate(u, mask, win: Window, by_energy: jax.Array) -> jax.Array:
    """() the slot to try removing: the peak whose log α has the largest Laplace sd (the
    least determined), or with `by_energy` the one whose own curve carries the least χ²
    (the least the data would miss). A shoulder split off a broad peak can be as
    undetermined as the peak itself (the pair trade height); the energy picks the shoulder
    there."""
    sd, energy = _evidence(u, mask, win, normal_equations(u, mask, win)[1])
    usable = mask & jnp.isfinite(sd)
    return jnp.where(by_energy, jnp.argmin(jnp.where(usable, energy, jnp.inf)),
                     jnp.argmax(jnp.where(usable, sd, -1.0)))


def _has_weak_peak(u, mask, win: Window, hess: jax.Array) -> jax.Array:
    """() whether some peak could be dropped: its Wald χ² (1 / sd(log α)²) or its curve's
    χ² is below `SURE` × `PENALTY`. Removing a peak raises χ² by about the smaller of the
    two (the first with the others refitted, the second without), so where every peak is
    above, no removal can stand and none is tried. `hess`: JᵀMJ at u."""
    sd, energy = _evidence(u, mask, win, hess)
    wald = 1.0 / jnp.maximum(sd * sd, 1e-300)
    return jnp.any(mask & (jnp.minimum(wald, energy) < SURE * PENALTY))


def prune_window(u, mask, chi2, win: Window, num_points: int, tries: int = 2):
    """`tries` removals tried in turn (see the module docstring), candidates alternating
    between the least determined peak and the one carrying the least χ² (`_candidate`).

    Args:
      u: (K, 4) the refined peaks; mask: (K,) those in use; chi2: () their χ².
      win: the window (`Window`); num_points: W.

    Returns:
      (u, mask, χ², dropped (): whether any removal stood, JᵀMJ (4K, 4K) at the result).
    """
    def prune(carry, round_):
        u, mask, chi2, dropped = carry
        weakest = _candidate(u, mask, win, round_ % 2 == 1)
        fewer = mask & (jnp.arange(mask.shape[0]) != weakest)
        refit, refit_chi2 = levenberg_marquardt(u, fewer, win, num_points, REFIT)
        drop = jnp.any(mask) & (refit_chi2 - chi2 < PENALTY)
        return (jnp.where(drop, refit, u), jnp.where(drop, fewer, mask),
                jnp.where(drop, refit_chi2, chi2), dropped | drop), None

    carry = (u, mask, chi2, jnp.zeros((), bool))
    (u, mask, chi2, dropped), _ = jax.lax.scan(prune, carry, jnp.arange(tries))
    return u, mask, chi2, dropped, normal_equations(u, mask, win)[1]


@functools.lru_cache(maxsize=16)
def _compiled(num_points: int, degree: int, lam: float, grouped: bool, doublet: bool = False,
              step: float = 0.0):
    """Two batched programs for windows of `num_points` grid points whose points are single
    data points or (`grouped`) group means, and whose peaks are single lines or (`doublet`)
    pairs, with a Shirley background of direction `step` (0: none), jitted; call them (and
    trace them) under ``jax.enable_x64``: ``first(u, mask, omega, values, weight, half,
    prior, pair)`` refines (`ITERATIONS` steps) and returns (u, mask, χ², whether a peak is
    weak (`_has_weak_peak`), JᵀMJ); ``more(u, mask, chi2, omega, values, weight, half, prior,
    pair)`` tries two removals (`prune_window`)."""
    table = jnp.asarray(baseline_modes(num_points, degree, lam)[0])

    def window(omega, values, weight, half, prior, pair):
        return make_window(omega, values, weight, half if grouped else None, table, prior,
                           pair if doublet else None, step)

    def first(u, mask, omega, values, weight, half, prior, pair):
        win = window(omega, values, weight, half, prior, pair)
        u, chi2 = levenberg_marquardt(u, mask, win, num_points, ITERATIONS)
        hess = normal_equations(u, mask, win)[1]
        return u, mask, chi2, _has_weak_peak(u, mask, win, hess), hess

    def more(u, mask, chi2, omega, values, weight, half, prior, pair):
        return prune_window(u, mask, chi2, window(omega, values, weight, half, prior, pair),
                            num_points, 2)

    static = (num_points, degree, lam, grouped, doublet, step)
    return (Saved(jax.jit(jax.vmap(first)), "refine_first", static),
            Saved(jax.jit(jax.vmap(more)), "refine_more", static))


def warm(num_points: int, degree: int, lam: float, rows: tuple[int, ...] | None = None,
         buckets: tuple[int, ...] = BUCKETS) -> int:
    """Runs (so compiles, or loads from the caches) both refinement programs for every peak
    bucket, point count (W / 2 or W: `points_bucket`), kind of point (single or grouped) and
    batch rows (``ladder(CHUNK)``): every program a call with these settings can meet, with
    no doublet, Shirley background or asymmetric shape. Returns how many programs."""
    prior_width = baseline_modes(num_points, degree, lam)[1].size
    count = 0
    for grouped in (False, True):
        first, more = _compiled(num_points, degree, float(lam), grouped, False, 0.0)
        for bucket, size, n in itertools.product(buckets, (num_points // 2, num_points),
                                                 rows or ladder(CHUNK)):
            u, mask = np.zeros((n, bucket, 4)), np.zeros((n, bucket), bool)
            points = tuple(np.zeros((n, size)) for _ in FIELDS)
            prior, pair = np.ones((n, prior_width)), np.zeros((n, 6))
            with jax.enable_x64(True):
                first(u, mask, *points, prior, pair)
                more(u, mask, np.zeros(n), *points, prior, pair)
            count += 2
    return count


def _refine_chunk(programs, u, mask, points: tuple, prior, pair, bucket: int, count: int,
                  refit: bool = False):
    """One chunk of windows of peak-count bucket `bucket`, its first `count` rows real (the
    rest padding, refined with them but never pruned): refined, then (unless `refit`) the
    windows with a weak peak pruned two tries at a time, those whose last tries removed a peak
    going on (at most `bucket` tries each, at least 2); returns (u, mask, JᵀMJ, χ²) as numpy
    arrays."""
    first, more = programs
    u, mask, chi2, dropped, hess = (np.array(a) for a in first(u, mask, *points, prior, pair))
    dropped[0 if refit else count:] = False
    tried = 0
    while tried < min(max(bucket, 2), MAX_TRIES) and dropped.any():
        rows = np.flatnonzero(dropped)
        dropped[:] = False
        for take, n in padded_pieces(rows, CHUNK):
            out = more(u[take], mask[take], chi2[take], *(a[take] for a in points),
                       prior[take], pair[take])
            for whole, new in zip((u, mask, chi2, dropped, hess), out):
                whole[take[:n]] = np.asarray(new)[:n]
        tried += 2
    return u, mask, hess, chi2


def refine_predictions(pred: Prediction, points: WindowPoints, deviation_sd: np.ndarray,
                       num_points: int, degree: int, lam: float, sd_bounds: np.ndarray,
                       pair: np.ndarray | None = None, spectrum: np.ndarray | None = None,
                       asymmetric: bool = False, step: float = 0.0, refit: bool = False,
                       prune_only: bool = False) -> tuple[Prediction, np.ndarray, np.ndarray]:
    """Every window's peaks refined and pruned, batched by peak-count bucket and number of
    data points (`points_bucket`).

    Args:
      pred: the windows' amortized `Prediction` (correlated family), fields (M, ...).
      points: the M windows' data points (`peakflow.measured.points`).
      deviation_sd: (M,) prior sd of each window's baseline deviation (window units).
      num_points: W; degree: the model's baseline polynomial degree; lam: the Whittaker
        smoothness of the removed baseline (`peakflow.measured.window_baseline`).
      sd_bounds: (4, 2) the (lowest, highest) sd of each coordinate of u that the model's
        heads can give (`heads_sd_bounds`); the Laplace sds are capped at the highest.
      pair: (M, 6) each window's doublet (`Window`; ratio 0: none), or None: every peak is
        then fitted as the pair of lines, after the proposals that are second lines of
        others are dropped or moved to their main lines (`doublet.pair_proposals`);
        spectrum: (M,) the spectrum of each window (for that step; None: all one).
      asymmetric: then try one split pseudo-Voigt for each window's closest pair of peaks
        (`peakflow.measured.asymmetry`).
      step: a Shirley background fitted with the peaks (`window_model.shirley_step`): +1
        rising with x, −1 falling, 0 none.
      refit: `pred` is a refinement's: its peaks are refitted from their optimum (the means
        its q is centred on) and none is dropped (after a new baseline:
        `peakflow.measured.rebaseline`).
      prune_only: return `pred`'s own (amortized) q of the peaks the refinement keeps,
        compacted as below, with joint and skew None: the exactness step's proposal
        (`peakflow.measured.window_exactness`).

    Returns:
      The `Prediction` with each window's kept peaks first in their slots (policy order),
      their q the Laplace approximation, ``num_peaks`` the kept count and ``k_probs`` counting
      only kept peaks (see the module docstring); (M, 4K, 4K) the correlations between
      every coordinate of every slot of each window (`laplace.joint_correlation`), (M, K,
      7) each peak's asymmetry (`laplace.asymmetry_stats`; zeros for symmetric peaks), in the
      same slot order; (M,) the factor on each window's told noise sd that its residual
      supports (`residual_noise.noise_scale`; the Laplace covariance uses it).
    """
    if not isinstance(pred.q, CorrelatedQ):
        raise TypeError("refinement needs a model of the correlated family")
    count, k_max = pred.num_peaks.shape[0], pred.k_probs.shape[1] - 1
    pair = np.zeros((count, 6)) if pair is None else np.asarray(pair, np.float64)
    if np.any(pair[:, 0] > 0):
        pred = _paired(pred, pair, np.zeros(count, np.int64) if spectrum is None else spectrum,
                       num_points)
    dims = 5 if asymmetric else 4
    loc = np.zeros((count, k_max, dims), np.float32)
    loc[..., :4] = _optimum(pred) if refit else pred.q.loc
    kept, skewed = np.zeros((count, k_max), bool), np.zeros((count, k_max), bool)
    hessians = np.zeros((count, dims * k_max, dims * k_max))
    chi2 = np.full(count, np.nan)
    table, share = baseline_modes(num_points, degree, float(lam))
    prior = prior_precision(share, deviation_sd, num_points)
    sizes = np.array([points_bucket(int(c), num_points) for c in points.counts], np.int64)
    points = points.padded(max(int(sizes.max(initial=0)), points.omega.shape[1]))
    grouped, doubled = points.grouped, pair[:, 0] > 0
    groups = [(bucket, int(size), bool(kind), bool(two)) for bucket in BUCKETS
              for size in np.unique(sizes) for kind in np.unique(grouped)
              for two in np.unique(doubled)]
    for bucket, size, kind, two in groups:
        smaller = BUCKETS[BUCKETS.index(bucket) - 1] if bucket > 1 else 0
        rows = np.flatnonzero((pred.num_peaks > smaller) & (pred.num_peaks <= bucket)
                              & (sizes == size) & (grouped == kind) & (doubled == two))
        programs = _compiled(num_points, degree, float(lam), kind, two, float(step))
        for take, n in padded_pieces(rows, CHUNK):
            part = take[:n]
            mask = np.arange(bucket)[None] < pred.num_peaks[take, None]
            chunk = points.take(take, size)
            arrays = tuple(np.asarray(getattr(chunk, f), np.float64) for f in FIELDS)
            with jax.enable_x64(True):
                u, mask, hess, fit_chi2 = _refine_chunk(
                    programs, loc[take, :bucket, :4].astype(np.float64), mask, arrays,
                    prior[take], pair[take], bucket, part.size, refit)
                if asymmetric:
                    u, mask, skew, hess, fit_chi2 = merge_chunk(
                        compiled_merge(num_points, degree, float(lam), kind, two, float(step)),
                        u, mask, arrays, prior[take], pair[take], num_points)
                    skewed[part, :bucket] = skew[:part.size]
            loc[part, :bucket] = u[:n]
            kept[part, :bucket] = mask[:n]
            hessians[part, :dims * bucket, :dims * bucket] = hess[:n]
            chi2[part] = fit_chi2[:n]
    scale = noise_scale(points, chi2, 4 * kept.sum(axis=1) + (kept & skewed).sum(axis=1),
                        table, prior)
    if prune_only:
        return _compact(pred, np.asarray(pred.q.loc, np.float32),
                        np.asarray(pred.q.scale_tril, np.float32), kept) + (scale,)
    loc, tril, joint, skew = laplace_posterior(loc, hessians / scale[:, None, None] ** 2, kept,
                                               sd_bounds, skewed if asymmetric else None)
    tril = np.where(kept[..., None, None], tril, np.asarray(pred.q.scale_tril, np.float32))
    return _compact(pred, np.where(kept[..., None], loc, pred.q.loc).astype(np.float32), tril,
                    kept, joint, skew) + (scale,)


def _optimum(pred: Prediction) -> np.ndarray:
    """(M, K, 4) u at the posterior means of α, c, γ and η of a refined `pred`: the optimum its
    Laplace q is centred on (`peakflow.measured.laplace`); q's own loc in empty slots."""
    mean = pred.q.mean()
    eta = np.clip(mean.lorentzian, 1e-12, 1.0 - 1e-12)
    tiny = np.finfo(np.float64).tiny
    u = np.stack([np.log(np.maximum(mean.amplitude, tiny)), mean.location,
                  np.log(np.maximum(mean.width, tiny)), np.log(eta / (1.0 - eta))], axis=-1)
    present = np.arange(u.shape[1])[None] < np.asarray(pred.num_peaks)[:, None]
    return np.where(present[..., None], u, np.asarray(pred.q.loc, np.float64))


def points_bucket(count: int, num_points: int) -> int:
    """The padded number of points of a window: W / 2 or W (`window_points` groups denser
    data); windows are refined in groups of one size."""
    return bucket_size(count, num_points // 2, halves=False)


def _paired(pred: Prediction, pair: np.ndarray, spectrum: np.ndarray,
            num_points: int) -> Prediction:
    """The prediction with the proposals that are second lines of others' doublets dropped
    or moved to their main lines (`pair_proposals`)."""
    present = np.arange(pred.k_probs.shape[1] - 1)[None] < pred.num_peaks[:, None]
    loc, keep = pair_proposals(np.asarray(pred.q.loc), present, pair, spectrum, num_points)
    return _compact(pred, loc.astype(np.float32), np.asarray(pred.q.scale_tril), keep)[0]


def _compact(pred: Prediction, loc: np.ndarray, tril: np.ndarray, kept: np.ndarray,
             joint: np.ndarray | None = None, skew: np.ndarray | None = None):
    """Kept peaks moved to the first slots (and their rows of `joint` and `skew`); P(K)
    recomputed over them; returns (prediction, joint, skew)."""
    count, k_max = kept.shape
    order = np.argsort(~kept, axis=1, kind="stable")         # kept slots first, in order
    loc = np.take_along_axis(loc, order[..., None], axis=1)
    tril = np.take_along_axis(tril, order[..., None, None], axis=1)
    if skew is not None:
        skew = np.take_along_axis(skew, order[..., None], axis=1)
    if joint is not None:
        coords = (4 * order[..., None] + np.arange(4)).reshape(count, 4 * k_max)
        joint = np.take_along_axis(np.take_along_axis(joint, coords[:, :, None], axis=1),
                                   coords[:, None, :], axis=2)
    num_peaks = kept.sum(axis=1)
    survival = 1.0 - np.cumsum(pred.k_probs, axis=1)[:, :-1]  # P(K >= slot + 1)
    survival = np.where(np.arange(k_max)[None] < num_peaks[:, None],
                        np.take_along_axis(survival, order, axis=1), 0.0)
    upper = np.concatenate([np.ones((count, 1)), survival], axis=1)
    k_probs = np.clip(upper - np.concatenate([survival, np.zeros((count, 1))], axis=1), 0, 1)
    return pred._replace(q=CorrelatedQ(loc, tril), num_peaks=num_peaks.astype(np.int32),
                         k_probs=k_probs.astype(np.float32)), joint, skew


def heads_sd_bounds(heads) -> np.ndarray:
    """(4, 2) the sd range of each coordinate of u = (log α, c, log γ, logit η) that a model's
    heads (`peakflow.config.HeadConfig`) can give."""
    return np.asarray([heads.amplitude_log_sd, heads.location_sd, heads.width_log_sd,
                       heads.lorentzian_logit_sd], np.float64)
