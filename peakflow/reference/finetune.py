"""Amortized + finetune: a few SVI steps started from the amortized posterior.

The paper suggests fine-tuning the amortized posterior; `finetune` does it: the number of
peaks stays the amortized one, and each spectrum's mean-field guide starts at its amortized q,
so a user trades time for accuracy. (Not to be confused with the measured path's `refine`,
the least-squares refinement of each window's peaks: `peakflow.measured.refine`.)
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.lineshape import slot_mask
from peakflow.core.seeds import Seed, as_key
from peakflow.core.variational import PeakQ
from peakflow.grid.checks import check_input, read_chunk, report_bad_rows
from peakflow.grid.posterior import (
    Posterior,
    fit_log_likelihood,
    posterior_from_slots,
    squeeze,
    unsqueeze,
)
from peakflow.reference.svi import fit_svi
from peakflow.runtime.trained import TrainedModel, load_model


def finetune(spectra: Any, post: Posterior, *, steps: int = 300, lr: float = 5e-3,
             model: str | os.PathLike | TrainedModel | None = None, seed: Seed = 0,
             prior: str = "flat") -> Posterior:
    """Fine-tunes an amortized posterior with SVI (NumPyro, K fixed, vectorised over spectra).

    Args:
      spectra: the (W,) or (N, W) spectra `post` came from.
      post: their `Posterior` from `infer` (same model).
      steps: Adam steps of SVI.
      lr: Adam learning rate (in the guide's unconstrained coordinates).
      model: the model that produced `post` (its noise level and grid); default bundled.
      seed: int or PRNG key of SVI's samples.
      prior: ``"flat"`` (the paper's) or ``"uniform"`` over the simulator's ranges.

    Returns:
      A `Posterior` with the same number of peaks and P(K), refined peak parameters, fit and
      log-likelihood.
    """
    if not isinstance(post, Posterior):
        raise TypeError(f"finetune(spectra, post): post must be a Posterior from peakflow.infer, "
                        f"got {type(post).__name__} (the spectra come first)")
    trained = load_model(model)
    array, single = check_input(spectra, trained.num_points)
    batch, errors = read_chunk(array)
    report_bad_rows(errors, single)
    batch_post = post if post.num_peaks.ndim else unsqueeze(post)
    if batch_post.num_peaks.shape[0] != batch.shape[0]:
        raise ValueError(f"post holds {batch_post.num_peaks.shape[0]} spectra but "
                         f"{batch.shape[0]} were given")
    errors = [e or p for e, p in zip(errors, batch_post.errors)]
    num_peaks = np.maximum(batch_post.num_peaks, 0)
    start = PeakQ.from_moments(batch_post.mean(), batch_post.sd())  # SVI's guide is mean-field
    q0 = PeakQ(*(jnp.asarray(np.nan_to_num(a, nan=1.0), jnp.float32) for a in start))
    q, _ = fit_svi(jnp.asarray(batch), jnp.asarray(num_peaks), q0, key=as_key(seed), steps=steps,
                   lr=lr, noise=trained.config.sim.noise, sim=trained.config.sim, prior=prior)
    present = slot_mask(num_peaks, q.amplitude_mean.shape[-1])
    mean = jax.tree.map(lambda a: np.where(present, np.asarray(a), np.nan), q.mean())
    log_lik = fit_log_likelihood(batch, mean, trained.config.sim.noise)
    out = posterior_from_slots(q, num_peaks, batch_post.k_probs, log_lik, errors,
                               trained.num_points)
    return squeeze(out) if single else out
