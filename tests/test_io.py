"""Spectrum files: delimiters, decimal commas, headers, named columns, JCAMP-DX, errors."""

import numpy as np
import pytest

from peakflow.io import SpectrumFileError, read_spectrum

X = np.array([400.0, 401.5, 403.0, 404.5])
Y = np.array([0.1, 0.25, 1.5, 0.75])


@pytest.mark.parametrize("body", [
    "400,0.1\n401.5,0.25\n403,1.5\n404.5,0.75\n",
    "# a comment\nwavenumber;intensity\n400;0,1\n401,5;0,25\n403;1,5\n404,5;0,75\n",
    "400\t0.1\n401.5\t0.25\n403\t1.5\n404.5\t0.75\n",
    "Sample: quartz\nOperator: someone\n\n  400   1.0e-1\n 401.5  0.25\n 403 1.5\n 404.5 0.75\n",
    "##TITLE-less header\n##NAMES=Quartz\n400, 0.1\n401.5, 0.25\n403, 1.5\n404.5, 0.75\n",
])
def test_delimited_text_variants(tmp_path, body):
    path = tmp_path / "s.txt"
    path.write_text(body)
    s = read_spectrum(path)
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y)


def test_named_columns_and_vendor_tables(tmp_path):
    path = tmp_path / "vendor.csv"
    path.write_text('"Time","Raman Shift","Counts","Dark"\n'
                    + "".join(f"{i},{x},{y},{y / 10}\n" for i, (x, y) in enumerate(zip(X, Y))))
    s = read_spectrum(path, x="raman shift", y="Counts")
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y)
    s = read_spectrum(path, x=1, y=3)
    np.testing.assert_allclose(s.y, Y / 10)
    with pytest.raises(SpectrumFileError, match="no column named 'absorbance'.*Raman Shift"):
        read_spectrum(path, y="absorbance")
    with pytest.raises(SpectrumFileError, match="out of range"):
        read_spectrum(path, y=7)


def test_x_y_header_order_is_respected(tmp_path):
    path = tmp_path / "yx.dat"
    path.write_text("Data:   y          x\n" + "".join(f"{y} {x}\n" for x, y in zip(X, Y)))
    s = read_spectrum(path)
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y)


def test_xye_sigma(tmp_path):
    path = tmp_path / "p.xye"
    path.write_text("".join(f"{x}\t{y}\t{y / 2}\n" for x, y in zip(X, Y)))
    s = read_spectrum(path)
    np.testing.assert_allclose(s.sigma, Y / 2)


def test_jcamp(tmp_path):
    path = tmp_path / "s.jdx"
    rows = "".join(f"{x} {y}\n" for x, y in zip(X, Y))
    path.write_text("##TITLE=test\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n"
                    "##XUNITS=1/CM\n##YUNITS=ABSORBANCE\n##XFACTOR=1.0\n##YFACTOR=1.0\n"
                    f"##FIRSTX=400\n##LASTX=404.5\n##NPOINTS={len(X)}\n##XYPOINTS=(XY..XY)\n"
                    f"{rows}##END=\n")
    s = read_spectrum(path)
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y)
    assert s.meta["title"] == "test"


def test_spc(tmp_path):
    import io

    from spc_io.high_level import SPC, EvenAxis

    written = SPC(xarray=EvenAxis(start=400.0, stop=404.5, num=len(X)))
    written.add_subfile(yarray=Y.astype(np.float32))
    path = tmp_path / "scan.spc"
    path.write_bytes(written.to_spc_raw().to_bytes())
    s = read_spectrum(path)
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y, rtol=1e-6)
    assert s.meta["subfiles"] == 1 and s.x_label is not None
    assert SPC.from_bytes_io(io.BytesIO(path.read_bytes()))[0].yarray.size == len(X)
    broken = tmp_path / "broken.spc"
    broken.write_bytes(path.read_bytes()[:40])
    with pytest.raises(SpectrumFileError, match="not a readable SPC file"):
        read_spectrum(broken)


@pytest.mark.parametrize("content, match", [
    (None, "no such file"),
    (b"\x00\x01\x02binary", "binary"),
    (b"just some words\nand more words\n", "no rows of numbers"),
    (b"1\n2\n3\n", "no rows of numbers"),
    (b"1,2\n3,4\n", "need at least 3"),
])
def test_unreadable_files_name_file_and_problem(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpectrumFileError, match=match) as info:
        read_spectrum(path)
    assert str(path) in str(info.value)


def test_shared_real_files(data_dir):
    gauss = read_spectrum(data_dir / "nist_strd" / "Gauss1.dat")
    assert gauss.x.shape == (250,) and gauss.x[0] == 1.0 and gauss.y[0] == pytest.approx(97.62227)
    quartz = read_spectrum(next((data_dir / "rruff_ir").glob("Quartz*")))
    assert quartz.x.shape == (1868,) and 399 < quartz.x[0] < 400 and quartz.x[-1] > 3990
    lab6 = read_spectrum(data_dir / "xrd_lab6" / "LaB6_d500_si_psd.xye")
    assert lab6.x.shape == (17381,) and lab6.sigma is not None
