"""Preparing one measured spectrum for the model (host side, numpy): axis checks, noise, the
model grid, resampling, baseline removal, padding, windows and their intensity scales."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from peakflow.config import SimulatorConfig
from peakflow.core.signal import NoiseLevel, noise_level, window_scale
from peakflow.measured.baseline import remove_baselines
from peakflow.measured.despike import remove_spikes
from peakflow.measured.options import FitOptions
from peakflow.measured.points import WindowPoints, window_points
from peakflow.measured.resample import TARGET_FWHM, data_step, on_data_step, resample, typical_fwhm
from peakflow.measured.shot_noise import shot_noise_sd
from peakflow.measured.tiling import window_starts

MIN_POINTS = 8
MAX_X = 1e150      # |x| beyond this overflows in squares (y is rescaled instead: pipeline)
MIN_GRID = 32


@dataclass(frozen=True)
class Prepared:
    """One spectrum ready for the model: its grid, windows and scales."""

    x: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    baseline: np.ndarray
    starts: np.ndarray
    windows: np.ndarray   # (M, W) normalised
    scales: np.ndarray    # (M,)
    noise_model: np.ndarray  # (M,)
    noise: float
    spikes: np.ndarray       # (S,) x of the spike points replaced before fitting
    points: WindowPoints     # each window's data points (the refinement's likelihood)
    deviation_sd: np.ndarray  # (M,) prior sd of each window's baseline deviation


def check_axis(y: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validates one spectrum and returns (y, x) float64 sorted by x.

    Raises:
      TypeError, ValueError: naming the problem (non-numeric, wrong shape, lengths differ,
        too short, NaN or inf, repeated x values).
    """
    arrays = []
    for name, value in (("y", y), ("x", x)):
        kind = np.asarray(value).dtype.kind
        if kind in "cb":
            raise TypeError(f"{name} must be real numbers, got "
                            f"{'complex' if kind == 'c' else 'boolean'} values")
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a 1-D array of real numbers: {err}") from err
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
        arrays.append(array)
    y, x = arrays
    if x.size != y.size:
        raise ValueError(f"x has {x.size} values but y has {y.size}")
    if y.size < MIN_POINTS:
        raise ValueError(f"a spectrum needs at least {MIN_POINTS} points, got {y.size}")
    for name, array in (("y", y), ("x", x)):
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(f"{name} contains {int(np.isnan(array).sum())} NaN and "
                             f"{int(np.isinf(array).sum())} inf value(s)")
    if np.max(np.abs(x)) > MAX_X:
        raise ValueError(f"x reaches {np.max(np.abs(x)):.3g}; values beyond ±{MAX_X:.0e} "
                         "overflow when squared: rescale the axis")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError("x has repeated values; the axis must be strictly monotone")
    return y, x


