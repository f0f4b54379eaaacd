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
   4·ln 252 ≈ 22), and the next weakest is tried (at most `ROUNDS` times).
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

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.core.buckets import bucket_size
from peakflow.core.correlated import CorrelatedQ, logit_normal_loc
from peakflow.core.likelihood import polynomial_basis
from peakflow.core.lineshape import profile

ITERATIONS = 8         # Levenberg-Marquardt steps of the first refinement
REFIT = 4              # and after each trial removal
ROUNDS = 2             # removals tried per window
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
    """(W,) one peak at u (4,)."""
    return profile(omega, jnp.exp(u[0]), u[1], jnp.exp(u[2]), jax.nn.sigmoid(u[3]))


def _residual(u: jax.Array, mask: jax.Array, y: jax.Array, noise: jax.Array,
              basis: jax.Array) -> jax.Array:
    """(W,) the window minus its masked peaks u (K, 4), baseline projected out, in noise sds."""
    omega = jnp.arange(y.shape[0], dtype=y.dtype)
    model = jnp.sum(jnp.where(mask[:, None], jax.vmap(_peak, (None, 0))(omega, u), 0.0), 0)
    r = y - model
    return (r - basis @ (basis.T @ r)) / noise


def _normal_equations(u, mask, y, noise, basis):
    """(r (W,), JᵀJ (4K, 4K), Jᵀr (4K,)) at u; masked peaks' columns are zero."""
    omega = jnp.arange(y.shape[0], dtype=y.dtype)
    r = _residual(u, mask, y, noise, basis)
    d = jax.vmap(jax.jacfwd(_peak, argnums=1), (None, 0))(omega, u)   # (K, W, 4)
    d = jnp.where(mask[:, None, None], d, 0.0)
    jac = -jnp.moveaxis(d, 0, 1).reshape(y.shape[0], -1)              # (W, 4K)
    jac = (jac - basis @ (basis.T @ jac)) / noise
    return r, jac.T @ jac, jac.T @ r


def _levenberg_marquardt(u, mask, y, noise, basis, steps: int):
    """`steps` damped Gauss-Newton steps on the masked peaks; returns (u, χ²)."""
    inactive = jnp.repeat(~mask, 4).astype(y.dtype)

    def step(carry, _):
        u, damping, chi2 = carry
        r, hess, grad = _normal_equations(u, mask, y, noise, basis)
        diag = jnp.diagonal(hess) + 1e-9
        system = hess + jnp.diag(damping * diag + inactive)
        delta = jnp.linalg.solve(system, -grad).reshape(u.shape)
        trial = _clip(u + delta, y.shape[0])
        trial_chi2 = jnp.sum(_residual(trial, mask, y, noise, basis) ** 2)
        better = trial_chi2 < chi2
        return (jnp.where(better, trial, u), jnp.where(better, damping / 3.0, damping * 4.0),
                jnp.where(better, trial_chi2, chi2)), None

    chi2 = jnp.sum(_residual(u, mask, y, noise, basis) ** 2)
    (u, _, chi2), _ = jax.lax.scan(step, (u, jnp.asarray(DAMPING, y.dtype), chi2), None,
                                   length=steps)
    return u, chi2


def _covariance(u, mask, y, noise, basis) -> jax.Array:
    """(K, 4, 4) each masked peak's block of (JᵀJ)⁻¹ (identity for the others)."""
    _, hess, _ = _normal_equations(u, mask, y, noise, basis)
    inactive = jnp.repeat(~mask, 4).astype(y.dtype)
    cov = jnp.linalg.inv(hess + jnp.diag(inactive + 1e-9 * (jnp.diagonal(hess) + 1.0)))
    k = mask.shape[0]
    return jnp.stack([cov[4 * i:4 * i + 4, 4 * i:4 * i + 4] for i in range(k)])


def refine_window(u, mask, y, noise, basis, rounds: int = ROUNDS):
    """Refinement and pruning of one window (see the module docstring).

    Args:
      u: (K, 4) starting peaks in u coordinates; mask: (K,) bool, the peaks in use.
      y: (W,) the normalised window; noise: () its noise sd; basis: (W, d) orthonormal
        baseline polynomials.

    Returns:
      (u (K, 4), mask (K,) the peaks kept, JᵀJ (4K, 4K) at u (zero rows and columns for the
      dropped peaks), χ² ()).
    """
    u, chi2 = _levenberg_marquardt(u, mask, y, noise, basis, ITERATIONS)

    def prune(carry, _):
        u, mask, chi2 = carry
        sd = jnp.sqrt(jnp.maximum(_covariance(u, mask, y, noise, basis)[:, 0, 0], 0.0))
        weakest = jnp.argmax(jnp.where(mask & jnp.isfinite(sd), sd, -1.0))
        fewer = mask & (jnp.arange(mask.shape[0]) != weakest)
        refit, refit_chi2 = _levenberg_marquardt(u, fewer, y, noise, basis, REFIT)
        drop = jnp.any(mask) & (refit_chi2 - chi2 < PENALTY)
        return (jnp.where(drop, refit, u), jnp.where(drop, fewer, mask),
                jnp.where(drop, refit_chi2, chi2)), None

    (u, mask, chi2), _ = jax.lax.scan(prune, (u, mask, chi2), None, length=rounds)
    return u, mask, _normal_equations(u, mask, y, noise, basis)[1], chi2


@functools.lru_cache(maxsize=8)
def _compiled(num_points: int, degree: int):
    """The batched `refine_window` for windows of `num_points`, jitted; call it (and trace
    it) under ``jax.enable_x64``."""
    basis = (polynomial_basis(num_points, degree).astype(np.float64) if degree >= 0
             else np.zeros((num_points, 0)))
    batched = jax.vmap(refine_window, in_axes=(0, 0, 0, 0, None))
    return jax.jit(lambda u, mask, y, noise: batched(u, mask, y, noise, jnp.asarray(basis)))


def refine_predictions(pred: Prediction, windows: np.ndarray, noise: np.ndarray,
                       degree: int, sd_bounds: np.ndarray) -> Prediction:
    """Every window's peaks refined and pruned, batched by peak-count bucket.

    Args:
      pred: the windows' amortized `Prediction` (correlated family), fields (M, ...).
      windows: (M, W) the normalised windows; noise: (M,) the noise sd the model was told.
      degree: the model's baseline polynomial degree.
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
    run = _compiled(windows.shape[1], degree)
    for bucket in BUCKETS:
        smaller = BUCKETS[BUCKETS.index(bucket) - 1] if bucket > 1 else 0
        rows = np.flatnonzero((pred.num_peaks > smaller) & (pred.num_peaks <= bucket))
        for lo in range(0, rows.size, CHUNK):
            part = rows[lo:lo + CHUNK]
            take = np.resize(part, bucket_size(part.size, 8))
            mask = np.arange(bucket)[None] < pred.num_peaks[take, None]
            with jax.enable_x64(True):
                u, mask, hess, _ = run(loc[take, :bucket].astype(np.float64), mask,
                                       windows[take].astype(np.float64),
                                       noise[take].astype(np.float64))
            n = part.size
            loc[part, :bucket] = np.asarray(u)[:n]
            kept[part, :bucket] = np.asarray(mask)[:n]
            tril[part, :bucket] = laplace_trils(np.asarray(hess, np.float64)[:n],
                                                kept[part, :bucket], sd_bounds)
    return _compact(pred, _centred(loc, tril, kept), tril, kept)


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
