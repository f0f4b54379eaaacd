"""Results of the measured-spectrum path: the peak table, the window table and `SpectrumFit`,
in the caller's units, with their JSON and CSV forms."""

from __future__ import annotations

import csv
import functools
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from peakflow.core.lineshape import Peaks
from peakflow.core.seeds import Seed, as_generator
from peakflow.io import atomic_write
from peakflow.measured.doublet import line_profile
from peakflow.measured.draws import PeakDraws
from peakflow.measured.table import Columns

PEAK_COLUMNS = ("location", "fwhm", "amplitude", "area", "lorentzian", "width", "asymmetry")


@dataclass(frozen=True)
class PeakTable(Columns):
    """Peaks of one spectrum in the caller's units, sorted by location; each field (P,).

    ``location``, ``fwhm``, ``width`` (γ: Lorentzian half-width = Gaussian sd) in x units,
    ``amplitude`` (height) in y units, ``area`` in x·y units, ``lorentzian`` η in [0, 1]; each
    with its posterior sd in ``<name>_sd``; ``asymmetry`` a of a split pseudo-Voigt (half-widths
    γ(1 − a) left of the location, γ(1 + a) right of it; 0 and sd 0 for symmetric peaks,
    ``FitOptions(shape="asymmetric")``), whose location is its maximum and whose FWHM and area
    are those of the symmetric peak of width γ. ``probability`` is the posterior probability that
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
    asymmetry: np.ndarray = None  # type: ignore[assignment]  # zeros when not given
    asymmetry_sd: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self):
        for name in ("asymmetry", "asymmetry_sd"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(np.shape(self.location)))

    def __len__(self) -> int:
        return int(self.location.size)

    @classmethod
    def empty(cls) -> PeakTable:
        """A table without peaks."""
        return cls(**{f.name: np.zeros(0, np.int64 if f.name == "window" else np.float64)
                      for f in fields(cls)})

    def rows(self) -> list[dict[str, float]]:
        """One dict per peak: every column and its sd, the probability and the window index."""
        names = [f.name for f in self.__dataclass_fields__.values()]
        return [{name: _scalar(getattr(self, name)[i]) for name in names}
                for i in range(len(self))]


@dataclass(frozen=True)
class WindowTable(Columns):
    """The model windows of one spectrum; M windows, K = the model's K_max.

    Attributes:
      start, stop: (M,) x range of each window.
      k_probs: (M, K+1) posterior probability of 0..K peaks in the window.
      num_peaks: (M,) most probable number of peaks.
      chi2: (M,) reduced χ² of the window's data points given its peaks, with its baseline
        marginalised, at each point's noise sd (`peakflow.measured.assemble.window_fits`).
      unexplained: (M,) chi2 above `MISFIT_CHI2`, or the most probable K is K_max (there
        may be more peaks than the model can add).
      khat: (M,) Pareto k̂ of the exactness step (``FitOptions(exact=True)``; above 0.65 its
        reweighted posterior cannot be trusted); NaN without the step or without peaks.
    """

    start: np.ndarray
    stop: np.ndarray
    k_probs: np.ndarray
    num_peaks: np.ndarray
    chi2: np.ndarray
    unexplained: np.ndarray
    khat: np.ndarray

    @classmethod
    def empty(cls, k_max: int) -> WindowTable:
        """A table without windows, for a model with `k_max` peak slots."""
        none = np.zeros(0)
        return cls(start=none, stop=none, k_probs=np.zeros((0, k_max + 1)),
                   num_peaks=np.zeros(0, np.int64), chi2=none, unexplained=np.zeros(0, bool),
                   khat=none)


@dataclass(frozen=True)
class SpectrumFit:
    """The fit of one measured spectrum.

    Attributes:
      peaks: the `PeakTable`.
      windows: the `WindowTable`.
      x, y: (n,) the spectrum as given (inside ``x_range``), x ascending, with any spikes
        replaced (``spikes``).
      baseline: (n,) the baseline on x: the removed one (pybaselines) plus the polynomial
        the model marginalised in each window (blended across windows).
      fitted: (n,) baseline plus all peaks at their posterior means.
      noise: estimated noise sd (y units).
      grid_step: the model grid's step (x units).
      unexplained: True when any window is flagged, or when the residual leaves the noise
        over a stretch (``stretch`` above `peakflow.measured.assemble.STRETCH_SIGMA`).
      error: None, or why this spectrum could not be fitted (then every array is empty).
      name: where the spectrum came from, if known.
      chi2: the whole spectrum's mean squared residual in units of ``noise`` (edges included).
      stretch: the worst run of residual: the largest |mean| of residual / noise over any
        run of one grid FWHM of points (at least 8), in noise sds.
      spikes: (S,) x of the one- or two-point spikes replaced before fitting
        (`peakflow.measured.despike`).
      draws: each peak's posterior, to draw from (`PeakDraws`).
      doublet: the `peakflow.measured.doublet.Doublet` every peak carries (None: single
        lines); the peak table then holds the main lines (location, height, width and area
        of the main line), and ``components`` and ``fitted`` include the second lines.
    """

    peaks: PeakTable
    windows: WindowTable
    x: np.ndarray
    y: np.ndarray
    baseline: np.ndarray
    fitted: np.ndarray
    noise: float
    grid_step: float
    unexplained: bool
    error: str | None = None
    name: str | None = None
    meta: dict = field(default_factory=dict)
    chi2: float = float("nan")
    stretch: float = float("nan")
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    draws: PeakDraws | None = None
    doublet: Any = None

    @property
    def num_peaks(self) -> int:
        return len(self.peaks)

    @functools.cached_property
    def bands(self):
        """The `BandTable` (`peakflow.measured.bands`): one row per band, the components the
        data cannot tell apart (heights that trade off, or one maximum) reported together as
        their summed shape, with sds from their joint draws; computed on first use."""
        from peakflow.measured.bands import band_table

        return band_table(self.peaks, self.draws)

    @property
    def valid(self) -> bool:
        """True when the spectrum was fitted (``error`` is None)."""
        return self.error is None

    def components(self) -> np.ndarray:
        """(P, n) each peak on x at its posterior mean (without the baseline), with its
        second line when the fit has a ``doublet``."""
        p = self.peaks
        return line_profile(self.x[None, :], p.amplitude[:, None], p.location[:, None],
                            p.width[:, None], p.lorentzian[:, None], self.doublet,
                            p.asymmetry[:, None] if np.any(p.asymmetry) else None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: peaks, windows' P(K), noise, grid step, flags."""
        w = self.windows
        return {
            "name": self.name, "error": self.error, "num_peaks": self.num_peaks,
            "noise": self.noise, "grid_step": self.grid_step, "unexplained": bool(self.unexplained),
            "chi2": _scalar(self.chi2), "stretch": _scalar(self.stretch),
            "spikes": [float(v) for v in self.spikes],
            "peaks": self.peaks.rows(),
            "num_bands": len(self.bands), "bands": self.bands.rows(),
            "windows": [{"start": _scalar(w.start[i]), "stop": _scalar(w.stop[i]),
                         "num_peaks": int(w.num_peaks[i]), "chi2": _scalar(w.chi2[i]),
                         "unexplained": bool(w.unexplained[i]), "khat": _scalar(w.khat[i]),
                         "k_probs": [round(float(v), 6) for v in w.k_probs[i]]}
                        for i in range(w.start.size)],
            **self.meta,
        }

    def sample(self, n: int, *, seed: Seed = 0) -> Peaks:
        """`n` joint draws of every peak (`PeakDraws.sample`): `Peaks` with fields
        (n, P) in the caller's units; `seed` is an int or a JAX PRNG key.

        Raises:
          ValueError: a fit without draws (a failed fit).
        """
        if self.draws is None:
            raise ValueError("this fit carries no posterior draws"
                             + (f" ({self.error})" if self.error else ""))
        return self.draws.sample(as_generator(seed), n)

    def to_inference_data(self, n: int = 500, *, seed: Seed = 0):
        """ArviZ `InferenceData` of `n` draws (`peakflow.measured.interop`)."""
        from peakflow.measured.interop import to_inference_data

        return to_inference_data(self, n, seed=seed)

    def to_lmfit(self):
        """The peaks as an lmfit ``(model, params)`` that reproduces them exactly; fit it to
        ``y - baseline`` (`peakflow.measured.interop.to_lmfit`)."""
        from peakflow.measured.interop import to_lmfit

        return to_lmfit(self)

    def to_dataframe(self):
        """The peak table as a `pandas.DataFrame`: one row per peak, a ``spectrum`` column
        (the fit's name), every quantity and its sd, ``probability`` and ``window``, and the
        flags of the spectrum (``unexplained``, ``chi2``)."""
        import pandas as pd

        names = [f.name for f in PeakTable.__dataclass_fields__.values()]
        frame = pd.DataFrame({name: np.asarray(getattr(self.peaks, name)) for name in names})
        frame.insert(0, "spectrum", self.name)
        frame["unexplained"] = bool(self.unexplained)
        frame["chi2"] = float(self.chi2)
        return frame

    def write_json(self, path: str | os.PathLike) -> None:
        """`to_dict` as JSON (written to a temporary name, then renamed)."""
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=1))

    def write_csv(self, path: str | os.PathLike) -> None:
        """One row per peak: each quantity and its sd, the window and that window's P(K)
        (written to a temporary name, then renamed)."""
        rows = self.peaks.rows()
        k_max = self.windows.k_probs.shape[-1] - 1 if self.windows.k_probs.ndim == 2 else 0
        header = [c for name in PEAK_COLUMNS for c in (name, f"{name}_sd")]
        header += ["probability", "window"]
        header += [f"window_p_k{k}" for k in range(k_max + 1)]
        with atomic_write(path) as temporary, open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                probs = self.windows.k_probs[int(row["window"])]
                writer.writerow([f"{row[c]:.8g}" for c in header[:-(k_max + 2)]]
                                + [int(row["window"])] + [f"{p:.4f}" for p in probs])

    def write_bands_csv(self, path: str | os.PathLike) -> None:
        """`bands` as CSV: one row per band, its members as peak indices joined by ";"
        (written to a temporary name, then renamed)."""
        from peakflow.measured.bands import band_frame

        with atomic_write(path) as temporary:
            band_frame(self.bands, self.name).drop(columns="spectrum").to_csv(temporary,
                                                                              index=False)

    def _repr_html_(self) -> str:
        """Notebook display: summary, flags, figure and tables
        (`peakflow.measured.fit_view.fit_html`)."""
        from peakflow.measured.fit_view import fit_html

        return fit_html(self)

    def __repr__(self) -> str:
        if self.error:
            return f"SpectrumFit({self.name or 'spectrum'}: error: {self.error})"
        flag = (f"  [not explained: χ² {self.chi2:.3g}, worst stretch {self.stretch:.1f} "
                "noise sd]" if self.unexplained else "")
        lines = [f"SpectrumFit: {self.num_peaks} peak(s), noise sd {self.noise:.3g}, "
                 f"{self.windows.start.size} window(s), grid step {self.grid_step:.4g}{flag}",
                 f"{'location':>22} {'FWHM':>20} {'amplitude':>20} {'area':>20} {'eta':>12}"
                 f" {'P(exists)':>10}"]
        p = self.peaks
        skewed = bool(np.any(p.asymmetry))
        lines[-1] += f" {'asymmetry':>14}" if skewed else ""
        for i in range(len(p)):
            cells = [f"{getattr(p, c)[i]:.6g} ± {getattr(p, c + '_sd')[i]:.2g}"
                     for c in ("location", "fwhm", "amplitude", "area")]
            cells.append(f"{p.lorentzian[i]:.2f} ± {p.lorentzian_sd[i]:.2f}")
            cells.append(f"{p.asymmetry[i]:+.2f} ± {p.asymmetry_sd[i]:.2f}" if skewed else "")
            lines.append(" ".join(f"{c:>20}" for c in cells[:4]) + f" {cells[4]:>14}"
                         f" {p.probability[i]:>10.3f}" + (f" {cells[5]:>14}" if skewed else ""))
        return "\n".join(lines)


def _scalar(value) -> float | int:
    value = np.asarray(value).item()
    return value if isinstance(value, int) else float(value)


def failed_fit(error: str, name: str | None, k_max: int) -> SpectrumFit:
    """The result of a spectrum that could not be fitted: empty arrays and the reason."""
    none = np.zeros(0)
    return SpectrumFit(peaks=PeakTable.empty(), windows=WindowTable.empty(k_max), x=none, y=none,
                       baseline=none, fitted=none, noise=float("nan"), grid_step=float("nan"),
                       unexplained=False, error=error, name=name)


def fits_to_dataframe(fits: list[SpectrumFit]):
    """One `pandas.DataFrame` of the peaks of many fits (`SpectrumFit.to_dataframe`), with
    ``spectrum`` the fit's name or, without one, its index in `fits`; a fit that failed
    contributes no rows (its ``error`` is in the fit)."""
    import pandas as pd

    frames = [fit.to_dataframe().assign(spectrum=fit.name if fit.name is not None else i)
              for i, fit in enumerate(fits)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
