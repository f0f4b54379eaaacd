"""A trained model at run time: loading it, and batched prediction for both inference paths.

`TrainedModel.predict` is the one loop that feeds spectra to the policy, used by the grid path
(`peakflow.infer`) and the measured-spectrum path (`peakflow.fit`) alike: the input is read in
chunks of at most `chunk_size` rows (a memory-mapped ``.npy`` is never loaded whole), each
chunk is padded to a power of two (at least `min_batch` and a multiple of the device count, so
a handful of compiled programs serve every batch size), split over all local devices with
`jax.sharding`, and its results are copied back into preallocated host arrays. Host memory
therefore grows with N·K_max, not N·W.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from peakflow.config import Config
from peakflow.core.amortized import (
    Prediction,
    advance_rows,
    amortized_posterior,
    start_residual,
    summarise,
)
from peakflow.core.buckets import bucket_size, ladder, ladder_size, padded_pieces
from peakflow.core.heads import decode_heads, num_raw
from peakflow.core.policy import make_policy
from peakflow.core.sharding import batch_sharding, data_mesh, replicated
from peakflow.core.signal import estimate_noise
from peakflow.runtime.checkpoint import load_params
from peakflow.runtime.compile_cache import enable_compile_cache
from peakflow.runtime.saved_programs import Saved
from peakflow.runtime.sd_scale import read_sd_scale

MODELS = Path(__file__).resolve().parents[1] / "models"
GRID_MODEL = MODELS / "default"  # the paper's 500-point setting (`peakflow.infer`)
MEASURED_MODEL = MODELS / "broad"      # measured spectra (`peakflow.fit`)
CHUNK_SIZE = 1024                   # spectra (or windows) per device call
EARLY_EXIT = 1e-4   # a row's mean rollout stops once P(K > the steps taken) < this
EARLY_MIN_K = 6     # models with fewer slots always run every step
PROGRESS_MIN_CHUNKS = 8  # ``progress=None`` shows a bar for work of more chunks than this


def show_progress(progress: bool | None, chunks: int) -> bool:
    """The one ``progress`` convention of peakflow's long calls: True or False as given; None
    (the default): a bar when the work spans more than `PROGRESS_MIN_CHUNKS` chunks."""
    return chunks > PROGRESS_MIN_CHUNKS if progress is None else bool(progress)

# (chunk (B, W) as read) -> (float32 (B, W) ready for the policy, noise sd (B,) or None)
ChunkReader = Callable[[np.ndarray], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class TrainedModel:
    """A trained policy ready for inference: configuration, parameters and where it came from."""

    config: Config
    params: Any
    path: str | None = None
    metrics: dict | None = None
    sd_scale: tuple[float, ...] | None = None  # (4,) factors of q's sds (`runtime.sd_scale`)

    @property
    def num_points(self) -> int:
        """W, the grid length the model takes."""
        return self.config.sim.num_points

    @property
    def k_max(self) -> int:
        """K_max, the most peaks the policy adds to one spectrum (or window)."""
        return self.config.model.k_max

    def assumed_noise(self, spectra: np.ndarray) -> np.ndarray:
        """(N,) float32 noise sd the model assumes for each of the (N, W) spectra on its grid:
        the trained ``sim.noise``, or estimated per spectrum (`estimate_noise`) for a model
        trained over a range of noise levels (``sim.noise_max`` set)."""
        sim = self.config.sim
        if sim.noise_max is not None:
            return np.asarray(estimate_noise(np.nan_to_num(spectra)), np.float32)
        return np.full(np.shape(spectra)[0], sim.noise, np.float32)

    @functools.cached_property
    def _predict_programs(self) -> dict[int, Saved]:
        return {}

    def _predict(self, num_paths: int) -> Saved:
        """The jitted amortized pass with `num_paths` trajectories (a `Saved` program)."""
        if num_paths not in self._predict_programs:
            apply: Any = make_policy(self.config.policy, self.config.model.family).apply
            self._predict_programs[num_paths] = Saved(
                jax.jit(functools.partial(amortized_posterior, apply, config=self.config,
                                          num_paths=num_paths)),
                "amortized_posterior", (self.config.to_json(), num_paths))
        return self._predict_programs[num_paths]

    @functools.cached_property
    def _stepwise(self):
        """(start residual, advance some rows one step, summarise), each jitted."""
        policy = make_policy(self.config.policy, self.config.model.family)
        static = self.config.to_json()  # what the traces close over
        return (Saved(jax.jit(functools.partial(start_residual, config=self.config)),
                      "start_residual", static),
                Saved(jax.jit(functools.partial(advance_rows, policy.apply, config=self.config)),
                      "advance_rows", static),
                Saved(jax.jit(functools.partial(summarise, config=self.config)), "summarise",
                      static))

    def warm_steps(self, rows: tuple[int, ...] | None = None) -> int:
        """Runs (so compiles, or loads from the caches) the early rollout's programs for every
        chunk size of ``ladder(CHUNK_SIZE)`` (or `rows`) and every piece size up to it: all
        that `predict` on any number of windows can meet. Returns how many programs."""
        start, advance, _ = self._stepwise
        sharding = batch_sharding(self.mesh)
        count = 0
        for size in rows or ladder(CHUNK_SIZE):
            chunk = np.zeros((size, self.num_points), np.float32)
            self.predict_chunk(chunk, pad_to=size)      # start, one step, summarise
            residual = start(jax.device_put(chunk, sharding))
            noise = jax.device_put(np.ones(size, np.float32), sharding)
            for piece in ladder(size)[:-1]:
                advance(self._device_params, residual, noise, np.zeros(piece, np.int32))
            count += 2 + len(ladder(size))
        return count

    def _predict_early(self, spectra: jax.Array, noise: jax.Array, count: int) -> Prediction:
        """The mean-rollout `Prediction`, each row stopping as soon as it has surely stopped.

        Windows of measured spectra mostly hold a few peaks: after each step the rows with
        P(K > steps so far) < `EARLY_EXIT` leave the batch, and only the others (gathered into
        calls of the ladder's row sizes, `peakflow.core.buckets.pieces`, so that a step
        compiles one program per chunk size and piece size) run the next step. Their later
        slots repeat their last one with the stop logit at its bound. Equal to the full
        rollout up to that probability.

        Args:
          spectra: (B, W) the padded chunk; noise: (B,); count: its real rows (the padding
            rows are never advanced).
        """
        start, advance, finish = self._stepwise
        params = self._device_params
        residual = start(spectra)
        alive = np.arange(count)
        log_survival = np.zeros(count)
        taken = []
        for _ in range(self.k_max):
            outs = []
            for rows, n in padded_pieces(alive, spectra.shape[0]):
                residual, out = advance(params, residual, noise, rows.astype(np.int32))
                outs.append(jax.tree.map(lambda a, n=n: np.asarray(a)[:n], out))
            out = jax.tree.map(lambda *parts: np.concatenate(parts), *outs)
            taken.append((alive, out))
            log_survival[alive] -= np.logaddexp(0.0, out[1])  # log(1 - π) = log σ(-logit)
            alive = alive[log_survival[alive] > np.log(EARLY_EXIT)]
            if not alive.size:
                break
        bound = self.config.model.heads.stop_logit_bound
        q, stop_logit, peaks = _stack_slots(taken, spectra.shape[0], self.k_max, bound)
        return finish(q, stop_logit, peaks, spectra, noise=noise)

    @functools.cached_property
    def mesh(self):
        """The data-parallel mesh over all local devices."""
        return data_mesh()

    @functools.cached_property
    def _device_params(self):
        return jax.device_put(self.params, replicated(self.mesh))

    def padded_size(self, n: int, min_batch: int = 8) -> int:
        """Rows a chunk of `n` is padded to: the least power of two or 1.5 times one (so at
        most a third is padding, with two compiled sizes per octave) that is >= `n`,
        `min_batch` and the device count, rounded up to a multiple of the device count."""
        devices = self.mesh.devices.size
        size = bucket_size(n, max(min_batch, devices))
        return -(-size // devices) * devices

    def predict_chunk(self, chunk: np.ndarray, noise: np.ndarray | None = None,
                      key: jax.Array | None = None, num_paths: int = 32,
                      pad_to: int = 8, early_exit: bool = True) -> Prediction:
        """`peakflow.core.amortized.amortized_posterior` on one chunk, sharded over the devices.

        Args:
          chunk: (B, W) float32 spectra on the model's grid.
          noise: (B,) noise sd of each spectrum; None: the model's fixed level.
          key, num_paths: as in `peakflow.core.amortized_posterior`.
          pad_to: pad the batch to `padded_size(max(B, pad_to))` rows (with `early_exit`,
            to the ladder size `peakflow.core.buckets.ladder_size` of max(B, pad_to)).
          early_exit: stop the mean rollout of rows that have surely stopped
            (`_predict_early`; models with K_max >= `EARLY_MIN_K`, without `key`).

        Returns:
          The `Prediction` of the B rows as numpy arrays, except ``fitted`` (None: not
          copied back).
        """
        n = chunk.shape[0]
        early = early_exit and key is None and self.k_max >= EARLY_MIN_K
        # the early rollout advances only real rows, so padding a chunk to the coarse ladder
        # (few sizes: its steps compile one program per chunk size and piece size) costs little
        rows = (ladder_size(max(n, pad_to), max(CHUNK_SIZE, n, pad_to)) if early
                else self.padded_size(max(n, pad_to)))
        padded = np.zeros((-(-rows // self.mesh.devices.size) * self.mesh.devices.size,
                           chunk.shape[1]), np.float32)
        padded[:n] = chunk
        levels = np.full(padded.shape[0], self.config.sim.noise, np.float32)
        if noise is not None:
            levels[:n] = noise
        sharding = batch_sharding(self.mesh)
        padded, levels = jax.device_put(padded, sharding), jax.device_put(levels, sharding)
        if early:
            out = self._predict_early(padded, levels, n)
        else:
            out = self._predict(num_paths)(self._device_params, padded, key=key, noise=levels)
        return jax.tree.map(lambda a: np.asarray(a)[:n], out._replace(fitted=None))

    def predict(self, spectra: Any, *, noise: np.ndarray | None = None,
                read: ChunkReader | None = None, key: jax.Array | None = None,
                chunk_size: int = CHUNK_SIZE, min_batch: int = 8,
                progress: bool | None = None) -> Prediction:
        """The posterior of every row of `spectra`, chunk by chunk.

        Args:
          spectra: (N, W) array-like (a memory-mapped array is read chunk by chunk).
          noise: (N,) noise sd of each row; None: the model's level, or what `read` says.
          read: optional per-chunk preparation (see `ChunkReader`); default: float32 as is.
          key: optional PRNG key (P(K) over sampled trajectories; folded per chunk).
          chunk_size: rows per device call; the working memory is proportional to it.
          min_batch: smallest padded batch (fewer distinct compiled sizes for small calls).
          progress: a progress bar over chunks (`show_progress`; None: when there are many).

        Returns:
          A `Prediction` of numpy arrays with leading axis N (``fitted`` is None).
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        n, k_max = len(spectra), self.k_max
        out = Prediction(k_probs=np.empty((n, k_max + 1), np.float32),
                         num_peaks=np.empty(n, np.int32),
                         q=None, fitted=None,  # type: ignore[arg-type]  # q: set below
                         log_lik=np.empty(n, np.float32))
        fields: dict[str, np.ndarray] = {}
        # every chunk of a long input has one padded size, so one program serves them all
        pad_to = chunk_size if n > chunk_size else min_batch
        starts = range(0, n, chunk_size)
        show = show_progress(progress, len(starts))
        for start in tqdm(starts, desc="predict", unit="chunk", disable=not show):
            stop = min(start + chunk_size, n)
            if read is None:
                chunk, chunk_noise = np.asarray(spectra[start:stop], np.float32), None
            else:
                chunk, chunk_noise = read(spectra[start:stop])
            if noise is not None:
                chunk_noise = noise[start:stop]
            chunk_key = None if key is None else jax.random.fold_in(key, start)
            pred = self.predict_chunk(chunk, chunk_noise, chunk_key, pad_to=pad_to)
            family = type(pred.q)
            for name, value in pred.q._asdict().items():
                fields.setdefault(name, np.empty((n,) + value.shape[1:], value.dtype))
                fields[name][start:stop] = value
            out.k_probs[start:stop] = pred.k_probs
            out.num_peaks[start:stop] = pred.num_peaks
            out.log_lik[start:stop] = pred.log_lik
        if n:
            return out._replace(q=family(**fields))
        # no rows: the family's empty q (decoded eagerly: ~20 small programs, so only here)
        model = self.config.model
        empty, _ = decode_heads(jnp.zeros((0, k_max, num_raw(model.family)), jnp.float32),
                                jnp.zeros((0, k_max), jnp.float32), model.heads, model.family)
        return out._replace(q=jax.tree.map(np.asarray, empty))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> TrainedModel:
    config, params, meta = load_params(path)
    factors = read_sd_scale(path)
    return TrainedModel(config, params, path, meta.get("metrics"),
                        None if factors is None else tuple(factors.tolist()))


