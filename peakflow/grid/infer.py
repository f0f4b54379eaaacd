"""`peakflow.infer`: spectra on a model's grid in, number of peaks and per-peak posteriors out.

The policy runs once per spectrum along its posterior-mean trajectory
(`peakflow.core.amortized`), streamed through `TrainedModel.predict`; a model directory with
``sd_scale.json`` has its posterior sds calibrated (`peakflow.runtime.sd_scale`: the ELBO's q
is too narrow). Rows with NaN or inf are reported, not fitted, and never cost the other rows
their results.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from peakflow.core.likelihood import reduced_chi2
from peakflow.core.seeds import Seed, as_key
from peakflow.grid.checks import check_input, read_chunk, report_bad_rows, report_misfits
from peakflow.grid.exactness import reweight
from peakflow.grid.posterior import Posterior, posterior_from_slots, squeeze
from peakflow.runtime.sd_scale import calibrate_in_place
from peakflow.runtime.trained import CHUNK_SIZE, TrainedModel, load_model


def infer(spectra: Any, *, model: str | os.PathLike | TrainedModel | None = None,
          seed: Seed | None = None, progress: bool | None = None,
          chunk_size: int = CHUNK_SIZE, exact: bool = False) -> Posterior:
    """Number of peaks and per-peak posteriors of spectra on the model's grid.

    The spectra must already be on the model's grid: W points at the noise level it was trained
    for (the bundled default model: the paper's 500-point simulated setting, σ = 0.01). For
    measured spectra (any axis, length, baseline and noise level) use `peakflow.fit`.

    Args:
      spectra: (W,) or (N, W) real array; a memory-mapped array
        (``np.load(path, mmap_mode="r")``) is streamed from disk chunk by chunk.
      model: a `TrainedModel`, a model or training-checkpoint directory, or None for the
        bundled default model.
      seed: None, or an int or PRNG key: P(K) is then averaged over 32 trajectories whose peaks are
        sampled from the posterior (an estimate of q(K | x), the distribution the stop head was
        trained on), rather than read off the posterior-mean trajectory (a plug-in the stop
        head never saw in training, usually at least as confident; `evaluate` reports the
        calibration of both). Also seeds the exactness step's draws.
      progress: a progress bar over chunks (None: when there are more than 8).
      chunk_size: spectra per device call; the working memory is proportional to it.
      exact: add the exactness step (`peakflow.grid.exactness.reweight`): importance-sample the
        exact posterior of the chosen K with the amortized posterior as proposal; summaries
        then come from the Pareto-smoothed weighted draws, and ``post.importance`` holds k̂,
        the effective sample size and which spectra are ``trustworthy`` (k̂ ≤ `KHAT_MAX`, 0.65).

    Returns:
      A `Posterior`; a single (W,) spectrum gives one without a leading axis. Its ``chi2``
      is each fit's reduced χ² at the noise the model assumes; fits with χ² > 4 (not
      spectra on this model's grid and noise level) are named in a `RuntimeWarning`.

    Raises:
      TypeError: non-numeric input.
      ValueError: a wrong shape or length, empty input, a single spectrum with NaN or inf, or
        a batch in which every row has NaN or inf. In a batch with some such rows the other
        rows are still fitted; the bad rows come back with ``valid`` False, NaN results and
        their reason in ``errors`` (and a warning is issued).
    """
    trained = load_model(model)
    array, single = check_input(spectra, trained.num_points)
    errors: list[str | None] = []
    noises: list[np.ndarray] = []
    sim = trained.config.sim

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        chunk, chunk_errors = read_chunk(rows)
        errors.extend(chunk_errors)
        noise = trained.assumed_noise(chunk)
        noises.append(noise)
        return chunk, (noise if sim.noise_max is not None else None)

    pred = trained.predict(array, read=read, key=None if seed is None else as_key(seed),
                           chunk_size=chunk_size, progress=progress)
    report_bad_rows(errors, single)
    q = calibrate_in_place(pred.q, trained.sd_scale)   # the loop's own buffers
    post = posterior_from_slots(q, np.asarray(pred.num_peaks),
                                np.asarray(pred.k_probs), np.asarray(pred.log_lik), errors,
                                trained.num_points)
    chi2 = reduced_chi2(np.asarray(post.log_likelihood, np.float64),
                        np.concatenate(noises).astype(np.float64), trained.num_points)
    post = dataclasses.replace(post, chi2=chi2)
    report_misfits(chi2, post.valid, single)
    if exact:
        post = reweight(array, post, model=trained, seed=0 if seed is None else seed)
    return squeeze(post) if single else post
