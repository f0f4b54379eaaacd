"""What a fresh process pays before its first fits: ``python -m peakflow.experiments.cold_start``.

Each row is a new Python process that fits mixed measured spectra with `peakflow.fit_many`
(`bench_measured.mixed_spectra`: 800-2,000 points, 3-15 peaks): first ``--first`` (4)
spectra, then ``--n`` (150) others, then the same ``--n`` again (warm). Three processes: the
persistent compilation cache off (``PEAKFLOW_CACHE_DIR=0``), on with an empty cache folder,
and on with the folder the second one filled (`peakflow.runtime.compile_cache`). For each call:
seconds, the programs it compiled (JAX's ``/jax/core/compile/backend_compile_duration`` events,
which a program loaded from the cache also records, less the cache hits
``/jax/compilation_cache/cache_hits``), the seconds those events took (compiling or loading)
and the programs loaded: from JAX's cache, or as saved executables
(`peakflow.runtime.saved_programs`, which bypass JAX's cache and its events).

``--mixes 150 150 37 90 12 230`` instead runs one process, cache off, that fits a new mix of
each size in turn: how many programs each new mix still compiles once others were fitted
(the set is fixed and bounded: `peakflow.core.buckets`).
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

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
HIT_EVENT = "/jax/compilation_cache/cache_hits"


def _compile_counter() -> dict:
    """Live counts of this process's compilations, their seconds and cache hits (JAX's
    monitoring events; a load from the cache records a compilation event too)."""
    from jax import monitoring

    counts = {"compiles": 0, "compile_s": 0.0, "hits": 0}

    def on_duration(event: str, seconds: float, **_) -> None:
        if event == COMPILE_EVENT:
            counts["compiles"] += 1
            counts["compile_s"] += seconds

    def on_event(event: str, **_) -> None:
        if event == HIT_EVENT:
            counts["hits"] += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    return counts


def _timed(pairs: list, counts: dict) -> dict:
    """One `fit_many` call: its spectra, seconds, and the compilations, their seconds and
    cache hits it caused."""
    import peakflow
    from peakflow.runtime.saved_programs import LOADED

    before, loaded = dict(counts), LOADED["executables"]
    start = time.perf_counter()
    peakflow.fit_many(pairs)
    spent = {k: counts[k] - before[k] for k in counts}
    spent["compiles"] -= spent["hits"]          # a load from the cache records one too
    return {"spectra": len(pairs), "seconds": time.perf_counter() - start, **spent,
            "executables": LOADED["executables"] - loaded}


def child(first: int, n: int, seed: int) -> dict:
    """In this (fresh) process: the three calls, each with its seconds, compilations and
    cache hits."""
    counts = _compile_counter()
    from peakflow.experiments.bench_measured import mixed_spectra

    spectra = mixed_spectra(first + n, seed)
    calls = {"first": spectra[:first], "batch": spectra[first:], "again": spectra[first:]}
    return {name: _timed(pairs, counts) for name, pairs in calls.items()}


def child_mixes(sizes: list[int], seed: int) -> dict:
    """In this (fresh) process: one call per mix of `sizes` spectra (each mix its own seed,
    so its own lengths and counts), each with what it compiled."""
    counts = _compile_counter()
    from peakflow.experiments.bench_measured import mixed_spectra

    return {f"mix {i + 1}": _timed(mixed_spectra(n, seed + 100 + i), counts)
            for i, n in enumerate(sizes)}


def run(cache: str, call: str) -> dict:
    """One fresh process with ``PEAKFLOW_CACHE_DIR=cache`` ("0": off) running `call` (an
    expression of this module's functions) and returning its result."""
    env = dict(os.environ, PEAKFLOW_CACHE_DIR=cache)
    code = (f"import json; from peakflow.experiments.cold_start import child, child_mixes; "
            f"print('RESULT' + json.dumps({call}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=4)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--mixes", type=int, nargs="+", default=None, metavar="N",
                        help="instead: one process, cache off, fitting one mix of each N "
                             "spectra in turn (what each new mix compiles)")
    args = parser.parse_args(argv)
    calls = f"child({args.first}, {args.n}, {args.seed})"
    with tempfile.TemporaryDirectory() as folder:
        if args.mixes:
            rows = {"cache off, one process": run("0", f"child_mixes({args.mixes}, {args.seed})")}
        else:
            rows = {"cache off": run("0", calls), "empty cache": run(folder, calls),
                    "cache filled by the process before": run(folder, calls)}
    print(f"{'process':>36} {'call':>6} {'spectra':>7} {'seconds':>8} {'compiled':>8} "
          f"{'compile/load s':>14} {'from cache':>10} {'executables':>11}")
    for process, calls in rows.items():
        for call, row in calls.items():
            print(f"{process:>36} {call:>6} {row['spectra']:>7} {row['seconds']:>8.2f} "
                  f"{row['compiles']:>8} {row['compile_s']:>14.2f} {row['hits']:>10} "
                  f"{row['executables']:>11}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
