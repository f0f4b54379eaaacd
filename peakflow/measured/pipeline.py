"""Measured spectra end to end: any axis, length, baseline and noise level → a peak table.

`fit` (one spectrum) and `fit_many` (many, in one batched pass) take spectra in the caller's
units and run, with the bundled real-data model by default:

1. checks the input, sorts the axis ascending, keeps ``x_range`` (`prepare`);
2. estimates the noise sd from second differences (`peakflow.core.signal.estimate_noise`);
3. picks a uniform grid whose step puts the spectrum's typical peak width (the median FWHM of
   its most prominent peaks, or the caller's ``fwhm``) at `signal.TARGET_FWHM` points, the
   middle of the widths the model was trained on, and resamples onto it (cell averages when
   coarser, linear interpolation when finer); a grid shorter than one window is padded with
   noise on both sides (`prepare.pad_to`);
4. removes a smooth baseline (arPLS by default, batched over the call's spectra:
   `peakflow.measured.arpls`; ``baseline="none"`` turns it off) — the model also marginalises
   a cubic baseline inside each window;
5. tiles the grid into overlapping windows of the model's W points (`tiling`), scales each to
   its tallest feature (`peakflow.core.signal.window_scale`, as in training) and runs the
   amortized posterior on all windows of all spectra in one batched pass
   (`TrainedModel.predict`);
6. refines each window's peaks jointly at the data's own points, with the window's baseline
   (a cubic and a smooth deviation from the removed one) marginalised, and drops those the
   data do not need (``refine``, on by default: `peakflow.measured.refine`);
7. maps every window's peaks back to the caller's units, keeps each peak once, and flags
   windows whose residual is far above the noise (``unexplained``) (`assemble`);
   with ``baseline_refits`` > 0 (default 0), re-estimates the removed baseline from the data
   minus those peaks with a symmetric smoother, refits the windows on it (the baseline
   deviation's prior narrower: its bias gone) and assembles again, that many rounds, a round
   kept where it does not raise the spectrum's χ² nor sink its baseline below the data's floor
   (`peakflow.measured.rebaseline`); a spectrum whose baseline then sinks more than 3 noise
   sds below the data's lower hull has those windows refitted without their cubic (`floor`);
8. when some window's residual is far above the noise (typically a band much broader than
   the grid suits, which the window's polynomial baseline partly absorbs), fits the residual
   again on a grid ``coarse`` (4) times coarser and adds what it finds, when that lowers the
   spectrum's χ². The first pass's baseline stays: the second pass's windows marginalise no
   polynomial, so its components cannot be paid for by a baseline bent below the data (with
   one, RRUFF quartz's baseline sank 108 noise sds under the data's lower hull).

With ``exact=True`` every window's amortized posterior of the peaks step 6's pruning keeps
is reweighted towards its exact posterior instead of the Laplace step
(`peakflow.measured.window_exactness`): started from the Laplace posteriors of step 6, whose
sds are clipped wide where a direction is undetermined, the importance sampler degenerated
(precision 0.70 on the realistic set); from every slot of the amortized pass, the shoulder
slots the pruning drops stayed as peaks (precision 0.914; with the pruning 0.997).

The noise sd the model is told is never below ``noise_floor`` of a window's scale: real peaks
are not exactly pseudo-Voigt, and at a signal-to-noise ratio of thousands the shape mismatch,
not the noise, limits what the data can say. The posterior then uses the noise each window's
residual shows, no smaller than the points' own (`peakflow.measured.residual_noise`).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from peakflow.core.likelihood import MISFIT_CHI2
from peakflow.core.seeds import as_key
from peakflow.io import Spectrum
from peakflow.measured.assemble import assemble_many, combine_passes
from peakflow.measured.baseline import REMOVED
from peakflow.measured.batch import WindowBatch
from peakflow.measured.calibration import Calibration, apply_calibration, calibrated_input
from peakflow.measured.floor import (
    FLOOR_SIGMAS,
    depth_below,
    floor_round,
    sunk_fits,
    sunk_windows,
)
from peakflow.measured.intensity import scale_fit, scale_input, scale_options, unit_exponent
from peakflow.measured.options import FitOptions
from peakflow.measured.points import WindowPoints
from peakflow.measured.prepare import Prepared, prepare_many
from peakflow.measured.rebaseline import REFIT_SD_SHARE, rebaselined
from peakflow.measured.resample import TARGET_FWHM
from peakflow.measured.results import SpectrumFit, failed_fit
from peakflow.measured.stages import predict_windows, refine_rows, reweight_windows, window_pairs
from peakflow.runtime.trained import MEASURED_MODEL, TrainedModel, load_model

REFIT_SLACK = 3.0  # a baseline round stands when χ² rises by at most this many of its sds

ModelArg = str | os.PathLike | TrainedModel | None


def fit(y: Any, x: Any = None, *, model: ModelArg = None, name: str | None = None,
        calibration: Calibration | None = None, options: FitOptions | None = None,
        **option_values: Any) -> SpectrumFit:
    """Fits one measured spectrum.

    Args:
      y: (n,) intensities, or a `peakflow.Spectrum` (from `read_spectrum`), which brings its
        own axis (then `x` must be None).
      x: (n,) axis values in any units, order and spacing (strictly monotone after sorting).
      model: a `TrainedModel` or model directory; None: the bundled real-data model.
      name: a label carried into the result.
      calibration: a `Calibration` (`peakflow.calibrate`) of the instrument's axis: the fit
        is made on the calibrated axis and each location's sd includes the calibration's.
      options: `FitOptions`; or give its fields as keywords (``baseline="none"``, ...).

    Returns:
      The `SpectrumFit`.

    Raises:
      TypeError: non-numeric input, or unknown options.
      ValueError: a spectrum that cannot be fitted (NaN/inf, too short, lengths differ,
        repeated x, ...); the message says why.
    """
    opts, trained = fit_options(options, option_values), measured_model(model)
    y, x = calibrated_input(y, x, calibration)
    first = _fit_pass([_pair(y, x)], trained, [name], [opts], raise_errors=True)
    return _calibrated(_labelled(_second_pass(first, trained, opts), [y]), calibration)[0]


def fit_many(spectra: Any, x: Any = None, *, model: ModelArg = None,
             names: Sequence[str | None] | None = None,
             calibration: Calibration | None = None, options: FitOptions | None = None,
             **option_values: Any) -> list[SpectrumFit]:
    """Fits many measured spectra in one batched pass (all their windows go through the model
    together, in chunks).

    Args:
      spectra: a sequence of `peakflow.Spectrum` or of ``(y, x)`` pairs (any lengths and
        axes), or an (N, n) array of rows sharing the axis `x`.
      x: the shared (n,) axis of an (N, n) array; None otherwise.
      model, calibration, options, option values: as in `fit`.
      names: optional labels carried into the results.

    Returns:
      One `SpectrumFit` per input, in order. A spectrum that cannot be fitted (bad values,
      too short, ...) gets a `SpectrumFit` whose ``error`` says why, with empty arrays; the
      others are fitted as usual.
    """
    spectra = [(row, x) for row in np.asarray(spectra)] if x is not None else list(spectra)
    spectra = [calibrated_input(item, None, calibration)[0] if isinstance(item, Spectrum)
               else calibrated_input(item[0], item[1], calibration) for item in spectra]
    names = list(names) if names is not None else [None] * len(spectra)
    if len(names) != len(spectra):
        raise ValueError(f"{len(names)} names for {len(spectra)} spectra")
    opts = fit_options(options, option_values)
    trained = measured_model(model)
    pairs, refused = [], {}
    for i, item in enumerate(spectra):
        if isinstance(item, Spectrum):
            try:
                pairs.append(_pair(item, None))
            except ValueError as err:  # an axis read as intensity: this item only
                refused[i] = str(err)
        else:
            pairs.append(_pair(*item))
    kept = [name for i, name in enumerate(names) if i not in refused]
    done = iter(_second_pass(_fit_pass(pairs, trained, kept, [opts] * len(pairs)), trained,
                             opts))
    fits = [failed_fit(refused[i], name, trained.k_max) if i in refused else next(done)
            for i, name in enumerate(names)]
    return _calibrated(_labelled(fits, spectra), calibration)


def _calibrated(fits: list[SpectrumFit], calibration: Calibration | None) -> list[SpectrumFit]:
    """The fits with the calibration's own uncertainty in their location sds."""
    if calibration is None:
        return fits
    return [apply_calibration(f, calibration) if f.valid else f for f in fits]


