"""Real spectra end to end: any axis, length, baseline and noise level → a peak table.

`fit_spectra` (and `peakflow.infer(y, x=axis)`) takes measured spectra in the caller's units:

1. checks the input, sorts the axis ascending, keeps ``x_range``;
2. estimates the noise sd from second differences (`preprocess.estimate_noise`);
3. picks a uniform grid whose step puts the spectrum's typical peak width (the median FWHM of
   its most prominent peaks, or the caller's ``fwhm``) at `preprocess.TARGET_FWHM` points,
   the middle of the widths the model was trained on, and resamples onto it (cell averages
   when coarser, linear interpolation when finer); a grid shorter than one window is padded
   with noise on both sides (`pad_to`);
4. removes a smooth baseline (pybaselines' arPLS by default; ``baseline="none"`` turns it
   off) — the model also marginalises a cubic baseline inside each window;
5. tiles the grid into overlapping windows of the model's W points (`tiling`), scales each to
   its tallest feature (`preprocess.window_scale`, as in training) and runs the amortized
   posterior on all windows of all spectra in one batched pass;
6. maps every window's peaks back to the caller's units, keeps each peak once (`tiling.merge`),
   and flags windows whose residual is far above the noise (``unexplained``);
7. when some window's residual is far above the noise (typically a band much broader than
   the grid suits, which the window's polynomial baseline partly absorbs), fits the residual
   again on a grid ``coarse`` (4) times coarser and adds what it finds.

The noise sd the model is told is never below ``noise_floor`` of a window's scale: real peaks
are not exactly pseudo-Voigt, and at a signal-to-noise ratio of thousands the shape mismatch,
not the noise, limits what the data can say.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from peakflow.baseline import polynomial_basis, remove_baseline
from peakflow.inference import CHUNK, Model, load_model
from peakflow.preprocess import (
    TARGET_FWHM,
    estimate_noise,
    resample,
    typical_fwhm,
    window_scale,
)
from peakflow.tiling import merge, window_starts
from peakflow.train import reduced_chi2

BROAD_MODEL = Path(__file__).parent / "models" / "broad"
UNEXPLAINED_CHI2 = 4.0  # a window's residual rms above twice the noise sd the model was told
MIN_POINTS = 8
MIN_GRID = 32
MIN_BATCH = 64
PAD_SEED = 0
COLUMNS = ("location", "fwhm", "amplitude", "area", "lorentzian", "width")


@dataclass(frozen=True)
class FitOptions:
    """Settings of the real-data path (see the module docstring).

    Attributes:
      baseline: ``"arpls"``, ``"asls"``, ``"snip"`` or ``"none"``.
      baseline_lam: smoothness of the Whittaker baselines on the model grid (None: default).
      fwhm: typical peak FWHM in x units, to override the estimate that sets the grid.
      noise: noise sd in y units, to override the estimate.
      noise_floor: smallest noise sd the model is told, as a fraction of a window's scale.
      x_range: (lo, hi) keep only this part of the axis.
      tolerance: duplicate reports closer than this many FWHM are one peak.
      coarse: when some window's residual stays far above the noise (bands broader than
        the grid suits), fit the residual again on a grid this many times coarser and add
        its peaks; None turns the second pass off.
    """

    baseline: str = "arpls"
    baseline_lam: float | None = None
    fwhm: float | None = None
    noise: float | None = None
    noise_floor: float = 0.005
    x_range: tuple[float, float] | None = None
    tolerance: float = 0.5
    coarse: float | None = 4.0


@dataclass(frozen=True)
class PeakTable:
    """Peaks of one spectrum in the caller's units, sorted by location; each field (P,).

    ``location``, ``fwhm``, ``width`` (γ: Lorentzian half-width = Gaussian sd) in x units,
    ``amplitude`` (height) in y units, ``area`` in x·y units, ``lorentzian`` η in [0, 1]; each
    with its posterior sd in ``<name>_sd``. ``probability`` is the posterior probability that
    the peak exists: P(K >= j) of its window, for the j-th peak the policy added there (peaks
    added late, to explain little, have low values). ``window`` is the window that reported it.
    """

    location: np.ndarray
    location_sd: np.ndarray
    fwhm: np.ndarray
    fwhm_sd: np.ndarray
    amplitude: np.ndarray
    amplitude_sd: np.ndarray
    area: np.ndarray
    area_sd: np.ndarray
    lorentzian: np.ndarray
    lorentzian_sd: np.ndarray
    width: np.ndarray
    width_sd: np.ndarray
    probability: np.ndarray
    window: np.ndarray

    def __len__(self) -> int:
        return int(self.location.size)

    def rows(self) -> list[dict[str, float]]:
        """One dict per peak: every column and its sd, the probability and the window index."""
        names = [f.name for f in self.__dataclass_fields__.values()]
        return [{name: _scalar(getattr(self, name)[i]) for name in names}
                for i in range(len(self))]


@dataclass(frozen=True)
class WindowTable:
    """The model windows of one spectrum; M windows, K = the model's K_max.

    Attributes:
      start, stop: (M,) x range of each window.
      k_probs: (M, K+1) posterior probability of 0..K peaks in the window.
      num_peaks: (M,) most probable number of peaks.
      chi2: (M,) mean squared residual in units of the noise sd the model was told.
      unexplained: (M,) chi2 above `UNEXPLAINED_CHI2`, or the most probable K is K_max (there
        may be more peaks than the model can add).
    """

    start: np.ndarray
    stop: np.ndarray
    k_probs: np.ndarray
    num_peaks: np.ndarray
    chi2: np.ndarray
    unexplained: np.ndarray


@dataclass(frozen=True)
class SpectrumFit:
    """The fit of one measured spectrum.

    Attributes:
      peaks: the `PeakTable`.
      windows: the `WindowTable`.
      x, y: (n,) the spectrum as given (inside ``x_range``), x ascending.
      baseline: (n,) the baseline on x: the removed one (pybaselines) plus the polynomial
        the model marginalised in each window (blended across windows).
      fitted: (n,) baseline plus all peaks at their posterior means.
      noise: estimated noise sd (y units).
      step: the model grid's step (x units).
      unexplained: True when any window is flagged.
      error: None, or why this spectrum could not be fitted (then every array is empty).
      name: where the spectrum came from, if known.
    """

    peaks: PeakTable
    windows: WindowTable
    x: np.ndarray
    y: np.ndarray
    baseline: np.ndarray
    fitted: np.ndarray
    noise: float
    step: float
    unexplained: bool
    error: str | None = None
    name: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_peaks(self) -> int:
        return len(self.peaks)

    def components(self) -> np.ndarray:
        """(P, n) each peak on x at its posterior mean (without the baseline)."""
        p = self.peaks
        return pseudo_voigt_x(self.x[None, :], p.amplitude[:, None], p.location[:, None],
                              p.width[:, None], p.lorentzian[:, None])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: peaks, windows' P(K), noise, grid step, flags."""
        w = self.windows
        return {
            "name": self.name, "error": self.error, "num_peaks": self.num_peaks,
            "noise": self.noise, "grid_step": self.step, "unexplained": bool(self.unexplained),
            "peaks": self.peaks.rows(),
            "windows": [{"start": _scalar(w.start[i]), "stop": _scalar(w.stop[i]),
                         "num_peaks": int(w.num_peaks[i]), "chi2": _scalar(w.chi2[i]),
                         "unexplained": bool(w.unexplained[i]),
                         "k_probs": [round(float(v), 6) for v in w.k_probs[i]]}
                        for i in range(w.start.size)],
            **self.meta,
        }

    def write_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def write_csv(self, path: str | os.PathLike) -> None:
        """One row per peak: each quantity and its sd, the window and that window's P(K)."""
        rows = self.peaks.rows()
        k_max = self.windows.k_probs.shape[-1] - 1 if self.windows.k_probs.ndim == 2 else 0
        header = [c for name in COLUMNS for c in (name, f"{name}_sd")] + ["probability", "window"]
        header += [f"window_p_k{k}" for k in range(k_max + 1)]
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                probs = self.windows.k_probs[int(row["window"])]
                writer.writerow([f"{row[c]:.8g}" for c in header[:-(k_max + 2)]]
                                + [int(row["window"])] + [f"{p:.4f}" for p in probs])

    def __repr__(self) -> str:
        if self.error:
            return f"SpectrumFit({self.name or 'spectrum'}: error: {self.error})"
        flag = "  [some windows unexplained]" if self.unexplained else ""
        lines = [f"SpectrumFit: {self.num_peaks} peak(s), noise sd {self.noise:.3g}, "
                 f"{self.windows.start.size} window(s), grid step {self.step:.4g}{flag}",
                 f"{'location':>22} {'FWHM':>20} {'amplitude':>20} {'area':>20} {'eta':>12}"
                 f" {'P(exists)':>10}"]
        p = self.peaks
        for i in range(len(p)):
            cells = [f"{getattr(p, c)[i]:.6g} ± {getattr(p, c + '_sd')[i]:.2g}"
                     for c in ("location", "fwhm", "amplitude", "area")]
            cells.append(f"{p.lorentzian[i]:.2f} ± {p.lorentzian_sd[i]:.2f}")
            lines.append(" ".join(f"{c:>20}" for c in cells[:4]) + f" {cells[4]:>14}"
                         f" {p.probability[i]:>10.3f}")
        return "\n".join(lines)


