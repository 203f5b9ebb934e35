"""Expected signal on sky and arc lines from the rows above and below (issue 9, item 5).

The neighbours along x (:mod:`~megara_crplugin.expected`) under-estimate a
line's peak and over-shoot on its flanks.  A line crosses every fibre at the
same column, so the x-profile of the rows beside the pixel predicts it; the
range of those rows (and of the row's own neighbours) along x measures the
structure that decides whether the pixel's own minimum is a floor.

Units: ADU (flux-normalised values).  Arrays are indexed ``[y, x]``.
"""

from __future__ import annotations

import numpy as np

from ._minshift import min_shift
from ._refine import reflect_index
from ._selectnet import median_of

__all__ = ["line_estimate", "neighbour_median"]

#: Scatter of the median of 3 values in units of one value's sigma.
_MEDIAN3_SCALE = 0.67
#: Rows on each side whose x-profile predicts a line (a line crosses every fibre).
_LINE_ROWS = 3
#: Range along x (in sigma) above which those rows show a line.
_STRUCTURE_SIGMA = 5.0


def line_estimate(stack, ff, rows, block, gain, rnoise, half_width):
    """Expected signal on lines: the x-profile of the rows above and below, scaled.

    A sky or arc line crosses the fibres at the same column, so its profile
    along x in the ``_LINE_ROWS`` rows on each side (summed; the minimum over
    the exposures: a double hit leaves one clean value), scaled to this row's
    neighbours, predicts the line peak and flanks the neighbours alone miss
    (three rows a side find a faint line in the gap between fibres, where
    the adjacent rows alone are too faint).  The minimum of N values lies
    :func:`~megara_crplugin._minshift.min_shift` sigma below their mean: it
    is added back.  NaN where those rows show no significant structure along
    x (range over the window below ``_STRUCTURE_SIGMA`` sigma).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU), the whole frames (rows beside the block are read).
    ff : ndarray, shape (N,)
        Flux factors.
    rows : slice
        The block's rows.
    block : ndarray of float32, shape (N, nrows, nx)
        ``stack[:, rows] / ff``.
    gain, rnoise : float or ndarray (nrows, nx)
        Gain (e-/ADU) and read noise (ADU) of the block's rows.
    half_width : int
        Neighbours on each side along x (px).

    Returns
    -------
    line : ndarray of float32, shape (nrows, nx)
        The line's prediction of each pixel (ADU, flux-normalised); NaN without a line.
    structure : ndarray, shape (nrows, nx)
        Range along x of the rows beside and of the row's own neighbours
        (median image), in sigma: the larger of the two.
    """
    ny = stack.shape[1]
    lo, hi = max(rows.start - _LINE_ROWS, 0), min(rows.stop + _LINE_ROWS, ny)
    mins = (stack[:, lo:hi].astype(np.float32) / ff[:, None, None].astype(np.float32)).min(axis=0)
    idx = np.arange(rows.start, rows.stop)
    shift = min_shift(stack.shape[0])  # the minimum of N values lies below their mean
    q = np.zeros((idx.size, mins.shape[1]), np.float32)
    for d in range(1, _LINE_ROWS + 1):
        for r in (idx - d, idx + d):
            side = mins[np.clip(reflect_index(r, ny), 0, ny - 1) - lo]
            q += side + shift * np.sqrt(np.maximum(side, 0) / gain + np.asarray(rnoise) ** 2)
    k = 2 * _LINE_ROWS  # rows summed in q
    nx = q.shape[1]
    hw = min(half_width, nx - 1)

    p = np.pad(q, ((0, 0), (hw, hw)), mode="reflect")
    window = np.stack([p[:, hw + d : hw + d + nx] for d in range(-hw, hw + 1)])
    q_nb = (window.sum(axis=0) - q) / (2 * hw)
    m = np.pad(median_of(list(block)), ((0, 0), (hw, hw)), mode="reflect")
    m_nb = (sum(m[:, hw + d : hw + d + nx] for d in range(-hw, hw + 1)) - m[:, hw:-hw]) / (2 * hw)
    sq = np.sqrt(k * (np.maximum(q_nb / k, 0) / gain + rnoise**2))
    structure = (window.max(axis=0) - window.min(axis=0)) / sq
    peaked = (structure > _STRUCTURE_SIGMA) & (q_nb > 0) & (m_nb > 0)
    out = np.full(q.shape, np.nan, np.float32)
    out[peaked] = q[peaked] * m_nb[peaked] / q_nb[peaked]
    # the row's own neighbours (median image, the pixel itself left out)
    own = np.stack([m[:, hw + d : hw + d + nx] for d in range(-hw, hw + 1) if d != 0])
    sm = _MEDIAN3_SCALE * np.sqrt(np.maximum(m_nb, 0) / gain + rnoise**2)
    structure = np.maximum(structure, (own.max(axis=0) - own.min(axis=0)) / sm)
    return out, structure


def neighbour_median(block: np.ndarray, half_width: int) -> np.ndarray:
    """Median over frames and the 2*half_width x-neighbours (edges mirrored).

    The value ``np.median`` gives (the mean of the two middle values for an
    even count, in the block's dtype), from a pruned sorting network on
    whole planes (:mod:`._selectnet`), several times faster than selecting
    per pixel.  Finite values are assumed (the inputs are checked on reading).
    """
    n, ny, nx = block.shape
    hw = min(half_width, nx - 1)
    padded = np.pad(block, ((0, 0), (0, 0), (hw, hw)), mode="reflect")
    planes = [padded[i, :, hw + d : hw + d + nx] for d in range(-hw, hw + 1) if d for i in range(n)]
    return median_of(planes)
