"""``peakflow warmup``: the caches filled ahead of time, so a later process loads."""

import os

import pytest
from conftest import run_python

from peakflow.runtime.saved_programs import SUBFOLDER


@pytest.mark.slow
def test_warmup_fills_the_cache_and_a_second_one_only_loads(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env |= {"PEAKFLOW_CACHE_DIR": str(tmp_path / "cache")}
    calls = ["-m", "peakflow.experiments.warmup", "--calls", "2", "--no-programs"]
    first = run_python(calls, env=env)
    assert "3 simulated spectra" not in first.stdout and "2 simulated spectra" in first.stdout
    saved = sorted((tmp_path / "cache" / SUBFOLDER).rglob("*.jaxexport"))
    assert len(saved) >= 5
    run_python(calls, env=env)
    assert sorted((tmp_path / "cache" / SUBFOLDER).rglob("*.jaxexport")) == saved  # no new


def test_without_a_cache_warmup_says_so_and_fits_nothing():
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env |= {"PEAKFLOW_CACHE_DIR": "0"}
    off = run_python(["-m", "peakflow", "warmup"], env=env, check=False, timeout=120)
    assert off.returncode == 1 and "cache is off" in off.stdout
