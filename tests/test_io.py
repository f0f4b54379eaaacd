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


def test_an_spc_file_without_a_date_is_read_quietly(tmp_path, capsys):
    """As a WITec export: the header's packed date is zero (spc-io logs 'year 0 is out of
    range' on stderr); the reader's note goes into meta instead."""
    from spc_io.high_level import SPC, EvenAxis

    written = SPC(xarray=EvenAxis(start=400.0, stop=404.5, num=len(X)))
    written.add_subfile(yarray=Y.astype(np.float32))
    raw = bytearray(written.to_spc_raw().to_bytes())
    raw[32:36] = bytes(4)                                   # fdate: year, month, day = 0
    (tmp_path / "witec.spc").write_bytes(bytes(raw))
    s = read_spectrum(tmp_path / "witec.spc")
    np.testing.assert_allclose(s.y, Y, rtol=1e-6)
    assert "year 0 is out of range" in s.meta["reader_notes"][0]
    assert capsys.readouterr().err == ""


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


# ---- vendor exports: columns by meaning, metadata blocks, wavelength axes (written here
# following the layouts instruments write; the values are synthetic)

LASER = 532.02
PIXELS = np.arange(300)
WAVELENGTH = 536.0 + 0.25 * PIXELS
SHIFT = 1e7 / LASER - 1e7 / WAVELENGTH
SIGNAL = 100 + 900 * np.exp(-0.5 * ((SHIFT - 1001.4) / 4) ** 2)


def _comma(v: float) -> str:
    return f"{v:.4f}".replace(".", ",")


def write_bwtek(path, calibrated=slice(20, 280)):
    """B&W Tek (BWSpec) text export: ';', decimal comma, key;value block, a trailing ';', and
    empty axis fields on uncalibrated pixels."""
    lines = ["File Version;BWSpec4.11_6", "date;2024-01-01", f"laser_wavelength;{_comma(LASER)}",
             "pixel_start;0", "intigration times(ms);1000", "model;i-Raman Plus"]
    lines += [f"key_{i};{i}" for i in range(80)]
    lines.append("Pixel;Wavelength;Wavenumber;Raman Shift;Dark;Reference;Raw data #1;"
                 "Dark Subtracted #1;%TR #1;Absorbance #1;Irradiance (W/cm^2/nm) #1;")
    inside = np.zeros(PIXELS.size, bool)
    inside[calibrated] = True
    for i in PIXELS:
        axis = [_comma(v) if inside[i] else "   "
                for v in (WAVELENGTH[i], 1e7 / WAVELENGTH[i], SHIFT[i])]
        values = [1038.0, 65535.0, SIGNAL[i] + 1038.0, SIGNAL[i], 0.0, 0.0, 0.0]
        lines.append(";".join([str(i), *axis, *map(_comma, values)]) + ";")
    path.write_text("\n".join(lines) + "\n")
    return inside


def test_a_bwtek_export_is_read_as_raman_shift_and_dark_subtracted_signal(tmp_path):
    inside = write_bwtek(tmp_path / "bwtek.txt")
    s = read_spectrum(tmp_path / "bwtek.txt")
    np.testing.assert_allclose(s.x, SHIFT[inside], atol=1e-4)
    np.testing.assert_allclose(s.y, SIGNAL[inside], atol=1e-4)   # rows without a shift dropped
    assert s.x_label == "Raman Shift" and s.y_label == "Dark Subtracted #1"
    assert s.meta["columns_chosen"] == ("x = 'Raman Shift', y = 'Dark Subtracted #1' (by their "
                                        "names)")
    assert s.meta["laser_nm"] == LASER and s.meta["instrument"] == "i-Raman Plus"
    assert s.meta["date"] == "2024-01-01" and s.meta["exposure"] == "1000"
    assert s.meta["header"]["pixel_start"] == "0" and len(s.meta["header"]) == 86
    raw = read_spectrum(tmp_path / "bwtek.txt", x="Pixel", y="raw data #1")
    np.testing.assert_allclose(raw.y, SIGNAL + 1038.0, atol=1e-4)  # every pixel: all named
    assert raw.x.size == PIXELS.size


def test_a_csv_export_with_a_metadata_block(tmp_path):
    lines = ["id,abc123", "name,polystyrene", "device,XYZ-100", "time_stamp,2024-05-01 10:00",
             "Pixels,Wavelength,Wavenumbers,Raman_Shift,Raw_Data,Background_Data,Processed_Data"]
    lines += [",".join(f"{v:.6f}" for v in (i, WAVELENGTH[i], 1e7 / WAVELENGTH[i], SHIFT[i],
                                             SIGNAL[i] + 50, 50.0, SIGNAL[i])) for i in PIXELS]
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n")
    s = read_spectrum(tmp_path / "export.csv")
    np.testing.assert_allclose(s.x, SHIFT, atol=1e-5)
    np.testing.assert_allclose(s.y, SIGNAL, atol=1e-5)
    assert s.meta["instrument"] == "XYZ-100" and s.meta["header"]["name"] == "polystyrene"


def test_a_tab_key_value_block_above_two_columns(tmp_path):
    body = "Title\tquartz\nOperator\tsomeone\nLaser\t785 nm\n" + "".join(
        f"{x}\t{y}\n" for x, y in zip(X, Y))
    (tmp_path / "tab.txt").write_text(body)
    s = read_spectrum(tmp_path / "tab.txt")
    np.testing.assert_allclose(s.x, X)
    np.testing.assert_allclose(s.y, Y)
    assert s.meta["header"]["Operator"] == "someone" and s.meta["laser_nm"] == 785.0


@pytest.mark.parametrize("body, message", [
    ("".join(f"{i} {w} {v}\n" for i, w, v in zip(PIXELS, WAVELENGTH, SIGNAL)),
     "3 numeric columns and no header line naming them"),
    ("Raman Shift,Dark,Reference\n" + "".join(f"{a},{b},{c}\n" for a, b, c in
                                              zip(SHIFT, SIGNAL, SIGNAL)),
     "no column is a spectrum's intensity .*'Raman Shift', 1 'Dark', 2 'Reference'"),
])
def test_ambiguous_tables_are_refused_with_their_columns(tmp_path, body, message):
    (tmp_path / "ambiguous.txt").write_text(body)
    with pytest.raises(SpectrumFileError, match=message) as info:
        read_spectrum(tmp_path / "ambiguous.txt")
    assert "--x-col/--y-col" in str(info.value)


def test_a_wavelength_axis_becomes_raman_shift_with_the_laser(tmp_path):
    body = "Wavelength (nm)\tIntensity\n" + "".join(
        f"{w}\t{v}\n" for w, v in zip(WAVELENGTH, SIGNAL))
    (tmp_path / "nm.txt").write_text(body)
    plain = read_spectrum(tmp_path / "nm.txt")
    np.testing.assert_allclose(plain.x, WAVELENGTH)                  # no laser: kept in nm
    shifted = read_spectrum(tmp_path / "nm.txt", laser_nm=LASER)
    np.testing.assert_allclose(shifted.x, SHIFT, atol=1e-9)
    assert shifted.x_label.startswith("Raman shift (cm-1, from Wavelength (nm) with a 532.02")
    (tmp_path / "meta.txt").write_text(f"laser wavelength;{LASER}\n" + body)
    np.testing.assert_allclose(read_spectrum(tmp_path / "meta.txt").x, SHIFT, atol=1e-9)
