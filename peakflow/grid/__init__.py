"""Spectra on a model's grid: the amortized `Posterior`, `infer`, and the exactness step
`reweight` (importance sampling against the exact posterior)."""

from peakflow.grid.exactness import reweight
from peakflow.grid.infer import infer
from peakflow.grid.posterior import ParamPosterior, Posterior
from peakflow.runtime.reweighting import KHAT_MAX, Importance

__all__ = ["KHAT_MAX", "Importance", "ParamPosterior", "Posterior", "infer", "reweight"]
