"""Padded sizes: the few shapes that compiled programs are built for.

Batches and lengths are padded up to ``2^k`` or ``1.5·2^k`` (so at most a third is padding,
with two compiled sizes per octave), which keeps the number of distinct programs small.
"""

from __future__ import annotations


def bucket_size(n: int, minimum: int = 1, *, halves: bool = True) -> int:
    """The least 2^k, or 1.5·2^k (from 12 up, unless ``halves=False``), that is >= `n` and
    >= `minimum`."""
    n = max(n, minimum, 1)
    size = 1 << (n - 1).bit_length()
    return 3 * size // 4 if halves and size >= 8 and 3 * size // 4 >= n else size
