"""FITS-convention regions and pixel lists: parsing and conversion to array indices.

Conventions
-----------
FITS coordinates ``(X, Y)`` start at 1; pixel ``(X, Y)`` is array element
``[Y - 1, X - 1]``.  A region ``[xmin, xmax, ymin, ymax]`` is inclusive on both
ends, i.e. rows ``ymin - 1 .. ymax - 1`` and columns ``xmin - 1 .. xmax - 1``.
Image shapes are numpy shapes ``(ny, nx)``.

The parsers accept lists *and* tuples (the reference rejected tuples) and raise
:class:`ValueError` whose text reads ``"expected <what>, got <repr>"``;
:mod:`megara_crplugin.config` prefixes it with the parameter name.  They never
evaluate strings: :mod:`megara_crplugin.config` turns literal strings into
Python values with :func:`ast.literal_eval` beforehand; the only string handled
here is the documented ``"[xmin:xmax, ymin:ymax]"`` form of one region.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Region",
    "as_fixed_points",
    "as_local_median_pixels",
    "as_offsets",
    "as_pixels",
    "as_region",
    "as_regions",
    "describe",
    "is_int",
    "is_number",
    "pixel_indices",
    "regions_mask",
]

#: ``"[xmin:xmax, ymin:ymax]"`` (the form written in the numina documentation).
_COLON_REGION = re.compile(r"^\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*$")
_REGION_TEXT = "[xmin, xmax, ymin, ymax] of 4 integers (FITS, 1-based, inclusive)"


class Region(NamedTuple):
    """Rectangular region in FITS convention (1-based, both ends inclusive).

    Attributes
    ----------
    xmin, xmax : int
        First and last column (FITS ``X``, pixels).
    ymin, ymax : int
        First and last row (FITS ``Y``, pixels).
    """

    xmin: int
    xmax: int
    ymin: int
    ymax: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Array slices ``(rows, columns)`` selecting the region of a ``[y, x]`` array."""
        return slice(self.ymin - 1, self.ymax), slice(self.xmin - 1, self.xmax)

    @property
    def area(self) -> int:
        """Number of pixels in the region."""
        return (self.xmax - self.xmin + 1) * (self.ymax - self.ymin + 1)


