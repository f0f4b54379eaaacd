"""The per-peak mean-field variational family of Eq. 9 (the paper's).

q(θ_k) = N(α | μ_α, σ_α²) · N(c | μ_c, σ_c²) · N(γ | μ_γ, σ_γ²) · Beta(η | a, b).

Every family (this one and `peakflow.core.correlated.CorrelatedQ`) offers the same methods:
`sample`, `sample_and_log_prob`, `log_prob`, `mean`, `std`, `correlation`, `interval` and
`widen`; `peakflow.core.heads` maps the policy's outputs to either.

The Normal on γ puts mass on γ ≤ 0, where the pseudo-Voigt is the same curve as at |γ| (it is
even in γ). Under the ``uniform`` prior such draws cost the soft prior edge's steep penalty
(about 10 nats per point of width below the range for the default ranges); under the paper's
flat prior nothing stops them, which is one reason the correlated family works on log γ.
"""

from __future__ import annotations

from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from peakflow.core.lineshape import PARAMETERS, Array, Peaks

EPS = 1e-6  # η is kept this far inside (0, 1) when scoring a value given from outside


def array_namespace(value):
    """`numpy` for numpy input (and Python scalars), `jax.numpy` for JAX arrays."""
    return jnp if isinstance(value, jax.Array) else np


def identity_correlation(shape: tuple, xp=np):
    """(*shape, 4, 4) identity matrices: the correlation of a mean-field family."""
    return xp.broadcast_to(xp.eye(len(PARAMETERS), dtype=xp.float32),
                           tuple(shape) + (len(PARAMETERS),) * 2)


