"""Programs traced once per machine: saved on first use, loaded (not traced) by later
processes, never stale, and the same results as the plain jitted function."""

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_python

from peakflow.core.lineshape import Peaks
from peakflow.runtime import saved_programs
from peakflow.runtime.saved_programs import Saved


def _curve(peaks: Peaks, x):
    return jnp.sum(peaks.amplitude[:, None] * jnp.exp(-0.5 * ((x[None] - peaks.location[:, None])
                                                              / peaks.width[:, None]) ** 2), 0)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(saved_programs, "cache_folder", lambda: tmp_path)
    return tmp_path / saved_programs.SUBFOLDER


def _args(n: int):
    peaks = Peaks(*(jnp.full(3, v, jnp.float32) for v in (1.0, 20.0, 3.0, 0.5)))
    return peaks, jnp.arange(n, dtype=jnp.float32)


def test_a_program_is_saved_then_loaded_without_tracing(folder, monkeypatch):
    plain = jax.jit(_curve)
    first = Saved(jax.jit(_curve), "curve", static=1)
    np.testing.assert_array_equal(first(*_args(50)), plain(*_args(50)))
    assert len(list(folder.rglob('*.jaxexport'))) == 1
    first(*_args(50))                                    # the same signature: nothing new
    first(*_args(60))                                    # a new shape: a new program
    assert len(list(folder.rglob('*.jaxexport'))) == 2

    def never(*_, **__):
        raise AssertionError("traced again")

    monkeypatch.setattr(jax.export, "export", never)     # a later process loads, never traces
    later = Saved(jax.jit(_curve), "curve", static=1)
    np.testing.assert_array_equal(later(*_args(60)), plain(*_args(60)))


def test_other_static_values_or_sources_make_other_programs(folder, monkeypatch):
    Saved(jax.jit(_curve), "curve", static=1)(*_args(50))
    Saved(jax.jit(_curve), "curve", static=2)(*_args(50))
    assert len(list(folder.rglob('*.jaxexport'))) == 2
    monkeypatch.setattr(saved_programs, "source_digest", lambda: "peakflow was edited")
    Saved(jax.jit(_curve), "curve", static=1)(*_args(50))
    assert len(list(folder.rglob('*.jaxexport'))) == 3


@pytest.mark.parametrize("kind", ["module", "executable"])
def test_a_corrupt_file_is_saved_again(folder, kind):
    Saved(jax.jit(_curve), "curve")(*_args(50))
    (module,) = folder.rglob("*.jaxexport")
    (binary,) = folder.rglob("*.xla")
    if kind == "module":
        binary.unlink()                     # else the executable is loaded, the module unread
    corrupt = module if kind == "module" else binary
    corrupt.write_bytes(b"not a program")
    np.testing.assert_array_equal(Saved(jax.jit(_curve), "curve")(*_args(50)),
                                  jax.jit(_curve)(*_args(50)))
    assert corrupt.read_bytes() != b"not a program"


def test_an_executable_is_loaded_only_on_the_processor_it_was_compiled_for(folder,
                                                                            monkeypatch):
    Saved(jax.jit(_curve), "curve")(*_args(50))
    (binary,) = folder.rglob("*.xla")
    assert saved_programs.host_digest()[:16] in binary.name
    loaded, before = Saved(jax.jit(_curve), "curve"), saved_programs.LOADED["executables"]
    loaded(*_args(50))
    assert saved_programs.LOADED["executables"] == before + 1
    assert isinstance(next(iter(loaded._calls.values())), jax.stages.Compiled)
    monkeypatch.setattr(saved_programs, "host_digest", lambda: "another processor")
    Saved(jax.jit(_curve), "curve")(*_args(50))      # compiled (from the module), not loaded
    assert len(list(folder.rglob("*.xla"))) == 2 and len(list(folder.rglob("*.jaxexport"))) == 1


