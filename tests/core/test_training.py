"""Training: the pure step, many steps in one call, data parallelism."""

import chex
import jax
import numpy as np
import pytest
from conftest import run_python

import peakflow


def test_training_lowers_the_loss_and_many_steps_per_call_change_nothing():
    cfg = peakflow.config.with_overrides(peakflow.config.preset("tiny"), {
        "train.batch_size": 32, "train.lr": 3e-3, "train.warmup": 1, "train.steps": 60})
    init, step = peakflow.core.make_train(cfg)
    one = jax.jit(chex.assert_max_traces(step, n=1))
    state, key = init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    losses = []
    for _ in range(60):
        state, info = one(state, key)
        losses.append(float(info.loss))
    assert int(state.step) == 60
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    # the first 5 steps again, in one lax.scan: the same losses and weights step for step
    scanned, infos = jax.jit(peakflow.core.multi_step(step, 5))(init(jax.random.PRNGKey(0)), key)
    assert int(scanned.step) == 5 and infos.loss.shape == (5,)
    np.testing.assert_allclose(infos.loss, losses[:5], rtol=1e-5)
    state = init(jax.random.PRNGKey(0))
    for _ in range(5):
        state, _ = one(state, key)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(scanned.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # 32 s: compiles the step for two meshes
def test_sharded_training_step_equals_single_device_step():
    out = run_python(["-c", """
        import jax, numpy as np, peakflow
        from peakflow.core.sharding import data_mesh, replicated
        cfg = peakflow.config.with_overrides(peakflow.config.preset("tiny"), {
            "train.batch_size": 16, "model.k_max": 2, "sim.k_max": 2})
        key, params = jax.random.PRNGKey(0), []
        for mesh in (None, data_mesh()):
            init, step = peakflow.core.make_train(cfg, mesh)
            state = init(key)
            if mesh is not None:
                state = jax.device_put(state, replicated(mesh))
            state, _ = jax.jit(peakflow.core.multi_step(step, 3))(state, key)
            params.append(state.params)
        sharded = jax.tree.leaves(params[1])[0]
        assert len(sharded.sharding.device_set) == 4
        for a, b in zip(jax.tree.leaves(params[0]), jax.tree.leaves(params[1])):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        try:
            peakflow.core.make_train(peakflow.config.with_overrides(cfg, {"train.batch_size": 10}),
                                data_mesh())
        except ValueError as err:
            print("refused:", err)
        print("devices", jax.device_count())
    """], devices=4).stdout
    assert "devices 4" in out and "does not split over 4 devices" in out
