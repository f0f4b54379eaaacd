"""Joint refinement and pruning of each window's peaks (after the policy, before assembly).

The policy places one peak at a time, each on the residual of the ones before; at high
signal-to-noise ratios a large peak placed a few % off leaves a residual that the next step
explains with a small shoulder peak that is not there. Here all of a window's peaks are refined
together, then the peaks the data do not need are dropped:

1. **Refine**: Levenberg-Marquardt on every window's peaks at once (vmapped, one compiled
   program per peak-count bucket and batch size; in float64, so that JᵀJ, whose inverse
   gives the sds, is not rounded to float32 where neighbouring peaks make it ill-conditioned),
   in the policy's coordinates u = (log α, c, log γ, logit η) starting from the amortized
   posterior mean, on the window's residual with its cubic baseline projected out (so the
   baseline is refitted exactly at every step: variable projection), in units of the noise
   sd the model was told.
2. **Prune**: the peak whose log-amplitude is least determined (largest Laplace sd, i.e. the
   weakest evidence given its neighbours) is removed and the rest refitted; the removal stands
   when χ² rises by less than `PENALTY` (the BIC price of a peak's 4 parameters on a window,
   4·ln 252 ≈ 22), and the next candidate is tried (as many tries as the window has slots, alternating with the peak
   whose curve carries the least χ², which finds a shoulder split off a broad peak when the
   pair is equally undetermined: `_candidate`).
3. **Posterior**: each kept peak's q becomes the Laplace approximation at the optimum — its
   covariance the peak's 4 × 4 block of (JᵀJ)⁻¹ (its marginal, neighbours' correlations
   included; sds clipped to the range the model's heads can give), centred so that the means
   of α, c and γ are the refined values (log α and log γ shifted by half their variance) — in
   the correlated family's own form, so everything downstream (moments, derived sds, the
   exactness step) reads it unchanged.

A window's P(K) then counts only the peaks it keeps: the survival P(K ≥ m) of its m-th kept
peak is that of the slot the peak came from, and no mass is left beyond the last kept peak.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.core.buckets import bucket_size
from peakflow.core.correlated import CorrelatedQ, logit_normal_loc
from peakflow.core.lineshape import profile
from peakflow.measured.points import WindowPoints
from peakflow.measured.window_baseline import at_points, baseline_modes, prior_precision

ITERATIONS = 8         # Levenberg-Marquardt steps of the first refinement
REFIT = 4              # and after each trial removal
PENALTY = 4.0 * math.log(252.0)  # χ² a peak must explain: BIC for 4 parameters, W − 4 points
DAMPING = 1e-2         # initial Levenberg-Marquardt damping (relative to diag JᵀJ)
BUCKETS = (1, 2, 4, 8)  # peak slots per compiled program (a window's count rounded up)
CHUNK = 256            # windows per call
# u = (log α, c, log γ, logit η) is kept inside these bounds (c: relative to the window)
LOG_AMPLITUDE = (math.log(1e-4), math.log(20.0))
LOG_WIDTH = (math.log(0.3), math.log(64.0))
LOGIT = (-8.0, 8.0)


def _clip(u: jax.Array, num_points: int) -> jax.Array:
    lo = jnp.asarray([LOG_AMPLITUDE[0], -0.25 * num_points, LOG_WIDTH[0], LOGIT[0]])
    hi = jnp.asarray([LOG_AMPLITUDE[1], 1.25 * num_points, LOG_WIDTH[1], LOGIT[1]])
    return jnp.clip(u, lo, hi)


def _peak(omega: jax.Array, u: jax.Array) -> jax.Array:
    """(P,) one peak at u (4,), evaluated at the positions omega (P,)."""
    return profile(omega, jnp.exp(u[0]), u[1], jnp.exp(u[2]), jax.nn.sigmoid(u[3]))


class Window(NamedTuple):
    """One window's data points and its baseline, as the refinement needs them.

    omega, values, weight: (P,) as `WindowPoints`; basis: (P, B) the baseline basis at the
    points times the weights; gram: (B, B) (basisᵀbasis + Λ)⁻¹ (`window_baseline`)."""

    omega: jax.Array
    values: jax.Array
    weight: jax.Array
    basis: jax.Array
    gram: jax.Array


def _window(omega, values, weight, table, prior) -> Window:
    """The `Window` of one window's points; table (W, B), prior (B,) its precisions."""
    basis = at_points(table, omega, jnp) * weight[:, None]
    normal = basis.T @ basis
    ridge = 1e-10 * (jnp.trace(normal) / normal.shape[0] + 1.0)
    gram = jnp.linalg.inv(normal + jnp.diag(prior + ridge))
    return Window(omega, values, weight, basis, gram)


