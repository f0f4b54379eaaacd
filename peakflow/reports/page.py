"""The shell of a report page: one self-contained HTML file (its style and script inline,
figures embedded, nothing fetched at view time), written whole or not at all."""

from __future__ import annotations

import datetime
import html
import json
import os
from importlib import metadata, resources
from pathlib import Path

from peakflow.io import atomic_write


def asset(name: str) -> str:
    """The text of a file shipped beside this module (``report.css``, ``report.js``)."""
    return resources.files("peakflow.reports").joinpath(name).read_text(encoding="utf-8")


def json_script(element_id: str, value) -> str:
    """`value` as JSON in an inert ``<script type="application/json">`` (``</`` escaped so
    that no string in it can close the element)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def stamp() -> str:
    """'peakflow VERSION, DATE' for a report's header (the installed distribution's
    version)."""
    try:
        release = metadata.version("peakflow")
    except metadata.PackageNotFoundError:
        release = "(not installed)"
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"peakflow {release}, {now}"


def write_page(path: str | os.PathLike, title: str, body: str, data: str = "",
               script: bool = True) -> Path:
    """Writes the page (atomically: a temporary name renamed when complete) and returns its
    path. `body` and the inert `data` scripts are HTML; `script` adds the report's script."""
    path = Path(path)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{asset('report.css')}</style></head>"
            f"<body>{body}{data}"
            + (f"<script>{asset('report.js')}</script>" if script else "")
            + "</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return path
