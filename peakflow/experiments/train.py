"""Train a peakflow policy: ``python -m peakflow.experiments.train --preset compact``.

The run lives in ``--workdir``: Orbax checkpoints (with the configuration beside the weights)
under ``checkpoints/``, one JSON line of validation metrics per evaluation in
``metrics.jsonl``, and, at the end, an inference-only model in ``model/`` that
``peakflow.infer(..., model=WORKDIR/model)`` loads. Killing the run (Ctrl-C, SIGTERM, or
worse) loses at most ``checkpoint_every`` steps: running the same command again resumes from
the latest checkpoint, with the same data stream.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import jax
from tqdm import tqdm

from peakflow import checkpoint
from peakflow.config import PRESETS, Config, preset, with_overrides
from peakflow.devices import data_mesh, replicated
from peakflow.train import make_train, make_validate, validation_set

# Settings a resumed run may change; anything else must match the stored configuration.
RESUMABLE = {"steps", "eval_every", "checkpoint_every", "keep"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="compact", choices=PRESETS)
    parser.add_argument("--config", type=Path, help="JSON file of overrides (nested or dotted)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted overrides, e.g. train.batch_size=64 model.k_max=5")
    parser.add_argument("--steps", type=int, help="shorthand for --set train.steps=N")
    parser.add_argument("--workdir", type=Path, default=Path("experiments/runs/default"))
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


def check_resumable(stored: Config, requested: Config) -> None:
    """Raises ValueError naming the settings where a resumed run would differ."""
    a, b = _flatten(stored.to_dict()), _flatten(requested.to_dict())
    diff = [k for k in a if a[k] != b.get(k) and k.split(".")[-1] not in RESUMABLE]
    if diff:
        details = ", ".join(f"{k}: {a[k]!r} -> {b.get(k)!r}" for k in diff)
        raise ValueError(f"the work directory holds a run with another configuration "
                         f"({details}); use a new --workdir or the same settings")


class _Stop:
    """Turns SIGTERM into a clean stop at the next step (Ctrl-C raises KeyboardInterrupt)."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        self.requested = True


def train(config: Config, workdir: Path) -> Path:
    """Runs (or resumes) training; returns the exported model directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    mngr = checkpoint.manager(workdir / "checkpoints", keep=config.train.keep)
    mesh = data_mesh() if jax.local_device_count() > 1 else None
    init, step_fn = make_train(config, mesh)
    step_fn = jax.jit(step_fn, donate_argnums=0)
    init_key, data_key = jax.random.split(jax.random.PRNGKey(config.train.seed))

    if mngr.latest_step() is not None:
        check_resumable(Config.from_dict(checkpoint.read_meta(mngr)["config"]), config)
        state = checkpoint.restore_state(mngr, config)
        print(f"resumed from step {int(state.step)} in {workdir}", flush=True)
    else:
        state = init(init_key)
        print(f"new run in {workdir}: preset {config.preset}, "
              f"{sum(x.size for x in jax.tree.leaves(state.params)):,} parameters", flush=True)
    if mesh is not None:
        state = jax.device_put(state, replicated(mesh))
        print(f"data parallel over {mesh.devices.size} devices", flush=True)
    (workdir / "config.json").write_text(config.to_json())

    validate = make_validate(config)
    val_data = validation_set(config)
    log = open(workdir / "metrics.jsonl", "a")
    stop = _Stop()
    start = int(state.step)
    metrics: dict = {}
    bar = tqdm(total=config.train.steps, initial=start, desc="train", dynamic_ncols=True,
               mininterval=2.0, file=sys.stdout, disable=not sys.stdout.isatty())
    t0, steps_done = time.perf_counter(), 0
    try:
        while int(state.step) < config.train.steps and not stop.requested:
            state, info = step_fn(state, data_key)
            step = int(state.step)
            if steps_done == 0:  # the first step compiled; time the rest
                jax.block_until_ready(state)
                t0 = time.perf_counter()
            steps_done += 1
            bar.update(1)
            if step % config.train.eval_every == 0 or step == config.train.steps:
                rate = (steps_done - 1) / max(time.perf_counter() - t0, 1e-9)
                metrics = {k: float(v) for k, v in validate(state.params, val_data).items()}
                metrics.update(step=step, loss=float(info.loss), lr=float(info.lr),
                               steps_per_s=rate, wall_s=time.perf_counter() - t0)
                log.write(json.dumps(metrics) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{float(info.loss):.4g}",
                                k_acc=f"{metrics['k_accuracy']:.3f}",
                                ll=f"{metrics['median_log_lik']:.0f}", steps_s=f"{rate:.2f}")
                tqdm.write(f"step {step}: loss {float(info.loss):.1f}  "
                           f"K accuracy {metrics['k_accuracy']:.3f}  "
                           f"median log-lik {metrics['median_log_lik']:.0f}  "
                           f"failures {metrics['failure_rate']:.3f}  {rate:.2f} steps/s",
                           file=sys.stdout)
            if step % config.train.checkpoint_every == 0:
                checkpoint.save(mngr, state, config, metrics)
    except KeyboardInterrupt:
        print("\ninterrupted: saving a checkpoint", flush=True)
    finally:
        bar.close()
        log.close()
        if int(state.step) > start and mngr.latest_step() != int(state.step):
            checkpoint.save(mngr, state, config, metrics)
        mngr.wait_until_finished()
        mngr.close()

    if int(state.step) < config.train.steps:
        print(f"stopped at step {int(state.step)}; run the same command to resume", flush=True)
        sys.exit(130)
    model_dir = checkpoint.export_model(state, config, workdir / "model", metrics)
    print(f"done: {int(state.step)} steps; model written to {model_dir}", flush=True)
    return model_dir


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = build_config(args)
        train(config, args.workdir)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
