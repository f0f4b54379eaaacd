"""Axis calibration: the `Calibration` record (a low-order correction x → x' with its
uncertainty, saved as JSON), how found peaks are matched to reference lines, how the
correction is fitted, and how a calibration is applied to a fit. `peakflow.calibrate`
(`peakflow.measured.calibrate`) fits the standard's spectrum and calls these;
``peakflow.fit(..., calibration=cal)`` applies one to other spectra of the same instrument.

Matching: the instrument's axis may be off by tens of cm⁻¹ and stretched, so the lines are
first aligned as a whole (the offset and stretch that put the most peak height on the lines,
searched on a grid), then each line takes the tallest peak within `MATCH` of where the
alignment puts it. The correction is a polynomial in the measured x (Legendre basis over the
matched range): ``"offset"``, ``"linear"``, ``"quadratic"`` or ``"cubic"``; ``"auto"`` takes
the degree with the lowest BIC. The worst match is dropped while it lies more than 4 robust sds
off the fit (up to three times). The coefficients' covariance is (BᵀWB)⁻¹, scaled up by the
reduced χ² when the residuals exceed the sds; a calibrated position's sd adds, in quadrature,
the sd of the correction there to the fit's own sd on the calibrated axis.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from peakflow.io import Spectrum, atomic_write
from peakflow.standards import Lines

MODELS = {"offset": 0, "linear": 1, "quadratic": 2, "cubic": 3}
MATCH = 4.0          # x units: a line takes the tallest peak this close to its aligned position
SEARCH = 30.0        # x units: the largest offset the alignment considers
STRETCH = 0.01       # the largest relative stretch it considers
OUTLIER = 4.0        # matches further than this many sds from the fit are dropped


@dataclass(frozen=True)
class Calibration:
    """A fitted axis correction x' = x + p(x), p a polynomial in t = (x − centre) / half_width.

    Attributes:
      standard: the standard's name (``"lines"`` for the caller's).
      model: ``"offset"``, ``"linear"``, ``"quadratic"`` or ``"cubic"``.
      centre, half_width: the map from x to t ∈ [−1, 1] over the matched lines.
      coef: (d + 1,) Legendre coefficients of p; cov: (d + 1, d + 1) their covariance.
      reference, reference_sd: (L,) the matched lines' positions and sds.
      found, found_sd: (L,) where the spectrum put them (measured x) and their sds.
      chi2: reduced χ² of the fit (about 1 when the sds explain the residuals).
      laser_nm: the laser wavelength used to convert the lines, if any.
      unmatched: the reference positions no peak matched.
    """

    standard: str
    model: str
    centre: float
    half_width: float
    coef: np.ndarray
    cov: np.ndarray
    reference: np.ndarray
    reference_sd: np.ndarray
    found: np.ndarray
    found_sd: np.ndarray
    chi2: float
    laser_nm: float | None = None
    unmatched: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def _basis(self, x: Any) -> np.ndarray:
        t = (np.asarray(x, np.float64) - self.centre) / self.half_width
        return np.polynomial.legendre.legvander(t, self.coef.size - 1)

    def __call__(self, x: Any) -> np.ndarray:
        """x' = x + p(x), same shape as `x`."""
        return np.asarray(x, np.float64) + self._basis(x) @ self.coef

    def sd(self, x: Any) -> np.ndarray:
        """The sd of the correction p(x) (from the coefficients' covariance)."""
        basis = self._basis(x)
        return np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", basis, self.cov, basis), 0.0))

    def slope(self, x: Any) -> np.ndarray:
        """dx'/dx at x."""
        derivative = np.polynomial.legendre.legder(self.coef) / self.half_width
        t = (np.asarray(x, np.float64) - self.centre) / self.half_width
        return 1.0 + np.polynomial.legendre.legval(t, derivative)

    @property
    def residual(self) -> np.ndarray:
        """(L,) reference − calibrated found position."""
        return self.reference - self(self.found)

    @property
    def rms(self) -> float:
        """Root mean square of `residual`."""
        return float(np.sqrt(np.mean(self.residual**2))) if self.reference.size else np.nan

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(self).items()}

    def save(self, path: str | os.PathLike) -> None:
        """As JSON (written to a temporary name, then renamed)."""
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """A calibration saved with `save`.

        Raises:
          ValueError: the file is not a saved calibration.
        """
        try:
            data = json.loads(Path(path).read_text())
            arrays = {k: np.asarray(data[k], np.float64) for k in
                      ("coef", "cov", "reference", "reference_sd", "found", "found_sd",
                       "unmatched")}
            return cls(**{**data, **arrays})
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a peakflow calibration ({err})") from err

    def __repr__(self) -> str:
        lines = [f"Calibration against {self.standard} ({self.model}, {self.reference.size} "
                 f"lines, RMS residual {self.rms:.3g}, reduced χ² {self.chi2:.2f})",
                 f"{'reference':>12} {'found':>12} {'calibrated':>12} {'residual':>10} "
                 f"{'sd':>8}"]
        calibrated = self(self.found)
        total_sd = np.hypot(self.found_sd * self.slope(self.found), self.sd(self.found))
        for r, f, c, s in zip(self.reference, self.found, calibrated, total_sd):
            lines.append(f"{r:>12.2f} {f:>12.2f} {c:>12.2f} {r - c:>+10.3f} {s:>8.3f}")
        if self.unmatched.size:
            lines.append("unmatched: " + ", ".join(f"{v:.1f}" for v in self.unmatched))
        return "\n".join(lines)


