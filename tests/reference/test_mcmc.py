"""NUTS from the truth (`peakflow.reference.mcmc`): recovery, R-hat and ESS."""

import jax
import numpy as np
import pytest

from peakflow.config import SimulatorConfig
from peakflow.reference import run_mcmc

SIM = SimulatorConfig()


@pytest.mark.slow  # 22 s: NUTS with two chains
def test_mcmc_recovers_an_easy_spectrum(easy, assert_recovers, truth):
    x, k = easy
    truth = jax.tree.map(lambda a: np.pad(a, ((0, 0), (0, 2))), truth)
    s = run_mcmc(x, k, truth, key=jax.random.PRNGKey(0), num_warmup=200, num_samples=300,
                 num_chains=2, noise=0.01, sim=SIM, slots=4)
    assert_recovers(s.mean, s.sd)
    assert s.rhat[0] < 1.1 and s.ess[0] > 50
    assert np.all(np.isnan(s.mean.location[0, 2:]))
