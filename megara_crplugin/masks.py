"""Mask construction: MEDIANCR, MEANCRT, CRMASK1..N, MEANCR and the features.

Pure array code.  Mask polarity: True = cosmic ray.  Diagram coordinates are
``x = min2d`` and ``y = target - min2d`` (ADU).  Every feature-wise operation is
one labelling plus per-label reductions (O(pixels)), never one full-image pass
per feature.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ._sparselabel import feature_labels
from .boundary import exceeds
from .result import CODE_AUX, CODE_BOTH, CODE_DILATION, CODE_MM, Feature, TargetDetection

__all__ = [
    "EIGHT",
    "dilate",
    "feature_table",
    "keep_features",
    "mediancr_code",
    "mm_flags",
    "problematic_pixels",
    "target_detection",
]

#: 8-connected structuring element (3x3 ones).
EIGHT = ndimage.generate_binary_structure(2, 2)


def dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Grow a mask by ``iterations`` pixels in the 8 directions (0 = unchanged copy).

    The pixels of ``ndimage.binary_dilation(mask, EIGHT, iterations)`` (False
    outside the image: a square of side ``2 * iterations + 1``), by shifted
    ORs along each axis, an order of magnitude faster on a full frame.
    """
    out = np.array(mask, dtype=bool, copy=True)
    for _ in range(max(int(iterations), 0)):
        for axis in (0, 1):
            src = out.copy()
            lo = [slice(None)] * out.ndim
            hi = [slice(None)] * out.ndim
            lo[axis], hi[axis] = slice(None, -1), slice(1, None)
            out[tuple(hi)] |= src[tuple(lo)]
            out[tuple(lo)] |= src[tuple(hi)]
    return out


