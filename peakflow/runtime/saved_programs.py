"""Traced once per machine, not once per process: peakflow's jitted programs saved as
StableHLO (`jax.export`) beside the persistent compilation cache.

JAX's persistent cache (`peakflow.runtime.compile_cache`) keeps compiled executables, but a new
process still traces every Python function and lowers it before it can look the executable
up, and for peakflow's programs (the policy's steps, the refinement's Levenberg–Marquardt
loops, arPLS) that tracing and lowering costs more than the compilation the cache saves
(~15 s of a fresh process's first 150 spectra). A `Saved` program therefore exports itself the
first time it meets a new argument signature, writes the serialized program to
``<cache>/peakflow-programs/``, and every later process deserializes it and runs it through
``jax.jit(exported.call)``: no tracing of peakflow's code, a lowering that only embeds the
saved module, and an executable the persistent cache already holds.

Beside it, each program's compiled executable is saved too (`jax.experimental.
serialize_executable`, ``.xla``): a later process on the same machine loads that and runs it
directly, with no lowering and no cache lookup at all (a filled cache's first 150 mixed
spectra: lowering the saved modules and computing their cache keys was ~1.2 s of ~5 s, each
program's load ~25 ms). An executable holds machine code for this host's processor, so its
digest also covers the processor's model and feature flags (`host_digest`): a cache folder
shared by different machines (a network home) never runs one machine's code on another;
there the StableHLO path above is taken. Only an executable compiled in the process is saved:
one JAX loaded from its own cache would be saved without its kernels (`_count_cache_hits`);
a loaded executable that XLA still cannot run is deleted and the program built from its
module.

A saved program is found by a digest of: its name and the static values it closes over, the
arguments' tree, shapes and dtypes, the x64 setting, the backend, the JAX version, and the
source of the whole peakflow package (any edit to peakflow makes new entries, so a stale
program never runs; each source has its own subfolder, and those of other sources that no
process used for `STALE_DAYS` are removed when a new one is started). Entries are written to
a temporary name and renamed (processes may share the folder); one that cannot be read is
exported (or compiled) again. With the cache off (``PEAKFLOW_CACHE_DIR=0``) or more than one
device (sharded programs), a `Saved` program is the plain jitted function.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import platform
import shutil
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental.serialize_executable import deserialize_and_load, serialize

from peakflow.core.amortized import Prediction
from peakflow.core.correlated import CorrelatedQ
from peakflow.core.lineshape import Peaks
from peakflow.core.variational import PeakQ
from peakflow.runtime.compile_cache import cache_folder
from peakflow.runtime.serial import LOCK, run

SUBFOLDER = "peakflow-programs"
_ALL: "weakref.WeakSet[Saved]" = weakref.WeakSet()  # every `Saved` alive (`programs_met`)
STALE_DAYS = 30  # other sources' programs unused this long are removed
LOADED = {"executables": 0}  # compiled executables this process loaded from the disk
for _tuple in (Prediction, CorrelatedQ, Peaks, PeakQ):  # the containers programs exchange
    jax.export.register_namedtuple_serialization(
        _tuple, serialized_name=f"{_tuple.__module__}.{_tuple.__name__}")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 of every peakflow source file (path and content), computed once."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def host_digest() -> str:
    """sha256 of this machine's architecture and processor (its model and feature flags, from
    ``/proc/cpuinfo`` where there is one): what a compiled executable's machine code needs."""
    digest = hashlib.sha256(f"{platform.machine()} {platform.processor()}".encode())
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    digest.update(line.encode())
                if line.strip() == "":      # the first processor's entry is enough
                    break
    except OSError:
        pass
    return digest.hexdigest()


def program_folder() -> Path | None:
    """Where this peakflow source's saved programs live (``<persistent cache>/
    peakflow-programs/<source digest>``), or None when the persistent cache is off or the
    programs would be sharded over several devices."""
    folder = cache_folder()
    if folder is None or jax.device_count() > 1:
        return None
    return folder / SUBFOLDER / source_digest()[:16]


def prune(folder: Path) -> None:
    """Removes the other sources' program folders beside `folder` that no process has used
    for `STALE_DAYS` (a folder is touched by the first process that loads from it)."""
    limit = time.time() - STALE_DAYS * 86400
    try:
        for other in folder.parent.iterdir():
            if other != folder and other.is_dir() and other.stat().st_mtime < limit:
                shutil.rmtree(other, ignore_errors=True)
    except OSError:
        return


@functools.lru_cache(maxsize=4)
def _touch(folder: Path) -> None:
    """Marks `folder` as used (once per process), so that `prune` keeps it."""
    try:
        os.utime(folder)
    except OSError:
        return


def programs_met() -> dict[str, list[tuple[tuple[int, ...], ...]]]:
    """Every program this process has met, by name: one entry per `Saved` instance and
    argument signature (its leaves' shapes), so the count is the number of distinct programs
    (each instance closes over its own static values)."""
    out: dict[str, list] = {}
    for program in list(_ALL):
        out.setdefault(program.name, []).extend(program.shapes())
    return out


def release() -> None:
    """Drops every `Saved` program's executables from this process (with
    ``jax.clear_caches()``): a loaded executable is held by its `Saved`, not by JAX's caches,
    and ~400 held at once exhaust the process's memory mappings (`peakflow warmup`). They
    are loaded again from the disk when next called; `programs_met` forgets them too."""
    for program in list(_ALL):
        with LOCK:
            program._calls.clear()
    jax.clear_caches()


