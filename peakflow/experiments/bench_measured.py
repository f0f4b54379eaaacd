"""Speed of the measured-spectrum path: ``python -m peakflow.experiments.bench_measured``.

Mixed measured spectra (800-2,000 points, 3-15 peaks, random axis offsets, spans and
directions, baselines and noise levels: `realistic.realistic_spectrum`) are fitted with
`peakflow.fit_many` and the bundled real-data model. Printed, compile excluded (every figure is
the median of ``--repeats`` timed calls after a first, untimed one):

* end to end: spectra/s of `fit_many`;
* the policy alone on the same windows (`TrainedModel.predict`, what `fit_many` sends it), in
  windows/s and in spectra/s, and the ratio end-to-end time / policy time;
* the first pass's stages (prepare, policy, refine and prune, assemble) and, as the rest of
  the end-to-end time, the coarse second pass;
* the peak resident memory of the process.

With ``--map H W``: the same for a simulated H × W map of ``--map-points`` points on one axis
(`peakflow.fit_map`, pixels/s end to end; the stages on a sample of its pixels). With
``--large N``: an N-pixel map written to a memory-mapped ``.npy`` and fitted from it, with its
time and the growth of the process's anonymous resident memory (the input is never loaded).
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

import peakflow
from peakflow.core.lineshape import fwhm_ratio, profile
from peakflow.experiments import save_json
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.measured.assemble import assemble_many
from peakflow.measured.batch import WindowBatch
from peakflow.measured.options import FitOptions
from peakflow.measured.prepare import prepare_many
from peakflow.measured.stages import predict_windows, refine_windows, window_pairs
from peakflow.runtime.trained import MEASURED_MODEL

POINTS, PEAKS = (800, 2000), (3, 15)
FIRST_PASS = ("prepare_s", "policy_s", "refine_s", "assemble_s")  # the stages timed


def mixed_spectra(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` (y, x) pairs of mixed measured-looking spectra (see the module docstring)."""
    rng = np.random.default_rng(seed)
    return [realistic_spectrum(rng, POINTS, PEAKS)[:2] for _ in range(n)]


def simulated_map(rng: np.random.Generator, shape: tuple[int, ...] = (100, 100),
                  points: int = 1024) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A map of `shape` pixels, `points` points each, on one axis (400-1800, cm⁻¹-like).

    Four bands (FWHM 10-18 x units): one whose height rises along the last spatial axis, one
    along the first, one constant, and a shoulder 20 units beside it present in half the map;
    a sloped baseline and noise of sd 1 (heights 10-150).

    Returns:
      (cube shape + (points,), x (points,), truth: ``location`` (4,), ``fwhm`` (4,) and
      ``amplitude`` shape + (4,)).
    """
    x = np.linspace(400.0, 1800.0, points)
    grids = np.meshgrid(*(np.linspace(0.0, 1.0, s) for s in shape), indexing="ij")
    first, last = grids[0], grids[-1]
    location = np.array([600.0, 1000.0, 1500.0, 1520.0])
    fwhm = np.array([12.0, 18.0, 10.0, 10.0])
    eta = np.array([0.3, 0.7, 0.5, 0.5])
    amplitude = np.stack([100 + 50 * last, 10 + 80 * first, np.full(shape, 60.0),
                          np.where(last > 0.5, 30.0, 0.0)], axis=-1)
    lines = profile(x[None], 1.0, location[:, None], fwhm[:, None] / fwhm_ratio(eta, np)[:, None],
                    eta[:, None], xp=np)  # (4, points)
    cube = amplitude @ lines + 20.0 + 0.01 * x + rng.normal(0.0, 1.0, shape + (points,))
    return cube, x, {"location": location, "fwhm": fwhm, "amplitude": amplitude}


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """(median seconds of `repeats` calls after an untimed first one, the last result)."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def stages(pairs, model, repeats: int, options: FitOptions | None = None) -> dict[str, float]:
    """Seconds of each first-pass stage over all `pairs` (prepare, policy, refine with its
    pruning, assemble), and the number of windows."""
    options, sim = options or FitOptions(), model.config.sim
    prep_s, prepared = timed(lambda: prepare_many(pairs, sim, [options] * len(pairs)), repeats)
    policy_s, batch = timed(lambda: predict_windows(model, WindowBatch.of(prepared)), repeats)
    count = len(prepared)
    batch = replace(batch, pair=window_pairs(prepared, [options] * count))
    refine_s, batch = timed(lambda: refine_windows(model, batch, np.ones(count, bool),
                                                   options.smoothness), repeats)
    assemble_s, _ = timed(lambda: assemble_many(prepared, batch, model, [options] * count,
                                                [None] * count), repeats)
    return {"prepare_s": prep_s, "policy_s": policy_s, "refine_s": refine_s,
            "assemble_s": assemble_s, "windows": int(sum(p.windows.shape[0] for p in prepared))}


def map_speed(model, shape: tuple[int, int], points: int, repeats: int,
              figure: Path | None = None) -> dict:
    """Pixels/s of `fit_map` on a simulated map, and the stages on up to 500 of its pixels
    (and, with `figure`, its band images beside the truth)."""
    cube, x, truth = simulated_map(np.random.default_rng(1), shape, points)
    total_s, result = timed(lambda: peakflow.fit_map(cube, x, model=model, progress=False),
                            repeats)
    if figure is not None:
        band_figure(peakflow.band_maps(result), truth, figure)
    count = int(np.prod(shape))
    sample = [(row, x) for row in cube.reshape(count, points)[:500]]
    parts = stages(sample, model, repeats, FitOptions(fwhm=result.attrs["fwhm"]))
    return {"shape": list(shape), "points": points, "seconds": total_s,
            "pixels_per_s": count / total_s, "sample_pixels": len(sample),
            "sample_windows": parts["windows"],
            **{f"sample_{k}": v for k, v in parts.items() if k.endswith("_s")},
            "policy_pixels_per_s": len(sample) / parts["policy_s"]}


