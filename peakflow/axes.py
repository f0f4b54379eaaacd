"""Spectral axes: what an axis label says it measures, and Raman shift from a wavelength or an
absolute-wavenumber axis when the laser wavelength is known.

Raman shift (cm⁻¹) = 10⁷ / λ_laser(nm) − 10⁷ / λ(nm) = 10⁷ / λ_laser(nm) − ν̃(cm⁻¹).
"""

from __future__ import annotations

import numpy as np

from peakflow.columns import kind

# an absolute-wavenumber axis of Raman-scattered light lies within this of the laser's
STOKES_RANGE = (-1500.0, 5000.0)  # cm⁻¹ of shift: anti-Stokes to the C-H and O-H stretches


def raman_shift(x: np.ndarray, label: str | None, laser_nm: float
                ) -> tuple[np.ndarray, str] | None:
    """`x` as Raman shift (cm⁻¹) with its new label, when `label` says it is a wavelength
    (nm) or an absolute wavenumber whose values lie where Raman-scattered light of a
    `laser_nm` laser does; None otherwise (a Raman shift already, an IR wavenumber axis, an
    angle, ...).

    Raises:
      ValueError: a laser wavelength that is not a positive number of nm.
    """
    if not laser_nm > 0:
        raise ValueError(f"the laser wavelength must be a positive number of nm, got {laser_nm}")
    what = kind(label) if label else None
    laser = 1e7 / laser_nm
    if what == "wavelength":
        if np.any(np.asarray(x) <= 0):
            return None
        shift = laser - 1e7 / np.asarray(x, np.float64)
        source = f"{label}"
    elif what == "wavenumber":
        shift = laser - np.asarray(x, np.float64)
        source = f"absolute {label}"
    else:
        return None
    lo, hi = STOKES_RANGE
    if np.nanmin(shift) < lo or np.nanmax(shift) > hi:
        return None
    return shift, f"Raman shift (cm-1, from {source} with a {laser_nm:g} nm laser)"
