"""What the flux-change test reads as a target's excess, less what is not a cosmic ray.

A target's excess over the stack's minimum (``target - min2d``, ADU) is
raised, besides cosmic rays, by the known flux factors (divided out:
:func:`normalised_excess`) and, with offset exposures, by the offsets alone on
steep profiles (a fibre's flank, a line), which the flux-change test would
fit as a change of the profile: :func:`offsets_excess` (MEDIANCR) and
:func:`frame_offsets_excess` (each exposure) give that part from the
exposures' expected signals.  The callables ``excess(ys, xs)`` are evaluated
at the test's pixels only (no full-frame copy).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._selectnet import median_of

__all__ = ["frame_offsets_excess", "less", "normalised_excess", "offsets_excess"]


def offsets_excess(value: np.ndarray, flux_factors=None) -> np.ndarray:
    """``median - min`` over the exposures of their expected signals (float32, ADU).

    Offset exposures see a steep profile (a fibre's flank, a line) at
    different sub-pixel positions: their ``median2d - min2d`` is raised there
    by the offsets alone, which the flux-change test would fit as a change of
    the profile.  ``value``: the expected signal of each exposure (N, ny, nx),
    divided by ``flux_factors`` when given (the flux-normalised excess).
    """
    planes = list(value)
    if flux_factors is not None:
        planes = [p / np.float32(f) for p, f in zip(planes, flux_factors, strict=True)]
    low = planes[0].copy()
    for p in planes[1:]:
        np.minimum(low, p, out=low)
    return median_of(planes) - low


def frame_offsets_excess(value: np.ndarray, flux_factors=None) -> Callable[[int], Callable]:
    """Per exposure ``i``, ``excess(ys, xs)``: its expected signal less the lowest one (ADU).

    What the offsets alone add to ``exposure - min2d`` on steep profiles
    (see :func:`offsets_excess`), evaluated at the flux-change test's pixels
    only: one plane (the lowest) is kept.  ``value`` (N, ny, nx) is read
    divided by ``flux_factors`` when given.
    """
    scale = np.ones(len(value), np.float32) if flux_factors is None else flux_factors
    scale = np.asarray(scale, np.float32)
    low = value[0] / scale[0]
    for p, f in zip(value[1:], scale[1:], strict=True):
        np.minimum(low, p / f, out=low)

    def of(i: int) -> Callable:
        return lambda ys, xs: value[i][ys, xs] / scale[i] - low[ys, xs]

    return of


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
