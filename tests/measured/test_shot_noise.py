"""Signal-dependent noise: found under shot noise on a fluorescence background, not under
white noise with peaks."""

import numpy as np

from peakflow.core.lineshape import profile
from peakflow.measured.shot_noise import shot_noise_sd, theil_sen


def _spectrum(shot: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.arange(3000.0)
    clean = 2000.0 * np.exp(-x / 1200.0) + 50.0
    for c in rng.uniform(100, 2900, 12):
        clean += profile(x, rng.uniform(100, 1000), c, rng.uniform(4, 10), 0.5, xp=np)
    sd = np.sqrt(4.0 + (clean if shot else 0.0)) if shot else np.full(x.size, 8.0)
    return clean + rng.normal(size=x.size) * sd, sd


def test_shot_noise_is_found_and_its_sd_follows_the_signal():
    y, sd = _spectrum(True)
    found = shot_noise_sd(y)
    assert found is not None
    ratio = found / sd
    assert 0.85 < np.median(ratio) < 1.15 and np.quantile(ratio, 0.9) < 1.35


def test_white_noise_with_peaks_is_left_alone():
    for seed in range(3):
        assert shot_noise_sd(_spectrum(False, seed)[0]) is None
    assert shot_noise_sd(_spectrum(True)[0], spacing=2) is None   # correlated: not modelled


def test_theil_sen_gives_scipys_line_and_interval():
    from scipy.stats import theilslopes

    rng = np.random.default_rng(5)
    for m, tied in [(12, False), (30, False), (25, True)]:
        x = rng.uniform(0, 100, m)
        y = 3.0 + 0.2 * x + rng.standard_t(2, m)
        if tied:
            x[:6], y[3:7] = x[0], y[3]
        ours = theil_sen(x, y, 0.99)
        np.testing.assert_allclose(ours, tuple(theilslopes(y, x, alpha=0.99)), rtol=1e-12)
