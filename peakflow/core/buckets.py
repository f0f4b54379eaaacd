"""Padded sizes: the few shapes that compiled programs are built for.

Two kinds of size:

* `bucket_size` — lengths (of spectra, of arPLS batches) are padded up to ``2^k`` or
  ``1.5·2^k`` (at most a third is padding, two compiled sizes per octave);
* `ladder_size` / `pieces` — batch rows of the programs that run per call on however many
  windows a call has (the policy's steps, the refinement). Their sizes are ``8·4^k`` up to a
  cap (the chunk), and a batch that would waste more than a quarter of its rows on padding is
  split into several calls of ladder sizes instead (`pieces`). So at most
  ``ceil(log4(cap / 8)) + 1`` row sizes exist per program, whatever the mix of spectra and
  counts, and the padding stays below a quarter of the rows plus 8.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

MIN_ROWS = 8    # the smallest batch of a ladder
RATIO = 4       # from one ladder size to the next
MAX_WASTE = 0.25  # a piece pads less than this share of its rows (else the batch is split)


def bucket_size(n: int, minimum: int = 1, *, halves: bool = True) -> int:
    """The least 2^k, or 1.5·2^k (from 12 up, unless ``halves=False``), that is >= `n` and
    >= `minimum`."""
    n = max(n, minimum, 1)
    size = 1 << (n - 1).bit_length()
    return 3 * size // 4 if halves and size >= 8 and 3 * size // 4 >= n else size


def ladder(cap: int) -> tuple[int, ...]:
    """The row sizes up to `cap`: 8, 32, 128, ... below `cap`, then `cap` itself."""
    sizes, size = [], MIN_ROWS
    while size < cap:
        sizes.append(size)
        size *= RATIO
    return tuple(sizes) + (max(cap, MIN_ROWS),)


def ladder_size(n: int, cap: int) -> int:
    """The least ladder size (`ladder`) >= `n` (`cap` when `n` exceeds it)."""
    return next((s for s in ladder(cap) if s >= n), ladder(cap)[-1])


def pieces(n: int, cap: int) -> list[int]:
    """Ladder sizes whose calls cover `n` rows: one padded size where it wastes less than
    `MAX_WASTE` of its rows, else the largest size that fits, and the rest likewise.

    Returns:
      The sizes in call order; their sum is >= n and each is in ``ladder(cap)``.
    """
    out, left = [], n
    while left > 0:
        whole = ladder_size(left, cap)
        if whole >= left and whole - left < MAX_WASTE * whole or whole == MIN_ROWS:
            out.append(whole)
            left -= whole
        else:
            out.append(max(s for s in ladder(cap) if s <= left))
            left -= out[-1]
    return out


def padded_pieces(rows: np.ndarray, cap: int) -> Iterator[tuple[np.ndarray, int]]:
    """`rows` (n,) in calls of `pieces` sizes: yields (take (size,): the piece's rows, the
    last repeated to pad it; count: how many of them are real)."""
    start = 0
    for size in pieces(rows.size, cap):
        part = rows[start:start + size]
        yield np.resize(part, size), part.size
        start += size