def _residual(u: jax.Array, mask: jax.Array, win: Window) -> jax.Array:
    """(P,) the window's points minus its masked peaks u (K, 4), in noise sds."""
    each = jax.vmap(_peak, (None, 0))(win.omega, u)
    return (win.values - jnp.sum(jnp.where(mask[:, None], each, 0.0), 0)) * win.weight


def _chi2(r: jax.Array, win: Window) -> jax.Array:
    """rᵀMr: the χ² of the whitened residual r (P,) with the baseline marginalised."""
    rb = win.basis.T @ r
    return r @ r - rb @ win.gram @ rb


def _normal_equations(u, mask, win: Window):
    """(χ² (), JᵀMJ (4K, 4K), JᵀMr (4K,)) at u, M the marginal precision of the window's
    points given its baseline prior; masked peaks' columns are zero."""
    r = _residual(u, mask, win)
    d = jax.vmap(jax.jacfwd(_peak, argnums=1), (None, 0))(win.omega, u)   # (K, P, 4)
    d = jnp.where(mask[:, None, None], d, 0.0)
    jac = -jnp.moveaxis(d, 0, 1).reshape(r.shape[0], -1) * win.weight[:, None]  # (P, 4K)
    jb, rb = jac.T @ win.basis, win.basis.T @ r
    return (r @ r - rb @ win.gram @ rb, jac.T @ jac - jb @ win.gram @ jb.T,
            jac.T @ r - jb @ win.gram @ rb)


def _levenberg_marquardt(u, mask, win: Window, num_points: int, steps: int):
    """`steps` damped Gauss-Newton steps on the masked peaks; returns (u, χ²)."""
    inactive = jnp.repeat(~mask, 4).astype(u.dtype)

    def step(carry, _):
        u, damping, chi2 = carry
        _, hess, grad = _normal_equations(u, mask, win)
        diag = jnp.diagonal(hess) + 1e-9
        system = hess + jnp.diag(damping * diag + inactive)
        delta = jnp.linalg.solve(system, -grad).reshape(u.shape)
        trial = _clip(u + delta, num_points)
        trial_chi2 = _chi2(_residual(trial, mask, win), win)
        better = trial_chi2 < chi2
        return (jnp.where(better, trial, u), jnp.where(better, damping / 3.0, damping * 4.0),
                jnp.where(better, trial_chi2, chi2)), None

    chi2 = _chi2(_residual(u, mask, win), win)
    (u, _, chi2), _ = jax.lax.scan(step, (u, jnp.asarray(DAMPING, u.dtype), chi2), None,
                                   length=steps)
    return u, chi2


def _candidate(u, mask, win: Window, by_energy: jax.Array) -> jax.Array:
    """() the slot to try removing: the peak whose log α has the largest Laplace sd (its
    neighbours marginalised: the least determined), or with `by_energy` the one whose own
    curve carries the least χ² (Σ (peak / noise)²: the least the data would miss). A shoulder
    split off a broad peak can be as undetermined as the peak itself (the pair trade
    height); the energy picks the shoulder there."""
    _, hess, _ = _normal_equations(u, mask, win)
    inactive = jnp.repeat(~mask, 4).astype(u.dtype)
    cov = jnp.linalg.inv(hess + jnp.diag(inactive + 1e-9 * (jnp.diagonal(hess) + 1.0)))
    sd = jnp.sqrt(jnp.maximum(jnp.diagonal(cov)[0::4], 0.0))
    curves = jax.vmap(_peak, (None, 0))(win.omega, u) * win.weight
    energy = jnp.sum(curves ** 2, axis=1)
    usable = mask & jnp.isfinite(sd)
    return jnp.where(by_energy, jnp.argmin(jnp.where(usable, energy, jnp.inf)),
                     jnp.argmax(jnp.where(usable, sd, -1.0)))


