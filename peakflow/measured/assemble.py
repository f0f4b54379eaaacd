"""From window predictions to one spectrum's fit: peaks mapped back to the caller's units and
kept once across windows, the baseline the model marginalised, misfit flags, and the merge of
the coarse second pass."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np

from peakflow.core.amortized import Prediction
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.likelihood import MISFIT_CHI2
from peakflow.core.lineshape import (
    Peaks,
    area,
    fwhm_ratio,
    fwhm_ratio_table,
    slot_mask,
)
from peakflow.measured.batch import WindowBatch
from peakflow.measured.doublet import window_lines
from peakflow.measured.draws import PeakDraws
from peakflow.measured.laplace import about_best_fit
from peakflow.measured.options import FitOptions
from peakflow.measured.prepare import Prepared
from peakflow.measured.resample import TARGET_FWHM, data_step
from peakflow.measured.results import PeakTable, SpectrumFit, WindowTable
from peakflow.measured.tiling import merge
from peakflow.measured.window_baseline import baseline_modes, marginal_baseline, prior_precision
from peakflow.measured.window_model import shirley_step
from peakflow.measured.window_peaks import (
    own_triples,
    peaks_at_points,
    reported_triples,
    unreported,
)
from peakflow.runtime.trained import TrainedModel

BACKGROUND_RSD = 0.25   # a broad peak whose height sd exceeds this fraction of it ...
BACKGROUND_WIDTH = 2.0 * TARGET_FWHM  # ... and whose FWHM exceeds this (grid points)
BACKGROUND_HEIGHT = 0.5  # ... and not a main feature (below this share of the window's scale)


NUM_DRAWS = 256  # joint draws per peak for the sds of amplitude, FWHM and area


def derived_sds(q, y_scale: np.ndarray, grid_step: float | np.ndarray,
                rng: np.random.Generator,
                num_draws: int = NUM_DRAWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sds of amplitude, FWHM and area in the caller's units, from joint draws of q.

    Each peak's (α, γ, η) are drawn together from its q on the host (`host_sample`: numpy,
    nothing to compile), so the correlated family's amplitude-width-shape correlation enters;
    FWHM and area are nonlinear in them. Every peak is driven by the same `num_draws` random
    vectors (``shared``), so a peak's sds do not depend on which other peaks share the call.

    Args:
      q: variational parameters of P peaks, fields (P, ...).
      y_scale: (P,) y units per window unit; grid_step: x units per grid point, scalar
        or (P,).
      rng: the draws' generator.

    Returns:
      (amplitude_sd, fwhm_sd, area_sd), each (P,) float64.
    """
    if not len(y_scale):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    draws = q.host_sample(rng, num_draws, shared=True)
    amp = draws.amplitude * y_scale
    gamma = np.abs(draws.width) * grid_step
    eta = np.clip(draws.lorentzian, 0.0, 1.0)
    size = gamma * fwhm_ratio_table(eta)
    return amp.std(axis=0), size.std(axis=0), area(amp, gamma, eta).std(axis=0)


