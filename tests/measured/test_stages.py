"""The batched stages on a `WindowBatch`: refining chosen windows (rows) is refining whole
spectra where the rows are a spectrum's, and leaves the other rows as they were; a batch of
some spectra; each window's baseline with its own polynomial degree."""

import jax
import numpy as np
import pytest

from peakflow.core.lineshape import Peaks
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured.assemble import window_fits
from peakflow.measured.batch import WindowBatch
from peakflow.measured.options import FitOptions
from peakflow.measured.prepare import prepare_many
from peakflow.measured.stages import predict_windows, refine_rows, refine_windows


@pytest.fixture(scope="module")
def policy(broad_model):
    rng = np.random.default_rng(3)
    pairs = [realistic_spectrum(rng)[:2] for _ in range(2)]
    prepared = prepare_many(pairs, broad_model.config.sim, [FitOptions()] * 2)
    return predict_windows(broad_model, WindowBatch.of(prepared))


def _leaves(batch: WindowBatch, rows: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(a)[rows] for a in jax.tree.leaves(batch.pred) if np.ndim(a)]


def test_refining_a_spectrums_rows_is_refining_the_spectrum(policy, broad_model):
    first = np.array([True, False])
    whole = refine_windows(broad_model, policy, first, 1e5)
    rows = refine_rows(broad_model, policy, policy.rows_of(first), 1e5)
    for a, b in zip(_leaves(whole, np.arange(policy.values.shape[0])),
                    _leaves(rows, np.arange(policy.values.shape[0]))):
        np.testing.assert_array_equal(a, b)
    other = policy.rows_of(~first)
    for a, b in zip(_leaves(rows, other), _leaves(policy, other)):   # untouched
        np.testing.assert_array_equal(a, b.astype(a.dtype))


def test_a_subset_holds_exactly_its_spectras_windows(policy):
    second = np.array([False, True])
    part = policy.subset(second)
    rows = policy.rows_of(second)
    assert part.counts.tolist() == [policy.counts[1]]
    np.testing.assert_array_equal(part.values, policy.values[rows])
    np.testing.assert_array_equal(part.points.omega, policy.points.take(rows).omega)
    for a, b in zip(_leaves(part, np.arange(rows.size)), _leaves(policy, rows)):
        np.testing.assert_array_equal(a, b)


def test_windows_with_their_own_degree_get_that_degrees_baseline(policy, broad_model):
    batch = refine_windows(broad_model, policy, np.array([True, True]), 1e5)
    q = batch.pred.q
    mean = Peaks(*(np.asarray(v, np.float64) for v in q.mean()))
    count = batch.values.shape[0]
    degrees = np.where(np.arange(count) % 2 == 0, 3, -1)
    mixed = window_fits(batch, mean, degrees, 1e5)
    for degree in (3, -1):
        alone = window_fits(batch, mean, degree, 1e5)
        rows = degrees == degree
        for a, b in zip(mixed, alone):
            np.testing.assert_allclose(a[rows], b[rows], rtol=1e-12, atol=1e-12)
    cubic, none = (window_fits(batch, mean, d, 1e5)[0] for d in (3, -1))
    assert not np.allclose(cubic, none)
