"""Synthetic spectra of the paper's Sec. 3.1, as pure key-driven functions.

`simulate` draws one spectrum with fixed-size arrays (K_max slots and a count), so it jits and
vmaps; `simulate_batch` is its vmap over split keys. Both run inside the jitted training step.

Separation rules are sampled exactly, without rejection: k points uniform on [lo, hi] at least
d apart are k sorted uniforms on [lo, hi - (k-1) d] with i·d added to the i-th (the spacing
transform). Locations use the gap ``min_separation``; sorted amplitudes use the gap
``min(amplitude_separation, (hi - lo) / k)`` and are then shuffled among the peaks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from peakflow.config import SimulatorConfig
from peakflow.core.lineshape import Peaks, peak_sum, slot_mask
from peakflow.core.signal import window_scale


class Simulated(NamedTuple):
    """A simulated spectrum and its ground truth.

    Attributes:
      spectrum: (..., W) noisy spectrum.
      peaks: fields (..., K) with K = `k_max` slots, sorted by location; slots at or beyond
        `num_peaks` hold zeros.
      num_peaks: (...,) int number of peaks.
      noise: (...,) noise sd (in the spectrum's final, possibly normalised, units).
    """

    spectrum: jax.Array
    peaks: Peaks
    num_peaks: jax.Array
    noise: jax.Array

    @property
    def mask(self) -> jax.Array:
        """(..., K) True for the slots that hold a peak."""
        return slot_mask(self.num_peaks, self.peaks.amplitude.shape[-1])


def _spaced_uniform(key: jax.Array, active: jax.Array, lo: float, hi: float,
                    gap: jax.Array) -> jax.Array:
    """Sorted uniform values on [lo, hi], consecutive active ones at least `gap` apart.

    Args:
      active: (K,) bool, True for the first k slots.
      gap: () minimum spacing.

    Returns:
      (K,) values; the first k sorted ascending, the rest arbitrary.
    """
    k = jnp.sum(active)
    slack = (hi - lo) - jnp.maximum(k - 1, 0) * gap
    u = jax.random.uniform(key, active.shape) * slack
    u = jnp.sort(jnp.where(active, u, jnp.inf))
    u = jnp.where(active, u, 0.0)
    return lo + u + jnp.arange(active.shape[0]) * gap


def simulate(key: jax.Array, config: SimulatorConfig) -> Simulated:
    """Draws one spectrum.

    Args:
      key: PRNG key.
      config: ranges, K range, separations and noise.

    Returns:
      `Simulated` with spectrum (W,), peak fields (k_max,), num_peaks ().
    """
    k_key, loc_key, amp_key, perm_key, width_key, eta_key, noise_key = jax.random.split(key, 7)
    sd_key, base_key = jax.random.split(jax.random.fold_in(key, 1), 2)  # for broader configs
    slots = config.k_max
    num_peaks = jax.random.randint(k_key, (), config.k_min, config.k_max + 1)
    active = jnp.arange(slots) < num_peaks

    location = _spaced_uniform(loc_key, active, *config.location, config.min_separation)
    amp_lo, amp_hi = config.amplitude
    if config.amplitude_scale == "log":
        amp_lo, amp_hi = math.log(amp_lo), math.log(amp_hi)
    amp_gap = jnp.minimum(config.amplitude_separation,
                          (amp_hi - amp_lo) / jnp.maximum(num_peaks, 1))
    amplitude_sorted = _spaced_uniform(amp_key, active, amp_lo, amp_hi, amp_gap)
    # Shuffle the amplitudes among the active peaks: rank random keys, inactive ones last.
    order = jnp.where(active, jax.random.uniform(perm_key, (slots,)), jnp.inf)
    rank = jnp.argsort(jnp.argsort(order))
    amplitude = amplitude_sorted[rank]
    if config.amplitude_scale == "log":
        amplitude = jnp.exp(amplitude)

    width = jax.random.uniform(width_key, (slots,), minval=config.width[0], maxval=config.width[1])
    lorentzian = jax.random.uniform(eta_key, (slots,), minval=config.lorentzian[0],
                                    maxval=config.lorentzian[1])
    zero = jnp.zeros(slots)
    peaks = Peaks(*(jnp.where(active, p, zero) for p in (amplitude, location, width, lorentzian)))

    omega = jnp.arange(config.num_points, dtype=jnp.float32)
    clean = peak_sum(omega, peaks, active) + _baseline(base_key, config)
    noise = jnp.asarray(config.noise, jnp.float32)
    if config.noise_max is not None:
        noise = jnp.exp(jax.random.uniform(sd_key, minval=math.log(config.noise),
                                           maxval=math.log(config.noise_max)))
    noisy = clean + noise * jax.random.normal(noise_key, (config.num_points,))
    if config.normalise:
        scale = window_scale(noisy, noise, config.scale_floor)
        noisy, noise = noisy / scale, noise / scale
        peaks = peaks._replace(amplitude=peaks.amplitude / scale)
    return Simulated(noisy, peaks, num_peaks, noise)


def _baseline(key: jax.Array, config: SimulatorConfig) -> jax.Array:
    """(W,) random cubic (coefficients N(0, baseline²) on t in [-1, 1]) plus a slow sinusoid."""
    if config.baseline <= 0 and config.baseline_wiggle <= 0:
        return jnp.zeros(config.num_points)
    coef_key, amp_key, period_key, phase_key = jax.random.split(key, 4)
    t = jnp.linspace(-1.0, 1.0, config.num_points)
    coef = config.baseline * jax.random.normal(coef_key, (4,))
    cubic = jnp.polyval(coef, t)
    amplitude = config.baseline_wiggle * jax.random.uniform(amp_key)
    cycles = jax.random.uniform(period_key, minval=0.25, maxval=1.0)  # periods of W..4W
    phase = 2 * jnp.pi * jax.random.uniform(phase_key)
    return cubic + amplitude * jnp.sin(jnp.pi * cycles * (t + 1.0) + phase)


def simulate_batch(key: jax.Array, config: SimulatorConfig, batch_size: int) -> Simulated:
    """`simulate` vmapped over `batch_size` independent keys: spectrum (B, W), fields (B, K)."""
    keys = jax.random.split(key, batch_size)
    return jax.vmap(simulate, in_axes=(0, None))(keys, config)
