"""The mean-field variational family (Eq. 9) and the map from the policy's 9 outputs to it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from peakflow.config import HeadConfig
from peakflow.core.heads import decode_heads, num_raw
from peakflow.core.lineshape import Peaks
from peakflow.core.variational import PeakQ

NUM_RAW = num_raw("mean_field")


def test_outputs_stay_in_their_domains():
    raw = 30.0 * jax.random.normal(jax.random.PRNGKey(0), (1000, NUM_RAW))
    cfg = HeadConfig()
    q, stop = decode_heads(raw, jnp.full((1000,), 100.0), cfg)
    def within(values, bounds, rel=1e-6):  # float32 rounding at the bounds
        lo, hi = bounds
        return float(values.min()) >= lo * (1 - rel) and float(values.max()) <= hi * (1 + rel)

    assert within(q.amplitude_mean, cfg.amplitude_mean)
    assert within(q.width_mean, cfg.width_mean)
    for sd, bounds in [(q.amplitude_sd, cfg.amplitude_sd), (q.location_sd, cfg.location_sd),
                       (q.width_sd, cfg.width_sd)]:
        assert within(sd, bounds)
    assert float(jnp.abs(q.location_mean - 100.0).max()) <= cfg.location_span
    lo, hi = cfg.lorentzian_concentration
    assert within(q.lorentzian_a, (lo, hi), 1e-4) and within(q.lorentzian_b, (lo, hi), 1e-4)
    assert float(jnp.abs(stop).max()) <= cfg.stop_logit_bound


def test_paper_location_head_is_w_sigmoid():
    raw = jnp.zeros((3, NUM_RAW)).at[:, 2].set(jnp.array([-2.0, 0.0, 3.0]))
    q, _ = decode_heads(raw, jnp.full((3,), 250.0), HeadConfig(location_span=250.0))
    np.testing.assert_allclose(q.location_mean, 500 * jax.nn.sigmoid(raw[:, 2]), rtol=1e-5)


def test_unbounded_sd_transform_grows_without_bound():
    raw = jnp.zeros((1, NUM_RAW)).at[:, 3].set(10.0)
    q, _ = decode_heads(raw, jnp.zeros(1), HeadConfig(sd_transform="exp"))
    assert float(q.location_sd[0]) > 1e4


def make_q():
    return PeakQ(*(jnp.array([v]) for v in (0.5, 0.01, 200.0, 0.3, 9.0, 0.2, 2.0, 5.0)))


def test_log_prob_is_the_product_of_the_factors():
    q = make_q()
    x = Peaks(jnp.array([0.51]), jnp.array([200.2]), jnp.array([8.9]), jnp.array([0.3]))
    want = (stats.norm(0.5, 0.01).logpdf(0.51) + stats.norm(200.0, 0.3).logpdf(200.2)
            + stats.norm(9.0, 0.2).logpdf(8.9) + stats.beta(2.0, 5.0).logpdf(0.3))
    assert float(q.log_prob(x)[0]) == pytest.approx(want, rel=1e-5)


def test_mean_and_std_match_the_distributions():
    q = make_q()
    mean, std = q.mean(), q.sd()
    assert float(mean.lorentzian[0]) == pytest.approx(2 / 7)
    assert float(std.lorentzian[0]) == pytest.approx(stats.beta(2, 5).std(), rel=1e-5)
    draws = jax.vmap(q.sample)(jax.random.split(jax.random.PRNGKey(0), 20000))
    for name in ("amplitude", "location", "width", "lorentzian"):
        got = np.asarray(getattr(draws, name))
        assert got.mean() == pytest.approx(float(getattr(mean, name)[0]), rel=0.02)
        assert got.std() == pytest.approx(float(getattr(std, name)[0]), rel=0.05)


def test_samples_are_reparameterised():
    def f(mu, a):
        q = make_q()._replace(location_mean=mu, lorentzian_a=a)
        s = q.sample(jax.random.PRNGKey(1))
        return jnp.sum(s.location + s.lorentzian)

    g_mu, g_a = jax.grad(f, argnums=(0, 1))(jnp.array([200.0]), jnp.array([2.0]))
    assert float(g_mu[0]) == pytest.approx(1.0)
    assert float(g_a[0]) != 0.0 and np.isfinite(float(g_a[0]))


@pytest.mark.slow  # 10 s: the mean-field family's ELBO gradients
def test_mean_field_width_guard_and_log_space_eta():
    """The Normal on γ can draw γ <= 0; the uniform prior's soft edge (1 % of the range) makes
    that cost ~10 nats per point below the range, so the ELBO keeps q away from it. η is drawn
    in log space: a Beta(0.5, 5) draw that rounds to 0 in float32 still gets a finite log q and
    gradient."""
    import peakflow
    from peakflow.core.priors import log_prior_peak

    cfg = peakflow.config.preset("compact")
    peaks = Peaks(*(jnp.full((3,), v) for v in (0.5, 200.0, 0.0, 0.5)))
    peaks = peaks._replace(width=jnp.array([5.0, 4.0, -1.0]))
    prior = np.asarray(log_prior_peak(peaks, cfg.model, cfg.sim))
    # at the edge log σ(0) = -log 2; one point below, log σ(-10) ≈ -10
    assert prior[0] - prior[1] == pytest.approx(10.0 - np.log(2.0), rel=1e-3)
    assert prior[0] - prior[2] == pytest.approx(60.0 - np.log(2.0), rel=1e-3)
    q = PeakQ(*(jnp.full((20000,), v) for v in (0.5, 0.01, 200.0, 0.3, 9.0, 0.2, 0.5, 5.0)))
    draws, log_q = q.sample_and_log_prob(jax.random.PRNGKey(3))
    assert bool(jnp.all(jnp.isfinite(log_q)))
    assert float(jnp.min(draws.lorentzian)) >= 0.0
    grad = jax.grad(lambda a: jnp.sum(q._replace(lorentzian_a=a).sample_and_log_prob(
        jax.random.PRNGKey(3))[1]))(q.lorentzian_a)
    assert bool(jnp.all(jnp.isfinite(grad)))
