"""Batched importance sampling of the exact posterior for spectra whose K is chosen, shared by
the grid path's exactness step (`peakflow.grid.exactness`) and the measured path's
(`peakflow.measured.window_exactness`).

Spectra are grouped by their K and each group is sampled with K slots only, in padded chunks
(one compiled program per K and chunk size), so a draw costs K peak profiles rather than the
model's K_max. The weights are smoothed with ArviZ's Pareto-smoothed importance sampling (PSIS),
which also gives the k̂ diagnostic: above `khat_threshold` (0.65 for the 768 draws used
here) the weights cannot be trusted.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.config import Config
from peakflow.core.buckets import bucket_size
from peakflow.core.importance import adaptive_importance_sample
from peakflow.core.lineshape import PARAMETERS, Peaks
from peakflow.runtime.serial import run

NUM_SAMPLES = 768  # the grid model's share of k̂ ≤ threshold: 88.1 % at 512, 91.9 % at 768
ROUNDS = 3
WIDEN = 1.2
DF = 4.0
CHUNK = 128


def khat_threshold(num_samples: int) -> float:
    """PSIS's reliability threshold for k̂ with S draws: min(1 − 1/log₁₀ S, 0.7) (Vehtari et
    al. 2024, "Pareto smoothed importance sampling", §3.2.4); 0.63 at S = 512, 0.65 at 768."""
    return min(1.0 - 1.0 / np.log10(num_samples), 0.7)


KHAT_MAX = khat_threshold(NUM_SAMPLES)  # the threshold at the default number of draws


class Importance(NamedTuple):
    """Importance draws and their PSIS-smoothed weights, for a batch (leading N) or, in a
    single-spectrum `Posterior`, for one spectrum (no leading axis).

    Attributes:
      draws: `Peaks` with fields (..., S, P); NaN in absent slots.
      log_weights: (..., S) normalised smoothed log weights (uniform where the spectrum has no
        peaks; NaN for spectra not fitted).
      khat: (...,) Pareto k̂ of the raw weights (NaN where there was nothing to weigh).
      ess: (...,) effective sample size 1 / Σ w² of the smoothed weights.
    """

    draws: Peaks
    log_weights: np.ndarray
    khat: np.ndarray
    ess: np.ndarray

    @property
    def trustworthy(self) -> np.ndarray:
        """(...,) bool: k̂ ≤ `khat_threshold` of the number of draws, or nothing to
        reweight (no peaks)."""
        finite = np.isfinite(self.log_weights).all(axis=-1)
        return finite & ~(self.khat > khat_threshold(np.shape(self.log_weights)[-1]))


def psis(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ PSIS of (M, S) log weights → (normalised smoothed log weights, k̂ (M,))."""
    import arviz  # noqa: PLC0415  (a heavy import, only needed here)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns per row when k̂ is high; k̂ is returned
        smoothed, khat = arviz.psislw(log_w, reff=1.0)
    return np.asarray(smoothed), np.asarray(khat)


@functools.partial(jax.jit, static_argnames=("config", "num_samples", "rounds", "widen",
                                             "df"))
def _sample_chunk(q, mask, spectra, noise, key, config, num_samples, rounds, widen, df):
    return adaptive_importance_sample(q, mask, spectra, noise, key, config, num_samples, rounds,
                                      widen, df)


def _rows(a: np.ndarray, rows: np.ndarray, size: int, slots: int | None = None) -> jax.Array:
    """`a[rows]` (with `slots`: `a[rows, :slots]`) padded to `size` rows by repeating the last
    (one program per size)."""
    part = np.asarray(a[rows] if slots is None else a[rows, :slots])
    return jnp.asarray(np.concatenate([part, np.repeat(part[-1:], size - len(part), 0)]))


def importance_weights(q, num_peaks: np.ndarray, spectra: np.ndarray, noise: np.ndarray,
                       config: Config, key: jax.Array, num_samples: int = NUM_SAMPLES,
                       rounds: int = ROUNDS, widen: float = WIDEN, df: float | None = DF
                       ) -> Importance:
    """Adaptive importance sampling of each spectrum's exact posterior given its K.

    Args:
      q: the amortized posterior's slots, fields (N, P, ...) (absent slots may hold NaN).
      num_peaks: (N,) K of each spectrum; 0 (or negative) is not sampled.
      spectra: (N, W) in the model's units, or the windows' data points
        (`peakflow.core.likelihood.PointData`, fields (N, ...)); noise: (N,) the noise sd
        the model assumes (unused with data points, whose weights carry it).
      config: the model's configuration (priors, baseline degree).
      key: PRNG key.
      num_samples, rounds, widen, df: as `peakflow.core.importance.adaptive_importance_sample`.

    Returns:
      `Importance` (PSIS-smoothed).
    """
    q = jax.tree.map(lambda a: np.nan_to_num(np.asarray(a, np.float32), nan=1.0), q)
    spectra = jax.tree.map(lambda a: np.nan_to_num(np.asarray(a, np.float32)), spectra)
    noise = np.asarray(noise, np.float32)
    n, slots = np.shape(num_peaks)[0], jax.tree.leaves(q)[0].shape[1]
    draws = [np.full((n, num_samples, slots), np.nan, np.float32) for _ in PARAMETERS]
    log_w = np.zeros((n, num_samples), np.float64)
    present = np.arange(slots) < np.asarray(num_peaks)[:, None]
    for k in range(1, slots + 1):
        rows = np.flatnonzero(num_peaks == k)
        size = min(CHUNK, bucket_size(len(rows), 8, halves=False))
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            take = functools.partial(_rows, rows=part, size=size)
            take_slots = functools.partial(take, slots=k)
            theta, lw = run(_sample_chunk, jax.tree.map(take_slots, q), take_slots(present),
                            jax.tree.map(take, spectra), take(noise),
                            jax.random.fold_in(key, int(part[0])), config, num_samples,
                            rounds, widen, df)
            for dest, value in zip(draws, theta):  # (S, B, K) → (B, S, K)
                dest[part, :, :k] = np.swapaxes(np.asarray(value), 0, 1)[:len(part)]
            log_w[part] = np.asarray(lw, np.float64).T[:len(part)]
    khat, ess = np.full(n, np.nan), np.full(n, float(num_samples))
    smoothed = np.full_like(log_w, -np.log(num_samples))  # uniform where nothing to weigh
    fit = np.flatnonzero(np.asarray(num_peaks) > 0)
    if fit.size:
        smoothed[fit], khat[fit] = psis(log_w[fit])
        ess[fit] = 1.0 / np.sum(np.exp(2.0 * smoothed[fit]), axis=-1)
    return Importance(Peaks(*draws), smoothed, khat, ess)
