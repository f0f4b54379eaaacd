"""Known doublets: every peak comes with a second line at an offset and intensity ratio fixed by
physics, and is reported once, at its main line.

* X-ray diffraction with a Kα source: each reflection is a Kα1 line at 2θ₁ and a Kα2 line at
  2θ₂ = 2 asin((λ₂/λ₁) sin θ₁) (Bragg's law at the two wavelengths), with about half its
  intensity. ``doublet="CuKa"`` (or ``"CoKa"``, ``"MoKa"``, ``"FeKa"``, ``"CrKa"``; x in
  degrees 2θ) uses the anode's wavelengths (`ANODES`).
* A constant splitting in x units with a fixed ratio, e.g. an XPS spin-orbit pair
  (``Doublet(split=5.8, ratio=0.5)`` for a p₃/₂–p₁/₂ pair 5.8 eV apart on a binding-energy
  axis: the second line at x + split).

Both lines share the width and shape (γ, η) of the main one. The refinement fits each peak as
the pair (`peakflow.measured.refine`); the policy, which knows nothing of doublets, proposes the
second lines as peaks of their own, so those are dropped or turned into their main lines
first (`pair_proposals`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from peakflow.core.lineshape import fwhm_ratio, profile, skewed_profile

DEGREES = math.pi / 180.0
REACH = 1.0  # a doublet's main line may lie up to this many windows left of its window


@dataclass(frozen=True)
class Doublet:
    """A second line beside every peak.

    Attributes:
      ratio: the second line's height over the main line's (> 0).
      split: the second line's offset in x units (without ``wavelengths``).
      wavelengths: (λ₁, λ₂) of a Kα pair (any one unit): x is 2θ in degrees and the second
        line sits where Bragg's law puts the same reflection at λ₂.
      name: a label (the anode's, for ``"CuKa"`` and the like).
    """

    ratio: float = 0.5
    split: float = 0.0
    wavelengths: tuple[float, float] | None = None
    name: str | None = None

    def __post_init__(self):
        if not (np.isfinite(self.ratio) and self.ratio > 0):
            raise ValueError(f"a doublet's intensity ratio must be > 0, got {self.ratio}")
        if self.wavelengths is None and not (np.isfinite(self.split) and self.split != 0):
            raise ValueError("a doublet needs its splitting (split=, in x units) or the two "
                             "wavelengths of a K-alpha pair")
        if self.wavelengths is not None and not all(w > 0 for w in self.wavelengths):
            raise ValueError(f"wavelengths must be > 0, got {self.wavelengths}")

    @property
    def params(self) -> np.ndarray:
        """(3,) (ratio, λ₂/λ₁ or 0, split): the doublet as the compiled refinement reads it."""
        rho = 0.0 if self.wavelengths is None else self.wavelengths[1] / self.wavelengths[0]
        return np.array([self.ratio, rho, self.split], np.float64)

    def second(self, x, xp: ModuleType = np):
        """The second line's position for main lines at x (x units), broadcast."""
        return second_line(x, self.params, xp)[0]

    def check_axis(self, x: np.ndarray) -> None:
        """Raises ValueError when x cannot be 2θ in degrees for a Kα doublet."""
        if self.wavelengths is not None and (np.min(x) <= 0 or np.max(x) >= 180):
            raise ValueError(f"doublet {self.name or 'K-alpha'} needs x in degrees 2-theta, "
                             f"between 0 and 180; x runs from {np.min(x):g} to {np.max(x):g}")


# Kα1 and Kα2 wavelengths in Å (Hölzer et al., Phys. Rev. A 56, 4554 (1997)); Kα2 / Kα1 ≈ 0.5
ANODES = {
    "CuKa": Doublet(wavelengths=(1.5405929, 1.5444274), name="CuKa"),
    "CoKa": Doublet(wavelengths=(1.788965, 1.792850), name="CoKa"),
    "MoKa": Doublet(wavelengths=(0.709300, 0.713590), name="MoKa"),
    "FeKa": Doublet(wavelengths=(1.936042, 1.939980), name="FeKa"),
    "CrKa": Doublet(wavelengths=(2.289700, 2.293606), name="CrKa"),
}


def as_doublet(value: Any) -> Doublet | None:
    """A ``doublet=`` argument as a `Doublet`: None, a `Doublet`, an anode's name
    (``"CuKa"``, ``"Cu"``, ``"cu-kalpha"``, case and punctuation ignored) or ``"SPLIT,RATIO"``
    (`Doublet`'s two numbers, as the CLI's ``--doublet`` takes them).

    Raises:
      ValueError: an unknown name (the known ones listed).
    """
    if value is None or isinstance(value, Doublet):
        return value
    if isinstance(value, str) and "," in value:
        split, ratio = (float(v) for v in value.split(","))
        return Doublet(split=split, ratio=ratio)
    key = "".join(ch for ch in str(value).lower() if ch.isalnum())
    for name, doublet in ANODES.items():
        element = name[:2].lower()
        if key in (element, element + "ka", element + "kalpha", element + "kalpha12"):
            return doublet
    raise ValueError(f"unknown doublet {value!r}: use one of {sorted(ANODES)} or "
                     f"Doublet(split=..., ratio=...)")


def second_line(x, params, xp: ModuleType = np):
    """(position, slope) of the second line of main lines at x: its position in x units and
    d position / dx, for a doublet's `Doublet.params` (ratio, λ₂/λ₁ or 0, split); broadcast,
    numpy or `jax.numpy`."""
    rho, split = params[1], params[2]
    half = 0.5 * x * DEGREES
    s = xp.clip(rho * xp.sin(half), -0.999999, 0.999999)
    bragg = 2.0 * xp.arcsin(s) / DEGREES
    slope = rho * xp.cos(half) / xp.sqrt(1.0 - s * s)
    constant = rho == 0
    return xp.where(constant, x + split, bragg), xp.where(constant, 1.0, slope)


def second_location(location: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """(M, ...) the second lines' positions in window grid units of peaks at `location`
    (M, ...) in the windows whose doublets `pair` (M, 6) gives (`Window`)."""
    shape = (-1,) + (1,) * (np.ndim(location) - 1)
    origin, step = pair[:, 3].reshape(shape), pair[:, 4].reshape(shape)
    params = [pair[:, i].reshape(shape) for i in range(3)]
    return (second_line(origin + step * location, params, np)[0] - origin) / step


def line_profile(x, amplitude, location, width, lorentzian, doublet: Doublet | None,
                 asymmetry=None):
    """A peak (`profile`, numpy, broadcast; with `asymmetry`, `skewed_profile`) and, with a
    doublet, its second line (of the same shape)."""
    shape = lambda c: (profile(x, amplitude, c, width, lorentzian, xp=np) if asymmetry is None
                       else skewed_profile(x, amplitude, c, width, lorentzian, asymmetry, np))
    if doublet is None:
        return shape(location)
    return shape(location) + doublet.ratio * shape(doublet.second(location))


def window_lines(omega: np.ndarray, params: list, pair: np.ndarray | None,
                 asymmetry: np.ndarray | None) -> np.ndarray:
    """(n, W) peaks on their windows' grids `omega` (W,): `params` (α, c, γ, η), each (n, 1)
    in window units, with their doublets' second lines (`pair` (n, 6), `Window`; None: none)
    and asymmetries ((n, 1) or None)."""
    amplitude, location, width, lorentzian = params
    shape = lambda c: (profile(omega, amplitude, c, width, lorentzian, xp=np) if asymmetry is None
                       else skewed_profile(omega, amplitude, c, width, lorentzian, asymmetry, np))
    if pair is None:
        return shape(location)
    return shape(location) + pair[:, :1] * shape(second_location(location, pair))


def main_line(x, params, xp: ModuleType = np):
    """Where the main line is whose second line is at x (x units): `second_line` inverted."""
    rho, split = params[1], params[2]
    s = xp.clip(xp.sin(0.5 * x * DEGREES) / xp.where(rho == 0, 1.0, rho), -1.0, 1.0)
    return xp.where(rho == 0, x - split, 2.0 * xp.arcsin(s) / DEGREES)


def pair_proposals(loc: np.ndarray, present: np.ndarray, pair: np.ndarray,
                   spectrum: np.ndarray, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The policy's proposals made ready for fitting doublets: a proposal that is the second
    line of a taller one of the same spectrum (within half that one's FWHM of where its second
    line falls) is dropped when its main line lies in its own window and was proposed
    there, and otherwise becomes that main line (moved there, its height divided by the
    ratio), so that a window that sees only the second line of a peak just beyond its left
    edge fits it as that peak's doublet. Tallest first; a moved proposal is not a main line
    for others.

    Args:
      loc: (M, K, 4) the proposals' u = (log α, c, log γ, logit η) in window grid units.
      present: (M, K) those in use; pair: (M, 6) each window's doublet (`Window`; ratio 0:
        none) and intensity scale; spectrum: (M,) the spectrum of each window; num_points: W.

    Returns:
      (loc (M, K, 4) with moved proposals, keep (M, K)).
    """
    loc, keep = np.array(loc, np.float64), present.copy()
    origin, step = pair[:, 3:4], pair[:, 4:5]
    x = origin + step * loc[..., 1]
    alpha = np.exp(loc[..., 0]) * pair[:, 5:6]           # in y units: windows differ in scale
    size = np.exp(loc[..., 2]) * fwhm_ratio(1.0 / (1.0 + np.exp(-loc[..., 3])), np) * step
    main = main_line(x, [pair[:, i:i + 1] for i in range(3)], np)
    use = present & (pair[:, :1] > 0)
    for s in np.unique(spectrum[use.any(axis=1)]):
        rows, slots = np.nonzero(use & (spectrum == s)[:, None])
        mains = np.ones(rows.size, bool)       # still a main line
        for q in np.argsort(-alpha[rows, slots], kind="stable"):
            m, k = rows[q], slots[q]
            taller = mains & (alpha[rows, slots] > alpha[m, k]) & (
                np.abs(x[rows, slots] - main[m, k]) < 0.5 * size[rows, slots])
            if not taller.any():
                continue
            mains[q] = False
            c = (main[m, k] - origin[m, 0]) / step[m, 0]
            here = taller & (rows == m)
            if here.any() or c < -REACH * num_points:
                keep[m, k] = False
            else:
                loc[m, k, 1] = c
                loc[m, k, 0] -= np.log(pair[m, 0])
    return loc, keep
