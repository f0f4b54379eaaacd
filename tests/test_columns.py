"""Columns chosen by what their names mean, and refused rather than guessed."""

import pytest

from peakflow.columns import ColumnError, choose, kind

BWTEK = ["Pixel", "Wavelength", "Wavenumber", "Raman Shift", "Dark", "Reference",
         "Raw data #1", "Dark Subtracted #1", "%TR #1", "Absorbance #1",
         "Irradiance (W/cm^2/nm) #1"]
CSV_EXPORT = ["Pixels", "Wavelength", "Wavenumbers", "Raman_Shift", "Raw_Data",
              "Background_Data", "Processed_Data"]


@pytest.mark.parametrize("name, expected", [
    ("Raman Shift", "raman_shift"), ("raman_shift (cm-1)", "raman_shift"),
    ("Wavenumbers", "wavenumber"), ("Wavenumber (cm^-1)", "wavenumber"),
    ("2Theta", "angle"), ("2-theta (deg)", "angle"), ("Energy (eV)", "energy"),
    ("Wavelength (nm)", "wavelength"), ("Pixels", "pixel"), ("Dark Subtracted #1", "processed"),
    ("Processed_Data", "processed"), ("Background subtracted", "processed"),
    ("Intensity (a.u.)", "intensity"), ("Counts", "intensity"), ("Raw data #1", "raw"),
    ("Dark", "dark"), ("Reference", "reference"), ("Background_Data", "background"),
    ("%TR #1", "transmittance"), ("%T", "transmittance"), ("Absorbance #1", "absorbance"),
    ("Irradiance (W/cm^2/nm) #1", "irradiance"), ("Sample 1", None),
])
def test_a_column_name_says_what_it_holds(name, expected):
    assert kind(name) == expected


@pytest.mark.parametrize("names, x, y", [
    (BWTEK, "Raman Shift", "Dark Subtracted #1"),
    (CSV_EXPORT, "Raman_Shift", "Processed_Data"),
    (["Pixel", "Wavelength", "Raw counts"], "Wavelength", "Raw counts"),       # no shift: λ
    (["y", "x"], "x", "y"),                                                     # NIST StRD
    (["Intensity", "Raman shift"], "Raman shift", "Intensity"),
    (["Wavenumber", "Absorbance"], "Wavenumber", "Absorbance"),  # two columns: the spectrum
    (["Wave", "Sample"], "Wave", "Sample"),                      # two columns, unknown names
])
def test_the_spectrum_is_chosen_by_name(names, x, y):
    choice = choose(names, len(names))
    assert (names[choice.x], names[choice.y]) == (x, y)
    assert repr(x) in choice.reason and "by their names" in choice.reason


def test_unnamed_columns_two_are_x_then_y_three_are_refused_unless_xye():
    assert (choose(None, 2).x, choose(None, 2).y) == (0, 1)
    assert (choose(None, 3, sigma_third=True).x, choose(None, 3, sigma_third=True).y) == (0, 1)
    with pytest.raises(ColumnError, match="3 numeric columns and no header line naming them"):
        choose(None, 3)


@pytest.mark.parametrize("names, message", [
    (["Raman Shift", "Dark", "Reference"], "no column is a spectrum's intensity"),
    (["Raman Shift", "%T", "Absorbance", "Irradiance"], "no column is a spectrum's intensity"),
    (["a", "b", "c"], "no column names an axis"),
])
def test_a_header_that_names_no_spectrum_is_refused_with_its_columns(names, message):
    with pytest.raises(ColumnError, match=message) as info:
        choose(names, len(names))
    assert all(repr(n) in str(info.value) for n in names) and "--x-col/--y-col" in str(info.value)


def test_the_callers_choice_by_name_or_index_wins():
    assert (choose(BWTEK, 11, x="raman shift", y="Raw data #1").x,
            choose(BWTEK, 11, x="raman shift", y="Raw data #1").y) == (3, 6)
    assert (choose(BWTEK, 11, x="raman_shift", y=7).x, choose(BWTEK, 11, y="-4").y) == (3, 7)
    with pytest.raises(ColumnError, match="no column named 'Shift'"):
        choose(["a", "b"], 2, x="Shift")
    with pytest.raises(ColumnError, match="column 5 is out of range"):
        choose(["a", "b"], 2, y=5)
    with pytest.raises(ColumnError, match="the same column"):
        choose(["a", "b"], 2, x=1, y=1)
