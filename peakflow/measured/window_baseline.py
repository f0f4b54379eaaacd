"""The baseline each window marginalises: a cubic with a flat prior plus a smooth deviation
from the removed baseline with a Gaussian prior.

The whole-spectrum baseline (arPLS by default, `peakflow.measured.baseline`) is an estimate:
its asymmetric weights ride up on peak wings and clusters, by a few noise sds over ~100 grid
points. Treating it as known makes the heights and areas under it too sure. Each window
therefore marginalises, besides its cubic, a deviation b = Σ_j c_j v_j whose prior is the
Whittaker smoother of the baseline itself: the modes v_j are the eigenvectors of the
smoother S_λ = (I + λ D₂ᵀD₂)⁻¹ on the window's W grid points, with the cubic projected out, and
mode j gets prior variance ∝ its eigenvalue s_j (the share of that mode the smoother passes:
the baseline's error is a signal its own smoother lets through). The variances are scaled so
that the deviation's mean variance per point is (κ·σ)², σ the window's noise sd on the grid and
κ = `DEVIATION_SD` by default (`FitOptions.baseline_sd`). arPLS's error at peak centres is
larger (a median 1.5 noise sds on the realistic set's spectra without a baseline), but the
deviation is fitted with the peaks and mostly determined by the data around them; the prior
only matters where they cannot tell a peak's height from the baseline under it. κ was
therefore chosen by the coverage it gives (``experiments/bundled/broad/coverage_study.json``):
on the realistic and harsh sets (30 spectra each) ±2 sd intervals of amplitude cover 0.91 /
0.89 at κ = 0, 0.96 / 0.96 at 0.25, 0.97 / 0.97 at 0.35 and 0.99 / 0.98 at 1 (area: 0.83 /
0.84, 0.96 / 0.95, 0.96 / 0.97, 0.99 / 0.98). 0.25 would be nearer to 0.954 on the simulated
sets, but the stiffer baseline gives NIST Gauss3 (two Gaussians on an exponential decay) a
third component (also at 0.3); 0.35 keeps it at two. With ``baseline="none"`` κ is 0: only
the cubic.

In the normal equations of the refinement this is the marginal precision
M = W − WB(BᵀWB + Λ)⁻¹BᵀW (W the data's inverse variances, B the basis at the data points,
Λ the prior precisions, 0 for the cubic), so (JᵀMJ)⁻¹ carries the trade-off between a peak's
height and the baseline under it (`peakflow.measured.refine`).
"""

from __future__ import annotations

import functools

import numpy as np

from peakflow.core.likelihood import polynomial_basis

DEVIATION_SD = 0.35  # κ: the deviation's sd per point, in noise sds (see the module docstring)
SMOOTHNESS = 1e5     # λ of the Whittaker smoother when the baseline's own is not given
MIN_SHARE = 1e-2     # modes the smoother passes less than this (relative to its first) are dropped


