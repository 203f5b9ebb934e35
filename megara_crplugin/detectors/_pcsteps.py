"""One PyCosmic detection step (:mod:`megara_crplugin.detectors.pycosmic`), in its parts.

On the current cleaned image ``out`` (e-):

1. :func:`noise` - ``N = sqrt(max(box mean of out, 0) + rdnoise**2)`` (e-);
2. :func:`significance` - ``S = L+ / (2 N)``, written over ``N`` by blocks of
   rows (one full frame less at the peak), with the pixels where ``S`` exceeds
   a threshold and ``N`` at them and at their four neighbours (all that the
   fine-structure test needs of ``N``);
3. :func:`candidates` - ``S > sigma_det`` and ``S' = S - median5x5(S) > sigma_det``;
4. :func:`fine_structure` - the fine-structure Laplacian ``L2 > rlim`` at the
   candidates (Gaussian only around them).

:func:`decide` chains them.  Every value comes from the same float32
operations as a whole-image computation.  ``cfg`` is PyCosmic's resolved
settings (``box``, ``sigma``, ``sigma_det``, ``rlim``).  Mask polarity:
True = cosmic ray.
"""

from __future__ import annotations

import numpy as np

from ._pcfilters import box_mean, gaussian_at, laplace_plus, median5_at, reflect

__all__ = ["candidates", "decide", "fine_structure", "noise", "significance"]

#: Gaussian kernel half-width in sigma (scipy's ``truncate``).
TRUNCATE = 4.0

#: Pixels per row block of :func:`significance`.
_BLOCK_PIXELS = 1 << 16


def noise(out: np.ndarray, cfg, rdn2: float) -> np.ndarray:
    """``N = sqrt(max(box mean of out, 0) + rdnoise**2)`` (e-), at least 1e-12."""
    mean = box_mean(out, cfg.box)
    np.maximum(mean, 0.0, out=mean)
    mean += rdn2
    result = np.sqrt(mean, out=mean)
    np.maximum(result, 1e-12, out=result)
    return result