def keep_features(mask: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Keep the 8-connected features of ``mask`` that contain a ``support`` pixel.

    Parameters
    ----------
    mask : ndarray of bool
        Detections (True = cosmic ray).
    support : ndarray of bool
        Pixels that validate a feature.

    Returns
    -------
    ndarray of bool
        The union of the kept features.
    """
    mask = np.asarray(mask, dtype=bool)
    flat = np.flatnonzero(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if flat.size == 0:
        return out
    if flat.size > mask.size // 16:  # dense: one full-frame labelling
        labels, nlab = ndimage.label(mask, structure=EIGHT)
        hit = np.bincount(labels[support & mask], minlength=nlab + 1) > 0
        hit[0] = False
        return hit[labels]
    # sparse: the features from the set pixels alone (same partition, other numbers)
    lab = feature_labels(flat, mask.shape[1])
    hit = np.bincount(lab, weights=np.asarray(support).reshape(-1)[flat]) > 0
    out.reshape(-1)[flat[hit[lab]]] = True
    return out


def mm_flags(
    x: np.ndarray,
    y: np.ndarray,
    *,
    boundary: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    max2d: np.ndarray,
    min_max2d: float | np.ndarray,
    mm_dilation: int,
    cleanable: np.ndarray,
    bound_at_x: np.ndarray | None = None,
) -> np.ndarray:
    """M.M.Cosmic flags of one target (pixels above the boundary and the threshold).

    A pixel is flagged when it lies above the boundary, above ``threshold``,
    and its ``max2d`` exceeds ``min_max2d`` (rejects excesses caused by a large
    negative value).  With ``mm_dilation`` the flags grow and only grown
    features with one pixel above ``threshold`` are kept.

    Parameters
    ----------
    x, y : ndarray (ny, nx)
        Diagram coordinates (ADU).
    boundary : callable
        Detection boundary f(x) (ADU).
    threshold : float
        Derived ``mm_threshold`` (ADU).
    max2d : ndarray
        Per-pixel maximum of the stack (ADU).
    min_max2d : float or ndarray
        ``mm_minimum_max2d_rnoise * rnoise`` (ADU).
    mm_dilation : int
        Dilation of the M.M.Cosmic detections.
    cleanable : ndarray of bool
        Pixels that may be flagged.
    bound_at_x : ndarray of float32, optional
        ``boundary`` at ``x`` from :func:`~megara_crplugin.boundary.float32_threshold`
        (computed once for several targets); only with a float32 ``y``.

    Returns
    -------
    ndarray of bool
        True = above the boundary (cosmic ray).
    """
    above = y > threshold
    flag = exceeds(y, boundary, x, bound_at_x) & above & (max2d > min_max2d) & cleanable
    if mm_dilation > 0 and flag.any():
        flag = keep_features(dilate(flag, mm_dilation), above) & cleanable
    return flag


def mediancr_code(flag_mm: np.ndarray, flag_aux: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Code map 0..4 of the median detections.

    4 = both methods, 3 = Aux only, 2 = M.M.Cosmic only, 1 = added (forced by
    ``pixels_to_be_flagged_as_cr``, or later by the global dilation), 0 = clean.
    """
    code = np.zeros(flag_mm.shape, dtype=np.uint8)
    code[forced] = CODE_DILATION
    code[flag_mm] = CODE_MM
    code[flag_aux] = CODE_AUX
    code[flag_mm & flag_aux] = CODE_BOTH
    return code


def target_detection(
    name: str,
    target: np.ndarray,
    *,
    flag_aux: np.ndarray,
    flag_mm: np.ndarray,
    forced: np.ndarray | None = None,
    dilation: int = 0,
    include: np.ndarray | None = None,
    within: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> TargetDetection:
    """Merge the detections of one target into its final mask.

    Parameters
    ----------
    name : str
        Extension name.
    target : ndarray
        The image analysed (ADU).
    flag_aux, flag_mm : ndarray of bool
        Detections of each method (already filtered).
    forced : ndarray of bool, optional
        Pixels flagged by the operator.
    dilation : int, optional
        Global dilation applied to the union.
    include : ndarray of bool, optional
        Mask always contained in the result (MEDIANCR for MEANCRT).
    within : ndarray of bool, optional
        Mask the result is restricted to, after dilation (MEANCRT for CRMASKi,
        so the subset rule holds whatever the dilation: defect 3).
    allowed : ndarray of bool, optional
        Pixels that may be flagged at all (not skipped/ignored/replaced); applied last.

    Returns
    -------
    TargetDetection
    """
    forced = np.zeros_like(flag_mm) if forced is None else forced
    code = mediancr_code(flag_mm, flag_aux, forced)
    flagged = code > 0
    if dilation > 0 and flagged.any():
        grown = dilate(flagged, dilation)
        code[grown & ~flagged] = CODE_DILATION
    mask = code > 0
    if include is not None:
        mask |= include
    if within is not None:
        mask &= within
    if allowed is not None:
        mask &= allowed
    code[~mask] = 0
    code[mask & (code == 0)] = CODE_DILATION
    return TargetDetection(
        name=name, target=target, flag_aux=flag_aux, flag_mm=flag_mm, code=code, mask=mask
    )


def feature_table(
    mask: np.ndarray,
    code: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    boundary: Callable[[np.ndarray], np.ndarray] | None,
) -> list[Feature]:
    """Label MEDIANCR and describe each feature, sorted by distance above the boundary.

    Parameters
    ----------
    mask : ndarray of bool
        MEDIANCR.
    code : ndarray of uint8
        Its code map.
    x, y : ndarray
        Median-diagram coordinates (min2d, median2d - min2d), ADU.
    boundary : callable or None
        Detection boundary; without one (Aux-only methods) features are sorted
        by their largest ``y``.

    Returns
    -------
    list of Feature
        Numbered 1..n in decreasing distance (the most certain first).
    """
    labels, nlab = ndimage.label(mask, structure=EIGHT)
    if nlab == 0:
        return []
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    order = np.argsort(lab, kind="stable")
    ys, xs, lab = ys[order], xs[order], lab[order]
    codes = code[ys, xs]
    yy = y[ys, xs].astype(np.float64)
    dist = yy - boundary(x[ys, xs]) if boundary is not None else yy
    peak = np.full(nlab + 1, -np.inf)
    np.maximum.at(peak, lab, dist)
    has = [np.bincount(lab, weights=(codes == c), minlength=nlab + 1) > 0 for c in (2, 3, 4)]
    bounds = np.searchsorted(lab, np.arange(1, nlab + 2))
    ranking = np.argsort(-peak[1:], kind="stable") + 1
    features = []
    for number, lbl in enumerate(ranking, start=1):
        a, b = bounds[lbl - 1], bounds[lbl]
        if has[2][lbl]:
            category = "any4"
        elif has[1][lbl] and not has[0][lbl]:
            category = "only3"
        elif has[0][lbl] and not has[1][lbl]:
            category = "only2"
        else:
            category = "other"
        features.append(
            Feature(
                number=number,
                category=category,
                ys=ys[a:b],
                xs=xs[a:b],
                codes=codes[a:b],
                distance=float(peak[lbl]),
            )
        )
    return features


def problematic_pixels(crmasks: list[np.ndarray]) -> np.ndarray:
    """Pixels masked in every CRMASKi (no exposure left for the masked mean; defect 13)."""
    out = np.array(crmasks[0], dtype=bool, copy=True)
    for m in crmasks[1:]:
        out &= m
    return out
