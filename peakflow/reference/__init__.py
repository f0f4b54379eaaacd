"""Reference fits to compare amortized inference with (NumPyro SVI and NUTS, lmfit least
squares), and `finetune`: SVI started from the amortized posterior."""

from peakflow.reference.finetune import finetune
from peakflow.reference.lsq import LsqFit, fit_lsq
from peakflow.reference.mcmc import SampleSummary, run_mcmc
from peakflow.reference.numpyro_model import peak_model, site_priors
from peakflow.reference.svi import fit_svi, fit_svi_restarts, mean_field_guide, random_init

__all__ = ["LsqFit", "SampleSummary", "fit_lsq", "fit_svi", "fit_svi_restarts", "finetune",
           "mean_field_guide", "peak_model", "random_init", "run_mcmc", "site_priors"]
