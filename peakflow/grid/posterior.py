"""The amortized posterior of spectra on a model's grid: `Posterior` and how it is built.

A `Posterior` holds, per spectrum, P(K) and the variational q of each peak slot (mean-field or
correlated), with peaks sorted by location and slots beyond the most probable K set to NaN;
fitted curves are computed only when asked for, so a posterior of 10^6 spectra costs
O(N·K_max) memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.heads import VariationalQ
from peakflow.core.likelihood import log_likelihood
from peakflow.core.lineshape import PARAMETERS, Peaks, fwhm_ratio, peak_sum, slot_mask
from peakflow.core.seeds import Seed, as_key
from peakflow.grid.weighted import Importance, resample, weighted_interval, weighted_summaries
from peakflow.runtime.trained import CHUNK_SIZE


class ParamPosterior(NamedTuple):
    """Marginal posterior of one peak parameter: mean and sd, each (..., P)."""

    mean: np.ndarray
    sd: np.ndarray


@dataclass(frozen=True)
class Posterior:
    """The amortized posterior of one spectrum (no leading axis) or a batch (leading N).

    Attributes:
      num_peaks: int, () or (N,): the most probable number of peaks (-1 for a bad input row).
      k_probs: (..., K_max+1) probabilities of 0..K_max peaks.
      amplitude, location, width, lorentzian: `ParamPosterior` with (..., P) mean and sd,
        P = K_max; entries beyond each spectrum's own `num_peaks` are NaN. Peaks are sorted
        by location. `location` and `width` are in grid points; `width` is γ, see `fwhm`.
        Each slot's q is the one the policy gives along the posterior-mean trajectory (the
        earlier peaks subtracted at their means), so its sds are conditional on the earlier
        peaks: the trained q_k reads a residual with the earlier peaks sampled, whose spread
        adds to the marginal sd (little for well-separated peaks, more for blends: measured
        on the broad preset by `peakflow.experiments.trajectories`, the marginal sd over 32
        sampled trajectories is 1.00-1.05× the reported one for isolated peaks and up to
        1.2-1.3× for amplitude and width in blends). The exactness step (`reweight`) scores
        the joint draws against the exact posterior.
      correlation: (property, computed on first access) (..., P, 4, 4) correlation matrix of
        each peak's (α, c, γ, η): under q the identity for the mean-field family, for the
        correlated family that of (log α, c, log γ, logit η) (θ's to first order in the sds);
        after the exactness step that of the weighted draws.
      log_likelihood: (...,) Gaussian log-likelihood of `fitted` (nats).
      valid: (...,) bool, False for rows that were not finite (their results are NaN).
      errors: per row, None or the message explaining why the row is invalid.
      num_points: W, the grid length.
      chi2: (...,) reduced χ² of `fitted` (mean squared residual in units of the noise sd the
        model assumes; ~1 for a spectrum the model describes, > 4 is flagged by `infer`);
        None when not computed.
      q: each peak slot's variational posterior (`PeakQ` or `CorrelatedQ`), fields
        (..., P), sorted like the summaries; what `sample`, `interval` and the exactness step
        draw from.
      importance: None for the amortized posterior; after the exactness step
        (`peakflow.grid.exactness.reweight`, ``infer(..., exact=True)``) the weighted draws, k̂ and
        effective sample size, and the summaries above come from those draws.
    """

    num_peaks: np.ndarray
    k_probs: np.ndarray
    amplitude: ParamPosterior
    location: ParamPosterior
    width: ParamPosterior
    lorentzian: ParamPosterior
    log_likelihood: np.ndarray
    valid: np.ndarray
    errors: tuple
    num_points: int
    q: VariationalQ
    importance: Importance | None = None
    chi2: np.ndarray | None = None

    @functools.cached_property
    def fitted(self) -> np.ndarray:
        """(..., W) reconstruction from the posterior means (computed on first access)."""
        curves = fitted_curves(self.mean(), self.num_points)
        return np.where(np.asarray(self.valid)[..., None], curves, np.float32(np.nan))

    @functools.cached_property
    def correlation(self) -> np.ndarray:
        """(..., P, 4, 4) per-peak correlation of (α, c, γ, η); see the class docstring."""
        if self.importance is None:
            return np.asarray(self.q.correlation(), np.float32)
        if self.num_peaks.ndim:
            return weighted_summaries(self.importance.draws, self.importance.log_weights)[2]
        return unsqueeze(self).correlation[0]

    def mean(self) -> Peaks:
        """Posterior means as `Peaks` with fields (..., P)."""
        return Peaks(*(getattr(self, name).mean for name in PARAMETERS))

    def sd(self) -> Peaks:
        """Posterior sds as `Peaks` with fields (..., P)."""
        return Peaks(*(getattr(self, name).sd for name in PARAMETERS))

    @property
    def fwhm(self) -> ParamPosterior:
        """FWHM of each peak at its mean shape (mean), with the sd of γ scaled alike."""
        ratio = fwhm_ratio(self.lorentzian.mean, np)
        return ParamPosterior(self.width.mean * ratio, self.width.sd * ratio)

    def interval(self, level: float) -> tuple[Peaks, Peaks]:
        """Central `level` credible intervals of every parameter: (lo, hi) `Peaks` (..., P).

        Exact quantiles of q, or weighted quantiles of the draws after the exactness step.
        """
        if self.importance is not None:
            return weighted_interval(self.importance.draws, self.importance.log_weights, level)
        return self.q.interval(level)

    def sample(self, n: int, *, seed: Seed = 0) -> Peaks:
        """Draws `n` samples of every peak's parameters from q (or, after the exactness step,
        resamples the weighted draws); `seed` is an int or a JAX PRNG key.

        Each peak's four parameters are drawn jointly (with their correlation, for the
        correlated family); different peaks are drawn independently, each from its q along
        the posterior-mean trajectory.

        Returns:
          `Peaks` with fields (n, ..., P); NaN beyond each spectrum's `num_peaks`.
        """
        key = as_key(seed)
        if self.importance is not None:
            return resample(self.importance, key, n)
        present = ~np.isnan(self.amplitude.mean)
        q = jax.tree.map(lambda a: jnp.asarray(np.nan_to_num(a, nan=1.0)), self.q)
        draws = jax.vmap(q.sample)(jax.random.split(key, n))
        return Peaks(*(np.where(present, np.asarray(d), np.nan) for d in draws))

    def to_dataframe(self):
        """pandas: one row per found peak with the spectrum's index, means and sds
        (`peakflow.grid.export.posterior_to_dataframe`)."""
        from peakflow.grid.export import posterior_to_dataframe

        return posterior_to_dataframe(self)

    def to_inference_data(self, n: int = 500, *, seed: Seed = 0):
        """ArviZ `InferenceData` of `n` draws per peak slot and of K
        (`peakflow.grid.export.posterior_to_inference_data`)."""
        from peakflow.grid.export import posterior_to_inference_data

        return posterior_to_inference_data(self, n, seed=seed)

    def _repr_html_(self) -> str:
        """Notebook display: figure and table (`peakflow.grid.posterior_view.posterior_html`)."""
        from peakflow.grid.posterior_view import posterior_html

        return posterior_html(self)

    def __repr__(self) -> str:
        if self.num_peaks.ndim:
            return (f"Posterior(batch of {self.num_peaks.shape[0]} spectra, "
                    f"num_peaks={np.array2string(self.num_peaks, threshold=20)})")
        if not self.valid:
            return f"Posterior(invalid input: {self.errors[0]})"
        probs = "  ".join(f"P(K={k})={p:.3f}" for k, p in enumerate(self.k_probs))
        fit = "" if self.chi2 is None else f"   reduced χ² {float(self.chi2):.2f}"
        lines = [f"Posterior: {int(self.num_peaks)} peak(s)   log-likelihood "
                 f"{float(self.log_likelihood):.1f} nats{fit}", probs]
        if self.num_peaks > 0:
            header = f"{'peak':>4}  " + "  ".join(f"{p:>20}" for p in PARAMETERS)
            lines.append(header)
            for i in range(int(self.num_peaks)):
                cells = [f"{getattr(self, p).mean[i]:>9.4g} ± {getattr(self, p).sd[i]:<8.2g}"
                         for p in PARAMETERS]
                lines.append(f"{i + 1:>4}  " + "  ".join(f"{c:>20}" for c in cells))
        return "\n".join(lines)


_curves = jax.jit(jax.vmap(peak_sum, in_axes=(None, 0, 0)))


def fitted_curves(mean: Peaks, num_points: int) -> np.ndarray:
    """Sum of the peaks at `mean` (fields (..., P), NaN for absent peaks) on the grid 0..W-1.

    Returns:
      (..., W) float32 curves (absent peaks contribute zero), computed in padded chunks.
    """
    lead = np.shape(mean.amplitude)[:-1]
    flat = Peaks(*(np.reshape(m, (-1, np.shape(m)[-1])) for m in mean))
    n, slots = flat.amplitude.shape
    omega = np.arange(num_points, dtype=np.float32)
    out = np.empty((n, num_points), np.float32)
    size = min(CHUNK_SIZE, max(8, 1 << (max(n, 1) - 1).bit_length()))
    for start in range(0, n, size):
        part = [np.ones((size, slots), np.float32) for _ in Peaks._fields]
        rows = min(size, n - start)
        for dest, src in zip(part, flat):
            dest[:rows] = np.nan_to_num(src[start:start + rows], nan=1.0)
        present = np.zeros((size, slots), bool)
        present[:rows] = ~np.isnan(flat.amplitude[start:start + rows])
        out[start:start + rows] = np.asarray(_curves(omega, Peaks(*part), present))[:rows]
    return out.reshape(lead + (num_points,))


def fit_log_likelihood(spectra: np.ndarray, mean: Peaks, noise: float | np.ndarray
                       ) -> np.ndarray:
    """(N,) log-likelihood of the fits at `mean` (fields (N, P)) to (N, W) spectra."""
    curves = fitted_curves(mean, spectra.shape[-1])
    return np.asarray(log_likelihood(jnp.asarray(spectra), jnp.asarray(curves),
                                     jnp.asarray(noise)))


SORT_ROWS = 65536  # rows sorted at a time (bounded temporaries for huge batches)


def _sort_slots(a: np.ndarray, order: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Slots of `a` (N, P, ...) in `order` (N, P), NaN where not `present` (N, P).

    Sorts in place, block by block, when `a` is a writable float32 array (the prediction
    loop's own buffers), so a million-spectrum posterior is not held twice.
    """
    a = np.asarray(a)
    if a.dtype != np.float32 or not a.flags.writeable:
        a = a.astype(np.float32)
    extra = (1,) * (a.ndim - 2)
    for start in range(0, a.shape[0], SORT_ROWS):
        rows = slice(start, start + SORT_ROWS)
        taken = np.take_along_axis(a[rows], order[rows].reshape(order[rows].shape + extra),
                                   axis=1)
        a[rows] = np.where(present[rows].reshape(present[rows].shape + extra), taken, np.nan)
    return a


