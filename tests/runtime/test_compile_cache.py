"""The persistent compilation cache: on by default in a user folder, movable, off on request,
and the caller's own JAX cache left alone."""

import os
from pathlib import Path

import jax
import pytest
from conftest import run_python

from peakflow.runtime import compile_cache

FIT = """
import numpy as np, peakflow
from peakflow.runtime.compile_cache import cache_folder
x = np.linspace(0, 100, 500)
peakflow.fit(np.exp(-(x - 50) ** 2 / 8) + 0.01 * np.sin(7 * x), x)
print(cache_folder())
"""


def test_a_new_process_writes_its_programs_to_the_user_cache_folder(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAX_COMPILATION_CACHE_DIR", "PEAKFLOW_CACHE_DIR")}
    out = run_python(["-c", FIT], env=env | {"XDG_CACHE_HOME": str(tmp_path / "home")})
    folder = tmp_path / "home" / "peakflow" / "xla"
    assert out.stdout.strip() == str(folder)
    compiled = [p for p in folder.iterdir() if p.name.endswith("-cache")]   # JAX's entries
    saved = folder / "peakflow-programs"     # peakflow's programs: a module and an executable
    modules, executables = list(saved.rglob("*.jaxexport")), list(saved.rglob("*.xla"))
    assert len(compiled) >= 4 and len(modules) == len(executables) >= 4   # policy, refinement


@pytest.fixture
def no_cache_yet(monkeypatch):
    """A process whose JAX has no cache set up; `jax.config.update` recorded, not applied."""
    updates = {}
    monkeypatch.setattr(compile_cache, "cache_folder", lambda: (
        Path(updates["jax_compilation_cache_dir"]) if "jax_compilation_cache_dir" in updates
        else None))
    monkeypatch.setattr(jax.config, "update", lambda name, value: updates.__setitem__(name,
                                                                                      value))
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    return updates


def test_the_folder_moves_and_the_cache_turns_off(tmp_path, monkeypatch, no_cache_yet):
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "elsewhere"))
    assert compile_cache.enable_compile_cache() == tmp_path / "elsewhere"
    assert no_cache_yet == {"jax_compilation_cache_dir": str(tmp_path / "elsewhere"),
                            "jax_persistent_cache_min_compile_time_secs": 0.0}
    assert (tmp_path / "elsewhere").is_dir()
    no_cache_yet.clear()
    for off in ("0", "off", "False"):
        monkeypatch.setenv(compile_cache.ENV, off)
        assert compile_cache.enable_compile_cache() is None and not no_cache_yet
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    assert compile_cache.enable_compile_cache() is None   # cannot be created: stays off


def test_the_callers_own_cache_is_kept(tmp_path, monkeypatch, no_cache_yet):
    no_cache_yet["jax_compilation_cache_dir"] = str(tmp_path / "jax")
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "unused"))
    assert compile_cache.enable_compile_cache() == tmp_path / "jax"
    assert not (tmp_path / "unused").exists()
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert compile_cache.default_folder().parts[-3:] == (".cache", "peakflow", "xla")
