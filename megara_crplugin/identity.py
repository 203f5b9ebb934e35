"""Identity of exposures: UUID or content checksum, and matching masks to frames.

``crmasks.fits`` records the identity of every exposure the masks were
computed for (``FUUID1..N``): the frame's ``UUID`` keyword, or, when a frame
has none, a checksum of its pixel values (``sha256:<32 hex digits>`` of the
values as float64, so the same pixels give the same checksum whatever their
integer or float type on disk).  Applying masks matches the frames to them by
identity: the same frames in any order are accepted (the per-exposure masks
and flux factors are reordered), others are refused with one line naming both
sets.  Files written before identities were recorded are accepted with a
warning.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from .exceptions import CRPluginWarning, InputError

__all__ = [
    "CHECKSUM_PREFIX",
    "check_distinct",
    "content_checksum",
    "file_identities",
    "frame_identity",
    "match_masks",
]

#: Prefix of the identities computed from the pixel values.
CHECKSUM_PREFIX = "sha256:"


def content_checksum(data: np.ndarray) -> str:
    """Checksum of the pixel values of one exposure.

    Parameters
    ----------
    data : ndarray (ny, nx)
        Pixel values (any real dtype; compared as float64, so a uint16 frame
        and its float32 copy have the same checksum).

    Returns
    -------
    str
        ``"sha256:"`` followed by 32 hexadecimal digits.
    """
    a = np.ascontiguousarray(data, dtype=np.float64)
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return CHECKSUM_PREFIX + h.hexdigest()[:32]


def frame_identity(header: fits.Header | None, data) -> str:
    """``UUID`` keyword of ``header`` when present and not empty, else the content checksum.

    Parameters
    ----------
    header : astropy.io.fits.Header or None
        Primary header of the frame.
    data : ndarray or callable
        The pixels, or a function returning them (called only when there is no UUID,
        so that frames with a UUID are not read for nothing).

    Returns
    -------
    str
    """
    value = header.get("UUID") if header is not None else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return content_checksum(data() if callable(data) else data)


def file_identities(paths: Sequence[str | os.PathLike], frames: Sequence[np.ndarray]) -> list[str]:
    """Identity of each FITS file: ``UUID`` of its primary header, else a checksum.

    Parameters
    ----------
    paths : sequence of path-like
        The files (only their primary header is read again).
    frames : sequence of ndarray
        The images read from them (for the checksum).

    Returns
    -------
    list of str
    """
    out = []
    for path, frame in zip(paths, frames, strict=True):
        try:
            header = fits.getheader(path, 0)
        except (OSError, IndexError):
            header = None
        out.append(frame_identity(header, frame))
    return out


def check_distinct(identities: Sequence[str], names: Sequence[str]) -> None:
    """Refuse the same exposure given twice (same file or same UUID / pixels).

    Raises
    ------
    InputError
        Naming both entries.
    """
    seen: dict[str, int] = {}
    for i, ident in enumerate(identities):
        if ident in seen:
            j = seen[ident]
            how = "same pixel values" if ident.startswith(CHECKSUM_PREFIX) else f"UUID {ident}"
            raise InputError(
                f"images: {_short(names[j])} (#{j + 1}) and {_short(names[i])} (#{i + 1}) are the "
                f"same exposure ({how}); give N >= 3 different exposures"
            )
        seen[ident] = i


def _short(name: str) -> str:
    return Path(str(name)).name or str(name)


def match_masks(masks, identities: Sequence[str], *, source: str = "crmasks file"):
    """Match masks to frames by identity; reorder the per-exposure entries.

    Parameters
    ----------
    masks : CRMasks
        Masks read by :func:`megara_crplugin.crmasks_file.read_crmasks`.
    identities : sequence of str
        Identity of each frame to be combined, in the order given.
    source : str, optional
        Name of the masks file in messages.

    Returns
    -------
    CRMasks
        ``masks`` itself when the order matches (or the file records no
        identities: a :class:`CRPluginWarning` is issued); otherwise a copy
        whose ``CRMASKi``, flux factors and frame identities follow the order
        of ``identities``.

    Raises
    ------
    InputError
        The frames are not the ones the masks were computed for; the message
        lists both sets.
    """
    recorded = tuple(masks.frame_uuids)
    given = tuple(str(i) for i in identities)
    if not recorded:
        warnings.warn(
            f"{source}: records no frame identities (written by an older version); "
            "cannot check that the masks belong to these exposures",
            CRPluginWarning,
            stacklevel=2,
        )
        return masks
    if recorded == given:
        return masks
    if sorted(recorded) != sorted(given) or len(set(given)) != len(given):
        raise InputError(
            f"{source}: the masks were computed for other exposures "
            f"(recorded: {', '.join(recorded)}; given: {', '.join(given)})"
        )
    order = [recorded.index(g) for g in given]
    new = dict(masks.masks)
    for j, i in enumerate(order, start=1):
        new[f"CRMASK{j}"] = masks.masks[f"CRMASK{i + 1}"]
    return replace(
        masks,
        masks=new,
        flux_factors=np.asarray(masks.flux_factors)[order],
        frame_uuids=given,
    )
