import numpy as np
import pytest

from peakflow.core.buckets import (
    MAX_WASTE,
    MIN_ROWS,
    bucket_size,
    ladder,
    ladder_size,
    padded_pieces,
    pieces,
)


def test_bucket_sizes_are_powers_of_two_or_one_and_a_half_times_one():
    sizes = {bucket_size(n) for n in range(1, 5000)}
    assert all(s & (s - 1) == 0 or (2 * s // 3) & (2 * s // 3 - 1) == 0 for s in sizes)
    assert all(bucket_size(n) >= n and bucket_size(n) <= 1.5 * n + 1 for n in range(1, 5000))


@pytest.mark.parametrize("cap", [8, 100, 256, 1024])
def test_the_ladder_is_a_few_sizes_four_times_apart_ending_at_the_cap(cap):
    sizes = ladder(cap)
    assert sizes[0] == MIN_ROWS and sizes[-1] == max(cap, MIN_ROWS)
    assert all(b == 4 * a for a, b in zip(sizes[:-2], sizes[1:-1]))
    assert len(sizes) == int(np.ceil(np.log(max(cap, 8) / 8) / np.log(4))) + 1
    assert ladder_size(1, cap) == MIN_ROWS and ladder_size(cap + 5, cap) == sizes[-1]


@pytest.mark.parametrize("cap", [256, 1024])
def test_pieces_cover_any_count_with_ladder_sizes_and_little_padding(cap):
    allowed = set(ladder(cap))
    for n in range(1, 3 * cap):
        sizes = pieces(n, cap)
        assert set(sizes) <= allowed
        assert n <= sum(sizes) and sum(sizes) - n < max(MAX_WASTE * sizes[-1] + 1, MIN_ROWS)
        assert all(s <= n for s in sizes[:-1])     # only the last piece is padded


def test_padded_pieces_take_every_row_once_and_pad_with_real_rows():
    rows = np.arange(100, 190)
    parts = list(padded_pieces(rows, 256))
    assert [take.size for take, _ in parts] == pieces(90, 256)
    assert np.array_equal(np.concatenate([take[:n] for take, n in parts]), rows)
    assert all(np.isin(take, rows).all() for take, _ in parts)
    assert list(padded_pieces(np.zeros(0, int), 256)) == []
