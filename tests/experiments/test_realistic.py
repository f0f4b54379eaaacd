"""The realistic-spectrum generator's controls: fresh noise on the same spectrum, separation
and height floors; and the reliability score used for existence probabilities."""

import numpy as np
import pytest

from peakflow.experiments.realistic import TALLEST, realistic_spectrum
from peakflow.reliability import reliability


def test_fresh_noise_keeps_the_spectrum():
    first = realistic_spectrum(np.random.default_rng(4), noise_rng=np.random.default_rng(1))
    again = realistic_spectrum(np.random.default_rng(4), noise_rng=np.random.default_rng(2))
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_array_equal(first[2].location, again[2].location)
    difference = first[0] - again[0]
    assert np.std(difference) == pytest.approx(np.sqrt(2) * first[2].noise[0], rel=0.1)


def test_separation_and_height_floors():
    for seed in range(5):
        _, _, truth = realistic_spectrum(np.random.default_rng(seed), min_gap=2.0, min_snr=5.0)
        gaps = np.diff(truth.location)
        assert np.all(gaps >= 2.0 * np.maximum(truth.fwhm[1:], truth.fwhm[:-1]) - 1e-9)
        assert np.all(truth.amplitude >= 5.0 * truth.noise - 1e-9)


def test_reliability_of_stated_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    assert reliability(p, rng.uniform(0, 1, p.size) < p)["ece"] < 0.02      # calibrated
    assert reliability(p, np.ones(p.size, bool))["ece"] == pytest.approx(0.5, abs=0.01)
    assert np.isnan(reliability(np.zeros(0), np.zeros(0, bool))["ece"])


def test_harsh_spectra_bring_fluorescence_shot_noise_spikes_and_weak_peaks():
    backgrounds, spikes = [], 0
    for seed in range(12):
        y, x, truth = realistic_spectrum(np.random.default_rng(seed), harsh=True,
                                         noise_rng=np.random.default_rng(1))
        again = realistic_spectrum(np.random.default_rng(seed), harsh=True,
                                   noise_rng=np.random.default_rng(2))[0]
        snr = truth.amplitude / truth.noise
        assert np.sum((snr > 2.9) & (snr < 5.1)) >= 2                 # weak peaks
        assert truth.amplitude.max() == TALLEST
        # shot noise: the difference of two noise draws is wider where the signal is higher
        noise, level = again - y, 0.5 * (again + y)
        high, low = level > np.percentile(level, 80), level < np.percentile(level, 20)
        clean = np.abs(noise) < 10 * np.std(noise[low])                # spikes aside
        assert np.std(noise[high & clean]) > np.std(noise[low & clean])
        backgrounds.append(np.median(y) / TALLEST)
        spikes += truth.spikes.size
        for where in truth.spikes:                                     # spikes stand out
            i = np.argmin(np.abs(x - where))
            assert y[i] - np.median(y[max(i - 10, 0):i + 10]) > 0.2 * TALLEST
    assert max(backgrounds) > 1.0 and spikes > 6                       # fluorescence, spikes
