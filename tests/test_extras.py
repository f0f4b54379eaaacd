"""`peakflow.extras.require`: a missing optional package is named with the extra that
installs it; anything else is imported (or fails) as usual."""

import sys

import pytest

from peakflow.extras import require


def test_a_missing_optional_module_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rsciio", None)  # as if rosettasciio were not installed
    with pytest.raises(ImportError, match=r'reading \.wdf map files needs rosettasciio.*'
                                          r'pip install "peakflow\[vendor\]"'):
        require("rsciio.renishaw", "reading .wdf map files")


def test_present_modules_are_returned_and_others_fail_as_usual():
    assert require("lmfit", "the comparison").__name__ == "lmfit"
    with pytest.raises(ModuleNotFoundError, match="no_such_package"):
        require("no_such_package", "nothing")


def test_fitting_a_spectrum_imports_no_map_or_vendor_package():
    import subprocess

    code = ("import sys, numpy as np, peakflow; x = np.linspace(0, 100, 400); "
            "peakflow.fit(np.exp(-(x - 50) ** 2 / 8), x); "
            "print(sorted({'dask', 'distributed', 'h5netcdf', 'rsciio', 'spc_io', 'lmfit'}"
            " & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
