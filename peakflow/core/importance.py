"""Importance sampling of the exact posterior for a fixed number of peaks, with the amortized
posterior as the proposal (pure JAX; Pareto smoothing is left to the caller).

For a spectrum x with K peaks the target is the unnormalised exact posterior

    p(θ_{1:K} | x, K) ∝ p(x | θ_{1:K}) · Π_k p(θ_k)

(the likelihood of the model's noise level, with a polynomial baseline marginalised when the
model has one, and the model's priors). The proposal draws each present slot independently
from its q, optionally widened; the log weight of a draw is log target - log proposal.

A slightly-off q in every one of up to 4K dimensions compounds into heavy-tailed weights, so
`adaptive_importance_sample` refits the proposal: after each round it moment-matches a
Gaussian in u = (log α, c, log γ, logit η) to the weighted draws of each peak (its covariance
shrunk towards the unweighted one when the effective sample size is small) and samples again;
only the last round's draws and weights are returned, so they are an ordinary importance
sample from a known proposal. That last proposal has Student-t tails (`StudentQ`): where the
exact posterior decays more slowly than a Gaussian (η or a width the data barely pin down, a
blend), Gaussian weights are heavy-tailed and Pareto k̂ flags the spectrum.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from peakflow.config import Config
from peakflow.core.correlated import NUM_PARAMS, CorrelatedQ, PeakBijector, to_vector
from peakflow.core.heads import VariationalQ
from peakflow.core.likelihood import PointData, log_likelihood, points_log_likelihood, project
from peakflow.core.lineshape import Peaks, peak_sum
from peakflow.core.priors import log_prior_peak


def log_target(peaks: Peaks, mask: jax.Array, spectra: jax.Array, noise: jax.Array,
               config: Config) -> jax.Array:
    """Unnormalised log posterior of each spectrum's present peaks.

    Args:
      peaks: fields (B, P).
      mask: (B, P) which slots are peaks.
      spectra: (B, W); or the windows' data points (`PointData`, fields (B, ...)), whose
        weights carry the noise (`noise` unused).
      noise: (B,) noise sd.
      config: the model (priors, baseline degree, ranges).

    Returns:
      (B,) log p(x | θ) + Σ_present log p(θ_k), the amplitude's support α > 0 explicit.
    """
    log_prior = log_prior_peak(peaks, config.model, config.sim)
    log_prior = jnp.where(peaks.amplitude > 0, log_prior, -jnp.inf)   # support: α > 0
    log_prior = jnp.sum(jnp.where(mask, log_prior, 0.0), -1)
    if isinstance(spectra, PointData):   # measured windows: at their data points
        return jax.vmap(points_log_likelihood)(peaks, mask, spectra) + log_prior
    omega = jnp.arange(spectra.shape[-1], dtype=jnp.float32)
    curves = jax.vmap(peak_sum, in_axes=(None, 0, 0))(omega, peaks, mask)
    residual = project(spectra - curves, config.model.baseline_degree)
    return log_likelihood(residual, 0.0, noise) + log_prior


class StudentQ(NamedTuple):
    """A multivariate Student-t over all of a spectrum's peaks in u = (log α, c, log γ, logit η).

    u_k = μ_k + L_k ε_k / √g with ε ~ N(0, I) and one g ~ χ²_ν / ν per spectrum: each peak keeps
    its own location and scale (uncorrelated with the others) but all share the heavier tails.

    Attributes:
      base: per-peak location and Cholesky factor, fields (B, P, 4) and (B, P, 4, 4).
      df: ν, the degrees of freedom.
    """

    base: CorrelatedQ
    df: float

    def sample_and_log_prob(self, key: jax.Array, mask: jax.Array) -> tuple[Peaks, jax.Array]:
        """One draw (fields (B, P)) and the (B,) log density of its `mask`ed slots."""
        loc, tril = self.base
        normal_key, gamma_key = jax.random.split(key)
        eps = jax.random.normal(normal_key, loc.shape, loc.dtype)  # (B, P, 4)
        nu = self.df
        g = 2.0 / nu * jax.random.gamma(gamma_key, nu / 2.0, loc.shape[:1], loc.dtype)  # (B,)
        u = loc + jnp.einsum("...ij,...j->...i", tril, eps) / jnp.sqrt(g)[:, None, None]
        dims = NUM_PARAMS * jnp.sum(mask, axis=-1)
        radius = jnp.sum(jnp.where(mask[..., None], eps * eps, 0.0), axis=(-2, -1)) / g
        log_diag = jnp.log(jnp.abs(jnp.diagonal(tril, axis1=-2, axis2=-1)))
        log_norm = (jax.scipy.special.gammaln((nu + dims) / 2.0) - math.lgamma(nu / 2.0)
                    - 0.5 * dims * math.log(nu * math.pi)
                    - jnp.sum(jnp.where(mask[..., None], log_diag, 0.0), axis=(-2, -1)))
        theta, log_det = PeakBijector().forward_and_log_det(u)
        log_q = (log_norm - 0.5 * (nu + dims) * jnp.log1p(radius / nu)
                 - jnp.sum(jnp.where(mask, log_det, 0.0), axis=-1))
        return Peaks(*(theta[..., i] for i in range(NUM_PARAMS))), log_q

    def widen(self, factor: float) -> "StudentQ":
        """The proposal with every scale multiplied by `factor`."""
        return self._replace(base=self.base.widen(factor))


def _draw(proposal, key: jax.Array, mask: jax.Array) -> tuple[Peaks, jax.Array]:
    """One draw of every slot (fields (B, P)) and the (B,) log proposal density of `mask`."""
    if isinstance(proposal, StudentQ):
        return proposal.sample_and_log_prob(key, mask)
    theta, log_q = proposal.sample_and_log_prob(key)
    return theta, jnp.sum(jnp.where(mask, log_q, 0.0), axis=-1)


def importance_sample(q: VariationalQ | StudentQ, mask: jax.Array, spectra: jax.Array,
                      noise: jax.Array, key: jax.Array, config: Config, num_samples: int = 256,
                      widen: float = 1.0, batch_size: int = 32) -> tuple[Peaks, jax.Array]:
    """Draws from the (widened) proposal and their log importance weights.

    Args:
      q: the proposal: each slot's variational parameters, fields (B, P, ...), or a `StudentQ`;
        absent slots must hold finite placeholder values (they are drawn but neither scored
        nor used).
      mask: (B, P) which slots are peaks (the first K of the spectrum's chosen K).
      spectra: (B, W); noise: (B,).
      key: PRNG key.
      config: the model's configuration.
      num_samples: S, draws per spectrum.
      widen: proposal sds are this multiple of q's (heavier coverage of the tails).
      batch_size: draws evaluated at once (working memory ∝ batch_size · B · P · W).

    Returns:
      (draws, log_w): `Peaks` with fields (S, B, P) and (S, B) unnormalised log weights.
    """
    proposal = q.widen(widen)

    def one(sample_key):
        theta, log_q = _draw(proposal, sample_key, mask)
        return theta, log_target(theta, mask, spectra, noise, config) - log_q

    keys = jax.random.split(key, num_samples)
    return jax.lax.map(one, keys, batch_size=min(batch_size, num_samples))


SHRINK = 20.0  # the weighted covariance gets weight ESS / (ESS + SHRINK)


def fit_proposal(draws: Peaks, log_w: jax.Array, mask: jax.Array,
                 shrink: float = SHRINK) -> CorrelatedQ:
    """A Gaussian in u per peak, moment-matched to weighted draws.

    Args:
      draws: fields (S, B, P); log_w: (S, B) unnormalised log weights; mask: (B, P).
      shrink: the weighted covariance gets weight ESS / (ESS + shrink), the unweighted the
        rest (a proposal stays wide when few draws carry the weight); 0: the weighted moments.

    Returns:
      `CorrelatedQ` with fields (B, P, 4) and (B, P, 4, 4) (a unit Gaussian where not `mask`).
    """
    theta = to_vector(draws)
    theta = theta.at[..., 0].set(jnp.maximum(theta[..., 0], 1e-6))
    theta = theta.at[..., 2].set(jnp.maximum(theta[..., 2], 1e-6))
    u, _ = PeakBijector().inverse_and_log_det(theta)  # (S, B, P, 4)
    u = jnp.where(mask[None, ..., None], u, 0.0)
    w = jax.nn.softmax(log_w, axis=0)[..., None, None]  # (S, B, 1, 1)
    ess = 1.0 / jnp.sum(jax.nn.softmax(log_w, axis=0) ** 2, axis=0)  # (B,)

    def moments(weights):
        mean = jnp.sum(weights * u, axis=0)
        centred = u - mean
        return mean, jnp.einsum("sbpi,sbpj->bpij", weights * centred, centred)

    mean, cov = moments(w)
    _, cov0 = moments(jnp.full_like(w, 1.0 / u.shape[0]))
    lam = (ess / (ess + shrink))[:, None, None, None]
    cov = lam * cov + (1.0 - lam) * cov0 + 1e-8 * jnp.eye(4)
    eye = jnp.broadcast_to(jnp.eye(4), cov.shape)
    cov = jnp.where(mask[..., None, None], cov, eye)
    return CorrelatedQ(mean, jnp.linalg.cholesky(cov))


def adaptive_importance_sample(q: VariationalQ, mask: jax.Array, spectra: jax.Array,
                               noise: jax.Array, key: jax.Array, config: Config,
                               num_samples: int = 256, rounds: int = 2, widen: float = 1.0,
                               df: float | None = None) -> tuple[Peaks, jax.Array]:
    """`importance_sample` from q, then `rounds` refits of the proposal (`fit_proposal`).

    Args:
      df: the last refit is a `StudentQ` with these degrees of freedom (None: Gaussian).

    Returns:
      (draws, log_w) of the last round: fields (S, B, P) and (S, B).
    """
    keys = jax.random.split(key, rounds + 1)
    draws, log_w = importance_sample(q, mask, spectra, noise, keys[0], config, num_samples,
                                     widen)
    for i, round_key in enumerate(keys[1:], start=1):
        proposal = fit_proposal(draws, log_w, mask)
        if df is not None and i == rounds:
            proposal = StudentQ(proposal, df)
        draws, log_w = importance_sample(proposal, mask, spectra, noise, round_key, config,
                                         num_samples, widen)
    return draws, log_w
