"""Runnable experiments (``python -m peakflow.experiments.<name>``) and their shared helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_json(path: Path | None, data: Any) -> None:
    """Writes `data` as indented JSON to `path` (creating its folder); nothing when None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