def significance(
    lap: np.ndarray, noise_: np.ndarray, threshold: float, only: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``S = L+ / (2 N)`` written over ``noise_``, and what the later steps need of ``N``.

    Parameters
    ----------
    lap : ndarray of float32
        ``L+`` of the image (e-).
    noise_ : ndarray of float32
        ``N`` (e-); overwritten with ``S``.
    threshold : float
        Keep the pixels with ``S > threshold`` (and ``only``, when given).
    only : ndarray of bool, optional
        Pixels that may be kept.

    Returns
    -------
    sig : ndarray of float32
        ``S`` (the ``noise_`` array).
    kept : tuple
        ``(ys, xs, near)``: the kept pixels (row-major order) and ``N`` there,
        shape (5, n): centre, west, east, north, south (mirrored at the edges).
    """
    ny, nx = noise_.shape
    step = max(1, _BLOCK_PIXELS // max(nx, 1))
    carry = None  # N of the row above the block (already overwritten)
    parts = []
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        block = noise_[r0:r1]
        sig = np.multiply(block, 2.0)
        np.divide(lap[r0:r1], sig, out=sig)
        keep = sig > threshold
        if only is not None:
            keep &= only[r0:r1]
        flat = np.flatnonzero(keep)
        if flat.size:
            y, x = np.divmod(flat, nx)
            y += r0
            parts.append((y, x, _near(noise_, carry, r0, y, x)))
        carry = block[-1].copy()
        block[...] = sig
    if not parts:
        empty = np.zeros(0, dtype=np.intp)
        return noise_, (empty, empty, np.zeros((5, 0), dtype=noise_.dtype))
    ys, xs, near = (np.concatenate(p, axis=-1) for p in zip(*parts, strict=True))
    return noise_, (ys, xs, near)


def _near(noise_, carry, r0, ys, xs):
    """``N`` at (ys, xs) and its 4 neighbours; rows from ``r0`` on are still ``N``."""
    ny, nx = noise_.shape
    rows = (ys, ys, ys, reflect(ys - 1, ny), reflect(ys + 1, ny))
    cols = (xs, reflect(xs - 1, nx), reflect(xs + 1, nx), xs, xs)
    out = np.empty((5, ys.size), dtype=noise_.dtype)
    for k, (y, x) in enumerate(zip(rows, cols, strict=True)):
        out[k] = noise_[np.maximum(y, r0), x]
        above = (y >= 0) & (y < r0)  # the row just above the block (y = -1: a 1-row image)
        if above.any():
            out[k][above] = carry[x[above]]
    return out


def candidates(sig: np.ndarray, kept, cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept pixels with ``S > sigma_det`` and ``S' = S - median5x5(S) > sigma_det``.

    ``kept`` comes from :func:`significance` with a threshold not above
    ``cfg.sigma_det``; returns ``(ys, xs, near)`` in the same form.
    """
    ys, xs, near = kept
    above = sig[ys, xs] > cfg.sigma_det
    ys, xs, near = ys[above], xs[above], near[:, above]
    if ys.size == 0:
        return ys, xs, near
    keep = sig[ys, xs] - median5_at(sig, ys, xs) > cfg.sigma_det
    return ys[keep], xs[keep], near[:, keep]


def fine_structure(
    out: np.ndarray, ys: np.ndarray, xs: np.ndarray, near: np.ndarray, cfg
) -> np.ndarray:
    """Detections among the candidates: fine-structure Laplacian ``L2 > rlim``.

    ``R = out / max(G * out, N)`` (negatives clipped) at each candidate and
    its four neighbours (``near`` is ``N`` there), ``L2 = (4 R - sum of the
    neighbours) / 2``.
    """
    result = np.zeros(out.shape, dtype=bool)
    if ys.size == 0:
        return result
    ny, nx = out.shape
    py = np.concatenate([ys, ys, ys, reflect(ys - 1, ny), reflect(ys + 1, ny)])
    px = np.concatenate([xs, reflect(xs - 1, nx), reflect(xs + 1, nx), xs, xs])
    smooth = gaussian_at(out, py, px, cfg.sigma, TRUNCATE)
    np.maximum(smooth, near.reshape(-1), out=smooth)
    ratio = np.divide(out[py, px], smooth, out=smooth)
    np.maximum(ratio, 0.0, out=ratio)
    centre, west, east, north, south = ratio.reshape(5, -1)
    around = west + east + north + south
    lap2 = (4.0 * centre - around) * 0.5
    result[ys[lap2 > cfg.rlim], xs[lap2 > cfg.rlim]] = True
    return result


def decide(
    out: np.ndarray,
    cfg,
    rdn2: float,
    *,
    lap: np.ndarray | None = None,
    only: np.ndarray | None = None,
    also=None,
) -> tuple[np.ndarray, np.ndarray]:
    """One detection step on ``out`` (e-).

    Parameters
    ----------
    out : ndarray of float32
        Current cleaned image (e-).
    cfg : object
        Settings of the pass (``box``, ``sigma``, ``sigma_det``, ``rlim``).
    rdn2 : float
        Read noise squared (e-^2).
    lap : ndarray of float32, optional
        ``L+`` of ``out`` when already known (:func:`laplace_plus`).
    only : ndarray of bool, optional
        Examine only these pixels (the others are left False).
    also : tuple, optional
        ``(other, keep)``: settings of another pass with the same box and
        Gaussian, and ``keep(new, decide_other)``, called with this step's
        detections and a function giving the other pass's step on ``out``
        from the same noise and significance.

    Returns
    -------
    new : ndarray of bool
        New detections (True = cosmic ray).
    lap : ndarray of float32
        ``L+`` of ``out`` (for the next iteration).
    """
    sig = noise(out, cfg, rdn2)
    if lap is None:
        lap = laplace_plus(out)
    threshold = cfg.sigma_det if also is None else min(cfg.sigma_det, also[0].sigma_det)
    sig, kept = significance(lap, sig, threshold, only)
    mine = candidates(sig, kept, cfg)
    other = None if also is None else candidates(sig, kept, also[0])
    del sig, kept  # before the Gaussian (memory)
    new = fine_structure(out, *mine, cfg)
    if also is not None:
        also[1](new, lambda: fine_structure(out, *other, also[0]))
    return new, lap
