"""Peak quantities in the caller's units and their sds from joint posterior draws."""

import numpy as np
import pytest

from peakflow.core.correlated import CorrelatedQ
from peakflow.core.lineshape import area
from peakflow.core.variational import PeakQ
from peakflow.measured.assemble import derived_sds


def test_sds_from_draws_match_analytic_cases():
    # only the amplitude is uncertain: every sd is the relative amplitude sd times the value
    q = PeakQ(*(np.array([v], np.float32) for v in (2.0, 0.02, 50.0, 1e-6, 3.0, 1e-6, 1e4, 1e4)))
    amp_sd, fwhm_sd, area_sd = derived_sds(q, np.array([10.0]), 0.5, np.random.default_rng(0),
                                           num_draws=4000)
    assert amp_sd[0] == pytest.approx(0.2, rel=0.05)
    assert fwhm_sd[0] < 0.01  # γ certain, η nearly (sd 0.0035): FWHM ≈ 3.3 ± 0.002
    assert area_sd[0] == pytest.approx(area(20.0, 1.5, 0.5) * 0.01, rel=0.05)


def test_joint_draws_carry_the_correlation():
    """Area ∝ α·γ: with log α and log γ perfectly anti-correlated it is certain, while
    independent sds would propagate to a large area sd."""
    sd = np.array([0.1, 0.2, 0.1, 0.01])
    corr = np.eye(4)
    corr[0, 2] = corr[2, 0] = -0.999
    cov = corr * np.outer(sd, sd)
    tril = np.linalg.cholesky(cov)[None].astype(np.float32)
    loc = np.array([[np.log(2.0), 50.0, np.log(3.0), 0.0]], np.float32)
    joint = CorrelatedQ(loc, tril)
    independent = CorrelatedQ(loc, np.diag(sd)[None].astype(np.float32))
    _, _, area_joint = derived_sds(joint, np.array([1.0]), 1.0, np.random.default_rng(1),
                                num_draws=4000)
    _, _, area_indep = derived_sds(independent, np.array([1.0]), 1.0, np.random.default_rng(1),
                                num_draws=4000)
    value = area(2.0, 3.0, 0.5)
    assert area_joint[0] < 0.02 * value
    assert area_indep[0] == pytest.approx(value * np.hypot(0.1, 0.1), rel=0.1)


@pytest.mark.parametrize("family", ["mean_field", "correlated"])
def test_host_draws_match_the_jax_sampler(family):
    """`host_sample` (numpy) and `sample` (JAX) draw from the same distribution."""
    import jax

    if family == "correlated":
        tril = np.array([[0.2, 0, 0, 0], [0.5, 1.0, 0, 0], [-0.1, 0.2, 0.3, 0],
                         [0.1, 0.0, 0.2, 0.8]], np.float32)
        q = CorrelatedQ(np.array([[0.3, 10.0, 1.0, -0.5]], np.float32), tril[None])
    else:
        q = PeakQ(*(np.array([v], np.float32) for v in (2.0, 0.2, 50.0, 1.0, 3.0, 0.3, 2.0, 5.0)))
    host = q.host_sample(np.random.default_rng(0), 20000)
    device = jax.vmap(q.sample)(jax.random.split(jax.random.PRNGKey(0), 20000))
    for a, b in zip(host, device):
        a, b = np.asarray(a, np.float64)[:, 0], np.asarray(b, np.float64)[:, 0]
        assert np.mean(a) == pytest.approx(np.mean(b), abs=float(0.03 * np.std(b)))
        assert np.std(a) == pytest.approx(np.std(b), rel=0.03)
