"""The measured path's exactness step: windows reweighted towards their exact posterior."""

import jax
import numpy as np
import pytest

from peakflow.core.likelihood import polynomial_basis
from peakflow.core.lineshape import profile
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured import fit
from peakflow.measured.points import WindowPoints
from peakflow.measured.window_exactness import reweight_predictions

TRUTH = (0.8, 131.3, 5.0, 0.4)  # α, c, γ, η in window units
NOISE = 0.01


def laplace_sds(omega: np.ndarray, degree: int) -> np.ndarray:
    """(4,) sds of (α, c, γ, η) from the Fisher information of one pseudo-Voigt peak with a
    marginalised polynomial baseline: σ² (Jᵀ P J)⁻¹, J by central differences."""
    steps = np.array([1e-4, 1e-4, 1e-4, 1e-5])
    jac = []
    for i, h in enumerate(steps):
        up, down = np.array(TRUTH), np.array(TRUTH)
        up[i] += h
        down[i] -= h
        jac.append((profile(omega, *up, xp=np) - profile(omega, *down, xp=np)) / (2 * h))
    jac = np.stack(jac, axis=1)  # (W, 4)
    basis = polynomial_basis(omega.size, degree).astype(np.float64)
    jac = jac - basis @ (basis.T @ jac)
    return NOISE * np.sqrt(np.diag(np.linalg.inv(jac.T @ jac)))


@pytest.mark.slow  # 10 s each; the step also runs in test_fit_with_the_exactness_step
@pytest.mark.parametrize("at_points", [False, True])
def test_one_isolated_peak_gets_the_laplace_sds(broad_model, at_points):
    """An isolated, well-measured peak's exact posterior is close to Gaussian, so after the
    exactness step its location and width sds must match the Fisher-information ones, with
    the target on the grid or at the data points (here the same points, the cubic only)."""
    omega = np.arange(broad_model.num_points, dtype=np.float64)
    rng = np.random.default_rng(0)
    window = profile(omega, *TRUTH, xp=np) + NOISE * rng.standard_normal(omega.size)
    windows, noise = window[None].astype(np.float32), np.array([NOISE], np.float32)
    pred = broad_model.predict(windows, noise=noise)
    assert int(pred.num_peaks[0]) == 1
    points = WindowPoints(omega[None], window[None], np.full((1, omega.size), 1 / NOISE),
                          np.zeros((1, omega.size))) if at_points else None
    new, khat = reweight_predictions(pred, windows, noise, broad_model, jax.random.PRNGKey(0),
                                     points, np.zeros(1))
    assert khat.shape == (1,) and khat[0] < 0.7
    want = laplace_sds(omega, broad_model.config.model.baseline_degree)
    got = new.q.sd()
    for i, name in ((0, "amplitude"), (1, "location"), (2, "width")):
        assert abs(float(np.asarray(getattr(got, name))[0, 0]) / want[i] - 1) < 0.25, name
    mean = new.q.mean()
    assert abs(float(mean.location[0, 0]) - TRUTH[1]) < 4 * want[1]
    assert new.log_lik.shape == (1,) and np.isfinite(new.log_lik).all()


def test_fit_with_the_exactness_step(broad_model):
    y, x, truth = realistic_spectrum(np.random.default_rng(3), points=(1500, 1500))
    plain = fit(y, x, model=broad_model, coarse=None)
    exact = fit(y, x, model=broad_model, coarse=None, exact=True)
    assert np.isnan(plain.windows.khat).all()
    has = exact.windows.num_peaks > 0
    assert np.isfinite(exact.windows.khat[has]).all() and np.isnan(exact.windows.khat[~has]).all()
    # its proposal holds the peaks the refinement keeps: every window has the same K
    assert exact.windows.num_peaks.tolist() == plain.windows.num_peaks.tolist()
    assert exact.num_peaks == plain.num_peaks
    assert np.all(exact.peaks.location_sd > 0) and np.all(exact.peaks.area_sd > 0)
    near = np.abs(exact.peaks.location[:, None] - truth.location[None]).min(axis=1)
    assert np.median(near / np.median(truth.fwhm)) < 0.05
    assert "khat" in exact.to_dict()["windows"][0]