def _pair(y: Any, x: Any) -> tuple:
    """(y, x) of one input: a `Spectrum` brings its axis (and its per-point sigma, as a
    third element, when its file gives one).

    Raises:
      ValueError: a `Spectrum` whose intensities are an axis (`refuse_axis_as_intensity`).
    """
    if isinstance(y, Spectrum):
        if x is not None:
            raise TypeError("a Spectrum carries its own axis; do not pass x as well")
        refuse_axis_as_intensity(y)
        return (y.y, y.x) if y.sigma is None else (y.y, y.x, y.sigma)
    if x is None:
        raise TypeError("a measured spectrum needs its axis: fit(y, x) or fit(Spectrum); "
                        "spectra already on a model's grid go to peakflow.infer")
    return y, x


def refuse_axis_as_intensity(spectrum: Spectrum) -> None:
    """The last guard against a file read with the wrong columns: intensities that are a
    strictly monotone, smooth ramp (within 0.1 % of their range of a cubic) are an axis
    column (pixel, wavelength, wavenumber), not a spectrum.

    Raises:
      ValueError: naming the columns and how to choose others.
    """
    y = np.asarray(spectrum.y, np.float64)
    if y.size < 8 or not np.all(np.isfinite(y)):
        return
    steps = np.diff(y)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        return
    t = np.linspace(-1.0, 1.0, y.size)
    residual = y - np.polyval(np.polyfit(t, y, 3), t)
    if np.max(np.abs(residual)) > 1e-3 * np.ptp(y):
        return
    columns = spectrum.meta.get("columns_chosen") or "the columns read"
    raise ValueError(f"{spectrum.meta.get('path', 'the spectrum')}: y is a smooth monotone "
                     f"ramp with no structure ({columns}): an axis column read as intensity; "
                     f"choose the columns with read_spectrum(path, x=..., y=...) or "
                     f"peakflow fit --x-col/--y-col")


