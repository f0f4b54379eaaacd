"""Analytic properties of the pseudo-Voigt model and the likelihood."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from peakflow.core.lineshape import (
    Peaks,
    area,
    fwhm,
    fwhm_ratio,
    peak_sum,
    profile,
    pseudo_voigt,
    slot_mask,
)

OMEGA = jnp.arange(500, dtype=jnp.float32)


def peak(a=1.0, c=250.0, w=10.0, eta=0.5):
    return Peaks(jnp.float32(a), jnp.float32(c), jnp.float32(w), jnp.float32(eta))


def test_gaussian_when_eta_is_zero():
    got = pseudo_voigt(OMEGA, peak(a=0.7, c=200.0, w=8.0, eta=0.0))
    want = 0.7 * np.exp(-0.5 * ((np.arange(500) - 200.0) / 8.0) ** 2)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_lorentzian_when_eta_is_one():
    got = pseudo_voigt(OMEGA, peak(a=0.4, c=123.0, w=5.0, eta=1.0))
    want = 0.4 / (1.0 + ((np.arange(500) - 123.0) / 5.0) ** 2)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_height_is_amplitude_at_centre(eta):
    assert float(pseudo_voigt(jnp.array([250.0]), peak(a=0.6, eta=eta))[0]) == pytest.approx(0.6)


def test_half_height_points():
    # Lorentzian: half height at c ± γ; Gaussian: at c ± γ·sqrt(2 ln 2).
    lor = pseudo_voigt(jnp.array([260.0, 240.0]), peak(w=10.0, eta=1.0))
    np.testing.assert_allclose(lor, [0.5, 0.5], atol=1e-6)
    h = 10.0 * math.sqrt(2 * math.log(2))
    gau = pseudo_voigt(jnp.array([250.0 + h]), peak(w=10.0, eta=0.0))
    np.testing.assert_allclose(gau, [0.5], atol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_fwhm_is_where_the_peak_is_half_its_height(eta):
    width = fwhm(jnp.float32(7.0), jnp.float32(eta))
    value = pseudo_voigt(jnp.array([250.0 + width / 2]), peak(w=7.0, eta=eta))
    np.testing.assert_allclose(value, [0.5], atol=1e-5)
    if eta == 0.0:
        assert float(width) == pytest.approx(2 * math.sqrt(2 * math.log(2)) * 7.0, rel=1e-5)
    if eta == 1.0:
        assert float(width) == pytest.approx(14.0, rel=1e-5)


def test_spectrum_sums_unmasked_peaks_only():
    peaks = Peaks(jnp.array([0.5, 0.3, jnp.nan]), jnp.array([100.0, 300.0, jnp.nan]),
                  jnp.array([5.0, 9.0, jnp.nan]), jnp.array([0.2, 0.9, jnp.nan]))
    mask = jnp.array([True, True, False])
    got = peak_sum(OMEGA, peaks, mask)
    want = (pseudo_voigt(OMEGA, peak(0.5, 100.0, 5.0, 0.2))
            + pseudo_voigt(OMEGA, peak(0.3, 300.0, 9.0, 0.9)))
    assert bool(jnp.all(jnp.isfinite(got)))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_batched_with_vmap():
    batch = Peaks(*(jnp.full((3,), v) for v in (0.5, 250.0, 10.0, 0.5)))
    out = jax.vmap(pseudo_voigt, in_axes=(None, 0))(OMEGA, batch)
    assert out.shape == (3, 500)
    assert out.dtype == jnp.float32


def test_numpy_and_jax_forms_agree():
    eta = np.linspace(0, 1, 11)
    np.testing.assert_allclose(fwhm_ratio(eta, np), fwhm(jnp.ones(11), eta), rtol=1e-5)
    assert fwhm_ratio(eta, np).dtype == np.float64  # the measured path keeps float64
    x = np.linspace(-1e6 - 50, -1e6 + 50, 201)  # caller's units far from the origin
    got = profile(x, 2.0, -1e6, 7.0, 0.4, xp=np)
    want = pseudo_voigt(jnp.asarray(x + 1e6, jnp.float32), peak(2.0, 0.0, 7.0, 0.4))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_area_is_the_integral(eta):
    x = np.linspace(-3000, 3000, 600001)  # Lorentzian tails beyond: < 3e-4 of the area
    numeric = np.trapezoid(profile(x, 2.0, 0.0, 3.0, eta, xp=np), x)
    assert area(2.0, 3.0, eta) == pytest.approx(numeric, rel=1e-3)


def test_slot_mask_on_numpy_and_under_jit():
    counts = np.array([0, 2, 4])
    want = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], bool)
    np.testing.assert_array_equal(slot_mask(counts, 4), want)
    np.testing.assert_array_equal(jax.jit(lambda k: slot_mask(k, 4))(jnp.asarray(counts)), want)

