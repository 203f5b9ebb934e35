"""Numerical guards: degenerate exposures, overflow, geometry that cannot work.

Each check runs before the expensive work (or, for combinations, before a
result is returned) and raises an
:class:`~megara_crplugin.exceptions.InputError` naming the frame or the
parameter and what is expected (``docs/reliability.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .exceptions import InputError

__all__ = [
    "MAX_ABS_VALUE",
    "check_bias",
    "check_finite_result",
    "check_frame_values",
    "check_geometry",
]

#: Largest |pixel value| (ADU) accepted: squares of larger values overflow the
#: float32 statistics (VARIANCE, sums of squares).
MAX_ABS_VALUE = 1e18


def _names(frames, names):
    return list(names) if names is not None else [f"frame {i + 1}" for i in range(len(frames))]


def _fingerprint(frame: np.ndarray) -> tuple:
    step = max(1, frame.size // 4096)
    sample = np.asarray(frame).ravel()[::step]
    return frame.shape, float(np.sum(sample, dtype=np.float64))


def check_frame_values(frames: Sequence[np.ndarray], names: Sequence[str] | None = None) -> None:
    """Refuse constant (e.g. all-zero) exposures, duplicates and overflowing values.

    Parameters
    ----------
    frames : sequence of ndarray (ny, nx)
        Exposures in ADU (finite: checked before).
    names : sequence of str, optional
        Names used in messages.

    Raises
    ------
    InputError
    """
    names = _names(frames, names)
    prints = []
    for name, frame in zip(names, frames, strict=True):
        lo, hi = float(np.min(frame)), float(np.max(frame))
        if lo == hi:
            raise InputError(
                f"{name}: constant image (every pixel = {lo:g} ADU); expected an exposure "
                "with signal and noise"
            )
        big = max(abs(lo), abs(hi))
        if big >= MAX_ABS_VALUE:
            raise InputError(
                f"{name}: values up to {big:.3g} ADU; expected |values| < {MAX_ABS_VALUE:g} "
                "(their squares overflow the float32 statistics)"
            )
        prints.append(_fingerprint(frame))
    for i in range(len(frames)):
        for j in range(i):
            if prints[i] == prints[j] and np.array_equal(frames[i], frames[j]):
                raise InputError(
                    f"images: {names[j]} and {names[i]} have the same pixel values "
                    "(the same exposure twice?); give N >= 3 different exposures"
                )


def check_geometry(cfg, shape: tuple[int, int]) -> None:
    """Refuse offsets larger than the image and a dilation that masks everything.

    Parameters
    ----------
    cfg : CRConfig
        Validated parameters (``mm_xy_offsets``, ``dilation``, ``mm_dilation``).
    shape : tuple of int
        Image shape (ny, nx).

    Raises
    ------
    InputError
    """
    ny, nx = shape
    for i, (dx, dy) in enumerate(getattr(cfg, "mm_xy_offsets", None) or (), start=1):
        if abs(dx) >= nx or abs(dy) >= ny:
            raise InputError(
                f"mm_xy_offsets: pair {i} [{dx:g}, {dy:g}] is larger than the image "
                f"(nx = {nx}, ny = {ny}); expected |dx| < {nx} and |dy| < {ny}"
            )
    limit = (max(ny, nx) - 1) // 2
    for name in ("dilation", "mm_dilation"):
        value = getattr(cfg, name, 0) or 0
        if value > limit:
            raise InputError(
                f"{name}: {value} would grow a single detection over the whole image "
                f"of shape {tuple(shape)}; expected at most {limit}"
            )


def check_bias(bias) -> None:
    """Refuse a bias (number or 2-D array, ADU) with NaN or infinite values."""
    a = np.asarray(bias)
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        shown = f"{float(a):g}" if a.ndim == 0 and np.issubdtype(a.dtype, np.number) else "array"
        raise InputError(f"bias: expected finite values (ADU), got {shown}")


def check_finite_result(comb) -> None:
    """Refuse a combination whose image or VARIANCE is not finite everywhere (overflow).

    Parameters
    ----------
    comb : Combination
        Result of :func:`megara_crplugin.combination.combine_stack`.

    Raises
    ------
    InputError
    """
    for what, arr in (("image", comb.data), ("VARIANCE", comb.variance)):
        bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise InputError(
                f"combination {comb.method}: {bad} non-finite pixel(s) in the {what} "
                f"(overflow of dtype {arr.dtype}); expected |values| < "
                f"{MAX_ABS_VALUE:g} ADU, or use dtype float64"
            )
