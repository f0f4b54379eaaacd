"""Spectral maps: `fit_map` (cube → per-pixel Dataset) and `band_maps` (bands across pixels)."""

import numpy as np
import pytest
import xarray as xr

from peakflow.experiments.bench_measured import simulated_map
from peakflow.measured.maps import as_cube, band_maps, fit_map


@pytest.fixture(scope="module")
def small_map():
    return simulated_map(np.random.default_rng(3), (4, 6), 1024)


@pytest.fixture(scope="module")
def fitted(small_map, broad_model):
    cube, x, _ = small_map
    return fit_map(cube, x, model=broad_model, progress=False)


def test_every_pixel_gets_its_peaks(fitted, small_map):
    cube, _, truth = small_map
    assert fitted["location"].dims == ("dim_0", "dim_1", "peak")
    assert fitted["location"].shape[:2] == cube.shape[:2]
    assert np.all(fitted["error"].values == "")
    present = (truth["amplitude"] > 0).sum(axis=-1)
    # every pixel finds its bands (a broad band may be split in two: at most one extra)
    assert np.all(fitted["num_peaks"].values >= present)
    assert np.all(fitted["num_peaks"].values <= present + 1)
    assert np.all(np.isfinite(fitted["chi2"].values))


def test_band_maps_follow_the_true_images(fitted, small_map):
    _, _, truth = small_map
    bands = band_maps(fitted)
    np.testing.assert_allclose(bands["band_location"].values[:4], truth["location"], atol=1.0)
    np.testing.assert_allclose(bands["share"].values[:4], [1, 1, 1, 0.5], atol=0.01)
    for b in range(4):
        true = truth["amplitude"][..., b]
        found = bands["amplitude"].isel(band=b).values
        has = true > 0
        assert np.all(np.isfinite(found[has])) and np.all(np.isnan(found[~has]))
        np.testing.assert_allclose(found[has], true[has], rtol=0.1, atol=3.0)  # noise sd 1
    err = np.abs(bands["fwhm"].values[:4] - truth["fwhm"][:, None, None])
    assert np.nanmedian(err / truth["fwhm"][:, None, None]) < 0.1


def test_a_dataarray_keeps_its_dims_and_a_bad_pixel_keeps_the_others(small_map, broad_model):
    cube, x, _ = small_map
    cube = cube[:2, :3].copy()
    cube[1, 2, 10] = np.nan
    data = xr.DataArray(np.moveaxis(cube, -1, 0), dims=("wavenumber", "y", "x"),
                        coords={"wavenumber": x, "y": [0.0, 0.5], "x": [1.0, 2.0, 3.0]})
    out = fit_map(data, dim="wavenumber", model=broad_model, progress=False)
    assert out["location"].dims == ("y", "x", "peak")
    np.testing.assert_array_equal(out["x"].values, [1.0, 2.0, 3.0])
    assert "NaN" in str(out["error"].values[1, 2])
    assert np.all(out["error"].values.ravel()[:-1] == "")
    assert np.all(out["num_peaks"].values.ravel()[:-1] >= 3)


def test_a_memory_mapped_cube_is_read_in_chunks(small_map, broad_model, tmp_path, fitted):
    cube, x, _ = small_map
    np.save(tmp_path / "cube.npy", cube)
    lazy = np.load(tmp_path / "cube.npy", mmap_mode="r")
    out = fit_map(lazy, x, model=broad_model, chunk_size=5, progress=False)
    np.testing.assert_allclose(out["location"].values, fitted["location"].values, rtol=1e-5)


def test_cube_errors_name_the_problem():
    with pytest.raises(TypeError, match="axis"):
        as_cube(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="spatial"):
        as_cube(np.zeros(100), np.arange(100.0))
    with pytest.raises(ValueError, match="points"):
        as_cube(np.zeros((2, 100)), np.arange(50.0))
    with pytest.raises(ValueError, match="no pixels"):
        as_cube(np.zeros((0, 100)), np.arange(100.0))
    with pytest.raises(ValueError, match="no spectral dimension"):
        as_cube(xr.DataArray(np.zeros((2, 10)), dims=("a", "b")), dim="c")


@pytest.mark.slow  # 40 s: starts a local dask cluster
def test_a_dask_map_on_a_local_cluster_matches_in_process(small_map, broad_model):
    """Block by block on two worker processes (`distributed.LocalCluster`), the same numbers
    as the in-process fit; a bad pixel's reason survives the trip."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cube, x, _ = small_map
    cube = cube.copy()
    cube[3, 5, 100] = np.inf
    here = fit_map(cube, x, model=broad_model, progress=False)
    lazy = da.from_array(cube, chunks=(2, 3, -1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            out = fit_map(lazy, x, model=broad_model.path)
    good = np.ones(cube.shape[:2], bool)
    good[3, 5] = False
    for name in ("location", "amplitude_sd", "num_peaks", "chi2"):
        np.testing.assert_allclose(out[name].values[good], here[name].values[good], rtol=1e-5)
    assert "inf" in str(out["error"].values[3, 5])
