"""peakflow: amortized Bayesian peak fitting for spectra, in JAX.

    >>> import peakflow
    >>> post = peakflow.infer(spectrum)        # (500,) array on the default model's grid
    >>> post.num_peaks, post.location.mean, post.location.std
    >>> print(post)                            # P(K) and a table of mean ± sd per peak
    >>> fit = peakflow.infer(y, x=axis)        # a measured spectrum: any axis, any length
    >>> fit.peaks.location, fit.peaks.fwhm, fit.peaks.area   # caller's units, each with _sd
"""

from peakflow.config import (
    PRESETS,
    Config,
    HeadConfig,
    ModelConfig,
    PolicyConfig,
    SimulatorConfig,
    TrainConfig,
    preset,
    with_overrides,
)
from peakflow.elbo import relaxed_loss, rollout
from peakflow.fitting import FitOptions, PeakTable, SpectrumFit, fit_spectra, fit_spectrum
from peakflow.inference import Model, ParamPosterior, Posterior, infer, load_model
from peakflow.io import Spectrum, SpectrumFileError, read_spectrum
from peakflow.model import Peaks, fwhm, log_likelihood, pseudo_voigt, spectrum
from peakflow.policy import make_policy
from peakflow.predict import Prediction, predict
from peakflow.refine import refine
from peakflow.simulator import Simulated, simulate, simulate_batch
from peakflow.train import TrainState, make_train
from peakflow.variational import PeakQ, heads

__all__ = [
    "PRESETS",
    "Config",
    "FitOptions",
    "HeadConfig",
    "Model",
    "ModelConfig",
    "ParamPosterior",
    "PeakQ",
    "PeakTable",
    "Peaks",
    "PolicyConfig",
    "Posterior",
    "Prediction",
    "Simulated",
    "SimulatorConfig",
    "Spectrum",
    "SpectrumFit",
    "SpectrumFileError",
    "TrainConfig",
    "TrainState",
    "fit_spectra",
    "fit_spectrum",
    "fwhm",
    "heads",
    "infer",
    "load_model",
    "log_likelihood",
    "make_policy",
    "make_train",
    "predict",
    "preset",
    "read_spectrum",
    "pseudo_voigt",
    "refine",
    "relaxed_loss",
    "rollout",
    "simulate",
    "simulate_batch",
    "spectrum",
    "with_overrides",
]

__version__ = "0.1.0"
