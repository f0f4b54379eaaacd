"""Metadata blocks of vendor exports and the fields recognised in them."""

import pytest

from peakflow.metadata import known_fields, parse_metadata


def test_every_key_value_layout_is_read():
    block = parse_metadata([
        "File Version;BWSpec4.11_6", "laser_wavelength;532,02", "intigration times(ms);1000",
        "id,abc123", "device,XYZ-100", "time_stamp,2024-05-01 10:00",
        "Operator\tJane", "#Instrument: inVia Reflex", "##DATE=2021/03/04",
        "Dataset Name:  Gauss1            (Gauss1.dat)", "just some words", "",
    ])
    assert block["laser_wavelength"] == "532,02" and block["intigration times(ms)"] == "1000"
    assert block["device"] == "XYZ-100" and block["time_stamp"] == "2024-05-01 10:00"
    assert block["Operator"] == "Jane" and block["Instrument"] == "inVia Reflex"
    assert block["DATE"] == "2021/03/04" and block["Dataset Name"].startswith("Gauss1")
    assert "just some words" not in block and len(block) == 10


@pytest.mark.parametrize("key, value, nm", [
    ("laser_wavelength", "532,02", 532.02), ("Laser Wavelength (nm)", "785", 785.0),
    ("Excitation wavelength", "632.8 nm", 632.8), ("laser", "532 nm", 532.0),
    ("Laser power", "300", None), ("laser_wavelength", "unknown", None),
    ("laser_wavelength", "5", None),                               # not a wavelength in nm
])
def test_the_laser_wavelength_is_recognised_by_its_key_and_range(key, value, nm):
    assert known_fields({key: value}).get("laser_nm") == nm


def test_exposure_instrument_and_date_are_kept_as_written():
    fields = known_fields({"integration time (ms)": "1000", "model": "i-Raman Plus",
                           "timestamp": "2024-01-01T10:00", "name": "PS"})
    assert fields == {"exposure": "1000", "instrument": "i-Raman Plus",
                      "date": "2024-01-01T10:00"}