CARRIED = ("columns_chosen", "laser_nm", "instrument", "date", "exposure", "x_original",
           "header")  # a file's fields that its fit's meta (and JSON) carries


def _labelled(fits: list[SpectrumFit], items: Sequence[Any]) -> list[SpectrumFit]:
    """Each fit of a `Spectrum` with the axis labels its file gives (``meta``: ``x_label``,
    ``y_label``), which tables and plots show, the file's `CARRIED` fields (the columns
    chosen, the metadata block and what was recognised in it) and, when it has no name, its
    file's."""
    out = []
    for fit_, item in zip(fits, items):
        if isinstance(item, Spectrum):
            labels = {k: v for k, v in (("x_label", item.x_label), ("y_label", item.y_label))
                      if v is not None}
            labels |= {k: item.meta[k] for k in CARRIED if item.meta.get(k) is not None}
            fit_ = replace(fit_, meta={**fit_.meta, **labels},
                           name=fit_.name if fit_.name is not None else item.meta.get("path"))
        out.append(fit_)
    return out


def measured_model(model: ModelArg) -> TrainedModel:
    """The `TrainedModel` a ``model=`` argument names; None: the bundled real-data model."""
    return load_model(model, default=MEASURED_MODEL)


def fit_options(options: FitOptions | None, values: dict[str, Any]) -> FitOptions:
    """The `FitOptions` of a call: `options`, or its fields given as keywords (not both)."""
    if options is not None and values:
        raise TypeError("give options either as FitOptions or as keywords, not both")
    return options if options is not None else FitOptions(**values)


