"""Float64 sums and sample variances along the exposure axis, a block of rows at a time.

The combinations accumulate in float64 so that the result does not depend on
the frame order more than float64 rounding allows, but a float64 copy of a full
MEGARA frame is 135 MB and the two-pass variance needs five of them.  Every
operation here is element-wise along the exposure axis, so working on blocks
of :data:`BLOCK_ROWS` rows gives bit-for-bit the values of the whole-frame
computation while the float64 temporaries stay a few MB each.

Units: those of the stack (ADU).  Masks: ``valid`` True = the value is used
(the complement of the cosmic-ray masks, True = cosmic ray).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "BLOCK_ROWS",
    "by_row_blocks",
    "for_each_block",
    "masked_mean",
    "row_blocks",
    "sample_variance",
]

#: Rows per block of float64 work: 256 rows of 4096 pixels are 8 MB per float64 array.
BLOCK_ROWS = 256


def row_blocks(ny: int, rows: int | None = None) -> Iterator[slice]:
    """Slices of at most ``rows`` (default :data:`BLOCK_ROWS`) rows covering ``range(ny)``."""
    rows = BLOCK_ROWS if rows is None else rows
    for r0 in range(0, ny, rows):
        yield slice(r0, min(r0 + rows, ny))


def for_each_block(
    work: Callable[[slice], None], blocks: Iterable[slice], threads: int = 1
) -> None:
    """Call ``work(block)`` for every block, in ``threads`` threads when > 1.

    The blocks must be independent (each call writes only its own rows of
    its outputs): the result is then the same whatever the number of threads.
    numpy's element-wise loops, sorts and partitions and scipy.ndimage's
    filters release the GIL, so two threads use two cores.  An exception in
    a call is raised here.
    """
    blocks = list(blocks)
    if threads <= 1 or len(blocks) < 2:
        for sl in blocks:
            work(sl)
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(blocks))) as pool:
        for future in [pool.submit(work, sl) for sl in blocks]:
            future.result()


def by_row_blocks(
    flags: Callable[[slice], np.ndarray], shape: tuple[int, int], threads: int = 1
) -> np.ndarray:
    """A per-pixel boolean test computed a block of rows at a time.

    Parameters
    ----------
    flags : callable
        ``flags(rows)`` returns the test's (bool) result for the rows ``rows``
        (a slice) of the image; it must be per pixel (no neighbour across rows),
        so that the blocks give the whole-image result exactly.
    shape : tuple of int
        Image shape (ny, nx).
    threads : int, optional
        Blocks computed at once (threads; the result does not depend on it).

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = flagged (cosmic ray).
    """
    out = np.empty(shape, dtype=bool)

    def work(sl: slice) -> None:
        out[sl] = flags(sl)

    for_each_block(work, row_blocks(shape[0]), threads)
    return out


def _sums(block: np.ndarray, valid: np.ndarray | None):
    """(number, float64 sum) of the valid values of a (N, rows, nx) block along axis 0."""
    shape = block.shape[1:]
    total = np.zeros(shape, dtype=np.float64)
    if valid is None:
        for frame in block:
            total += frame
        return np.full(shape, block.shape[0], dtype=np.int64), total
    n = np.zeros(shape, dtype=np.int64)
    for frame, ok in zip(block, valid, strict=True):
        np.add(total, frame, out=total, where=ok)
        n += ok
    return n, total


def _variance(block: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Two-pass float64 sample variance (ddof=1) of one block; 0 where < 2 values."""
    n, s = _sums(block, valid)
    mean = np.divide(s, n, out=np.zeros_like(s), where=n > 0)
    ss = np.zeros_like(s)
    for i, frame in enumerate(block):
        dev = frame - mean
        dev *= dev
        if valid is None:
            ss += dev
        else:
            np.add(ss, dev, out=ss, where=valid[i])
    return np.divide(ss, n - 1, out=np.zeros_like(ss), where=n > 1)


def _valid_block(crmasks: Sequence[np.ndarray] | None, sl: slice) -> np.ndarray | None:
    if crmasks is None:
        return None
    return ~np.stack([np.asarray(m[sl], dtype=bool) for m in crmasks])


def sample_variance(stack: np.ndarray, crmasks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Sample variance (ddof=1) along axis 0 of the values not masked; 0 where < 2.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Exposures (ADU).
    crmasks : sequence of N bool arrays (ny, nx), optional
        True = cosmic ray: the value is left out.  None: every value is used.

    Returns
    -------
    ndarray (ny, nx)
        In the dtype of the stack, computed in float64 (ADU^2).
    """
    out = np.empty(stack.shape[1:], dtype=stack.dtype)
    for sl in row_blocks(stack.shape[1]):
        out[sl] = _variance(stack[:, sl], _valid_block(crmasks, sl))
    return out


def masked_mean(
    stack: np.ndarray, crmasks: Sequence[np.ndarray], *, counts: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean along axis 0 of the values not masked, and how many entered it.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Exposures (ADU).
    crmasks : sequence of N bool arrays (ny, nx)
        True = cosmic ray: the value is left out.
    counts : bool, optional
        Also return the number of values used (int16); None otherwise.

    Returns
    -------
    mean : ndarray (ny, nx)
        In the dtype of the stack, summed in float64; 0 where every value is masked.
    nvalid : ndarray (ny, nx) of int16 or None
        Number of unmasked values per pixel.
    """
    shape = stack.shape[1:]
    mean = np.empty(shape, dtype=stack.dtype)
    nvalid = np.empty(shape, dtype=np.int16) if counts else None
    for sl in row_blocks(shape[0]):
        n, s = _sums(stack[:, sl], _valid_block(crmasks, sl))
        mean[sl] = np.divide(s, n, out=np.zeros_like(s), where=n > 0)
        if nvalid is not None:
            nvalid[sl] = n
    return mean, nvalid
