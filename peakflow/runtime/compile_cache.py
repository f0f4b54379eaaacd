"""Compiled once per machine, not once per process: peakflow's XLA programs go into JAX's
persistent compilation cache, a user cache folder (``$XDG_CACHE_HOME/peakflow/xla``, by default
``~/.cache/peakflow/xla``), so a new process (a notebook kernel restarted, a second
``peakflow fit``) loads them instead of compiling them again.

``PEAKFLOW_CACHE_DIR=/some/folder`` moves it, ``PEAKFLOW_CACHE_DIR=0`` turns it off; a cache
the caller configured for JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update("jax_compilation_cache_dir", ...)``) is left as it is. JAX writes each entry
to a temporary file and renames it, so processes may share the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "PEAKFLOW_CACHE_DIR"
OFF = {"0", "off", "false", "no", "none"}
MIN_COMPILE_SECONDS = 0.0  # every program: most compile in 0.05-0.3 s, and there are dozens


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/peakflow/xla`` (``~/.cache/peakflow/xla`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "peakflow" / "xla"


def cache_folder() -> Path | None:
    """The folder JAX's persistent cache uses now, or None when it is off."""
    folder = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]
    return Path(folder) if folder else None


def enable_compile_cache() -> Path | None:
    """Turns the persistent cache on (once; later calls change nothing) unless the caller
    set one up or `ENV` turns it off; returns the folder in use, or None.

    A folder that cannot be created leaves the cache off (peakflow then compiles per process,
    as without a cache).
    """
    if cache_folder() is not None:
        return cache_folder()
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    folder = Path(value).expanduser() if value else default_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