def _second_pass(fits: list[SpectrumFit], trained: TrainedModel,
                 options: FitOptions) -> list[SpectrumFit]:
    """Step 8: bands too broad for the first grid leave a smooth residual; fit it on a grid
    ``options.coarse`` times coarser, with no polynomial baseline, and add what it finds."""
    if options.coarse is None:
        return fits
    redo = [i for i, f in enumerate(fits)
            if f.error is None and np.any(f.windows.chi2 > MISFIT_CHI2)]
    wider = [replace(options, fwhm=options.coarse * TARGET_FWHM * fits[i].grid_step,
                     baseline="none", x_range=None, shape="symmetric") for i in redo]
    residuals = [(fits[i].y - fits[i].fitted, fits[i].x) for i in redo]
    broad = _fit_pass(residuals, trained, [fits[i].name for i in redo], wider, polynomial=False)
    fits = list(fits)
    for i, extra in zip(redo, broad):
        if extra.error is None:
            both = combine_passes(fits[i], extra)
            if both.chi2 < fits[i].chi2:   # what the coarse pass adds must fit the residual
                fits[i] = both
    return fits


def _fit_pass(spectra: Sequence[tuple[Any, Any]], trained: TrainedModel, names: list,
              options: list[FitOptions], raise_errors: bool = False,
              polynomial: bool = True) -> list[SpectrumFit]:
    """Steps 1-7 for every ``(y, x)`` pair, each at the grid its options imply, on
    intensities brought near 1 by a power of two (`peakflow.measured.intensity`); the fits
    are scaled back. Without `polynomial` the windows marginalise no polynomial baseline
    (the second pass: the first pass's residual has no baseline left to explain)."""
    exponents = [unit_exponent(item[0]) for item in spectra]
    spectra = [scale_input(item, e) for item, e in zip(spectra, exponents)]
    options = [scale_options(o, e) for o, e in zip(options, exponents)]
    fits = _fit_scaled(spectra, trained, names, options, raise_errors, polynomial)
    return [scale_fit(fit, e) for fit, e in zip(fits, exponents)]


def _fit_scaled(spectra: Sequence[tuple[Any, Any]], trained: TrainedModel, names: list,
                options: list[FitOptions], raise_errors: bool = False,
                polynomial: bool = True) -> list[SpectrumFit]:
    """Steps 1-7 (see `_fit_pass`): every window of the call in one `WindowBatch` through
    the policy, the refinement and the exactness step, split per spectrum by `assemble_many`."""
    prepared = prepare_many(spectra, trained.config.sim, options, raise_errors)
    ok = [i for i, p in enumerate(prepared) if isinstance(p, Prepared)]
    good = [p for p in prepared if isinstance(p, Prepared)]
    chosen = [options[i] for i in ok]
    batch = policy = replace(predict_windows(trained, WindowBatch.of(good)),
                             pair=window_pairs(good, chosen))
    refined = np.array([o.refine and not o.exact for o in chosen], bool)
    degree = trained.config.model.baseline_degree if polynomial else -1
    lam = options[0].smoothness if options else 0.0
    refine = functools.partial(refine_rows, trained, lam=lam,
                               asymmetric=bool(options) and options[0].shape == "asymmetric",
                               step=options[0].shirley if options else 0.0)
    batch = refine(batch, batch.rows_of(refined), degree=degree)
    seed = as_key(options[0].seed if options else 0)
    batch = reweight_windows(trained, batch, np.array([o.exact for o in chosen]), seed, lam,
                             options[0].shirley if options else 0.0)
    kept = [names[i] for i in ok]
    fits = assemble_many(good, batch, trained, chosen, kept, degree)
    removed = np.array([o.baseline in REMOVED for o in chosen], bool)
    active = refined & removed
    for round_ in range(max([o.baseline_refits for o in chosen], default=0)):
        active &= np.array([o.baseline_refits > round_ for o in chosen], bool)
        if not active.any():
            break
        good, batch, fits, active = _rebaseline_round(good, batch, fits, active, refine,
                                                      trained, chosen, kept, degree, lam)
    if degree >= 0:      # baselines below the data's floor: those windows without the cubic
        fits = floor_round(fits, sunk_fits(fits, refined & removed), functools.partial(
            _floor_refit, good, batch, policy, fits, refine, trained, chosen, kept, degree),
            degree + 1)
    assembled = iter(fits)
    return [next(assembled) if isinstance(prep, Prepared)
            else failed_fit(prep, name, trained.k_max)
            for prep, name in zip(prepared, names)]