def _scalar(value) -> float | int:
    value = np.asarray(value).item()
    return value if isinstance(value, int) else float(value)


def pseudo_voigt_x(x, amplitude, location, width, lorentzian) -> np.ndarray:
    """Numpy pseudo-Voigt on any axis: ``α [η/(1+z²) + (1-η) exp(-z²/2)]``, z = (x-c)/γ."""
    z2 = ((x - location) / width) ** 2
    return amplitude * (lorentzian / (1.0 + z2) + (1.0 - lorentzian) * np.exp(-0.5 * z2))


def area_of(amplitude, width, lorentzian, amplitude_sd, width_sd, lorentzian_sd):
    """Area ``α γ (η π + (1-η) √(2π))`` and its sd (first-order, independent factors)."""
    gauss = math.sqrt(2 * math.pi)
    shape = lorentzian * math.pi + (1 - lorentzian) * gauss
    area = amplitude * width * shape
    var = ((width * shape * amplitude_sd) ** 2 + (amplitude * shape * width_sd) ** 2
           + (amplitude * width * (math.pi - gauss) * lorentzian_sd) ** 2)
    return area, np.sqrt(var)


def fwhm_ratio(lorentzian) -> np.ndarray:
    """FWHM / γ of the pseudo-Voigt: numpy twin of `peakflow.model.fwhm` (same Newton solve).

    2 for η = 1, 2√(2 ln 2) ≈ 2.355 for η = 0.
    """
    eta = np.clip(np.asarray(lorentzian, np.float64), 0.0, 1.0)
    s = eta + (1.0 - eta) * 2.0 * math.log(2.0)
    for _ in range(8):
        lor, gau = 1.0 / (1.0 + s), np.exp(-0.5 * s)
        s = s - (eta * lor + (1.0 - eta) * gau - 0.5) / (-eta * lor * lor - 0.5 * (1.0 - eta) * gau)
    return 2.0 * np.sqrt(s)


