"""Train a peakflow policy: ``python -m peakflow.experiments.train --preset compact``.

The run lives in ``--workdir``: Orbax checkpoints (with the configuration beside the weights)
under ``checkpoints/``, one JSON line of validation metrics per evaluation in
``metrics.jsonl``, and, at the end, an inference-only model in ``model/`` that
``peakflow.infer(..., model=WORKDIR/model)`` loads. Killing the run (Ctrl-C, SIGTERM, or
worse) loses at most ``checkpoint_every`` steps: running the same command again resumes from
the latest checkpoint, with the same data stream. On GPU/TPU steps run up to `STEPS_PER_CALL` at
a time in one jitted call (a `lax.scan` over steps), with the same results as one call per
step; on CPU one step per call (`steps_per_call`).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import signal
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from tqdm import tqdm

from peakflow.config import PRESETS, Config, preset, with_overrides
from peakflow.core.sharding import data_mesh, replicated
from peakflow.core.training import make_train, make_validate, multi_step, validation_set
from peakflow.runtime import checkpoint, sealed
from peakflow.runtime.checkpoint import load_params

# Settings a resumed run may change; anything else must match the stored configuration.
RESUMABLE = {"steps", "eval_every", "checkpoint_every", "keep"}
STEPS_PER_CALL = 50  # most steps in one jitted call on an accelerator (a stop waits this long)


def steps_per_call() -> int:
    """Steps per jitted call: `STEPS_PER_CALL` on GPU/TPU, 1 on CPU (see `multi_step`)."""
    return 1 if jax.default_backend() == "cpu" else STEPS_PER_CALL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="compact", choices=PRESETS)
    parser.add_argument("--config", type=Path, help="JSON file of overrides (nested or dotted)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted overrides, e.g. train.batch_size=64 model.k_max=5")
    parser.add_argument("--steps", type=int, help="shorthand for --set train.steps=N")
    parser.add_argument("--workdir", type=Path, default=Path("experiments/runs/default"))
    parser.add_argument("--init-from", type=Path, metavar="MODEL_DIR",
                        help="warm start: copy every weight array of this trained model whose "
                             "path and shape match (a new run only; e.g. the trunk of a model "
                             "with another variational family)")
    return parser.parse_args(argv)


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def build_config(args: argparse.Namespace) -> Config:
    """The preset with the ``--config`` file, ``--set`` pairs and ``--steps`` applied."""
    overrides = {}
    if args.config is not None:
        try:
            overrides.update(_flatten(json.loads(args.config.read_text())))
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"cannot read config {args.config}: {err}") from err
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key] = value
    if args.steps is not None:
        overrides["train.steps"] = args.steps
    return with_overrides(preset(args.preset), overrides).validate()


def warm_start(params: dict, source: dict) -> tuple[dict, int]:
    """`params` with each array that `source` has at the same tree path and shape copied.

    Returns:
      (params, number of arrays copied).
    """
    found = dict(jax.tree_util.tree_flatten_with_path(source)[0])
    copied = 0

    def pick(path, leaf):
        nonlocal copied
        src = found.get(path)
        if src is None or src.shape != leaf.shape:
            return leaf
        copied += 1
        return jnp.asarray(src, leaf.dtype)

    return jax.tree_util.tree_map_with_path(pick, params), copied


def check_resumable(stored: Config, requested: Config) -> None:
    """Raises ValueError naming the settings where a resumed run would differ."""
    a, b = _flatten(stored.to_dict()), _flatten(requested.to_dict())
    diff = [k for k in a if a[k] != b.get(k) and k.split(".")[-1] not in RESUMABLE]
    if diff:
        details = ", ".join(f"{k}: {a[k]!r} -> {b.get(k)!r}" for k in diff)
        raise ValueError(f"the work directory holds a run with another configuration "
                         f"({details}); use a new --workdir or the same settings")


class Interrupted(Exception):
    """Training stopped before its last step (SIGTERM or Ctrl-C); a checkpoint was saved."""

    def __init__(self, step: int):
        super().__init__(f"stopped at step {step}; run the same command to resume")
        self.step = step


class _Stop:
    """Turns SIGTERM into a clean stop after the current call (Ctrl-C raises KeyboardInterrupt)."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        self.requested = True


