"""peakflow: amortized Bayesian peak fitting for spectra, in JAX.

    >>> import peakflow
    >>> post = peakflow.infer(spectra)          # (500,) or (N, 500) on the default model's grid
    >>> post.num_peaks, post.location.mean, post.location.sd
    >>> print(post)                             # P(K) and a table of mean ± sd per peak
    >>> fit = peakflow.fit(y, x)                # a measured spectrum: any axis, any length
    >>> fit.peaks.location, fit.peaks.fwhm, fit.peaks.area   # caller's units, each with _sd
    >>> fits = peakflow.fit_many([(y1, x1), (y2, x2)])       # many, in one batched pass
    >>> result = peakflow.fit_map(cube, x)     # a map (..., n) on one axis → xarray Dataset
    >>> bands = peakflow.band_maps(result)     # peaks matched across pixels: band images
    >>> peakflow.report(fits, "report.html")    # one HTML page: summary, figures, tables

`peakflow.__all__` holds what fitting needs: the entry points, their results and options,
file readers, model loading and checks, exports. Everything else lives in its layer's
namespace, each importing only the layers below it:

* `peakflow.config` — presets and every setting (`Config`, `preset`, `with_overrides`);
* `peakflow.core` — pure JAX: line shape (`peak_sum`, `pseudo_voigt`), likelihood, priors,
  simulator, variational families, policy, rollout and relaxed ELBO, the amortized pass,
  training steps (`make_train`, `multi_step`);
* `peakflow.runtime` — trained models on disk and batched, sharded prediction;
* `peakflow.grid` — spectra on a model's grid: `infer`, `Posterior`, the exactness step `reweight`;
* `peakflow.measured` — measured spectra: `fit`, `fit_many`, `SpectrumFit`, `fit_map`,
  `band_maps`;
* `peakflow.io`, `peakflow.cli`, `peakflow.plotting`, `peakflow.reports` (HTML pages of fits
  and maps), `peakflow.metrics`, `peakflow.reliability`, `peakflow.reference` (SVI, NUTS,
  least squares and `finetune`), `peakflow.experiments` on top; `peakflow.display` (figures
  as PNG, HTML tables) below every layer that shows results.

Names are imported on first use (PEP 562 ``__getattr__``), so ``import peakflow`` and
``peakflow --help`` do not load JAX until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from peakflow.core import Peaks
    from peakflow.grid import Importance, ParamPosterior, Posterior, infer, reweight
    from peakflow.io import Spectrum, SpectrumFileError, read_spectrum
    from peakflow.map_io import read_map
    from peakflow.measured import (
        BandTable,
        Calibration,
        FitOptions,
        PeakTable,
        SpectrumFit,
        WindowTable,
        band_maps,
        bands_to_dataframe,
        calibrate,
        fit,
        fit_many,
        fit_map,
        fits_to_dataframe,
    )
    from peakflow.reference import finetune
    from peakflow.reports import report
    from peakflow.runtime import (
        CheckReport,
        ModelIntegrityError,
        TrainedModel,
        check_model,
        load_model,
    )

_EXPORTS = {
    "BandTable": "peakflow.measured",
    "Calibration": "peakflow.measured",
    "calibrate": "peakflow.measured",
    "CheckReport": "peakflow.runtime",
    "FitOptions": "peakflow.measured",
    "Importance": "peakflow.grid",
    "ModelIntegrityError": "peakflow.runtime",
    "ParamPosterior": "peakflow.grid",
    "PeakTable": "peakflow.measured",
    "Peaks": "peakflow.core",
    "Posterior": "peakflow.grid",
    "Spectrum": "peakflow.io",
    "SpectrumFileError": "peakflow.io",
    "SpectrumFit": "peakflow.measured",
    "TrainedModel": "peakflow.runtime",
    "WindowTable": "peakflow.measured",
    "band_maps": "peakflow.measured",
    "bands_to_dataframe": "peakflow.measured",
    "check_model": "peakflow.runtime",
    "finetune": "peakflow.reference",
    "fit": "peakflow.measured",
    "fit_many": "peakflow.measured",
    "fit_map": "peakflow.measured",
    "fits_to_dataframe": "peakflow.measured",
    "infer": "peakflow.grid",
    "load_model": "peakflow.runtime",
    "read_map": "peakflow.map_io",
    "read_spectrum": "peakflow.io",
    "report": "peakflow.reports",
    "reweight": "peakflow.grid",
}
_SUBMODULES = {"axes", "cli", "columns", "config", "core", "display", "experiments", "extras",
               "grid", "io", "map_io", "measured", "metadata", "metrics", "plotting",
               "reference", "reliability", "reports", "runtime", "standards"}


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
    "BandTable",
    "Calibration",
    "calibrate",
    "CheckReport",
    "FitOptions",
    "Importance",
    "ModelIntegrityError",
    "ParamPosterior",
    "PeakTable",
    "Peaks",
    "Posterior",
    "Spectrum",
    "SpectrumFileError",
    "SpectrumFit",
    "TrainedModel",
    "WindowTable",
    "band_maps",
    "bands_to_dataframe",
    "check_model",
    "finetune",
    "fit",
    "fit_many",
    "fit_map",
    "fits_to_dataframe",
    "infer",
    "load_model",
    "read_map",
    "read_spectrum",
    "report",
    "reweight",
]

__version__ = "0.1.0"
