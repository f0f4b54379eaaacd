"""Resumable parts of `compare`: each reference method runs on chunks of the test set, and each
chunk's arrays are written to ``OUT/parts/<method>/<first>-<last>.npz`` (to a temporary name,
then renamed), so a killed or cut-off run continues where it stopped. The run's settings are
written once (``OUT/parts/settings.json``); a run whose settings differ refuses to mix its
parts with them, naming the difference."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from peakflow.io import atomic_write

# the settings a part depends on: the test set and every method's protocol
PART_SETTINGS = ("n", "seed", "model", "chunk", "svi_steps", "svi_restarts", "svi_init",
                 "svi_lr", "mcmc_n", "mcmc_warmup", "mcmc_samples", "mcmc_chains", "lsq_n")


def check_settings(out: Path, args: Any) -> None:
    """Writes the run's settings, or checks them against those of the parts already there.

    Raises:
      ValueError: the parts in `out` come from other settings.
    """
    here = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
            if k in PART_SETTINGS}
    path = out / "parts" / "settings.json"
    if path.is_file():
        before = json.loads(path.read_text())
        changed = {k: (before.get(k), v) for k, v in here.items() if before.get(k) != v}
        if changed:
            raise ValueError(f"{out}/parts holds a run with other settings "
                             f"({', '.join(f'{k}: {a} -> {b}' for k, (a, b) in changed.items())})"
                             f"; use another --out, or delete {out}/parts to start again")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(here, indent=1))


def chunks(count: int, size: int) -> list[tuple[int, int]]:
    """``[first, last)`` row ranges of `size` over `count` rows."""
    return [(lo, min(lo + size, count)) for lo in range(0, count, size)]


def run_in_parts(out: Path, method: str, count: int, size: int,
                 compute: Callable[[np.ndarray], dict[str, np.ndarray]],
                 progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """`compute(rows)` on each chunk not yet on disk, each written as it finishes; the
    arrays of every chunk concatenated along rows, and ``seconds``: (chunks,) each chunk's
    compute time (as measured when it ran).

    Args:
      compute: (rows,) int → arrays with a leading axis of len(rows).
      progress: called with the rows of each chunk, done or loaded.
    """
    folder = out / "parts" / method
    folder.mkdir(parents=True, exist_ok=True)
    parts, seconds = [], []
    for lo, hi in chunks(count, size):
        path = folder / f"{lo:06d}-{hi:06d}.npz"
        if not path.is_file():
            start = time.perf_counter()
            arrays = compute(np.arange(lo, hi))
            arrays = {k: np.asarray(v) for k, v in arrays.items()}
            arrays["_seconds"] = np.asarray(time.perf_counter() - start)
            with atomic_write(path) as temporary:
                np.savez(temporary, **arrays)
        with np.load(path) as stored:
            part = {k: stored[k] for k in stored.files}
        seconds.append(float(part.pop("_seconds")))
        parts.append(part)
        if progress is not None:
            progress(hi - lo)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    merged["seconds"] = np.asarray(seconds)
    return merged


def status(out: Path) -> dict[str, dict[str, int]]:
    """Per method, the chunks done (on disk) and expected, from the run's settings."""
    path = out / "parts" / "settings.json"
    if not path.is_file():
        return {}
    settings = json.loads(path.read_text())
    rows = {"SVI": settings["n"], "MCMC": settings["mcmc_n"] or settings["n"],
            "least squares": settings["lsq_n"] or settings["n"]}
    done = {}
    for method, count in rows.items():
        folder = out / "parts" / method
        have = len(list(folder.glob("*.npz"))) if folder.is_dir() else 0
        done[method] = {"done": have, "chunks": len(chunks(count, settings["chunk"]))}
    return done


def flat(prefix: str, peaks: Any) -> dict[str, np.ndarray]:
    """A `Peaks` (or any NamedTuple of arrays) as ``{prefix_field: array}``."""
    return {f"{prefix}_{name}": np.asarray(v) for name, v in zip(peaks._fields, peaks)}


def unflat(prefix: str, arrays: dict[str, np.ndarray], record: type) -> Any:
    """The inverse of `flat`."""
    return record(*(arrays[f"{prefix}_{name}"] for name in record._fields))


def remove_partial(out: Path) -> None:
    """Temporary files a killed run left behind in the parts folders."""
    for path in (out / "parts").rglob(".*.partial*"):
        os.remove(path)
