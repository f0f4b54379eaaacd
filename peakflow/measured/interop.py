"""A measured fit in the tools spectroscopists already use: an lmfit model (`to_lmfit`), to
polish or compare with least squares, and ArviZ draws (`to_inference_data`).

The lmfit model: peakflow's peak is ``α [η / (1 + z²) + (1 − η) exp(−z² / 2)]``, z = (x − c)
/ γ: the Lorentzian's half-width and the Gaussian's sd are the same γ, and α is the height.
lmfit's `PseudoVoigtModel` shares the FWHM between its two parts instead, so no choice of
its parameters gives this curve. Each peak therefore becomes a `GaussianModel` plus a
`LorentzianModel` (prefixes ``p{i}g_`` and ``p{i}l_``) whose centres and sigmas are tied,
with peakflow's own parameters as extra lmfit parameters (``p{i}height`` = α, ``p{i}eta`` =
η) and the two areas written in terms of them:

    Gaussian area = √(2π) γ α (1 − η),   Lorentzian area = π γ α η,

so the model at the starting parameters is exactly the fit's peaks (`SpectrumFit.components`),
and lmfit refits the same four numbers per peak that peakflow reports. A fit with a doublet
(``doublet=``) adds each peak's second line (prefixes ``p{i}g2_``, ``p{i}l2_``), its centre
an expression of the main one (Bragg's law at λ₂, or a constant offset) and its areas the
doublet's ratio times the main line's. An asymmetric peak (``shape="asymmetric"``) is one
`split_pseudo_voigt` model (prefix ``p{i}s_``, its second line ``p{i}s2_``) whose parameters
are tied to the peak's own (``p{i}height``, ``p{i}eta``, ``p{i}g_center``, ``p{i}g_sigma``)
and its asymmetry ``p{i}asymmetry``.
"""

from __future__ import annotations

import numpy as np

from peakflow.core.lineshape import skewed_profile
from peakflow.measured.least_squares import SKEW_MAX


def split_pseudo_voigt(x, height, center, sigma, eta, asymmetry):
    """peakflow's asymmetric peak (`skewed_profile`) as an lmfit model function."""
    return skewed_profile(x, height, center, sigma, eta, asymmetry, np)


