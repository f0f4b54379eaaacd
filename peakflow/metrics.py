"""Metrics of a posterior against simulated ground truth (numpy, host side).

Used by ``python -m peakflow.experiments.evaluate`` and by the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from peakflow.core.lineshape import PARAMETERS
from peakflow.core.simulator import Simulated
from peakflow.core.training import FAILURE_THRESHOLD
from peakflow.grid.posterior import Posterior


def match_peaks(true_location: np.ndarray, true_mask: np.ndarray, est_location: np.ndarray,
                max_distance: np.ndarray | float | None = None) -> np.ndarray:
    """Pairs true and estimated peaks of each spectrum by location (Hungarian assignment).

    The assignment minimises the summed distance; with `max_distance` it first maximises the
    number of pairs closer than that, and farther pairs are left unmatched.

    Args:
      true_location: (N, K) true locations; `true_mask` (N, K) marks real ones.
      est_location: (N, P) estimated locations, NaN for absent peaks.
      max_distance: None, a scalar, or (N, K) per true peak.

    Returns:
      (N, K) int: the index of the estimated peak matched to each true peak, -1 where the
      true peak is absent or unmatched.
    """
    true_location = np.asarray(true_location, np.float64)
    limit = np.broadcast_to(np.inf if max_distance is None else max_distance,
                            true_location.shape)
    out = np.full(true_location.shape, -1, dtype=np.int64)
    for i, (loc, mask, est) in enumerate(zip(true_location, true_mask, est_location)):
        t_idx, e_idx = np.flatnonzero(mask), np.flatnonzero(~np.isnan(est))
        if len(t_idx) == 0 or len(e_idx) == 0:
            continue
        dist = np.abs(loc[t_idx][:, None] - est[e_idx][None, :])
        near = dist <= limit[i, t_idx][:, None]
        cost = np.where(near, dist, dist.max(initial=0.0) * len(t_idx) + 1.0)
        rows, cols = linear_sum_assignment(cost)
        ok = near[rows, cols]
        out[i, t_idx[rows[ok]]] = e_idx[cols[ok]]
    return out


def confusion_matrix(true_k: np.ndarray, est_k: np.ndarray, k_max: int) -> np.ndarray:
    """(k_max+1, k_max+1) counts; rows are the true K, columns the estimated K."""
    matrix = np.zeros((k_max + 1, k_max + 1), dtype=np.int64)
    np.add.at(matrix, (np.clip(true_k, 0, k_max), np.clip(est_k, 0, k_max)), 1)
    return matrix


def evaluate_posterior(post: Posterior, data: Simulated,
                       threshold: float = FAILURE_THRESHOLD) -> dict[str, Any]:
    """Accuracy, failures, parameter errors and posterior sd of a batch posterior.

    Returns:
      A JSON-ready dict: ``k_accuracy``, ``confusion`` (rows true K), ``failure_rate``
      (log-likelihood of the posterior-mean fit below `threshold`), ``median_log_lik``,
      ``median_abs_error`` and ``median_posterior_sd`` per parameter over matched peaks,
      ``matched_peaks``.
    """
    true_k = np.asarray(data.num_peaks)
    k_max = post.k_probs.shape[-1] - 1
    mask = np.asarray(data.mask)
    idx = match_peaks(np.asarray(data.peaks.location), mask, post.location.mean)
    matched = idx >= 0
    errors, sds = {}, {}
    for name in PARAMETERS:
        est = np.take_along_axis(getattr(post, name).mean, np.maximum(idx, 0), axis=1)
        sd = np.take_along_axis(getattr(post, name).sd, np.maximum(idx, 0), axis=1)
        truth = np.asarray(getattr(data.peaks, name))
        errors[name] = float(np.median(np.abs(est - truth)[matched])) if matched.any() else None
        sds[name] = float(np.median(sd[matched])) if matched.any() else None
    return {
        "n": int(true_k.shape[0]),
        "k_accuracy": float(np.mean(post.num_peaks == true_k)),
        "confusion": confusion_matrix(true_k, post.num_peaks, k_max).tolist(),
        "failure_rate": float(np.mean(post.log_likelihood < threshold)),
        "median_log_lik": float(np.median(post.log_likelihood)),
        "median_abs_error": errors,
        "median_posterior_sd": sds,
        "matched_peaks": int(matched.sum()),
    }


def format_report(metrics: dict[str, Any]) -> str:
    """Human-readable text of `evaluate_posterior`'s dict."""
    k_max = len(metrics["confusion"]) - 1
    lines = [
        f"spectra: {metrics['n']}",
        f"K accuracy: {metrics['k_accuracy']:.4f}",
        f"failure rate (log-lik < {FAILURE_THRESHOLD:.0f} nats): {metrics['failure_rate']:.4f}",
        f"median log-likelihood: {metrics['median_log_lik']:.1f} nats",
        "confusion matrix (rows: true K, columns: estimated K):",
        "        " + " ".join(f"{k:>6}" for k in range(k_max + 1)),
    ]
    for k, row in enumerate(metrics["confusion"]):
        lines.append(f"  K={k:<3} " + " ".join(f"{c:>6}" for c in row))
    lines.append(f"matched peaks: {metrics['matched_peaks']}")
    lines.append(f"{'parameter':<12}{'median |error|':>16}{'median sd':>12}")
    for name in PARAMETERS:
        err, sd = metrics["median_abs_error"][name], metrics["median_posterior_sd"][name]
        lines.append(f"{name:<12}{err if err is not None else float('nan'):>16.4g}"
                     f"{sd if sd is not None else float('nan'):>12.4g}")
    return "\n".join(lines)
