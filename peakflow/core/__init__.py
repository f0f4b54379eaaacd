"""The pure JAX core: pseudo-Voigt model and likelihood, priors, simulator, variational family,
policy networks, rollout and relaxed ELBO, one-pass prediction, training steps.

Nothing here reads files or holds state: every function takes its configuration, parameters
and PRNG keys explicitly, and jits and vmaps.
"""

from peakflow.core.amortized import Prediction, amortized_posterior
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.elbo import relaxed_loss, rollout
from peakflow.core.heads import decode_heads
from peakflow.core.likelihood import log_likelihood, project, reduced_chi2
from peakflow.core.lineshape import PARAMETERS, Peaks, area, fwhm, peak_sum, pseudo_voigt
from peakflow.core.policy import make_policy
from peakflow.core.simulator import Simulated, simulate, simulate_batch
from peakflow.core.training import TrainState, make_train, multi_step
from peakflow.core.variational import PeakQ

__all__ = [
    "PARAMETERS", "CorrelatedQ", "PeakQ", "Peaks", "Prediction", "Simulated", "TrainState", "area",
    "decode_heads", "fwhm", "log_likelihood", "make_policy", "make_train", "multi_step",
    "amortized_posterior", "project", "pseudo_voigt", "reduced_chi2", "relaxed_loss", "rollout",
    "simulate", "simulate_batch", "peak_sum",
]
