"""Calibration of a posterior against simulated truth (numpy, host side): coverage of central
credible intervals, simulation-based calibration (SBC), and the reliability of P(K).

Peaks are paired with the truth by location (`peakflow.metrics.match_peaks`); only matched
peaks enter the parameter metrics.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from scipy import stats

from peakflow.core.lineshape import PARAMETERS
from peakflow.core.simulator import Simulated
from peakflow.grid.posterior import Posterior
from peakflow.metrics import match_peaks

LEVELS = (0.5, 0.9)
SBC_DRAWS = 99
SBC_BINS = 20


def normal_interval(mean: np.ndarray, sd: np.ndarray, level: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Central `level` interval of N(mean, sd²), elementwise."""
    z = stats.norm.ppf(0.5 + level / 2)
    return mean - z * sd, mean + z * sd


def coverage(lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Share of the true values (where `mask`) that fall inside [lo, hi]."""
    inside = (truth >= lo) & (truth <= hi)
    return float(np.mean(inside[mask])) if mask.any() else float("nan")


def sbc_ranks(draws: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rank of each true value among its L posterior draws (0..L), where `mask`.

    Args:
      draws: (L, ...) posterior draws.
      truth: (...,) true values; `mask` (...,) which to use.

    Returns:
      (M,) int ranks; uniform on 0..L when the posterior is calibrated.
    """
    return np.sum(draws < truth[None], axis=0)[mask]


def uniformity_p(ranks: np.ndarray, draws: int, bins: int = SBC_BINS) -> float:
    """χ² test p-value of SBC ranks (0..draws) against the uniform, in `bins` bins."""
    counts = np.histogram(ranks, bins=np.linspace(-0.5, draws + 0.5, bins + 1))[0]
    return float(stats.chisquare(counts).pvalue)


def _matched(post: Posterior, data: Simulated) -> tuple[np.ndarray, np.ndarray]:
    idx = match_peaks(np.asarray(data.peaks.location), np.asarray(data.mask),
                      post.location.mean)
    return np.maximum(idx, 0), idx >= 0


def interval_coverage(post: Posterior, data: Simulated, levels=LEVELS) -> dict[str, dict]:
    """Coverage of each parameter's central credible intervals on matched peaks.

    Returns:
      ``{parameter: {str(level): share of true values inside}}``.
    """
    idx, matched = _matched(post, data)
    out: dict[str, dict] = {name: {} for name in PARAMETERS}
    for level in levels:
        lo, hi = post.interval(level)
        for name in PARAMETERS:
            take = lambda a: np.take_along_axis(np.asarray(a), idx, axis=1)
            out[name][str(level)] = coverage(take(getattr(lo, name)), take(getattr(hi, name)),
                                             np.asarray(getattr(data.peaks, name)), matched)
    return out


def sbc(post: Posterior, data: Simulated, key: jax.Array, draws: int = SBC_DRAWS
        ) -> dict[str, np.ndarray]:
    """SBC ranks of the true parameters among `draws` posterior draws (`Posterior.sample`).

    Returns:
      ``{parameter: (M,) ranks}`` over the M matched peaks.
    """
    idx, matched = _matched(post, data)
    samples = post.sample(draws, seed=key)
    index = np.broadcast_to(idx, (draws,) + idx.shape)
    return {name: sbc_ranks(np.take_along_axis(np.asarray(getattr(samples, name)), index, 2),
                            np.asarray(getattr(data.peaks, name)), matched)
            for name in PARAMETERS}


def k_reliability(k_probs: np.ndarray, true_k: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Reliability of P(K): the top-label confidence against the accuracy, binned.

    Args:
      k_probs: (N, K+1) probabilities; true_k: (N,) true numbers of peaks.

    Returns:
      ``ece`` (expected calibration error: Σ_bins share · |accuracy - confidence|), ``bins``
      (per non-empty bin: mean confidence, accuracy, count), ``brier`` (multi-class Brier).
    """
    k_probs = np.asarray(k_probs, np.float64)
    true_k = np.asarray(true_k)
    result = reliability(k_probs.max(axis=1), k_probs.argmax(axis=1) == true_k, bins)
    onehot = np.eye(k_probs.shape[1])[np.clip(true_k, 0, k_probs.shape[1] - 1)]
    result["brier"] = float(np.mean(np.sum((k_probs - onehot) ** 2, axis=1)))
    return result


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Stated probabilities against how often they came true, in equal-width bins.

    Args:
      confidence: (N,) probabilities in [0, 1]; correct: (N,) bool, whether each came true.

    Returns:
      ``ece`` (Σ_bins share · |accuracy - confidence|; NaN when N = 0) and ``bins`` (per
      non-empty bin: mean confidence, accuracy, count).
    """
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            conf, acc = float(confidence[sel].mean()), float(correct[sel].mean())
            table.append({"confidence": conf, "accuracy": acc, "count": int(sel.sum())})
            ece += sel.mean() * abs(acc - conf)
    return {"ece": float(ece) if confidence.size else float("nan"), "bins": table}


def calibration_report(post: Posterior, data: Simulated, key: jax.Array,
                       draws: int = SBC_DRAWS) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Coverage, SBC uniformity p-values and P(K) reliability of one posterior.

    Returns:
      (JSON-ready metrics, the SBC ranks per parameter).
    """
    ranks = sbc(post, data, key, draws)
    metrics = {"coverage": interval_coverage(post, data),
               "sbc_uniformity_p": {p: uniformity_p(r, draws) for p, r in ranks.items()},
               "sbc_peaks": int(len(next(iter(ranks.values())))),
               "k_reliability": k_reliability(post.k_probs, np.asarray(data.num_peaks))}
    if post.importance is not None:
        imp, has = post.importance, post.num_peaks > 0
        metrics["importance"] = {
            "khat_trusted": float(np.mean(imp.trustworthy[has])) if has.any() else None,
            "median_khat": float(np.nanmedian(imp.khat)) if has.any() else None,
            "median_ess": float(np.nanmedian(imp.ess[has])) if has.any() else None}
    return metrics, ranks


def plot_sbc_ecdf(ranks: dict[str, np.ndarray], draws: int, path, title: str = "") -> None:
    """ECDF-difference plots of the SBC ranks with ArviZ's simultaneous 95 % bands."""
    import arviz  # noqa: PLC0415  (heavy; only needed for the plot)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(ranks), figsize=(4 * len(ranks), 3.2))
    for ax, (name, r) in zip(np.atleast_1d(axes), ranks.items()):
        pit = (np.asarray(r) + 0.5) / (draws + 1)
        arviz.plot_ecdf(pit, eval_points=np.linspace(0.0, 1.0, 101), cdf=stats.uniform.cdf,
                        difference=True, confidence_bands=True, ax=ax, random_state=0,
                        rvs=lambda n, random_state=None: stats.uniform.rvs(
                            size=n, random_state=random_state))
        ax.set_title(f"{name} (SBC, {len(r)} peaks)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(curves: dict[str, dict], path, xlabel: str = "P(K = estimated K)",
                     ylabel: str = "share correct") -> None:
    """Reliability diagram(s): stated probability against how often it came true, one line
    per entry of `curves` (each a `reliability` result), the bins' counts written beside the
    points; P(K) by default."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    for label, rel in curves.items():
        conf = [b["confidence"] for b in rel["bins"]]
        acc = [b["accuracy"] for b in rel["bins"]]
        ax.plot(conf, acc, "o-", label=f"{label} (ECE {rel['ece']:.3f})")
        for c, a, entry in zip(conf, acc, rel["bins"]):
            ax.annotate(str(entry["count"]), (c, a), textcoords="offset points", xytext=(4, -9),
                        fontsize=6, color="0.4")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
