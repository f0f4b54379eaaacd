"""Measured spectra: any axis, length, baseline and noise level → peak tables in the caller's
units (`fit`, `fit_many`; maps on one shared axis: `fit_map`, `band_maps`), through
preparation, tiling, one batched policy pass and assembly.

`fit_map` and `band_maps` (xarray, dask) are imported on first use, so fitting a spectrum
does not load the map machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from peakflow.measured.bands import BandTable, bands_to_dataframe
from peakflow.measured.calibrate import calibrate
from peakflow.measured.calibration import Calibration
from peakflow.measured.options import FitOptions
from peakflow.measured.pipeline import fit, fit_many
from peakflow.measured.results import PeakTable, SpectrumFit, WindowTable, fits_to_dataframe

if TYPE_CHECKING:
    from peakflow.measured.maps import band_maps, fit_map

_MAPS = {"band_maps", "fit_map"}


def __getattr__(name: str) -> Any:
    if name in _MAPS:
        value = getattr(importlib.import_module("peakflow.measured.maps"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'peakflow.measured' has no attribute {name!r}")


__all__ = ["BandTable", "Calibration", "FitOptions", "PeakTable", "SpectrumFit", "WindowTable",
           "band_maps", "bands_to_dataframe", "calibrate", "fit", "fit_many", "fit_map",
           "fits_to_dataframe"]