def load_model(model: str | os.PathLike | TrainedModel | None = None,
               default: str | os.PathLike = GRID_MODEL) -> TrainedModel:
    """Resolves `model`: a `TrainedModel` as is, a path → that model or checkpoint directory
    (loaded once per process), None → `default` (the bundled grid model). Turns on the
    persistent compilation cache (`peakflow.runtime.compile_cache`) first."""
    enable_compile_cache()  # every entry point loads a model before it compiles anything
    if isinstance(model, TrainedModel):
        return model
    return _load_cached(str(Path(default if model is None else model).absolute()))


def _stack_slots(taken: list, batch: int, k_max: int, bound: float) -> tuple:
    """K_max slots for every row from the steps a stepwise rollout took.

    Args:
      taken: per step, (rows (A,), (q fields (A, ...), stop logit (A,), peaks fields (A,))).
      batch: B, the rows of the chunk; rows never advanced copy row 0 (padding).
      bound: the stop logit given to the slots after a row stopped.

    Returns:
      (q fields (K, B, ...), stop logit (K, B), peaks fields (K, B)) as numpy arrays; a row
      that stopped repeats its last slot's q and peak.
    """
    def with_rows(tree, rows: np.ndarray, new):
        def put(current: np.ndarray, values: np.ndarray) -> np.ndarray:
            current = current.copy()
            current[rows] = values
            return current
        return jax.tree.map(put, tree, new)

    q, _, peaks = jax.tree.map(lambda a: np.repeat(a[:1], batch, axis=0), taken[0][1])
    slots = []
    for k in range(k_max):
        stop_logit = np.full(batch, bound, np.float32)
        if k < len(taken):
            rows, (q_k, stop_k, peaks_k) = taken[k]
            q, peaks = with_rows(q, rows, q_k), with_rows(peaks, rows, peaks_k)
            stop_logit[rows] = stop_k
        slots.append((q, stop_logit, peaks))
    return jax.tree.map(lambda *a: np.stack(a), *slots)
