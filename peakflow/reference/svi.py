"""Stochastic variational inference with NumPyro, vectorised over spectra (K known).

The guide is the paper's mean field: Normal amplitude, location and width, Beta Lorentzian
fraction; scales and Beta concentrations are kept positive by NumPyro's constraint
transforms (optimised as logs). One `jax.vmap` of NumPyro's pure ``SVI.init``/``SVI.update``
fits every spectrum (and every restart) in a single compiled program; the optimisation runs in
jitted chunks of steps so that progress can be shown between them. The compiled programs are
built once per configuration (`svi_program`) and reused by every later call.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import SVI, Trace_ELBO

from peakflow.config import SimulatorConfig
from peakflow.core.variational import PeakQ
from peakflow.reference.lsq import initial_guesses
from peakflow.reference.numpyro_model import peak_model

STEPS_PER_CALL = 500  # SVI steps per jitted call (progress is reported between calls)


def mean_field_guide(spectrum_obs, num_peaks, init: PeakQ, slots: int, **_) -> None:
    """The mean-field guide, its parameters initialised from `init` (fields (slots,))."""
    active = jnp.arange(slots) < num_peaks
    positive = constraints.positive
    with numpyro.plate("peaks", slots), numpyro.handlers.mask(mask=active):
        for name in ("amplitude", "location", "width"):
            loc = numpyro.param(f"{name}_mean", getattr(init, f"{name}_mean"))
            scale = numpyro.param(f"{name}_sd", getattr(init, f"{name}_sd"), constraint=positive)
            numpyro.sample(name, dist.Normal(loc, scale))
        a = numpyro.param("lorentzian_a", init.lorentzian_a, constraint=positive)
        b = numpyro.param("lorentzian_b", init.lorentzian_b, constraint=positive)
        numpyro.sample("lorentzian", dist.Beta(a, b))


def _model(spectrum_obs, num_peaks, init, slots, noise, sim, prior):
    del init  # the guide's initial values; the model does not use them
    peak_model(spectrum_obs, num_peaks, slots, noise, sim, prior)


def random_init(key: jax.Array, num_spectra: int, slots: int, num_points: int) -> PeakQ:
    """Uninformed initial guides (what plain SVI starts from): locations uniform on the grid,
    amplitude 0.5, width 10, η ~ Beta(1, 1); sds 0.05, 5, 1. Fields (N, slots)."""
    shape = (num_spectra, slots)
    full = lambda v: jnp.full(shape, v, jnp.float32)
    return PeakQ(full(0.5), full(0.05), jax.random.uniform(key, shape) * (num_points - 1),
                 full(5.0), full(10.0), full(1.0), full(1.0), full(1.0))


def guessed_init(spectra: np.ndarray, num_peaks: np.ndarray, slots: int) -> PeakQ:
    """Initial guides at `find_peaks` guesses (as the least-squares baseline starts from);
    sds as in `random_init`. Fields (N, slots)."""
    n = spectra.shape[0]
    init = jax.tree.map(np.asarray, random_init(jax.random.PRNGKey(0), n, slots,
                                                spectra.shape[-1]))
    fields = {name: np.array(getattr(init, name)) for name in PeakQ._fields}
    for i in range(n):
        for j, guess in enumerate(initial_guesses(np.asarray(spectra[i], float),
                                                  int(num_peaks[i]))):
            for name in ("amplitude", "location", "width"):
                fields[f"{name}_mean"][i, j] = guess[name]
    return PeakQ(**{k: jnp.asarray(v, jnp.float32) for k, v in fields.items()})


def _params_to_q(params: dict) -> PeakQ:
    return PeakQ(params["amplitude_mean"], params["amplitude_sd"], params["location_mean"],
                 params["location_sd"], params["width_mean"], params["width_sd"],
                 params["lorentzian_a"], params["lorentzian_b"])


class SVIProgram(NamedTuple):
    """The jitted pieces of vectorised SVI for one configuration.

    Attributes:
      init: ``(keys (N,), spectra (N, W), num_peaks (N,), q0) -> state``.
      run: ``(state, spectra, num_peaks, q0, length) -> (state, (N,) mean loss)``: `length`
        (static) Adam steps on every spectrum.
      params: ``state -> dict`` of the guides' constrained parameters, (N, slots) each.
    """

    init: Callable
    run: Callable
    params: Callable


@functools.lru_cache(maxsize=16)
def svi_program(slots: int, noise: float, sim: SimulatorConfig, prior: str,
                lr: float) -> SVIProgram:
    """Builds (once per configuration; later calls reuse it) the jitted SVI of `fit_svi`."""
    static = dict(slots=slots, noise=noise, sim=sim, prior=prior)
    svi = SVI(functools.partial(_model, **static), functools.partial(mean_field_guide, **static),
              numpyro.optim.Adam(lr), Trace_ELBO())

    @jax.jit
    def init_all(keys, x, k, q0):
        return jax.vmap(svi.init)(keys, x, k, q0)

    @functools.partial(jax.jit, static_argnums=4)
    def run_chunk(state, x, k, q0, length):
        def one(s, xx, nn, qq):
            s, losses = jax.lax.scan(lambda s, _: svi.update(s, xx, nn, qq), s, None,
                                     length=length)
            return s, jnp.mean(losses)
        return jax.vmap(one)(state, x, k, q0)

    return SVIProgram(init_all, run_chunk, jax.jit(jax.vmap(svi.get_params)))


def fit_svi(spectra: jax.Array, num_peaks: jax.Array, init: PeakQ, *, key: jax.Array,
            steps: int, lr: float, noise: float, sim: SimulatorConfig, prior: str = "flat",
            progress: Callable[[int], None] | None = None) -> tuple[PeakQ, jax.Array]:
    """Runs SVI on every spectrum at once.

    Args:
      spectra: (N, W) spectra.
      num_peaks: (N,) known numbers of peaks.
      init: initial guide parameters, fields (N, slots).
      key: PRNG key.
      steps: Adam steps (the paper: 100 000 at lr 1e-3).
      lr: Adam learning rate.
      noise, sim, prior: the model (see `peak_model`).
      progress: called with the number of steps done after each chunk.

    Returns:
      (q, loss): the fitted guide, fields (N, slots), and (N,) the mean negative ELBO over the
      last chunk of steps.
    """
    program = svi_program(init.amplitude_mean.shape[-1], float(noise), sim, prior, float(lr))
    keys = jax.random.split(key, spectra.shape[0])
    state = program.init(keys, spectra, num_peaks, init)
    done, loss = 0, jnp.full(spectra.shape[0], jnp.nan)
    while done < steps:
        length = min(STEPS_PER_CALL, steps - done)
        state, loss = program.run(state, spectra, num_peaks, init, length)
        done += length
        if progress is not None:
            progress(done)
    return _params_to_q(program.params(state)), loss


def fit_svi_restarts(spectra: jax.Array, num_peaks: jax.Array, *, key: jax.Array,
                     restarts: int, steps: int, lr: float, noise: float,
                     sim: SimulatorConfig, slots: int, prior: str = "flat",
                     init: str = "random",
                     progress: Callable[[int], None] | None = None) -> PeakQ:
    """Plain SVI, keeping each spectrum's best of `restarts` runs (lowest final loss).

    Args:
      init: ``"random"`` (uninformed starts, as in the paper) or ``"peaks"`` (`find_peaks`
        guesses; restarts after the first jitter the locations by ±2 points).

    Returns:
      The guide, fields (N, slots).
    """
    n, num_points = spectra.shape
    init_key, fit_key = jax.random.split(key)
    tiled = jnp.repeat(spectra, restarts, axis=0)
    k = jnp.repeat(num_peaks, restarts, axis=0)
    if init == "random":
        init = random_init(init_key, n * restarts, slots, num_points)
    elif init == "peaks":
        base = jax.tree.map(lambda a: jnp.repeat(a, restarts, axis=0),
                            guessed_init(np.asarray(spectra), np.asarray(num_peaks), slots))
        jitter = 2.0 * jax.random.normal(init_key, base.location_mean.shape)
        first = (jnp.arange(n * restarts) % restarts == 0)[:, None]
        init = base._replace(location_mean=base.location_mean + jnp.where(first, 0.0, jitter))
    else:
        raise ValueError(f"init must be 'random' or 'peaks', got {init!r}")
    q, loss = fit_svi(tiled, k, init, key=fit_key, steps=steps, lr=lr, noise=noise, sim=sim,
                      prior=prior, progress=progress)
    loss = np.asarray(loss).reshape(n, restarts)
    best = np.nanargmin(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    pick = np.arange(n) * restarts + best
    return jax.tree.map(lambda a: a[pick], q)
