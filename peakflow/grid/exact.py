"""The exactness step: the amortized posterior reweighted towards the exact posterior.

`reweight` draws S samples per spectrum from the amortized q of its chosen K peaks
(`peakflow.core.importance`), weights them by exact posterior / q, refits a Gaussian proposal
to the weighted draws and samples again (three times by default, the last time from a
Student-t with the fitted scales: heavier tails than the posterior's), smooths the last weights
with ArviZ's Pareto-smoothed importance sampling (PSIS; `peakflow.runtime.reweighting`) and
returns the `Posterior` with summaries
from the weighted draws plus an `Importance` record: the draws, their weights, the effective
sample size and the Pareto k̂ diagnostic per spectrum. k̂ > 0.7 means the weights cannot be
trusted (q misses part of the exact posterior); such spectra are listed by
``Posterior.importance.trustworthy`` and can be handed to `peakflow.refine`.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from peakflow.core.likelihood import reduced_chi2
from peakflow.core.lineshape import PARAMETERS
from peakflow.core.signal import estimate_noise
from peakflow.grid.checks import check_input
from peakflow.grid.posterior import (ParamPosterior, Posterior, fit_log_likelihood, squeeze,
                                     unsqueeze)
from peakflow.grid.weighted import Importance, weighted_summaries
from peakflow.runtime.reweighting import (DF, NUM_SAMPLES, ROUNDS, WIDEN,
                                          importance_weights)
from peakflow.runtime.trained import TrainedModel, load_model


def record_noise(spectra: np.ndarray, trained: TrainedModel) -> np.ndarray:
    """(N,) noise sd the model assumes for each spectrum (as `infer` does)."""
    sim = trained.config.sim
    if sim.noise_max is not None:
        return estimate_noise(np.nan_to_num(spectra)).astype(np.float32)
    return np.full(spectra.shape[0], sim.noise, np.float32)


def _importance_batch(post: Posterior, spectra: np.ndarray, trained: TrainedModel,
                      key: jax.Array, num_samples: int, rounds: int, widen: float,
                      df: float | None) -> Importance:
    """Draws, smoothed log weights, k̂ and ESS for a batch posterior (leading N)."""
    counts = np.where(post.valid, post.num_peaks, 0)
    w = importance_weights(post._q, counts, spectra, record_noise(spectra, trained),
                           trained.config, key, num_samples, rounds, widen, df)
    smoothed, ess = w.log_weights.copy(), w.ess.copy()
    smoothed[~post.valid] = np.nan
    ess[~post.valid] = np.nan
    return Importance(w.draws, smoothed, w.khat, ess)


def reweight(post: Posterior, spectra, *, model: str | os.PathLike | TrainedModel | None = None,
             key: jax.Array | None = None, num_samples: int = NUM_SAMPLES,
             rounds: int = ROUNDS, widen: float = WIDEN, df: float | None = DF
             ) -> Posterior:
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
      df: the last round's proposal is a Student-t with these degrees of freedom (heavier
        tails: fewer spectra with k̂ > 0.7); None keeps it Gaussian.

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
    record = _importance_batch(batch, array, trained, key, num_samples, rounds, widen, df)
    mean, std, _ = weighted_summaries(record.draws, record.log_weights)
    summaries = {name: ParamPosterior(m, s) for name, m, s in zip(PARAMETERS, mean, std)}
    noise = record_noise(array, trained)
    log_lik = np.where(batch.valid, fit_log_likelihood(np.nan_to_num(array), mean, noise), np.nan)
    chi2 = reduced_chi2(log_lik.astype(np.float64), noise.astype(np.float64), array.shape[-1])
    out = dataclasses.replace(batch, importance=record, chi2=chi2,
                              log_likelihood=log_lik.astype(np.float32), **summaries)
    return out if post.num_peaks.ndim else squeeze(out)
