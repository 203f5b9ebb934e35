"""The two-pass merge, inpainting and the windowed second pass shared by the detector adapters.

Moved out of :mod:`megara_crplugin.detectors.base`, which re-exports the public
names: :func:`merge_peak_tail` (run-1 pixels kept: defect 21, docs/divergences.md),
:func:`masked_median_replace` (vectorised masked-median inpainting) and
:func:`second_pass_windowed` (run a *local* second pass only on windows around
the first-pass detections, with the same result as a full-frame run).
Mask polarity: True = cosmic ray; images in ADU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..masks import dilate

_log = logging.getLogger("megara_crplugin.detectors.base")

#: 8-connectivity structure (features are 8-connected everywhere).
EIGHT = np.ones((3, 3), dtype=bool)

# --------------------------------------------------------------------------- two-pass merge


def merge_peak_tail(peaks: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """Merge the masks of a "peaks" (run 1) and a "tails" (run 2) detector pass.

    The result is the union of every run-1 pixel and of every 8-connected run-2
    feature that contains at least one run-1 pixel.  Unlike the reference
    (defect 21 of docs/divergences.md) run-1 pixels are never dropped.  Cost O(pixels): one
    :func:`scipy.ndimage.label` and one :func:`numpy.bincount`.

    Parameters
    ----------
    peaks, tails : ndarray of bool, shape (ny, nx)
        Masks of run 1 and run 2 (True = cosmic ray).

    Returns
    -------
    ndarray of bool
        The merged mask (True = cosmic ray); a new array.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    peaks = np.asarray(peaks, dtype=bool)
    tails = np.asarray(tails, dtype=bool)
    if peaks.shape != tails.shape:
        raise ValueError(
            f"peaks and tails masks must have the same shape, got {peaks.shape} and {tails.shape}"
        )
    merged = peaks.copy()
    if not peaks.any() or not tails.any():
        return merged
    labels, nlabels = ndimage.label(tails, structure=EIGHT)
    touched = np.bincount(labels[peaks], minlength=nlabels + 1) > 0
    touched[0] = False
    merged |= touched[labels]
    return merged


# --------------------------------------------------------------------------- inpainting


def _box_offsets(box_y: int, box_x: int) -> tuple[np.ndarray, np.ndarray]:
    hy, hx = box_y // 2, box_x // 2
    dy, dx = np.mgrid[-hy : hy + 1, -hx : hx + 1]
    return dy.ravel(), dx.ravel()


def _gather(
    image: np.ndarray, mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, box: tuple[int, int]
) -> np.ndarray:
    """Values of the box around each (y, x); NaN where flagged or outside the image."""
    ny, nx = image.shape
    dy, dx = _box_offsets(*box)
    yy = ys[:, None] + dy[None, :]
    xx = xs[:, None] + dx[None, :]
    inside = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
    np.clip(yy, 0, ny - 1, out=yy)
    np.clip(xx, 0, nx - 1, out=xx)
    values = image[yy, xx].astype(np.float64)
    values[~inside | mask[yy, xx]] = np.nan
    return values


def masked_median_replace(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    box_x: int = 5,
    box_y: int = 5,
    chunk: int = 100_000,
    at: np.ndarray | None = None,
) -> np.ndarray:
    """Replacement values for flagged pixels: median of the unflagged pixels of a box.

    Fully vectorised (no Python loop over pixels).  When every pixel of the
    ``box_y x box_x`` box is flagged, a box three times larger is used; when
    that is fully flagged too, the minimum of its (flagged) values is taken,
    the value least affected by the cosmic ray.  All rules are local, so the
    result at a pixel depends only on the ``3 * box`` neighbourhood.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image (any unit; the result has the same unit).  Not modified.
    mask : ndarray of bool, shape (ny, nx)
        Pixels to replace (True = cosmic ray); they are also excluded from
        the medians.
    box_x, box_y : int, optional
        Odd box sizes along X and Y (pixels).
    chunk : int, optional
        Number of flagged pixels processed at once (memory control).
    at : ndarray of bool, shape (ny, nx), optional
        Compute the values only at these pixels (default: ``mask``); each
        value is the one the whole call would give there.

    Returns
    -------
    ndarray of float64, shape (n_flagged,)
        Replacement values in the order of ``np.nonzero(mask)`` (of ``at`` when given).
    """
    ys, xs = np.divmod(np.flatnonzero(mask if at is None else at), mask.shape[1])
    result = np.empty(ys.size, dtype=np.float64)
    for start in range(0, ys.size, chunk):
        sy, sx = ys[start : start + chunk], xs[start : start + chunk]
        values = _gather(image, mask, sy, sx, (box_y, box_x))
        good = ~np.all(np.isnan(values), axis=1)
        part = np.empty(sy.size, dtype=np.float64)
        if good.any():
            part[good] = np.nanmedian(values[good], axis=1)
        bad = np.flatnonzero(~good)
        if bad.size:
            big = (3 * box_y, 3 * box_x)
            values = _gather(image, mask, sy[bad], sx[bad], big)
            good2 = ~np.all(np.isnan(values), axis=1)
            if good2.any():
                part[bad[good2]] = np.nanmedian(values[good2], axis=1)
            worst = bad[~good2]
            if worst.size:
                unflagged = np.zeros_like(mask)
                part[worst] = np.nanmin(_gather(image, unflagged, sy[worst], sx[worst], big), 1)
        result[start : start + chunk] = part
    return result


