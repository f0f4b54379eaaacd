"""NumPyro model of a K-peak pseudo-Voigt spectrum, sharing `peakflow.core.lineshape.peak_sum`.

K is known and fixed-size: the model has `slots` peak slots, of which the first `num_peaks`
are real; `numpyro.handlers.mask` removes the others from every log density, so spectra with
different K share one compiled program (and can be vmapped together).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from peakflow.config import SimulatorConfig
from peakflow.core.lineshape import Peaks, peak_sum

SITES = ("amplitude", "location", "width", "lorentzian")


def site_priors(prior: str, sim: SimulatorConfig) -> dict[str, dist.Distribution]:
    """The prior of each peak parameter (see `peak_model`)."""
    if prior == "uniform":
        return {name: dist.Uniform(*getattr(sim, name)) for name in SITES}
    if prior != "flat":
        raise ValueError(f"prior must be 'flat' or 'uniform', got {prior!r}")
    flat = dist.ImproperUniform(constraints.real, (), ())
    return {"amplitude": flat, "location": flat, "width": flat,
            "lorentzian": dist.Uniform(0.0, 1.0)}


def peak_model(spectrum_obs: jnp.ndarray, num_peaks: jnp.ndarray, slots: int,
               noise: float, sim: SimulatorConfig, prior: str = "flat") -> None:
    """The generative model of one spectrum.

    Args:
      spectrum_obs: (W,) observed spectrum.
      num_peaks: () int, the known number of peaks (<= slots).
      slots: static number of peak slots.
      noise: noise sd σ.
      sim: the simulator's ranges (for the uniform prior).
      prior: ``"flat"`` (the paper: p ∝ 1 on amplitude, location and width; η uniform on its
        support) or ``"uniform"`` (uniform over the simulator's ranges).
    """
    num_points = spectrum_obs.shape[-1]
    active = jnp.arange(slots) < num_peaks
    priors = site_priors(prior, sim)
    with numpyro.plate("peaks", slots), numpyro.handlers.mask(mask=active):
        values = {name: numpyro.sample(name, priors[name]) for name in SITES}
    omega = jnp.arange(num_points, dtype=jnp.float32)
    mean = peak_sum(omega, Peaks(**values), active)
    numpyro.sample("obs", dist.Normal(mean, noise).to_event(1), obs=spectrum_obs)
