"""The batched arPLS baseline against pybaselines' arpls."""

import numpy as np
import pytest
from pybaselines import Baseline

from peakflow.measured.arpls import arpls_many, padded_length
from peakflow.measured.baseline import remove_baseline, remove_baselines


def _spectrum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lorentzian peaks on a broad hump and a slope, with noise: (n,)."""
    x = np.arange(n)
    y = 0.5 * np.exp(-((x - rng.uniform(0, n)) / (0.3 * n)) ** 2) + 0.2 * x / n
    for _ in range(rng.integers(3, 12)):
        y += rng.uniform(0.1, 1) / (1 + ((x - rng.uniform(0, n)) / rng.uniform(2, 10)) ** 2)
    return y + rng.normal(0, 0.01, n)


def _reference(y: np.ndarray, lam: float = 1e5) -> np.ndarray:
    return Baseline(np.arange(y.size, dtype=np.float64)).arpls(y, lam=lam)[0]


def test_padded_lengths_are_the_buckets():
    assert [padded_length(n) for n in (10, 256, 257, 384, 385, 513, 1000, 1025, 3000)] == \
        [256, 256, 384, 384, 512, 768, 1024, 1536, 3072]


def test_batched_arpls_matches_pybaselines_on_spectra_of_mixed_lengths():
    rng = np.random.default_rng(3)
    spectra = [_spectrum(rng, int(n)) for n in rng.integers(40, 1300, 24)]
    for y, base in zip(spectra, arpls_many(spectra)):
        assert base.shape == y.shape
        np.testing.assert_allclose(base, _reference(y), rtol=0, atol=1e-7 * np.ptp(y))


def test_a_spectrum_gets_the_same_baseline_alone_or_in_any_batch():
    rng = np.random.default_rng(4)
    spectra = [_spectrum(rng, 700) for _ in range(40)]
    together = arpls_many(spectra)
    alone = arpls_many(spectra[7:8])[0]
    reordered = arpls_many(spectra[::-1])[-8]
    np.testing.assert_allclose(together[7], alone, rtol=0, atol=1e-9)
    np.testing.assert_allclose(together[7], reordered, rtol=0, atol=1e-9)


def test_remove_baselines_covers_every_method_and_keeps_short_spectra():
    rng = np.random.default_rng(5)
    spectra = [_spectrum(rng, 300), _spectrum(rng, 500), np.ones(5)]
    for method in ("arpls", "asls", "snip", "none"):
        removed = remove_baselines(spectra, method)
        for y, (corrected, base) in zip(spectra, removed):
            np.testing.assert_allclose(corrected + base, y)
            one = remove_baseline(y, method)[1]
            np.testing.assert_allclose(base, one, atol=1e-9)
        assert np.all(removed[2][1] == 0)          # fewer than 8 points: no baseline
    with pytest.raises(ValueError, match="baseline method must be one of"):
        remove_baselines(spectra, "polynomial")


def test_warm_runs_the_programs_a_batch_then_finds():
    from peakflow.measured import arpls
    from peakflow.runtime.saved_programs import _ALL

    assert arpls.warm([300, 310]) == len(arpls.ROW_SIZES)   # one length bucket
    met = lambda: {s for p in list(_ALL) if p.name == "arpls_iterate" for s in p.shapes()}
    before = met()
    rng = np.random.default_rng(1)
    arpls_many([rng.normal(0.0, 1.0, int(n)) + 5.0 for n in rng.integers(260, 384, 40)])
    assert met() == before and any(s[0] == (384, 64) for s in before)
