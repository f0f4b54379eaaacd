"""From window predictions to one spectrum's fit: peaks mapped back to the caller's units and
kept once across windows, the baseline the model marginalised, misfit flags, and the merge of
the coarse second pass."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np

from peakflow.core.likelihood import polynomial_basis, reduced_chi2
from peakflow.core.lineshape import area, fwhm_ratio, profile, slot_mask
from peakflow.core.predict import Prediction
from peakflow.measured.options import FitOptions
from peakflow.measured.prepare import Prepared
from peakflow.measured.results import PeakTable, SpectrumFit, WindowTable
from peakflow.measured.tiling import merge
from peakflow.runtime.trained import TrainedModel

UNEXPLAINED_CHI2 = 4.0  # a window's residual rms above twice the noise sd the model was told


NUM_DRAWS = 256  # joint draws per peak for the sds of amplitude, FWHM and area
DRAW_SEED = 0


def derived_sds(q, amplitude_scale: np.ndarray, step: float, rng: np.random.Generator,
                num_draws: int = NUM_DRAWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sds of amplitude, FWHM and area in the caller's units, from joint draws of q.

    Each peak's (α, γ, η) are drawn together from its q on the host (`host_sample`: numpy,
    nothing to compile), so the correlated family's amplitude-width-shape correlation enters;
    FWHM and area are nonlinear in them.

    Args:
      q: variational parameters of M peaks, fields (M, ...).
      amplitude_scale: (M,) y units per window unit; step: x units per grid point.
      rng: the draws' generator.

    Returns:
      (amplitude_sd, fwhm_sd, area_sd), each (M,) float64.
    """
    if not len(amplitude_scale):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    draws = q.host_sample(rng, num_draws)
    amp = draws.amplitude * amplitude_scale
    gamma = np.abs(draws.width) * step
    eta = np.clip(draws.lorentzian, 0.0, 1.0)
    size = gamma * fwhm_ratio(eta, np)
    return amp.std(axis=0), size.std(axis=0), area(amp, gamma, eta).std(axis=0)


def window_baselines(prep: Prepared, pred: Prediction, degree: int) -> np.ndarray:
    """The polynomial baselines the model marginalised, blended into one curve on the grid.

    In each window the least-squares polynomial of the residual (window minus its peaks at
    their posterior means) is the baseline the model integrated out; overlapping windows are
    blended with triangular weights peaking at their centres.

    Returns:
      (G,) baseline on ``prep.grid`` in corrected-intensity units (zeros when degree < 0).
    """
    size = prep.windows.shape[1]
    if degree < 0:
        return np.zeros(prep.grid.size)
    omega = np.arange(size, dtype=np.float64)
    mean = jax.tree.map(lambda a: np.asarray(a, np.float64)[..., None], pred.q.mean())
    present = slot_mask(pred.num_peaks, pred.k_probs.shape[1] - 1)
    each = profile(omega[None, None, :], *mean, xp=np)
    residual = prep.windows - np.sum(np.where(present[..., None], each, 0.0), axis=1)
    basis = polynomial_basis(size, degree).astype(np.float64)
    cubic = (residual @ basis) @ basis.T * prep.scales[:, None]  # (M, W) grid units
    weight = np.maximum(1.0 - np.abs(omega - (size - 1) / 2) / (size / 2), 1e-3)
    total, norm = np.zeros(prep.grid.size), np.zeros(prep.grid.size)
    for start, curve in zip(prep.starts, cubic):
        total[start:start + size] += weight * curve
        norm[start:start + size] += weight
    return total / np.maximum(norm, 1e-12)


def peak_table(prep: Prepared, pred: Prediction, window_length: int,
               tolerance: float) -> PeakTable:
    """The windows' peaks in the caller's units, each kept once (`tiling.merge`), sorted.

    Peaks inside a padding (beyond the data) are dropped. ``probability`` of the j-th peak a
    window added is P(K >= j) of that window.
    """
    step = float(prep.grid[1] - prep.grid[0])
    win, slot = np.nonzero(slot_mask(pred.num_peaks, pred.k_probs.shape[1] - 1))
    exists = np.clip(1.0 - np.cumsum(pred.k_probs, axis=1)[:, :-1], 0.0, 1.0)  # P(K >= slot+1)
    q = jax.tree.map(lambda a: a[win, slot], pred.q)
    mean, sd = q.mean(), q.std()
    grid_pos = prep.starts[win] + mean.location
    size = np.asarray(mean.width) * fwhm_ratio(np.asarray(mean.lorentzian), np)
    keep = merge(grid_pos, win, size, prep.starts, window_length, tolerance)
    location = prep.grid[0] + grid_pos * step
    keep &= (location >= prep.x[0]) & (location <= prep.x[-1])  # not in a padding
    order = np.argsort(grid_pos[keep])
    pick = lambda v: np.asarray(v, np.float64)[keep][order]
    window = win[keep][order]
    scale = prep.scales[window]
    gamma, gamma_sd = pick(mean.width) * step, pick(sd.width) * step
    eta, eta_sd = pick(mean.lorentzian), pick(sd.lorentzian)
    amp = pick(mean.amplitude) * scale
    kept = jax.tree.map(lambda a: np.asarray(a)[keep][order], q)
    amp_sd, fw_sd, area_sd = derived_sds(kept, scale, step, np.random.default_rng(DRAW_SEED))
    peak_area, fw = area(amp, gamma, eta), gamma * fwhm_ratio(eta, np)
    return PeakTable(
        location=pick(location), location_sd=pick(sd.location) * step, fwhm=fw, fwhm_sd=fw_sd,
        amplitude=amp, amplitude_sd=amp_sd, area=peak_area, area_sd=area_sd,
        lorentzian=eta, lorentzian_sd=eta_sd, width=gamma, width_sd=gamma_sd,
        probability=pick(exists[win, slot]), window=window.astype(np.int64))


