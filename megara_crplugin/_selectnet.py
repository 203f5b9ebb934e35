"""Order statistics of a few values per pixel by a pruned sorting network.

The expected signal needs, for every pixel, the median of ``m`` values (its
x-neighbours in every exposure: 18 for N = 3).  ``np.partition`` along a short
axis costs a function call per pixel; a *sorting network* (a fixed sequence
of compare-exchange steps) runs every step on whole planes of pixels with
``np.minimum`` / ``np.maximum``, which pick one of their inputs exactly, so the
order statistics are bit-for-bit those of a sort.

The network is Batcher's odd-even merge sort on ``P`` (the next power of two)
wires, the ``P - m`` extra wires holding minus and plus infinity in equal
numbers so that the wanted ranks keep their place; every step that touches an
infinite wire is a relabelling (no arithmetic), and only the steps the wanted
outputs depend on are kept (about half of Batcher's 191 steps for m = 18 and
the two middle ranks).  For the median of 5, 7 or 9 values the known optimal
median networks (10, 20 and 30 min/max operations instead of Batcher's 14, 22
and 46) are used instead: L.A.Cosmic's separable medians
(:mod:`megara_crplugin.detectors._lafilters`) run on them.

The steps run on sub-blocks of rows with a fixed set of scratch buffers, each
reused as soon as the value it holds is no longer needed (ufuncs may write
over an input), and the wanted ranks are written straight into the result.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["batcher_pairs", "median_of", "order_statistics", "selection_program"]

#: Pixels per sub-block: the m planes of one sub-block stay in the CPU cache.
SUB_BLOCK = 1 << 15

#: Median-selection networks (Devillard's ``opt_med5/7/9``, after Paeth and Smith):
#: comparator ``(i, j)`` leaves the smaller value on wire ``i``, the larger on ``j``;
#: the median ends on wire ``m // 2``.  Checked on every 0/1 input in the tests.
MEDIAN_NETWORKS = {
    5: ((0, 1), (3, 4), (0, 3), (1, 4), (1, 2), (2, 3), (1, 2)),
    7: ((0, 5), (0, 3), (1, 6), (2, 4), (0, 1), (3, 5), (2, 6),
        (2, 3), (3, 6), (4, 5), (1, 4), (1, 3), (3, 4)),
    9: ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8),
        (0, 3), (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)),
}  # fmt: skip


def batcher_pairs(p: int) -> list[tuple[int, int]]:
    """Compare-exchange steps ``(i, j)`` of Batcher's odd-even merge sort of ``p = 2**k`` wires.

    After the steps (each puts the smaller value on wire ``i``) the wires
    hold the sorted values.
    """
    pairs = []
    width = 1
    while width < p:
        k = width
        while k >= 1:
            for j in range(k % width, p - k, 2 * k):
                for i in range(min(k, p - j - k)):
                    if (i + j) // (2 * width) == (i + j + k) // (2 * width):
                        pairs.append((i + j, i + j + k))
            k //= 2
        width *= 2
    return pairs


@lru_cache(maxsize=16)
def selection_program(m: int, ranks: tuple[int, ...]) -> tuple[tuple, tuple]:
    """The min/max steps that give the order statistics ``ranks`` (0-based) of ``m`` values.

    Returns
    -------
    steps : tuple of (a, b, lo, hi)
        Value ids: ``lo = min(a, b)`` when ``lo >= 0``, ``hi = max(a, b)``
        when ``hi >= 0`` (-1: not needed).  Ids ``0..m-1`` are the inputs.
    outputs : tuple of int
        The ids holding the wanted ranks, in the order of ``ranks``.
    """
    if ranks == (m // 2,) and m in MEDIAN_NETWORKS:
        pairs, low_pads, p = MEDIAN_NETWORKS[m], 0, m
    else:
        p = 1 << max(1, (m - 1).bit_length())
        pairs, low_pads = batcher_pairs(p), (p - m) // 2
    # wire contents: value ids >= 0, or the infinities
    minus, plus = -1, -2
    content = list(range(m)) + [minus] * low_pads + [plus] * (p - m - low_pads)
    raw, next_id = [], m
    for i, j in pairs:
        a, b = content[i], content[j]
        if a == minus or b == plus or (a == plus and b == plus) or (a == minus and b == minus):
            continue  # already in order
        if a == plus or b == minus:
            content[i], content[j] = b, a  # a swap of a constant: relabelling only
            continue
        raw.append((a, b, next_id, next_id + 1))
        content[i], content[j] = next_id, next_id + 1
        next_id += 2
    outputs = tuple(content[low_pads + r] for r in ranks)
    needed, steps = set(outputs), []
    for a, b, lo, hi in reversed(raw):
        want_lo, want_hi = lo in needed, hi in needed
        if want_lo or want_hi:
            steps.append((a, b, lo if want_lo else -1, hi if want_hi else -1))
            needed.update((a, b))
    return tuple(reversed(steps)), outputs


@lru_cache(maxsize=16)
def _compiled(m: int, ranks: tuple[int, ...]):
    """:func:`selection_program` as ``(ufunc, a, b, target)`` operations on numbered operands.

    Operands: ``0 .. m - 1`` the inputs, ``m .. m + len(ranks) - 1`` the
    results, then the scratch buffers.  Returns the operations, the number of
    buffers and ``(result, input)`` pairs for ranks that are an input itself.
    """
    steps, outputs = selection_program(m, ranks)
    last = {}
    for k, (a, b, _, _) in enumerate(steps):
        last[a] = last[b] = k
    results = {ident: m + r for r, ident in enumerate(outputs) if ident >= m}
    where = {i: i for i in range(m)}
    first_buffer = m + len(ranks)
    free: list[int] = []
    count = 0

    def scratch() -> int:
        nonlocal count
        if free:
            return free.pop()
        count += 1
        return first_buffer + count - 1

    ops = []
    for k, (a, b, lo, hi) in enumerate(steps):
        sa, sb = where[a], where[b]
        dying = [s for ident, s in ((a, sa), (b, sb)) if last[ident] == k and s >= first_buffer]
        made = [(np.minimum, lo), (np.maximum, hi)]
        both = lo >= 0 and hi >= 0
        for n, (ufunc, ident) in enumerate(made):
            if ident < 0:
                continue
            if ident in results:
                target = results[ident]
            elif dying and (not both or n == 1):  # lo may not overwrite what hi still reads
                target = dying.pop()
            else:
                target = scratch()
            ops.append((ufunc, sa, sb, target))
            where[ident] = target
        free += dying
    copies = tuple((m + r, ident) for r, ident in enumerate(outputs) if ident < m)
    return tuple(ops), count, copies


def order_statistics(
    values: list[np.ndarray], ranks: tuple[int, ...], out: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """The order statistics ``ranks`` (0-based) of ``len(values)`` arrays, element-wise.

    Parameters
    ----------
    values : list of ndarray
        ``m`` arrays of one shape (at least 1-D; views are fine, nothing is
        copied) and dtype, finite values.
    ranks : tuple of int
        Wanted ranks, distinct, ``0 <= r < m`` (0 = the smallest).
    out : list of ndarray, optional
        Arrays (or views) of that shape and dtype to write the ranks into, one
        per rank; none of them may overlap an input.

    Returns
    -------
    list of ndarray
        One array per rank (``out`` when given), each element one of the
        input values (exact).
    """
    m = len(values)
    if any(not 0 <= r < m for r in ranks) or len(set(ranks)) != len(ranks):
        raise ValueError(f"ranks: expected distinct ranks in 0..{m - 1}, got {ranks}")
    ops, n_buffers, copies = _compiled(m, tuple(ranks))
    first = values[0]
    result = out if out is not None else [np.empty(first.shape, first.dtype) for _ in ranks]
    per_row = max(1, int(np.prod(first.shape[1:])))
    rows = max(1, SUB_BLOCK // per_row)
    buffers = [np.empty((rows, *first.shape[1:]), dtype=first.dtype) for _ in range(n_buffers)]
    for start in range(0, first.shape[0], rows):
        part = slice(start, start + rows)
        operands = [v[part] for v in values] + [r[part] for r in result]
        size = operands[0].shape[0]
        operands += [b[:size] for b in buffers]
        for ufunc, a, b, target in ops:
            ufunc(operands[a], operands[b], out=operands[target])
        for target, source in copies:
            operands[target][...] = operands[source]
    return result


def median_of(planes: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of the planes, the value ``np.median`` gives along a new axis 0.

    For an even count, the mean of the two middle values (in the planes' dtype).
    """
    m = len(planes)
    if m % 2:
        return order_statistics(planes, (m // 2,))[0]
    low, high = order_statistics(planes, (m // 2 - 1, m // 2))
    return (low + high) / 2
