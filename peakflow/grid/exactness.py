"""The exactness step: the amortized posterior reweighted towards the exact posterior.

`reweight` draws S samples per spectrum from the amortized q of its chosen K peaks
(`peakflow.core.importance`), weights them by exact posterior / q, refits a Gaussian proposal
to the weighted draws and samples again (three times by default, the last time from a
Student-t with the fitted scales: heavier tails than the posterior's), smooths the last weights
with ArviZ's Pareto-smoothed importance sampling (PSIS; `peakflow.runtime.reweighting`) and
returns the `Posterior` with summaries
from the weighted draws plus an `Importance` record: the draws, their weights, the effective
sample size and the Pareto k̂ diagnostic per spectrum. k̂ > `KHAT_MAX` (0.65) means the
weights cannot be trusted (q misses part of the exact posterior); such spectra are listed by
``Posterior.importance.trustworthy`` and can be handed to `peakflow.finetune`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np

from peakflow.core.likelihood import reduced_chi2
from peakflow.core.lineshape import PARAMETERS
from peakflow.core.seeds import Seed, as_key
from peakflow.grid.checks import check_input
from peakflow.grid.posterior import (
    ParamPosterior,
    Posterior,
    fit_log_likelihood,
    squeeze,
    unsqueeze,
)
from peakflow.grid.weighted import weighted_summaries
from peakflow.runtime.reweighting import (
    DF,
    NUM_SAMPLES,
    ROUNDS,
    WIDEN,
    Importance,
    importance_weights,
)
from peakflow.runtime.sd_scale import unscaled
from peakflow.runtime.trained import TrainedModel, load_model


def _importance_batch(post: Posterior, spectra: np.ndarray, trained: TrainedModel,
                      key: jax.Array, num_samples: int, rounds: int, widen: float,
                      df: float | None) -> Importance:
    """Draws, smoothed log weights, k̂ and ESS for a batch posterior (leading N)."""
    counts = np.where(post.valid, post.num_peaks, 0)
    proposal = unscaled(post.q, trained.sd_scale)  # the policy's own q (`runtime.sd_scale`)
    w = importance_weights(proposal, counts, spectra, trained.assumed_noise(spectra),
                           trained.config, key, num_samples, rounds, widen, df)
    invalid = lambda a: np.where(post.valid, a, np.nan)
    return w._replace(log_weights=invalid(w.log_weights.T).T, ess=invalid(w.ess))


def reweight(spectra, post: Posterior, *, model: str | os.PathLike | TrainedModel | None = None,
             seed: Seed = 0, num_samples: int = NUM_SAMPLES,
             rounds: int = ROUNDS, widen: float = WIDEN, df: float | None = DF
             ) -> Posterior:
    """The exactness step: `post` reweighted by importance sampling against the exact posterior.

    Args:
      spectra: (W,) or (N, W), the spectra `post` describes.
      post: the amortized posterior of `spectra` (from `peakflow.infer` with the same model).
      model: the model that produced `post`; default bundled.
      seed: int or PRNG key of the draws.
      num_samples: S, draws per spectrum and round.
      rounds: refits of the proposal to the weighted draws after the first round from q
        (`peakflow.core.importance.adaptive_importance_sample`); 0 uses q alone.
      widen: every proposal's sds are this multiple of the fitted ones.
      df: the last round's proposal is a Student-t with these degrees of freedom (heavier
        tails: fewer spectra with k̂ above it); None keeps it Gaussian.

    Returns:
      A `Posterior` with the same K and P(K) whose means, sds, correlations, intervals and
      `sample` come from the weighted draws, and whose ``importance`` holds the draws, weights,
      k̂ and effective sample size.
    """
    if not isinstance(post, Posterior):
        raise TypeError(f"reweight(spectra, post): post must be a Posterior from peakflow.infer, "
                        f"got {type(post).__name__} (the spectra come first)")
    trained = load_model(model)
    batch = post if post.num_peaks.ndim else unsqueeze(post)
    array, _ = check_input(spectra, trained.num_points)
    array = np.asarray(array, np.float32)
    if array.shape[0] != batch.num_peaks.shape[0]:
        raise ValueError(f"post holds {batch.num_peaks.shape[0]} spectra but {array.shape[0]} "
                         f"were given")
    record = _importance_batch(batch, array, trained, as_key(seed), num_samples, rounds, widen, df)
    mean, std, _ = weighted_summaries(record.draws, record.log_weights)
    summaries: dict[str, Any] = {name: ParamPosterior(np.asarray(m), np.asarray(s))
                                 for name, m, s in zip(PARAMETERS, mean, std)}
    noise = trained.assumed_noise(array)
    log_lik = np.where(batch.valid, fit_log_likelihood(np.nan_to_num(array), mean, noise), np.nan)
    chi2 = reduced_chi2(log_lik.astype(np.float64), noise.astype(np.float64), array.shape[-1])
    out = dataclasses.replace(batch, importance=record, chi2=chi2,
                              log_likelihood=log_lik.astype(np.float32), **summaries)
    return out if post.num_peaks.ndim else squeeze(out)
