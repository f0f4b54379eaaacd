"""A grid `Posterior` in the tables and containers other tools read: a pandas DataFrame (one
row per found peak) and an ArviZ `InferenceData` (draws per peak slot, and of K), so that
``az.summary`` and ``az.plot_posterior`` work on amortized posteriors."""

from __future__ import annotations

import jax
import numpy as np

from peakflow.core.lineshape import PARAMETERS, fwhm_ratio
from peakflow.core.seeds import Seed, as_key

DRAWS = 500


def _batched(post) -> tuple[np.ndarray, np.ndarray]:
    """(num_peaks (N,), k_probs (N, K+1)) with a leading spectrum axis (N = 1 for a single
    spectrum)."""
    return np.atleast_1d(np.asarray(post.num_peaks)), np.atleast_2d(np.asarray(post.k_probs))


def posterior_to_dataframe(post):
    """One row per found peak: ``spectrum`` (row index), ``peak`` (slot), the mean and sd
    of amplitude, location, width (γ), lorentzian (η) and FWHM, ``num_peaks`` and
    ``p_num_peaks`` (the posterior probability of that count). Invalid rows add no peaks."""
    import pandas as pd

    num_peaks, k_probs = _batched(post)
    columns = {}
    for name in (*PARAMETERS, "fwhm"):
        summary = getattr(post, name)
        columns[name] = np.atleast_2d(summary.mean)
        columns[f"{name}_sd"] = np.atleast_2d(summary.sd)
    rows, slots = np.nonzero(np.arange(columns["amplitude"].shape[1])[None]
                             < np.maximum(num_peaks, 0)[:, None])
    frame = pd.DataFrame({"spectrum": rows, "peak": slots,
                          **{k: v[rows, slots] for k, v in columns.items()}})
    frame["num_peaks"] = num_peaks[rows]
    frame["p_num_peaks"] = k_probs[rows, num_peaks[rows]]
    return frame


def posterior_to_inference_data(post, n: int = DRAWS, *, seed: Seed = 0):
    """`n` joint draws of every found peak (`Posterior.sample`) and of K as an ArviZ
    `InferenceData` (one chain).

    Posterior variables ``amplitude``, ``location``, ``width``, ``lorentzian``, ``fwhm``
    have dims (chain, draw, spectrum, slot), NaN beyond a spectrum's number of peaks; ``K``
    has dims (chain, draw, spectrum), drawn from P(K) (the peaks are those of the most
    probable K, so K's draws are not paired with the peaks'); -1 for a row that was not a
    valid spectrum (its peaks are all NaN), as ``num_peaks`` says. Observed data: nothing.
    """
    import arviz as az

    peak_key, k_key = jax.random.split(as_key(seed))
    num_peaks, k_probs = _batched(post)
    sampled = post.sample(n, seed=peak_key)                     # fields (n, [N,] P)
    values = {name: np.asarray(getattr(sampled, name)) for name in PARAMETERS}
    values["fwhm"] = values["width"] * fwhm_ratio(np.clip(values["lorentzian"], 0, 1), np)
    if values["amplitude"].ndim == 2:                           # a single spectrum
        values = {k: v[:, None] for k, v in values.items()}
    valid = np.all(np.isfinite(k_probs), axis=-1)               # invalid rows: K = -1
    counts = np.asarray(jax.random.categorical(
        k_key, np.log(np.maximum(np.nan_to_num(k_probs), 1e-30)),
        shape=(n, k_probs.shape[0])))
    counts = np.where(valid[None], counts, -1)
    posterior = {k: v[None] for k, v in values.items()}
    posterior["K"] = counts[None]
    dims = {name: ["spectrum", "slot"] for name in values} | {"K": ["spectrum"]}
    return az.from_dict(posterior=posterior, dims=dims,
                        coords={"spectrum": np.arange(k_probs.shape[0]),
                                "slot": np.arange(values["amplitude"].shape[-1])})
