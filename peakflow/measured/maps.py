"""Spectral maps: a cube of spectra on one shared axis → an xarray `Dataset` of peaks per pixel.

`fit_map` reads the cube chunk by chunk (a memory-mapped ``.npy`` or a dask array is never
loaded whole), fits each chunk with `peakflow.fit_many` on one grid shared by every pixel (the
grid's step comes from the typical peak width of the map's mean spectrum, so all pixels see
the same resampling), and fills fixed-size result arrays:

* per pixel and peak slot (``peak``, up to ``max_peaks``, sorted by location; NaN beyond a
  pixel's peaks): ``location``, ``fwhm``, ``amplitude``, ``area``, ``lorentzian``, ``width``,
  each with ``<name>_sd``, and ``probability`` (that the peak exists);
* per pixel and band slot (``band_slot``: the pixel's `SpectrumFit.bands`, components the data
  cannot tell apart as one row): ``band_location``, ``band_height``, ``band_fwhm``,
  ``band_area``, each with its sd, ``band_probability`` and ``band_components``;
* per pixel: ``num_peaks``, ``chi2`` (the spectrum's reduced χ² against its noise, edges
  included), ``stretch`` (its worst run of residual in standard errors), ``noise``,
  ``unexplained`` (the residual is far above the noise somewhere), ``truncated`` (more peaks
  than ``max_peaks``; the tallest are kept) and ``error`` ("" or why the pixel could not be
  fitted: one bad pixel never costs the others their results).

`band_maps` then matches the pixels' bands across pixels (clusters of locations) and returns
per-band images of height, location, FWHM and area with their sds — what a mapping user looks
at. Spatial dimensions and coordinates of an `xarray.DataArray` input are kept.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
from scipy.signal import find_peaks
from tqdm.auto import tqdm

from peakflow.core.signal import noise_level
from peakflow.measured.options import FitOptions
from peakflow.measured.pipeline import ModelArg, fit_many, fit_options, measured_model
from peakflow.measured.prepare import check_axis
from peakflow.measured.resample import data_step, on_data_step, typical_fwhm
from peakflow.measured.results import PEAK_COLUMNS, PeakTable, SpectrumFit
from peakflow.runtime.trained import show_progress

SLOT_FIELDS = tuple(f for name in PEAK_COLUMNS for f in (name, f"{name}_sd")) + ("probability",)
BAND_FIELDS = ("location", "location_sd", "height", "height_sd", "fwhm", "fwhm_sd", "area",
               "area_sd", "probability", "components")
EVERY_SLOT = SLOT_FIELDS + tuple(f"band_{name}" for name in BAND_FIELDS)  # (B, max_peaks) each
CHUNK = 256          # pixels per `fit_many` call
SAMPLE_PIXELS = 256  # pixels averaged to choose the shared grid


class Cube(NamedTuple):
    """A cube seen as rows: ``rows[i:j]`` gives (j - i, n) intensities."""

    rows: Any
    x: np.ndarray
    spatial_dims: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    coords: dict[str, Any]


def as_cube(data: Any, x: Any = None, dim: str | None = None) -> Cube:
    """Views `data` (..., n) as rows of spectra on the shared axis `x` (n,).

    Args:
      data: a numpy array (memory-mapped or not), a dask array, an `xarray.DataArray` (its
        spectral dimension is `dim`, default the last; its coordinate is the axis unless `x`
        is given), or a hyperspy-like signal (``.data`` and ``.axes_manager``).
      x: the spectral axis; required unless the input carries it.
      dim: the spectral dimension of a DataArray.

    Raises:
      ValueError, TypeError: naming the problem (no axis, wrong length, a 1-D input, no
        pixels).
    """
    if hasattr(data, "axes_manager") and hasattr(data, "data"):  # hyperspy signal
        axis = data.axes_manager.signal_axes[0]
        x = axis.axis if x is None else x
        data = np.asarray(data.data) if not hasattr(data.data, "dask") else data.data
    if isinstance(data, xr.DataArray):
        dim = str(data.dims[-1]) if dim is None else dim
        if dim not in data.dims:
            raise ValueError(f"no spectral dimension {dim!r} in {data.dims}")
        data = data.transpose(..., dim)
        if x is None:
            if dim not in data.coords:
                raise ValueError(f"DataArray has no coordinate for {dim!r}; pass x")
            x = data[dim].values
        dims = tuple(d for d in data.dims if d != dim)
        coords = {d: data[d].values for d in dims if d in data.coords}
        rows, shape = data.data, data.shape[:-1]
    else:
        if x is None:
            raise TypeError("a map needs its spectral axis: fit_map(cube, x)")
        if not hasattr(data, "shape") or not hasattr(data, "reshape"):
            data = np.asarray(data)
        shape = tuple(data.shape[:-1])
        rows, dims, coords = data, tuple(f"dim_{i}" for i in range(len(shape))), {}
    if len(shape) == 0:
        raise ValueError("a map needs at least one spatial dimension; one spectrum goes to "
                         "peakflow.fit")
    x = np.asarray(x, np.float64)
    if x.ndim != 1 or x.size != rows.shape[-1]:
        raise ValueError(f"the axis has shape {x.shape} but spectra have {rows.shape[-1]} points")
    count = int(np.prod(shape))
    if count == 0:
        raise ValueError(f"the map has no pixels (shape {tuple(shape) + (x.size,)})")
    return Cube(rows.reshape(count, rows.shape[-1]), x, dims, shape, coords)


def shared_fwhm(cube: Cube, options: FitOptions) -> float | None:
    """The typical FWHM (x units) of the map's mean spectrum over up to `SAMPLE_PIXELS` pixels
    spread over the map (None: no peak stands out; each pixel then uses the data step)."""
    if options.fwhm is not None:
        return options.fwhm
    count = cube.rows.shape[0]
    take = np.unique(np.linspace(0, count - 1, min(count, SAMPLE_PIXELS)).astype(int))
    sample = np.asarray(cube.rows[take], np.float64)
    sample = sample[np.all(np.isfinite(sample), axis=1)]
    if not len(sample):
        return None
    mean, x = check_axis(np.mean(sample, axis=0), cube.x)
    step = data_step(x)
    uniform = on_data_step(x, mean, step)
    points = typical_fwhm(uniform, noise_level(uniform).point)
    return None if points is None else points * step


def fit_map(data: Any, x: Any = None, *, dim: str | None = None, model: ModelArg = None,
            options: FitOptions | None = None, max_peaks: int = 32, chunk_size: int = CHUNK,
            progress: bool | None = None, **option_values: Any) -> xr.Dataset:
    """Fits every pixel of a map whose spectra share one axis.

    A dask array (or a dask-backed DataArray) is fitted block by block with
    `dask.array.map_blocks` on whatever scheduler is active, so a `distributed` client spreads
    the map over its workers (each loads the model once); the spectral axis must be one chunk.
    Anything else is read `chunk_size` pixels at a time in this process.

    Args:
      data, x, dim: the cube (..., n) and its axis (see `as_cube`).
      model: a `TrainedModel` or model directory; None: the bundled real-data model.
      options: `FitOptions` (or their fields as keywords); ``fwhm`` defaults to the mean
        spectrum's typical FWHM, so every pixel shares one grid.
      max_peaks: peak slots per pixel in the result.
      chunk_size: pixels read and fitted together (memory grows with it, not with the map).
      progress: a progress bar over pixels (in-process path; None: when the map spans more
        than 8 chunks).

    Returns:
      The per-pixel `xarray.Dataset` (see the module docstring); ``attrs`` record the shared
      FWHM and the model path.
    """
    cube = as_cube(data, x, dim)
    opts, trained = fit_options(options, option_values), measured_model(model)
    opts = replace(opts, fwhm=shared_fwhm(cube, opts))
    if _is_dask(cube.rows):
        slots, pixel = _fit_dask(cube, trained, opts, max_peaks)
    else:
        count = cube.rows.shape[0]
        parts = []
        bar = tqdm(total=count, desc="map", unit="px",
                   disable=not show_progress(progress, -(-count // chunk_size)))
        for start in range(0, count, chunk_size):
            rows = np.asarray(cube.rows[start:start + chunk_size], np.float64)
            parts.append(fit_rows(rows, cube.x, trained, opts, max_peaks))
            bar.update(len(rows))
        bar.close()
        slots, pixel = (_concat([p[i] for p in parts]) for i in range(2))
    return _dataset(cube, slots, pixel, {"fwhm": np.nan if opts.fwhm is None else opts.fwhm,
                                         "model": str(trained.path)})


def fit_rows(rows: np.ndarray, x: np.ndarray, model: ModelArg, options: FitOptions,
             max_peaks: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fits (B, n) rows on the axis `x` (n,) with `fit_many`.

    Returns:
      (slots, pixel): ``{field: (B, max_peaks) float32}`` for `SLOT_FIELDS` and
      ``{name: (B,)}`` for the per-pixel results (see the module docstring).
    """
    count = rows.shape[0]
    slots = {name: np.full((count, max_peaks), np.nan, np.float32) for name in EVERY_SLOT}
    pixel = {"num_peaks": np.zeros(count, np.int32), "chi2": np.full(count, np.nan, np.float32),
             "stretch": np.full(count, np.nan, np.float32),
             "noise": np.full(count, np.nan, np.float32),
             "unexplained": np.zeros(count, bool), "truncated": np.zeros(count, bool),
             "error": np.full(count, "", object)}
    for i, fitted in enumerate(fit_many(rows, x, model=model, options=options)):
        _store(fitted, i, slots, pixel)
    return slots, pixel


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _is_dask(array: Any) -> bool:
    return type(array).__module__.startswith("dask.")