def describe(value: Any, *, limit: int = 60) -> str:
    """Return a short ``repr`` of a user value for error messages.

    Parameters
    ----------
    value : object
        The offending value.
    limit : int, optional
        Maximum number of characters; longer reprs are cut with ``...``.

    Returns
    -------
    str
        ``repr(value)`` (arrays as ``array of shape (...)``).
    """
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value: Any) -> bool:
    """Return True for Python or numpy integers (booleans excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """Return True for finite real numbers (booleans excluded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    if isinstance(value, np.complexfloating):
        return False
    return math.isfinite(float(value))


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _check_shape_bounds(x: int, y: int, shape: tuple[int, int] | None) -> bool:
    if shape is None:
        return True
    ny, nx = shape
    return 1 <= x <= nx and 1 <= y <= ny


def as_region(value: Any, *, shape: tuple[int, int] | None = None) -> Region:
    """Convert one region to a :class:`Region`.

    Parameters
    ----------
    value : list, tuple, Region or str
        ``[xmin, xmax, ymin, ymax]`` of 4 integers (FITS pixels, 1-based,
        inclusive), or the string ``"[xmin:xmax, ymin:ymax]"``.
    shape : tuple of int, optional
        Image shape ``(ny, nx)``; when given the region must lie inside it.

    Returns
    -------
    Region
        The validated region.

    Raises
    ------
    ValueError
        ``"expected ..., got ..."`` when the value is malformed, reversed
        (``min > max``), starts below 1 or leaves the image.
    """
    if isinstance(value, str):
        match = _COLON_REGION.match(value)
        if match is None:
            raise ValueError(f"expected {_REGION_TEXT}, got {describe(value)}")
        xmin, xmax, ymin, ymax = (int(g) for g in match.groups())
        value = [xmin, xmax, ymin, ymax]
    if not _is_sequence(value) or len(value) != 4 or not all(is_int(v) for v in value):
        raise ValueError(f"expected {_REGION_TEXT}, got {describe(value)}")
    region = Region(*(int(v) for v in value))
    if region.xmin > region.xmax or region.ymin > region.ymax:
        raise ValueError(f"expected xmin <= xmax and ymin <= ymax, got {list(region)}")
    if region.xmin < 1 or region.ymin < 1:
        raise ValueError(f"expected region limits >= 1 (FITS convention), got {list(region)}")
    if shape is not None and not (_check_shape_bounds(region.xmax, region.ymax, shape)):
        ny, nx = shape
        raise ValueError(
            f"expected a region inside the image (xmax <= NAXIS1 = {nx}, "
            f"ymax <= NAXIS2 = {ny}), got {list(region)}"
        )
    return region


def as_regions(value: Any, *, shape: tuple[int, int] | None = None) -> tuple[Region, ...]:
    """Convert a list of regions (or ``None``) to a tuple of :class:`Region`.

    Parameters
    ----------
    value : None, list or tuple
        ``None`` (no region), a list of ``[xmin, xmax, ymin, ymax]`` items, or
        one such item on its own (a flat list of 4 integers cannot be a list
        of regions, so it is read as a single region).
    shape : tuple of int, optional
        Image shape ``(ny, nx)``; when given every region must lie inside it.

    Returns
    -------
    tuple of Region
        Possibly empty.

    Raises
    ------
    ValueError
        Naming the first bad item (1-based) and what was expected.
    """
    if value is None:
        return ()
    if isinstance(value, (str, Region)):
        return (as_region(value, shape=shape),)
    if not _is_sequence(value):
        raise ValueError(f"expected a list of {_REGION_TEXT}, got {describe(value)}")
    if len(value) == 4 and all(is_int(v) for v in value):
        return (as_region(value, shape=shape),)
    regions = []
    for number, item in enumerate(value, start=1):
        try:
            regions.append(as_region(item, shape=shape))
        except ValueError as exc:
            raise ValueError(f"region {number}: {exc}") from None
    return tuple(regions)


def _as_int_items(
    value: Any, *, length: int, what: str, shape: tuple[int, int] | None
) -> list[tuple[int, ...]]:
    if value is None:
        return []
    if not _is_sequence(value):
        raise ValueError(f"expected a list of {what}, got {describe(value)}")
    if len(value) == length and all(is_int(v) for v in value):
        value = [value]
    items = []
    for number, item in enumerate(value, start=1):
        if not _is_sequence(item) or len(item) != length or not all(is_int(v) for v in item):
            raise ValueError(f"expected item {number} to be {what}, got {describe(item)}")
        item = tuple(int(v) for v in item)
        if not _check_shape_bounds(item[0], item[1], shape):
            ny, nx = shape  # type: ignore[misc]
            raise ValueError(
                f"expected item {number} inside the image (1 <= X <= {nx}, 1 <= Y <= {ny}), "
                f"got {list(item)}"
            )
        if item[0] < 1 or item[1] < 1:
            raise ValueError(
                f"expected item {number} with X >= 1 and Y >= 1 (FITS), got {list(item)}"
            )
        items.append(item)
    return items


def as_pixels(value: Any, *, shape: tuple[int, int] | None = None) -> tuple[tuple[int, int], ...]:
    """Convert a list of FITS pixels ``[X, Y]`` (or ``None``) to a tuple of ``(X, Y)``.

    Parameters
    ----------
    value : None, list or tuple
        ``[[X, Y], ...]`` integers, FITS convention (1-based); a single
        ``[X, Y]`` is accepted too.
    shape : tuple of int, optional
        Image shape ``(ny, nx)``; when given every pixel must lie inside it.

    Returns
    -------
    tuple of (int, int)
        Possibly empty.

    Raises
    ------
    ValueError
        Naming the first bad item (1-based).
    """
    items = _as_int_items(value, length=2, what="[X, Y] of 2 integers", shape=shape)
    return tuple((x, y) for x, y in items)


def as_local_median_pixels(
    value: Any, *, shape: tuple[int, int] | None = None
) -> tuple[tuple[int, int, int, int], ...]:
    """Convert ``pixels_to_be_replaced_by_local_median`` items ``[X, Y, Xw, Yw]``.

    Parameters
    ----------
    value : None, list or tuple
        ``[[X, Y, Xw, Yw], ...]`` integers: FITS pixel and the odd widths
        (pixels) of the median window, with ``Xw * Yw >= 3``.
    shape : tuple of int, optional
        Image shape ``(ny, nx)``; when given every pixel must lie inside it.

    Returns
    -------
    tuple of (int, int, int, int)
        Possibly empty.

    Raises
    ------
    ValueError
        Naming the first bad item (1-based).
    """
    items = _as_int_items(value, length=4, what="[X, Y, Xwidth, Ywidth] of 4 integers", shape=shape)
    for number, (x, y, xw, yw) in enumerate(items, start=1):
        if xw < 1 or yw < 1 or xw % 2 == 0 or yw % 2 == 0 or xw * yw < 3:
            raise ValueError(
                f"expected item {number} to have odd widths >= 1 with Xwidth * Ywidth >= 3, "
                f"got {[x, y, xw, yw]}"
            )
    return tuple(items)  # type: ignore[return-value]


def as_offsets(
    value: Any, *, n_images: int | None = None
) -> tuple[tuple[float, float], ...] | None:
    """Convert ``mm_xy_offsets``: one ``[dx, dy]`` pair (pixels) per exposure.

    Parameters
    ----------
    value : None, list or tuple
        ``[[dx1, dy1], [dx2, dy2], ...]`` finite numbers (pixels).
    n_images : int, optional
        Number of exposures; when given the list must have that length.

    Returns
    -------
    tuple of (float, float) or None
        ``None`` when no offsets are given.

    Raises
    ------
    ValueError
        Malformed item (1-based) or wrong number of pairs.
    """
    if value is None:
        return None
    if not _is_sequence(value) or len(value) == 0:
        raise ValueError(f"expected a list of [dx, dy] pairs, got {describe(value)}")
    pairs = []
    for number, item in enumerate(value, start=1):
        if not _is_sequence(item) or len(item) != 2 or not all(is_number(v) for v in item):
            raise ValueError(
                f"expected item {number} to be [dx, dy] of 2 finite numbers, got {describe(item)}"
            )
        pairs.append((float(item[0]), float(item[1])))
    if n_images is not None and len(pairs) != n_images:
        raise ValueError(
            f"expected one [dx, dy] pair per exposure ({n_images}), got {len(pairs)} pairs"
        )
    return tuple(pairs)


def as_fixed_points(
    value: Any, *, default_weight: float = 10000.0
) -> tuple[tuple[float, float, float], ...]:
    """Convert ``mm_fixed_points_in_boundary`` items ``[x, y]`` or ``[x, y, weight]``.

    Parameters
    ----------
    value : None, list or tuple
        Points of the MM diagram: ``x`` = min2d (ADU), ``y`` = median2d - min2d
        (ADU), optional positive ``weight``.
    default_weight : float, optional
        Weight given to ``[x, y]`` items.

    Returns
    -------
    tuple of (float, float, float)
        ``(x, y, weight)`` triples; empty when ``value`` is None.

    Raises
    ------
    ValueError
        Malformed item (1-based) or non-positive weight.
    """
    if value is None:
        return ()
    if not _is_sequence(value):
        raise ValueError(f"expected a list of [x, y] or [x, y, weight], got {describe(value)}")
    if len(value) in (2, 3) and all(is_number(v) for v in value):
        value = [value]
    points = []
    for number, item in enumerate(value, start=1):
        if not _is_sequence(item) or len(item) not in (2, 3) or not all(is_number(v) for v in item):
            raise ValueError(
                f"expected item {number} to be [x, y] or [x, y, weight] of finite numbers, "
                f"got {describe(item)}"
            )
        weight = float(item[2]) if len(item) == 3 else float(default_weight)
        if weight <= 0:
            raise ValueError(f"expected item {number} to have a weight > 0, got {describe(item)}")
        points.append((float(item[0]), float(item[1]), weight))
    return tuple(points)


def regions_mask(regions: Any, shape: tuple[int, int]) -> np.ndarray:
    """Boolean image that is True inside any of the regions.

    Parameters
    ----------
    regions : iterable of Region
        Validated regions (FITS convention).
    shape : tuple of int
        Image shape ``(ny, nx)``.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        True inside at least one region (this is a selection mask, not a
        cosmic-ray mask).
    """
    mask = np.zeros(shape, dtype=bool)
    for region in regions:
        mask[Region(*region).slices] = True
    return mask


def pixel_indices(pixels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Array indices ``(rows, columns)`` of FITS pixels ``(X, Y, ...)``.

    Parameters
    ----------
    pixels : iterable of tuple
        Items whose first two values are FITS ``X`` and ``Y`` (1-based).

    Returns
    -------
    rows, columns : numpy.ndarray of int
        ``Y - 1`` and ``X - 1``; usable as ``image[rows, columns]``.
    """
    items = list(pixels)
    rows = np.array([item[1] - 1 for item in items], dtype=np.intp)
    cols = np.array([item[0] - 1 for item in items], dtype=np.intp)
    return rows, cols
