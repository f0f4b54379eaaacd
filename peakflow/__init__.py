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

Names are imported on first use (PEP 562 ``__getattr__``), so ``import peakflow`` and
``peakflow --help`` do not load JAX until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and editors
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

_EXPORTS = {
    "CheckReport": "peakflow.runtime",
    "Config": "peakflow.config",
    "CorrelatedQ": "peakflow.core",
    "FitOptions": "peakflow.measured",
    "HeadConfig": "peakflow.config",
    "Importance": "peakflow.grid",
    "ModelConfig": "peakflow.config",
    "ModelIntegrityError": "peakflow.runtime",
    "PRESETS": "peakflow.config",
    "ParamPosterior": "peakflow.grid",
    "PeakQ": "peakflow.core",
    "PeakTable": "peakflow.measured",
    "Peaks": "peakflow.core",
    "PolicyConfig": "peakflow.config",
    "Posterior": "peakflow.grid",
    "Prediction": "peakflow.core",
    "Simulated": "peakflow.core",
    "SimulatorConfig": "peakflow.config",
    "Spectrum": "peakflow.io",
    "SpectrumFileError": "peakflow.io",
    "SpectrumFit": "peakflow.measured",
    "TrainConfig": "peakflow.config",
    "TrainState": "peakflow.core",
    "TrainedModel": "peakflow.runtime",
    "WindowTable": "peakflow.measured",
    "band_maps": "peakflow.measured",
    "check_model": "peakflow.runtime",
    "decode_heads": "peakflow.core",
    "fit": "peakflow.measured",
    "fit_many": "peakflow.measured",
    "fit_map": "peakflow.measured",
    "fits_to_dataframe": "peakflow.measured",
    "fwhm": "peakflow.core",
    "infer": "peakflow.grid",
    "load_model": "peakflow.runtime",
    "log_likelihood": "peakflow.core",
    "make_policy": "peakflow.core",
    "make_train": "peakflow.core",
    "multi_step": "peakflow.core",
    "predict": "peakflow.core",
    "preset": "peakflow.config",
    "pseudo_voigt": "peakflow.core",
    "read_map": "peakflow.map_io",
    "read_spectrum": "peakflow.io",
    "refine": "peakflow.reference",
    "relaxed_loss": "peakflow.core",
    "reweight": "peakflow.grid",
    "rollout": "peakflow.core",
    "simulate": "peakflow.core",
    "simulate_batch": "peakflow.core",
    "spectrum": "peakflow.core",
    "with_overrides": "peakflow.config",
}
_SUBMODULES = {"calibration", "cli", "config", "core", "evaluation", "experiments", "grid",
               "io", "map_io", "measured", "plotting", "reference", "runtime"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"peakflow.{name}")
    else:
        raise AttributeError(f"module 'peakflow' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


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