class PeakQ(NamedTuple):
    """Variational parameters of one peak per element; every field has shape (...,)."""

    amplitude_mean: Array
    amplitude_sd: Array
    location_mean: Array
    location_sd: Array
    width_mean: Array
    width_sd: Array
    lorentzian_a: Array
    lorentzian_b: Array

    @classmethod
    def from_moments(cls, mean: Peaks, std: Peaks) -> "PeakQ":
        """The mean-field family with the given means and sds (Beta matched by moments)."""
        m, v = mean.lorentzian, std.lorentzian**2
        concentration = m * (1.0 - m) / v - 1.0
        return cls(mean.amplitude, std.amplitude, mean.location, std.location, mean.width,
                   std.width, m * concentration, (1.0 - m) * concentration)

    def distributions(self) -> Peaks:
        """The four distrax factors, as a `Peaks` of distributions."""
        return Peaks(
            amplitude=distrax.Normal(self.amplitude_mean, self.amplitude_sd),
            location=distrax.Normal(self.location_mean, self.location_sd),
            width=distrax.Normal(self.width_mean, self.width_sd),
            lorentzian=distrax.Beta(self.lorentzian_a, self.lorentzian_b),
        )

    def sample_and_log_prob(self, key: jax.Array) -> tuple[Peaks, jax.Array]:
        """One reparameterised draw and its (...,) log q.

        η is drawn as G_a / (G_a + G_b) from log-Gamma variates, and its Beta density is
        evaluated from log η and log(1 - η) in log space, so draws that round to 0 or 1 in
        float32 keep the exact log q and their (implicit) gradient.
        """
        k_amp, k_loc, k_wid, k_a, k_b = jax.random.split(key, 5)
        normals = self.distributions()[:3]
        values = [d.sample(seed=k) for d, k in zip(normals, (k_amp, k_loc, k_wid))]
        log_ga = jax.random.loggamma(k_a, self.lorentzian_a)
        log_gb = jax.random.loggamma(k_b, self.lorentzian_b)
        log_total = jnp.logaddexp(log_ga, log_gb)
        log_eta, log_rest = log_ga - log_total, log_gb - log_total
        log_beta = ((self.lorentzian_a - 1.0) * log_eta + (self.lorentzian_b - 1.0) * log_rest
                    - jax.scipy.special.betaln(self.lorentzian_a, self.lorentzian_b))
        log_q = sum(d.log_prob(v) for d, v in zip(normals, values)) + log_beta
        return Peaks(*values, jnp.exp(log_eta)), log_q

    def sample(self, key: jax.Array) -> Peaks:
        """One reparameterised draw: fields (...,)."""
        return self.sample_and_log_prob(key)[0]

    def host_sample(self, rng: np.random.Generator, num: int, shared: bool = False) -> Peaks:
        """`num` draws on the host (numpy, no compilation): fields (num, ...) float64.

        With `shared`, every peak is driven by the same `num` uniform/normal variates (common
        random numbers; η by the Beta quantile function), so a peak's draws do not depend on
        the other peaks in the batch.
        """
        batch = np.shape(self.amplitude_mean)
        shape = (num,) + ((1,) * len(batch) if shared else batch)
        normal = lambda mean, sd: (np.asarray(mean, np.float64)
                                   + np.asarray(sd, np.float64) * rng.standard_normal(shape))
        amplitude = normal(self.amplitude_mean, self.amplitude_sd)
        location = normal(self.location_mean, self.location_sd)
        width = normal(self.width_mean, self.width_sd)
        a, b = (np.broadcast_to(np.asarray(v, np.float64), (num,) + batch)
                for v in (self.lorentzian_a, self.lorentzian_b))
        eta = (stats.beta.ppf(np.broadcast_to(rng.uniform(size=shape), a.shape), a, b)
               if shared else rng.beta(a, b))
        return Peaks(amplitude, location, width, eta)

    def log_prob(self, peaks: Peaks) -> jax.Array:
        """(...,) log q(θ) summed over the four factors; η is clipped to [EPS, 1 - EPS]."""
        eta = jnp.clip(peaks.lorentzian, EPS, 1.0 - EPS)
        values = peaks._replace(lorentzian=eta)
        return sum(d.log_prob(v) for d, v in zip(self.distributions(), values))

    def mean(self) -> Peaks:
        """Posterior means, fields (...,); numpy in, numpy out (arithmetic only)."""
        a, b = self.lorentzian_a, self.lorentzian_b
        return Peaks(self.amplitude_mean, self.location_mean, self.width_mean, a / (a + b))

    def sd(self) -> Peaks:
        """Posterior standard deviations, fields (...,); numpy in, numpy out."""
        a, b = self.lorentzian_a, self.lorentzian_b
        eta_sd = (a * b / ((a + b) ** 2 * (a + b + 1.0))) ** 0.5
        return Peaks(self.amplitude_sd, self.location_sd, self.width_sd, eta_sd)

    def correlation(self):
        """(..., 4, 4) correlation of (α, c, γ, η): the identity for a mean-field family."""
        return identity_correlation(np.shape(self.amplitude_mean),
                                    array_namespace(self.amplitude_mean))

    def interval(self, level: float) -> tuple[Peaks, Peaks]:
        """Central `level` credible intervals of each parameter (numpy): (lo, hi) `Peaks`."""
        tail = (1.0 - level) / 2.0
        lo, hi = [], []
        for mean, sd in zip(self.mean()[:3], self.sd()[:3]):
            lo.append(stats.norm.ppf(tail, mean, sd))
            hi.append(stats.norm.isf(tail, mean, sd))
        a, b = np.asarray(self.lorentzian_a), np.asarray(self.lorentzian_b)
        return (Peaks(*lo, stats.beta.ppf(tail, a, b)),
                Peaks(*hi, stats.beta.isf(tail, a, b)))

    def widen(self, factor: float) -> "PeakQ":
        """The family with every sd multiplied by `factor` (η: Beta with the same mean)."""
        a, b = self.lorentzian_a, self.lorentzian_b
        shrink = (a + b + 1.0) / factor**2 - 1.0
        concentration = shrink / (a + b)
        clip = lambda v: jnp.maximum(v, 0.05) if isinstance(v, jax.Array) else np.maximum(v, 0.05)
        return self._replace(amplitude_sd=self.amplitude_sd * factor,
                             location_sd=self.location_sd * factor,
                             width_sd=self.width_sd * factor,
                             lorentzian_a=clip(a * concentration),
                             lorentzian_b=clip(b * concentration))