def window_table(prep: Prepared, pred: Prediction, window_length: int, k_max: int,
                 khat: np.ndarray | None = None) -> WindowTable:
    """Each window's x range, P(K), reduced χ², `unexplained` flag (χ² above
    `UNEXPLAINED_CHI2`, or all K_max peaks used) and k̂ of the exactness step (NaN: none)."""
    chi2 = np.asarray(reduced_chi2(pred.log_lik, prep.noise_model, window_length), np.float64)
    return WindowTable(
        start=np.maximum(prep.grid[prep.starts], prep.x[0]),
        stop=np.minimum(prep.grid[prep.starts + window_length - 1], prep.x[-1]),
        k_probs=np.asarray(pred.k_probs, np.float64), num_peaks=pred.num_peaks.astype(np.int64),
        chi2=chi2, unexplained=(chi2 > UNEXPLAINED_CHI2) | (pred.num_peaks == k_max),
        khat=np.full(chi2.shape, np.nan) if khat is None else np.asarray(khat, np.float64))


def assemble_fit(prep: Prepared, pred: Prediction, trained: TrainedModel,
                 options: FitOptions, name: str | None, khat: np.ndarray | None = None
                 ) -> SpectrumFit:
    """Step 6 of `peakflow.measured.pipeline`: one spectrum's window predictions → its fit.

    Args:
      prep: the prepared spectrum (M windows).
      pred: the `Prediction` of its windows, fields (M, ...).
      trained: the model that made it.
      options: the fit's options (``tolerance``).
      name: carried into the result.
      khat: (M,) k̂ of the exactness step, when `pred` was reweighted.
    """
    peaks = peak_table(prep, pred, trained.num_points, options.tolerance)
    windows = window_table(prep, pred, trained.num_points, trained.k_max, khat)
    on_grid = prep.baseline + window_baselines(prep, pred, trained.config.model.baseline_degree)
    baseline = np.interp(prep.x, prep.grid, on_grid)
    fit = SpectrumFit(peaks, windows, prep.x, prep.y, baseline, baseline, prep.noise,
                      float(prep.grid[1] - prep.grid[0]), bool(windows.unexplained.any()),
                      None, name)
    return replace(fit, fitted=baseline + fit.components().sum(axis=0))


def combine_passes(fine: SpectrumFit, coarse: SpectrumFit) -> SpectrumFit:
    """The fine pass's fit plus the coarse pass's (fitted to its residual) as one fit.

    Peaks are pooled (sorted by location); the coarse pass's windows follow the fine pass's
    in `WindowTable` (its peaks' ``window`` indices are shifted accordingly); the baselines
    add; ``unexplained`` is the coarse pass's verdict on the final residual.
    """
    shift = fine.windows.start.size
    both = [getattr(fine.peaks, name) for name in PeakTable.__dataclass_fields__]
    more = [getattr(coarse.peaks, name) for name in PeakTable.__dataclass_fields__]
    more[-1] = more[-1] + shift
    order = np.argsort(np.concatenate([fine.peaks.location, coarse.peaks.location]),
                       kind="stable")
    peaks = PeakTable(*(np.concatenate([a, b])[order] for a, b in zip(both, more)))
    windows = WindowTable(*(np.concatenate([getattr(fine.windows, n), getattr(coarse.windows, n)])
                            for n in WindowTable.__dataclass_fields__))
    baseline = fine.baseline + coarse.baseline
    fitted = fine.fitted + coarse.fitted
    return replace(fine, peaks=peaks, windows=windows, baseline=baseline, fitted=fitted,
                   unexplained=coarse.unexplained)
