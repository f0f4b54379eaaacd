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
from peakflow.model import PARAMETERS, Peaks
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
    errors = []
    for row in batch:
        nan, inf = int(np.isnan(row).sum()), int(np.isinf(row).sum())
        if nan or inf:
            what = " and ".join(s for s in (f"{nan} NaN" if nan else "",
                                            f"{inf} inf" if inf else "") if s)
            errors.append(f"spectrum contains {what} value(s)")
        else:
            errors.append(None)
    return errors


def _sorted_posterior(pred: Prediction, k_max: int) -> tuple[dict, PeakQ]:
    """Masks slots beyond num_peaks with NaN and sorts the rest by location."""
    present = np.arange(k_max)[None, :] < pred.num_peaks[:, None]
    order = np.argsort(np.where(present, pred.q.location_mean, np.inf), axis=-1)
    take = lambda a: np.take_along_axis(np.asarray(a, np.float64), order, axis=-1)
    q = PeakQ(*(take(a) for a in pred.q))
    present = np.take_along_axis(present, order, axis=-1)
    mean, std = q.mean(), q.std()
    params = {name: ParamPosterior(np.where(present, np.asarray(m), np.nan),
                                   np.where(present, np.asarray(s), np.nan))
              for name, m, s in zip(PARAMETERS, mean, std)}
    return params, q


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
    batch, single = _as_batch(spectra, mdl.num_points)
    errors = _row_errors(batch)
    bad = np.array([e is not None for e in errors])
    if bad.all():
        where = "" if single else f" (all {len(errors)} rows)"
        raise ValueError(f"{errors[0]}{where}; the model needs finite values")
    if bad.any():
        rows = np.flatnonzero(bad)
        warnings.warn(f"{len(rows)} of {len(errors)} spectra are not finite (rows "
                      f"{rows[:10].tolist()}{'...' if len(rows) > 10 else ''}); their results "
                      f"are NaN, see Posterior.errors", RuntimeWarning, stacklevel=2)
    pred = mdl.predict(np.where(bad[:, None], 0.0, batch), key=key)
    params, q = _sorted_posterior(pred, mdl.config.model.k_max)

    def clean(a, fill=np.nan):
        a = np.asarray(a, np.float64 if fill is np.nan else a.dtype)
        return np.where(bad.reshape((-1,) + (1,) * (a.ndim - 1)), fill, a)

    post = Posterior(
        num_peaks=clean(pred.num_peaks.astype(np.int64), fill=-1),
        k_probs=clean(pred.k_probs),
        **{name: ParamPosterior(clean(p.mean), clean(p.std)) for name, p in params.items()},
        fitted=clean(pred.fitted),
        log_likelihood=clean(pred.log_lik),
        valid=~bad,
        errors=tuple(errors),
        _q=PeakQ(*(clean(a) for a in q)),
    )
    return _squeeze(post) if single else post


def _squeeze(post: Posterior) -> Posterior:
    fields = {name: jax.tree.map(lambda a: a[0], getattr(post, name),
                                 is_leaf=lambda x: isinstance(x, np.ndarray))
              for name in post.__dataclass_fields__ if name != "errors"}
    return Posterior(errors=post.errors, **fields)
