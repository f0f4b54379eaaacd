"""`peakflow.infer`: spectra in, number of peaks and per-peak posteriors out.

The policy runs once per spectrum along its posterior-mean trajectory (`predict.predict`),
jit-compiled once per padded batch size: batches are padded up to a power of two (at least 8)
and processed in chunks of at most `CHUNK` spectra, so calls with different batch sizes reuse
a handful of compiled programs.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.checkpoint import load_params
from peakflow.config import Config
from peakflow.model import PARAMETERS, Peaks, log_likelihood, spectrum
from peakflow.policy import make_policy
from peakflow.predict import Prediction, predict
from peakflow.variational import PeakQ

CHUNK = 1024
DEFAULT_MODEL = Path(__file__).parent / "models" / "default"


class ParamPosterior(NamedTuple):
    """Marginal posterior of one peak parameter: mean and sd, each (..., P)."""

    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class Model:
    """A trained policy ready for inference: configuration, parameters and where it came from."""

    config: Config
    params: Any
    path: str | None = None
    metrics: dict | None = None

    @property
    def num_points(self) -> int:
        """W, the grid length the model takes."""
        return self.config.sim.num_points

    @functools.cached_property
    def _predict(self):
        policy = make_policy(self.config.policy)
        return jax.jit(functools.partial(predict, policy.apply, config=self.config),
                       static_argnames=("num_paths",))

    def predict(self, spectra: np.ndarray, key: jax.Array | None = None,
                num_paths: int = 32) -> Prediction:
        """`predict.predict` on a (B, W) float32 array, padded and chunked; numpy out."""
        outputs = []
        for start in range(0, spectra.shape[0], CHUNK):
            chunk = spectra[start:start + CHUNK]
            size = max(8, 1 << (chunk.shape[0] - 1).bit_length())
            padded = np.zeros((size, spectra.shape[1]), np.float32)
            padded[:chunk.shape[0]] = chunk
            chunk_key = None if key is None else jax.random.fold_in(key, start)
            out = self._predict(self.params, jnp.asarray(padded), key=chunk_key,
                                num_paths=num_paths)
            outputs.append(jax.tree.map(lambda a, n=chunk.shape[0]: np.asarray(a)[:n], out))
        return jax.tree.map(lambda *a: np.concatenate(a), *outputs)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Model:
    config, params, meta = load_params(path)
    return Model(config, params, path, meta.get("metrics"))


def load_model(model: str | os.PathLike | Model | None = None) -> Model:
    """Resolves `model`: None → the bundled default, a path → that checkpoint directory."""
    if isinstance(model, Model):
        return model
    if model is None:
        model = DEFAULT_MODEL
    return _load_cached(str(Path(model).absolute()))


@dataclass(frozen=True)
class Posterior:
    """The amortized posterior of one spectrum (no leading axis) or a batch (leading N).

    Attributes:
      num_peaks: int, () or (N,): the most probable number of peaks (-1 for a bad input row).
      k_probs: (..., K_max+1) probabilities of 0..K_max peaks.
      amplitude, location, width, lorentzian: `ParamPosterior` with (..., P) mean and sd,
        P = K_max; entries beyond each spectrum's own `num_peaks` are NaN. Peaks are sorted
        by location. `location` and `width` are in grid points; `width` is γ, see `fwhm`.
      fitted: (..., W) reconstruction from the posterior means.
      log_likelihood: (...,) Gaussian log-likelihood of `fitted` (nats).
      valid: (...,) bool, False for rows that were not finite (their results are NaN).
      errors: per row, None or the message explaining why the row is invalid.
    """

    num_peaks: np.ndarray
    k_probs: np.ndarray
    amplitude: ParamPosterior
    location: ParamPosterior
    width: ParamPosterior
    lorentzian: ParamPosterior
    fitted: np.ndarray
    log_likelihood: np.ndarray
    valid: np.ndarray
    errors: tuple
    _q: PeakQ

    @property
    def fwhm(self) -> ParamPosterior:
        """FWHM of each peak at its mean shape (mean), with the sd of γ scaled alike."""
        from peakflow.model import fwhm
        ratio = np.asarray(fwhm(jnp.ones_like(self.width.mean), self.lorentzian.mean))
        return ParamPosterior(self.width.mean * ratio, self.width.std * ratio)

    def sample(self, key: jax.Array, n: int) -> Peaks:
        """Draws `n` samples of every peak's parameters from the (mean-field) posterior.

        Returns:
          `Peaks` with fields (n, ..., P); NaN beyond each spectrum's `num_peaks`.
        """
        present = ~np.isnan(self.amplitude.mean)
        q = jax.tree.map(lambda a: jnp.asarray(np.where(present, a, 1.0)), self._q)
        draws = jax.vmap(q.sample)(jax.random.split(key, n))
        return Peaks(*(np.where(present, np.asarray(d), np.nan) for d in draws))

    def __repr__(self) -> str:
        if self.num_peaks.ndim:
            return (f"Posterior(batch of {self.num_peaks.shape[0]} spectra, "
                    f"num_peaks={np.array2string(self.num_peaks, threshold=20)})")
        if not self.valid:
            return f"Posterior(invalid input: {self.errors[0]})"
        probs = "  ".join(f"P(K={k})={p:.3f}" for k, p in enumerate(self.k_probs))
        lines = [f"Posterior: {int(self.num_peaks)} peak(s)   log-likelihood "
                 f"{float(self.log_likelihood):.1f} nats", probs]
        if self.num_peaks > 0:
            header = f"{'peak':>4}  " + "  ".join(f"{p:>20}" for p in PARAMETERS)
            lines.append(header)
            for i in range(int(self.num_peaks)):
                cells = [f"{getattr(self, p).mean[i]:>9.4g} ± {getattr(self, p).std[i]:<8.2g}"
                         for p in PARAMETERS]
                lines.append(f"{i + 1:>4}  " + "  ".join(f"{c:>20}" for c in cells))
        return "\n".join(lines)


def _as_batch(spectra: Any, num_points: int) -> tuple[np.ndarray, bool]:
    """Validates the shape and type of `spectra`; returns (N, W) float32 and whether 1-D."""
    try:
        array = np.asarray(spectra)
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
    single = array.ndim == 1
    return np.atleast_2d(array).astype(np.float32), single


def _row_errors(batch: np.ndarray) -> list[str | None]:
    """Per row: None when finite, else a message counting its NaN and inf values."""
    nan, inf = np.isnan(batch).sum(axis=1), np.isinf(batch).sum(axis=1)
    errors: list[str | None] = [None] * batch.shape[0]
    for i in np.flatnonzero(nan + inf):
        what = " and ".join(s for s in (f"{nan[i]} NaN" if nan[i] else "",
                                        f"{inf[i]} inf" if inf[i] else "") if s)
        errors[i] = f"spectrum contains {what} value(s)"
    return errors


def assemble(q: PeakQ, num_peaks: np.ndarray, k_probs: np.ndarray, spectra: np.ndarray,
             noise: float, errors: list[str | None]) -> Posterior:
    """Builds a batch `Posterior` from per-slot variational parameters.

    Args:
      q: fields (N, P), in any slot order; slots at or beyond `num_peaks` may hold anything.
      num_peaks: (N,) int numbers of peaks.
      k_probs: (N, K+1) probabilities of each number of peaks.
      spectra: (N, W) the spectra (for the fit's log-likelihood).
      noise: the likelihood's noise sd.
      errors: per row, None or why the row is invalid (its results become NaN, K = -1).
    """
    bad = np.array([e is not None for e in errors])
    slots = q.amplitude_mean.shape[-1]
    present = (np.arange(slots)[None, :] < num_peaks[:, None]) & ~bad[:, None]
    order = np.argsort(np.where(present, np.asarray(q.location_mean), np.inf), axis=-1)
    take = lambda a: np.take_along_axis(np.asarray(a, np.float64), order, axis=-1)
    present = np.take_along_axis(present, order, axis=-1)
    q = PeakQ(*(np.where(present, take(a), np.nan) for a in q))
    mean, std = q.mean(), q.std()
    omega = np.arange(spectra.shape[-1], dtype=np.float32)
    filled = Peaks(*(np.where(present, m, 1.0).astype(np.float32) for m in mean))
    fitted = np.asarray(jax.vmap(spectrum, in_axes=(None, 0, 0))(omega, filled, present),
                        np.float64)
    rows = bad.reshape(-1, 1)
    return Posterior(
        num_peaks=np.where(bad, -1, num_peaks).astype(np.int64),
        k_probs=np.where(rows, np.nan, np.asarray(k_probs, np.float64)),
        **{name: ParamPosterior(np.asarray(m), np.asarray(s))
           for name, m, s in zip(PARAMETERS, mean, std)},
        fitted=np.where(rows, np.nan, fitted),
        log_likelihood=np.where(bad, np.nan,
                                np.asarray(log_likelihood(spectra, fitted, noise), np.float64)),
        valid=~bad,
        errors=tuple(errors),
        _q=q,
    )


def validate_spectra(spectra: Any, num_points: int) -> tuple[np.ndarray, bool, list]:
    """Checks `spectra` for `infer`-like entry points.

    Returns:
      (batch (N, W) float32 with bad rows zeroed, whether the input was 1-D, per-row errors).

    Raises:
      TypeError, ValueError: as documented in `infer`.
    """
    batch, single = _as_batch(spectra, num_points)
    errors = _row_errors(batch)
    bad = np.array([e is not None for e in errors])
    if bad.all():
        where = "" if single else f" (all {len(errors)} rows)"
        raise ValueError(f"{errors[0]}{where}; the model needs finite values")
    if bad.any():
        rows = np.flatnonzero(bad)
        warnings.warn(f"{len(rows)} of {len(errors)} spectra are not finite (rows "
                      f"{rows[:10].tolist()}{'...' if len(rows) > 10 else ''}); their results "
                      f"are NaN, see Posterior.errors", RuntimeWarning, stacklevel=3)
    return np.where(bad[:, None], 0.0, batch), single, errors


def infer(spectra: Any, *, model: str | os.PathLike | Model | None = None,
          key: jax.Array | None = None) -> Posterior:
    """Number of peaks and per-peak posteriors of spectra on the model's grid.

    Args:
      spectra: (W,) or (N, W) real array (W = 500 for the default model).
      model: a `Model`, a model or training-checkpoint directory, or None for the bundled
        default model.
      key: optional PRNG key: P(K) is then averaged over 32 trajectories whose peaks are
        sampled from the posterior, rather than read off the posterior-mean trajectory.

    Returns:
      A `Posterior`; a single spectrum gives no leading axis.

    Raises:
      TypeError: non-numeric input.
      ValueError: a wrong shape or length, empty input, a single spectrum with NaN or inf, or
        a batch in which every row has NaN or inf. In a batch with some such rows the other
        rows are still fitted; the bad rows come back with ``valid`` False, NaN results and
        their reason in ``errors`` (and a warning is issued).
    """
    mdl = load_model(model)
    batch, single, errors = validate_spectra(spectra, mdl.num_points)
    pred = mdl.predict(batch, key=key)
    post = assemble(pred.q, pred.num_peaks, pred.k_probs, batch, mdl.config.sim.noise, errors)
    return squeeze(post) if single else post


def squeeze(post: Posterior) -> Posterior:
    """The single-spectrum view of a batch posterior of one row."""
    fields = {name: jax.tree.map(lambda a: a[0], getattr(post, name),
                                 is_leaf=lambda x: isinstance(x, np.ndarray))
              for name in post.__dataclass_fields__ if name != "errors"}
    return Posterior(errors=post.errors, **fields)