def _rebaseline_round(good: list[Prepared], batch: WindowBatch, fits: list[SpectrumFit],
                      active: np.ndarray, refine, trained: TrainedModel,
                      options: list[FitOptions], names: list, degree: int, lam: float):
    """One round of step 6's baseline re-estimation (`peakflow.measured.rebaseline`) for the
    spectra where the (S,) mask `active` is set: each one's baseline re-estimated from its data
    minus its fit's peaks, its windows refitted on it (`refine`, no pruning) and reassembled.
    A spectrum keeps the round only where its χ² does not rise beyond `REFIT_SLACK` × its
    statistical spread (a broad component and a baseline that trade off can run away
    together, as on RRUFF calcite R040070, χ² 20 → 1,000) and its baseline stays within
    `floor.FLOOR_SIGMAS` of the data's lower hull (the floor guard after it, `floor`, left
    the LaB6 pattern's 25 noise sds below it, against 0 without the round); only those go
    on.

    Returns:
      (prepared, batch, fits, the (S,) mask of the spectra that kept the round).
    """
    trial = [rebaselined(p, f.fitted - f.baseline, f.baseline, lam) if on else p
             for p, f, on in zip(good, fits, active)]
    trial_batch = replace(batch, values=np.concatenate([p.windows for p in trial]),
                          points=WindowPoints.concatenate([p.points for p in trial]),
                          deviation_sd=batch.deviation_sd * REFIT_SD_SHARE)
    refitted = refine(trial_batch, batch.rows_of(active), degree=degree, refit=True)
    new = assemble_many(trial, refitted, trained, options, names, degree)
    kept = active & np.array([n.chi2 <= f.chi2 * (1.0 + REFIT_SLACK * math.sqrt(2.0 / f.x.size))
                              and not depth_below(n) > FLOOR_SIGMAS
                              for n, f in zip(new, fits)], bool)
    pick = lambda a, b: [x if k else y for x, y, k in zip(a, b, kept)]
    return pick(trial, good), batch.adopt(refitted, kept), pick(new, fits), kept


def _floor_refit(good: list[Prepared], batch: WindowBatch, policy: WindowBatch,
                 fits: list[SpectrumFit], refine, trained: TrainedModel,
                 options: list[FitOptions], names: list, degree: int,
                 sunk: np.ndarray) -> list[SpectrumFit]:
    """The spectra where the (S,) mask `sunk` is set fitted again, their windows whose
    baseline sinks below the data's floor (`floor.sunk_windows`) refined from the policy's
    proposals (`policy`'s) without the cubic (`refine`: `refine_rows` with the call's
    options), the others as in `batch`; one fit per set entry."""
    rows = np.concatenate([np.zeros(0, np.int64)] + [
        batch.offsets[i] + sunk_windows(fits[i]) for i in np.flatnonzero(sunk)])
    again = refine(batch.with_rows(rows, policy.take(rows)[0]), rows, degree=-1)
    degrees = np.full(batch.values.shape[0], degree)
    degrees[rows] = -1
    pick = lambda items: [item for item, on in zip(items, sunk) if on]
    return assemble_many(pick(good), again.subset(sunk), trained, pick(options), pick(names),
                         degrees[batch.rows_of(sunk)])
