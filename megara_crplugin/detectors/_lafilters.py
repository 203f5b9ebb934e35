"""astroscrappy's separable median filters and convolution, the same values, faster.

L.A.Cosmic's detection step (:mod:`._lacosmic_steps`) spends most of its time
in four of astroscrappy's C filters: two 7-point separable medians, one
9-point separable median and two kernel convolutions.  Those C loops handle
one pixel at a time (a sorting network on a copied window, a scalar float32
sum); the same arithmetic written as whole-row numpy operations on cache-sized
blocks of rows runs 3-6 times faster on one core and gives the same bits:

* :func:`sepmedfilt` is ``astroscrappy.utils.sepmedfilt{5,7,9}``: the median
  of ``size`` values along each row, then along each column of that, the
  border of ``size // 2`` pixels copied from the input.  A median is an order
  statistic, not arithmetic, so it does not depend on how it is found: here an
  optimal median-selection network is evaluated with :func:`numpy.minimum` /
  :func:`numpy.maximum` on shifted views of blocks of rows
  (:func:`megara_crplugin._selectnet.order_statistics`).  The only freedom is which of two equal
  values is returned, so a zero may come back as ``-0.0`` where astroscrappy
  returns ``+0.0`` (L.A.Cosmic's masks compare these values with ``>`` and
  clamp them from below: they cannot tell).  Inputs must be finite.
* :func:`convolve` is ``astroscrappy.utils.convolve``: the image padded with
  zeros, then, for every kernel row and column in astroscrappy's order, the
  float32 product added to a float32 sum, with the same roundings.

No unit conversion: values keep the unit of the input.
"""

from __future__ import annotations

import numpy as np

from .._selectnet import order_statistics

__all__ = ["convolve", "sepmedfilt"]

#: Bytes of one row block of the convolution (a few of them stay in the L2 cache).
_BLOCK_BYTES = 1 << 18


def _rows_per_block(nx: int) -> int:
    return max(1, _BLOCK_BYTES // (4 * max(1, nx)))


def sepmedfilt(data: np.ndarray, size: int) -> np.ndarray:
    """``astroscrappy.utils.sepmedfilt{size}(data)``: separable median, rows first.

    Parameters
    ----------
    data : ndarray of float32, shape (ny, nx)
        Finite values, any unit.
    size : {5, 7, 9}
        Points of each 1-D median.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
        Median of the row medians; the ``size // 2`` pixels along each edge
        are copies of ``data`` (astroscrappy's border), as is everything when
        the image is too small for one window.
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    half = size // 2
    ny, nx = data.shape
    out = data.copy()
    width = nx - 2 * half
    if width <= 0 or ny - 2 * half <= 0:
        return out
    rows = order_statistics([data[:, d : d + width] for d in range(size)], (half,))[0]
    columns = [rows[d : ny - 2 * half + d] for d in range(size)]
    order_statistics(columns, (half,), out=[out[half : ny - half, half : nx - half]])
    return out


def convolve(data: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``astroscrappy.utils.convolve(data, kernel)``: zero-padded float32 convolution.

    Parameters
    ----------
    data : ndarray of float32, shape (ny, nx)
        Image, any unit.
    kernel : ndarray of float32, shape (ky, kx)
        Kernel as astroscrappy receives it; astroscrappy reads its
        ``(ky - 1) // 2 * 2 + 1`` first rows and columns only (all of an odd
        kernel), and so does this function.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
        ``sum(kernel[by - l, bx - k] * data[y + l, x + k])`` over
        ``l = -by .. by`` then ``k = -bx .. bx`` (zero outside the image),
        summed in float32 in that order.
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    ny, nx = data.shape
    by, bx = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
    padded = np.zeros((ny + 2 * by, nx + 2 * bx), dtype=np.float32)
    padded[by : by + ny, bx : bx + nx] = data
    terms = [
        (by + dy, bx + dx, kernel[by - dy, bx - dx])
        for dy in range(-by, by + 1)
        for dx in range(-bx, bx + 1)
    ]
    out = np.zeros((ny, nx), dtype=np.float32)
    block = _rows_per_block(nx)
    product = np.empty((block, nx), dtype=np.float32)
    for y0 in range(0, ny, block):
        y1 = min(ny, y0 + block)
        acc, tmp = out[y0:y1], product[: y1 - y0]
        for row, col, weight in terms:
            np.multiply(padded[y0 + row : y1 + row, col : col + nx], weight, out=tmp)
            np.add(acc, tmp, out=acc)
    return out
