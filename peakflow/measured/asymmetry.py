"""One asymmetric peak instead of a symmetric pair (``FitOptions(shape="asymmetric")``).

A real band a little asymmetric is fitted by the symmetric pseudo-Voigt as a main component plus
a companion on its broader side. After the refinement and pruning (`peakflow.measured.refine`)
every peak's asymmetry a is freed and refitted with the rest (`RELAX` Levenberg-Marquardt
steps from a = 0; peaks broader than a quarter of the window (`BROAD`), which stand for the
background more than for a band, stay symmetric, as do the coarse pass's and those that spread
that broad once freed (the window's peaks are then relaxed again without it, and a merge whose
result is that broad is refused: such a component reaches into the neighbouring windows, whose
own fits explained the same counts), then each window tries, for its closest pair of
components of similar width (centres within `REACH` × the larger FWHM, widths within
`WIDTH_RATIO`), one split pseudo-Voigt in their place
(`peakflow.core.lineshape.skewed_profile`: half-widths γ(1 ∓ a)), started at the pair's summed
curve (its maximum, its half-widths left and right) and refitted with every other peak of the
window by Levenberg-Marquardt (`STEPS`). The asymmetric peak stands when χ² rises by less than
the BIC price of the parameters it saves (`PRICE` = ln 252 per parameter: 3 for a pair of
symmetric peaks), so a pair of real peaks, which one asymmetric peak cannot mimic, stays a
pair. Each window tries the closest pair together with every peak linked to it by the same
rule (a band split in three), then, where that stood or the group held more than the pair, the
closest pair that remains (`ROUNDS`). A group whose summed curve has two maxima with a dip of
more than `DIP` between them is not tried: one split pseudo-Voigt has one.

The merged peak's Laplace posterior then has five coordinates (`peakflow.measured.laplace`);
its FWHM and area are those of the symmetric peak of width γ, its location c is its maximum.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from peakflow.core.buckets import padded_pieces
from peakflow.core.lineshape import fwhm_ratio, skewed_profile
from peakflow.measured.least_squares import levenberg_marquardt, normal_equations
from peakflow.measured.window_baseline import baseline_modes
from peakflow.measured.window_model import Window, make_window, peak_curves
from peakflow.runtime.serial import Serialized

REACH = 1.0         # candidate pairs: centres within this many (larger) FWHMs ...
WIDTH_RATIO = 3.0   # ... and widths within this factor
RELAX = 8           # Levenberg-Marquardt steps with every asymmetry freed
STEPS = 12          # and of a merged fit (from a start farther away; 30 before 2026-12-07:
                    # same bands, 1.5-1.9x the time, `experiments.asymmetric`)
ROUNDS = 2          # merges tried per window: its linked group, then its closest pair
PRICE = math.log(252.0)  # χ² per parameter saved (BIC on a window)
BROAD = 0.25        # peaks broader than this many windows (background-like) stay symmetric
DIP = 0.05          # a group whose summed curve dips this much between two maxima: not merged
SAMPLES = 128       # points of that curve


def _start(u: jax.Array, i, absorb: jax.Array, win: Window) -> jax.Array:
    """u (K, 5) with peak i replaced by one split pseudo-Voigt shaped like the sum of peak i
    and the peaks `absorb` ((K,) bool) at the window's points: its maximum (height and place)
    and its half-widths at half maximum on either side (a = (right − left) / (right +
    left))."""
    each = peak_curves(u, win)
    curve = each[i] + jnp.sum(jnp.where(absorb[:, None], each, 0.0), axis=0)
    top = jnp.argmax(curve)
    height, centre = curve[top], win.omega[top]
    below = curve < 0.5 * height
    left = centre - jnp.max(jnp.where(below & (win.omega < centre), win.omega, -jnp.inf))
    right = jnp.min(jnp.where(below & (win.omega > centre), win.omega, jnp.inf)) - centre
    fallback = 0.5 * jnp.exp(u[i, 2]) * fwhm_ratio(jax.nn.sigmoid(u[i, 3]))
    left = jnp.where(jnp.isfinite(left), left, fallback)
    right = jnp.where(jnp.isfinite(right), right, fallback)
    half = 0.5 * fwhm_ratio(jax.nn.sigmoid(u[i, 3]))
    merged = jnp.stack([jnp.log(height), centre, jnp.log(0.5 * (left + right) / half),
                        u[i, 3], jnp.clip((right - left) / (right + left), -0.6, 0.6)])
    return u.at[i].set(merged)


def _fwhm(u: jax.Array) -> jax.Array:
    """(...,) the FWHM (grid points) of peaks u (..., ≥ 4), of their symmetric shape."""
    return jnp.exp(u[..., 2]) * fwhm_ratio(jax.nn.sigmoid(u[..., 3]))


def merge(u, mask, skewed, chi2, win: Window, num_points: int, into, absorb):
    """One merge tried in one window (see the module docstring).

    Args:
      u: (K, 5) its peaks (a = 0 where not `skewed`); mask: (K,) those in use; skewed: (K,)
        the asymmetric ones; chi2: () their χ²; win: the window; num_points: W.
      into: () int, the peak that becomes the merged one (< 0: nothing to try); absorb: (K,)
        bool, the peaks merged into it.

    Returns:
      (u, mask, skewed, χ², merged ()).
    """
    slots = jnp.arange(u.shape[0])
    i = jnp.maximum(into, 0)
    fewer = mask & ~absorb
    now = (skewed | (slots == i)) & fewer
    active = jnp.concatenate([jnp.ones((u.shape[0], 4), bool), now[:, None]], axis=1)
    new, new_chi2 = levenberg_marquardt(_start(u, i, absorb, win), fewer, win, num_points,
                                        STEPS, active)
    gone = absorb & mask
    saved = (jnp.sum(jnp.where(gone, 4.0 + skewed, 0.0)) - (~skewed[i]).astype(u.dtype))
    merged = ((into >= 0) & jnp.any(gone) & (new_chi2 - chi2 < saved * PRICE)
              & (_fwhm(new[i]) < BROAD * num_points))
    return (jnp.where(merged, new, u), jnp.where(merged, fewer, mask),
            jnp.where(merged, now, skewed), jnp.where(merged, new_chi2, chi2), merged)


@functools.lru_cache(maxsize=16)
def compiled(num_points: int, degree: int, lam: float, grouped: bool, doublet: bool,
             step: float = 0.0):
    """Batched, jitted programs (call them under ``jax.enable_x64``): ``relax(u, mask, free,
    omega, values, weight, half, prior, pair)``: (u, χ², skewed) after `RELAX` steps with the
    asymmetry of every peak narrower than `BROAD` windows and `free` ((K,) bool) freed;
    ``try_merge(u, mask, skewed, chi2, omega, values, weight, half, prior, pair, into,
    absorb)`` (`merge`) and
    ``curvature(u, mask, skewed, omega, values, weight, half, prior, pair)``: (χ², JᵀMJ
    (5K, 5K) with the a of symmetric peaks inactive)."""
    table = jnp.asarray(baseline_modes(num_points, degree, lam)[0])

    def window(omega, values, weight, half, prior, pair):
        return make_window(omega, values, weight, half if grouped else None, table, prior,
                           pair if doublet else None, step)

    def try_merge(u, mask, skewed, chi2, omega, values, weight, half, prior, pair, into,
                  absorb):
        return merge(u, mask, skewed, chi2, window(omega, values, weight, half, prior, pair),
                     num_points, into, absorb)

    def relax(u, mask, free, omega, values, weight, half, prior, pair):
        win = window(omega, values, weight, half, prior, pair)
        skewed = mask & free & (_fwhm(u) < BROAD * num_points)
        active = jnp.concatenate([jnp.ones((u.shape[0], 4), bool), skewed[:, None]], axis=1)
        return (*levenberg_marquardt(u, mask, win, num_points, RELAX, active), skewed)

    def curvature(u, mask, skewed, omega, values, weight, half, prior, pair):
        active = jnp.concatenate([jnp.ones((u.shape[0], 4), bool), skewed[:, None]], axis=1)
        chi2, hess, _ = normal_equations(u, mask, window(omega, values, weight, half, prior,
                                                         pair), active)
        return chi2, hess

    return tuple(Serialized(jax.jit(jax.vmap(f))) for f in (relax, try_merge, curvature))


def candidates(u: np.ndarray, mask: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """What each window tries (`merge`): its closest pair of peaks in use, relative to the
    larger FWHM, of similar widths (within `WIDTH_RATIO`) and within `REACH`; with `whole`,
    every peak linked to that pair by the same rule (a band split in three) goes too. The
    tallest is kept.

    Args:
      u: (n, K, D) the windows' peaks; mask: (n, K) those in use.

    Returns:
      (into (n,) int, −1: nothing to try; absorb (n, K) bool).
    """
    count, slots = u.shape[:2]
    size = np.exp(u[..., 2]) * fwhm_ratio(1.0 / (1.0 + np.exp(-u[..., 3])), np)
    wide = np.maximum(size[:, :, None], size[:, None, :])
    apart = np.abs(u[:, :, None, 1] - u[:, None, :, 1]) / wide
    link = (mask[:, :, None] & mask[:, None, :] & (apart < REACH) & ~np.eye(slots, dtype=bool)
            & (wide < WIDTH_RATIO * np.minimum(size[:, :, None], size[:, None, :])))
    closest = np.argmin(np.where(link, apart, np.inf).reshape(count, slots * slots), axis=1)
    seed = np.zeros((count, slots), bool)
    rows = np.arange(count)
    seed[rows, closest // slots] = seed[rows, closest % slots] = True
    group = seed & link.any(axis=2)
    for _ in range(slots if whole else 0):            # everything linked to the pair
        group = group | np.any(group[:, :, None] & link, axis=1)
    height = np.where(group, u[..., 0], -np.inf)
    into = np.argmax(height, axis=1)
    absorb = group & (np.arange(slots)[None] != into[:, None])
    tried = absorb.any(axis=1) & ~_two_tops(u, group, size)
    return np.where(tried, into, -1).astype(np.int32), absorb


def _two_tops(u: np.ndarray, group: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(n,) bool: the summed curve of each window's `group` ((n, K) bool) of peaks u (n, K, D)
    (FWHMs `size`) has two maxima with a dip of more than `DIP` of the lower one between them,
    which one split pseudo-Voigt (unimodal) cannot follow: the merge is not tried."""
    centre = np.where(group, u[..., 1], np.nan)
    reach = np.nanmax(np.where(group, size, np.nan), axis=1, initial=0.0)
    lo = np.nanmin(centre, axis=1, initial=np.inf) - reach
    hi = np.nanmax(centre, axis=1, initial=-np.inf) + reach
    ok = np.isfinite(lo) & np.isfinite(hi)
    t = np.linspace(0.0, 1.0, SAMPLES)
    x = np.where(ok, lo, 0.0)[:, None] + np.where(ok, hi - lo, 1.0)[:, None] * t    # (n, S)
    a = u[..., 4:5] if u.shape[-1] == 5 else np.zeros(u.shape[:2] + (1,))
    curve = np.sum(np.where(group[..., None], skewed_profile(
        x[:, None, :], np.exp(u[..., 0:1]), u[..., 1:2], np.exp(u[..., 2:3]),
        1.0 / (1.0 + np.exp(-u[..., 3:4])), a, np), 0.0), axis=1)
    top = (curve[:, 1:-1] > curve[:, :-2]) & (curve[:, 1:-1] >= curve[:, 2:])
    peak_value = np.where(top, curve[:, 1:-1], -np.inf)
    first = np.argmax(peak_value, axis=1)                      # the highest maximum
    second = np.where(np.abs(np.arange(SAMPLES - 2)[None] - first[:, None]) > 1,
                      peak_value, -np.inf).argmax(axis=1)      # the next one
    rows = np.arange(len(u))
    lower = np.minimum(peak_value[rows, first], peak_value[rows, second])
    a_, b_ = np.minimum(first, second) + 1, np.maximum(first, second) + 1
    between = np.where((np.arange(SAMPLES)[None] >= a_[:, None])
                       & (np.arange(SAMPLES)[None] <= b_[:, None]), curve, np.inf).min(axis=1)
    return ok & np.isfinite(lower) & (between < (1.0 - DIP) * lower)