def posterior_from_slots(q: VariationalQ, num_peaks: np.ndarray, k_probs: np.ndarray,
                         log_lik: np.ndarray, errors: list[str | None],
                         num_points: int) -> Posterior:
    """Builds a batch `Posterior` from per-slot variational parameters.

    Args:
      q: fields (N, P, ...), in any slot order; slots at or beyond `num_peaks` may hold anything.
      num_peaks: (N,) int numbers of peaks.
      k_probs: (N, K+1) probabilities of each number of peaks.
      log_lik: (N,) log-likelihood of each posterior-mean fit.
      errors: per row, None or why the row is invalid (its results become NaN, K = -1).
      num_points: W.
    """
    bad = np.array([e is not None for e in errors])
    q = jax.tree.map(np.asarray, q)
    location = np.asarray(q.mean().location)
    present = slot_mask(num_peaks, location.shape[-1]) & ~bad[:, None]
    order = np.argsort(np.where(present, location, np.inf), axis=-1)
    present = np.take_along_axis(present, order, axis=-1)
    q = type(q)(*(_sort_slots(np.asarray(a), order, present) for a in q))
    mean, std = q.mean(), q.sd()
    return Posterior(
        num_peaks=np.where(bad, -1, num_peaks).astype(np.int64),
        k_probs=np.where(bad[:, None], np.float32(np.nan), np.asarray(k_probs, np.float32)),
        **{name: ParamPosterior(np.asarray(m), np.asarray(s))  # type: ignore[arg-type]
           for name, m, s in zip(PARAMETERS, mean, std)},
        log_likelihood=np.where(bad, np.float32(np.nan), np.asarray(log_lik, np.float32)),
        valid=~bad,
        errors=tuple(errors),
        num_points=num_points,
        q=q,
    )


def _reshape(post: Posterior, fn) -> Posterior:
    fields = {name: jax.tree.map(fn, getattr(post, name))
              for name in ("num_peaks", "k_probs", *PARAMETERS, "log_likelihood", "valid", "q",
                           "importance", "chi2")}
    return Posterior(errors=post.errors, num_points=post.num_points, **fields)


def squeeze(post: Posterior) -> Posterior:
    """The single-spectrum view of a batch posterior of one row."""
    return _reshape(post, lambda a: np.asarray(a)[0])


def unsqueeze(post: Posterior) -> Posterior:
    """The batch view (leading axis of 1) of a single-spectrum posterior."""
    return _reshape(post, lambda a: np.asarray(a)[None])
