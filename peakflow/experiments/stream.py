"""Stream a memory-mapped ``.npy`` of spectra through `peakflow.infer` and report memory.

``python -m peakflow.experiments.stream --n 1000000`` writes N simulated spectra to a ``.npy``
file (unless ``--input`` names one), infers them with a progress bar, and prints spectra/s and
the peak anonymous (heap) memory of the process, sampled every 20 ms, against the size of the
input: with streaming, the heap holds one chunk plus the O(N·K_max) results, never the input.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import jax
import numpy as np

import peakflow
from peakflow.experiments import save_json
from peakflow.runtime import CHUNK_SIZE


def anon_rss_mb() -> float:
    """Resident anonymous memory of this process in MiB (Linux), else NaN."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class PeakMemory:
    """Samples `anon_rss_mb` in a background thread; `.peak` is the largest value seen."""

    def __init__(self, interval: float = 0.02):
        self.peak, self._stop = anon_rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval):
        while not self._stop.is_set():
            self.peak = max(self.peak, anon_rss_mb())
            time.sleep(interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, anon_rss_mb())


def write_spectra(path: Path, n: int, sim: peakflow.config.SimulatorConfig,
                  block: int = 8192) -> None:
    """Writes n simulated spectra to a float32 .npy without holding them all in memory."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(n, sim.num_points))
    make = jax.jit(peakflow.core.simulate_batch, static_argnums=(1, 2))
    for start in range(0, n, block):
        rows = min(block, n - start)
        out[start:start + rows] = np.asarray(
            make(jax.random.PRNGKey(start), sim, block).spectrum)[:rows]
    out.flush()
    del out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--input", type=Path, help="an existing (N, W) .npy to stream")
    parser.add_argument("--chunk", type=int, default=CHUNK_SIZE, help="spectra per device call")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = peakflow.load_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.input
        if path is None:
            path = Path(tmp) / "spectra.npy"
            write_spectra(path, args.n, model.config.sim)
        spectra = np.load(path, mmap_mode="r")
        # compile the full-chunk program before measuring time and memory
        peakflow.infer(np.asarray(spectra[:2 * args.chunk]), model=model, chunk_size=args.chunk)
        baseline = anon_rss_mb()
        start = time.perf_counter()
        with PeakMemory() as mem:
            post = peakflow.infer(spectra, model=model, progress=True, chunk_size=args.chunk)
        seconds = time.perf_counter() - start
        result = {"spectra": int(spectra.shape[0]), "input_mib": spectra.nbytes / 2**20,
                  "seconds": seconds, "spectra_per_s": spectra.shape[0] / seconds,
                  "baseline_anon_mib": baseline, "peak_anon_mib": mem.peak,
                  "growth_mib": mem.peak - baseline, "devices": jax.local_device_count(),
                  "chunk": args.chunk,
                  "mean_num_peaks": float(np.mean(post.num_peaks))}
    print(json.dumps(result, indent=2))
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