@functools.lru_cache(maxsize=16)
def baseline_modes(num_points: int, degree: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """The window's baseline basis and each column's relative prior variance.

    Args:
      num_points: W, the window's grid points; degree: the cubic's degree (negative: none).
      lam: λ of the Whittaker smoother (second differences) on the grid.

    Returns:
      (table (W, d + 1 + m) float64: the orthonormal polynomials, then the m smooth modes,
      orthonormal and orthogonal to them; share (d + 1 + m,): 0 for the polynomials (flat
      prior), each mode's s_j / Σ s for the others).
    """
    poly = (np.linalg.qr(polynomial_basis(num_points, degree).astype(np.float64))[0]
            if degree >= 0 else np.zeros((num_points, 0)))
    second = np.diff(np.eye(num_points), 2, axis=0)
    smoother = np.linalg.inv(np.eye(num_points) + lam * second.T @ second)
    outside = np.eye(num_points) - poly @ poly.T
    values, vectors = np.linalg.eigh(outside @ smoother @ outside)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = values > MIN_SHARE * values[0]
    modes, shares = vectors[:, keep], values[keep] / values[keep].sum()
    table = np.concatenate([poly, modes], axis=1)
    return table, np.concatenate([np.zeros(poly.shape[1]), shares])


def prior_precision(share: np.ndarray, deviation_sd: np.ndarray,
                    num_points: int) -> np.ndarray:
    """(M, B) prior precision of each window's baseline coefficients.

    Args:
      share: (B,) from `baseline_modes`; deviation_sd: (M,) κ·σ of each window (0: the
        polynomials only); num_points: W.

    Returns:
      0 for the polynomials, 1 / (W (κσ)² share_j) for the modes (1e30 where κσ = 0).
    """
    variance = num_points * np.asarray(deviation_sd, np.float64)[:, None] ** 2 * share[None]
    flat = share[None] == 0
    return np.where(flat, 0.0, 1.0 / np.maximum(np.where(flat, 1.0, variance), 1e-30))


def at_points(table: np.ndarray, omega: np.ndarray, xp=np) -> np.ndarray:
    """(..., P, B) the basis `table` (W, B) linearly interpolated at grid positions omega
    (..., P) (clipped to [0, W − 1]; the columns are smooth, so this is accurate)."""
    size = table.shape[0]
    omega = xp.clip(omega, 0.0, size - 1.0)
    left = xp.clip(xp.floor(omega).astype(xp.int32), 0, size - 2)
    frac = (omega - left)[..., None]
    return table[left] * (1.0 - frac) + table[left + 1] * frac


CHUNK = 256  # windows per host-side block (bounds the (chunk, P, B) basis arrays)


def marginal_baseline(omega: np.ndarray, residual: np.ndarray, weight: np.ndarray,
                      table: np.ndarray, prior: np.ndarray, extra: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each window's baseline given its peaks: the posterior mean of its coefficients, the
    χ² of the points with the baseline marginalised, and the effective number of baseline
    parameters the data determine.

    Args:
      omega, weight: (M, P) the points' grid positions and 1 / noise sd (0: padding).
      residual: (M, P) the data minus the peaks (window units), or (R, M, P): R residuals
        of the same windows, solved with one basis.
      table: (W, B) from `baseline_modes`; prior: (M, B) from `prior_precision`.
      extra: (M, P) one more baseline column at the points, with a flat prior on its scale
        k (a Shirley step: `peakflow.measured.window_model.shirley_step`), or None.

    Returns:
      (coefficients (M, B): the baseline on the window's grid is ``coefficients @ table.T``
      (plus k times the extra column); χ² (M,) = rᵀMr of the whitened residual; dof (M,) =
      tr((BᵀB + Λ)⁻¹BᵀB) (+ 1 with the extra column); k (M,), 0 without); with R residuals
      coefficients, χ² and k have a leading axis R.
    """
    lead, count, width = residual.shape[:-2], residual.shape[-2], table.shape[1]
    coef, chi2 = np.zeros(lead + (count, width)), np.zeros(lead + (count,))
    dof, scale = np.zeros(count), np.zeros(lead + (count,))
    for lo in range(0, count, CHUNK):
        part = slice(lo, lo + CHUNK)
        basis, gram = weighted_basis(omega[part], weight[part], table, prior[part])
        normal = np.swapaxes(basis, 1, 2) @ basis
        r = residual[..., part, :] * weight[part]
        rb = np.einsum("mpb,...mp->...mb", basis, r)
        coef[..., part, :] = np.einsum("mbc,...mc->...mb", gram, rb)
        chi2[..., part] = np.sum(r ** 2, axis=-1) - np.sum(rb * coef[..., part, :], axis=-1)
        dof[part] = np.einsum("mbc,mcb->m", gram, normal)
        if extra is not None:        # k = sᵀMr / sᵀMs, the others refitted given it
            s = extra[part] * weight[part]
            gs = np.einsum("mbc,mpc,mp->mb", gram, basis, s)
            ms = s - np.einsum("mpb,mb->mp", basis, gs)
            norm = np.maximum(np.sum(ms * s, axis=1), 1e-30)
            k = np.sum(ms * r, axis=-1) / norm
            coef[..., part, :] -= k[..., None] * gs
            chi2[..., part] -= k * k * norm
            dof[part] += 1.0
            scale[..., part] = k
    return coef, chi2, dof, scale


def weighted_basis(omega: np.ndarray, weight: np.ndarray, table: np.ndarray,
                   prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows' baseline basis at their points, times the points' weights, (M, P, B), and
    (basisᵀbasis + Λ)⁻¹ (M, B, B) (float64; a tiny ridge keeps it finite).

    Args:
      omega, weight: (M, P); table: (W, B) from `baseline_modes`; prior: (M, B) Λ's diagonal.
    """
    width = table.shape[1]
    basis = at_points(table, omega) * weight[..., None]
    normal = np.swapaxes(basis, 1, 2) @ basis
    ridge = 1e-10 * (np.trace(normal, axis1=1, axis2=2) / width + 1.0)
    gram = np.linalg.inv(normal + (prior + ridge[:, None])[:, :, None] * np.eye(width))
    return basis, gram
