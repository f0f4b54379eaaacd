"""Measured spectra: any axis, length, baseline and noise level → peak tables in the caller's
units (`fit`, `fit_many`; maps on one shared axis: `fit_map`, `band_maps`), through
preparation, tiling, one batched policy pass and assembly."""

from peakflow.measured.maps import band_maps, fit_map
from peakflow.measured.pipeline import fit, fit_many
from peakflow.measured.options import FitOptions
from peakflow.measured.results import PeakTable, SpectrumFit, WindowTable, fits_to_dataframe

__all__ = ["FitOptions", "PeakTable", "SpectrumFit", "WindowTable", "band_maps", "fit",
           "fit_many", "fit_map", "fits_to_dataframe"]