class Saved:
    """A jitted function whose traced program is saved on first use and loaded by later
    processes (see the module docstring). Call it as the function itself.

    Args:
      jitted: the ``jax.jit`` function (static arguments bound, e.g. with functools.partial).
      name: a name for its files; static: the values its trace depends on besides the
        arguments and peakflow's source (a config, window size, ...), as a hashable.
    """

    def __init__(self, jitted: Any, name: str, static: Any = None):
        self.jitted, self.name, self.static = jitted, name, repr(static)
        self._calls: dict[tuple, Callable] = {}  # argument signature → program
        self._loaded: set[tuple] = set()         # the signatures run from a saved executable
        _count_cache_hits()
        _ALL.add(self)

    @property
    def signatures(self) -> int:
        """How many argument signatures (each its own program) it has met."""
        return len(self._calls)

    def shapes(self) -> list[tuple[tuple[int, ...], ...]]:
        """The argument shapes (leaves in order) of each signature it has met."""
        return [tuple(shape for shape, _ in key[1]) for key in self._calls]

    def __call__(self, *args, **kwargs):
        """Runs the program, one at a time in the process (`peakflow.runtime.serial`)."""
        leaves, tree = jax.tree.flatten((args, kwargs))
        key = (tree, tuple((np.shape(v), str(getattr(v, "dtype", type(v).__name__)))
                           for v in leaves), bool(jax.config.jax_enable_x64))
        with LOCK:
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = self._program(key, args, kwargs)
            try:
                return run(call, *args, **kwargs)
            except jax.errors.JaxRuntimeError:
                if key not in self._loaded:
                    raise
            # a loaded executable that XLA cannot run: dropped, and built from the module
            self._loaded.discard(key)
            self._files(key)[1].unlink(missing_ok=True)
            call = self._calls[key] = self._program(key, args, kwargs, executable=False)
            return run(call, *args, **kwargs)

    def _files(self, key: tuple) -> tuple[Path, Path]:
        """(the traced module's path, the compiled executable's path) of a signature."""
        folder = program_folder()
        assert folder is not None
        digest = hashlib.sha256("\n".join([
            source_digest(), jax.__version__, jax.default_backend(), self.name, self.static,
            repr(key)]).encode()).hexdigest()[:32]
        return (folder / f"{self.name}-{digest}.jaxexport",
                folder / f"{self.name}-{digest}-{host_digest()[:16]}.xla")

    def _program(self, key: tuple, args: tuple, kwargs: dict,
                 executable: bool = True) -> Callable:
        folder = program_folder()
        if folder is None:
            return self.jitted
        path, binary = self._files(key)
        compiled = _load_compiled(binary) if executable else None
        if compiled is not None:
            _touch(folder)
            self._loaded.add(key)
            return compiled
        exported = _load(path)
        if exported is not None:
            _touch(folder)
        else:
            exported = jax.export.export(self.jitted)(*args, **kwargs)
            try:
                _store(path, exported.serialize())
            except ImportError:  # no flatbuffers: JAX cannot serialize; trace per process
                return self.jitted
        call = jax.jit(exported.call)
        hits = CACHE_HITS[0]
        try:
            compiled = call.lower(*args, **kwargs).compile()
            if CACHE_HITS[0] == hits and executable:  # compiled here, not loaded: see below
                _store(binary, pickle.dumps(serialize(compiled)))
        except Exception:  # a backend that cannot serialize executables: the module only
            return call
        return compiled


CACHE_HITS = [0]  # JAX's persistent-cache hits in this process (`_count_cache_hits`)


@functools.lru_cache(maxsize=1)
def _count_cache_hits() -> None:
    """Counts JAX's persistent-cache hits into `CACHE_HITS` (registered once). An executable
    JAX loaded from its cache is not saved again: XLA:CPU serializes a loaded executable
    without its kernels (in a later process: "NOT_FOUND: Function wrapped_subtract not
    found"), so only one compiled in this process is."""
    def on_event(event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            CACHE_HITS[0] += 1

    jax.monitoring.register_event_listener(on_event)


@functools.lru_cache(maxsize=1)
def _kernels_ready() -> bool:
    """Whether the CPU's LAPACK kernels are set up. They find their routines when a program
    that uses them is first lowered, which a loaded executable never is (it then crashed in
    the refinement's solve); `jax.export` sets them up the same way for its CPU programs.
    False where this JAX has no such step: then no executable is loaded."""
    try:
        from jax._src.lax import linalg
        linalg.initialize_lapack()
    except (ImportError, AttributeError):
        return False
    return True


def _load_compiled(path: Path):
    """The compiled executable at `path`, loaded, or None (absent, unreadable, or the
    kernels it may call not set up: `_kernels_ready`)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not _kernels_ready():
        return None
    try:
        compiled = deserialize_and_load(*pickle.loads(data))
    except Exception:  # corrupt or from another JAX build: compiled again
        return None
    LOADED["executables"] += 1
    return compiled


def _load(path: Path):
    """The exported program at `path`, or None (absent or unreadable)."""
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # absent, or corrupt: that may fail anywhere in the flatbuffer reader
        return None


def _store(path: Path, data: bytes | bytearray) -> None:
    """Writes `data` to `path` via a temporary name; a folder that cannot be written is
    ignored (the program is then exported again by the next process)."""
    try:
        if not path.parent.is_dir():      # the first program of this source: tidy up
            path.parent.mkdir(parents=True, exist_ok=True)
            prune(path.parent)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        temporary.write_bytes(bytes(data))
        os.replace(temporary, path)
    except OSError:
        return
