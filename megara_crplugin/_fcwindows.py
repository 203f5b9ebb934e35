"""Features, fit windows and groups of the flux-change test, from the sparse detections.

:func:`megara_crplugin.fluxchange.reject_flux_changes` needs, for the pixels of
the detection mask grown by ``window`` (a square of side ``2 window + 1``
around each detection, clipped at the image edges):

* the 8-connected feature of every detection,
* the group of every window pixel: the 8-connected components of the grown
  mask (features whose windows overlap or touch share one fit).

Labelling whole frames (``ndimage.label`` twice, 0.25 s each at 4112 x 4096)
cost more than the test itself on sparse detections.  Here both come from the
detections alone: features from the links between 8-adjacent detections
(``np.searchsorted`` in their raster order), groups from the links between
detections of different features closer than ``2 window + 1`` px in both axes
(a k-d tree in the Chebyshev metric; only the edge pixels of the features
are needed: the nearest pixel of a feature to any other pixel is one of
them), then ``csgraph.connected_components``.  The window pixels are written
once into an image of group numbers and read back in raster order, so every
later sum runs over the same pixels in the same order as with the labelled
frames: the results are the same bits.  Only the label *numbers* may differ,
and nothing depends on them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ._sparselabel import components, feature_labels
from .masks import EIGHT

__all__ = ["grown", "window_groups", "window_groups_by_labelling"]

#: Above this many edge pixels the pairs are counted first (no large pair list is built).
_COUNT_FROM = 20_000
#: More pairs of edge pixels than this: clustered detections, the frames are labelled instead.
MAX_PAIRS = 8_000_000


def _edge_pixels(flags: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """True for the detections with a non-detected 8-neighbour (or the image edge)."""
    ny, nx = flags.shape
    edge = (ys == 0) | (ys == ny - 1) | (xs == 0) | (xs == nx - 1)
    inner = ~edge
    yi, xi = ys[inner], xs[inner]
    full = np.ones(yi.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                full &= flags[yi + dy, xi + dx]
    edge[inner] = ~full
    return edge


def window_groups(flags: np.ndarray, window: int):
    """Features and groups of the window pixels of a sparse detection mask (or None).

    Parameters
    ----------
    flags : ndarray of bool (ny, nx)
        Detections (True = cosmic ray), at least one.
    window : int
        Half side of the square grown around each detection (px).

    Returns
    -------
    None
        When the detections are so clustered that the pairs of edge pixels
        closer than ``2 window + 1`` exceed :data:`MAX_PAIRS` (their list
        would take hundreds of MB): use :func:`window_groups_by_labelling`.
    lab : ndarray of int (K,)
        Feature number (1..nlab) of each detection, in raster order.
    nlab : int
        Number of features.
    wy, wx : ndarray of int (M,)
        The window pixels, in raster order (``np.nonzero`` of the grown mask).
    grp : ndarray of intp (M,)
        Group number (1..ngroups) of each window pixel (the index type of
        ``np.bincount``: no conversion in each of the fits' sums).
    ngroups : int
        Number of groups.
    """
    ny, nx = flags.shape
    flat = np.flatnonzero(flags)
    ys, xs = np.divmod(flat, nx)
    lab = feature_labels(flat, nx)
    nlab = int(lab.max())
    edge = np.flatnonzero(_edge_pixels(flags, ys, xs))
    tree = cKDTree(np.column_stack([ys[edge], xs[edge]]))
    radius = 2 * window + 1
    if edge.size > _COUNT_FROM:  # ordered pairs and each point with itself
        if (tree.count_neighbors(tree, radius, p=np.inf) - edge.size) // 2 > MAX_PAIRS:
            return None
    pairs = tree.query_pairs(r=radius, p=np.inf, output_type="ndarray")
    a, b = lab[edge[pairs[:, 0]]], lab[edge[pairs[:, 1]]]
    apart = a != b
    group_of = np.zeros(nlab + 1, dtype=np.int32)
    group_of[1:] = components(nlab, a[apart] - 1, b[apart] - 1)
    ngroups = int(group_of.max())
    # the windows of the edge pixels (overlapping windows belong to one group); the
    # smallest integer type that holds the group numbers (half the pages to touch)
    ids = np.zeros(flags.shape, dtype=np.uint16 if ngroups < 2**16 else np.int32)
    _paint_squares(ids, ys[edge], xs[edge], group_of[lab[edge]], window)
    ids[ys, xs] = group_of[lab]  # detections deeper than `window` inside a feature
    where = np.flatnonzero(ids)  # raster order, as np.nonzero (faster on a full frame)
    wy, wx = np.divmod(where, nx)
    return lab, nlab, wy, wx, ids.reshape(-1)[where].astype(np.intp), ngroups


def grown(flags: np.ndarray, radius: int) -> np.ndarray:
    """``flags`` grown by a (2 radius + 1)^2 square (``maximum_filter``, zeros outside).

    Detections are sparse (a few percent of the pixels at most): only the
    neighbourhoods of the flagged pixels are written, one row offset at a
    time (indices clipped at the edges stay within the square).  Dense masks
    take the filter.
    """
    size = 2 * radius + 1
    ys, xs = np.nonzero(flags)
    if ys.size * size > flags.size // 8:
        return ndimage.maximum_filter(flags, size=size, mode="constant")
    return _paint_squares(np.zeros(flags.shape, dtype=bool), ys, xs, True, radius)


def _paint_squares(out: np.ndarray, ys, xs, values, radius: int) -> np.ndarray:
    """Write ``values`` into the (2 radius + 1)^2 squares around ``(ys, xs)`` of ``out``.

    ``values``: one per pixel, or a scalar; squares that overlap must carry
    the same value (the order of the writes is then irrelevant).  Clipped at
    the image edges.  The squares are spread along x first (each position
    once), then copied along y: 2 (2 radius + 1) writes instead of
    (2 radius + 1)^2.
    """
    ny, nx = out.shape
    span = np.arange(-radius, radius + 1)
    row = (ys[:, None] * nx + np.clip(xs[:, None] + span, 0, nx - 1)).ravel()
    row, first = np.unique(row, return_index=True)
    if np.ndim(values):
        values = np.asarray(values)[first // span.size]
    row_y, row_x = np.divmod(row, nx)
    for dy in span:
        out[np.clip(row_y + dy, 0, ny - 1), row_x] = values
    return out


def window_groups_by_labelling(flags: np.ndarray, window: int, grown: np.ndarray):
    """:func:`window_groups` from two full-frame labellings (dense masks).

    ``grown`` is ``flags`` grown by ``window`` (:func:`grown`).
    """
    labels, nlab = ndimage.label(flags, structure=EIGHT)
    groups, ngroups = ndimage.label(grown, structure=EIGHT)
    wy, wx = np.nonzero(grown)
    return labels[flags], int(nlab), wy, wx, groups[wy, wx].astype(np.intp), int(ngroups)