def fwhm_and_sd(width, lorentzian, width_sd, lorentzian_sd):
    """FWHM of the pseudo-Voigt and its sd (first-order in γ and η)."""
    ratio = fwhm_ratio(lorentzian)
    hi, lo = np.clip(lorentzian + 1e-3, 0, 1), np.clip(lorentzian - 1e-3, 0, 1)
    slope = (fwhm_ratio(hi) - fwhm_ratio(lo)) / np.maximum(hi - lo, 1e-9)
    value = width * ratio
    return value, np.sqrt((ratio * width_sd) ** 2 + (width * slope * lorentzian_sd) ** 2)


# ---------------------------------------------------------------- preparation (host, numpy)

@dataclass(frozen=True)
class _Prepared:
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


def check_axis(y: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validates one spectrum and returns (x, y) float64 sorted by x.

    Raises:
      TypeError, ValueError: naming the problem (non-numeric, wrong shape, lengths differ,
        too short, NaN or inf, repeated x values).
    """
    arrays = []
    for name, value in (("y", y), ("x", x)):
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
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError("x has repeated values; the axis must be strictly monotone")
    return x, y


def _crop(x: np.ndarray, y: np.ndarray, x_range) -> tuple[np.ndarray, np.ndarray]:
    if x_range is None:
        return x, y
    lo, hi = sorted(float(v) for v in x_range)
    inside = (x >= lo) & (x <= hi)
    if inside.sum() < MIN_POINTS:
        raise ValueError(f"only {int(inside.sum())} points lie in x range [{lo}, {hi}] "
                         f"(data span [{x[0]:.6g}, {x[-1]:.6g}])")
    return x[inside], y[inside]


def model_grid(x: np.ndarray, y: np.ndarray, noise: float, fwhm: float | None) -> np.ndarray:
    """The uniform grid on which the spectrum's typical FWHM is `TARGET_FWHM` points.

    Without a peak to measure, the data's own median step. The step is capped so the grid has
    at least `MIN_GRID` points. A grid shorter than a window is padded later (`pad_to`).
    """
    data_step = float(np.median(np.diff(x)))
    if fwhm is None:
        uniform = resample(x, y, np.arange(x[0], x[-1] + 0.5 * data_step, data_step))
        points = typical_fwhm(uniform, noise)
        fwhm = None if points is None else points * data_step
    step = data_step if fwhm is None else fwhm / TARGET_FWHM
    step = min(step, (x[-1] - x[0]) / (MIN_GRID - 1))
    count = int(math.floor((x[-1] - x[0]) / step)) + 1
    return x[0] + step * np.arange(count)


def prepare(y: Any, x: Any, num_points: int, options: FitOptions) -> _Prepared:
    """Steps 1-5 of the module docstring for one spectrum (host-side numpy)."""
    x, y = _crop(*check_axis(y, x), options.x_range)
    noise = float(options.noise) if options.noise is not None else estimate_noise(y)
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    grid = model_grid(x, y, noise, options.fwhm)
    step, data_step = grid[1] - grid[0], float(np.median(np.diff(x)))
    on_grid = resample(x, y, grid)
    corrected, base = remove_baseline(on_grid, options.baseline, options.baseline_lam)
    # cell averages lower the noise; interpolation correlates it, which we count as fewer points
    noise_grid = noise * math.sqrt(data_step / step)
    grid, corrected, base = pad_to(grid, corrected, base, num_points, noise_grid)
    starts = window_starts(grid.size, num_points)
    windows = np.stack([corrected[s:s + num_points] for s in starts]).astype(np.float32)
    scales = np.asarray(window_scale(windows, np.full(len(starts), noise_grid, np.float32),
                                     20.0), np.float64)
    noise_model = np.maximum(noise_grid / scales, options.noise_floor)
    return _Prepared(x, y, grid, base, starts, windows / scales[:, None].astype(np.float32),
                     scales, noise_model.astype(np.float32), noise)


def pad_to(grid: np.ndarray, corrected: np.ndarray, base: np.ndarray, num_points: int,
           noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extends a grid shorter than one window to `num_points`, evenly on both sides.

    The padding continues each end's level (the mean of its 5 outermost points) with white
    noise of sd `noise` (no peaks, no step for the window's polynomial baseline to explain),
    drawn with a fixed seed so results are reproducible; peaks found there are discarded.

    Returns:
      (grid, corrected, baseline), each (max(n, num_points),).
    """
    missing = num_points - grid.size
    if missing <= 0:
        return grid, corrected, base
    left = missing // 2
    step = grid[1] - grid[0]
    fill = np.random.default_rng(PAD_SEED).normal(0.0, noise, missing)
    grid = grid[0] + step * (np.arange(num_points) - left)
    corrected = np.concatenate([fill[:left] + np.mean(corrected[:5]), corrected,
                                fill[left:] + np.mean(corrected[-5:])])
    base = np.concatenate([np.zeros(left), base, np.zeros(missing - left)])
    return grid, corrected, base


# ---------------------------------------------------------------- results (host, numpy)

def _empty_fit(error: str, name: str | None, k_max: int) -> SpectrumFit:
    """The result of a spectrum that could not be fitted: empty arrays and the reason."""
    none = np.zeros(0)
    peaks = PeakTable(*([none] * 13), window=np.zeros(0, np.int64))
    windows = WindowTable(none, none, np.zeros((0, k_max + 1)), np.zeros(0, np.int64), none,
                          np.zeros(0, bool))
    return SpectrumFit(peaks, windows, none, none, none, none, float("nan"), float("nan"),
                       False, error, name)


def window_baselines(prep: _Prepared, pred, degree: int) -> np.ndarray:
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
    q = pred.q
    a, b = np.asarray(q.lorentzian_a, np.float64), np.asarray(q.lorentzian_b, np.float64)
    present = np.arange(a.shape[1])[None, :] < pred.num_peaks[:, None]
    each = pseudo_voigt_x(omega[None, None, :], q.amplitude_mean[..., None],
                          q.location_mean[..., None], q.width_mean[..., None],
                          (a / (a + b))[..., None])
    residual = prep.windows - np.sum(np.where(present[..., None], each, 0.0), axis=1)
    basis = polynomial_basis(size, degree).astype(np.float64)
    cubic = (residual @ basis) @ basis.T * prep.scales[:, None]  # (M, W) grid units
    weight = np.maximum(1.0 - np.abs(omega - (size - 1) / 2) / (size / 2), 1e-3)
    total, norm = np.zeros(prep.grid.size), np.zeros(prep.grid.size)
    for start, curve in zip(prep.starts, cubic):
        total[start:start + size] += weight * curve
        norm[start:start + size] += weight
    return total / np.maximum(norm, 1e-12)


def _finish(prep: _Prepared, pred, model: Model, options: FitOptions,
            name: str | None) -> SpectrumFit:
    """Step 6: window peaks → one table in the caller's units, plus the flags."""
    width = model.num_points
    k_max = model.config.model.k_max
    step = float(prep.grid[1] - prep.grid[0])
    q = pred.q
    slots = np.arange(k_max)[None, :] < pred.num_peaks[:, None]
    win, slot = np.nonzero(slots)
    exists = 1.0 - np.cumsum(pred.k_probs, axis=1)[:, :-1]  # (M, K): P(K >= j), j = slot + 1
    a, b = q.lorentzian_a[win, slot], q.lorentzian_b[win, slot]
    grid_pos = prep.starts[win] + q.location_mean[win, slot]
    gamma, gamma_sd = q.width_mean[win, slot], q.width_sd[win, slot]
    eta = a / (a + b)
    eta_sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    size, _ = fwhm_and_sd(gamma, eta, gamma_sd, eta_sd)
    keep = merge(grid_pos, win, size, prep.starts, width, options.tolerance)
    location = prep.grid[0] + grid_pos * step
    keep &= (location >= prep.x[0]) & (location <= prep.x[-1])  # not in a padding
    order = np.argsort(grid_pos[keep])
    pick = lambda v: np.asarray(v, np.float64)[keep][order]
    win_k = win[keep][order]
    scale = prep.scales[win_k]
    gamma_x, gamma_sd_x = pick(gamma) * step, pick(gamma_sd) * step
    eta_k, eta_sd_k = pick(eta), pick(eta_sd)
    amp, amp_sd = pick(q.amplitude_mean[win, slot]) * scale, pick(q.amplitude_sd[win, slot]) * scale
    area, area_sd = area_of(amp, gamma_x, eta_k, amp_sd, gamma_sd_x, eta_sd_k)
    fw, fw_sd = fwhm_and_sd(gamma_x, eta_k, gamma_sd_x, eta_sd_k)
    peaks = PeakTable(
        location=pick(location),
        location_sd=pick(q.location_sd[win, slot]) * step, fwhm=fw, fwhm_sd=fw_sd,
        amplitude=amp, amplitude_sd=amp_sd, area=area, area_sd=area_sd,
        lorentzian=eta_k, lorentzian_sd=eta_sd_k, width=gamma_x, width_sd=gamma_sd_x,
        probability=pick(exists[win, slot]), window=win_k.astype(np.int64))
    chi2 = np.asarray(reduced_chi2(pred.log_lik, prep.noise_model, width), np.float64)
    unexplained = (chi2 > UNEXPLAINED_CHI2) | (pred.num_peaks == k_max)
    windows = WindowTable(
        start=np.maximum(prep.grid[prep.starts], prep.x[0]),
        stop=np.minimum(prep.grid[prep.starts + width - 1], prep.x[-1]),
        k_probs=np.asarray(pred.k_probs, np.float64), num_peaks=pred.num_peaks.astype(np.int64),
        chi2=chi2, unexplained=unexplained)
    on_grid = prep.baseline + window_baselines(prep, pred, model.config.model.baseline_degree)
    baseline = np.interp(prep.x, prep.grid, on_grid)
    fit = SpectrumFit(peaks, windows, prep.x, prep.y, baseline, baseline, prep.noise, step,
                      bool(unexplained.any()), None, name)
    fitted = baseline + fit.components().sum(axis=0)
    return SpectrumFit(peaks, windows, prep.x, prep.y, baseline, fitted, prep.noise, step,
                       bool(unexplained.any()), None, name)


# ---------------------------------------------------------------- public entry points

def fit_spectra(spectra: Sequence[tuple[Any, Any]], *,
                model: str | os.PathLike | Model | None = None,
                names: Sequence[str | None] | None = None,
                options: FitOptions | None = None) -> list[SpectrumFit]:
    """Fits measured spectra given as ``(x, y)`` pairs of any lengths and axes.

    All windows of all spectra go through the model together (in chunks). A spectrum that
    cannot be prepared (bad values, too short, ...) gets a `SpectrumFit` whose ``error`` says
    why; the others are fitted as usual.

    Args:
      spectra: sequence of (x (n,), y (n,)) pairs.
      model: a `Model` or model directory; None: the bundled real-data model (``broad``).
      names: optional labels carried into the results.
      options: `FitOptions` (defaults: arPLS baseline, estimated noise and widths).

    Returns:
      One `SpectrumFit` per input, in order.
    """
    options = options or FitOptions()
    mdl = load_model(BROAD_MODEL if model is None else model)
    names = list(names) if names is not None else [None] * len(spectra)
    fits = _fit_pass(spectra, mdl, names, [options] * len(spectra))
    if options.coarse is None:
        return fits
    # second pass: bands too broad for the first grid leave a smooth residual; fit it on a
    # grid `coarse` times coarser and add what it finds
    redo = [i for i, f in enumerate(fits)
            if f.error is None and np.any(f.windows.chi2 > UNEXPLAINED_CHI2)]
    wider = [replace(options, fwhm=options.coarse * TARGET_FWHM * fits[i].step,
                     baseline="none", x_range=None) for i in redo]
    residuals = [(fits[i].x, fits[i].y - fits[i].fitted) for i in redo]
    broad = _fit_pass(residuals, mdl, [fits[i].name for i in redo], wider)
    for i, extra in zip(redo, broad):
        if extra.error is None:
            fits[i] = _combine(fits[i], extra)
    return fits


def _fit_pass(spectra, mdl: Model, names: list, options: list[FitOptions]
              ) -> list[SpectrumFit]:
    """One pass of `fit_spectra`, each spectrum at the grid its options imply."""
    prepared: list[_Prepared | str] = []
    for (x, y), opts in zip(spectra, options):
        try:
            prepared.append(prepare(y, x, mdl.num_points, opts))
        except (TypeError, ValueError) as err:
            prepared.append(str(err))
    good = [p for p in prepared if isinstance(p, _Prepared)]
    preds = iter(_predict_windows(mdl, good))
    results, k_max = [], mdl.config.model.k_max
    for prep, name, opts in zip(prepared, names, options):
        if isinstance(prep, str):
            results.append(_empty_fit(prep, name, k_max))
        else:
            results.append(_finish(prep, next(preds), mdl, opts, name))
    return results


def _combine(fine: SpectrumFit, coarse: SpectrumFit) -> SpectrumFit:
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


def _predict_windows(mdl: Model, prepared: list[_Prepared]) -> list:
    """Runs every window of every prepared spectrum; returns one window-`Prediction` each."""
    if not prepared:
        return []
    windows = np.concatenate([p.windows for p in prepared])
    noise = np.concatenate([p.noise_model for p in prepared])
    parts = []
    # one padded size for every call with up to 64 windows (and powers of two above), so a
    # session compiles the policy a few times at most
    pad = max(MIN_BATCH, min(CHUNK, windows.shape[0]))
    for start in range(0, windows.shape[0], CHUNK):
        parts.append(mdl.predict_chunk(windows[start:start + CHUNK],
                                       noise=noise[start:start + CHUNK], pad_to=pad))
    whole = jax.tree.map(lambda *a: np.concatenate(a), *parts)
    bounds = np.cumsum([0] + [p.windows.shape[0] for p in prepared])
    return [jax.tree.map(lambda a, lo=lo, hi=hi: a[lo:hi], whole)
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def fit_spectrum(y: Any, x: Any, *, model: str | os.PathLike | Model | None = None,
                 name: str | None = None, **options: Any) -> SpectrumFit:
    """Fits one measured spectrum; keyword options are those of `FitOptions`.

    Raises:
      ValueError: when the spectrum cannot be fitted (non-numeric, NaN/inf, too short, ...;
        the message says why).
    """
    fit = fit_spectra([(x, y)], model=model, names=[name], options=FitOptions(**options))[0]
    if fit.error:
        raise ValueError(fit.error)
    return fit
