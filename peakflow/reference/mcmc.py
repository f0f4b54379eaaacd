"""MCMC reference posteriors with NumPyro's NUTS, K known, initialised at the ground truth.

The paper ran Metropolis-within-Gibbs from the truth; NUTS from the truth targets the same
posterior with far fewer, far less correlated draws. Spectra are grouped by their number of
peaks; each group compiles once (``jit_model_args``) and its spectra are sampled one after
another, with `num_chains` vectorised chains each, so that split R-hat and the effective sample
size can be reported per spectrum.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS

from peakflow.config import SimulatorConfig
from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.reference.numpyro_model import peak_model, site_priors

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class SampleSummary(NamedTuple):
    """Posterior summaries per spectrum and slot; every array (N, slots), NaN for absent peaks.

    Attributes:
      mean, std: `Peaks` of posterior means and sds.
      quantiles: `Peaks` of (N, slots, len(QUANTILES)) posterior quantiles.
      rhat: (N,) largest split R-hat over the spectrum's parameters.
      ess: (N,) smallest effective sample size over them.
    """

    mean: Peaks
    sd: Peaks
    quantiles: Peaks
    rhat: np.ndarray
    ess: np.ndarray


def summarize_draws(draws: dict[str, np.ndarray], slots: int) -> dict[str, np.ndarray]:
    """Per-slot summaries of one spectrum's draws, each value (chains, draws, k)."""
    out = {}
    for name in PARAMETERS:
        d = np.asarray(draws[name])
        k = d.shape[-1]
        flat = d.reshape(-1, k)
        def pad(a, k=k):
            return np.concatenate([a, np.full((slots - k,) + a.shape[1:], np.nan)])

        out[name] = (pad(flat.mean(0)), pad(flat.std(0)),
                     pad(np.quantile(flat, QUANTILES, axis=0).T))
    rhat = max(float(np.max(split_gelman_rubin(np.asarray(v)))) for v in draws.values())
    ess = min(float(np.min(effective_sample_size(np.asarray(v)))) for v in draws.values())
    out["rhat"], out["ess"] = rhat, ess
    return out


def _unconstrained(values: dict[str, np.ndarray], prior: str, sim: SimulatorConfig,
                   num_chains: int) -> dict[str, jax.Array]:
    """The sampler's unconstrained coordinates of `values`, one copy per chain."""
    priors = site_priors(prior, sim)
    out = {}
    for name, value in values.items():
        u = biject_to(priors[name].support).inv(jnp.asarray(value, jnp.float32))
        out[name] = jnp.broadcast_to(u, (num_chains,) + u.shape)
    return out


def run_mcmc(spectra: np.ndarray, num_peaks: np.ndarray, truth: Peaks, *, key: jax.Array,
             num_warmup: int, num_samples: int, num_chains: int, noise: float,
             sim: SimulatorConfig, slots: int, prior: str = "flat",
             progress: Callable[[int], None] | None = None) -> SampleSummary:
    """NUTS on each spectrum with K known, started at the true parameters.

    Args:
      spectra: (N, W) spectra.
      num_peaks: (N,) true numbers of peaks.
      truth: true parameters, fields (N, slots) (the first num_peaks are used).
      num_warmup, num_samples, num_chains: per spectrum.
      progress: called with 1 after each spectrum.

    Returns:
      The `SampleSummary`; spectra without peaks have NaN summaries, R-hat 1 and ESS inf.
    """
    n = spectra.shape[0]
    nan = np.full((n, slots), np.nan)
    means = {p: nan.copy() for p in PARAMETERS}
    stds = {p: nan.copy() for p in PARAMETERS}
    quants = {p: np.full((n, slots, len(QUANTILES)), np.nan) for p in PARAMETERS}
    rhat, ess = np.ones(n), np.full(n, np.inf)
    keys = jax.random.split(key, n)
    for k in range(1, slots + 1):
        rows = np.flatnonzero(np.asarray(num_peaks) == k)
        if len(rows) == 0:
            continue
        model = lambda x, k=k: peak_model(x, k, k, noise, sim, prior)
        mcmc = MCMC(NUTS(model), num_warmup=num_warmup, num_samples=num_samples,
                    num_chains=num_chains, chain_method="vectorized", progress_bar=False,
                    jit_model_args=True)
        for i in rows:
            values = {p: np.asarray(getattr(truth, p))[i, :k] for p in PARAMETERS}
            values["lorentzian"] = np.clip(values["lorentzian"], 1e-3, 1 - 1e-3)
            mcmc.run(keys[i], jnp.asarray(spectra[i]),
                     init_params=_unconstrained(values, prior, sim, num_chains))
            summary = summarize_draws(mcmc.get_samples(group_by_chain=True), slots)
            for p in PARAMETERS:
                means[p][i], stds[p][i], quants[p][i] = summary[p]
            rhat[i], ess[i] = summary["rhat"], summary["ess"]
            if progress is not None:
                progress(1)
    return SampleSummary(Peaks(**means), Peaks(**stds), Peaks(**quants), rhat, ess)