# --------------------------------------------------------------------------- windowed run 2


def _tile_any(mask: np.ndarray, tile: int) -> np.ndarray:
    """Which ``tile x tile`` tiles hold a True pixel (from the True pixels: fast when sparse)."""
    ny, nx = mask.shape
    out = np.zeros((-(-ny // tile), -(-nx // tile)), dtype=bool)
    flat = np.flatnonzero(mask)
    out[(flat // nx) // tile, (flat % nx) // tile] = True
    return out


def dilate8(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """``ndimage.binary_dilation(mask, EIGHT, iterations)`` (False outside), by shifted ORs.

    :func:`megara_crplugin.masks.dilate`; ``iterations >= 1`` (scipy's
    ``iterations=0``, "until nothing changes", is not offered).
    """
    return dilate(mask, iterations)


def _tiles_to_pixels(tiles: np.ndarray, tile: int, shape: tuple[int, int]) -> np.ndarray:
    full = np.repeat(np.repeat(tiles, tile, axis=0), tile, axis=1)
    return full[: shape[0], : shape[1]]


RunFunction = Callable[..., tuple[np.ndarray, np.ndarray]]


def tile_windows(region: np.ndarray, tile: int, shape: tuple[int, int]):
    """Pixel windows of the 8-connected groups of the tile map ``region``.

    Returns ``labels`` (of the tile map), ``boxes`` (tile slices of each group,
    :func:`scipy.ndimage.find_objects` order), ``windows`` (the same in pixels,
    clipped to ``shape``) and ``area`` (pixels covered by the windows).
    """
    labels, _ = ndimage.label(region, structure=EIGHT)
    boxes = ndimage.find_objects(labels)
    windows = [
        tuple(slice(s.start * tile, min(s.stop * tile, n)) for s, n in zip(box, shape, strict=True))
        for box in boxes
    ]
    area = sum((w[0].stop - w[0].start) * (w[1].stop - w[1].start) for w in windows)
    return labels, boxes, windows, area


def _shelf_pack(sizes: list[tuple[int, int]]) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Place rectangles ``(h, w)`` side by side on shelves; return mosaic shape and corners."""
    area = sum(h * w for h, w in sizes)
    width = max(max(w for _, w in sizes), int(math.sqrt(area)))
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    y = x = shelf = total = 0
    for i in sorted(range(len(sizes)), key=lambda k: -sizes[k][0]):
        h, w = sizes[i]
        if x > 0 and x + w > width:
            y, x, shelf = y + shelf, 0, 0
        corners[i] = (y, x)
        x += w
        shelf, total = max(shelf, h), max(total, x)
    return (y + shelf, total), corners


def _run_windows(run: RunFunction, planes, windows, shape):
    """Results of ``run`` (a tuple of images) on each window; interior windows share one call.

    In a mosaic every interior window is surrounded by other windows or by a
    constant filler instead of its true neighbours; both only reach its margin.
    Windows touching the image edge keep their own call so that the back-end
    sees the real edge, as in a full-frame run.
    """
    results = [None] * len(windows)
    interior = [
        i
        for i, w in enumerate(windows)
        if w[0].start > 0 and w[1].start > 0 and w[0].stop < shape[0] and w[1].stop < shape[1]
    ]
    for i in sorted(set(range(len(windows))) - set(interior)):
        results[i] = run(*(plane[windows[i]] for plane in planes))
    if len(interior) == 1:
        i = interior[0]
        results[i] = run(*(plane[windows[i]] for plane in planes))
    elif interior:
        sizes = [
            (windows[i][0].stop - windows[i][0].start, windows[i][1].stop - windows[i][1].start)
            for i in interior
        ]
        mosaic_shape, corners = _shelf_pack(sizes)
        mosaics = []
        for plane in planes:
            filler = np.median(plane[:: max(1, shape[0] // 64), :: max(1, shape[1] // 64)])
            mosaic = np.full(mosaic_shape, filler, dtype=plane.dtype)
            for i, (y, x), (h, w) in zip(interior, corners, sizes, strict=True):
                mosaic[y : y + h, x : x + w] = plane[windows[i]]
            mosaics.append(mosaic)
        outputs = run(*mosaics)
        for i, (y, x), (h, w) in zip(interior, corners, sizes, strict=True):
            results[i] = tuple(out[y : y + h, x : x + w] for out in outputs)
    return results


def second_pass_windowed(
    run: RunFunction,
    planes: tuple[np.ndarray, ...],
    peaks: np.ndarray,
    *,
    margin: int,
    crop: int = 0,
    tile: int = 16,
    max_fraction: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a local detector pass only around the first-pass detections.

    The second pass matters only through its features that touch a run-1
    pixel (:func:`merge_peak_tail`).  For a *local* algorithm, whose result at
    a pixel depends only on the input within ``margin`` pixels, running it on
    a window and keeping the part farther than ``margin`` from the window
    edges (image edges excepted) gives exactly the full-frame values.  Windows
    are built from ``tile x tile`` tiles holding run-1 pixels, grown by
    ``margin``; merged features that reach the edge of the exactly-known zone
    make the zone grow until none does.  Windows away from the image edges are
    packed into one mosaic per round (one back-end call instead of one per
    window).  When the windows would cover more than ``max_fraction`` of the
    image the full frame is processed instead.

    Parameters
    ----------
    run : callable
        ``run(*arrays) -> (mask, cleaned)``: the pass applied to same-shape
        sub-arrays of ``planes``.
    planes : tuple of ndarray, each shape (ny, nx)
        Inputs of the pass (image, optional background), already padded when
        ``crop > 0``.
    peaks : ndarray of bool, shape (ny, nx)
        Run-1 mask on the same grid (True = cosmic ray).
    margin : int
        Dependency radius of ``run`` (pixels).
    crop : int, optional
        Width of the padding border; the merge is done on
        ``[crop:-crop, crop:-crop]`` as for the cropped results.
    tile : int, optional
        Tile size (pixels) used to build the windows.
    max_fraction : float, optional
        Fall back to a full-frame run above this window/image area ratio.

    Returns
    -------
    merged : ndarray of bool
        Merged mask on the cropped grid (True = cosmic ray).
    tails : ndarray of bool
        Run-2 mask on the input grid (exact wherever ``merged`` is set).
    tails_cleaned : ndarray
        Run-2 cleaned image on the input grid (exact wherever ``merged`` is set).
    """
    shape = peaks.shape
    inner = (slice(crop, shape[0] - crop), slice(crop, shape[1] - crop))
    seeds = np.zeros(shape, dtype=bool)
    seeds[inner] = peaks[inner]  # run-1 pixels in the padding play no role in the merge
    need = _tile_any(seeds, tile)
    grow = max(1, -(-margin // tile))
    tails = np.zeros(shape, dtype=bool)
    cleaned = np.zeros(shape, dtype=np.float32)
    known = np.zeros_like(need)
    budget = max_fraction * shape[0] * shape[1]
    spent = 0
    while True:
        todo = need & ~known
        region = ndimage.binary_dilation(todo, structure=EIGHT, iterations=grow)
        labels, boxes, windows, area = tile_windows(region, tile, shape)
        if spent + area > budget:
            _log.debug("second pass on the full frame (windows: %d px)", spent + area)
            tails, cleaned = run(*planes)
            return merge_peak_tail(peaks[inner], tails[inner]), tails, cleaned
        results = _run_windows(run, planes, windows, shape)
        for index, (box, window, (mask_w, cleaned_w)) in enumerate(
            zip(boxes, windows, results, strict=True), start=1
        ):
            take = _tiles_to_pixels(todo[box] & (labels[box] == index), tile, mask_w.shape)
            tails[window][take] = mask_w[take]
            cleaned[window][take] = cleaned_w[take]
        known |= todo
        spent += area
        _log.debug("second pass on %d window(s), %d px", len(windows), area)
        merged = merge_peak_tail(peaks[inner], tails[inner])
        grown = np.zeros(shape, dtype=bool)
        grown[inner] = dilate8(merged)
        outside = grown & ~_tiles_to_pixels(known, tile, shape)
        if not outside.any():
            return merged, tails, cleaned
        need |= _tile_any(outside, tile)
