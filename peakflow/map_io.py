"""Reading spectral maps into an `xarray.DataArray` whose last dimension is the spectral axis.

`read_map(path)` understands:

* vendor and hyperspy files through rosettasciio: Renishaw ``.wdf``, HORIBA/JobinYvon
  ``.xml``, hyperspy ``.hspy`` (the navigation axes become the spatial dimensions);
* the common text exports: Renishaw WiRE's four columns ``#X #Y #Wave #Intensity`` (one row
  per pixel and wavenumber), and LabSpec's map table (a first row of wavenumbers after two
  empty cells, then one row per pixel: X, Y, intensities; one coordinate for a line scan);
* arrays: netCDF (``.nc``, e.g. written by `xarray`), ``.npz`` with the cube under ``data``
  (or ``cube``/``spectra``) and the axis under ``x`` (or ``axis``/``wavenumber``), and ``.npy``
  (memory-mapped, never loaded whole) with the axis given separately.

Every failure raises `peakflow.io.SpectrumFileError` naming the file and the problem (a
two-column file, say, is one spectrum, not a map: it goes to `peakflow.fit`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from peakflow.extras import require
from peakflow.io import SpectrumFileError

SPECTRAL = "spectral"  # the spectral dimension of every map read here
RSCIIO = {".wdf": "renishaw", ".xml": "jobinyvon", ".hspy": "hspy"}
NPZ_DATA, NPZ_AXIS = ("data", "cube", "spectra"), ("x", "axis", "wavenumber")


def read_map(path: str | os.PathLike, axis: Any = None) -> xr.DataArray:
    """Reads a spectral map (see the module docstring).

    Args:
      path: the file.
      axis: the spectral axis (an array or a text/.npy file of it); needed for ``.npy``,
        replaces the file's own otherwise.

    Returns:
      A DataArray (..., n) with the spectral dimension ``"spectral"`` last, carrying its axis
      as a coordinate, and spatial coordinates where the file gives them.

    Raises:
      SpectrumFileError: missing or unreadable file, not a map, inconsistent pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFileError(path, "no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in RSCIIO:
            cube = _read_rsciio(path, RSCIIO[suffix])
        elif suffix == ".nc":
            cube = xr.open_dataarray(path)
            cube = cube.rename({cube.dims[-1]: SPECTRAL})
        elif suffix == ".npz":
            cube = _read_npz(path)
        elif suffix == ".npy":
            cube = xr.DataArray(np.load(path, mmap_mode="r"))
            cube = cube.rename({cube.dims[-1]: SPECTRAL})
        else:
            cube = _read_text_map(path)
    except SpectrumFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SpectrumFileError(path, f"cannot be read as a map ({err})") from err
    if axis is not None:
        cube = cube.assign_coords({SPECTRAL: _axis(axis, path)})
    if SPECTRAL not in cube.coords:
        raise SpectrumFileError(path, "has no spectral axis; give it (--axis FILE)")
    if cube.ndim < 2:
        raise SpectrumFileError(path, "holds one spectrum, not a map (use peakflow fit)")
    return cube


def _axis(axis: Any, path: Path) -> np.ndarray:
    if isinstance(axis, (str, os.PathLike)):
        axis = np.load(axis) if str(axis).endswith(".npy") else np.loadtxt(axis)
    return np.asarray(axis, np.float64).ravel()


def _read_npz(path: Path) -> xr.DataArray:
    with np.load(path) as archive:
        data = next((archive[k] for k in NPZ_DATA if k in archive), None)
        axis = next((archive[k] for k in NPZ_AXIS if k in archive), None)
        if data is None:
            raise SpectrumFileError(path, f"has no array named one of {NPZ_DATA}; it holds "
                                          f"{sorted(archive.files)}")
    cube = xr.DataArray(data).rename({f"dim_{data.ndim - 1}": SPECTRAL})
    return cube if axis is None else cube.assign_coords({SPECTRAL: np.ravel(axis)})


def _read_rsciio(path: Path, plugin: str) -> xr.DataArray:
    """The first signal of a rosettasciio file; navigation axes → spatial dims."""
    reader = require(f"rsciio.{plugin}", f"reading {path.suffix} map files").file_reader
    signal = reader(str(path))[0]
    axes = signal["axes"]
    spectral = [i for i, a in enumerate(axes) if not a.get("navigate", False)]
    if len(spectral) != 1:
        raise SpectrumFileError(path, f"has {len(spectral)} signal axes; a spectral map has 1")
    data = np.moveaxis(np.asarray(signal["data"]), spectral[0], -1)
    axes = [a for i, a in enumerate(axes) if i != spectral[0]] + [axes[spectral[0]]]
    dims, coords = [], {}
    for i, a in enumerate(axes):
        name = SPECTRAL if i == len(axes) - 1 else str(a.get("name") or f"dim_{i}")
        name = name if name not in dims else f"{name}_{i}"
        dims.append(name)
        values = a.get("axis")
        if values is None:
            values = a.get("offset", 0.0) + a.get("scale", 1.0) * np.arange(a["size"])
        coords[name] = np.asarray(values, np.float64)
    return xr.DataArray(data, dims=dims, coords=coords)


def _read_text_map(path: Path) -> xr.DataArray:
    """WiRE's ``X Y Wave Intensity`` rows or LabSpec's table (see the module docstring)."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        head = [handle.readline() for _ in range(3)]
    sep = "\t" if "\t" in "".join(head) else ("," if "," in "".join(head[1:]) else r"\s+")
    table = pd.read_csv(path, sep=sep, header=None, comment="#", skip_blank_lines=True)
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    if values.shape[1] == 4 and np.isfinite(values[0]).all():
        return _wire(path, values)
    if values.shape[0] >= 2 and values.shape[1] >= 4 and np.isnan(values[0, :2]).sum() >= 1:
        return _labspec(path, values)
    raise SpectrumFileError(path, f"is not a map export: {values.shape[1]} columns; expected "
                                  "WiRE's X Y Wave Intensity or a LabSpec map table (a "
                                  "two-column file is one spectrum: use peakflow fit)")


def _wire(path: Path, rows: np.ndarray) -> xr.DataArray:
    """(X, Y, wave, intensity) rows, pixel after pixel → (y, x, spectral) or (pixel, spectral)."""
    rows = rows[np.isfinite(rows).all(axis=1)]
    new_pixel = np.flatnonzero(np.any(np.diff(rows[:, :2], axis=0) != 0, axis=1)) + 1
    starts = np.concatenate([[0], new_pixel])
    lengths = np.diff(np.concatenate([starts, [len(rows)]]))
    if np.any(lengths != lengths[0]):
        raise SpectrumFileError(path, f"pixels have different numbers of points "
                                      f"({lengths.min()}-{lengths.max()})")
    n = int(lengths[0])
    block = rows.reshape(len(starts), n, 4)
    wave = block[0, :, 2]
    if not np.allclose(block[:, :, 2], wave[None]):
        raise SpectrumFileError(path, "the wavenumber axis differs between pixels")
    return _pixels(block[:, 0, 0], block[:, 0, 1], block[:, :, 3], wave)


def _labspec(path: Path, values: np.ndarray) -> xr.DataArray:
    """A first row of wavenumbers after one or two empty cells, then X[, Y], intensities."""
    coords_count = int(np.isnan(values[0, :2]).sum())
    wave = values[0, coords_count:]
    body = values[1:]
    if np.isnan(body).any():
        raise SpectrumFileError(path, "a LabSpec map row has missing or non-numeric values")
    intensities = body[:, coords_count:]
    if coords_count == 1:
        return xr.DataArray(intensities, dims=("x", SPECTRAL),
                            coords={"x": body[:, 0], SPECTRAL: wave})
    return _pixels(body[:, 0], body[:, 1], intensities, wave)


def _pixels(xs: np.ndarray, ys: np.ndarray, spectra: np.ndarray,
            wave: np.ndarray) -> xr.DataArray:
    """Pixels at (xs, ys) (P,) with spectra (P, n): a (y, x, spectral) cube when they fill a
    rectangular grid once each, else a (pixel, spectral) list with x and y coordinates."""
    ux, uy = np.unique(xs), np.unique(ys)
    iy, ix = np.searchsorted(uy, ys), np.searchsorted(ux, xs)
    if len(ux) * len(uy) == len(xs) > 1 and len(np.unique(iy * len(ux) + ix)) == len(xs):
        cube = np.empty((len(uy), len(ux), len(wave)))
        cube[iy, ix] = spectra
        return xr.DataArray(cube, dims=("y", "x", SPECTRAL),
                            coords={"y": uy, "x": ux, SPECTRAL: wave})
    return xr.DataArray(spectra, dims=("pixel", SPECTRAL),
                        coords={"x": ("pixel", xs), "y": ("pixel", ys), SPECTRAL: wave})
