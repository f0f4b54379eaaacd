"""The optional parts of peakflow and the extras that install them.

Fitting a spectrum needs none of them; ``pip install "peakflow[maps]"`` (netCDF output and
dask/distributed maps), ``[vendor]`` (rosettasciio map files, ``.spc`` files) and
``[compare]`` (lmfit: the least-squares reference and ``SpectrumFit.to_lmfit``) add them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"dask": "maps", "distributed": "maps", "h5netcdf": "maps", "rsciio": "vendor",
          "spc_io": "vendor", "lmfit": "compare"}
PACKAGES = {"rsciio": "rosettasciio", "spc_io": "spc-io"}  # where the import name differs


def require(module: str, purpose: str) -> ModuleType:
    """Imports `module` (e.g. ``"lmfit"`` or ``"rsciio.renishaw"``).

    Raises:
      ImportError: naming `purpose`, the missing package and the extra that installs it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        if top not in EXTRAS or err.name not in (top, module):
            raise
        raise ImportError(f"{purpose} needs {PACKAGES.get(top, top)}, which is not installed: "
                          f'pip install "peakflow[{EXTRAS[top]}]"') from err
