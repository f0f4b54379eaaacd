"""Headless Chromium for checking HTML pages (reports): the DOM after the page's scripts
ran, what they wrote to the console, a screenshot. Uses the system's Chromium (Debian:
``apt-get install chromium``); `find_chromium` is None without one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
_CONSOLE = re.compile(r"CONSOLE[^\]]*\]\s*(.*)")


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM``, else ``chromium``/``chromium-browser``/
    ``google-chrome`` on the PATH), or None."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named if shutil.which(named) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@dataclass(frozen=True)
class Rendered:
    """A page as headless Chromium left it: ``dom`` (the serialised DOM after the scripts
    ran), ``console`` (every console message, errors included), ``seconds`` (the browser's
    wall time, start-up included)."""

    dom: str
    console: list[str]
    seconds: float

    def ready_ms(self) -> float | None:
        """The page's own ``data-ready`` mark (ms from navigation to the end of its script)."""
        found = re.search(r'<body[^>]*data-ready="(\d+)"', self.dom)
        return float(found.group(1)) if found else None


def render(url: str, screenshot: str | os.PathLike | None = None,
           size: tuple[int, int] = (1300, 1500), timeout: float = 120.0) -> Rendered:
    """Loads `url` (``file://...``, a query string allowed) in headless Chromium and returns
    its DOM and console; with `screenshot`, also saves a PNG of the first `size` pixels.

    Raises:
      RuntimeError: no Chromium, or it failed.
    """
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (apt-get install chromium, or set $CHROMIUM)")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, *FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={size[0]},{size[1]}"]
        command += [f"--screenshot={Path(screenshot).resolve()}"] if screenshot else []
        start = time.perf_counter()
        dom = subprocess.run(command + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=timeout)
        seconds = time.perf_counter() - start
        if screenshot:
            subprocess.run(command + [url], capture_output=True, timeout=timeout, check=True)
    if dom.returncode:
        raise RuntimeError(f"chromium failed ({dom.returncode}): {dom.stderr[-2000:]}")
    console = [m.group(1) for line in dom.stderr.splitlines()
               if (m := _CONSOLE.search(line))]
    return Rendered(dom.stdout, console, seconds)
