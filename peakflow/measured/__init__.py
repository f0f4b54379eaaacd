"""Measured spectra: any axis, length, baseline and noise level → peak tables in the caller's
units (`fit`, `fit_many`), through preparation, tiling, one batched policy pass and assembly."""

from peakflow.measured.pipeline import fit, fit_many
from peakflow.measured.options import FitOptions
from peakflow.measured.results import PeakTable, SpectrumFit, WindowTable

__all__ = ["FitOptions", "PeakTable", "SpectrumFit", "WindowTable", "fit", "fit_many"]
