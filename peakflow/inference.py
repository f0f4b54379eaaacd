"""`peakflow.infer`: spectra in, number of peaks and per-peak posteriors out.

The policy runs once per spectrum along its posterior-mean trajectory (`predict.predict`).
Inputs stream through in chunks of at most `CHUNK` spectra: each chunk is read (a
memory-mapped ``.npy`` is never loaded whole), checked, padded to a power of two (at least 8
and a multiple of the device count, so a handful of compiled programs serve every batch size),
split over all local devices with `jax.sharding`, and its results copied back. Host memory
therefore grows with N·K_max, not N·W: the fitted curves are computed only when asked for.
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
from tqdm import tqdm

from peakflow.checkpoint import load_params
from peakflow.config import Config
from peakflow.devices import batch_sharding, data_mesh, replicated
from peakflow.io import Spectrum
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

    @functools.cached_property
    def mesh(self):
        """The data-parallel mesh over all local devices."""
        return data_mesh()

    @functools.cached_property
    def _device_params(self):
        return jax.device_put(self.params, replicated(self.mesh))

    def chunk_size(self, n: int) -> int:
        """Padded size of a chunk of `n` spectra: a power of two, >= 8 and the device count."""
        devices = self.mesh.devices.size
        size = max(8, devices, 1 << (max(n, 1) - 1).bit_length())
        return -(-size // devices) * devices

    def predict_chunk(self, chunk: np.ndarray, key: jax.Array | None = None,
                      num_paths: int = 32, pad_to: int | None = None,
                      noise: np.ndarray | None = None) -> Prediction:
        """`predict.predict` on one (B, W) float32 chunk, sharded over the devices.

        Args:
          chunk: (B, W) spectra on the model's grid.
          key, num_paths: as in `predict.predict`.
          pad_to: pad the batch to at least this many rows (one compiled program per size).
          noise: (B,) noise sd of each spectrum; None: the model's fixed level.

        Returns:
          The `Prediction` as numpy arrays, except ``fitted`` (None: not copied back).
        """
        n = chunk.shape[0]
        padded = np.zeros((self.chunk_size(max(n, pad_to or 0)), chunk.shape[1]), np.float32)
        padded[:n] = chunk
        levels = np.full(padded.shape[0], self.config.sim.noise, np.float32)
        if noise is not None:
            levels[:n] = noise
        sharding = batch_sharding(self.mesh)
        spectra = jax.device_put(padded, sharding)
        levels = jax.device_put(levels, sharding)
        out = self._predict(self._device_params, spectra, key=key, num_paths=num_paths,
                            noise=levels)
        return jax.tree.map(lambda a: np.asarray(a)[:n], out._replace(fitted=None))


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
      log_likelihood: (...,) Gaussian log-likelihood of `fitted` (nats).
      valid: (...,) bool, False for rows that were not finite (their results are NaN).
      errors: per row, None or the message explaining why the row is invalid.
      num_points: W, the grid length.
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
    _q: PeakQ

    @functools.cached_property
    def fitted(self) -> np.ndarray:
        """(..., W) reconstruction from the posterior means (computed on first access)."""
        curves = fitted_curves(self.mean(), self.num_points)
        return np.where(np.asarray(self.valid)[..., None], curves, np.float32(np.nan))

    def mean(self) -> Peaks:
        """Posterior means as `Peaks` with fields (..., P)."""
        return Peaks(*(getattr(self, name).mean for name in PARAMETERS))

    def std(self) -> Peaks:
        """Posterior sds as `Peaks` with fields (..., P)."""
        return Peaks(*(getattr(self, name).std for name in PARAMETERS))

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


_curves = jax.jit(jax.vmap(spectrum, in_axes=(None, 0, 0)))


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
    size = min(CHUNK, max(8, 1 << (max(n, 1) - 1).bit_length()))
    for start in range(0, n, size):
        part = [np.ones((size, slots), np.float32) for _ in Peaks._fields]
        rows = min(size, n - start)
        for dest, src in zip(part, flat):
            dest[:rows] = np.nan_to_num(src[start:start + rows], nan=1.0)
        present = np.zeros((size, slots), bool)
        present[:rows] = ~np.isnan(flat.amplitude[start:start + rows])
        out[start:start + rows] = np.asarray(_curves(omega, Peaks(*part), present))[:rows]
    return out.reshape(lead + (num_points,))


def fit_log_likelihood(spectra: np.ndarray, mean: Peaks, noise: float) -> np.ndarray:
    """(N,) log-likelihood of the fits at `mean` (fields (N, P)) to (N, W) spectra."""
    curves = fitted_curves(mean, spectra.shape[-1])
    return np.asarray(log_likelihood(jnp.asarray(spectra), jnp.asarray(curves), noise))


def assemble(q: PeakQ, num_peaks: np.ndarray, k_probs: np.ndarray, log_lik: np.ndarray,
             errors: list[str | None], num_points: int) -> Posterior:
    """Builds a batch `Posterior` from per-slot variational parameters.

    Args:
      q: fields (N, P), in any slot order; slots at or beyond `num_peaks` may hold anything.
      num_peaks: (N,) int numbers of peaks.
      k_probs: (N, K+1) probabilities of each number of peaks.
      log_lik: (N,) log-likelihood of each posterior-mean fit.
      errors: per row, None or why the row is invalid (its results become NaN, K = -1).
      num_points: W.
    """
    bad = np.array([e is not None for e in errors])
    slots = q.amplitude_mean.shape[-1]
    present = (np.arange(slots)[None, :] < num_peaks[:, None]) & ~bad[:, None]
    order = np.argsort(np.where(present, np.asarray(q.location_mean), np.inf), axis=-1)
    take = lambda a: np.take_along_axis(np.asarray(a, np.float32), order, axis=-1)
    present = np.take_along_axis(present, order, axis=-1)
    q = PeakQ(*(np.where(present, take(a), np.float32(np.nan)) for a in q))
    mean, std = q.mean(), q.std()
    return Posterior(
        num_peaks=np.where(bad, -1, num_peaks).astype(np.int64),
        k_probs=np.where(bad[:, None], np.float32(np.nan), np.asarray(k_probs, np.float32)),
        **{name: ParamPosterior(np.asarray(m), np.asarray(s))
           for name, m, s in zip(PARAMETERS, mean, std)},
        log_likelihood=np.where(bad, np.float32(np.nan), np.asarray(log_lik, np.float32)),
        valid=~bad,
        errors=tuple(errors),
        num_points=num_points,
        _q=q,
    )


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


def read_chunk(array: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, list]:
    """Rows [start, stop) as float32 with non-finite rows zeroed, and their errors."""
    chunk = np.asarray(array[start:stop], np.float32)
    errors = row_errors(chunk)
    bad = np.array([e is not None for e in errors])
    if bad.any():
        chunk = np.where(bad[:, None], np.float32(0.0), chunk)
    return chunk, errors


def grid_noise(chunk: np.ndarray, mdl: Model) -> np.ndarray | None:
    """(B,) noise sds for spectra on a model's grid: None (the model's fixed level) unless the
    model was trained on a range of levels, then each row's robust estimate."""
    if mdl.config.sim.noise_max is None:
        return None
    from peakflow.preprocess import estimate_noise

    return np.array([estimate_noise(row) for row in chunk], np.float32)


