"""Threads sharing peakflow: two `fit_many` calls at once finish, with the results of one
at a time (XLA:CPU deadlocked on them before `peakflow.runtime.serial`)."""

import threading
import time

import numpy as np

import peakflow
from peakflow.experiments.bench_measured import mixed_spectra


def _in_threads(fn, inputs: list, timeout: float) -> list:
    """fn(input) for each input, each in its own daemon thread (a hung one cannot keep the
    test process alive); None where a thread had not finished `timeout` s after the start."""
    out: list = [None] * len(inputs)

    def work(i):
        out[i] = fn(inputs[i])

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(inputs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.0))
    return out


def test_two_threads_fit_at_once(broad_model):
    pairs = mixed_spectra(20, 0)
    halves = [pairs[:10], pairs[10:]]
    alone = [peakflow.fit_many(h, model=broad_model) for h in halves]
    together = _in_threads(lambda h: peakflow.fit_many(h, model=broad_model), halves, 240)
    for one, other in zip(alone, together):
        assert other is not None, "a thread hung"
        for a, b in zip(one, other):
            np.testing.assert_allclose(b.peaks.location, a.peaks.location)
            np.testing.assert_allclose(b.peaks.area_sd, a.peaks.area_sd)