PIXEL_FIELDS = ("num_peaks", "chi2", "stretch", "noise", "unexplained", "truncated", "failed")


def _fit_block(block: np.ndarray, x: np.ndarray, model: ModelArg, options: FitOptions,
               max_peaks: int) -> np.ndarray:
    """`map_blocks` kernel: (..., n) spectra → (..., max_peaks · 23 + 7) float32 results."""
    slots, pixel = fit_rows(np.asarray(block, np.float64).reshape(-1, block.shape[-1]), x,
                            model, options, max_peaks)
    pixel["failed"] = pixel.pop("error") != ""
    packed = np.concatenate([np.stack([slots[n] for n in EVERY_SLOT], axis=-1)
                             .reshape(len(pixel["failed"]), -1),
                             np.stack([pixel[n].astype(np.float32) for n in PIXEL_FIELDS],
                                      axis=-1)], axis=-1)
    return packed.reshape(block.shape[:-1] + (packed.shape[-1],))


def _fit_dask(cube: Cube, trained, options: FitOptions, max_peaks: int):
    """The dask path of `fit_map`: one task per block of the cube's rows."""
    rows = cube.rows.rechunk({1: -1})
    model = trained.path if trained.path is not None else trained  # workers load it once
    width = max_peaks * len(EVERY_SLOT) + len(PIXEL_FIELDS)
    packed = rows.map_blocks(_fit_block, cube.x, model, options, max_peaks, dtype=np.float32,
                             chunks=(rows.chunks[0], (width,))).compute()
    slot_part = packed[:, :-len(PIXEL_FIELDS)].reshape(len(packed), max_peaks, -1)
    slots = {n: np.ascontiguousarray(slot_part[..., i]) for i, n in enumerate(EVERY_SLOT)}
    pixel = {n: packed[:, -len(PIXEL_FIELDS) + i] for i, n in enumerate(PIXEL_FIELDS)}
    pixel["num_peaks"] = pixel["num_peaks"].astype(np.int32)
    for name in ("unexplained", "truncated"):
        pixel[name] = pixel[name] > 0.5
    failed = np.flatnonzero(pixel.pop("failed") > 0.5)
    pixel["error"] = np.full(len(packed), "", object)
    if failed.size:  # the reasons, again here (bad pixels fail before reaching the model)
        again = fit_many(np.asarray(cube.rows[failed]), cube.x, model=trained, options=options)
        pixel["error"][failed] = [f.error or "" for f in again]
    return slots, pixel


