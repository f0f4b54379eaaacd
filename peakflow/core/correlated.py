"""A correlated per-peak family: a full-covariance Gaussian in an unconstrained space.

    u = (log α, c, log γ, logit η) ~ N(μ, L Lᵀ),   θ = (exp u₀, u₁, exp u₂, sigmoid u₃)

L is lower triangular with a positive diagonal, so q captures the strong amplitude-width-shape
correlation of a pseudo-Voigt fit that the mean-field family of Eq. 9 cannot (reverse-KL fits
of a mean-field family then shrink the marginals). α and γ stay positive and η stays inside
(0, 1) without clipping. Built from distrax: `MultivariateNormalTri` pushed through
`PeakBijector`.

Summaries: the means and sds of α and γ are the log-normal's closed forms, those of η come from
Gauss-Hermite quadrature of the logit-normal; central intervals are exact (each θ is a monotone
map of one Gaussian coordinate); `correlation` is that of u, which equals the correlation of θ
to first order in the sds.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from peakflow.core.lineshape import PARAMETERS, Array, Peaks
from peakflow.core.variational import EPS, array_namespace

NUM_PARAMS = len(PARAMETERS)
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


class PeakBijector(distrax.Bijector):
    """u = (log α, c, log γ, logit η) (..., 4) ↔ θ = (α, c, γ, η) (..., 4)."""

    def __init__(self):
        super().__init__(event_ndims_in=1)

    def forward_and_log_det(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        log_a, c, log_w, logit = (u[..., i] for i in range(NUM_PARAMS))
        theta = jnp.stack([jnp.exp(log_a), c, jnp.exp(log_w), jax.nn.sigmoid(logit)], axis=-1)
        log_det = log_a + log_w + jax.nn.log_sigmoid(logit) + jax.nn.log_sigmoid(-logit)
        return theta, log_det

    def inverse_and_log_det(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        a, c, w, eta = (theta[..., i] for i in range(NUM_PARAMS))
        eta = jnp.clip(eta, EPS, 1.0 - EPS)
        u = jnp.stack([jnp.log(a), c, jnp.log(w), jnp.log(eta) - jnp.log1p(-eta)], axis=-1)
        return u, -(jnp.log(a) + jnp.log(w) + jnp.log(eta) + jnp.log1p(-eta))


def logit_normal_moments(mu, sd, xp: ModuleType = jnp):
    """E[η] and E[η²] of η = sigmoid(u), u ~ N(mu, sd²), elementwise (24-point Gauss-Hermite).

    Args:
      mu, sd: (...,) arrays of `xp` (numpy or `jax.numpy`).
    """
    mean, square = 0.0, 0.0
    for node, weight in zip(_NODES, _WEIGHTS):  # a loop: no (..., 24) temporaries
        eta = 1.0 / (1.0 + xp.exp(-(mu + sd * float(node))))
        mean, square = mean + float(weight) * eta, square + float(weight) * eta * eta
    return mean, square


def logit_normal_loc(target, sd, steps: int = 16) -> np.ndarray:
    """(...,) the mu at which sigmoid(N(mu, sd²)) has mean `target` (in (0, 1)); numpy.

    Safeguarded Newton: the mean rises monotonically with mu, with slope E[η(1 − η)]
    (Gauss-Hermite, as `logit_normal_moments`); a step that leaves the bracket known to hold
    the root bisects it instead. Starts from the probit approximation of the mean,
    sigmoid(mu / √(1 + π sd²/8)); 16 steps reach the root to 1e-10 of min(target, 1 − target)
    for targets down to 1e-6 and sds up to 6 (3× faster than 40 bisections).
    """
    target, sd = np.broadcast_arrays(np.clip(np.asarray(target, np.float64), 1e-6, 1 - 1e-6),
                                     np.asarray(sd, np.float64))
    lo, hi = np.full(target.shape, -40.0), np.full(target.shape, 40.0)
    mu = np.log(target / (1.0 - target)) * np.sqrt(1.0 + np.pi * sd * sd / 8.0)
    for _ in range(steps):
        mean, slope = np.zeros_like(mu), np.zeros_like(mu)
        for node, weight in zip(_NODES, _WEIGHTS):
            eta = 1.0 / (1.0 + np.exp(-(mu + sd * float(node))))
            mean, slope = mean + float(weight) * eta, slope + float(weight) * eta * (1.0 - eta)
        above = mean > target
        lo, hi = np.where(above, lo, mu), np.where(above, mu, hi)
        step = mu - (mean - target) / np.maximum(slope, 1e-300)
        mu = np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
    return mu


def to_vector(peaks: Peaks) -> jax.Array:
    """`Peaks` with fields (...,) → (..., 4) in `PARAMETERS` order."""
    return jnp.stack(list(peaks), axis=-1)


def corr_cholesky(partial: jax.Array) -> jax.Array:
    """Cholesky factor of a 4×4 correlation matrix from its 6 partial correlations.

    Row i of the factor has unit norm: L[i, j] = z_ij · sqrt(1 - Σ_{k<j} L[i, k]²) for j < i and
    L[i, i] = sqrt(1 - Σ_{k<i} L[i, k]²) (the C-vine construction behind the LKJ prior), so any
    z in (-1, 1)⁶ gives a valid correlation matrix and z = 0 gives the identity.

    Args:
      partial: (..., 6) partial correlations, ordered (1,0), (2,0), (2,1), (3,0), (3,1), (3,2).

    Returns:
      (..., 4, 4) lower-triangular factor.
    """
    zero = jnp.zeros_like(partial[..., 0])
    rows, index = [], 0
    for i in range(NUM_PARAMS):
        row, used = [], zero
        for _ in range(i):
            entry = partial[..., index] * jnp.sqrt(1.0 - used)
            row.append(entry)
            used = used + entry * entry
            index += 1
        row.append(jnp.sqrt(1.0 - used))
        rows.append(jnp.stack(row + [zero] * (NUM_PARAMS - 1 - i), axis=-1))
    return jnp.stack(rows, axis=-2)


class CorrelatedQ(NamedTuple):
    """Variational parameters of one peak per element.

    Attributes:
      loc: (..., 4) mean μ of u = (log α, c, log γ, logit η).
      scale_tril: (..., 4, 4) Cholesky factor L of u's covariance.
    """

    loc: Array
    scale_tril: Array

    def distribution(self) -> distrax.Transformed:
        """q over θ as a (..., 4)-event distrax distribution."""
        base = distrax.MultivariateNormalTri(self.loc, self.scale_tril)
        return distrax.Transformed(base, PeakBijector())

    def sample_and_log_prob(self, key: jax.Array) -> tuple[Peaks, jax.Array]:
        """One reparameterised draw (fields (...,)) and its (...,) log q.

        u = μ + L ε with ε ~ N(0, I), so log N(u) = -|ε|²/2 - Σ log L_ii - 2 log 2π needs no
        triangular solve (which XLA:CPU runs ~30× slower inside the training loop's scan).
        """
        eps = jax.random.normal(key, self.loc.shape, self.loc.dtype)
        u = self.loc + jnp.einsum("...ij,...j->...i", self.scale_tril, eps)
        log_diag = jnp.log(jnp.abs(jnp.diagonal(self.scale_tril, axis1=-2, axis2=-1)))
        log_base = (-0.5 * jnp.sum(eps * eps, axis=-1) - jnp.sum(log_diag, axis=-1)
                    - 0.5 * NUM_PARAMS * math.log(2.0 * math.pi))
        theta, log_det = PeakBijector().forward_and_log_det(u)
        return Peaks(*(theta[..., i] for i in range(NUM_PARAMS))), log_base - log_det

    def sample(self, key: jax.Array) -> Peaks:
        """One reparameterised draw: fields (...,)."""
        return self.sample_and_log_prob(key)[0]

    def host_sample(self, rng: np.random.Generator, num: int, shared: bool = False) -> Peaks:
        """`num` joint draws on the host (numpy, no compilation): fields (num, ...) float64.

        With `shared`, every peak is driven by the same `num` standard-normal vectors (common
        random numbers), so a peak's draws do not depend on the other peaks in the batch;
        they are whitened (sample mean exactly 0, sample covariance exactly I), so the draws'
        sample moments of u are q's own and a shared draw's chance error (±4 % in an sd at
        256 draws) is not repeated in every peak.
        """
        loc, tril = np.asarray(self.loc, np.float64), np.asarray(self.scale_tril, np.float64)
        if shared:  # one product (num, d) x (d, ... d): no per-peak 4 x 4 matmuls
            eps = whitened(rng.standard_normal((num, loc.shape[-1])))
            u = loc + np.tensordot(eps, tril, axes=([1], [-1]))
        else:
            eps = rng.standard_normal((num,) + loc.shape)
            u = loc + (tril @ eps[..., None])[..., 0]
        return peaks_of(u)

    def log_prob(self, peaks: Peaks) -> jax.Array:
        """(...,) log q(θ); η is clipped to [EPS, 1 - EPS] (α and γ must be positive)."""
        return self.distribution().log_prob(to_vector(peaks))

    def scale(self):
        """(..., 4) marginal sds of u (row norms of L); numpy in, numpy out."""
        xp = array_namespace(self.loc)
        return xp.sqrt(xp.sum(self.scale_tril * self.scale_tril, axis=-1))

    def correlation(self):
        """(..., 4, 4) correlation matrix of u (≈ that of θ)."""
        xp = array_namespace(self.loc)
        cov = self.scale_tril @ xp.swapaxes(self.scale_tril, -1, -2)
        s = self.scale()
        return cov / (s[..., :, None] * s[..., None, :])

    def _moments(self) -> tuple[Peaks, Peaks]:
        xp = array_namespace(self.loc)
        mu, s = self.loc, self.scale()
        growth = xp.exp(xp.minimum(s * s, 80.0))  # an sd beyond e^40 is "unbounded"

        def log_normal(i):
            mean = xp.exp(mu[..., i] + 0.5 * s[..., i] ** 2)
            return mean, mean * xp.sqrt(growth[..., i] - 1.0)

        eta_mean, eta_sq = logit_normal_moments(mu[..., 3], s[..., 3], xp)
        eta_sd = xp.sqrt(xp.maximum(eta_sq - eta_mean**2, 0.0))
        (a_mean, a_sd), (w_mean, w_sd) = log_normal(0), log_normal(2)
        return (Peaks(a_mean, mu[..., 1], w_mean, eta_mean),
                Peaks(a_sd, s[..., 1], w_sd, eta_sd))

    def mean(self) -> Peaks:
        """Posterior means of (α, c, γ, η), fields (...,); numpy in, numpy out."""
        return self._moments()[0]

    def sd(self) -> Peaks:
        """Posterior sds of (α, c, γ, η), fields (...,); numpy in, numpy out."""
        return self._moments()[1]

    def interval(self, level: float) -> tuple[Peaks, Peaks]:
        """Central `level` credible intervals (exact; numpy): (lo, hi) `Peaks`."""
        z = stats.norm.isf((1.0 - level) / 2.0)
        mu, s = np.asarray(self.loc, np.float64), np.asarray(self.scale(), np.float64)
        ends = []
        for u in (mu - z * s, mu + z * s):
            ends.append(Peaks(np.exp(u[..., 0]), u[..., 1], np.exp(u[..., 2]),
                              1.0 / (1.0 + np.exp(-u[..., 3]))))
        return ends[0], ends[1]

    def widen(self, factor: float) -> "CorrelatedQ":
        """The family with u's covariance scaled by factor² (same correlations)."""
        return self._replace(scale_tril=self.scale_tril * factor)

    def scaled(self, factors) -> "CorrelatedQ":
        """The family with the sd of each coordinate of u multiplied by `factors` (4,), the
        correlations kept (row i of L times factor i), and the means of α, c, γ and η kept
        (log α and log γ shifted by the change of half their variance, logit η moved to keep
        the logit-normal's mean: `logit_normal_loc`); numpy in, numpy out, in q's dtype (the
        (..., 4, 4) factor is copied once, not widened to float64)."""
        dtype = np.asarray(self.loc).dtype
        factors = np.asarray(factors, np.float64)
        tril = np.asarray(self.scale_tril) * factors.astype(dtype)[:, None]
        before = np.asarray(self.scale(), np.float64)
        after = before * factors                   # row norms scale with their row
        loc = np.array(self.loc, np.float64)
        loc[..., [0, 2]] += 0.5 * (before[..., [0, 2]] ** 2 - after[..., [0, 2]] ** 2)
        eta = logit_normal_moments(loc[..., 3], before[..., 3], np)[0]
        loc[..., 3] = np.where(np.isnan(eta), np.nan, logit_normal_loc(eta, after[..., 3]))
        return CorrelatedQ(loc.astype(dtype), tril)


def peaks_of(u: np.ndarray) -> Peaks:
    """u (..., 4) = (log α, c, log γ, logit η) as `Peaks` with fields (...,), on the host."""
    return Peaks(np.exp(u[..., 0]), u[..., 1], np.exp(u[..., 2]), 1.0 / (1.0 + np.exp(-u[..., 3])))


def whitened(eps: np.ndarray) -> np.ndarray:
    """(S, d) normal draws shifted and linearly transformed to sample mean 0 and sample
    covariance (1/S normalisation) exactly the identity (S > d)."""
    eps = eps - eps.mean(axis=0)
    chol = np.linalg.cholesky(eps.T @ eps / eps.shape[0])
    return np.linalg.solve(chol, eps.T).T
