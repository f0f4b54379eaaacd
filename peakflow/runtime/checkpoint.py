"""Orbax checkpoints: training state, and the configuration stored beside the weights.

A checkpoint directory is an Orbax `CheckpointManager` directory. Each saved step holds
``params`` (the policy variables), optionally ``opt_state`` (for resuming training) and
``meta`` (JSON: the `Config`, the step and any metrics). A model directory for inference is the
same layout without ``opt_state`` (see `peakflow.runtime.sealed.export_model`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from peakflow.config import Config
from peakflow.core.policy import init_policy, make_policy
from peakflow.core.training import TrainState, make_train
from peakflow.runtime.integrity import verify_manifest


def manager(directory: str | os.PathLike, keep: int = 3, create: bool = True
            ) -> ocp.CheckpointManager:
    """An Orbax manager over `directory` keeping the newest `keep` steps."""
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save(mngr: ocp.CheckpointManager, state: TrainState, config: Config,
         metrics: dict[str, Any] | None = None, with_optimizer: bool = True) -> None:
    """Saves `state` at its step (asynchronously; call ``mngr.wait_until_finished()``)."""
    step = int(state.step)
    meta = {"config": config.to_dict(), "step": step, "metrics": metrics or {}}
    items = {"params": ocp.args.StandardSave(state.params), "meta": ocp.args.JsonSave(meta)}
    if with_optimizer:
        items["opt_state"] = ocp.args.StandardSave(state.opt_state)
    if step in mngr.all_steps():   # what a killed run left at this step: written again
        mngr.delete(step)
    mngr.save(step, args=ocp.args.Composite(**items), force=True)


def drop_unreadable(mngr: ocp.CheckpointManager) -> list[int]:
    """Deletes the newest steps whose metadata cannot be read (a run killed while writing
    one can leave a step directory without its items), so that resuming starts from the
    newest whole checkpoint; returns the steps deleted."""
    dropped = []
    for step in sorted(mngr.all_steps(), reverse=True):
        try:
            read_meta(mngr, step)
            break
        except Exception:  # noqa: BLE001 - any failure to read makes the step unusable
            mngr.delete(step)
            dropped.append(step)
    return dropped


def read_meta(mngr: ocp.CheckpointManager, step: int | None = None) -> dict[str, Any]:
    """The JSON metadata (config, step, metrics) of `step` (default: the latest)."""
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {mngr.directory}")
    restored = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return dict(restored["meta"])


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def restore_state(mngr: ocp.CheckpointManager, config: Config) -> TrainState:
    """Restores the latest training state against the abstract state of `config`.

    Raises:
      ValueError: when the stored arrays do not match the configuration's shapes.
    """
    init, _ = make_train(config)
    abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
    step = mngr.latest_step()
    try:
        restored = mngr.restore(step, args=ocp.args.Composite(
            params=ocp.args.StandardRestore(_abstract(abstract.params)),
            opt_state=ocp.args.StandardRestore(_abstract(abstract.opt_state))))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {mngr.directory} step {step} does not match the "
                         f"configuration: {err}") from err
    return TrainState(jax.numpy.asarray(step, jax.numpy.int32), restored["params"],
                      restored["opt_state"])


def load_params(directory: str | os.PathLike) -> tuple[Config, dict, dict[str, Any]]:
    """Loads a model for inference: its configuration, policy params and metadata.

    Raises:
      FileNotFoundError: no checkpoint in `directory`.
      ModelIntegrityError (a ValueError): files that do not match the directory's
        ``MANIFEST.sha256``, named.
      ValueError: the stored configuration or arrays are not a peakflow model.
    """
    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory {str(path)!r} does not exist")
    verify_manifest(path)
    mngr = manager(path, create=False)
    try:
        meta = read_meta(mngr)
        try:
            config = Config.from_dict(meta["config"]).validate()
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: stored configuration is not a peakflow Config: {err}"
                             ) from err
        policy = make_policy(config.policy, config.model.family)
        abstract = jax.eval_shape(
            lambda key: init_policy(policy, key, config.sim.num_points), jax.random.PRNGKey(0))
        try:
            restored = mngr.restore(meta["step"], args=ocp.args.Composite(
                params=ocp.args.StandardRestore(_abstract(abstract))))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: stored weights do not match the stored configuration "
                             f"({config.policy.arch} policy): {err}") from err
    finally:
        mngr.close()
    return config, restored["params"], meta
