"""Compact hand-over of one Aux detector result from a forked worker to the parent.

A detector call returns a full-frame mask and a full-frame cleaned image.  Sent
as they are through a worker's pipe, the cleaned image is pickled once in the
worker and received, then unpickled, in the parent: two extra full frames at a
time in the parent and one in the worker, for an image that differs from the
detector input only at a few cosmic-ray pixels.  The parent already holds that
input (the fork shares it), so the worker sends only:

* the mask as packed bits (one bit per pixel);
* the flat indices and values of the pixels that lie in the mask or where the
  cleaned image differs from the input (``!=``).  Every value at a masked
  pixel is sent as it is, whatever it is; outside the mask the built-in
  detectors copy the input (:func:`~megara_crplugin.detectors.base.compose_cleaned`),
  and any value that compares unequal to the input is sent too.

:func:`unpack_detection` rebuilds the same mask and a cleaned image equal,
bit for bit, to the one the detector returned.  The cleaned image can be left
out (``keep_cleaned=False``) when the caller does not use it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_detection", "unpack_detection"]


def pack_detection(image: np.ndarray, mask: np.ndarray, cleaned, *, keep_cleaned: bool = True):
    """Encode ``(mask, cleaned)`` relative to the detector input ``image``.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        The detector input (ADU); the parent holds the same array.
    mask : ndarray of bool, shape (ny, nx)
        Detector mask (True = cosmic ray).
    cleaned : ndarray, shape (ny, nx), or None
        Cleaned image (ADU) or None (detector without cleaning).
    keep_cleaned : bool, optional
        Send the cleaned image (True) or drop it (False).

    Returns
    -------
    tuple
        ``(shape, packed mask bits, cleaned part)``; the cleaned part is None or
        ``(dtype string, int64 flat indices, values)``.
    """
    mask = np.asarray(mask, dtype=bool)
    bits = np.packbits(mask, axis=None)
    part = None
    if keep_cleaned and cleaned is not None:
        cleaned = np.asarray(cleaned)
        differ = np.not_equal(cleaned, image)
        differ |= mask
        index = np.flatnonzero(differ)
        del differ
        part = (cleaned.dtype.str, index, cleaned.ravel()[index])
    return mask.shape, bits, part


def unpack_detection(image: np.ndarray, packed) -> tuple[np.ndarray, np.ndarray | None]:
    """Rebuild ``(mask, cleaned)`` from :func:`pack_detection`'s output.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        The detector input the worker saw (ADU).
    packed : tuple
        Output of :func:`pack_detection`.

    Returns
    -------
    mask : ndarray of bool
        True = cosmic ray.
    cleaned : ndarray or None
        Equal to the detector's cleaned image (same dtype, same bits), or None
        when it was not sent.
    """
    shape, bits, part = packed
    size = int(np.prod(shape))
    mask = np.unpackbits(bits, count=size).view(bool).reshape(shape)
    if part is None:
        return mask, None
    dtype, index, values = part
    cleaned = np.array(image, dtype=np.dtype(dtype), copy=True)
    cleaned.ravel()[index] = values
    return mask, cleaned
