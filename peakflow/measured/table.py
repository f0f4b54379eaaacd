"""`Columns`: the base of the result tables (peaks, bands, windows): every field an array with
one entry (or row) per item."""

from __future__ import annotations

from dataclasses import fields

import numpy as np


class Columns:
    """Rows of a table whose every field is an array with one entry (or row) per item."""

    def take(self, index: np.ndarray):
        """The rows at `index`, in that order."""
        return type(self)(**{f.name: np.asarray(getattr(self, f.name))[index]
                             for f in fields(self)})  # type: ignore[arg-type]  # a dataclass

    @classmethod
    def concatenate(cls, first, second):
        """The rows of `first`, then those of `second`."""
        return cls(**{f.name: np.concatenate([getattr(first, f.name), getattr(second, f.name)])
                      for f in fields(cls)})
