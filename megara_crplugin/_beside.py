"""A hot pixel is alone: one raised in every exposure beside a cosmic ray's footprint is hit.

The expected-signal tests (:mod:`~megara_crplugin.expected`) never flag a
pixel whose values are raised alike in (nearly) every exposure: a hot or
warm pixel, or structure the estimate misses, not cosmic rays.  A pixel hit
in every exposure of a triplet (a *triple hit*, common at high cosmic-ray
rates) often has two alike hits too, and was lost to that rule.

What tells them apart is the neighbourhood.  A hot pixel stands alone: its
neighbours are not raised in the exposures that give its lowest values
(a cosmic ray landing on it spreads into them in the one exposure it hits,
where the pixel has its highest value).  Each cosmic ray of a triple hit has
its own footprint, so a neighbour is raised in one of the exposures of the
pixel's lower values.  Structure the estimate misses (a line's peak, a
neighbouring hot pixel's crosstalk) raises its neighbours in every exposure,
so a neighbour counts only when one exposure leaves it clean.

Mask polarity of the ``alike`` plane: True = hot pixel (not a cosmic ray).
Arrays are indexed ``[y, x]``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["K_BESIDE", "clear_beside_rays"]

#: A neighbour is hit when it lies this many sigma above its expectation.
K_BESIDE = 6.0


def _neighbours(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]):
    """The 8 neighbours of each pixel: ``(inside, y, x)`` per direction, off-frame ones left out."""
    ny, nx = shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                y, x = ys + dy, xs + dx
                inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
                yield inside, y[inside], x[inside]


def clear_beside_rays(z_at, alike: np.ndarray, candidates: np.ndarray, *, k_clean: float) -> int:
    """Clear ``alike`` at the ``candidates`` that have a cosmic ray beside them (in place).

    Parameters
    ----------
    z_at : callable
        ``z_at(ys, xs)`` gives the excess of every exposure over its expected
        signal at those pixels, in sigma, shape ``(N, len(ys))``.
    alike : ndarray of bool, shape (ny, nx)
        True = hot pixel (values raised alike); updated.
    candidates : ndarray of bool, shape (ny, nx)
        Pixels to look at (those where the rule can decide: raised in
        two or more exposures).
    k_clean : float
        Level (sigma) at or below which a neighbour's exposure is clean.

    Returns
    -------
    int
        Number of pixels cleared (found beside a cosmic ray).
    """
    ys, xs = np.nonzero(candidates & alike)
    if ys.size == 0:
        return 0
    top = np.argmax(z_at(ys, xs), axis=0)  # the exposure of the pixel's highest value
    beside = np.zeros(ys.size, dtype=bool)
    for inside, y, x in _neighbours(ys, xs, alike.shape):
        z = z_at(y, x)
        clean = z.min(axis=0) <= k_clean
        z[top[inside], np.arange(z.shape[1])] = -np.inf
        beside[inside] |= clean & (z.max(axis=0) > K_BESIDE)
    alike[ys[beside], xs[beside]] = False
    return int(beside.sum())
