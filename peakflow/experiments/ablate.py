"""Which training choices matter, at equal compute: ``python -m peakflow.experiments.ablate``.

Each variant is the `compact` recipe with one group of choices changed (or the `paper` preset).
Every variant first has its seconds per step measured on this machine, then trains for
``--budget-minutes`` of that measured compute (so slower variants get fewer steps) in its own
resumable work directory ``OUT/runs/NAME``. ``--remeasure`` re-times the variants afterwards
on an idle machine, so that the compute axis does not depend on what else ran meanwhile. The
validation curves (K accuracy, median log-likelihood, failure rate on the same 500 fixed
spectra) are drawn against compute time in ``OUT/ablation.png`` and tabulated in
``OUT/ablation.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import peakflow  # noqa: E402
from peakflow.experiments.bench import train_speed  # noqa: E402
from peakflow.experiments.train import Interrupted, train  # noqa: E402

# name -> (preset, overrides, what it tests)
VARIANTS = {
    "compact": ("compact", {}, "our recipe (bundled model's, shorter)"),
    "enumerated-stops": ("compact", {"model.relaxation": "enumerated"},
                    "stop variables summed out exactly instead of Gumbel-softmax"),
    "flat-prior": ("compact", {"model.prior": "flat", "model.backward": "paper"},
                   "the paper's flat priors and P_B = 1/(k+1)!"),
    "flat-prior-unbounded-sd": ("compact", {"model.prior": "flat", "model.backward": "paper",
                                            "model.heads.sd_transform": "exp"},
                                "flat priors with unbounded (exp) sd heads"),
    "paper-cnn": ("compact", {"policy.arch": "paper", "policy.input_scale": 1.0,
                              "model.heads.location_span": 250.0,
                              "model.heads.amplitude_mean": [0.0, 1.0],
                              "model.heads.width_mean": [0.0, 20.0]},
                  "the paper's CNN and W·sigmoid location with our priors and schedule"),
    "paper": ("paper", {},
              "the paper's preset (CNN, flat priors, cyclic LR 1e-4..1e-6, batch 256)"),
}


def run_variant(name: str, out: Path, budget_s: float, speed_steps: int) -> dict:
    preset, overrides, _ = VARIANTS[name]
    config = peakflow.config.with_overrides(peakflow.config.preset(preset), overrides)
    speed = train_speed(config, speed_steps)["s_per_step"]
    steps = max(10, int(budget_s / speed))
    every = max(5, steps // 12)
    config = peakflow.config.with_overrides(config, {
        "train.steps": steps, "train.eval_every": every, "train.checkpoint_every": every})
    print(f"== {name}: {speed:.3f} s/step measured -> {steps} steps", flush=True)
    workdir = out / "runs" / name
    train(config, workdir)
    curve = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {"name": name, "s_per_step": speed, "steps": steps, "curve": curve}


def plot(results: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r in results:
        t = [m["step"] * r["s_per_step"] / 60 for m in r["curve"]]
        axes[0].plot(t, [m["k_accuracy"] for m in r["curve"]], "o-", ms=3, label=r["name"])
        axes[1].plot(t, [m["median_log_lik"] for m in r["curve"]], "o-", ms=3)
        axes[2].plot(t, [m["failure_rate"] for m in r["curve"]], "o-", ms=3)
    axes[0].set_ylabel("K accuracy")
    axes[1].set_ylabel("median log-likelihood (nats)")
    axes[1].set_ylim(-2000, 1700)
    axes[1].axhline(1300, color="k", ls="--", lw=1)
    axes[2].set_ylabel("failure rate")
    for ax in axes:
        ax.set_xlabel("compute (minutes at the measured s/step, 2 CPU cores)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(results: list[dict]) -> str:
    lines = ["| variant | what changes | s/step | steps | K accuracy | median log-lik | "
             "failure rate |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        last = r["curve"][-1]
        lines.append(f"| {r['name']} | {VARIANTS[r['name']][2]} | {r['s_per_step']:.3f} | "
                     f"{r['steps']} | {last['k_accuracy']:.3f} | {last['median_log_lik']:.0f} "
                     f"| {last['failure_rate']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--budget-minutes", type=float, default=5.0)
    parser.add_argument("--speed-steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/ablation"))
    parser.add_argument("--remeasure", action="store_true",
                        help="no training: re-time each finished variant on an idle machine "
                             "(s/step over 10 steps) and redraw the plot and table")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.remeasure:
        results = json.loads((args.out / "ablation.json").read_text())
        for r in results:
            preset, overrides, _ = VARIANTS[r["name"]]
            config = peakflow.config.with_overrides(peakflow.config.preset(preset), overrides)
            r["s_per_step"] = train_speed(config, 10)["s_per_step"]
            print(f"{r['name']}: {r['s_per_step']:.3f} s/step", flush=True)
        (args.out / "ablation.json").write_text(json.dumps(results, indent=2))
        plot(results, args.out / "ablation.png")
        (args.out / "ablation.md").write_text(table(results) + "\n")
        print(table(results))
        return
    results = []
    for name in args.variants:
        try:
            results.append(run_variant(name, args.out, 60 * args.budget_minutes,
                                       args.speed_steps))
        except Interrupted as stopped:  # finished variants are kept; rerun to resume this one
            raise SystemExit(f"variant {name} {stopped}") from stopped
        (args.out / "ablation.json").write_text(json.dumps(results, indent=2))
        plot(results, args.out / "ablation.png")
        (args.out / "ablation.md").write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
