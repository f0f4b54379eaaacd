"""`read_map`: text map exports, rosettasciio files and arrays, written here, read back."""

import numpy as np
import pytest
import xarray as xr

from peakflow.io import SpectrumFileError
from peakflow.map_io import SPECTRAL, read_map

WAVE = np.linspace(1800.0, 400.0, 50)  # descending, as instruments write wavenumbers


@pytest.fixture
def cube():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 100, (3, 4, WAVE.size))  # (y, x, wave)


def _check(read, cube):
    assert read.dims[-1] == SPECTRAL
    np.testing.assert_allclose(read[SPECTRAL].values, WAVE)
    np.testing.assert_allclose(read.values, cube, rtol=1e-6)


def test_wire_text_export(tmp_path, cube):
    lines = ["#X\t#Y\t#Wave\t#Intensity"]
    for j, y in enumerate([0.0, 1.5, 3.0]):
        for i, x in enumerate([10.0, 11.0, 12.0, 13.0]):
            lines += [f"{x}\t{y}\t{w:.6f}\t{v:.9f}" for w, v in zip(WAVE, cube[j, i])]
    (tmp_path / "map.txt").write_text("\n".join(lines) + "\n")
    read = read_map(tmp_path / "map.txt")
    _check(read, cube)
    np.testing.assert_allclose(read["x"].values, [10, 11, 12, 13])
    np.testing.assert_allclose(read["y"].values, [0, 1.5, 3])


def test_labspec_map_table(tmp_path, cube):
    lines = ["\t\t" + "\t".join(f"{w:.6f}" for w in WAVE)]
    for j in range(3):
        for i in range(4):
            lines.append(f"{i * 2.0}\t{j * 1.0}\t" + "\t".join(f"{v:.9f}" for v in cube[j, i]))
    (tmp_path / "labspec.txt").write_text("\n".join(lines) + "\n")
    _check(read_map(tmp_path / "labspec.txt"), cube)


def test_hspy_file_written_by_rosettasciio(tmp_path, cube):
    hspy = pytest.importorskip("rsciio.hspy")
    axes = [{"name": "y", "size": 3, "offset": 0.0, "scale": 1.0, "units": "µm",
             "navigate": True},
            {"name": "x", "size": 4, "offset": 0.0, "scale": 0.5, "units": "µm",
             "navigate": True},
            {"name": "Raman shift", "size": WAVE.size, "offset": WAVE[0],
             "scale": WAVE[1] - WAVE[0], "units": "cm-1", "navigate": False}]
    signal = {"data": cube, "axes": axes, "metadata": {"General": {"title": "map"},
                                                        "Signal": {"signal_type": ""}},
              "original_metadata": {}, "tmp_parameters": {}, "attributes": {"_lazy": False},
              "package_info": {"name": "peakflow", "version": "test"},
              "learning_results": {}, "models": {}}
    hspy.file_writer(str(tmp_path / "map.hspy"), signal, show_progressbar=False)
    read = read_map(tmp_path / "map.hspy")
    _check(read, cube)
    np.testing.assert_allclose(read["x"].values, [0, 0.5, 1.0, 1.5])


def test_arrays_npz_npy_and_netcdf(tmp_path, cube):
    np.savez(tmp_path / "map.npz", data=cube, x=WAVE)
    _check(read_map(tmp_path / "map.npz"), cube)
    np.save(tmp_path / "map.npy", cube)
    np.savetxt(tmp_path / "axis.txt", WAVE)
    with pytest.raises(SpectrumFileError, match="no spectral axis"):
        read_map(tmp_path / "map.npy")
    _check(read_map(tmp_path / "map.npy", axis=tmp_path / "axis.txt"), cube)
    xr.DataArray(cube, dims=("y", "x", "wavenumber"),
                 coords={"wavenumber": WAVE}).to_netcdf(tmp_path / "map.nc")
    _check(read_map(tmp_path / "map.nc"), cube)


def test_not_a_map_is_named(tmp_path):
    (tmp_path / "one.txt").write_text("\n".join(f"{w}\t{w * 2}" for w in WAVE))
    with pytest.raises(SpectrumFileError, match="not a map"):
        read_map(tmp_path / "one.txt")
    with pytest.raises(SpectrumFileError, match="no such file"):
        read_map(tmp_path / "missing.wdf")
    lines = ["#X\t#Y\t#Wave\t#Intensity", "0\t0\t500\t1", "0\t0\t400\t2", "1\t0\t500\t1"]
    (tmp_path / "ragged.txt").write_text("\n".join(lines))
    with pytest.raises(SpectrumFileError, match="different numbers of points"):
        read_map(tmp_path / "ragged.txt")
