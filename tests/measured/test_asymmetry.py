"""The asymmetric line shape: the split pseudo-Voigt, its closed-form derivatives, and
asymmetric bands fitted as one peak each with their asymmetry and its sd."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peakflow
from peakflow.core.lineshape import area, fwhm, mean_profile, skewed_profile
from peakflow.experiments.asymmetric import (
    SETS,
    asymmetric_spectrum,
    asymmetry_covered,
    count_per_band,
    split_pseudo_voigt,
)
from peakflow.measured.asymmetry import candidates
from peakflow.measured.window_model import peak_jacobian


def test_the_split_pseudo_voigt_keeps_height_fwhm_and_area():
    x = np.linspace(-200.0, 200.0, 400001)
    for a in (0.0, 0.2, -0.45):
        curve = skewed_profile(x, 2.0, 0.0, 3.0, 0.4, a, np)
        assert curve.max() == pytest.approx(2.0) and x[np.argmax(curve)] == pytest.approx(0.0)
        above = x[curve >= 1.0]
        assert above[-1] - above[0] == pytest.approx(float(fwhm(3.0, 0.4, np)), rel=1e-3)
        # area within ±200 (the Lorentzian tails beyond hold the same share for any a)
        inside = np.trapezoid(skewed_profile(x, 2.0, 0.0, 3.0, 0.4, 0.0, np), x)
        assert np.trapezoid(curve, x) == pytest.approx(inside, rel=1e-3)
        right = np.trapezoid(curve[x > 0], x[x > 0]) / np.trapezoid(curve, x)
        assert right == pytest.approx((1 + a) / 2, abs=0.01)
    # the simulator's split pseudo-Voigt is the same curve
    np.testing.assert_allclose(split_pseudo_voigt(x, 2.0, 1.0, 3.0, 0.4, 0.3),
                               skewed_profile(x, 2.0, 1.0, 3.0, 0.4, 0.3, np))
    assert area(2.0, 3.0, 0.4) > 0


def test_the_jacobian_of_the_split_peak_is_exact():
    with jax.enable_x64(True):
        omega = jnp.linspace(0.0, 60.0, 301)
        u = jnp.array([0.3, 30.2, np.log(4.0), 0.4, 0.25])
        shape = lambda v: mean_profile(omega, 0.0, jnp.exp(v[0]), v[1], jnp.exp(v[2]),
                                       jax.nn.sigmoid(v[3]), jnp, False, v[4])
        np.testing.assert_allclose(peak_jacobian(omega, u), jax.jacfwd(shape)(u), atol=1e-12)


def test_candidates_are_the_closest_linked_pair_and_its_group():
    def peak(c, w, h):
        return [np.log(h), c, np.log(w), -3.0]      # η ≈ 0.05, FWHM ≈ 2.3 γ
    u = np.array([[peak(50, 4, 1.0), peak(55, 4, 0.3), peak(61, 4, 0.2), peak(150, 4, 1.0)]])
    mask = np.ones((1, 4), bool)
    into, absorb = candidates(u, mask, whole=False)
    assert into[0] == 0 and list(absorb[0]) == [False, True, False, False]
    into, absorb = candidates(u, mask, whole=True)       # 61 is linked to 55: the whole band
    assert into[0] == 0 and list(absorb[0]) == [False, True, True, False]
    u[0, 1, 2] = np.log(40.0)                            # too broad to be the same band's part
    into, _ = candidates(u, mask, whole=False)
    assert into[0] == -1


def test_a_pair_with_a_dip_between_its_maxima_is_not_tried():
    def peak(c, h):
        return [np.log(h), c, np.log(3.0), 3.0]         # η ≈ 0.95, FWHM ≈ 6
    pair = lambda apart: np.array([[peak(50, 1.0), peak(50 + apart, 0.9)]])
    mask = np.ones((1, 2), bool)
    assert candidates(pair(2.5), mask, whole=False)[0][0] == 0    # one top: tried
    assert candidates(pair(5.5), mask, whole=False)[0][0] == -1   # two tops, a dip: not
    into, absorb = candidates(np.zeros((0, 2, 5)), np.zeros((0, 2), bool), whole=True)
    assert into.shape == (0,) and absorb.shape == (0, 2)        # no window left to try


def test_a_pair_that_does_not_merge_stays_a_pair(broad_model):
    """Two symmetric peaks 0.7 FWHM apart (one top): a merge may be tried, but one split
    pseudo-Voigt cannot fit them, so they stay two symmetric peaks."""
    x = np.arange(1000.0)
    y = (skewed_profile(x, 1.0, 500.0, 5.0, 0.0, 0.0, np)
         + skewed_profile(x, 0.7, 508.0, 5.0, 0.0, 0.0, np)
         + np.random.default_rng(0).normal(0.0, 0.002, x.size))
    fit = peakflow.fit(y, x, model=broad_model, shape="asymmetric", fwhm=12.0)
    near = np.abs(fit.peaks.location - 504.0) < 15.0
    assert near.sum() == 2 and np.all(fit.peaks.asymmetry[near] ** 2 < 0.01)


def test_asymmetric_bands_come_back_as_one_peak_each(broad_model):
    rng = np.random.default_rng([5, 2])
    data = [asymmetric_spectrum(rng, SETS["strong"]) for _ in range(6)]
    pairs = [(y, x) for y, x, _ in data]
    symmetric = peakflow.fit_many(pairs, model=broad_model)
    fits = peakflow.fit_many(pairs, model=broad_model, shape="asymmetric")
    count = lambda fs: np.concatenate([count_per_band(f, t)["components"]
                                       for f, (_, _, t) in zip(fs, data)])
    assert count(symmetric).mean() > 1.5
    assert count(fits).mean() <= 1.15 and np.mean(count(fits) == 1) >= 0.85
    covered = np.concatenate([asymmetry_covered(f, t) for f, (_, _, t) in zip(fits, data)])
    assert covered.size >= 20 and covered.mean() >= 0.85
    fit = fits[0]
    model, params = fit.to_lmfit()                   # the same curve, asymmetries included
    np.testing.assert_allclose(model.eval(params, x=fit.x), fit.components().sum(axis=0),
                               atol=1e-9 * np.max(fit.y))
    assert "asymmetry" in repr(fit) and np.all(fit.peaks.asymmetry_sd > 0)


def test_shape_option_is_checked():
    with pytest.raises(ValueError, match="shape must be"):
        peakflow.FitOptions(shape="skewed")
    with pytest.raises(ValueError, match="refine"):
        peakflow.FitOptions(shape="asymmetric", refine=False)
