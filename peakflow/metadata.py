"""The metadata block above a table of numbers: ``key;value``, ``key,value``, ``key<TAB>value``,
``key: value``, ``#key: value`` and JCAMP-style ``##KEY=value`` lines, as vendor exports write
them, read into a dict; and the few fields a fit can use, recognised by their keys: the laser
wavelength (nm), the exposure, the instrument and the date."""

from __future__ import annotations

import re

_LINE = re.compile(r"^\s*#*\s*(?P<key>[A-Za-z][^;,\t:=]{0,80}?)\s*(?:[;,\t:=]|\s{2,})\s*"
                   r"(?P<value>.*?)\s*[;,]*\s*$")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")

# a known field: the keys (lower case, words joined by "_") that hold it
KNOWN = {
    "laser_nm": re.compile(r"^(laser|excitation)(_?(wave_?length|wl|lambda|line))?(_nm)?$|"
                           r"^wavelength_of_(the_)?laser(_nm)?$"),
    "exposure": re.compile(r"integration|exposure|acq\w*_?time|intigration"),
    "instrument": re.compile(r"^(instrument|device|spectrometer|model|system|model_?name)$"),
    "date": re.compile(r"^(date|time_?stamp|timestamp|acquired|date_?time|acquisition_?date)"),
}


def parse_metadata(lines: list[str]) -> dict[str, str]:
    """``{key: value}`` of the lines that look like a key and a value; others are skipped.

    Keys keep the file's spelling; the first of repeated keys wins.
    """
    out: dict[str, str] = {}
    for line in lines:
        match = _LINE.match(line)
        if match and match.group("value"):
            out.setdefault(match.group("key").strip(), match.group("value").strip())
    return out


def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def known_fields(header: dict[str, str]) -> dict[str, object]:
    """The fields of `header` a fit can use: ``laser_nm`` (float, a value between 150 and
    2,000 read with a decimal point or comma), ``exposure``, ``instrument``, ``date``
    (strings as written)."""
    out: dict[str, object] = {}
    for key, value in header.items():
        name = _normal(key)
        for field, pattern in KNOWN.items():
            if field in out or not pattern.search(name):
                continue
            if field == "laser_nm":
                number = _NUMBER.search(value)
                if number is None:
                    continue
                nm = float(number.group().replace(",", "."))
                if 150.0 <= nm <= 2000.0:
                    out[field] = nm
            else:
                out[field] = value
    return out
