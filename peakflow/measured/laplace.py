"""The Laplace posterior of each refined peak (`peakflow.measured.refine`'s step 3).

Each kept peak's q is the Laplace approximation at the refined optimum, in the correlated
family's coordinates u = (log α, c, log γ, logit η): its covariance the peak's 4 × 4 block of
(JᵀMJ)⁻¹ (its marginal: neighbours' and the baseline's trade-offs included), its sds clipped to
the range the model's heads can give (a direction the window does not determine gets the
widest sd the amortized posterior could have given it; correlations kept).

**η near its bounds.** The Lorentzian fraction lives in [0, 1], and a peak whose best η is at
(or within two sds of) 0 or 1 has a one-sided posterior that a Gaussian in logit η at the
optimum gets wrong: there dη/dlogit η → 0, the logit sd is huge, is clipped, and η is pinned
at the bound, so FWHM and area, which depend on η, come out too sure. For those peaks the η
posterior is taken as the Laplace Gaussian *in η* (its sd √(C_η), where the curvature in η
is finite) truncated to [0, 1]; q's logit η gets that truncated normal's mean and an sd
matched to its sd at that mean, so the draws behind the FWHM and area sds (and the tables' η)
follow it. Elsewhere η is left as the Laplace gives it.

**Centring.** q is placed so that the means of α, γ and η (what the tables and fitted curves
use) are the refined values (or the truncated mean of η): log α and log γ shifted by half
their variance, logit η moved until the logit-normal mean is the target.
"""

from __future__ import annotations

import numpy as np

from peakflow.core.correlated import logit_normal_loc

NEAR_BOUND = 2.0  # η within this many of its (η-space) sds of 0 or 1 gets the truncated posterior


def covariance_blocks(hess: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(M, K, 4, 4) each peak's block of (JᵀMJ)⁻¹ (float64), made positive definite.

    Args:
      hess: (M, 4K, 4K) JᵀMJ of each window at its optimum; mask: (M, K) the peaks in use.
    """
    count, slots = mask.shape
    unused = np.repeat(~mask, 4, axis=1).astype(np.float64)            # (M, 4K)
    scale = np.sqrt(np.maximum(np.diagonal(hess, axis1=1, axis2=2), 1e-300)) + unused
    # equilibrate, add a tiny ridge, invert: (JᵀMJ)⁻¹ is then finite even where it is singular
    norm = hess / scale[:, :, None] / scale[:, None, :]
    norm = norm + np.eye(4 * slots)[None] * (1e-8 + unused[:, :, None])
    cov = np.linalg.inv(norm) / scale[:, :, None] / scale[:, None, :]
    blocks = np.stack([cov[:, 4 * i:4 * i + 4, 4 * i:4 * i + 4] for i in range(slots)], axis=1)
    blocks = 0.5 * (blocks + np.swapaxes(blocks, -1, -2))
    values, vectors = np.linalg.eigh(blocks)                              # PD by construction
    values = np.maximum(values, 1e-12 * np.maximum(values.max(axis=-1, keepdims=True), 1e-30))
    return (vectors * values[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def laplace_trils(hess: np.ndarray, mask: np.ndarray, sd_bounds: np.ndarray) -> np.ndarray:
    """Each peak's Cholesky factor of its marginal Laplace covariance, its sds clipped into
    `sd_bounds` (correlations kept).

    Args:
      hess: (M, 4K, 4K); mask: (M, K); sd_bounds: (4, 2) lowest and highest sd of each
        coordinate of u.

    Returns:
      (M, K, 4, 4) float32; the unused peaks get the identity.
    """
    return _trils(covariance_blocks(hess, mask), mask, sd_bounds, None)


def _trils(blocks: np.ndarray, mask: np.ndarray, sd_bounds: np.ndarray,
           sd: np.ndarray | None) -> np.ndarray:
    """`laplace_trils` from the covariance blocks (M, K, 4, 4), the sds set to `sd`
    (M, K, 4) (None: their own) before clipping."""
    own = np.sqrt(np.diagonal(blocks, axis1=-2, axis2=-1))
    wanted = own if sd is None else sd
    factor = np.clip(wanted, sd_bounds[:, 0], sd_bounds[:, 1]) / own
    fixed = blocks * factor[..., :, None] * factor[..., None, :]
    fixed = np.where(mask[..., None, None], fixed, np.eye(4))
    return np.linalg.cholesky(fixed).astype(np.float32)


def eta_posterior(logit: np.ndarray, logit_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean η, logit sd) of each peak's η posterior: the Laplace Gaussian in η truncated to
    [0, 1] where η is within `NEAR_BOUND` sds of a bound, else (η̂, `logit_sd`) unchanged.

    Args:
      logit: (...,) the refined logit η; logit_sd: (...,) its Laplace sd.
    """
    from scipy.special import ndtr

    eta = 1.0 / (1.0 + np.exp(-np.asarray(logit, np.float64)))
    sd = np.maximum(np.asarray(logit_sd, np.float64) * eta * (1.0 - eta), 1e-12)
    lower, upper = -eta / sd, (1.0 - eta) / sd          # the bounds in sds from η̂ (≤ 0 ≤)
    near = (lower > -NEAR_BOUND) | (upper < NEAR_BOUND)
    density = lambda t: np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)
    mass = np.maximum(ndtr(upper) - ndtr(lower), 1e-300)  # ≥ 1/2 - ... : η̂ lies inside
    shift = (density(lower) - density(upper)) / mass
    spread = 1.0 + (lower * density(lower) - upper * density(upper)) / mass - shift ** 2
    mean = np.clip(eta + sd * shift, 1e-4, 1.0 - 1e-4)
    matched = sd * np.sqrt(np.maximum(spread, 0.0)) / (mean * (1.0 - mean))
    return np.where(near, mean, eta), np.where(near, matched, logit_sd)


def laplace_posterior(loc: np.ndarray, hess: np.ndarray, kept: np.ndarray,
                      sd_bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each kept peak's q (see the module docstring).

    Args:
      loc: (M, K, 4) the refined u; hess: (M, 4K, 4K) JᵀMJ at it; kept: (M, K) the peaks
        kept; sd_bounds: (4, 2) the sd range of each coordinate of u (`heads_sd_bounds`).

    Returns:
      (loc (M, K, 4) float64 centred, scale_tril (M, K, 4, 4) float32); entries of peaks not
      kept are meaningless.
    """
    blocks = covariance_blocks(hess, kept)
    own = np.sqrt(np.diagonal(blocks, axis1=-2, axis2=-1))
    mean_eta, logit_sd = eta_posterior(loc[..., 3], own[..., 3])
    sd = np.concatenate([own[..., :3], logit_sd[..., None]], axis=-1)
    tril = _trils(blocks, kept, sd_bounds, sd)
    used = np.sqrt(np.sum(tril.astype(np.float64) ** 2, axis=-1))
    out = np.array(loc, np.float64)
    out[..., [0, 2]] -= 0.5 * used[..., [0, 2]] ** 2
    out[..., 3] = logit_normal_loc(mean_eta, used[..., 3])
    return out, tril
