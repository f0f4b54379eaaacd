"""Cosmic-ray spikes are removed before fitting, real peaks are not."""

import numpy as np

from peakflow.core.lineshape import profile
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured import fit
from peakflow.measured.despike import find_spikes, remove_spikes


def test_one_and_two_point_spikes_are_found_on_a_noisy_curve():
    rng = np.random.default_rng(0)
    x = np.arange(2000.0)
    y = 100 * np.exp(-((x - 900) / 300) ** 2) + rng.normal(0, 1, x.size)
    y[[300, 1200, 1201]] += [60.0, 200.0, 150.0]
    y[1700] -= 40.0                                  # a dead pixel
    np.testing.assert_array_equal(np.flatnonzero(find_spikes(y, 1.0)), [300, 1200, 1201, 1700])
    clean, where = remove_spikes(x, y, 1.0)
    np.testing.assert_array_equal(where, [300.0, 1200.0, 1201.0, 1700.0])
    assert np.all(np.abs(clean[[300, 1200, 1201, 1700]] - 100 * np.exp(
        -((x[[300, 1200, 1201, 1700]] - 900) / 300) ** 2)) < 5)


def test_a_dropout_at_either_end_is_a_spike_and_a_peak_there_is_not():
    """An end point is compared with its mirrored neighbours: a first point recorded as 0 (as
    in every RRUFF infrared file) is found and replaced; a peak cut by the end is kept."""
    rng = np.random.default_rng(2)
    x = np.arange(1000.0)
    y = 100 + 0.01 * x + rng.normal(0, 1, x.size)
    y[[0, -1]] = 0.0
    np.testing.assert_array_equal(np.flatnonzero(find_spikes(y, 1.0)), [0, x.size - 1])
    clean, where = remove_spikes(x, y, 1.0)
    np.testing.assert_array_equal(where, [0.0, x.size - 1.0])
    assert abs(clean[0] - 100) < 5 and abs(clean[-1] - 110) < 5
    for fwhm in (2.0, 3.0, 6.0):      # narrow peaks centred on the first point
        peak = y[1:-1] + profile(x[1:-1], 500.0, 1.0, fwhm / 2, 1.0, xp=np)
        assert not find_spikes(peak, 1.0)[:3].any()


def test_narrow_tall_peaks_and_counting_noise_are_not_spikes():
    rng = np.random.default_rng(1)
    x = np.arange(3000.0)
    y = np.zeros_like(x)
    for centre, fwhm in ((400, 2.0), (900, 3.0), (1500, 4.0), (2200, 8.0)):
        y += profile(x, 1e4, centre, fwhm / 2, 1.0, xp=np)        # Lorentzians, FWHM 2-8 points
    y += 50 + 2000 * np.exp(-x / 800)                             # counts fall along the axis
    y = rng.poisson(y).astype(float)                              # noise ∝ √counts
    assert not find_spikes(y, np.std(np.diff(y[2500:], 2)) / np.sqrt(6)).any()


def test_a_spike_changes_neither_the_peaks_nor_their_number(broad_model):
    y, x, _ = realistic_spectrum(np.random.default_rng(5))
    clean = fit(y, x, model=broad_model)
    rng = np.random.default_rng(6)
    spiky = y.copy()
    places = rng.choice(np.arange(50, y.size - 50), 3, replace=False)
    spiky[places] += 50 * clean.noise * np.array([1.0, 3.0, 6.0])
    spiky[places[0] + 1] += 40 * clean.noise                       # a two-point spike
    found = fit(spiky, x, model=broad_model)
    assert found.num_peaks == clean.num_peaks
    np.testing.assert_allclose(found.peaks.location, clean.peaks.location,
                               atol=float(np.max(clean.peaks.location_sd)) * 3)
    assert len(found.spikes) == 4 and np.isin(x[places], found.spikes).all()
    kept = fit(spiky, x, model=broad_model, despike=False)
    assert kept.spikes.size == 0 and kept.num_peaks > clean.num_peaks
