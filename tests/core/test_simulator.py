"""The simulator of the paper's Sec. 3.1: shapes, ranges, separation rules, determinism."""

import chex
import jax
import numpy as np
import pytest

import peakflow
from peakflow.config import SimulatorConfig
from peakflow.core.lineshape import peak_sum
from peakflow.core.signal import window_scale
from peakflow.core.simulator import simulate, simulate_batch


@pytest.fixture(scope="module")
def batch():
    return simulate_batch(jax.random.PRNGKey(0), SimulatorConfig(), 2000)


def test_shapes(batch):
    chex.assert_shape(batch.spectrum, (2000, 500))
    chex.assert_shape(batch.peaks.location, (2000, 4))
    chex.assert_shape(batch.num_peaks, (2000,))


def test_number_of_peaks_is_uniform(batch):
    counts = np.bincount(np.asarray(batch.num_peaks), minlength=5)
    assert counts.min() > 330 and counts.max() < 470  # 400 ± ~3.5 sd


def test_ranges_and_separations(batch):
    mask = np.asarray(batch.mask)
    loc = np.asarray(batch.peaks.location)
    amp = np.asarray(batch.peaks.amplitude)
    width = np.asarray(batch.peaks.width)
    assert loc[mask].min() >= 0 and loc[mask].max() <= 499
    assert amp[mask].min() >= 0.2 and amp[mask].max() <= 0.8
    assert width[mask].min() >= 5 and width[mask].max() <= 15
    both = mask[:, 1:]
    assert np.diff(loc, axis=1)[both].min() >= 50 - 1e-3  # sorted by location, 50 apart
    k = np.asarray(batch.num_peaks)
    for n, gap in [(2, 0.2), (3, 0.2), (4, 0.15)]:
        sorted_amp = np.sort(amp[k == n][:, :n], axis=1)
        assert np.diff(sorted_amp, axis=1).min() >= gap - 1e-5


def test_noise_level_and_clean_signal(batch):
    omega = np.arange(500, dtype=np.float32)
    clean = jax.vmap(peak_sum, in_axes=(None, 0, 0))(omega, batch.peaks, batch.mask)
    residual = np.asarray(batch.spectrum - clean)
    assert residual.std() == pytest.approx(0.01, rel=0.02)


def test_same_key_same_spectrum_and_jittable():
    config = SimulatorConfig()
    a = simulate(jax.random.PRNGKey(3), config)
    b = jax.jit(simulate, static_argnums=1)(jax.random.PRNGKey(3), config)
    np.testing.assert_allclose(a.spectrum, b.spectrum, atol=1e-6)
    c = simulate(jax.random.PRNGKey(4), config)
    assert not np.allclose(a.spectrum, c.spectrum)


def test_k_range_is_configurable():
    out = simulate_batch(jax.random.PRNGKey(1), SimulatorConfig(k_min=1, k_max=2), 200)
    assert set(np.unique(np.asarray(out.num_peaks))) == {1, 2}


def test_infeasible_separation_is_rejected():
    with pytest.raises(ValueError, match="apart"):
        SimulatorConfig(k_max=20, min_separation=50).validate()


@pytest.mark.slow  # 9 s: 256 broad spectra
def test_broad_simulator_normalises_and_varies_the_noise():
    cfg = peakflow.config.preset("broad")
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(0), cfg.sim, 256)
    noise = np.asarray(data.noise)
    assert data.spectrum.shape == (256, 256) and noise.shape == (256,)
    assert noise.max() <= 1 / cfg.sim.scale_floor + 1e-6  # the floor of the window scale
    assert noise.min() < 0.01 and np.ptp(np.log(noise)) > 1.5
    heights = np.asarray(window_scale(data.spectrum, noise, cfg.sim.scale_floor))
    np.testing.assert_allclose(heights, 1.0, rtol=1e-4)  # normalised as real windows are
    peaks = np.asarray(data.peaks.location)[np.asarray(data.mask)]
    assert peaks.min() < 0 and peaks.max() > 255  # some peaks are cut by the window edge
