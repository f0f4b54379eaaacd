"""One peakflow program running at a time in a process, so that threads may share peakflow.

XLA:CPU (jax 0.10.2) can deadlock when two threads run, at once, programs that loop
(`lax.scan`) over a LAPACK call: two threads each calling one jitted, vmapped scan of
`jnp.linalg.solve` blocked forever waiting for their results (without the scan, or with a
matrix product instead of the solve, they finished). The refinement's Levenberg-Marquardt
steps are such a loop, so two threads calling `peakflow.fit_many` at once (a web server,
dask's threaded scheduler under `fit_map`) hung. Every peakflow program therefore runs under
one process-wide lock, to completion (`run`); the host-side work of the threads (reading,
preparing, assembling) still overlaps.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import jax

LOCK = threading.RLock()


def run(program: Callable, *args: Any, **kwargs: Any) -> Any:
    """`program(*args, **kwargs)` under `LOCK`, its outputs ready when it returns."""
    with LOCK:
        return jax.block_until_ready(program(*args, **kwargs))


class Serialized:
    """A jitted function whose calls go through `run`; call it as the function itself."""

    def __init__(self, program: Callable):
        self.program = program

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run(self.program, *args, **kwargs)
