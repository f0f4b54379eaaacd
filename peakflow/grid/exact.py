"""The exactness step: the amortized posterior reweighted towards the exact posterior.

`reweight` draws S samples per spectrum from the amortized q of its chosen K peaks
(`peakflow.core.importance`), weights them by exact posterior / q, refits a Gaussian proposal
to the weighted draws and samples again (three times by default), smooths the last weights with
ArviZ's Pareto-smoothed importance sampling (PSIS) and returns the `Posterior` with summaries
from the weighted draws plus an `Importance` record: the draws, their weights, the effective
sample size and the Pareto k̂ diagnostic per spectrum. k̂ > 0.7 means the weights cannot be
trusted (q misses part of the exact posterior); such spectra are listed by
``Posterior.importance.trustworthy`` and can be handed to `peakflow.refine`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.importance import adaptive_importance_sample
from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.core.signal import estimate_noise
from peakflow.grid.checks import check_input
from peakflow.grid.posterior import (ParamPosterior, Posterior, fit_log_likelihood, squeeze,
                                     unsqueeze)
from peakflow.grid.weighted import Importance, weighted_summaries
from peakflow.runtime.trained import TrainedModel, load_model

NUM_SAMPLES = 512
ROUNDS = 3
WIDEN = 1.2
CHUNK = 128


def _psis(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ PSIS of (M, S) log weights → (normalised smoothed log weights, k̂ (M,))."""
    import arviz  # noqa: PLC0415  (a heavy import, only needed here)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns per row when k̂ is high; k̂ is returned
        smoothed, khat = arviz.psislw(log_w, reff=1.0)
    return np.asarray(smoothed), np.asarray(khat)


@functools.partial(jax.jit, static_argnames=("config", "num_samples", "rounds", "widen"))
def _sample_chunk(q, mask, spectra, noise, key, config, num_samples, rounds, widen):
    return adaptive_importance_sample(q, mask, spectra, noise, key, config, num_samples, rounds,
                                      widen)


def _rows(a: np.ndarray, start: int, stop: int, size: int) -> jax.Array:
    """Rows start:stop of `a`, padded to `size` rows by repeating the last (one program)."""
    part = np.asarray(a[start:stop])
    return jnp.asarray(np.concatenate([part, np.repeat(part[-1:], size - len(part), 0)]))


def record_noise(spectra: np.ndarray, trained: TrainedModel) -> np.ndarray:
    """(N,) noise sd the model assumes for each spectrum (as `infer` does)."""
    sim = trained.config.sim
    if sim.noise_max is not None:
        return estimate_noise(np.nan_to_num(spectra)).astype(np.float32)
    return np.full(spectra.shape[0], sim.noise, np.float32)


def _importance_batch(post: Posterior, spectra: np.ndarray, trained: TrainedModel,
                      key: jax.Array, num_samples: int, rounds: int, widen: float
                      ) -> Importance:
    """Draws, raw log weights and PSIS for a batch posterior (leading N)."""
    config = trained.config
    n, slots = post.amplitude.mean.shape
    present = ~np.isnan(post.amplitude.mean)
    noise = record_noise(spectra, trained)
    q = jax.tree.map(lambda a: np.nan_to_num(np.asarray(a, np.float32), nan=1.0), post._q)
    draws = [np.full((n, num_samples, slots), np.nan, np.float32) for _ in PARAMETERS]
    log_w = np.zeros((n, num_samples), np.float64)
    size = min(CHUNK, max(8, 1 << (n - 1).bit_length()))  # few sizes, small for small n
    for start in range(0, n, size):
        stop = min(start + size, n)
        take = functools.partial(_rows, start=start, stop=stop, size=size)
        theta, lw = _sample_chunk(jax.tree.map(take, q), take(present),
                                  take(np.nan_to_num(spectra)), take(noise),
                                  jax.random.fold_in(key, start), config, num_samples, rounds,
                                  widen)
        for dest, value in zip(draws, theta):  # (S, B, P) → (B, S, P)
            dest[start:stop] = np.swapaxes(np.asarray(value), 0, 1)[:stop - start]
        log_w[start:stop] = np.asarray(lw, np.float64).T[:stop - start]
    draws = Peaks(*(np.where(present[:, None, :], d, np.nan) for d in draws))
    khat, ess = np.full(n, np.nan), np.full(n, float(num_samples))
    smoothed = np.full_like(log_w, -np.log(num_samples))  # uniform where nothing to weigh
    fit = np.flatnonzero(post.valid & (post.num_peaks > 0))
    if fit.size:
        smoothed[fit], khat[fit] = _psis(log_w[fit])
        ess[fit] = 1.0 / np.sum(np.exp(2.0 * smoothed[fit]), axis=-1)
    smoothed[~post.valid] = np.nan
    ess[~post.valid] = np.nan
    return Importance(draws, smoothed, khat, ess)


def reweight(post: Posterior, spectra, *, model: str | os.PathLike | TrainedModel | None = None,
             key: jax.Array | None = None, num_samples: int = NUM_SAMPLES,
             rounds: int = ROUNDS, widen: float = WIDEN) -> Posterior:
    """The exactness step: `post` reweighted by importance sampling against the exact posterior.

    Args:
      post: the amortized posterior of `spectra` (from `peakflow.infer` with the same model).
      spectra: (W,) or (N, W), the spectra `post` describes.
      model: the model that produced `post`; default bundled.
      key: PRNG key of the draws (default PRNGKey(0)).
      num_samples: S, draws per spectrum and round.
      rounds: refits of the proposal to the weighted draws after the first round from q
        (`peakflow.core.importance.adaptive_importance_sample`); 0 uses q alone.
      widen: every proposal's sds are this multiple of the fitted ones.

    Returns:
      A `Posterior` with the same K and P(K) whose means, sds, correlations, intervals and
      `sample` come from the weighted draws, and whose ``importance`` holds the draws, weights,
      k̂ and effective sample size.
    """
    trained = load_model(model)
    batch = post if post.num_peaks.ndim else unsqueeze(post)
    array, _ = check_input(spectra, trained.num_points)
    array = np.asarray(array, np.float32)
    if array.shape[0] != batch.num_peaks.shape[0]:
        raise ValueError(f"post holds {batch.num_peaks.shape[0]} spectra but {array.shape[0]} "
                         f"were given")
    key = jax.random.PRNGKey(0) if key is None else key
    record = _importance_batch(batch, array, trained, key, num_samples, rounds, widen)
    mean, std, _ = weighted_summaries(record.draws, record.log_weights)
    summaries = {name: ParamPosterior(m, s) for name, m, s in zip(PARAMETERS, mean, std)}
    noise = record_noise(array, trained)
    log_lik = np.where(batch.valid, fit_log_likelihood(np.nan_to_num(array), mean, noise), np.nan)
    out = dataclasses.replace(batch, importance=record,
                              log_likelihood=log_lik.astype(np.float32), **summaries)
    return out if post.num_peaks.ndim else squeeze(out)
