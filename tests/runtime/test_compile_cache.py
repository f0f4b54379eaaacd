"""The persistent compilation cache: on by default in a user folder, movable, off on request,
and the caller's own JAX cache left alone."""

import os

from conftest import run_python

FIT = """
import numpy as np, peakflow
from peakflow.runtime.compile_cache import cache_folder
x = np.linspace(0, 100, 500)
peakflow.fit(np.exp(-(x - 50) ** 2 / 8) + 0.01 * np.sin(7 * x), x)
print(cache_folder())
"""


def _env(**values):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAX_COMPILATION_CACHE_DIR", "PEAKFLOW_CACHE_DIR")}
    return env | values


def test_a_new_process_writes_its_programs_to_the_user_cache_folder(tmp_path):
    out = run_python(["-c", FIT], env=_env(XDG_CACHE_HOME=str(tmp_path / "home")))
    folder = tmp_path / "home" / "peakflow" / "xla"
    assert out.stdout.strip() == str(folder)
    assert len(list(folder.iterdir())) >= 5           # the fit's programs, one file each


def test_the_folder_moves_and_the_cache_turns_off(tmp_path):
    moved = run_python(["-c", FIT], env=_env(PEAKFLOW_CACHE_DIR=str(tmp_path / "elsewhere")))
    assert moved.stdout.strip() == str(tmp_path / "elsewhere")
    assert any((tmp_path / "elsewhere").iterdir())
    off = run_python(["-c", FIT], env=_env(PEAKFLOW_CACHE_DIR="0",
                                           XDG_CACHE_HOME=str(tmp_path / "home")))
    assert off.stdout.strip() == "None" and not (tmp_path / "home").exists()
    own = run_python(["-c", FIT], env=_env(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax"),
                                           PEAKFLOW_CACHE_DIR=str(tmp_path / "unused")))
    assert own.stdout.strip() == str(tmp_path / "jax") and not (tmp_path / "unused").exists()
