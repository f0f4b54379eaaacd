"""Fill the caches ahead of time: ``peakflow warmup`` (or ``python -m
peakflow.experiments.warmup``).

Fits simulated measured spectra (`bench_measured.mixed_spectra`: 800-2,000 points, 3-15
peaks) with `peakflow.fit_many` in calls of several sizes, so that the programs the usual calls
need are compiled into the persistent cache and saved as traced programs
(`peakflow.runtime.saved_programs`); a later process then loads them instead of tracing and
compiling. A second warmup only loads. Calls whose padded shapes were not among these still
compile their own programs once.
"""

from __future__ import annotations

import argparse
import time

import peakflow
from peakflow.experiments.bench_measured import mixed_spectra
from peakflow.runtime.compile_cache import enable_compile_cache

CALLS = (1, 4, 16, 64, 150)  # spectra per fit_many call


def warmup(model=None, calls: tuple[int, ...] = CALLS, seed: int = 0) -> dict:
    """Runs the calls; returns the cache folder, the spectra fitted and the seconds taken
    (none fitted when the cache is off: there would be nothing to keep)."""
    folder = enable_compile_cache()
    if folder is None:
        return {"cache": None, "spectra": 0, "seconds": 0.0}
    start = time.perf_counter()
    for i, n in enumerate(calls):
        peakflow.fit_many(mixed_spectra(n, seed + i), model=model)
    return {"cache": None if folder is None else str(folder), "spectra": sum(calls),
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: bundled broad)")
    parser.add_argument("--calls", type=int, nargs="+", default=list(CALLS),
                        help=f"spectra per call (default {' '.join(map(str, CALLS))})")
    args = parser.parse_args(argv)
    done = warmup(args.model, tuple(args.calls))
    if done["cache"] is None:
        print("the compilation cache is off (PEAKFLOW_CACHE_DIR): nothing is kept")
        return 1
    print(f"{done['spectra']} simulated spectra fitted in {done['seconds']:.1f} s; programs "
          f"cached in {done['cache']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
