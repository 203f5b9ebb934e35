"""Stacking and per-pixel statistics along the exposure axis.

Units: ADU, bias-subtracted.  No plotting, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._blockstats import for_each_block, row_blocks
from ._selectnet import order_statistics
from .result import StackStatistics

__all__ = ["build_stack", "low_mean", "normalised_statistics", "stack_statistics"]


def build_stack(
    frames: Sequence[np.ndarray],
    *,
    bias: float | np.ndarray = 0.0,
    flux_factors: np.ndarray | None = None,
    dtype: str | np.dtype = "float32",
) -> np.ndarray:
    """Stack N frames into one (N, ny, nx) array, subtract the bias and rescale.

    Parameters
    ----------
    frames : sequence of ndarray, each (ny, nx)
        Exposures in ADU.  They are copied, never modified.
    bias : float or ndarray (ny, nx), optional
        Bias level in ADU, subtracted from every frame.
    flux_factors : ndarray (N,), optional
        Each frame is divided by its factor (``apply_flux_factor_to='original'``).
    dtype : str or dtype, optional
        Floating dtype of the stack.

    Returns
    -------
    ndarray, shape (N, ny, nx)
        ``(frame_i - bias) / flux_factor_i``.
    """
    n = len(frames)
    ny, nx = np.shape(frames[0])
    stack = np.empty((n, ny, nx), dtype=dtype)
    bias_arr = np.asarray(bias, dtype=dtype)
    for i, frame in enumerate(frames):
        np.subtract(frame, bias_arr, out=stack[i], casting="unsafe")
        if flux_factors is not None and flux_factors[i] != 1.0:
            stack[i] /= stack.dtype.type(flux_factors[i])
    return stack


def low_mean(values: np.ndarray, n_excluded: int, *, axis: int = 0) -> np.ndarray:
    """Mean of the lowest values along ``axis``, excluding the ``n_excluded`` highest.

    For N = 3 and ``n_excluded = 2`` this is the minimum.

    Parameters
    ----------
    values : ndarray
        Values (ADU).
    n_excluded : int
        Number of highest values left out (``mm_cr_coincidences``).
    axis : int, optional
        Axis of the exposures.

    Returns
    -------
    ndarray
        Mean of the ``N - n_excluded`` lowest values.
    """
    n = values.shape[axis]
    keep = n - n_excluded
    if keep < 1:
        raise ValueError(f"cannot exclude {n_excluded} of {n} values")
    if keep == 1:
        return values.min(axis=axis)
    part = np.partition(values, keep - 1, axis=axis)
    return np.take(part, np.arange(keep), axis=axis).mean(axis=axis, dtype=values.dtype)


def stack_statistics(
    stack: np.ndarray, *, cr_coincidences: int = 2, threads: int = 1
) -> StackStatistics:
    """Per-pixel min2d, max2d, median2d and mean2d of a stack.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-subtracted (and possibly rescaled) exposures in ADU.
    cr_coincidences : int, optional
        Number of highest values excluded from ``min2d``.
    threads : int, optional
        Blocks of rows computed at once (threads): every statistic is per
        pixel, so the values do not depend on it.

    Returns
    -------
    StackStatistics
        The statistics, in the dtype of the stack.
    """
    n, ny, nx = stack.shape
    min2d, median2d, max2d, mean2d = (np.empty((ny, nx), dtype=stack.dtype) for _ in range(4))

    def block(sl: slice) -> None:
        part = stack[:, sl]
        if n == 3 and cr_coincidences == 2:
            # one sorting network gives min, median and max at once (the values of a sort)
            order_statistics(list(part), (0, 1, 2), out=[min2d[sl], median2d[sl], max2d[sl]])
        else:
            min2d[sl] = low_mean(part, cr_coincidences)
            median2d[sl] = np.median(part, axis=0)
            max2d[sl] = part.max(axis=0)
        mean2d[sl] = part.mean(axis=0, dtype=np.float64)  # rounded to the stack's dtype

    for_each_block(block, row_blocks(ny), threads)
    return StackStatistics(stack=stack, min2d=min2d, max2d=max2d, median2d=median2d, mean2d=mean2d)


def normalised_statistics(
    stack: np.ndarray, flux_factors, *, cr_coincidences: int = 2, rows: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``min2d``, ``median2d`` and ``max2d`` of the stack divided by the flux factors.

    Computed a block of ``rows`` rows at a time (no normalised copy of the
    stack is made).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-subtracted exposures (ADU).
    flux_factors : sequence of float
        Exposure i holds ``signal * flux_factors[i]``.
    cr_coincidences : int, optional
        As in :func:`stack_statistics`.
    rows : int, optional
        Rows per block.

    Returns
    -------
    low, median, high : ndarray (ny, nx)
        In the dtype of the stack (ADU of a flux factor 1).
    """
    ff = np.asarray(flux_factors, dtype=stack.dtype).reshape(-1, 1, 1)
    out = [np.empty(stack.shape[1:], stack.dtype) for _ in range(3)]
    for r0 in range(0, stack.shape[1], rows):
        sl = slice(r0, r0 + rows)
        st = stack_statistics(stack[:, sl] / ff, cr_coincidences=cr_coincidences)
        out[0][sl], out[1][sl], out[2][sl] = st.min2d, st.median2d, st.max2d
    return out[0], out[1], out[2]
