"""One row per band: the components that the data cannot tell apart, reported together.

A real band that is not exactly a symmetric pseudo-Voigt (slightly asymmetric, a little
Lorentzian-Gaussian mix the shape cannot follow) is fitted as a main component plus one or two
companions beside it; each is a real part of the fit (the residual needs it) but not a band of
its own. `band_labels` groups a spectrum's peaks into bands and `band_table` reports each band
as the summed shape of its components:

* **grouping**: two components of similar widths (within a factor `WIDTH_RATIO`) belong to
  one band when their heights trade off (the posterior correlation of their heights below
  `TRADE`, within one larger FWHM of each other: the data fix their sum, not the split) or
  when they are closer than `REACH` × the larger FWHM, and in either case their summed curve
  has no dip between them (a second maximum is what a spectroscopist calls two bands: RRUFF
  quartz's 777 and 797 cm⁻¹ doublet, 19.5 cm⁻¹ apart with FWHM 20 and 16, trades heights
  at −0.73 but shows two maxima, and was one band when the trade alone linked); bands are
  the connected groups (single-linkage), numbered in order of location. A component much
  broader than its neighbours (a part of the background, or a broad band under narrow ones)
  links to none of them: through it single linkage would chain a whole spectrum into one
  band. Measured on fragments of split pseudo-Voigt bands
  (`peakflow.experiments.asymmetric`) against pairs of true peaks closer than 2 FWHM (the
  realistic and harsh sets), 30 spectra each: 95 % of the fragment pairs and 5 % of the true
  pairs are linked. A chain can still join two bands through a component linked to both (a
  broad companion between them); a group whose summed curve has two maxima with a dip of
  `SPLIT_DIP` or more of the lower one between them is cut at that dip (`_split_at_dips`:
  polystyrene's 1,155 and 1,182 cm⁻¹ bands, joined through a companion at 1,163).
* **summed shape**: a band's ``location`` is the centroid of the summed shape over its
  extent (each component ± `EXTENT` FWHM: a single component's centroid is its centre),
  ``height`` its maximum, ``fwhm`` the width at half that maximum, ``area`` the sum of the
  components' areas; a one-component band is that component's row.
* **uncertainty**: each band's sds are the sds of those four over joint posterior draws of
  its components (`PeakDraws`: components refined in one window drawn with their
  correlations, so that a sum whose split is uncertain gets the small sd the data give it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from peakflow.core.lineshape import Peaks, area, profile, skewed_profile
from peakflow.measured.table import Columns

# a fit's `peakflow.measured.results.PeakTable` and `PeakDraws` (results imports this module)
PeakTable = Any
PeakDraws = Any

TRADE = -0.6     # components within 1 (larger) FWHM whose heights correlate below this ...
REACH = 0.8      # ... or closer than this many (larger) FWHMs ...
DIP = 0.02       # ... whose sum does not dip by this share of the lower top are one band,
SPLIT_DIP = 0.2  # a group whose summed curve dips by this share of the lower top: two bands
WIDTH_RATIO = 3.0  # unless one is more than this many times broader (a background's part)
EXTENT = 3.0     # a band's curve is evaluated over each component ± this many FWHMs
SAMPLES = 256    # points across a band's extent
NUM_DRAWS = 256  # joint draws behind a band's sds


@dataclass(frozen=True)
class BandTable(Columns):
    """The bands of one spectrum, sorted by location; each field (B,).

    ``location`` (the summed shape's centroid), ``maximum`` (where it is highest), ``fwhm`` in
    x units, ``height`` (its maximum) in y units, ``area`` in x·y units, each with its sd in
    ``<name>_sd``; ``probability``: the largest existence probability of its components;
    ``components``: how many peaks it holds; ``members``: (B,) object array, each the indices
    of its peaks in the fit's `PeakTable`.
    """

    location: np.ndarray
    location_sd: np.ndarray
    maximum: np.ndarray
    maximum_sd: np.ndarray
    height: np.ndarray
    height_sd: np.ndarray
    fwhm: np.ndarray
    fwhm_sd: np.ndarray
    area: np.ndarray
    area_sd: np.ndarray
    probability: np.ndarray
    components: np.ndarray
    members: np.ndarray

    def __len__(self) -> int:
        return int(self.location.size)

    @classmethod
    def empty(cls) -> BandTable:
        """A table without bands."""
        values = {f.name: np.zeros(0) for f in fields(cls)}
        return cls(**values | {"components": np.zeros(0, np.int64),
                               "members": np.empty(0, object)})

    def rows(self) -> list[dict]:
        """One dict per band: every column (``members`` as a list of peak indices)."""
        return [{f.name: ([int(m) for m in self.members[i]] if f.name == "members"
                          else np.asarray(getattr(self, f.name))[i].item())
                 for f in fields(self)} for i in range(len(self))]


def _pair_has_dip(peaks: PeakTable, i: int, j: int) -> bool:
    """Whether the sum of peaks i and j dips between their centres by `DIP` of the lower of
    its values there (two maxima: two bands)."""
    lo, hi = sorted((peaks.location[i], peaks.location[j]))
    x = np.linspace(lo, hi, 65)
    total = sum(profile(x, peaks.amplitude[k], peaks.location[k], peaks.width[k],
                        peaks.lorentzian[k], xp=np) for k in (i, j))
    low = min(total[0], total[-1])
    return bool(total.min() < (1.0 - DIP) * low)


def height_correlation(draws: PeakDraws | None) -> np.ndarray | None:
    """(P, P) the posterior correlation of the peaks' log-heights: from their windows' joint
    Laplace correlations (`PeakDraws.joint`) for peaks refined in one window, 0 between
    others; None without joint draws."""
    if draws is None or draws.joint is None or draws.group is None or draws.slot is None:
        return None
    group, index = draws.group, 4 * draws.slot
    corr = np.asarray(draws.joint, np.float64)[np.maximum(group, 0)[:, None], index[:, None],
                                               index[None, :]]
    same = (group[:, None] == group[None, :]) & (group[:, None] >= 0)
    return np.where(same | np.eye(group.size, dtype=bool), corr, 0.0)


def band_labels(peaks: PeakTable, correlation: np.ndarray | None = None) -> np.ndarray:
    """(P,) the band of each peak (0, 1, ... in order of location; see the module docstring).

    Args:
      peaks: the spectrum's peaks (sorted by location).
      correlation: (P, P) the posterior correlation of their heights, or None.
    """
    count = len(peaks)
    parent = np.arange(count)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            apart = abs(peaks.location[j] - peaks.location[i])
            wide = max(peaks.fwhm[i], peaks.fwhm[j])
            if wide > WIDTH_RATIO * min(peaks.fwhm[i], peaks.fwhm[j]) or apart >= wide:
                continue
            trade = correlation is not None and correlation[i, j] < TRADE
            if (trade or apart < REACH * wide) and not _pair_has_dip(peaks, i, j):
                parent[root(j)] = root(i)
    roots = _split_at_dips(peaks, np.array([root(i) for i in range(count)], np.int64))
    first = {r: k for k, r in enumerate(dict.fromkeys(roots[np.argsort(peaks.location,
                                                                       kind="stable")]))}
    return np.array([first[r] for r in roots], np.int64)


def _split_at_dips(peaks: PeakTable, groups: np.ndarray) -> np.ndarray:
    """(P,) `groups` (a group id per peak) with every group of three or more whose summed
    curve dips between two maxima by `SPLIT_DIP` of the lower one cut there: the peaks on
    either side of the dip (by centre) get different ids."""
    out, fresh = groups.copy(), int(groups.max(initial=-1)) + 1
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        if members.size < 3:
            continue
        loc = peaks.location[members]
        x = np.linspace(loc.min(), loc.max(), SAMPLES)
        total = sum(profile(x, peaks.amplitude[k], peaks.location[k], peaks.width[k],
                            peaks.lorentzian[k], xp=np) for k in members)
        tops = np.flatnonzero((total[1:-1] > total[:-2]) & (total[1:-1] >= total[2:])) + 1
        tops = np.concatenate([[0] if total[0] > total[1] else [], tops,
                               [x.size - 1] if total[-1] > total[-2] else []]).astype(int)
        cuts = [x[a + np.argmin(total[a:b + 1])] for a, b in zip(tops[:-1], tops[1:])
                if total[a:b + 1].min() < (1.0 - SPLIT_DIP) * min(total[a], total[b])]
        side = np.searchsorted(np.asarray(cuts), loc)
        out[members] = np.where(side == 0, group, fresh + side - 1)
        fresh += len(cuts)
    return out


def summed_shape(x: np.ndarray, peaks: Peaks, asymmetry=None) -> tuple[np.ndarray, ...]:
    """Centroid, position of the maximum, maximum and FWHM of the sum of peaks on the grid x
    (the maximum and the half-maximum crossings interpolated between grid points).

    Args:
      x: (G,) ascending, uniform grid over the band's extent.
      peaks: fields (..., m): the components (a leading axis of draws, say).
      asymmetry: (..., m) their asymmetries (`skewed_profile`), or None: symmetric.

    Returns:
      (centroid, maximum, height, fwhm), each (...,).
    """
    params = [np.asarray(v)[..., None] for v in peaks]
    curve = (profile(x, *params, xp=np) if asymmetry is None else
             skewed_profile(x, *params, np.asarray(asymmetry)[..., None], np)).sum(axis=-2)
    centroid = np.sum(curve * x, axis=-1) / np.sum(curve, axis=-1)
    top = np.argmax(curve, axis=-1)
    around = np.clip(top[..., None] + np.arange(-1, 2), 0, x.size - 1)
    a, b, c = np.moveaxis(np.take_along_axis(curve, around, axis=-1), -1, 0)
    bend = a - 2.0 * b + c
    shift = np.where(bend < 0, np.clip(0.5 * (a - c) / np.where(bend < 0, bend, -1.0), -0.5,
                                       0.5), 0.0)
    maximum = x[top] + shift * (x[1] - x[0])
    height = b - 0.25 * (a - c) * shift
    half = 0.5 * height[..., None]
    above = curve >= half
    index = np.arange(x.size)
    left = np.max(np.where(~above & (index <= top[..., None]), index, -1), axis=-1)
    right = np.min(np.where(~above & (index >= top[..., None]), index, x.size), axis=-1)
    left_x = _crossing(x, curve, np.maximum(left, 0), half[..., 0], x[0])
    right_x = _crossing(x, curve, np.minimum(right, x.size - 1) - 1, half[..., 0], x[-1])
    left_x = np.where(left < 0, x[0], left_x)
    right_x = np.where(right >= x.size, x[-1], right_x)
    return centroid, maximum, height, right_x - left_x


def _crossing(x, curve, k, level, default):
    """x where the curve crosses `level` between grid points k and k + 1 (linear)."""
    k = np.clip(k, 0, x.size - 2)
    a = np.take_along_axis(curve, k[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(curve, k[..., None] + 1, axis=-1)[..., 0]
    t = np.where(b != a, (level - a) / np.where(b != a, b - a, 1.0), 0.5)
    return x[k] + np.clip(t, 0.0, 1.0) * (x[k + 1] - x[k])


def _band_row(peaks: PeakTable, members: np.ndarray, draws: tuple | None) -> dict:
    """One band's row from its member peaks (indices `members`) and their joint draws
    ((`Peaks` with fields (S, P), asymmetries (S, P)), or None: sds of a one-component
    symmetric band from its row, NaN otherwise)."""
    p = peaks.take(members)
    base = {"probability": float(p.probability.max()), "components": int(members.size),
            "area": float(p.area.sum())}
    if members.size == 1 and not p.asymmetry[0]:
        return base | {"location": p.location[0], "location_sd": p.location_sd[0],
                       "maximum": p.location[0], "maximum_sd": p.location_sd[0],
                       "height": p.amplitude[0], "height_sd": p.amplitude_sd[0],
                       "fwhm": p.fwhm[0], "fwhm_sd": p.fwhm_sd[0], "area_sd": p.area_sd[0]}
    x = np.linspace(np.min(p.location - EXTENT * p.fwhm), np.max(p.location + EXTENT * p.fwhm),
                    SAMPLES)
    mean = Peaks(p.amplitude, p.location, p.width, p.lorentzian)
    names = ("location", "maximum", "height", "fwhm")
    skewed = bool(np.any(p.asymmetry))
    row = base | {n: float(v) for n, v in zip(names, summed_shape(
        x, mean, p.asymmetry if skewed else None))}
    if draws is None:
        return row | {f"{n}_sd": np.nan for n in names + ("area",)}
    own = Peaks(*(np.asarray(v)[:, members] for v in draws[0]))
    total = area(own.amplitude, own.width, own.lorentzian).sum(axis=1)
    shape = summed_shape(x, own, draws[1][:, members] if skewed else None)
    spread = [float(v.std()) for v in shape + (total,)]
    return row | {f"{n}_sd": v for n, v in zip(names + ("area",), spread)}


def band_table(peaks: PeakTable, draws: PeakDraws | None, labels: np.ndarray | None = None,
               seed: int = 0, num: int = NUM_DRAWS) -> BandTable:
    """The bands of a spectrum's peaks (see the module docstring).

    Args:
      peaks: the spectrum's `PeakTable`; draws: its `PeakDraws` (None: bands of several
        components get NaN sds).
      labels: (P,) the band of each peak; None: `band_labels` with the heights' correlation
        from `draws`.
      seed, num: the draws behind the sds.
    """
    if not len(peaks):
        return BandTable.empty()
    if labels is None:
        labels = band_labels(peaks, height_correlation(draws))
    several = np.bincount(labels).max() > 1 or np.any(peaks.asymmetry)
    sampled = (draws.sample_with_asymmetry(np.random.default_rng(seed), num)
               if draws is not None and several else None)
    rows = [_band_row(peaks, np.flatnonzero(labels == b), sampled)
            for b in range(int(labels.max()) + 1)]
    members = np.empty(len(rows), object)
    members[:] = [np.flatnonzero(labels == b) for b in range(len(rows))]
    columns = {f.name: np.array([row[f.name] for row in rows],
                                np.int64 if f.name == "components" else np.float64)
               for f in fields(BandTable) if f.name != "members"}
    order = np.argsort(columns["location"], kind="stable")
    return BandTable(**columns, members=members).take(order)


def band_frame(bands: BandTable, spectrum=None):
    """The band table as a `pandas.DataFrame`: one row per band, every column, ``members``
    as the peaks' indices joined by ";", a ``spectrum`` column first."""
    import pandas as pd

    columns = {f.name: (np.asarray(getattr(bands, f.name)) if f.name != "members" else
                        [";".join(str(int(m)) for m in row) for row in bands.members])
               for f in fields(BandTable)}
    frame = pd.DataFrame(columns)
    frame.insert(0, "spectrum", spectrum)
    return frame


def bands_to_dataframe(fits: list):
    """The bands of many fits (`SpectrumFit.bands`) in one `pandas.DataFrame` with a
    ``spectrum`` column (the fit's name, or its index in `fits`); failed fits add no rows."""
    import pandas as pd

    frames = [band_frame(f.bands, f.name if f.name is not None else i)
              for i, f in enumerate(fits)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

