"""`FitOptions`: the settings of the measured-spectrum path (`peakflow.fit`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peakflow.measured.baseline import METHODS, REMOVED
from peakflow.measured.doublet import Doublet, as_doublet
from peakflow.measured.window_baseline import DEVIATION_SD, SMOOTHNESS

SHAPES = ("symmetric", "asymmetric")


@dataclass(frozen=True)
class FitOptions:
    """Settings of the measured-spectrum path (see `peakflow.measured.pipeline`).

    Attributes:
      baseline: removed before fitting: ``"arpls"``, ``"asls"``, ``"snip"`` or ``"none"``; or
        ``"shirley"``: nothing removed, a Shirley background (each point raised by k times
        the peak area below it: an XPS spectrum on a binding-energy axis) fitted with the
        peaks in the refinement, its scale k marginalised in every window with the cubic
        (``"shirley-ke"``: the area above it, kinetic energy axes).
      baseline_lam: smoothness of the Whittaker baselines on the model grid (None: default).
      baseline_sd: prior sd, in noise sds, of the smooth deviation from the removed baseline
        that each window marginalises (`peakflow.measured.window_baseline`); None: 0.35 with a
        baseline method, 0 (the window's cubic only) with ``baseline="none"``.
      baseline_refits: rounds in which the removed baseline is re-estimated from the data
        minus the refined peaks with a symmetric smoother and the peaks refitted on it, the
        deviation's prior sd then `rebaseline.REFIT_SD_SHARE` of ``baseline_sd``
        (`peakflow.measured.rebaseline`; with a removed baseline and the refinement only); a
        spectrum keeps a round only where its χ² does not rise and its baseline stays above
        the data's floor. 0 (default): arPLS's baseline stays; 1 brings the heights' and
        areas' ±2 sd coverage nearer 0.954 (README) at 1.2–1.8× the time per spectrum.
      fwhm: typical peak FWHM in x units, to override the estimate that sets the grid.
      noise: noise sd in y units, to override the estimate.
      noise_floor: smallest noise sd the model is told, as a fraction of a window's scale.
      x_range: (lo, hi) keep only this part of the axis.
      tolerance: duplicate reports closer than this many FWHM are one peak.
      coarse: when some window's residual stays far above the noise (bands broader than
        the grid suits), fit the residual again on a grid this many times coarser and add
        its peaks; None turns the second pass off.
      refine: refine each window's peaks jointly and drop those the data do not need
        (`peakflow.measured.refine`); their sds become the Laplace approximation's. Not
        combined with ``exact`` (which then reweights the amortized posterior instead).
      exact: reweight every window's amortized posterior towards its exact posterior
        (`peakflow.measured.window_exactness`): calibrated sds at a few ms per window, with k̂ per
        window in ``WindowTable.khat``.
      despike: replace one- and two-point spikes (cosmic rays, dead pixels) by interpolation
        before fitting (`peakflow.measured.despike`); their x in ``SpectrumFit.spikes``.
      seed: the random numbers of a fit (the noise that pads a short spectrum, the joint
        draws behind the amplitude, FWHM and area sds, the exactness step's draws); a fit is
        deterministic given it.
      doublet: every peak is a pair of lines with a fixed offset and intensity ratio, reported
        once at its main line (`peakflow.measured.doublet`): an anode's name for Kα1/Kα2 on a
        2θ axis in degrees (``"CuKa"``, ``"CoKa"``, ``"MoKa"``, ``"FeKa"``, ``"CrKa"``) or a
        `Doublet` (``Doublet(split=..., ratio=...)`` in x units); needs ``refine`` and not
        ``exact``.
      shape: ``"symmetric"`` (pseudo-Voigt peaks) or ``"asymmetric"``: the refinement tries
        one split pseudo-Voigt (half-widths γ(1 ∓ a)) in place of each window's closest pair
        of components and keeps it where the data do not need two
        (`peakflow.measured.asymmetry`); each peak then reports its ``asymmetry``. Needs
        ``refine`` and not ``exact``.
    """

    baseline: str = "arpls"
    baseline_lam: float | None = None
    baseline_sd: float | None = None
    baseline_refits: int = 0
    fwhm: float | None = None
    noise: float | None = None
    noise_floor: float = 0.005
    x_range: tuple[float, float] | None = None
    tolerance: float = 0.5
    coarse: float | None = 4.0
    refine: bool = True
    exact: bool = False
    despike: bool = True
    seed: int = 0
    doublet: Doublet | Any = None
    shape: str = "symmetric"

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")
        if self.baseline.startswith("shirley") and (self.exact or not self.refine):
            raise ValueError(f'baseline="{self.baseline}" needs the refinement (refine=True) '
                             "and not exact=True: the Shirley step is fitted with the peaks "
                             "there")
        if self.shape == "asymmetric" and (self.exact or not self.refine):
            raise ValueError('shape="asymmetric" needs the refinement (refine=True) and not '
                             "exact=True")
        object.__setattr__(self, "doublet", as_doublet(self.doublet))
        if self.doublet is not None and (self.exact or not self.refine):
            raise ValueError("doublet= needs the refinement (refine=True) and not exact=True: "
                             "the policy and the exactness step fit single lines")
        if self.baseline not in METHODS:
            raise ValueError(f"baseline must be one of {METHODS}, got {self.baseline!r}")
        if not (isinstance(self.baseline_refits, int) and self.baseline_refits >= 0):
            raise ValueError(f"baseline_refits must be an integer >= 0, got "
                             f"{self.baseline_refits!r}")
        if self.baseline_sd is not None and not self.baseline_sd >= 0:
            raise ValueError(f"baseline_sd must be >= 0, got {self.baseline_sd}")

    @property
    def deviation_sd(self) -> float:
        """κ: the baseline deviation's prior sd in noise sds (``baseline_sd`` resolved)."""
        if self.baseline_sd is not None:
            return float(self.baseline_sd)
        return DEVIATION_SD if self.baseline in REMOVED else 0.0

    @property
    def shirley(self) -> float:
        """The direction of the Shirley step fitted with the peaks: +1 rising with x
        (``baseline="shirley"``, binding energy), −1 falling (``"shirley-ke"``), 0 none."""
        return {"shirley": 1.0, "shirley-ke": -1.0}.get(self.baseline, 0.0)

    @property
    def smoothness(self) -> float:
        """λ of the Whittaker baseline (``baseline_lam`` resolved)."""
        return SMOOTHNESS if self.baseline_lam is None else float(self.baseline_lam)
