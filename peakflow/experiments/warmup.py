"""Fill the caches ahead of time: ``peakflow warmup`` (or ``python -m
peakflow.experiments.warmup``).

Runs every program of the fixed set that the measured path's batched stages can meet (the
policy's early-rollout steps for every chunk and piece size of the row ladder,
`TrainedModel.warm_steps`; both refinement programs for every peak bucket, point count, kind
of point and ladder row size, `refine.warm`, with the model's cubic and without it (the
coarse second pass and the floor guard's refits, `peakflow.measured.floor`); arPLS for every
length bucket up to `MAX_LENGTH` points and row count, `arpls.warm`), then fits simulated
measured spectra (`bench_measured.mixed_spectra`) with `peakflow.fit_many` in calls of a few
sizes for the small programs around them. Everything is compiled into the persistent cache
and saved as traced programs and compiled executables (`peakflow.runtime.saved_programs`;
dropped from memory after each group, `saved_programs.release`); a later process loads them
instead of tracing and compiling, whatever its mix of spectra (with the default options; a
doublet, Shirley background, asymmetric shape or `exact=True` compile their own programs
once). A second warmup only loads.
"""

from __future__ import annotations

import argparse
import time

import peakflow
from peakflow.experiments.bench_measured import mixed_spectra
from peakflow.measured import arpls, refine
from peakflow.measured.arpls import MIN_LENGTH, padded_length
from peakflow.measured.options import FitOptions
from peakflow.measured.pipeline import measured_model
from peakflow.runtime.compile_cache import enable_compile_cache
from peakflow.runtime.saved_programs import release

CALLS = (1, 4, 16, 64)  # spectra per fit_many call
MAX_LENGTH = 16384       # the longest model grid whose arPLS programs are compiled ahead


def warm_programs(model=None) -> int:
    """Runs the fixed set of programs (see the module docstring) for `model`'s settings with
    the default `FitOptions`; returns how many."""
    trained = measured_model(model)
    options = FitOptions()
    degree = trained.config.model.baseline_degree
    lengths = sorted({padded_length(n) for n in range(MIN_LENGTH, MAX_LENGTH + 1)})
    count = 0
    for part in (trained.warm_steps,
                 lambda: refine.warm(trained.num_points, degree, options.smoothness),
                 lambda: refine.warm(trained.num_points, -1, options.smoothness),
                 lambda: arpls.warm(lengths, options.smoothness)):
        count += part()
        release()  # they are in the caches on disk; ~400 executables held at once exhaust
        # the process's memory mappings (LLVM: "Unable to allocate section memory")
    return count


def warmup(model=None, calls: tuple[int, ...] = CALLS, seed: int = 0,
           programs: bool = True) -> dict:
    """Runs the fixed set of programs (unless not `programs`) and the calls; returns the
    cache folder, the programs run, the spectra fitted and the seconds taken (nothing is run
    when the cache is off: there would be nothing to keep)."""
    folder = enable_compile_cache()
    if folder is None:
        return {"cache": None, "programs": 0, "spectra": 0, "seconds": 0.0}
    start = time.perf_counter()
    count = warm_programs(model) if programs else 0
    for i, n in enumerate(calls):
        peakflow.fit_many(mixed_spectra(n, seed + i), model=model)
    return {"cache": str(folder), "programs": count, "spectra": sum(calls),
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: bundled broad)")
    parser.add_argument("--calls", type=int, nargs="+", default=list(CALLS),
                        help=f"spectra per call (default {' '.join(map(str, CALLS))})")
    parser.add_argument("--no-programs", action="store_true",
                        help="only the calls, not the fixed set of programs")
    args = parser.parse_args(argv)
    done = warmup(args.model, tuple(args.calls), programs=not args.no_programs)
    if done["cache"] is None:
        print("the compilation cache is off (PEAKFLOW_CACHE_DIR): nothing is kept")
        return 1
    print(f"{done['programs']} programs run and {done['spectra']} simulated spectra fitted in "
          f"{done['seconds']:.1f} s; programs cached in {done['cache']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
