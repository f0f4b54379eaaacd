"""peakflow: amortized Bayesian peak fitting for spectra, in JAX.

    >>> import peakflow
    >>> post = peakflow.infer(spectra)          # (500,) or (N, 500) on the default model's grid
    >>> post.num_peaks, post.location.mean, post.location.std
    >>> print(post)                             # P(K) and a table of mean ± sd per peak
    >>> fit = peakflow.fit(y, x)                # a measured spectrum: any axis, any length
    >>> fit.peaks.location, fit.peaks.fwhm, fit.peaks.area   # caller's units, each with _sd
    >>> fits = peakflow.fit_many([(y1, x1), (y2, x2)])       # many, in one batched pass
    >>> result = peakflow.fit_map(cube, x)     # a map (..., n) on one axis → xarray Dataset
    >>> bands = peakflow.band_maps(result)     # peaks matched across pixels: band images

Layers, each importing only those below it:

* `peakflow.core` — pure JAX: line shape, likelihood, priors, simulator, variational family,
  policy, ELBO, prediction, training steps;
* `peakflow.runtime` — trained models on disk and batched, sharded prediction;
* `peakflow.grid` — spectra on a model's grid: `infer`, `Posterior`, the exactness step `reweight`;
* `peakflow.measured` — measured spectra: `fit`, `fit_many`, `SpectrumFit`, `fit_map`,
  `band_maps`;
* `peakflow.io`, `peakflow.cli`, `peakflow.plotting`, `peakflow.evaluation`,
  `peakflow.calibration`, `peakflow.reference` (SVI, NUTS, least squares and `refine`),
  `peakflow.experiments` on top.
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
from peakflow.core import (
    CorrelatedQ,
    PeakQ,
    Peaks,
    Prediction,
    Simulated,
    TrainState,
    decode_heads,
    fwhm,
    log_likelihood,
    make_policy,
    make_train,
    multi_step,
    predict,
    pseudo_voigt,
    relaxed_loss,
    rollout,
    simulate,
    simulate_batch,
    spectrum,
)
from peakflow.grid import Importance, ParamPosterior, Posterior, infer, reweight
from peakflow.io import Spectrum, SpectrumFileError, read_spectrum
from peakflow.map_io import read_map
from peakflow.measured import (FitOptions, PeakTable, SpectrumFit, WindowTable, band_maps, fit,
                               fit_many, fit_map, fits_to_dataframe)
from peakflow.reference import refine
from peakflow.runtime import (CheckReport, ModelIntegrityError, TrainedModel, check_model,
                              load_model)

__all__ = [
    "PRESETS",
    "CheckReport",
    "Config",
    "CorrelatedQ",
    "FitOptions",
    "HeadConfig",
    "Importance",
    "ModelConfig",
    "ModelIntegrityError",
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
    "SpectrumFileError",
    "SpectrumFit",
    "TrainConfig",
    "TrainState",
    "TrainedModel",
    "WindowTable",
    "band_maps",
    "check_model",
    "decode_heads",
    "fit",
    "fit_many",
    "fit_map",
    "fits_to_dataframe",
    "fwhm",
    "infer",
    "load_model",
    "log_likelihood",
    "make_policy",
    "make_train",
    "multi_step",
    "predict",
    "preset",
    "pseudo_voigt",
    "read_map",
    "read_spectrum",
    "refine",
    "reweight",
    "relaxed_loss",
    "rollout",
    "simulate",
    "simulate_batch",
    "spectrum",
    "with_overrides",
]

__version__ = "0.1.0"