def next_stop(step: int, config: Config, per_call: int = STEPS_PER_CALL) -> int:
    """The step the next jitted call runs to: the next multiple of the validation,
    checkpoint and per-call intervals (so all calls but the last have one length), or the end."""
    unit = math.gcd(config.train.eval_every, config.train.checkpoint_every, per_call)
    return min((step // unit + 1) * unit, config.train.steps)


def train(config: Config, workdir: Path, per_call: int | None = None,
          init_from: Path | None = None) -> Path:
    """Runs (or resumes) training; returns the exported model directory.

    Steps run `per_call` (default `steps_per_call()`) at a time inside one jitted `lax.scan`
    (`peakflow.core.training.multi_step`), so the host syncs only between calls; the results
    equal those of one call per step.

    Raises:
      Interrupted: after SIGTERM or Ctrl-C (a checkpoint of the last finished step is saved).
    """
    per_call = steps_per_call() if per_call is None else per_call
    workdir.mkdir(parents=True, exist_ok=True)
    mngr = checkpoint.manager(workdir / "checkpoints", keep=config.train.keep)
    mesh = data_mesh() if jax.local_device_count() > 1 else None
    init, step_fn = make_train(config, mesh)
    run_steps = functools.lru_cache(maxsize=4)(
        lambda n: jax.jit(multi_step(step_fn, n), donate_argnums=0))
    init_key, data_key = jax.random.split(jax.random.PRNGKey(config.train.seed))

    for lost in checkpoint.drop_unreadable(mngr):
        print(f"checkpoint step {lost} was not written whole (the run was killed): dropped",
              flush=True)
    if mngr.latest_step() is not None:
        check_resumable(Config.from_dict(checkpoint.read_meta(mngr)["config"]), config)
        state = checkpoint.restore_state(mngr, config)
        print(f"resumed from step {int(state.step)} in {workdir}", flush=True)
    else:
        state = init(init_key)
        print(f"new run in {workdir}: preset {config.preset}, "
              f"{sum(x.size for x in jax.tree.leaves(state.params)):,} parameters", flush=True)
        if init_from is not None:
            params, copied = warm_start(state.params, load_params(init_from)[1])
            state = state._replace(params=params)
            print(f"warm start from {init_from}: {copied} of "
                  f"{len(jax.tree.leaves(params))} weight arrays copied", flush=True)
    if mesh is not None:
        state = jax.device_put(state, replicated(mesh))
        print(f"data parallel over {mesh.devices.size} devices", flush=True)
    (workdir / "config.json").write_text(config.to_json())

    validate = make_validate(config)
    val_data = validation_set(config)
    log = open(workdir / "metrics.jsonl", "a")
    stop = _Stop()
    step = start = int(state.step)
    metrics: dict = {}
    bar = tqdm(total=config.train.steps, initial=start, desc="train", dynamic_ncols=True,
               mininterval=2.0, file=sys.stdout, disable=not sys.stdout.isatty())
    timer = _Rate()
    try:
        while step < config.train.steps and not stop.requested:
            target = next_stop(step, config, per_call)
            state, info = run_steps(target - step)(state, data_key)
            timer.add(target - step, state)
            bar.update(target - step)
            step = target
            if step % config.train.eval_every == 0 or step == config.train.steps:
                metrics = evaluate_step(validate, state, val_data, info, timer, step)
                log.write(json.dumps(metrics) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{metrics['loss']:.4g}", k_acc=f"{metrics['k_accuracy']:.3f}")
                tqdm.write(f"step {step}: loss {metrics['loss']:.1f}  "
                           f"K accuracy {metrics['k_accuracy']:.3f}  "
                           f"median log-lik {metrics['median_log_lik']:.0f}  "
                           f"failures {metrics['failure_rate']:.3f}  "
                           f"{metrics['steps_per_s']:.2f} steps/s", file=sys.stdout)
            if step % config.train.checkpoint_every == 0:
                checkpoint.save(mngr, state, config, metrics)
    except KeyboardInterrupt:
        print("\ninterrupted: saving a checkpoint", flush=True)
    finally:
        bar.close()
        log.close()
        if step > start and mngr.latest_step() != step:
            checkpoint.save(mngr, state, config, metrics)
        mngr.wait_until_finished()
        mngr.close()

    if step < config.train.steps:
        raise Interrupted(step)
    model_dir = sealed.export_model(state, config, workdir / "model", metrics)
    print(f"done: {step} steps; model written to {model_dir}", flush=True)
    return model_dir


class _Rate:
    """Training steps per second, excluding the first call (it compiles)."""

    def __init__(self):
        self.steps, self.seconds, self._last = 0, 0.0, None

    def add(self, steps: int, state) -> None:
        jax.block_until_ready(state)
        now = time.perf_counter()
        if self._last is not None:
            self.steps, self.seconds = self.steps + steps, self.seconds + now - self._last
        self._last = now

    @property
    def per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")


def evaluate_step(validate, state, val_data, info, timer: _Rate, step: int) -> dict:
    """One line of ``metrics.jsonl``: validation metrics, the last step's loss and rate."""
    metrics = {k: float(v) for k, v in validate(state.params, val_data).items()}
    metrics.update(step=step, loss=float(info.loss[-1]), lr=float(info.lr[-1]),
                   steps_per_s=timer.per_second, wall_s=timer.seconds)
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = build_config(args)
        train(config, args.workdir, init_from=args.init_from)
    except Interrupted as stopped:
        print(stopped, flush=True)
        sys.exit(130)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