def window_fits(batch: WindowBatch, mean: Peaks, degree: int | np.ndarray, lam: float,
                step: float = 0.0, frame: tuple[np.ndarray, np.ndarray] | None = None,
                report: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each window's fit at the posterior mean: the baseline the model marginalised (the
    posterior mean of its cubic and smooth deviation given the peaks,
    `peakflow.measured.window_baseline`) on the window's grid, and its reduced χ² over its
    data points.

    Args:
      batch: the windows (values (M, W), points, baseline deviation sds) with their
        predictions; mean: the posterior means, fields (M, K); degree, lam: the cubic's
        degree (or (M,), one per window; negative: none) and the removed baseline's
        Whittaker smoothness; step: a Shirley background's
        direction (`peakflow.measured.window_model.shirley_step`; 0: none), its scale
        marginalised with the rest and its curve part of the baseline.
      frame: ((M,) starts, (M,) scales) each window's first point on its spectrum's grid
        and its intensity scale; needed with `report`.
      report: (target, source, slot) (`window_peaks.reported_triples`): the baseline is
        then solved against those peaks, the ones the spectrum reports, wherever they come
        from (`peakflow.measured.window_peaks`); χ² stays that of each window's own fit.

    Returns:
      (baseline (M, W), in the windows' normalised units; χ² (M,): the χ² of
      the points given the peaks, the baseline marginalised, over (points − 4K − the
      baseline's effective parameters), the divisor kept at least half the points).
    """
    size = batch.values.shape[1]
    points = batch.points
    present = slot_mask(batch.pred.num_peaks, mean.amplitude.shape[1])
    count = points.omega.shape[0]
    starts, scales = frame if frame is not None else (np.zeros(count, np.int64), np.ones(count))
    at = lambda triples: peaks_at_points(points, starts, scales, mean, batch.pair, batch.skew,
                                         *triples, np.asarray(batch.noise, np.float64))
    own = own_triples(present)
    at_points = at(own)
    steps = None
    if step:
        u = np.stack([np.log(np.maximum(mean.amplitude, 1e-300)), mean.location,
                      np.log(np.maximum(mean.width, 1e-300)),
                      np.log(mean.lorentzian / np.maximum(1 - mean.lorentzian, 1e-300))], -1)
        grid = np.arange(size, dtype=np.float64)
        steps = [np.stack([shirley_step(w[m], u[m], present[m], step, np)
                           for m in range(len(u))])
                 for w in (points.omega, np.broadcast_to(grid, (len(u), size)))]
    residual = points.values - at_points
    if report is not None:                  # the reported peaks' residual, solved alongside
        residual = np.stack([residual, residual + at(unreported(own, report, present.shape[1]))
                             - at(tuple(a[report[0] != report[1]] for a in report))])
    degrees = np.broadcast_to(np.asarray(degree), count)
    curve, chi2 = np.zeros((count, size)), np.zeros(count)
    for value in np.unique(degrees):            # one baseline basis per polynomial degree
        rows = np.flatnonzero(degrees == value)
        table, share = baseline_modes(size, int(value), lam)
        prior = prior_precision(share, batch.deviation_sd[rows], size)
        coef, fit_chi2, dof, k = marginal_baseline(
            points.omega[rows], residual[..., rows, :], points.weight[rows], table, prior,
            None if steps is None else steps[0][rows])
        if report is not None:      # χ² of the window's own fit, baseline of the reported
            coef, fit_chi2, k = coef[1], fit_chi2[0], k[1]
        n = points.counts[rows]
        spent = dof + 4 * np.asarray(batch.pred.num_peaks)[rows]
        curve[rows] = coef @ table.T + (0.0 if steps is None else k[:, None] * steps[1][rows])
        chi2[rows] = fit_chi2 / np.maximum(n - spent, np.maximum(n / 2, 1))
    return curve, chi2


def _asymmetry(batch: WindowBatch, rows: np.ndarray, slot) -> np.ndarray | None:
    """(n, 1) the asymmetry of peak `slot` (int or (n,)) of the windows `rows`; None when
    every such peak is symmetric."""
    if batch.skew is None:
        return None
    value = batch.skew[rows, slot, 0][:, None]
    return value if np.any(value) else None


STRETCH_SIGMA = 4.0  # a run of one FWHM whose mean residual is this many noise sds off: misfit
STRETCH_MIN_POINTS = 8


def spectrum_misfit(fit: SpectrumFit) -> tuple[float, float]:
    """The whole spectrum's reduced χ² against its estimated noise, and its worst stretch.

    The worst stretch is the largest |mean| of the standardised residual (residual / noise)
    over any run of w consecutive points, w the points in one model-grid FWHM (at least
    `STRETCH_MIN_POINTS`): below ~1.6 for white noise over thousands of points, far more where
    a feature is left unfitted (a broad band, an edge the baseline missed).

    Returns:
      (chi2, stretch in noise sds); NaN for an empty fit.
    """
    if not fit.x.size:
        return float("nan"), float("nan")
    r = (fit.y - fit.fitted) / fit.noise
    step_of_x = data_step(fit.x) if fit.x.size > 1 else fit.grid_step
    w = int(min(max(STRETCH_MIN_POINTS, round(TARGET_FWHM * fit.grid_step / step_of_x)),
                r.size))
    run = np.concatenate([[0.0], np.cumsum(r)])
    return float(np.mean(r * r)), float(np.max(np.abs(run[w:] - run[:-w])) / w)


def blend(prep: Prepared, curves: np.ndarray) -> np.ndarray:
    """Per-window curves (M, W) blended into one curve (G,) on ``prep.grid`` with triangular
    weights peaking at the window centres."""
    size = curves.shape[1]
    omega = np.arange(size, dtype=np.float64)
    weight = np.maximum(1.0 - np.abs(omega - (size - 1) / 2) / (size / 2), 1e-3)
    total, norm = np.zeros(prep.grid.size), np.zeros(prep.grid.size)
    for start, curve in zip(prep.starts, curves):
        total[start:start + size] += weight * curve
        norm[start:start + size] += weight
    return total / np.maximum(norm, 1e-12)


def select_peaks(prep: Prepared, pred: Prediction, mean: Peaks, sd: Peaks, size: np.ndarray,
                 window_length: int, tolerance: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The windows' peaks to report, each kept once (`tiling.merge`), sorted by location;
    and the background: the peaks centred beyond the data (in a padding or past an end) and
    those whose height the window does not determine (sd above `BACKGROUND_RSD` of it), that
    are low (below `BACKGROUND_HEIGHT` of the window's scale, which its tallest feature sets)
    and broad (FWHM above `BACKGROUND_WIDTH` grid points, twice the typical width the grid was
    chosen for) or centred within one FWHM of an end of the data: a component trading off
    against the window's baseline, as under an exponential decay. (A real broad band made of
    overlapping components is as undetermined component by component, but it is the
    window's main feature.) So is a component broader than the whole spectrum: no peak of
    it, whatever its height. Those are not reported but stay part of their window's fit.
    (Narrow components may be as undetermined where several model one non-pseudo-Voigt line;
    they stay peaks.)

    Args:
      mean, sd: posterior means and sds of the windows' slots, fields (M, K); size: (M, K)
        their FWHM in grid points.

    Returns:
      (window (P,), slot (P,)) of the kept peaks, (window (E,), slot (E,)) of the background.
    """
    step = float(prep.grid[1] - prep.grid[0])
    win, slot = np.nonzero(slot_mask(pred.num_peaks, pred.k_probs.shape[1] - 1))
    grid_pos = prep.starts[win] + mean.location[win, slot]
    location = prep.grid[0] + grid_pos * step
    width = size[win, slot]
    edge = np.minimum(location - prep.x[0], prep.x[-1] - location) < width * step
    height = mean.amplitude[win, slot]              # in window units: the tallest feature ~1
    loose = ((sd.amplitude[win, slot] > BACKGROUND_RSD * height) & (height < BACKGROUND_HEIGHT)
             & ((width > BACKGROUND_WIDTH) | edge)) | (width * step > prep.x[-1] - prep.x[0])
    peak = (location >= prep.x[0]) & (location <= prep.x[-1]) & ~loose
    keep = merge(grid_pos, win, size[win, slot], prep.starts, window_length, tolerance) & peak
    order = np.argsort(grid_pos[keep])
    return win[keep][order], slot[keep][order], win[~peak], slot[~peak]


def peak_table(prep: Prepared, pred: Prediction, mean: Peaks, sd: Peaks, size: np.ndarray,
               window: np.ndarray, slot: np.ndarray,
               derived: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
               skew: np.ndarray | None = None) -> PeakTable:
    """The selected peaks in the caller's units. ``probability`` of the j-th peak a window
    added is P(K >= j) of that window.

    Args:
      mean, sd: posterior means and sds, fields (M, K); size: (M, K) FWHM in grid points.
      window, slot: (P,) `select_peaks`.
      derived: (P,) sds of amplitude, FWHM, area (`derived_sds`) and η.
      skew: (M, K, 7) the windows' asymmetries (`WindowBatch.skew`), or None.
    """
    step = float(prep.grid[1] - prep.grid[0])
    exists = np.clip(1.0 - np.cumsum(pred.k_probs, axis=1)[:, :-1], 0.0, 1.0)  # P(K >= slot+1)
    pick = lambda v: np.asarray(v, np.float64)[window, slot]
    scale = prep.scales[window]
    gamma, gamma_sd = pick(mean.width) * step, pick(sd.width) * step
    eta = pick(mean.lorentzian)
    amp = pick(mean.amplitude) * scale
    amp_sd, fw_sd, area_sd, eta_sd = derived
    location = prep.grid[0] + (prep.starts[window] + pick(mean.location)) * step
    return PeakTable(
        location=location, location_sd=pick(sd.location) * step,
        fwhm=pick(size) * step, fwhm_sd=fw_sd, amplitude=amp, amplitude_sd=amp_sd,
        area=area(amp, gamma, eta), area_sd=area_sd, lorentzian=eta, lorentzian_sd=eta_sd,
        width=gamma, width_sd=gamma_sd, probability=exists[window, slot].astype(np.float64),
        window=window.astype(np.int64),
        asymmetry=None if skew is None else skew[window, slot, 0],
        asymmetry_sd=None if skew is None else skew[window, slot, 1])


def window_table(prep: Prepared, pred: Prediction, chi2: np.ndarray, k_max: int,
                 khat: np.ndarray | None = None) -> WindowTable:
    """Each window's x range, P(K), reduced χ² over its data points (`window_fits`),
    `unexplained` flag (χ² above `MISFIT_CHI2`, or all K_max peaks used) and k̂ of the
    exactness step (NaN: none)."""
    window_length = prep.windows.shape[1]
    return WindowTable(
        start=np.maximum(prep.grid[prep.starts], prep.x[0]),
        stop=np.minimum(prep.grid[prep.starts + window_length - 1], prep.x[-1]),
        k_probs=np.asarray(pred.k_probs, np.float64), num_peaks=pred.num_peaks.astype(np.int64),
        chi2=chi2, unexplained=(chi2 > MISFIT_CHI2) | (pred.num_peaks == k_max),
        khat=np.full(chi2.shape, np.nan) if khat is None else np.asarray(khat, np.float64))


def assemble_many(prepared: list[Prepared], batch: WindowBatch, trained: TrainedModel,
                  options: list[FitOptions], names: list,
                  degree: int | np.ndarray | None = None) -> list[SpectrumFit]:
    """Step 7 of `peakflow.measured.pipeline`: the batch's window predictions → one fit per
    spectrum.

    The posterior moments, every window's marginalised polynomial and the sds of amplitude,
    FWHM and area are computed for all windows of all spectra at once; peak selection,
    tables and curves per spectrum.

    Args:
      prepared: the prepared spectra, in the batch's order.
      batch: their windows with their predictions (and k̂ where the exactness step ran).
      trained: the model that made them.
      options: each fit's options (``tolerance``; the first one's ``seed``); names: carried
        into the results; degree: the windows' polynomial baseline (None: the model's; or
        (M,), one per window).
    """
    if not prepared:
        return []
    offsets = batch.offsets
    q = batch.pred.q
    mean, sd = (Peaks(*(np.asarray(v, np.float64) for v in m)) for m in (q.mean(), q.sd()))
    size = mean.width * fwhm_ratio(mean.lorentzian, np)
    degree = trained.config.model.baseline_degree if degree is None else degree
    part = lambda tree, i: jax.tree.map(lambda a: a[offsets[i]:offsets[i + 1]], tree)
    preds, khats = batch.split(batch.pred), batch.split(batch.khat)
    selected = [select_peaks(prep, pred, part(mean, i), part(sd, i), part(size, i),
                             trained.num_points, opts.tolerance)
                for i, (prep, pred, opts) in enumerate(zip(prepared, preds, options))]
    chosen = [(win, slot) for win, slot, _, _ in selected]
    frame = (np.concatenate([p.starts for p in prepared]),
             np.concatenate([p.scales for p in prepared]))
    report = reported_triples(offsets, chosen, [(b, slot) for _, _, b, slot in selected])
    polynomial, chi2_all = window_fits(batch, mean, degree, options[0].smoothness,
                                       options[0].shirley, frame, report)
    # background components (beyond the data, or undetermined): into their windows' baselines
    beyond_rows = np.concatenate([offsets[i] + b for i, (_, _, b, _) in enumerate(selected)])
    beyond_slots = np.concatenate([slot for _, _, _, slot in selected])
    omega = np.arange(batch.values.shape[1], dtype=np.float64)
    if beyond_rows.size:
        skew = _asymmetry(batch, beyond_rows, beyond_slots)
        pair = None if batch.pair is None else batch.pair[beyond_rows]
        np.add.at(polynomial, beyond_rows, window_lines(
            omega, [v[beyond_rows, beyond_slots, None] for v in mean], pair, skew))
    polynomials = polynomial * np.concatenate([p.scales for p in prepared])[:, None]
    rows = np.concatenate([offsets[i] + win for i, (win, _) in enumerate(chosen)])
    slots = np.concatenate([slot for _, slot in chosen])
    scale = np.concatenate([p.scales[win] for p, (win, _) in zip(prepared, chosen)])
    step = np.concatenate([np.full(win.size, p.grid[1] - p.grid[0])
                           for p, (win, _) in zip(prepared, chosen)])
    chosen_q = jax.tree.map(lambda a: np.asarray(a)[rows, slots], q)
    spread_q = chosen_q
    if batch.joint is not None and isinstance(q, CorrelatedQ):   # refined: about the best fit
        spread_q = about_best_fit(chosen_q, ~np.isnan(batch.joint[rows, 0, 0]))
    derived = derived_sds(spread_q, scale, step, np.random.default_rng(options[0].seed))
    derived = derived + (np.asarray(spread_q.sd().lorentzian, np.float64),)
    origin = np.concatenate([p.grid[0] + p.starts[win] * (p.grid[1] - p.grid[0])
                             for p, (win, _) in zip(prepared, chosen)])
    every_draw = PeakDraws(q=chosen_q, origin=origin, grid_step=step, y_scale=scale,
                           slot=slots,
                           skew=None if batch.skew is None else batch.skew[rows, slots])
    bounds = np.cumsum([0] + [win.size for win, _ in chosen])
    fits = []
    for i, (prep, pred, name, khat) in enumerate(zip(prepared, preds, names, khats)):
        win, slot = chosen[i]
        peaks = peak_table(prep, pred, part(mean, i), part(sd, i), part(size, i), win, slot,
                           tuple(d[bounds[i]:bounds[i + 1]] for d in derived),
                           None if batch.skew is None else part(batch.skew, i))
        windows = window_table(prep, pred, chi2_all[offsets[i]:offsets[i + 1]], trained.k_max,
                               khat)
        on_grid = prep.baseline + blend(prep, polynomials[offsets[i]:offsets[i + 1]])
        baseline = np.interp(prep.x, prep.grid, on_grid)
        draws = _with_joint(every_draw.take(np.arange(bounds[i], bounds[i + 1])), win,
                            batch.joint, offsets[i], offsets[i + 1])
        fit = SpectrumFit(peaks=peaks, windows=windows, x=prep.x, y=prep.y, baseline=baseline,
                          fitted=baseline, noise=prep.noise,
                          grid_step=float(prep.grid[1] - prep.grid[0]), unexplained=False,
                          name=name, spikes=prep.spikes, draws=draws,
                          doublet=options[i].doublet)
        fits.append(with_misfit(replace(fit, fitted=baseline + fit.components().sum(axis=0))))
    return fits


def _with_joint(draws: PeakDraws, window: np.ndarray, joint: np.ndarray | None, lo: int,
                hi: int) -> PeakDraws:
    """One spectrum's draws with its windows' joint correlations (rows `lo`:`hi` of the
    batch's `joint`): its peaks of a refined window (`window` (P,)) drawn jointly."""
    if joint is None:
        return replace(draws, slot=None)
    own = joint[lo:hi]
    refined = np.isfinite(own[:, 0, 0])
    return replace(draws, joint=own, group=np.where(refined[window], window, -1))


def with_misfit(fit: SpectrumFit) -> SpectrumFit:
    """`fit` with its spectrum-level χ² and worst stretch (`spectrum_misfit`), and
    ``unexplained`` set when a window is flagged or the worst stretch exceeds
    `STRETCH_SIGMA`."""
    chi2, stretch = spectrum_misfit(fit)
    return replace(fit, chi2=chi2, stretch=stretch,
                   unexplained=bool(fit.windows.unexplained.any() or stretch > STRETCH_SIGMA))


def combine_passes(fine: SpectrumFit, coarse: SpectrumFit) -> SpectrumFit:
    """The fine pass's fit plus the coarse pass's (fitted to its residual) as one fit.

    Peaks are pooled (sorted by location); the coarse pass's windows follow the fine pass's
    in `WindowTable` (its peaks' ``window`` indices are shifted accordingly); the baselines
    add; the misfit statistics and ``unexplained`` are recomputed on the final residual (the
    fine pass's windows keep their flags).
    """
    shifted = replace(coarse.peaks, window=coarse.peaks.window + fine.windows.start.size)
    both = PeakTable.concatenate(fine.peaks, shifted)
    order = np.argsort(both.location, kind="stable")
    peaks = both.take(order)
    windows = WindowTable.concatenate(fine.windows, coarse.windows)
    baseline = fine.baseline + coarse.baseline
    fitted = fine.fitted + coarse.fitted
    draws = (PeakDraws.concatenate(fine.draws, coarse.draws).take(order)
             if fine.draws is not None and coarse.draws is not None else None)
    return with_misfit(replace(fine, peaks=peaks, windows=windows, baseline=baseline,
                               fitted=fitted, draws=draws))