def merge_chunk(programs, u: np.ndarray, mask: np.ndarray, points: tuple, prior: np.ndarray,
                pair: np.ndarray, num_points: int):
    """Every peak's asymmetry freed and refitted, then merges tried in a chunk of refined
    windows (`ROUNDS`: the linked group, then the closest pair), then each window's JᵀMJ in
    five coordinates.

    Args:
      programs: `compiled`'s; u: (n, K, 4) refined peaks; mask: (n, K); points, prior, pair:
        the windows' arrays as the refinement's programs take them; num_points: W.

    Returns:
      (u (n, K, 5), mask, skewed (n, K), JᵀMJ (n, 5K, 5K), χ² (n,)), numpy.
    """
    relax, try_merge, curvature = programs
    start = np.concatenate([u, np.zeros(u.shape[:2] + (1,))], axis=2)
    free = np.ones(mask.shape, bool)
    u, chi2, skewed = (np.array(a) for a in relax(start, mask, free, *points, prior, pair))
    spread = skewed & (np.asarray(_fwhm(u)) >= BROAD * num_points)
    free &= ~spread     # a freed peak that spread beyond `BROAD` stays symmetric: redo those
    for take, n in padded_pieces(np.flatnonzero(spread.any(axis=1)), len(u)):
        out = relax(start[take], mask[take], free[take], *(a[take] for a in points),
                    prior[take], pair[take])
        for whole, new in zip((u, chi2, skewed), out):
            whole[take[:n]] = np.asarray(new)[:n]
    rows, merged = np.arange(len(u)), np.zeros(len(u), bool)
    for round_ in range(ROUNDS):       # the whole linked group first, then the closest pair
        if not rows.size:
            break
        into, absorb = candidates(u[rows], mask[rows], round_ == 0)
        rows, absorb = rows[into >= 0], absorb[into >= 0]
        for take, n in padded_pieces(rows, len(u)):
            out = try_merge(u[take], mask[take], skewed[take], chi2[take],
                            *(a[take] for a in points), prior[take], pair[take],
                            *candidates(u[take], mask[take], round_ == 0))
            for whole, new in zip((u, mask, skewed, chi2, merged), out):
                whole[take[:n]] = np.asarray(new)[:n]
        # a pair that did not merge would be tried again as the closest pair: only windows
        # whose merge stood, or whose group held more than the pair, go on
        rows = rows[merged[rows] | (absorb.sum(axis=1) > 1)]
    hess = np.array(curvature(u, mask, skewed, *points, prior, pair)[1])
    return u, mask, skewed, hess, chi2
