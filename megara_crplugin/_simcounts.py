"""Accumulated simulation histograms of the MM diagram (moved out of ``simulation``).

:class:`SimulationCounts` holds, per statistic (median2d, mean2d, one exposure,
each minus min2d), the integer 2-D histogram of the simulated diagram and the
top-K ordinates of every column; the helpers bin one chunk of simulated pixels
into them.  :mod:`megara_crplugin.simulation` re-exports the public names.
Units: ADU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Ordinates simulated for each diagram: median2d, mean2d and one exposure, minus min2d.
STATISTICS = ("median", "mean", "frame")


@dataclass
class SimulationCounts:
    """Accumulated simulation histograms, one per statistic.

    Attributes
    ----------
    hists : dict
        ``{statistic: counts}`` for the ordinates of :data:`STATISTICS`:
        ``median - min`` (the MEDIANCR diagram), ``mean - min`` (MEANCRT) and
        ``exposure_i - min`` (CRMASKi, pooled over the N exposures).  ``counts``
        (int64, nby x nbx) are simulated pixels per diagram bin, summed over
        the simulations; pixels above the diagram are counted in its top row.
    tails : dict
        ``{statistic: top}``: the :data:`TOP_K` largest simulated ordinates of
        every column (float32, ncol x TOP_K, decreasing, ``-inf`` padded), at
        full resolution, from which the boundary points are measured.
    fraction : float
        Share of the image's pixels simulated (1 unless ``max_pixels`` applied);
        counts per full image are ``counts / fraction``.
    """

    hists: dict
    tails: dict
    fraction: float = 1.0

    @property
    def counts(self) -> np.ndarray:
        """Diagram counts of the median statistic."""
        return self.hists["median"]

    def __iadd__(self, other):
        for name, c in other.hists.items():
            self.hists[name] += c
            ncol = self.tails[name].shape[0]
            cols = np.repeat(np.arange(ncol), other.tails[name].shape[1])
            self.tails[name] = _merge_top(self.tails[name], cols, other.tails[name].ravel())
        return self


#: Number of largest simulated ordinates kept per diagram column.
TOP_K = 64


def _merge_top(top: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Merge candidate ``values`` (in columns ``cols``) into the per-column top-K table."""
    ncol, k = top.shape
    cand = values > top[cols, k - 1]
    if not cand.any():
        return top
    cols = np.concatenate([np.repeat(np.arange(ncol), k), cols[cand]])
    vals = np.concatenate([top.ravel(), values[cand]])
    order = np.lexsort((-vals, cols))
    cols, vals = cols[order], vals[order]
    start = np.searchsorted(cols, np.arange(ncol))
    rank = np.arange(len(cols)) - start[cols]
    keep = rank < k
    out = np.full((ncol, k), -np.inf, dtype=top.dtype)
    out[cols[keep], rank[keep]] = vals[keep]
    return out


class _Accumulator:
    """Bins the simulated ordinates of one chunk (the columns are computed once)."""

    def __init__(self, x, keep, xedges, yedges, scale):
        self.nbx, self.nby = len(xedges) - 1, len(yedges) - 1
        t0, t1 = scale.forward(np.array([xedges[0], xedges[-1]]))
        fx = (scale.forward(x) - np.float32(t0)) * np.float32(self.nbx / (t1 - t0))
        ok = (fx >= 0) & (fx < self.nbx)
        if keep is not None:
            ok &= keep
        self.ok = ok
        self.col = np.where(ok, fx, 0).astype(np.intp)
        self.y0 = np.float32(yedges[0])
        self.yscale = np.float32(self.nby / (yedges[-1] - yedges[0]))

    def bin(self, y):
        """Histogram chunk and tail candidates (columns, values) of the ordinates ``y``."""
        col, ok = self.col, self.ok
        if y.ndim == 3:  # pooled exposures
            col = np.broadcast_to(col, y.shape)
            ok = np.broadcast_to(ok, y.shape)
        fy = (y - self.y0) * self.yscale
        np.minimum(fy, np.float32(self.nby - 0.5), out=fy)  # the tail stays in the top row
        ok = ok & (fy >= 0)
        col = col[ok]
        row = fy[ok].astype(np.intp)
        chunk = np.bincount(row * self.nbx + col, minlength=self.nbx * self.nby)
        chunk = chunk.reshape(self.nby, self.nbx)
        # Only the values in the rows holding a column's TOP_K largest can enter its tail
        # table: pre-select them with the chunk histogram before the exact merge.
        above = np.cumsum(chunk[::-1], axis=0)[::-1]
        first = np.where(above[0] >= TOP_K, (above >= TOP_K).sum(axis=0) - 1, 0)
        cand = row >= first[col]
        return chunk, col[cand], y[ok][cand].astype(np.float32)

    def zero_row(self):
        """Histogram chunk of ordinates all equal to 0 (the minimum itself)."""
        chunk = np.zeros((self.nby, self.nbx), dtype=np.int64)
        chunk[0] = np.bincount(self.col[self.ok], minlength=self.nbx)
        return chunk


def _accumulate(total, x, ys, keep, xedges, yedges, scale):
    """Add one chunk of simulated ordinates to the histograms and the column tails."""
    acc = _Accumulator(x, keep, xedges, yedges, scale)
    binned = {name: acc.bin(y) for name, y in ys.items()}
    if "max" in binned:  # N = 3: exposure - min takes the values 0, median - min, max - min
        med, mx = binned["median"], binned.pop("max")
        binned["frame"] = (
            med[0] + mx[0] + acc.zero_row(),
            np.concatenate([med[1], mx[1]]),
            np.concatenate([med[2], mx[2]]),
        )
    for name, (chunk, cols, vals) in binned.items():
        total.hists[name] += chunk
        total.tails[name] = _merge_top(total.tails[name], cols, vals)


def _bin_counts(x, y, xedges, yedges, keep, scale, *, clip_top=False, tx=None):
    """Integer 2-D histogram (rows = y); columns uniform in ``scale.forward(x)``.

    With ``clip_top`` samples above the last edge are counted in the top row, so
    the tail above any ordinate inside the diagram is complete.
    """
    nbx, nby = len(xedges) - 1, len(yedges) - 1
    t0, t1 = scale.forward([xedges[0], xedges[-1]])
    fx = ((scale.forward(x) if tx is None else tx) - t0) * (nbx / (t1 - t0))
    fy = (y - yedges[0]) * (nby / (yedges[-1] - yedges[0]))
    if clip_top:
        np.minimum(fy, nby - 0.5, out=fy)
    ok = (fx >= 0) & (fx < nbx) & (fy >= 0) & (fy < nby)
    if keep is not None:
        ok &= keep
    idx = fy[ok].astype(np.int64) * nbx + fx[ok].astype(np.int64)
    return np.bincount(idx, minlength=nbx * nby).reshape(nby, nbx)
