"""How much the reported sds miss by conditioning on the mean trajectory (issue #16, item 5).

``python -m peakflow.experiments.trajectories [--model DIR] [--n 1000] [--paths 32]``

The policy's q for peak k depends on the residual left by peaks 1..k-1. `infer` reports each
peak's sds from the posterior-mean trajectory, i.e. conditional on the earlier peaks sitting at
their means. Sampling whole trajectories (every step's peak drawn from its q, as in training)
gives the marginal instead: by the law of total variance,
``Var θ_k = E[Var(θ_k | path)] + Var(E[θ_k | path])``. Slots of a sampled path are paired with
the mean path's slots by nearest location mean.

Printed, on fresh spectra of the model's own simulator, separately for peaks in close pairs
(a true neighbour within the larger FWHM) and the rest: the median ratio marginal sd /
conditional sd, and the central 90 % coverage of the true value with each sd (Normal intervals
around the mean-path means).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import peakflow
from peakflow.core.elbo import log_stop_probs, rollout
from peakflow.core.lineshape import PARAMETERS, fwhm
from peakflow.core.policy import make_policy
from peakflow.experiments import save_json
from peakflow.metrics import match_peaks
from peakflow.reliability import coverage, normal_interval
from peakflow.runtime.trained import MEASURED_MODEL


def path_moments(model: peakflow.TrainedModel, spectra: np.ndarray, noise: np.ndarray,
                 key: jax.Array, num_paths: int) -> dict[str, np.ndarray]:
    """Conditional and marginal moments of every slot.

    Args:
      spectra: (B, W) spectra on the model's grid; noise: (B,) their noise sds.

    Returns:
      ``num_peaks`` (B,) from the mean path; ``mean``, ``sd`` and ``marginal_sd``, each
      (4, B, K) in `PARAMETERS` order and policy (slot) order.
    """
    config = model.config
    policy = make_policy(config.policy, config.model.family)
    run = jax.jit(functools.partial(_moments, policy.apply, config=config,
                                    num_paths=num_paths))
    return jax.tree.map(np.asarray, run(model.params, jnp.asarray(spectra, jnp.float32),
                                        jnp.asarray(noise, jnp.float32), key))


def _moments(apply_fn, params, spectra, noise, key, config, num_paths):
    stack = lambda peaks: jnp.stack([getattr(peaks, p) for p in PARAMETERS])  # (4, K, B)
    mean_path = rollout(apply_fn, params, spectra, None, config, noise)
    mean, sd = stack(mean_path.q.mean()), stack(mean_path.q.sd())

    def one_path(path_key):
        q = rollout(apply_fn, params, spectra, path_key, config, noise).q
        m, s = stack(q.mean()), stack(q.sd())
        # pair each mean-path slot with the sampled path's slot of nearest location mean
        near = jnp.argmin(jnp.abs(mean[1][:, None] - m[1][None]), axis=1)  # (K, B)
        take = lambda a: jnp.take_along_axis(a, near[None], axis=1)
        return take(m), take(s)

    means, sds = jax.lax.map(one_path, jax.random.split(key, num_paths))  # (P, 4, K, B)
    marginal = jnp.sqrt(jnp.mean(sds ** 2, axis=0) + jnp.var(means, axis=0))
    num_peaks = jnp.argmax(log_stop_probs(mean_path.stop_logit), axis=0)
    to_bk = lambda a: jnp.swapaxes(a, 1, 2)  # (4, B, K)
    return {"num_peaks": num_peaks, "mean": to_bk(mean), "sd": to_bk(sd),
            "marginal_sd": to_bk(marginal)}


def close_pairs(data: peakflow.core.Simulated) -> np.ndarray:
    """(N, K) bool: true peaks with another true peak nearer than the larger of their FWHMs."""
    loc, mask = np.asarray(data.peaks.location), np.asarray(data.mask)
    width = np.asarray(fwhm(data.peaks.width, data.peaks.lorentzian, np))
    dist = np.abs(loc[:, :, None] - loc[:, None, :])
    limit = np.maximum(width[:, :, None], width[:, None, :])
    other = mask[:, None, :] & ~np.eye(loc.shape[1], dtype=bool)[None]
    return np.any((dist < limit) & other, axis=2) & mask


def compare(moments: dict[str, np.ndarray], data: peakflow.core.Simulated,
            level: float = 0.9) -> dict[str, dict]:
    """Median sd ratio and coverage per parameter, for close-pair and other matched peaks."""
    k = moments["mean"].shape[2]
    present = np.arange(k)[None] < moments["num_peaks"][:, None]
    est_loc = np.where(present, moments["mean"][1], np.nan)
    idx = match_peaks(np.asarray(data.peaks.location), np.asarray(data.mask), est_loc)
    matched, idx = idx >= 0, np.maximum(idx, 0)
    close = close_pairs(data)
    take = lambda a: np.take_along_axis(a, idx, axis=1)
    out: dict[str, dict] = {}
    for group, mask in (("close pairs", matched & close), ("others", matched & ~close)):
        rows = {"peaks": int(mask.sum())}
        for i, name in enumerate(PARAMETERS):
            truth = np.asarray(getattr(data.peaks, name))
            mean = take(moments["mean"][i])
            sd, marginal = take(moments["sd"][i]), take(moments["marginal_sd"][i])
            rows[name] = {
                "sd_ratio": float(np.median((marginal / sd)[mask])) if mask.any() else np.nan,
                "coverage_conditional": coverage(*normal_interval(mean, sd, level), truth, mask),
                "coverage_marginal": coverage(*normal_interval(mean, marginal, level), truth,
                                              mask)}
        out[group] = rows
    return out


def format_table(result: dict[str, dict], level: float) -> str:
    lines = [f"{'group':<13}{'parameter':<12}{'sd ratio':>10}"
             f"{f'{level:.0%} cov cond.':>16}{f'{level:.0%} cov marg.':>16}"]
    for group, rows in result.items():
        for name in PARAMETERS:
            r = rows[name]
            lines.append(f"{group:<13}{name:<12}{r['sd_ratio']:>10.3f}"
                         f"{r['coverage_conditional']:>16.3f}{r['coverage_marginal']:>16.3f}")
        lines.append(f"{'':<13}({rows['peaks']} matched peaks)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: bundled broad)")
    parser.add_argument("--n", type=int, default=1000, help="simulated spectra")
    parser.add_argument("--paths", type=int, default=32, help="sampled trajectories each")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    model = peakflow.load_model(args.model, default=MEASURED_MODEL)
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(args.seed), model.config.sim, args.n)
    moments = path_moments(model, np.asarray(data.spectrum), np.asarray(data.noise),
                           jax.random.PRNGKey(args.seed + 1), args.paths)
    result = compare(moments, data)
    print(f"model: {model.path}; {args.n} spectra, {args.paths} sampled trajectories each")
    print(format_table(result, 0.9))
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