def crop(y: np.ndarray, x: np.ndarray, x_range) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) inside `x_range` (all when None)."""
    if x_range is None:
        return y, x
    lo, hi = sorted(float(v) for v in x_range)
    inside = (x >= lo) & (x <= hi)
    if inside.sum() < MIN_POINTS:
        raise ValueError(f"only {int(inside.sum())} points lie in x range [{lo}, {hi}] "
                         f"(data span [{x[0]:.6g}, {x[-1]:.6g}])")
    return y[inside], x[inside]


def model_grid(x: np.ndarray, y: np.ndarray, noise: float, fwhm: float | None,
               step_of_x: float | None = None, spacing: int = 1) -> np.ndarray:
    """The uniform grid on which the spectrum's typical FWHM is `TARGET_FWHM` points.

    Without a peak to measure, the data's real resolution: its median step (`step_of_x`)
    times the `spacing` over which its noise is correlated (`NoiseLevel`). The step is capped
    so the grid has at least `MIN_GRID` points. A grid shorter than a window is padded later
    (`pad_to`).
    """
    step_of_x = data_step(x) if step_of_x is None else step_of_x
    if fwhm is None:
        points = typical_fwhm(on_data_step(x, y, step_of_x), noise)
        fwhm = None if points is None else points * step_of_x
    step = step_of_x * spacing if fwhm is None else fwhm / TARGET_FWHM
    step = min(step, (x[-1] - x[0]) / (MIN_GRID - 1))
    count = int(math.floor((x[-1] - x[0]) / step)) + 1
    return x[0] + step * np.arange(count)


def prepare_many(pairs: Sequence[tuple[Any, Any]], sim: SimulatorConfig,
                 options: Sequence[FitOptions],
                 raise_errors: bool = False) -> list[Prepared | str]:
    """Steps 1-5 of `peakflow.measured.pipeline` for many ``(y, x)`` pairs (or ``(y, x,
    sigma)``, sigma the (n,) noise sds per point an ``.xye`` file gives), for a model trained
    on `sim`; the baselines of those that share a method and smoothness are removed in one
    batch (`remove_baselines`).

    Returns:
      One `Prepared` per pair, or the message of the error that stopped it (raised instead
      with `raise_errors`).
    """
    out: list[Gridded | Prepared | str] = []
    for (y, x, *sigma), opts in zip(pairs, options):
        out.append(_guard(lambda y=y, x=x, opts=opts, s=(sigma or [None])[0]:
                          on_model_grid(y, x, opts, s), raise_errors))
    groups: dict[tuple, list[int]] = {}
    for i, (item, opts) in enumerate(zip(out, options)):
        if isinstance(item, Gridded):
            groups.setdefault((opts.baseline, opts.baseline_lam), []).append(i)
    for (method, lam), members in groups.items():
        removed = remove_baselines([out[i].values for i in members], method, lam)
        for i, (corrected, base) in zip(members, removed):
            gridded = out[i]
            out[i] = _guard(lambda g=gridded, c=corrected, b=base, o=options[i]:
                            to_windows(g, c, b, sim, o), raise_errors)
    return out


def _guard(make, raise_errors: bool):
    """``make()``, or its TypeError/ValueError's message unless `raise_errors`."""
    try:
        return make()
    except (TypeError, ValueError) as err:
        if raise_errors:
            raise
        return str(err)


@dataclass(frozen=True)
class Gridded:
    """Steps 1-3 done: one spectrum checked and resampled onto its model grid."""

    x: np.ndarray       # (n,) the checked, sorted, cropped data
    y: np.ndarray       # (n,)
    grid: np.ndarray    # (g,) the uniform model grid
    values: np.ndarray  # (g,) y resampled onto it
    noise: float        # the data's noise sd
    noise_grid: float   # the noise sd on the grid
    spikes: np.ndarray  # (S,) x of the spike points replaced in y
    point_sd: np.ndarray  # (n,) each data point's noise sd (white: the long-run sd)
    noise_profile: np.ndarray | None = None  # (g,) the noise sd at each grid point, if known


def on_model_grid(y: Any, x: Any, options: FitOptions, sigma: Any = None) -> Gridded:
    """Steps 1-3: checks, crops, removes spikes (`despike`), estimates the noise (white or
    correlated: `noise_level`; the per-point `sigma` of the file when given and the options
    set no ``noise``; else growing with the signal where the data show shot noise:
    `shot_noise_sd`), resamples onto the model grid."""
    raw_x = x
    y, x = crop(*check_axis(y, x), options.x_range)
    if options.doublet is not None:
        options.doublet.check_axis(x)
    sigma = _point_sigma(sigma, raw_x, x) if options.noise is None else None
    level = _noise(y, options, sigma)
    spikes = x[:0]
    if options.despike:
        y, spikes = remove_spikes(x, y, level.point)
        if spikes.size:
            level = _noise(y, options, sigma)
    if sigma is None and options.noise is None:
        sigma = shot_noise_sd(y, level.spacing)   # None unless the noise grows with the signal
        level = level if sigma is None else _noise(y, options, sigma)
    step_of_x = data_step(x)
    grid = model_grid(x, y, level.point, options.fwhm, step_of_x, level.spacing)
    # cell averages lower the noise; interpolation correlates it, which we count as fewer
    # points; correlated noise averages as white noise of its long-run sd would
    thinning = math.sqrt(step_of_x / (grid[1] - grid[0]))
    profile = None if sigma is None else np.interp(grid, x, sigma) * thinning
    point_sd = np.full(x.size, level.long_run) if sigma is None else sigma
    return Gridded(x, y, grid, resample(x, y, grid, step_of_x), level.point,
                   level.long_run * thinning, spikes, point_sd, profile)


