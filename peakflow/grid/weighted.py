"""Summaries of the exactness step's weighted draws (`Importance`): moments, intervals,
resampling."""

from __future__ import annotations

import jax
import numpy as np

from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.runtime.reweighting import Importance


def weighted_summaries(draws: Peaks, log_weights: np.ndarray
                       ) -> tuple[Peaks, Peaks, np.ndarray]:
    """Weighted means, sds and (α, c, γ, η) correlation matrices.

    Args:
      draws: fields (N, S, P); log_weights: (N, S) normalised.

    Returns:
      (mean, std) `Peaks` with fields (N, P) and the (N, P, 4, 4) correlation.
    """
    w = np.exp(log_weights)[..., None]  # (N, S, 1)
    stacked = np.stack([np.asarray(d, np.float64) for d in draws], axis=-1)  # (N, S, P, 4)
    mean = np.sum(w[..., None] * stacked, axis=1)
    centred = stacked - mean[:, None]
    cov = np.einsum("ns,nspi,nspj->npij", w[..., 0], centred, centred)
    sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=-2, axis2=-1), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (sd[..., :, None] * sd[..., None, :])
    split = lambda a: Peaks(*(a[..., i].astype(np.float32) for i in range(len(PARAMETERS))))
    return split(mean), split(sd), corr.astype(np.float32)


def weighted_interval(draws: Peaks, log_weights: np.ndarray, level: float
                      ) -> tuple[Peaks, Peaks]:
    """Central `level` interval of each parameter from weighted draws (fields (..., S, P))."""
    w = np.exp(log_weights)
    tails = ((1.0 - level) / 2.0, (1.0 + level) / 2.0)
    ends = ([], [])
    for values in draws:
        values = np.asarray(values)
        order = np.argsort(values, axis=-2)
        cdf = np.cumsum(np.take_along_axis(np.broadcast_to(w[..., None], values.shape),
                                           order, axis=-2), axis=-2)
        sorted_values = np.take_along_axis(values, order, axis=-2)
        for end, tail in zip(ends, tails):
            index = np.minimum(np.sum(cdf < tail, axis=-2, keepdims=True), values.shape[-2] - 1)
            end.append(np.take_along_axis(sorted_values, index, axis=-2)[..., 0, :])
    return Peaks(*ends[0]), Peaks(*ends[1])


def resample(record: Importance, key: jax.Array, n: int) -> Peaks:
    """`n` draws per spectrum resampled by weight: fields (n, ..., P)."""
    lead = record.log_weights.shape[:-1]
    logits = np.nan_to_num(record.log_weights.reshape(-1, record.log_weights.shape[-1]),
                           nan=0.0)
    index = np.asarray(jax.random.categorical(key, logits, shape=(n, logits.shape[0])))
    rows = np.arange(logits.shape[0])[None, :]
    pick = lambda d: np.asarray(d).reshape((-1,) + np.shape(d)[-2:])[rows, index]
    return Peaks(*(pick(d).reshape((n,) + lead + np.shape(d)[-1:]) for d in record.draws))
