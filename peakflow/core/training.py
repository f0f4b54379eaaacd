"""Training: a pure ``init``/``step`` pair built by `make_train`, plus the validation metrics.

Each step folds the step number into the run's key, simulates its batch inside the jitted
step (no host loop over spectra), and applies one Adam update to the relaxed ELBO.
`multi_step` runs many steps in one `lax.scan`, so a training loop touches the host only
between validations and checkpoints (as purejaxrl does), with the same results step for step.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from peakflow.config import Config, TrainConfig
from peakflow.core.amortized import amortized_posterior
from peakflow.core.elbo import relaxed_loss
from peakflow.core.likelihood import reduced_chi2
from peakflow.core.policy import init_policy, make_policy
from peakflow.core.sharding import batch_sharding, check_divisible
from peakflow.core.simulator import Simulated, simulate_batch

FAILURE_THRESHOLD = 1300.0  # nats; the paper's "failed fit" threshold for W = 500, σ = 0.01
FAILURE_CHI2 = 2.0  # reduced chi-square of a failed fit when the noise level varies


class TrainState(NamedTuple):
    """Immutable training state: step (), policy params, optimiser state."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState


class StepInfo(NamedTuple):
    """Diagnostics of one step, each ()."""

    loss: jax.Array
    expected_k: jax.Array
    log_lik: jax.Array
    grad_norm: jax.Array
    lr: jax.Array


def make_schedule(train: TrainConfig) -> optax.Schedule:
    """The learning-rate schedule named by ``train.schedule``.

    ``cyclic`` is the paper's triangular cycle: it rises from ``lr_min`` to ``lr`` and back
    every ``cycle_period`` steps; after ``cyclic_drop`` of the run every rate is ×0.1
    (the paper: 2M steps, then 1M at a tenth).
    """
    if train.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=train.lr, warmup_steps=train.warmup,
            decay_steps=max(train.steps, train.warmup + 1), end_value=train.lr_min)

    drop_at = int(train.cyclic_drop * train.steps)

    def cyclic(step):
        phase = jnp.mod(step, train.cycle_period) / train.cycle_period
        tri = 1.0 - jnp.abs(2.0 * phase - 1.0)
        rate = train.lr_min + (train.lr - train.lr_min) * tri
        return jnp.where(step >= drop_at, 0.1 * rate, rate)

    return cyclic


def make_optimizer(train: TrainConfig) -> optax.GradientTransformation:
    """Adam on the schedule, after clipping the global gradient norm at ``clip_norm``."""
    return optax.chain(optax.clip_by_global_norm(train.clip_norm),
                       optax.adam(make_schedule(train)))


def make_train(config: Config, mesh: Mesh | None = None
               ) -> tuple[Callable[[jax.Array], TrainState],
                          Callable[[TrainState, jax.Array], tuple[TrainState, StepInfo]]]:
    """Builds the pure training functions for a configuration.

    Args:
      config: the configuration.
      mesh: optional data-parallel mesh (`peakflow.core.sharding.data_mesh`): each simulated batch
        is then split over its devices while parameters stay replicated, and XLA inserts the
        gradient all-reduce. The result equals the one-device step up to float rounding.

    Returns:
      (init, step): ``init(key) -> TrainState``; ``step(state, key) -> (state, StepInfo)``,
      where `key` is the run's data key (the step number is folded in). Neither is jitted:
      jit at the boundary (`jax.jit(step, donate_argnums=0)`).
    """
    config.validate()
    if mesh is not None:
        check_divisible(config.train.batch_size, mesh)
    policy = make_policy(config.policy, config.model.family)
    optimizer = make_optimizer(config.train)
    schedule = make_schedule(config.train)

    def init(key: jax.Array) -> TrainState:
        params = init_policy(policy, key, config.sim.num_points)
        return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))

    def step(state: TrainState, key: jax.Array) -> tuple[TrainState, StepInfo]:
        data_key, loss_key = jax.random.split(jax.random.fold_in(key, state.step))
        data = simulate_batch(data_key, config.sim, config.train.batch_size)
        spectra, noise = data.spectrum, data.noise
        if mesh is not None:
            spectra = jax.lax.with_sharding_constraint(spectra, batch_sharding(mesh))
        grad_fn = jax.value_and_grad(relaxed_loss, argnums=1, has_aux=True)
        (loss, info), grads = grad_fn(policy.apply, state.params, spectra, loss_key, config,
                                      noise)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        stats = StepInfo(loss, info.expected_k, info.log_lik, optax.global_norm(grads),
                         jnp.asarray(schedule(state.step), jnp.float32))
        return TrainState(state.step + 1, params, opt_state), stats

    return init, step


def multi_step(step: Callable[[TrainState, jax.Array], tuple[TrainState, StepInfo]],
               num_steps: int) -> Callable[[TrainState, jax.Array], tuple[TrainState, StepInfo]]:
    """`num_steps` applications of `step` as one `lax.scan` (not jitted: jit at the boundary).

    Args:
      step: ``step(state, key) -> (state, StepInfo)`` from `make_train`.
      num_steps: static number of steps.

    Returns:
      ``run(state, key) -> (state, info)``, where every `StepInfo` field is (num_steps,).
      The step number is folded into `key` inside `step`, so the result equals `num_steps`
      separate calls of `step` with the same key.

    On XLA:CPU the backward pass of the policy's convolutions runs ~50× slower inside a rolled
    loop, so CPU training calls this with one step (`experiments.train.steps_per_call`), which
    skips the scan; accelerators take many steps per call.
    """

    def run(state: TrainState, key: jax.Array) -> tuple[TrainState, StepInfo]:
        if num_steps == 1:
            state, info = step(state, key)
            return state, jax.tree.map(lambda a: a[None], info)
        return jax.lax.scan(lambda s, _: step(s, key), state, None, length=num_steps)

    return run


def validation_set(config: Config) -> Simulated:
    """The fixed validation batch: `validation_size` spectra from `validation_seed`."""
    key = jax.random.PRNGKey(config.train.validation_seed)
    return simulate_batch(key, config.sim, config.train.validation_size)


def make_validate(config: Config) -> Callable[[dict, Simulated], dict[str, jax.Array]]:
    """Returns a jitted ``validate(params, data) -> metrics`` on a simulated batch.

    Metrics: ``k_accuracy`` (share of spectra whose most probable K is the true K),
    ``median_log_lik`` of the posterior-mean fit, ``median_chi2`` (its mean squared residual
    in noise units), ``failure_rate`` (log-likelihood below `FAILURE_THRESHOLD`; reduced
    chi-square above `FAILURE_CHI2` when the simulator's noise level varies), ``mean_k``.
    """
    policy = make_policy(config.policy, config.model.family)

    @jax.jit
    def validate(params: dict, data: Simulated) -> dict[str, jax.Array]:
        pred = amortized_posterior(policy.apply, params, data.spectrum, None, config, data.noise)
        chi2 = reduced_chi2(pred.log_lik, data.noise, config.sim.num_points)
        failed = (pred.log_lik < FAILURE_THRESHOLD if config.sim.noise_max is None
                  else chi2 > FAILURE_CHI2)
        return {
            "k_accuracy": jnp.mean(pred.num_peaks == data.num_peaks),
            "median_log_lik": jnp.median(pred.log_lik),
            "median_chi2": jnp.median(chi2),
            "failure_rate": jnp.mean(failed),
            "mean_k": jnp.mean(pred.num_peaks.astype(jnp.float32)),
        }

    return validate
