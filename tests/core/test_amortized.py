"""`amortized_posterior`: the one-pass posterior of a batch — shapes, and one compiled program
per shape."""

import chex
import jax
import numpy as np

from peakflow.core import amortized_posterior, make_policy


def test_one_pass_gives_every_slot_and_compiles_once_per_shape(default_model, grid_batch):
    config = default_model.config
    policy = make_policy(config.policy, config.model.family)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(params, spectra):
        return amortized_posterior(policy.apply, params, spectra, None, config)

    spectra = np.asarray(grid_batch.spectrum[:16])
    first = run(default_model.params, spectra)
    again = run(default_model.params, spectra[::-1])  # same shape: no second trace
    k_max, width = config.model.k_max, config.sim.num_points
    chex.assert_shape(first.k_probs, (16, k_max + 1))
    chex.assert_shape(first.num_peaks, (16,))
    chex.assert_shape(first.fitted, (16, width))
    chex.assert_tree_shape_prefix(first.q, (16, k_max))
    np.testing.assert_allclose(np.asarray(first.k_probs).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(again.num_peaks), np.asarray(first.num_peaks)[::-1])
    assert np.mean(np.asarray(first.num_peaks) == np.asarray(grid_batch.num_peaks[:16])) > 0.9