def refine_window(u, mask, win: Window, num_points: int, rounds: int | None = None):
    """Refinement and pruning of one window (see the module docstring).

    Args:
      u: (K, 4) starting peaks in u coordinates; mask: (K,) bool, the peaks in use.
      win: the window's data points and baseline (`Window`); num_points: W.
      rounds: removals tried; None: as many as the window has slots (K).

    Returns:
      (u (K, 4), mask (K,) the peaks kept, JᵀMJ (4K, 4K) at u (zero rows and columns for the
      dropped peaks), χ² ()).
    """
    u, chi2 = _levenberg_marquardt(u, mask, win, num_points, ITERATIONS)

    def prune(carry, round_):
        u, mask, chi2 = carry
        weakest = _candidate(u, mask, win, round_ % 2 == 1)
        fewer = mask & (jnp.arange(mask.shape[0]) != weakest)
        refit, refit_chi2 = _levenberg_marquardt(u, fewer, win, num_points, REFIT)
        drop = jnp.any(mask) & (refit_chi2 - chi2 < PENALTY)
        return (jnp.where(drop, refit, u), jnp.where(drop, fewer, mask),
                jnp.where(drop, refit_chi2, chi2)), None

    rounds = u.shape[0] if rounds is None else rounds
    (u, mask, chi2), _ = jax.lax.scan(prune, (u, mask, chi2), jnp.arange(rounds))
    return u, mask, _normal_equations(u, mask, win)[1], chi2


@functools.lru_cache(maxsize=8)
def _compiled(num_points: int, degree: int, lam: float):
    """The batched `refine_window` for windows of `num_points` grid points, jitted; call it
    (and trace it) under ``jax.enable_x64``."""
    table = baseline_modes(num_points, degree, lam)[0]

    def one(u, mask, omega, values, weight, prior):
        win = _window(omega, values, weight, jnp.asarray(table), prior)
        return refine_window(u, mask, win, num_points)

    return jax.jit(jax.vmap(one))


def refine_predictions(pred: Prediction, points: WindowPoints, deviation_sd: np.ndarray,
                       num_points: int, degree: int, lam: float,
                       sd_bounds: np.ndarray) -> Prediction:
    """Every window's peaks refined and pruned, batched by peak-count bucket.

    Args:
      pred: the windows' amortized `Prediction` (correlated family), fields (M, ...).
      points: the M windows' data points (`peakflow.measured.points`).
      deviation_sd: (M,) prior sd of each window's baseline deviation (window units).
      num_points: W; degree: the model's baseline polynomial degree; lam: the Whittaker
        smoothness of the removed baseline (`peakflow.measured.window_baseline`).
      sd_bounds: (4, 2) the (lowest, highest) sd of each coordinate of u that the model's
        heads can give (`heads_sd_bounds`); the Laplace sds are clipped into them.

    Returns:
      The `Prediction` with each window's kept peaks first in their slots (policy order),
      their q the Laplace approximation, ``num_peaks`` the kept count and ``k_probs`` counting
      only kept peaks (see the module docstring).
    """
    if not isinstance(pred.q, CorrelatedQ):
        raise TypeError("refinement needs a model of the correlated family")
    count, k_max = pred.num_peaks.shape[0], pred.k_probs.shape[1] - 1
    loc = np.array(pred.q.loc, np.float32)
    tril = np.array(pred.q.scale_tril, np.float32)
    kept = np.zeros((count, k_max), bool)
    run = _compiled(num_points, degree, float(lam))
    share = baseline_modes(num_points, degree, float(lam))[1]
    prior = prior_precision(share, deviation_sd, num_points)
    points = points.padded(points_bucket(points.omega.shape[1], num_points))
    for bucket in BUCKETS:
        smaller = BUCKETS[BUCKETS.index(bucket) - 1] if bucket > 1 else 0
        rows = np.flatnonzero((pred.num_peaks > smaller) & (pred.num_peaks <= bucket))
        for lo in range(0, rows.size, CHUNK):
            part = rows[lo:lo + CHUNK]
            take = np.resize(part, bucket_size(part.size, 8))
            mask = np.arange(bucket)[None] < pred.num_peaks[take, None]
            with jax.enable_x64(True):
                u, mask, hess, _ = run(loc[take, :bucket].astype(np.float64), mask,
                                       *(np.asarray(a[take], np.float64) for a in
                                         (points.omega, points.values, points.weight)),
                                       prior[take])
            n = part.size
            loc[part, :bucket] = np.asarray(u)[:n]
            kept[part, :bucket] = np.asarray(mask)[:n]
            tril[part, :bucket] = laplace_trils(np.asarray(hess, np.float64)[:n],
                                                kept[part, :bucket], sd_bounds)
    return _compact(pred, _centred(loc, tril, kept), tril, kept)


def points_bucket(count: int, num_points: int) -> int:
    """The padded number of data points per window: W·2^k (at least W), so one spectrum
    of a new density compiles at most one new set of programs."""
    return bucket_size(count, num_points, halves=False)