def infer(spectra: Any, x: Any = None, *, model: str | os.PathLike | Model | None = None,
          key: jax.Array | None = None, progress: bool | None = None,
          chunk_size: int = CHUNK, **fit_options: Any):
    """Number of peaks and per-peak posteriors of spectra.

    Two uses:

    * ``infer(spectra)``: spectra already on the model's grid (W points, the model's noise
      level; the bundled default model's 500-point simulated setting) → a `Posterior`.
    * ``infer(y, x=axis)``: measured spectra on any axis (any length, spacing, direction,
      baseline, noise level) → a `peakflow.fitting.SpectrumFit` in the caller's units (a list
      of them for an (N, n) `y` sharing `x`), from the bundled real-data model by default.
      A `peakflow.Spectrum` from `read_spectrum` brings its own axis: ``infer(spectrum)``.
      Keyword options are those of `peakflow.fitting.FitOptions` (``baseline``, ``fwhm``,
      ``noise``, ``noise_floor``, ``x_range``, ``tolerance``).

    Args:
      spectra: (W,) or (N, W) real array (W = 500 for the default model); a memory-mapped
        array (``np.load(path, mmap_mode="r")``) is streamed from disk chunk by chunk.
      model: a `Model`, a model or training-checkpoint directory, or None for the bundled
        default model.
      key: optional PRNG key: P(K) is then averaged over 32 trajectories whose peaks are
        sampled from the posterior, rather than read off the posterior-mean trajectory.
      progress: show a progress bar over chunks (default: when there are more than 8).
      chunk_size: spectra per device call; the working memory is proportional to it.
      x: the axis of measured spectra (see above).

    Returns:
      A `Posterior`; a single spectrum gives no leading axis.

    Raises:
      TypeError: non-numeric input.
      ValueError: a wrong shape or length, empty input, a single spectrum with NaN or inf, or
        a batch in which every row has NaN or inf. In a batch with some such rows the other
        rows are still fitted; the bad rows come back with ``valid`` False, NaN results and
        their reason in ``errors`` (and a warning is issued).
    """
    if isinstance(spectra, Spectrum):  # from read_spectrum: it carries its own axis
        spectra, x = spectra.y, spectra.x if x is None else x
    if x is not None:
        from peakflow.fitting import FitOptions, fit_spectra, fit_spectrum

        if np.ndim(spectra) == 2:
            return fit_spectra([(x, row) for row in np.asarray(spectra)], model=model,
                               options=FitOptions(**fit_options))
        return fit_spectrum(spectra, x, model=model, **fit_options)
    if fit_options:
        raise TypeError(f"options {sorted(fit_options)} need the axis x (infer(y, x=...))")
    mdl = load_model(model)
    array, single = check_input(spectra, mdl.num_points)
    n, k_max = array.shape[0], mdl.config.model.k_max
    q = PeakQ(*(np.empty((n, k_max), np.float32) for _ in PeakQ._fields))
    num_peaks = np.empty(n, np.int64)
    k_probs = np.empty((n, k_max + 1), np.float32)
    log_lik = np.empty(n, np.float32)
    errors: list[str | None] = []
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    starts = range(0, n, chunk_size)
    show = len(starts) > 8 if progress is None else progress
    for start in tqdm(starts, desc="infer", unit="chunk", disable=not show):
        chunk, chunk_errors = read_chunk(array, start, start + chunk_size)
        errors.extend(chunk_errors)
        chunk_key = None if key is None else jax.random.fold_in(key, start)
        # every chunk of a long input has one padded size, so one program serves them all
        pred = mdl.predict_chunk(chunk, key=chunk_key,
                                 pad_to=chunk_size if n > chunk_size else None,
                                 noise=grid_noise(chunk, mdl))
        rows = slice(start, start + chunk.shape[0])
        for name in PeakQ._fields:
            getattr(q, name)[rows] = getattr(pred.q, name)
        num_peaks[rows], k_probs[rows], log_lik[rows] = pred.num_peaks, pred.k_probs, pred.log_lik
    report_bad_rows(errors, single)
    post = assemble(q, num_peaks, k_probs, log_lik, errors, mdl.num_points)
    return squeeze(post) if single else post


def _reshape(post: Posterior, fn) -> Posterior:
    fields = {name: jax.tree.map(fn, getattr(post, name))
              for name in ("num_peaks", "k_probs", *PARAMETERS, "log_likelihood", "valid", "_q")}
    return Posterior(errors=post.errors, num_points=post.num_points, **fields)


def squeeze(post: Posterior) -> Posterior:
    """The single-spectrum view of a batch posterior of one row."""
    return _reshape(post, lambda a: np.asarray(a)[0])


def unsqueeze(post: Posterior) -> Posterior:
    """The batch view (leading axis of 1) of a single-spectrum posterior."""
    return _reshape(post, lambda a: np.asarray(a)[None])
