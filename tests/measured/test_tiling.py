"""Overlapping windows and one peak list from the windows' peaks."""

import numpy as np
import pytest

from peakflow.measured.tiling import merge, owner, window_starts


def test_windows_cover_the_grid_and_each_point_has_an_owner_away_from_edges():
    starts = window_starts(1000, 256)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert np.all(np.diff(starts) <= 192)
    positions = np.arange(1000)
    own = owner(positions, starts, 256)
    inner = (positions - starts[own] >= 32) & (starts[own] + 255 - positions >= 32)
    edge = (positions < 32) | (positions > 999 - 32)  # only the spectrum's own ends
    assert np.all(inner | edge)
    with pytest.raises(ValueError, match="shorter than one window"):
        window_starts(100, 256)


def test_merge_keeps_one_copy_of_a_peak_and_both_peaks_of_a_doublet():
    starts = np.array([0, 128, 256])  # centres 127.5, 255.5, 383.5
    # one peak near the 0/1 boundary (191.5) seen by both windows, straddling it;
    # a close doublet inside window 1, also seen by window 2 near its edge
    position = np.array([192.5, 190.8, 250.0, 258.0, 250.5, 258.6])
    window = np.array([0, 1, 1, 1, 2, 2])
    size = np.full(6, 12.0)
    keep = merge(position, window, size, starts, 256)
    kept = sorted(position[keep])
    assert len(kept) == 3
    assert kept[0] == pytest.approx(190.8, abs=2.0)  # one copy of the straddling peak
    assert kept[1:] == [250.0, 258.0]  # the doublet, from the window that centres it


def test_starts_are_evenly_spread_and_no_window_nearly_repeats_another():
    for n in (256, 257, 448, 1000, 3717):
        gaps = np.diff(window_starts(n, 256))
        assert np.all(gaps <= 192) and (gaps.size == 0 or gaps.max() - gaps.min() <= 1)


def test_merge_keeps_the_owner_when_two_other_windows_agree_more_closely():
    # a peak at 185 lies in the domain of window 0 (centres 127.5, 255.5, 260.5 with window 2
    # nearly repeating window 1); windows 1 and 2 agree to 0.02 points, window 0 is 0.1 off
    starts = np.array([0, 128, 133])
    position = np.array([185.1, 185.0, 185.02])
    window = np.array([0, 1, 2])
    keep = merge(position, window, np.full(3, 10.0), starts, 256)
    assert keep.tolist() == [True, False, False]