def to_lmfit(fit):
    """The peaks of `fit` (a `SpectrumFit`) as ``(model, params)`` for lmfit (see the module
    docstring).

    Fit ``fit.y - fit.baseline`` against ``fit.x`` (peakflow's baseline is a curve, not a
    parametric model), e.g. ``model.fit(fit.y - fit.baseline, params, x=fit.x)``.
    Bounds: height ≥ 0, η in [0, 1], γ > 0 and each centre within the data range.

    Returns:
      (lmfit `CompositeModel`, its `Parameters` at the fit's values).

    Raises:
      ValueError: a fit without peaks (nothing to model).
    """
    from peakflow.extras import require

    lmfit = require("lmfit", "SpectrumFit.to_lmfit")
    Parameters, models = lmfit.Parameters, require("lmfit.models", "SpectrumFit.to_lmfit")
    GaussianModel, LorentzianModel = models.GaussianModel, models.LorentzianModel

    peaks = fit.peaks
    if not len(peaks):
        raise ValueError("this fit has no peaks to convert to an lmfit model"
                         + (f" ({fit.error})" if fit.error else ""))
    lo, hi = float(np.min(fit.x)), float(np.max(fit.x))
    model, params = None, Parameters()
    lines = [("", "", "1")]
    if fit.doublet is not None:
        ratio, rho, split = (float(v) for v in fit.doublet.params)
        second = (f"2*asin({rho!r}*sin({{c}}*pi/360))*180/pi" if rho > 0
                  else f"{{c}}+({split!r})")
        lines.append(("2", second, repr(ratio)))
    for i in range(len(peaks)):
        params.add(f"p{i}height", value=float(peaks.amplitude[i]), min=0.0)
        params.add(f"p{i}eta", value=float(np.clip(peaks.lorentzian[i], 0.0, 1.0)),
                   min=0.0, max=1.0)
        params.add(f"p{i}g_center", value=float(peaks.location[i]), min=lo, max=hi)
        params.add(f"p{i}g_sigma", value=float(peaks.width[i]), min=1e-12 * (hi - lo))
        if peaks.asymmetry[i]:
            params.add(f"p{i}asymmetry", value=float(peaks.asymmetry[i]), min=-SKEW_MAX,
                       max=SKEW_MAX)
            for tag, centre, share in lines:
                part = lmfit.Model(split_pseudo_voigt, prefix=f"p{i}s{tag}_")
                model = part if model is None else model + part
                params.add(f"p{i}s{tag}_center",
                           expr=centre.format(c=f"p{i}g_center") if tag else f"p{i}g_center")
                params.add(f"p{i}s{tag}_height", expr=f"{share}*p{i}height")
                for name in ("sigma", "eta", "asymmetry"):
                    source = {"sigma": f"p{i}g_sigma"}.get(name, f"p{i}{name}")
                    params.add(f"p{i}s{tag}_{name}", expr=source)
            continue
        for tag, centre, share in lines:
            gauss = GaussianModel(prefix=f"p{i}g{tag}_")
            lorentz = LorentzianModel(prefix=f"p{i}l{tag}_")
            model = gauss + lorentz if model is None else model + gauss + lorentz
            if tag:
                params.add(f"p{i}g{tag}_center", expr=centre.format(c=f"p{i}g_center"))
                params.add(f"p{i}g{tag}_sigma", expr=f"p{i}g_sigma")
            params.add(f"p{i}l{tag}_center", expr=f"p{i}g{tag}_center")
            params.add(f"p{i}l{tag}_sigma", expr=f"p{i}g_sigma")
            params.add(f"p{i}g{tag}_amplitude",
                       expr=f"{share}*sqrt(2*pi)*p{i}g_sigma*p{i}height*(1-p{i}eta)")
            params.add(f"p{i}l{tag}_amplitude", expr=f"{share}*pi*p{i}g_sigma*p{i}height*p{i}eta")
    return model, params


def to_inference_data(fit, n: int = 500, *, seed=0):
    """`n` draws of the peaks of `fit` (a `SpectrumFit`) as an ArviZ `InferenceData`.

    Posterior variables with dims (chain, draw, peak), one chain, in the caller's units:
    ``amplitude``, ``location``, ``width`` (γ), ``lorentzian`` (η), ``fwhm``, ``area`` —
    each peak's four parameters drawn jointly (`SpectrumFit.sample`; the peaks of a refined
    window jointly), and its ``asymmetry`` when the fit has asymmetric peaks — and
    ``exists`` (each peak drawn present with its reported probability), with ``K`` (chain,
    draw) the number present. ``az.summary`` and ``az.plot_posterior`` work on it.

    Raises:
      ValueError: a fit without draws (a failed fit).
    """
    import arviz as az

    from peakflow.core.lineshape import area, fwhm_ratio
    from peakflow.core.seeds import as_generator

    rng = as_generator(seed)
    if fit.draws is None:
        fit.sample(n)                   # raises: no draws
    draws, asymmetry = fit.draws.sample_with_asymmetry(rng, n)
    values = {"amplitude": draws.amplitude, "location": draws.location,
              "width": draws.width, "lorentzian": draws.lorentzian,
              "fwhm": draws.width * fwhm_ratio(draws.lorentzian, np),
              "area": area(draws.amplitude, draws.width, draws.lorentzian)}
    if np.any(fit.peaks.asymmetry):
        values["asymmetry"] = asymmetry
    values["exists"] = rng.uniform(size=draws.amplitude.shape) < fit.peaks.probability
    posterior = {name: value[None] for name, value in values.items()}
    posterior["K"] = values["exists"].sum(axis=1)[None]
    return az.from_dict(posterior=posterior, dims={name: ["peak"] for name in values},
                        coords={"peak": np.arange(fit.num_peaks)})
