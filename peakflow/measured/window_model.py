"""The peaks of one window as its data points see them: their curves and closed-form
derivatives (`peak_jacobian`), single lines or doublets, and the `Window` that holds the points
and the marginalised baseline (`peakflow.measured.refine` fits them)."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import scipy.special

from peakflow.core.lineshape import mean_profile
from peakflow.measured.doublet import second_line
from peakflow.measured.window_baseline import at_points


def peak_jacobian(omega: jax.Array, u: jax.Array, half: jax.Array | None = None,
                  pair: jax.Array | None = None) -> jax.Array:
    """(P, D) the derivatives with respect to u (D,) of the peak as points at omega (P,) see
    it (`mean_profile`), in closed form (what ``jax.jacfwd`` gives, at about a third of its
    cost). u = (log α, c, log γ, logit η), and with D = 5 the asymmetry a of a split
    pseudo-Voigt (`skewed_profile`: half-width γ' = γ(1 + a s), s the side of c). At single
    points, with z = (ω − c)/γ', L = 1/(1 + z²), G = exp(−z²/2) and s' = −2ηzL² − (1 − η)zG
    the shape's slope in z: ∂/∂log α = the peak, ∂/∂c = −α s'/γ', ∂/∂log γ = −α z s',
    ∂/∂logit η = α (L − G) η(1 − η), ∂/∂a = −α z s' s/(1 + a s). For groups (`half` δ (P,))
    the first column, which is also the peak the residual subtracts, is the group's exact mean
    (`mean_profile`) and the others are taken at the group's centre: they differ from the
    group's by O(δ²/γ²) (≤ 1 % for the groups `window_points` makes on peaks of 12 grid
    points FWHM), which changes Gauss-Newton's steps, not its optimum, and the Laplace sds by
    less than that. With a doublet (`pair` (6,), `Window`), the peak is the pair of lines and
    the second line's column of c carries d(its position)/dc."""
    skew = u.shape[-1] == 5
    if pair is not None:
        second, slope = second_of(u, pair)
        other = peak_jacobian(omega, second, half)
        return peak_jacobian(omega, u, half) + pair[0] * other.at[:, 1].multiply(slope)
    if half is not None:
        jac = peak_jacobian(omega, u)
        mean = mean_profile(omega, half, jnp.exp(u[0]), u[1], jnp.exp(u[2]), jax.nn.sigmoid(u[3]),
                          jnp, True, u[4] if skew else None)
        return jac.at[:, 0].set(mean)
    alpha, width, eta = jnp.exp(u[0]), jnp.exp(u[2]), jax.nn.sigmoid(u[3])
    side = jnp.where(omega < u[1], -1.0, 1.0)
    stretch = 1.0 + u[4] * side if skew else 1.0
    z = (omega - u[1]) / (width * stretch)
    lorentz, gauss = 1.0 / (1.0 + z * z), jnp.exp(-0.5 * z * z)
    slope = -z * (2.0 * eta * lorentz * lorentz + (1.0 - eta) * gauss)
    peak = alpha * (eta * lorentz + (1.0 - eta) * gauss)
    columns = [peak, -alpha * slope / (width * stretch), -alpha * z * slope,
               alpha * (lorentz - gauss) * eta * (1.0 - eta)]
    if skew:
        columns.append(-alpha * z * slope * side / stretch)
    return jnp.stack(columns, axis=-1)


class Window(NamedTuple):
    """One window's data points and its baseline, as the refinement needs them.

    omega, values, weight: (P,) as `WindowPoints`; basis: (P, B) the baseline basis at the
    points times the weights; gram: (B, B) (basisᵀbasis + Λ)⁻¹ (`window_baseline`); half:
    (P,) δ of grouped points, None for single data points; pair: (6,) the window's doublet
    (ratio, λ₂/λ₁ or 0, split, x at grid point 0, x per grid point:
    `peakflow.measured.doublet`; and its intensity scale, unused here), None without one;
    step: a Shirley background fitted with the peaks (`shirley_step`): +1 rising with x
    (binding energy), −1 falling, 0 none."""

    omega: jax.Array
    values: jax.Array
    weight: jax.Array
    basis: jax.Array
    gram: jax.Array
    half: jax.Array | None
    pair: jax.Array | None = None
    step: float = 0.0


def make_window(omega, values, weight, half, table, prior, pair=None, step=0.0) -> Window:
    """The `Window` of one window's points (`half` None: single data points; `pair` None: no
    doublet; `step` the Shirley background's direction, 0: none); table (W, B), prior (B,)
    its precisions."""
    basis = at_points(table, omega, jnp) * weight[:, None]
    normal = basis.T @ basis
    ridge = 1e-10 * (jnp.trace(normal) / normal.shape[0] + 1.0)
    gram = jnp.linalg.inv(normal + jnp.diag(prior + ridge))
    return Window(omega, values, weight, basis, gram, half, pair, step)


def second_of(u: jax.Array, pair: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(u of the peak's second line (c moved there), dc₂/dc) for a doublet `pair` (6,)."""
    origin, step = pair[3], pair[4]
    position, slope = second_line(origin + step * u[..., 1], pair, jnp)
    return u.at[..., 1].set((position - origin) / step), slope


def peak_curves(u: jax.Array, win: Window) -> jax.Array:
    """(K, P) each peak u (K, D) as the window's points see it (`mean_profile`; D = 5: split
    pseudo-Voigts), with its doublet's second line when the window has one."""
    model = lambda v: mean_profile(win.omega, 0.0 if win.half is None else win.half,
                                 jnp.exp(v[0]), v[1], jnp.exp(v[2]), jax.nn.sigmoid(v[3]),
                                 jnp, win.half is not None, v[4] if v.shape[-1] == 5 else None)
    if win.pair is None:
        return jax.vmap(model)(u)
    return jax.vmap(model)(u) + win.pair[0] * jax.vmap(model)(second_of(u, win.pair)[0])


def shirley_step(omega, u: jax.Array, mask: jax.Array, direction: float, xp=jnp):
    """(P,) the Shirley background of the peaks u (K, D) in use (`mask` (K,)) at omega (P,),
    before its scale k: at each point the area of the peaks on its low side (`direction` +1:
    below it, as on a binding-energy axis; −1: above it, kinetic energy), Σ α γ [π η (1/2 +
    atan(z)/π) + √(2π)(1 − η) Φ(z)], z = ±(ω − c)/γ (the pseudo-Voigt's cumulative area)."""
    alpha, centre, width = xp.exp(u[:, 0:1]), u[:, 1:2], xp.exp(u[:, 2:3])
    eta = 1.0 / (1.0 + xp.exp(-u[:, 3:4]))
    z = direction * (omega[None, :] - centre) / width
    erf = jax.scipy.special.erf if xp is jnp else scipy.special.erf
    gauss = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
    cumulative = alpha * width * (math.pi * eta * (0.5 + xp.arctan(z) / math.pi)
                                  + math.sqrt(2.0 * math.pi) * (1.0 - eta) * gauss)
    return xp.sum(xp.where(mask[:, None], cumulative, 0.0), axis=0)