def _point_sigma(sigma: Any, raw_x: Any, x: np.ndarray) -> np.ndarray | None:
    """The file's per-point noise sds on the checked axis `x` (n,), or None. Points whose
    sigma is not a positive number (zero counts) take their neighbours' (interpolated).

    Raises:
      ValueError: sigma's length differs from x's, or no value is positive.
    """
    if sigma is None:
        return None
    sigma, raw_x = np.asarray(sigma, np.float64), np.asarray(raw_x, np.float64)
    if sigma.shape != raw_x.shape:
        raise ValueError(f"sigma has {sigma.size} values but x has {raw_x.size}")
    usable = np.isfinite(sigma) & (sigma > 0) & np.isfinite(raw_x)
    if not usable.any():
        raise ValueError("sigma has no positive finite value")
    order = np.argsort(raw_x[usable], kind="stable")
    return np.interp(x, raw_x[usable][order], sigma[usable][order])


def _noise(y: np.ndarray, options: FitOptions, sigma: np.ndarray | None = None) -> NoiseLevel:
    """The data's `NoiseLevel`: the caller's ``noise`` sd (white), else the median of the
    file's per-point `sigma`, else estimated from the data."""
    if sigma is not None and options.noise is None:
        typical = float(np.median(sigma))
        return NoiseLevel(typical, 1, typical)
    if options.noise is None:
        return noise_level(y)
    if not options.noise > 0:
        raise ValueError(f"noise must be positive, got {options.noise}")
    noise = float(options.noise)
    return NoiseLevel(noise, 1, noise)


def to_windows(gridded: Gridded, corrected: np.ndarray, base: np.ndarray,
               sim: SimulatorConfig, options: FitOptions) -> Prepared:
    """Step 5 after the baseline (step 4): pads, tiles into windows and scales them.

    Args:
      corrected, base: (g,) the gridded values without their baseline, and that baseline.
    """
    num_points, noise_grid = sim.num_points, gridded.noise_grid
    grid, corrected, base = pad_to(gridded.grid, corrected, base, num_points, noise_grid,
                                   options.seed)
    starts = window_starts(grid.size, num_points)
    windows = np.stack([corrected[s:s + num_points] for s in starts]).astype(np.float32)
    noise = _window_noise(gridded, grid, starts, num_points)
    scales = np.asarray(window_scale(windows, noise.astype(np.float32), sim.scale_floor),
                        np.float64)
    noise_model = np.maximum(noise / scales, options.noise_floor)
    points = window_points(gridded.x, gridded.y, gridded.point_sd, grid, base, starts, scales,
                           num_points, options.noise_floor)
    return Prepared(gridded.x, gridded.y, grid, base, starts,
                    windows / scales[:, None].astype(np.float32), scales,
                    noise_model.astype(np.float32), gridded.noise, gridded.spikes, points,
                    options.deviation_sd * noise_model)


def _window_noise(gridded: Gridded, grid: np.ndarray, starts: np.ndarray,
                  num_points: int) -> np.ndarray:
    """(M,) each window's noise sd on the grid: the median of the file's per-point noise over
    the window (ends continued into a padding), or the spectrum's one value."""
    if gridded.noise_profile is None:
        return np.full(starts.size, gridded.noise_grid)
    profile = np.interp(grid, gridded.grid, gridded.noise_profile)
    return np.array([np.median(profile[s:s + num_points]) for s in starts])


def pad_to(grid: np.ndarray, corrected: np.ndarray, base: np.ndarray, num_points: int,
           noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extends a grid shorter than one window to `num_points`, evenly on both sides.

    The padding continues each end's level (the mean of its 5 outermost points) with white
    noise of sd `noise` (no peaks, no step for the window's polynomial baseline to explain),
    drawn from `seed` so results are reproducible; peaks found there are discarded.

    Returns:
      (grid, corrected, baseline), each (max(n, num_points),).
    """
    missing = num_points - grid.size
    if missing <= 0:
        return grid, corrected, base
    left = missing // 2
    step = grid[1] - grid[0]
    fill = np.random.default_rng(seed).normal(0.0, noise, missing)
    grid = grid[0] + step * (np.arange(num_points) - left)
    corrected = np.concatenate([fill[:left] + np.mean(corrected[:5]), corrected,
                                fill[left:] + np.mean(corrected[-5:])])
    base = np.concatenate([np.zeros(left), base, np.zeros(missing - left)])
    return grid, corrected, base
