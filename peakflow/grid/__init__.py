"""Spectra on a model's grid: the amortized `Posterior` and `infer`."""

from peakflow.grid.infer import infer
from peakflow.grid.posterior import ParamPosterior, Posterior

__all__ = ["ParamPosterior", "Posterior", "infer"]