def _centred(loc: np.ndarray, tril: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Places each kept peak's q so that the means of α, γ and η (what the tables and fitted
    curves use) are the refined values, not its medians: log α and log γ shifted by half
    their variance, logit η moved until the logit-normal mean is the refined η."""
    sd = np.sqrt(np.sum(tril.astype(np.float64) ** 2, axis=-1))
    out = loc.astype(np.float64)
    out[..., [0, 2]] -= 0.5 * sd[..., [0, 2]] ** 2
    out[..., 3] = logit_normal_loc(1.0 / (1.0 + np.exp(-out[..., 3])), sd[..., 3])
    return np.where(kept[..., None], out, loc).astype(np.float32)


def laplace_trils(hess: np.ndarray, mask: np.ndarray, sd_bounds: np.ndarray) -> np.ndarray:
    """Each peak's Cholesky factor of its marginal Laplace covariance (float64 on the host),
    its sds clipped into `sd_bounds` (correlations kept): a direction the window does not
    determine gets the widest sd the amortized posterior could have given it.

    Args:
      hess: (M, 4K, 4K) JᵀJ of each window at its optimum; mask: (M, K) the peaks in use.
      sd_bounds: (4, 2) lowest and highest sd of each coordinate of u.

    Returns:
      (M, K, 4, 4) float32; the unused peaks get the identity.
    """
    count, slots = mask.shape
    unused = np.repeat(~mask, 4, axis=1).astype(np.float64)            # (M, 4K)
    scale = np.sqrt(np.maximum(np.diagonal(hess, axis1=1, axis2=2), 1e-300)) + unused
    # equilibrate, add a tiny ridge, invert: (JᵀJ)⁻¹ is then finite even where it is singular
    norm = hess / scale[:, :, None] / scale[:, None, :]
    norm = norm + np.eye(4 * slots)[None] * (1e-8 + unused[:, :, None])
    cov = np.linalg.inv(norm) / scale[:, :, None] / scale[:, None, :]
    blocks = np.stack([cov[:, 4 * i:4 * i + 4, 4 * i:4 * i + 4] for i in range(slots)], axis=1)
    blocks = 0.5 * (blocks + np.swapaxes(blocks, -1, -2))
    values, vectors = np.linalg.eigh(blocks)                              # PD by construction
    values = np.maximum(values, 1e-12 * np.maximum(values.max(axis=-1, keepdims=True), 1e-30))
    fixed = (vectors * values[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    sd = np.sqrt(np.diagonal(fixed, axis1=-2, axis2=-1))
    factor = np.clip(sd, sd_bounds[:, 0], sd_bounds[:, 1]) / sd
    fixed = fixed * factor[..., :, None] * factor[..., None, :]
    fixed = np.where(mask[..., None, None], fixed, np.eye(4))
    return np.linalg.cholesky(fixed).astype(np.float32)


def _compact(pred: Prediction, loc: np.ndarray, tril: np.ndarray,
             kept: np.ndarray) -> Prediction:
    """Kept peaks moved to the first slots; P(K) recomputed over them."""
    count, k_max = kept.shape
    order = np.argsort(~kept, axis=1, kind="stable")         # kept slots first, in order
    loc = np.take_along_axis(loc, order[..., None], axis=1)
    tril = np.take_along_axis(tril, order[..., None, None], axis=1)
    num_peaks = kept.sum(axis=1)
    survival = 1.0 - np.cumsum(pred.k_probs, axis=1)[:, :-1]  # P(K >= slot + 1)
    survival = np.where(np.arange(k_max)[None] < num_peaks[:, None],
                        np.take_along_axis(survival, order, axis=1), 0.0)
    upper = np.concatenate([np.ones((count, 1)), survival], axis=1)
    k_probs = np.clip(upper - np.concatenate([survival, np.zeros((count, 1))], axis=1), 0, 1)
    return pred._replace(q=CorrelatedQ(loc, tril), num_peaks=num_peaks.astype(np.int32),
                         k_probs=k_probs.astype(np.float32))


def heads_sd_bounds(heads) -> np.ndarray:
    """(4, 2) the sd range of each coordinate of u = (log α, c, log γ, logit η) that a model's
    heads (`peakflow.config.HeadConfig`) can give."""
    return np.asarray([heads.amplitude_log_sd, heads.location_sd, heads.width_log_sd,
                       heads.lorentzian_logit_sd], np.float64)
