"""What the flux-change test reads as a target's excess, less what is not a cosmic ray.

A target's excess over the stack's minimum (``target - min2d``, ADU) is
raised, besides cosmic rays, by the known flux factors (divided out:
:func:`normalised_excess`) and, with offset exposures, by the offsets alone on
steep profiles (a fibre's flank, a line), which the flux-change test would
fit as a change of the profile: :func:`offsets_excess` (MEDIANCR) and
:func:`frame_offsets_excess` (each exposure) give that part from the
expected signals of the exposures that give the median, the minimum and the
target at each pixel.  The callables ``excess(ys, xs)`` are evaluated
at the test's pixels only (no full-frame copy).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["frame_offsets_excess", "less", "normalised_excess", "offsets_excess"]


def _at_pixels(stack, value, scale, ys, xs):
    """Values and expected signals of every exposure at ``(ys, xs)`` (N, npix), / ``scale``."""
    return stack[:, ys, xs] / scale, value[:, ys, xs] / scale


def offsets_excess(stack: np.ndarray, value: np.ndarray, flux_factors=None) -> Callable:
    """``excess(ys, xs)``: the expected part of ``median2d - min2d`` there (ADU).

    Offset exposures see a steep profile (a fibre's flank, a line) at
    different sub-pixel positions: their ``median2d - min2d`` is raised there
    by the offsets alone, which the flux-change test would fit as a change of
    the profile.  That part is the expected signal of the exposure(s) giving
    the median less that of the exposure giving the minimum -- the exposures
    the *values* rank so, not the expected signals: at a double hit the
    median is a hit exposure and the minimum the clean one, whatever their
    expected order (ranking by expected signal subtracted up to 1.6 times the
    excess of a 14-sigma double hit on a fibre peak).  ``stack``, ``value``:
    the exposures and their expected signals (N, ny, nx), both divided by
    ``flux_factors`` when given (the flux-normalised excess).
    """
    scale = _scale(len(value), flux_factors)
    n = len(value)
    middle = [(n - 1) // 2, n // 2]  # one rank (odd N) or the two averaged (even N)

    def at(ys, xs):
        v, e = _at_pixels(stack, value, scale, ys, xs)
        ranked = np.take_along_axis(e, np.argsort(v, axis=0, kind="stable"), axis=0)
        return (ranked[middle[0]] + ranked[middle[1]]) / 2 - ranked[0]

    return at


def frame_offsets_excess(stack: np.ndarray, value: np.ndarray, flux_factors=None) -> Callable:
    """Per exposure ``i``, ``excess(ys, xs)``: the expected part of ``exposure - min2d`` (ADU).

    Its expected signal less that of the exposure giving ``min2d`` at each
    pixel (see :func:`offsets_excess`), evaluated at the flux-change test's
    pixels only.  ``stack`` and ``value`` (N, ny, nx) are read divided by
    ``flux_factors`` when given.
    """
    scale = _scale(len(value), flux_factors)

    def of(i: int) -> Callable:
        def at(ys, xs):
            v, e = _at_pixels(stack, value, scale, ys, xs)
            lowest = np.take_along_axis(e, np.argmin(v, axis=0)[None], axis=0)[0]
            return e[i] - lowest

        return at

    return of


def _scale(n: int, flux_factors) -> np.ndarray:
    """``(N, 1)`` float32 divisors: the flux factors, or ones."""
    scale = np.ones(n) if flux_factors is None else np.asarray(flux_factors, float)
    return scale.astype(np.float32).reshape(n, 1)


def less(excess, minus: Callable) -> Callable:
    """``excess(ys, xs) - minus(ys, xs)``, ``excess`` an array or such a callable."""
    if callable(excess):
        return lambda ys, xs: excess(ys, xs) - minus(ys, xs)
    return lambda ys, xs: excess[ys, xs] - minus(ys, xs)


def normalised_excess(norm, stack: np.ndarray, i: int):
    """``excess(ys, xs)``: exposure ``i`` / its flux factor - ``norm.low`` (or None).

    ``norm``: :class:`~megara_crplugin.targets.Normalised` or None.

    Evaluated at the flux-change test's window pixels only (no full-frame copy).
    """
    if norm is None:
        return None
    factor = np.asarray(norm.flux_factors[i], dtype=stack.dtype)
    return lambda ys, xs: stack[i][ys, xs] / factor - norm.low[ys, xs]
