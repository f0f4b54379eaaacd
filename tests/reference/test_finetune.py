"""`peakflow.finetune`: SVI started from the amortized posterior."""

import numpy as np
import pytest
from conftest import simulate

import peakflow
from peakflow.reference import svi


def test_finetune_keeps_k_and_does_not_worsen_fits():
    x = np.asarray(simulate(16, seed=5).spectrum)
    post = peakflow.infer(x)
    tuned = peakflow.finetune(x, post, steps=200)
    np.testing.assert_array_equal(tuned.num_peaks, post.num_peaks)
    np.testing.assert_allclose(tuned.k_probs, post.k_probs)
    assert np.median(tuned.log_likelihood - post.log_likelihood) > -2.0
    one = peakflow.finetune(x[0], peakflow.infer(x[0]), steps=50)
    assert one.num_peaks.shape == () and one.location.mean.shape == (4,)
    with pytest.raises(ValueError, match="holds 16 spectra"):
        peakflow.finetune(x[:3], post, steps=5)


@pytest.mark.slow  # 16 s: compiles SVI three times
def test_finetune_compiles_once_per_configuration(monkeypatch):
    """The SVI programs are built once per configuration: a second call traces nothing."""
    traces = []
    model = svi._model
    monkeypatch.setattr(svi, "_model", lambda *a, **k: traces.append(1) or model(*a, **k))
    svi.svi_program.cache_clear()
    x = np.asarray(simulate(8, seed=6).spectrum)
    post = peakflow.infer(x)
    first = peakflow.finetune(x, post, steps=20, lr=4e-3)
    assert traces, "the first call traces the NumPyro model"
    count = len(traces)
    second = peakflow.finetune(x, post, steps=20, lr=4e-3)
    assert len(traces) == count
    np.testing.assert_array_equal(second.location.mean, first.location.mean)
    svi.svi_program.cache_clear()
