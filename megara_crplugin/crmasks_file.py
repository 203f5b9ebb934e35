"""The ``crmasks.fits`` contract and the combined-image files (the only FITS writer).

``crmasks.fits`` (the reference's layout, kept compatible with megaradrp consumers):

====  ==========  ==========================================================
 #    EXTNAME     content
====  ==========  ==========================================================
 0    PRIMARY     no data; ``UUID``, ``FLUXF1..N``, ``NFRAMES``, ``CRMETHOD``,
                  ``CRCOINC``, ``FFAPPLY``, ``MMTHRESH``, ``MMSEED`` (seed used),
                  ``FUUID1..N`` (input frame UUIDs, or ``sha256:`` pixel
                  checksums), HISTORY with the final parameters
 1    MEDIANCR    uint8 0/1, header ``NPMASKED``
 2    MEANCRT     uint8 0/1
 3..  CRMASK1..N  uint8 0/1
 .    MEANCR      uint8 0/1
 .    AUXCLEAN    float32, Aux-cleaned median2d (ADU), when the detector cleans
 .    RPMEDIAN    table X_pixel, Y_pixel, X_width, Y_width (FITS coordinates)
 .    DEFECTS     uint8 0/1, detector defects (never in a mask), header
                  ``NPMASKED``; absent in files of older versions
====  ==========  ==========================================================

Every file is written to a temporary name in the destination folder and then
renamed, so a failed run never leaves a partial file.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ._atomic import atomic_path
from ._version import __version__
from .crmasks_checks import ascii_text, check_crmasks_hdul
from .exceptions import InputError
from .noisecheck import add_to_header

__all__ = [
    "CRMasks",
    "combined_hdulist",
    "crmasks_hdulist",
    "read_crmasks",
    "write_crmasks",
    "write_hdulist",
]


@dataclass
class CRMasks:
    """Masks read back from ``crmasks.fits`` (True = cosmic ray)."""

    uuid: str
    flux_factors: np.ndarray
    masks: dict[str, np.ndarray]
    auxclean: np.ndarray | None = None
    rpmedian: tuple[tuple[int, int, int, int], ...] = ()
    apply_flux_factor_to: str = "simulated"
    cr_coincidences: int = 2
    frame_uuids: tuple[str, ...] = ()
    header: fits.Header = field(default_factory=fits.Header)
    #: Detector defects (True = defect), None for files without DEFECTS.
    defects: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Number of exposures the masks were computed for."""
        return len(self.flux_factors)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx)."""
        return self.masks["MEDIANCR"].shape


def write_hdulist(hdul: fits.HDUList, path: str | os.PathLike) -> Path:
    """Write an HDUList atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        What to write.
    path : path-like
        Destination; replaced if it exists.

    Returns
    -------
    Path
        The destination.
    """
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)
    return Path(path)


def _mask_hdu(name: str, mask: np.ndarray) -> fits.ImageHDU:
    hdu = fits.ImageHDU(np.asarray(mask, dtype=np.uint8), name=name)
    hdu.header["NPMASKED"] = (int(np.count_nonzero(mask)), "number of masked pixels")
    return hdu


def crmasks_hdulist(
    result,
    *,
    history: Iterable[str] = (),
    frame_uuids: Sequence[str] = (),
    timestamp: datetime.datetime | None = None,
) -> fits.HDUList:
    """Build the ``crmasks.fits`` HDUList of a :class:`~megara_crplugin.result.CRMaskResult`.

    Parameters
    ----------
    result : CRMaskResult
        Output of :func:`megara_crplugin.pipeline.compute_crmasks`.
    history : iterable of str, optional
        Extra HISTORY lines (e.g. the recipe's provenance).
    frame_uuids : sequence of str, optional
        UUIDs of the input frames, recorded as ``FUUID1..N``.
    timestamp : datetime, optional
        Time recorded in the HISTORY (default: now, UTC).

    Returns
    -------
    astropy.io.fits.HDUList
    """
    cfg = result.config
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["UUID"] = (result.uuid, "masks identifier")
    hdr["NFRAMES"] = (len(result.flux_factors), "number of exposures")
    for i, ff in enumerate(result.flux_factors, start=1):
        hdr[f"FLUXF{i}"] = (float(ff), f"flux factor of exposure {i}")
    hdr["CRMETHOD"] = (cfg.crmethod, "cosmic-ray detection method")
    hdr["CRCOINC"] = (int(cfg.mm_cr_coincidences), "mm_cr_coincidences")
    hdr["FFAPPLY"] = (cfg.apply_flux_factor_to, "apply_flux_factor_to")
    hdr["MMTHRESH"] = (float(result.mm_threshold), "[ADU] derived mm_threshold")
    seed = getattr(result, "extras", {}).get("seed")
    if seed is not None:
        hdr["MMSEED"] = (int(seed), "random seed used by the simulations")
    for i, u in enumerate(frame_uuids, start=1):
        hdr[f"FUUID{i}"] = (ascii_text(u), f"identity of exposure {i}")
    add_to_header(hdr, getattr(result, "noise_check", None), getattr(result, "flux_changes", None))
    when = (timestamp or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    hdr.add_history(f"CRMasks generated by megara_crplugin {__version__}")
    hdr.add_history(f"at {when}")
    for line in cfg.history_lines(mm_threshold=result.mm_threshold):
        hdr.add_history(line)
    if seed is not None:
        hdr.add_history(f"mm_seed (used) = {int(seed)}")
    for line in history:
        hdr.add_history(ascii_text(line))
    hdul = fits.HDUList([primary])
    for name, mask in result.masks.items():
        hdul.append(_mask_hdu(name, mask))
    if result.auxclean is not None:
        hdul.append(fits.ImageHDU(np.asarray(result.auxclean, dtype=np.float32), name="AUXCLEAN"))
    if result.rpmedian:
        rows = np.asarray(result.rpmedian, dtype=np.int64).reshape(-1, 4)
        cols = [
            fits.Column(name=n, format="K", array=rows[:, k])
            for k, n in enumerate(("X_pixel", "Y_pixel", "X_width", "Y_width"))
        ]
        hdul.append(fits.BinTableHDU.from_columns(cols, name="RPMEDIAN"))
    if getattr(result, "defects", None) is not None:
        hdul.append(_mask_hdu("DEFECTS", result.defects.mask))
    return hdul


def write_crmasks(hdul: fits.HDUList, path: str | os.PathLike) -> Path:
    """Write ``crmasks.fits`` atomically; see :func:`write_hdulist`."""
    return write_hdulist(hdul, path)


def _fail(source, msg):
    raise InputError(f"crmasks file {source}: {msg}")


def read_crmasks(
    source: str | os.PathLike | fits.HDUList,
    *,
    n_frames: int | None = None,
    shape: tuple[int, int] | None = None,
    frame_uuids: Sequence[str] | None = None,
) -> CRMasks:
    """Read and check a ``crmasks.fits`` file.

    Parameters
    ----------
    source : path-like or HDUList
        The masks file.
    n_frames : int, optional
        Number of exposures to be combined; must equal the number of
        ``CRMASKi`` and ``FLUXFi``.
    shape : tuple, optional
        Shape (ny, nx) of the exposures; must equal the masks' shape.
    frame_uuids : sequence of str, optional
        UUIDs of the exposures; checked against ``FUUID1..N`` when both exist.

    Returns
    -------
    CRMasks

    Raises
    ------
    InputError
        Naming the file and what does not match.
    """
    name = source if not isinstance(source, fits.HDUList) else "<HDUList>"
    if isinstance(source, fits.HDUList):
        return _read_hdul(source, name, n_frames, shape, frame_uuids)
    if not Path(source).is_file():
        _fail(name, "file not found")
    try:
        with fits.open(source, memmap=False) as hdul:
            return _read_hdul(hdul, name, n_frames, shape, frame_uuids)
    except OSError as exc:
        _fail(name, f"cannot read it as FITS ({exc})")


def _read_hdul(hdul, name, n_frames, shape, frame_uuids) -> CRMasks:
    hdr = hdul[0].header
    if "UUID" not in hdr:
        _fail(name, "no UUID keyword in the primary header (not a crmasks file?)")
    names = [h.name for h in hdul]
    ncr = sum(1 for n in names if n.startswith("CRMASK") and n[6:].isdigit())
    nff = sum(1 for k in hdr if k.startswith("FLUXF") and k[5:].isdigit())
    for ext in ("MEDIANCR", "MEANCRT", "MEANCR"):
        if ext not in names:
            _fail(name, f"extension {ext} is missing")
    if ncr == 0 or nff != ncr:
        _fail(name, f"inconsistent: {ncr} CRMASKi extensions but {nff} FLUXFi keywords")
    if n_frames is not None and ncr != n_frames:
        _fail(name, f"masks were computed for {ncr} exposures, but {n_frames} are given")
    masks = {}
    for ext in ["MEDIANCR", "MEANCRT"] + [f"CRMASK{i}" for i in range(1, ncr + 1)] + ["MEANCR"]:
        if ext not in names:
            _fail(name, f"extension {ext} is missing")
        data = hdul[ext].data
        if data is None or data.ndim != 2:
            _fail(name, f"extension {ext} is not a 2-D mask")
        if shape is not None and tuple(data.shape) != tuple(shape):
            _fail(name, f"extension {ext} has shape {data.shape}, the exposures {tuple(shape)}")
        masks[ext] = np.asarray(data) != 0
    check_crmasks_hdul(hdul, name, ncr, masks["MEDIANCR"].shape)
    fuuids = tuple(str(hdr[f"FUUID{i}"]) for i in range(1, ncr + 1) if f"FUUID{i}" in hdr)
    if frame_uuids and len(fuuids) == ncr and tuple(map(str, frame_uuids)) != fuuids:
        _fail(
            name,
            "the masks were computed for other exposures (UUIDs "
            f"{', '.join(fuuids)}; given {', '.join(map(str, frame_uuids))})",
        )
    auxclean = np.asarray(hdul["AUXCLEAN"].data, dtype=np.float32) if "AUXCLEAN" in names else None
    rpmedian = ()
    if "RPMEDIAN" in names:
        t = hdul["RPMEDIAN"].data
        rpmedian = tuple(
            (int(a), int(b), int(c), int(d))
            for a, b, c, d in zip(
                t["X_pixel"], t["Y_pixel"], t["X_width"], t["Y_width"], strict=True
            )
        )
    return CRMasks(
        uuid=str(hdr["UUID"]),
        flux_factors=np.array([float(hdr[f"FLUXF{i}"]) for i in range(1, ncr + 1)]),
        masks=masks,
        auxclean=auxclean,
        rpmedian=rpmedian,
        apply_flux_factor_to=str(hdr.get("FFAPPLY", "simulated")),
        cr_coincidences=int(hdr.get("CRCOINC", 2)),
        frame_uuids=fuuids,
        header=hdr.copy(),
        defects=(np.asarray(hdul["DEFECTS"].data) != 0) if "DEFECTS" in names else None,
    )


def combined_hdulist(
    comb,
    *,
    history: Iterable[str] = (),
    masks_uuid: str | None = None,
    header: fits.Header | None = None,
) -> fits.HDUList:
    """HDUList of a combined image: PRIMARY float32, VARIANCE float32, MAP int16.

    Parameters
    ----------
    comb : Combination
        Output of :func:`megara_crplugin.combination.combine`.
    history : iterable of str, optional
        HISTORY lines.
    masks_uuid : str, optional
        UUID of the masks used (recorded as HISTORY ``Masks UUID: ...`` and
        keyword ``CRMUUID``).
    header : astropy.io.fits.Header, optional
        Cards copied into the primary header first.

    Returns
    -------
    astropy.io.fits.HDUList
    """
    primary = fits.PrimaryHDU(
        np.asarray(comb.data, dtype=np.float32),
        header=header.copy() if header is not None else None,
    )
    primary.header["COMBMETH"] = (comb.method, "combination method")
    if masks_uuid:
        primary.header["CRMUUID"] = (masks_uuid, "UUID of the CR masks")
    for line in history:
        primary.header.add_history(ascii_text(line))
    if masks_uuid:
        primary.header.add_history(f"Masks UUID: {masks_uuid}")
    return fits.HDUList(
        [
            primary,
            fits.ImageHDU(np.asarray(comb.variance, dtype=np.float32), name="VARIANCE"),
            fits.ImageHDU(np.asarray(comb.map, dtype=np.int16), name="MAP"),
        ]
    )