def test_other_sources_programs_unused_for_a_month_are_removed(folder):
    old, recent = folder / "0000old", folder / "0000recent"
    for other in (old, recent):
        other.mkdir(parents=True)
        (other / "p.jaxexport").write_bytes(b"x")
    month = time.time() - (saved_programs.STALE_DAYS + 1) * 86400
    os.utime(old, (month, month))
    Saved(jax.jit(_curve), "curve")(*_args(50))       # this source's first program
    assert not old.exists() and recent.exists()
    assert saved_programs.program_folder().is_dir()


def test_an_executable_jax_loaded_from_its_cache_is_not_saved(folder, monkeypatch):
    """XLA:CPU re-serializes a loaded executable without its kernels; only one compiled in
    the process is saved (a JAX cache hit during the compile: the module only)."""
    compile_ = jax.stages.Lowered.compile

    def from_cache(self, *args, **kwargs):
        saved_programs.CACHE_HITS[0] += 1        # as JAX's cache-hit event does
        return compile_(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", from_cache)
    saved = Saved(jax.jit(_curve), "curve")
    np.testing.assert_array_equal(saved(*_args(50)), jax.jit(_curve)(*_args(50)))
    assert len(list(folder.rglob("*.jaxexport"))) == 1 and not list(folder.rglob("*.xla"))


def test_a_loaded_executable_that_cannot_run_is_deleted_and_rebuilt(folder, monkeypatch):
    Saved(jax.jit(_curve), "curve")(*_args(50))
    (binary,) = folder.rglob("*.xla")
    later, real, calls = Saved(jax.jit(_curve), "curve"), saved_programs.run, []

    def fails_once(call, *args, **kwargs):
        calls.append(call)
        if len(calls) == 1:
            raise jax.errors.JaxRuntimeError("NOT_FOUND: Function wrapped_subtract not found")
        return real(call, *args, **kwargs)

    monkeypatch.setattr(saved_programs, "run", fails_once)
    np.testing.assert_array_equal(later(*_args(50)), jax.jit(_curve)(*_args(50)))
    assert len(calls) == 2 and not later._loaded and not binary.exists()
    monkeypatch.setattr(saved_programs, "run", lambda *_, **__: (_ for _ in ()).throw(
        jax.errors.JaxRuntimeError("a program's own error")))
    with pytest.raises(jax.errors.JaxRuntimeError):     # not a loaded one: raised as is
        later(*_args(50))


def test_released_programs_are_loaded_again_when_called(folder):
    saved = Saved(jax.jit(_curve), "curve")
    expected = saved(*_args(50))
    saved_programs.release()
    assert saved.signatures == 0
    np.testing.assert_array_equal(saved(*_args(50)), expected)
    assert saved.signatures == 1 and len(list(folder.rglob("*.xla"))) == 1


def test_without_a_cache_it_is_the_jitted_function(monkeypatch):
    monkeypatch.setattr(saved_programs, "cache_folder", lambda: None)
    jitted = jax.jit(_curve)
    saved = Saved(jitted, "curve")
    saved(*_args(10))
    assert saved._program((), (), {}) is jitted


CHILD = """
import json, sys, jax, numpy as np, peakflow
from peakflow.experiments.bench_measured import mixed_spectra
if sys.argv[1] == "forbid":            # this process must load every program, trace none
    def never(*_, **__):
        raise AssertionError("a program was traced again")
    jax.export.export = never
fits = peakflow.fit_many(mixed_spectra(6, 3))
print("RESULT" + json.dumps([f.peaks.location.tolist() + f.peaks.area_sd.tolist() for f in fits]))
"""


def test_a_second_process_loads_every_program_and_fits_the_same(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env |= {"PEAKFLOW_CACHE_DIR": str(tmp_path / "cache")}
    runs = [run_python(["-c", CHILD, mode], env=env) for mode in ("save", "forbid")]
    first, second = (json.loads(r.stdout.split("RESULT")[1]) for r in runs)
    assert first == second and sum(len(f) for f in first) > 20
    saved = tmp_path / "cache" / saved_programs.SUBFOLDER
    assert len(list(saved.rglob("*.jaxexport"))) >= 5
    assert len(list(saved.rglob("*.xla"))) == len(list(saved.rglob("*.jaxexport")))
