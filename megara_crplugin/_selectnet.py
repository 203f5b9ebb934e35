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
the two middle ranks).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["batcher_pairs", "order_statistics", "selection_program"]

#: Pixels per sub-block: the m planes of one sub-block stay in the CPU cache.
SUB_BLOCK = 1 << 15


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
    p = 1 << max(1, (m - 1).bit_length())
    low_pads = (p - m) // 2
    # wire contents: value ids >= 0, or the infinities
    minus, plus = -1, -2
    content = list(range(m)) + [minus] * low_pads + [plus] * (p - m - low_pads)
    raw, next_id = [], m
    for i, j in batcher_pairs(p):
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


def order_statistics(values: list[np.ndarray], ranks: tuple[int, ...]) -> list[np.ndarray]:
    """The order statistics ``ranks`` (0-based) of ``len(values)`` arrays, element-wise.

    Parameters
    ----------
    values : list of ndarray
        ``m`` arrays of one shape (at least 1-D; views are fine, nothing is
        copied) and dtype, finite values.
    ranks : tuple of int
        Wanted ranks, ``0 <= r < m`` (0 = the smallest).

    Returns
    -------
    list of ndarray
        One array per rank, each element one of the input values (exact).
    """
    m = len(values)
    if any(not 0 <= r < m for r in ranks):
        raise ValueError(f"ranks: expected 0..{m - 1}, got {ranks}")
    steps, outputs = selection_program(m, tuple(ranks))
    last_use: dict[int, int] = {}
    for k, (a, b, _, _) in enumerate(steps):
        last_use[a] = last_use[b] = k
    first = values[0]
    result = [np.empty(first.shape, dtype=first.dtype) for _ in ranks]
    per_row = max(1, int(np.prod(first.shape[1:])))
    rows = max(1, SUB_BLOCK // per_row)
    for start in range(0, first.shape[0], rows):
        part = slice(start, start + rows)
        have = {i: v[part] for i, v in enumerate(values)}
        for k, (a, b, lo, hi) in enumerate(steps):
            va, vb = have[a], have[b]
            if lo >= 0:
                have[lo] = np.minimum(va, vb)
            if hi >= 0:
                have[hi] = np.maximum(va, vb)
            for ident in (a, b):
                if last_use[ident] == k:
                    have.pop(ident, None)
        for out, ident in zip(result, outputs, strict=True):
            out[part] = have[ident]
    return result