def _store(fitted: SpectrumFit, i: int, slots: dict, pixel: dict) -> None:
    """One pixel's fit into row `i` of the result arrays."""
    if fitted.error is not None:
        pixel["error"][i] = fitted.error
        return
    peaks: PeakTable = fitted.peaks
    keep = np.arange(len(peaks))
    max_peaks = next(iter(slots.values())).shape[1]
    if keep.size > max_peaks:  # the tallest, back in location order
        keep = np.sort(np.argsort(peaks.amplitude)[::-1][:max_peaks])
        pixel["truncated"][i] = True
    for name in SLOT_FIELDS:
        slots[name][i, :keep.size] = getattr(peaks, name)[keep]
    bands = fitted.bands
    keep = np.arange(len(bands))
    if keep.size > max_peaks:
        keep = np.sort(np.argsort(bands.height)[::-1][:max_peaks])
    for name in BAND_FIELDS:
        slots[f"band_{name}"][i, :keep.size] = getattr(bands, name)[keep]
    pixel["num_peaks"][i] = keep.size
    pixel["chi2"][i], pixel["stretch"][i] = fitted.chi2, fitted.stretch
    pixel["noise"][i] = fitted.noise
    pixel["unexplained"][i] = fitted.unexplained


def _dataset(cube: Cube, slots: dict, pixel: dict, attrs: dict) -> xr.Dataset:
    dims, shape = cube.spatial_dims, cube.spatial_shape
    variables = {name: (dims + ("band_slot" if name.startswith("band_") else "peak",),
                        a.reshape(shape + a.shape[1:])) for name, a in slots.items()}
    variables.update({name: (dims, a.reshape(shape)) for name, a in pixel.items()})
    variables["error"] = (dims, pixel["error"].astype(str).reshape(shape))
    return xr.Dataset(variables, coords=cube.coords, attrs=attrs)


