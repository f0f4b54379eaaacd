"""Amortized + refine: a few SVI steps started from the amortized posterior.

The paper suggests it; `refine` does it: the number of peaks stays the amortized one, and each
spectrum's mean-field guide starts at its amortized q, so a user trades time for accuracy.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.inference import (
    Model,
    Posterior,
    assemble,
    check_input,
    fit_log_likelihood,
    load_model,
    read_chunk,
    report_bad_rows,
    squeeze,
    unsqueeze,
)
from peakflow.reference.svi import fit_svi
from peakflow.variational import PeakQ


def refine(spectra: Any, post: Posterior, *, steps: int = 300, lr: float = 5e-3,
           model: str | os.PathLike | Model | None = None, key: jax.Array | None = None,
           prior: str = "flat") -> Posterior:
    """Refines an amortized posterior with SVI (NumPyro, K fixed, vectorised over spectra).

    Args:
      spectra: the (W,) or (N, W) spectra `post` came from.
      post: their `Posterior` from `infer` (same model).
      steps: Adam steps of SVI.
      lr: Adam learning rate (in the guide's unconstrained coordinates).
      model: the model that produced `post` (its noise level and grid); default bundled.
      key: PRNG key for SVI's samples (default PRNGKey(0)).
      prior: ``"flat"`` (the paper's) or ``"uniform"`` over the simulator's ranges.

    Returns:
      A `Posterior` with the same number of peaks and P(K), refined peak parameters, fit and
      log-likelihood.
    """
    mdl = load_model(model)
    array, single = check_input(spectra, mdl.num_points)
    batch, errors = read_chunk(array, 0, array.shape[0])
    report_bad_rows(errors, single)
    batch_post = post if post.num_peaks.ndim else unsqueeze(post)
    if batch_post.num_peaks.shape[0] != batch.shape[0]:
        raise ValueError(f"post holds {batch_post.num_peaks.shape[0]} spectra but "
                         f"{batch.shape[0]} were given")
    errors = [e or p for e, p in zip(errors, batch_post.errors)]
    num_peaks = np.maximum(batch_post.num_peaks, 0)
    q0 = PeakQ(*(jnp.asarray(np.nan_to_num(a, nan=1.0), jnp.float32) for a in batch_post._q))
    key = jax.random.PRNGKey(0) if key is None else key
    q, _ = fit_svi(jnp.asarray(batch), jnp.asarray(num_peaks), q0, key=key, steps=steps, lr=lr,
                   noise=mdl.config.sim.noise, sim=mdl.config.sim, prior=prior)
    present = np.arange(q.amplitude_mean.shape[-1])[None, :] < num_peaks[:, None]
    mean = jax.tree.map(lambda a: np.where(present, np.asarray(a), np.nan), q.mean())
    log_lik = fit_log_likelihood(batch, mean, mdl.config.sim.noise)
    out = assemble(q, num_peaks, batch_post.k_probs, log_lik, errors, mdl.num_points)
    return squeeze(out) if single else out
