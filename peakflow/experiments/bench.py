"""Benchmarks on this machine: ``python -m peakflow.experiments.bench``.

Prints training steps/s of each preset (after compilation, mean over ``--steps`` steps) and,
for the bundled model, inference throughput (spectra/s at several batch sizes) and
single-spectrum latency (median of ``--repeats`` calls of `peakflow.infer`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import peakflow
from peakflow.core.sharding import data_mesh, replicated
from peakflow.experiments import save_json


def train_speed(config: peakflow.config.Config, steps: int) -> dict:
    """Training speed of `config` on this machine, compile excluded (mean over `steps`).

    With several local devices the batch is split over all of them, as in training.
    """
    mesh = data_mesh() if jax.local_device_count() > 1 else None
    init, step = peakflow.core.make_train(config, mesh)
    step = jax.jit(step, donate_argnums=0)
    key = jax.random.PRNGKey(0)
    state = init(key)
    if mesh is not None:
        state = jax.device_put(state, replicated(mesh))
    start = time.perf_counter()
    state, _ = step(state, key)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        state, _ = step(state, key)
    jax.block_until_ready(state)
    seconds = (time.perf_counter() - start) / steps
    return {"preset": config.preset, "batch_size": config.train.batch_size, "s_per_step": seconds,
            "steps_per_s": 1.0 / seconds, "compile_s": compile_s,
            "spectra_per_s": config.train.batch_size / seconds}


def inference_speed(batch_sizes: list[int], repeats: int) -> dict:
    """Spectra/s of `peakflow.infer` per batch size and the single-spectrum latency."""
    model = peakflow.load_model()
    data = peakflow.core.simulate_batch(jax.random.PRNGKey(0), model.config.sim, max(batch_sizes))
    spectra = np.asarray(data.spectrum)
    out = {"batched": []}
    for n in batch_sizes:
        peakflow.infer(spectra[:n], model=model)
        times = []
        for _ in range(max(3, repeats // 10)):
            start = time.perf_counter()
            peakflow.infer(spectra[:n], model=model)
            times.append(time.perf_counter() - start)
        best = float(np.median(times))
        out["batched"].append({"batch": n, "seconds": best, "spectra_per_s": n / best})
    single = spectra[0]
    peakflow.infer(single, model=model)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        peakflow.infer(single, model=model)
        times.append(time.perf_counter() - start)
    out["single_latency_ms"] = {"median": 1e3 * float(np.median(times)),
                                "p90": 1e3 * float(np.quantile(times, 0.9))}
    return out


def scaling(device_counts: list[int], steps: int, batch: int) -> list[dict]:
    """Re-runs this benchmark in fresh processes with N forced host devices (CPU) each.

    On an accelerator host the real devices are used instead; forcing host devices only
    splits the CPU's cores, so on CPU this shows the mechanism, not a speed-up.
    """
    rows = []
    for count in device_counts:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bench.json"
            env = {**os.environ,
                   "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
            cmd = [sys.executable, "-m", "peakflow.experiments.bench", "--presets", "compact",
                   "--steps", str(steps), "--batches", str(batch), "--repeats", "5",
                   "--json", str(out)]
            subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            result = json.loads(out.read_text())
        rows.append({"devices": count,
                     "train_steps_per_s": result["train"][0]["steps_per_s"],
                     "infer_spectra_per_s": result["inference"]["batched"][0]["spectra_per_s"]})
        print(f"{count:>8}{rows[-1]['train_steps_per_s']:>16.2f}"
              f"{rows[-1]['infer_spectra_per_s']:>18.0f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="*", default=["compact", "paper"])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 64, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--scaling", nargs="*", type=int, metavar="N",
                        help="also time 1..N forced host devices, each in its own process")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"{len(jax.devices())} device(s), jax {jax.__version__}")
    results = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
               "train": [], "inference": None}
    print(f"{'preset':<10}{'batch':>7}{'s/step':>10}{'steps/s':>10}{'spectra/s':>11}")
    for name in args.presets:
        r = train_speed(peakflow.config.preset(name), args.steps)
        results["train"].append(r)
        print(f"{name:<10}{r['batch_size']:>7}{r['s_per_step']:>10.4f}{r['steps_per_s']:>10.2f}"
              f"{r['spectra_per_s']:>11.0f}", flush=True)
    inf = inference_speed(args.batches, args.repeats)
    results["inference"] = inf
    print("inference with the bundled model (peakflow.infer, compile excluded):")
    for r in inf["batched"]:
        print(f"  batch {r['batch']:>6}: {r['spectra_per_s']:>9.0f} spectra/s")
    lat = inf["single_latency_ms"]
    print(f"  single spectrum: {lat['median']:.2f} ms median, {lat['p90']:.2f} ms p90")
    if args.scaling:
        print(f"scaling (compact training, inference at batch {max(args.batches)}):")
        print(f"{'devices':>8}{'train steps/s':>16}{'infer spectra/s':>18}")
        results["scaling"] = scaling(args.scaling, args.steps, max(args.batches))
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
