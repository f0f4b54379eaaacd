"""Orbax checkpoints: round trip, model directories, mismatches."""

import jax
import numpy as np
import pytest

import peakflow
from peakflow.core.policy import init_policy
from peakflow.experiments.train import check_resumable
from peakflow.runtime import checkpoint


def trees_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_round_trip(tmp_path, tiny_config):
    init, _ = peakflow.core.make_train(tiny_config)
    state = init(jax.random.PRNGKey(0))  # a state as after a step: moved weights, step 1
    state = state._replace(step=state.step + 1, params=jax.tree.map(
        lambda p: p + 0.01 * jax.random.normal(jax.random.PRNGKey(1), p.shape), state.params))
    mngr = checkpoint.manager(tmp_path / "ckpt")
    checkpoint.save(mngr, state, tiny_config, {"k_accuracy": 0.5})
    mngr.wait_until_finished()
    restored = checkpoint.restore_state(mngr, tiny_config)
    assert int(restored.step) == 1
    assert trees_equal(restored.params, state.params)
    assert trees_equal(restored.opt_state, state.opt_state)
    meta = checkpoint.read_meta(mngr)
    mngr.close()
    assert peakflow.config.Config.from_dict(meta["config"]) == tiny_config
    assert meta["metrics"] == {"k_accuracy": 0.5}


def test_a_step_left_half_written_is_dropped_and_written_again(tmp_path, tiny_config):
    init, _ = peakflow.core.make_train(tiny_config)
    state = init(jax.random.PRNGKey(0))
    mngr = checkpoint.manager(tmp_path / "ckpt")
    checkpoint.save(mngr, state, tiny_config)
    mngr.wait_until_finished()
    mngr.close()
    (tmp_path / "ckpt" / "2").mkdir()               # as a run killed while writing step 2
    mngr = checkpoint.manager(tmp_path / "ckpt")
    assert mngr.latest_step() == 2
    assert checkpoint.drop_unreadable(mngr) == [2]
    assert mngr.latest_step() == 0
    assert int(checkpoint.restore_state(mngr, tiny_config).step) == 0
    (tmp_path / "ckpt" / "2").mkdir()
    checkpoint.save(mngr, state._replace(step=state.step + 2), tiny_config)   # no "exists"
    mngr.wait_until_finished()
    assert checkpoint.read_meta(mngr)["step"] == 2
    mngr.close()


def test_model_directory_loads_for_inference(tiny_model_dir, tiny_config):
    config, params, _ = checkpoint.load_params(tiny_model_dir)
    assert config == tiny_config
    assert jax.tree.structure(params) == jax.tree.structure(
        init_policy(peakflow.core.make_policy(config.policy, config.model.family),
                    jax.random.PRNGKey(0), 500))


def test_mismatched_checkpoint_is_named(tmp_path, tiny_config):
    init, _ = peakflow.core.make_train(tiny_config)
    mngr = checkpoint.manager(tmp_path / "ckpt")
    checkpoint.save(mngr, init(jax.random.PRNGKey(0)), tiny_config)
    mngr.wait_until_finished()
    bigger = peakflow.config.with_overrides(tiny_config, {"policy.hidden": 32})
    with pytest.raises(ValueError, match="does not match"):
        checkpoint.restore_state(mngr, bigger)
    mngr.close()
    with pytest.raises(ValueError, match="policy.hidden"):
        check_resumable(tiny_config, bigger)
    check_resumable(tiny_config, peakflow.config.with_overrides(tiny_config, {"train.steps": 99}))


def test_missing_or_corrupt_model_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.load_params(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load_params(tmp_path / "empty")
