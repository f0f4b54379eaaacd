"""`peakflow.infer`: spectra on a model's grid in, number of peaks and per-peak posteriors out.

The policy runs once per spectrum along its posterior-mean trajectory
(`peakflow.core.predict`), streamed through `TrainedModel.predict`. Rows with NaN or inf are
reported, not fitted, and never cost the other rows their results.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import jax
import numpy as np

from peakflow.grid.exact import reweight
from peakflow.grid.posterior import Posterior, assemble, squeeze
from peakflow.core.signal import estimate_noise
from peakflow.runtime.trained import CHUNK_SIZE, TrainedModel, load_model


def check_input(spectra: Any, num_points: int) -> tuple[np.ndarray, bool]:
    """Checks type and shape without copying (a memory-mapped array stays on disk).

    Returns:
      (array of shape (N, W), whether the input was a single (W,) spectrum).

    Raises:
      TypeError, ValueError: as documented in `infer`.
    """
    try:
        array = spectra if isinstance(spectra, np.ndarray) else np.asarray(spectra)
    except (ValueError, TypeError) as err:
        raise ValueError(f"spectra must be a rectangular numeric array: {err}") from err
    if array.dtype.kind not in "iuf":
        raise TypeError(f"spectra must be real numbers, got dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 2:
        raise ValueError(f"spectra must have shape (W,) or (N, W); got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"spectra are empty (shape {array.shape})")
    if array.shape[-1] != num_points:
        raise ValueError(f"spectrum length {array.shape[-1]} does not match the model's grid "
                         f"of W = {num_points} points")
    return (array[None] if array.ndim == 1 else array), array.ndim == 1


def row_errors(batch: np.ndarray) -> list[str | None]:
    """Per row: None when finite, else a message counting its NaN and inf values."""
    nan, inf = np.isnan(batch).sum(axis=1), np.isinf(batch).sum(axis=1)
    errors: list[str | None] = [None] * batch.shape[0]
    for i in np.flatnonzero(nan + inf):
        what = " and ".join(s for s in (f"{nan[i]} NaN" if nan[i] else "",
                                        f"{inf[i]} inf" if inf[i] else "") if s)
        errors[i] = f"spectrum contains {what} value(s)"
    return errors


def report_bad_rows(errors: list[str | None], single: bool) -> None:
    """Raises when every row is bad; warns (naming the rows) when some are."""
    bad = np.flatnonzero([e is not None for e in errors])
    if len(bad) == len(errors):
        where = "" if single else f" (all {len(errors)} rows)"
        raise ValueError(f"{errors[bad[0]]}{where}; the model needs finite values")
    if len(bad):
        more = "..." if len(bad) > 10 else ""
        warnings.warn(f"{len(bad)} of {len(errors)} spectra are not finite (rows "
                      f"{bad[:10].tolist()}{more}); their results are NaN, see "
                      f"Posterior.errors", RuntimeWarning, stacklevel=3)


def read_chunk(rows: np.ndarray) -> tuple[np.ndarray, list]:
    """`rows` (B, W) as float32 with non-finite rows zeroed, and their errors."""
    chunk = np.asarray(rows, np.float32)
    errors = row_errors(chunk)
    bad = np.array([e is not None for e in errors])
    if bad.any():
        chunk = np.where(bad[:, None], np.float32(0.0), chunk)
    return chunk, errors


def infer(spectra: Any, *, model: str | os.PathLike | TrainedModel | None = None,
          key: jax.Array | None = None, progress: bool | None = None,
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
      key: optional PRNG key: P(K) is then averaged over 32 trajectories whose peaks are
        sampled from the posterior (an estimate of q(K | x), the distribution the stop head was
        trained on), rather than read off the posterior-mean trajectory (a plug-in the stop
        head never saw in training, usually at least as confident; `evaluate` reports the
        calibration of both). Also seeds the exactness step's draws.
      progress: show a progress bar over chunks (default: when there are more than 8).
      chunk_size: spectra per device call; the working memory is proportional to it.
      exact: add the exactness step (`peakflow.grid.exact.reweight`): importance-sample the
        exact posterior of the chosen K with the amortized posterior as proposal; summaries
        then come from the Pareto-smoothed weighted draws, and ``post.importance`` holds k̂,
        the effective sample size and which spectra are ``trustworthy`` (k̂ ≤ 0.7).

    Returns:
      A `Posterior`; a single (W,) spectrum gives one without a leading axis.

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
    noise_range = trained.config.sim.noise_max is not None

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        chunk, chunk_errors = read_chunk(rows)
        errors.extend(chunk_errors)
        return chunk, (estimate_noise(chunk).astype(np.float32) if noise_range else None)

    show = -(-array.shape[0] // max(chunk_size, 1)) > 8 if progress is None else progress
    pred = trained.predict(array, read=read, key=key, chunk_size=chunk_size, progress=show)
    report_bad_rows(errors, single)
    post = assemble(pred.q, pred.num_peaks, pred.k_probs, pred.log_lik, errors,
                    trained.num_points)
    if exact:
        post = reweight(post, array, model=trained, key=key)
    return squeeze(post) if single else post