def band_maps(result: xr.Dataset, min_share: float = 0.05, tolerance: float = 0.5,
              min_probability: float = 0.5) -> xr.Dataset:
    """The pixels' bands (`SpectrumFit.bands`, in ``band_*``) matched across pixels, and each
    map band's images.

    Map band centres are the modes of the pixels' band locations (kept where
    ``band_probability`` >= `min_probability`): their histogram smoothed by a Gaussian of a
    quarter of the median FWHM (peak 1, so a tight cluster of N locations scores about N),
    whose local maxima reached by at least `min_share` of the pixels, at least one median
    FWHM from a higher one, are the centres. A pixel's band belongs to the nearest centre
    within ``tolerance`` × its FWHM; where a pixel has several, the tallest is the map band's.

    Args:
      result: the output of `fit_map`.

    Returns:
      A `Dataset` with dims (``band``, *spatial): ``amplitude`` (the band's height),
      ``location``, ``fwhm``, ``area``, each with its ``_sd``, and ``components`` (NaN where
      the pixel lacks the band), and coordinates ``band_location`` (the centre) and ``share``
      (fraction of fitted pixels that have it).
    """
    spatial = tuple(d for d in result["band_location"].dims if d != "band_slot")
    flat = result.stack(pixel=spatial)
    read = lambda name: flat[f"band_{name}"].transpose("pixel", "band_slot").values
    loc, size = read("location").astype(np.float64), read("fwhm").astype(np.float64)
    real = np.isfinite(loc) & (read("probability") >= min_probability)
    fitted = int(np.sum(flat["error"].values == ""))
    centres = band_centres(loc[real], size[real], max(1, fitted), min_share)
    names = {"amplitude": "height", "amplitude_sd": "height_sd", "location": "location",
             "location_sd": "location_sd", "fwhm": "fwhm", "fwhm_sd": "fwhm_sd",
             "area": "area", "area_sd": "area_sd", "components": "components"}
    out = {n: np.full((centres.size, loc.shape[0]), np.nan, np.float32) for n in names}
    if centres.size:
        dist = np.abs(loc[..., None] - centres)  # (pixels, bands, map bands)
        nearest = np.argmin(np.where(np.isfinite(dist), dist, np.inf), axis=-1)
        ok = real & (np.take_along_axis(dist, nearest[..., None], -1)[..., 0]
                     <= tolerance * size)
        height = read("height")
        for b in range(centres.size):
            mine = np.where(ok & (nearest == b), height, -np.inf)
            best = np.argmax(mine, axis=1)
            has = np.isfinite(mine[np.arange(loc.shape[0]), best])
            for n, source in names.items():
                out[n][b, has] = read(source)[np.flatnonzero(has), best[has]]
    share = np.mean(np.isfinite(out["location"]), axis=1) * loc.shape[0] / max(1, fitted)
    shape = tuple(result.sizes[d] for d in spatial)
    variables = {n: (("band",) + spatial, a.reshape((centres.size,) + shape))
                 for n, a in out.items()}
    coords: dict[str, Any] = {"band_location": ("band", centres), "share": ("band", share)}
    coords.update({str(d): result[d].values for d in spatial if d in result.coords})
    return xr.Dataset(variables, coords=coords)


def band_centres(location: np.ndarray, fwhm: np.ndarray, pixels: int,
                 min_share: float) -> np.ndarray:
    """(B,) band centres: modes of the located peaks reached by >= `min_share` of `pixels`.

    Args:
      location, fwhm: (P,) every kept peak of the map.
    """
    if not location.size:
        return np.zeros(0)
    width = float(np.median(fwhm))
    step = width / 8
    edges = np.arange(location.min() - width, location.max() + width + step, step)
    counts = np.histogram(location, edges)[0].astype(np.float64)
    # a Gaussian of peak 1 and sd width/4: a tight cluster of N locations scores about N
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)
    near = np.convolve(counts, kernel, mode="same")
    found, _ = find_peaks(np.concatenate([[0.0], near, [0.0]]), height=min_share * pixels,
                          distance=max(1, int(round(width / step))))
    centres = 0.5 * (edges[found - 1] + edges[found])
    # refine each centre to the median of the locations that reach it
    return np.asarray([np.median(location[np.abs(location - c) <= 0.5 * width])
                       for c in centres])
