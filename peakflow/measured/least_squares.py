"""Least squares on one window's peaks: the residual and χ² with the window's baseline
marginalised (rᵀMr), the normal equations JᵀMJ and Levenberg-Marquardt steps, for peaks of D = 4
coordinates u = (log α, c, log γ, logit η) or D = 5 (with the asymmetry a of a split
pseudo-Voigt); `peakflow.measured.refine` and `peakflow.measured.asymmetry` build on them."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from peakflow.measured.doublet import REACH
from peakflow.measured.window_model import Window, peak_curves, peak_jacobian, shirley_step

DAMPING = 1e-2         # initial Levenberg-Marquardt damping (relative to diag JᵀJ)
# u is kept inside these bounds (c: relative to the window)
LOG_AMPLITUDE = (math.log(1e-4), math.log(20.0))
LOG_WIDTH = (math.log(0.3), math.log(64.0))
# logit η within ±4 (η in [0.018, 0.982]): at ±8 the curve's slope in logit η, α(L − G)η(1 − η),
# all but vanished (η(1 − η) = 3·10⁻⁴), so the Laplace covariance held an η at its bound fixed and
# the area and FWHM sds were conditional on it (30 realistic spectra: area ±2 sd coverage
# 0.934 → 0.942; of the peaks whose η ± 2 sd reaches a bound 0.920 → 0.927; harsh set 0.942 →
# 0.948; NIST Gauss1–3 χ² 0.89 / 0.81 / 0.87; `coverage_study`)
LOGIT = (-4.0, 4.0)
SKEW_MAX = 0.6         # |a|: half-widths differing by up to 4×


def clip_peaks(u: jax.Array, num_points: int, reach: float = 0.25) -> jax.Array:
    """u (K, D) inside its bounds; c at least `reach` windows left of the window (a doublet's
    main line may be further than a single line: `peakflow.measured.doublet.REACH`)."""
    lo = [LOG_AMPLITUDE[0], -reach * num_points, LOG_WIDTH[0], LOGIT[0], -SKEW_MAX]
    hi = [LOG_AMPLITUDE[1], 1.25 * num_points, LOG_WIDTH[1], LOGIT[1], SKEW_MAX]
    d = u.shape[-1]
    return jnp.clip(u, jnp.asarray(lo[:d]), jnp.asarray(hi[:d]))


def residual(u: jax.Array, mask: jax.Array, win: Window) -> jax.Array:
    """(P,) the window's points minus its masked peaks u (K, D), in noise sds."""
    each = peak_curves(u, win)
    return (win.values - jnp.sum(jnp.where(mask[:, None], each, 0.0), 0)) * win.weight


def chi2_of(r: jax.Array, win: Window) -> jax.Array:
    """rᵀMr: the χ² of the whitened residual r (P,) with the baseline marginalised."""
    rb = win.basis.T @ r
    return r @ r - rb @ win.gram @ rb


def _project(v: jax.Array, win: Window) -> jax.Array:
    """Mv: v (P, ...) with its part the baseline explains removed."""
    return v - win.basis @ (win.gram @ (win.basis.T @ v))


def marginal_chi2(u, mask, win: Window) -> jax.Array:
    """χ² of the window's points given the peaks u, the baseline marginalised, and with a
    Shirley background (``win.step``) its scale k too (flat prior: χ² falls by
    (sᵀMr)² / sᵀMs, s the step of `shirley_step`)."""
    r = residual(u, mask, win)
    chi2 = chi2_of(r, win)
    if not win.step:
        return chi2
    ms = _project(shirley_step(win.omega, u, mask, win.step) * win.weight, win)
    return chi2 - (ms @ r) ** 2 / jnp.maximum(ms @ ms, 1e-30)


def normal_equations(u, mask, win: Window, active: jax.Array | None = None):
    """(χ² (), JᵀMJ (DK, DK), JᵀMr (DK,)) at u (K, D), M the marginal precision of the
    window's points given its baseline prior; masked peaks' columns, and those of the
    coordinates not `active` ((K, D); None: all), are zero."""
    d = jax.vmap(peak_jacobian, (None, 0, None, None))(win.omega, u, win.half, win.pair)
    d = jnp.where(mask[:, None, None], d, 0.0)
    r = (win.values - jnp.sum(d[..., 0], axis=0)) * win.weight          # ∂/∂log α = the peak
    if active is not None:
        d = jnp.where(active[:, None, :], d, 0.0)
    jac = -jnp.einsum("kpi,p->pki", d, win.weight).reshape(r.shape[0], -1)  # (P, DK)
    jb, rb = jac.T @ win.basis, win.basis.T @ r
    chi2, hess, grad = (r @ r - rb @ win.gram @ rb, jac.T @ jac - jb @ win.gram @ jb.T,
                        jac.T @ r - jb @ win.gram @ rb)
    if win.step:     # the step's scale marginalised too (its dependence on u left out)
        ms = _project(shirley_step(win.omega, u, mask, win.step) * win.weight, win)
        norm, jms, msr = jnp.maximum(ms @ ms, 1e-30), jac.T @ ms, ms @ r
        chi2, hess = chi2 - msr * msr / norm, hess - jnp.outer(jms, jms) / norm
        grad = grad - jms * msr / norm
    return chi2, hess, grad


def levenberg_marquardt(u, mask, win: Window, num_points: int, steps: int,
                        active: jax.Array | None = None):
    """`steps` damped Gauss-Newton steps on the masked peaks u (K, D), only their `active`
    coordinates ((K, D); None: all) moving; returns (u, χ²)."""
    usable = mask[:, None] if active is None else mask[:, None] & active
    inactive = (~jnp.broadcast_to(usable, u.shape)).reshape(-1).astype(u.dtype)

    def step(carry, _):
        u, damping, chi2 = carry
        _, hess, grad = normal_equations(u, mask, win, active)
        diag = jnp.diagonal(hess) + 1e-9
        system = hess + jnp.diag(damping * diag + inactive)
        delta = jnp.linalg.solve(system, -grad).reshape(u.shape)
        trial = clip_peaks(u + delta, num_points, 0.25 if win.pair is None else REACH)
        trial_chi2 = marginal_chi2(trial, mask, win)
        better = trial_chi2 < chi2
        return (jnp.where(better, trial, u), jnp.where(better, damping / 3.0, damping * 4.0),
                jnp.where(better, trial_chi2, chi2)), None

    chi2 = marginal_chi2(u, mask, win)
    (u, _, chi2), _ = jax.lax.scan(step, (u, jnp.asarray(DAMPING, u.dtype), chi2), None,
                                   length=steps)
    return u, chi2