def match_lines(reference: np.ndarray, location: np.ndarray, location_sd: np.ndarray,
                height: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each reference line's peak: after aligning the lines to the peaks as a whole (offset
    and stretch on a grid), the tallest peak within `MATCH` of the aligned position.

    Returns:
      (found (L,), found sd (L,), matched (L,) bool); NaN where unmatched.
    """
    found = np.full(reference.size, np.nan)
    sd = np.full(reference.size, np.nan)
    if not location.size:
        return found, sd, np.zeros(reference.size, bool)
    weight = np.abs(height) / np.max(np.abs(height))
    centre = float(np.mean(reference))
    offsets = np.arange(-SEARCH, SEARCH + 0.25, 0.25)
    stretches = np.linspace(-STRETCH, STRETCH, 41)
    aligned = (reference[None, None, :] + offsets[:, None, None]
               + stretches[None, :, None] * (reference - centre)[None, None, :])  # (O, S, L)
    near = np.exp(-0.5 * ((location[None, None, None, :] - aligned[..., None]) / 1.5) ** 2)
    score = np.sum(np.max(near * weight, axis=-1), axis=-1)                       # (O, S)
    best_o, best_s = np.unravel_index(np.argmax(score), score.shape)
    guess = reference + offsets[best_o] + stretches[best_s] * (reference - centre)
    for i, where in enumerate(guess):
        close = np.flatnonzero(np.abs(location - where) <= MATCH)
        if close.size:
            j = close[np.argmax(weight[close])]
            found[i], sd[i] = location[j], location_sd[j]
    return found, sd, np.isfinite(found)


def fit_correction(lines: Lines, found: np.ndarray, found_sd: np.ndarray, keep: np.ndarray,
                   model: str, laser_nm: float | None) -> Calibration:
    """The weighted least-squares correction through the matched lines (`keep`);
    ``model="auto"``: the degree with the lowest BIC. The worst match is dropped while it lies
    more than `OUTLIER` robust sds (the residuals' MAD, at least their sds) off the fit, up
    to three times, and the degree chosen again.

    Raises:
      ValueError: too few lines for the model.
    """
    degrees = [MODELS[model]] if model != "auto" else list(MODELS.values())
    keep = np.asarray(keep, bool).copy()
    for _ in range(4):
        ok = np.flatnonzero(keep)
        fits = [_wls(lines, found, found_sd, ok, d) for d in degrees
                if d + 1 <= max(ok.size - 1, 1)]
        if not fits:
            raise ValueError(f"{ok.size} line(s) matched: too few for a {model} correction")
        cal = min(fits, key=lambda f: f[-1])[0]
        z = np.abs(cal.residual) / np.hypot(cal.reference_sd, cal.found_sd)
        scale = max(1.0, 1.4826 * float(np.median(z)))
        worst = int(np.argmax(z))
        if z[worst] <= OUTLIER * scale or ok.size <= min(degrees) + 2:
            break
        keep[ok[worst]] = False
    return replace(cal, laser_nm=laser_nm, unmatched=lines.position[~keep])


def _wls(lines: Lines, found: np.ndarray, found_sd: np.ndarray, rows: np.ndarray,
         degree: int) -> tuple[Calibration, float]:
    """(the degree-`degree` correction through `rows`, its BIC)."""
    x, target = found[rows], lines.position[rows]
    var = found_sd[rows] ** 2 + lines.sd[rows] ** 2
    centre = float((x.max() + x.min()) / 2)
    half = float(max((x.max() - x.min()) / 2, 1.0))
    basis = np.polynomial.legendre.legvander((x - centre) / half, degree)
    w = 1.0 / var
    normal = basis.T @ (w[:, None] * basis)
    inverse = np.linalg.pinv(normal)
    coef = inverse @ (basis.T @ (w * (target - x)))
    chi2 = float(np.sum(w * (target - x - basis @ coef) ** 2))
    dof = max(rows.size - degree - 1, 1)
    reduced = chi2 / dof
    cov = inverse * max(reduced, 1.0)
    name = {v: k for k, v in MODELS.items()}[degree]
    cal = Calibration(lines.name, name, centre, half, coef, cov, target, lines.sd[rows], x,
                      found_sd[rows], reduced)
    return cal, chi2 + (degree + 1) * np.log(rows.size)


def calibrated_input(y: Any, x: Any, calibration: Calibration | None) -> tuple[Any, Any]:
    """``(y, x)`` of a fit's input with the axis calibrated: a `Spectrum`'s x (its label
    saying so), or the caller's `x`."""
    if calibration is None:
        return y, x
    if isinstance(y, Spectrum):
        label = f"{y.x_label or 'x'} (calibrated against {calibration.standard})"
        return replace(y, x=calibration(y.x), meta={**y.meta, "xunits": label}), x
    return y, (None if x is None else calibration(np.asarray(x, np.float64)))


def apply_calibration(fit, calibration: Calibration):
    """A `SpectrumFit` made on the calibrated axis with each location's sd widened by the
    correction's own sd there (the fit's sds are already in calibrated units)."""
    peaks = fit.peaks
    if not len(peaks):
        return fit
    sd = np.hypot(peaks.location_sd, calibration.sd(_uncalibrated(calibration, peaks.location)))
    return replace(fit, peaks=replace(peaks, location_sd=sd),
                   meta={**fit.meta, "calibration": calibration.standard,
                         "calibration_model": calibration.model})


def _uncalibrated(calibration: Calibration, x: np.ndarray) -> np.ndarray:
    """The measured x whose calibrated value is `x` (two Newton steps: the slope is ~1)."""
    guess = np.asarray(x, np.float64)
    for _ in range(3):
        guess = guess - (calibration(guess) - x) / calibration.slope(guess)
    return guess