def band_figure(bands, truth: dict, path: Path) -> None:
    """Found (top) and true (bottom) height images of the simulated map's bands."""
    import matplotlib.pyplot as plt

    count = len(truth["location"])
    fig, axes = plt.subplots(2, count, figsize=(3.3 * count, 5.6), squeeze=False)
    for b, centre in enumerate(truth["location"]):
        found = int(np.argmin(np.abs(bands["band_location"].values - centre)))
        true = truth["amplitude"][..., b]
        lo, hi = 0.0, max(float(true.max()), 1.0)
        for row, (image, label) in enumerate(((bands["amplitude"].isel(band=found).values,
                                                "found"), (true, "true"))):
            shown = axes[row, b].imshow(np.nan_to_num(image), origin="lower", vmin=lo, vmax=hi,
                                        cmap="viridis", aspect="auto")
            fig.colorbar(shown, ax=axes[row, b], shrink=0.8)
            where = float(bands["band_location"][found]) if row == 0 else centre
            axes[row, b].set_title(f"{label} height at {where:.1f}", fontsize=9)
    fig.suptitle("band maps of a simulated map (peakflow.fit_map + band_maps)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def large_map(model, pixels: int, points: int, block: int = 4096) -> dict:
    """`fit_map` over an N-pixel memory-mapped map: time and anonymous-memory growth."""
    import tempfile

    from peakflow.experiments.stream import PeakMemory, anon_rss_mb

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "map.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(pixels, points))
        rng = np.random.default_rng(2)
        for start in range(0, pixels, block):
            rows = min(block, pixels - start)
            cube, x, _ = simulated_map(rng, (rows,), points)
            out[start:start + rows] = cube
        out.flush()
        del out
        lazy = np.load(path, mmap_mode="r")
        peakflow.fit_map(np.asarray(lazy[:512]), x, model=model, progress=False)  # compile
        before = anon_rss_mb()
        start = time.perf_counter()
        with PeakMemory() as memory:
            result = peakflow.fit_map(lazy, x, model=model, progress=True)
        seconds = time.perf_counter() - start
    return {"pixels": pixels, "points": points, "input_mib": pixels * points * 4 / 2**20,
            "seconds": seconds, "pixels_per_s": pixels / seconds,
            "growth_mib": memory.peak - before,
            "result_mib": sum(v.nbytes for v in result.data_vars.values()) / 2**20}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="mixed measured spectra")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="model directory (default: bundled broad)")
    parser.add_argument("--map", nargs=2, type=int, metavar=("H", "W"),
                        help="also time a simulated H × W map")
    parser.add_argument("--map-points", type=int, default=1024)
    parser.add_argument("--figure", type=Path, help="with --map: save its band images here")
    parser.add_argument("--large", type=int, metavar="N",
                        help="also fit an N-pixel memory-mapped map (time, memory growth)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    model = peakflow.load_model(args.model, default=MEASURED_MODEL)
    pairs = mixed_spectra(args.n, args.seed)
    total_s, _ = timed(lambda: peakflow.fit_many(pairs, model=model), args.repeats)
    parts = stages(pairs, model, args.repeats)
    second_s = max(total_s - sum(parts[k] for k in FIRST_PASS), 0.0)
    out = {"spectra": args.n, "points": POINTS, "peaks": PEAKS, **parts,
           "end_to_end_s": total_s, "end_to_end_spectra_per_s": args.n / total_s,
           "policy_windows_per_s": parts["windows"] / parts["policy_s"],
           "policy_spectra_per_s": args.n / parts["policy_s"],
           "ratio_to_policy": total_s / parts["policy_s"],
           "second_pass_and_rest_s": second_s,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"{args.n} mixed measured spectra ({POINTS[0]}-{POINTS[1]} points, {PEAKS[0]}-"
          f"{PEAKS[1]} peaks), {parts['windows']} windows; model {model.path}")
    print(f"  end to end     {out['end_to_end_spectra_per_s']:>9.1f} spectra/s "
          f"({1e3 * total_s / args.n:.2f} ms each)")
    print(f"  policy alone   {out['policy_spectra_per_s']:>9.1f} spectra/s "
          f"({out['policy_windows_per_s']:.0f} windows/s); end to end / policy "
          f"{out['ratio_to_policy']:.2f}")
    for name in (*FIRST_PASS, "second_pass_and_rest_s"):
        print(f"  {name[:-2]:<24}{1e3 * out[name] / args.n:>8.2f} ms per spectrum")
    print(f"  peak RSS {out['peak_rss_mib']:.0f} MiB")
    if args.map:
        m = out["map"] = map_speed(model, tuple(args.map), args.map_points, args.repeats,
                                      args.figure)
        print(f"map {args.map[0]} × {args.map[1]} pixels, {args.map_points} points: "
              f"{m['pixels_per_s']:.1f} pixels/s end to end; policy alone "
              f"{m['policy_pixels_per_s']:.1f} pixels/s "
              f"({m['sample_windows'] / m['sample_pixels']:.1f} windows per pixel)")
    if args.large:
        m = out["large_map"] = large_map(model, args.large, args.map_points)
        print(f"memory-mapped map of {m['pixels']} pixels ({m['input_mib']:.0f} MiB): "
              f"{m['pixels_per_s']:.1f} pixels/s, {m['seconds']:.0f} s, memory growth "
              f"{m['growth_mib']:.0f} MiB (results {m['result_mib']:.0f} MiB)")
    save_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
