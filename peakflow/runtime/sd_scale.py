"""Calibrated amortized sds: the per-coordinate factors a model's posterior sds are widened by.

The amortized q's sds match the exact posterior's (MCMC: median ratio 0.96–1.01), but its
means carry the network's own error (the amortization gap), so intervals of the exact width
centred on them cover too little. Measured on the bundled grid model (2,000 held-out spectra of
its own simulator, seed 99, 3,901 matched peaks): the true u = (log α, c, log γ, logit η) lay
within ±1.645 sd of q's mean for 0.83 / 0.84 / 0.83 / 0.71 of peaks instead of 0.90. A model
directory may carry ``sd_scale.json``: one factor per coordinate, f_i = (90th percentile of
|z_i|) / 1.645 over such held-out peaks (z the standardised error;
`peakflow.experiments.calibrate_sds` fits and writes it), by which `peakflow.infer` multiplies
q's sds (`CorrelatedQ.scaled`: correlations and the means of α, c, γ and η kept). The
exactness step samples from the policy's own q (`unscaled`): starting it from the widened q
lowered the share of spectra with trustworthy k̂ from 0.88 to 0.64 (measured).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

import numpy as np
from scipy import stats

SD_SCALE = "sd_scale.json"
BLOCK = 65536  # rows calibrated at a time by `calibrate_in_place`
Q = TypeVar("Q")  # a variational family: `CorrelatedQ` (the only one with `scaled`)


def read_sd_scale(directory: str | os.PathLike | None) -> np.ndarray | None:
    """(4,) the factors a model directory's ``sd_scale.json`` gives, or None (no file).

    Raises:
      ValueError: a file that does not hold four finite positive factors.
    """
    if directory is None:
        return None
    path = Path(directory) / SD_SCALE
    if not path.is_file():
        return None
    try:
        factors = np.asarray(json.loads(path.read_text())["factors"], np.float64)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: unreadable ({err})") from err
    return _checked(factors, path)


def write_sd_scale(directory: str | os.PathLike, factors, about: dict) -> Path:
    """Writes ``sd_scale.json`` (the (4,) `factors` and `about`: how they were fitted) into a
    model directory; the caller rewrites its manifest."""
    path = Path(directory) / SD_SCALE
    factors = _checked(np.asarray(factors, np.float64), path)
    path.write_text(json.dumps({"factors": factors.tolist(), **about}, indent=1) + "\n")
    return path


def _checked(factors: np.ndarray, path: Path) -> np.ndarray:
    if factors.shape != (4,) or not np.all(np.isfinite(factors)) or np.any(factors <= 0):
        raise ValueError(f"{path}: sd factors must be 4 finite positive numbers "
                         f"(log α, c, log γ, logit η), got {factors.tolist()}")
    return factors


def scale_factors(z: np.ndarray, level: float = 0.9) -> np.ndarray:
    """(D,) the factor per coordinate that makes the central `level` interval cover `level`
    of the standardised errors z (M, D): the `level` quantile of |z| over its normal value."""
    z = np.asarray(z, np.float64)
    if z.ndim != 2 or not z.shape[0]:
        raise ValueError(f"need standardised errors (M, D) with M > 0, got shape {z.shape}")
    return np.quantile(np.abs(z), level, axis=0) / stats.norm.ppf(0.5 + level / 2.0)


def scaled(q: Q, factors) -> Q:
    """q with its sds calibrated by the (4,) `factors` (`CorrelatedQ.scaled`); as is when
    `factors` is None."""
    return q if factors is None else q.scaled(np.asarray(factors, np.float64))


def unscaled(q: Q, factors) -> Q:
    """The policy's own q from one `scaled` by `factors` (None: q as is)."""
    return q if factors is None else q.scaled(1.0 / np.asarray(factors, np.float64))


def calibrate_in_place(q: Q, factors, block: int = BLOCK) -> Q:
    """`scaled`, written block by block of `block` rows into q's own arrays (the prediction
    loop's buffers: a million-spectrum posterior is not held twice); returns q."""
    if factors is None:
        return q
    arrays = tuple(q)  # type: ignore[arg-type]
    for start in range(0, len(arrays[0]), block):
        part = type(q)(*(a[start:start + block] for a in arrays))  # type: ignore[call-arg]
        for whole, piece in zip(arrays, scaled(part, factors)):  # type: ignore[call-overload]
            whole[start:start + block] = piece
    return q
