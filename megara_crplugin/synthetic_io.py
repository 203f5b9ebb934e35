"""FITS output of :mod:`megara_crplugin.synthetic`: the frames and the truth file.

Frames in ADU; truth masks ``True`` = pixel hit by a cosmic ray.  Every file is
written atomically (temporary file renamed), nothing the user owns is overwritten
unless ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path
from .synthetic_scene import CREvent, SyntheticSet

__all__ = ["write_frames", "write_truth"]

_LOG = logging.getLogger("megara_crplugin.synthetic")
#: Nominal exposure time written in the headers (s).
_EXPTIME = 1200.0


def _atomic_write(hdul, path: Path) -> None:
    """Write ``hdul`` to a temporary file beside ``path``, then rename it."""
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="exception")


def _content_uuid(array: np.ndarray) -> str:
    """UUID derived from the pixel values: same data, same UUID (reproducible files)."""
    digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8), digest_size=16)
    return str(uuid.UUID(bytes=digest.digest(), version=4))


def _check_sset(sset: Any) -> None:
    if not isinstance(sset, SyntheticSet):
        raise TypeError(f"sset must be a SyntheticSet, got {type(sset).__name__}")


def _prepare_directory(directory: Any) -> Path:
    try:
        path = Path(os.fspath(directory))
    except TypeError:
        raise TypeError(f"directory must be a path, got {directory!r}") from None
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"directory {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_frames(
    sset: SyntheticSet,
    directory,
    *,
    prefix: str = "frame",
    overwrite: bool = False,
    extra_header: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write each frame to ``<directory>/<prefix>_<i>.fits`` (i = 1..N).

    Each file holds one float32 primary HDU in ADU (bias included) with
    ``EXPTIME``, ``GAIN`` (e-/ADU), ``RDNOISE`` (ADU), ``UUID``,
    ``OBJECT='SYNTHETIC'`` and the frame's flux factor and offset.  The UUID
    is derived from the pixel values, so rewriting a set gives identical
    files.  Files are written to a temporary name and renamed.

    Parameters
    ----------
    sset : SyntheticSet
        The set to write.
    directory : str or os.PathLike
        Output directory, created if missing.
    prefix : str, optional
        File-name prefix (no path separators).
    overwrite : bool, optional
        Replace existing files; otherwise an existing file is an error raised
        before anything is written.
    extra_header : mapping, optional
        Additional header cards (keyword -> value) for every frame, e.g.
        ``{'INSTRUME': 'MEGARA'}``.

    Returns
    -------
    list of pathlib.Path
        The files written, in frame order.

    Raises
    ------
    FileExistsError
        If a target file exists and ``overwrite`` is false.
    ValueError
        If ``prefix`` is empty or contains a path separator.
    """
    from astropy.io import fits

    _check_sset(sset)
    if not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix:
        raise ValueError(f"prefix must be a non-empty file-name prefix, got {prefix!r}")
    out_dir = _prepare_directory(directory)
    paths = [out_dir / f"{prefix}_{i + 1}.fits" for i in range(sset.n_frames)]
    if not overwrite:
        for path in paths:
            if path.exists():
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    for i, path in enumerate(paths):
        data = np.asarray(sset.frames[i], dtype=np.float32)
        hdr = fits.Header()
        hdr["EXPTIME"] = (_EXPTIME, "[s] nominal exposure time")
        hdr["GAIN"] = (sset.gain, "[e-/ADU] gain")
        hdr["RDNOISE"] = (sset.rnoise, "[ADU] read noise")
        hdr["UUID"] = (_content_uuid(data), "derived from the pixel values")
        hdr["OBJECT"] = "SYNTHETIC"
        hdr["BUNIT"] = "ADU"
        hdr["ORIGIN"] = "megara_crplugin.synthetic"
        hdr["FRAMENUM"] = (i + 1, "frame number in the synthetic set")
        hdr["NFRAMES"] = (sset.n_frames, "frames in the synthetic set")
        hdr["SYNBIAS"] = (sset.bias, "[ADU] bias level included in the data")
        hdr["SYNFLUXF"] = (float(sset.flux_factors[i]), "flux factor of this frame")
        hdr["SYNXOFF"] = (float(sset.offsets[i, 0]), "[px] scene offset along x")
        hdr["SYNYOFF"] = (float(sset.offsets[i, 1]), "[px] scene offset along y")
        for key, value in (extra_header or {}).items():
            hdr[key] = value
        _atomic_write(fits.HDUList([fits.PrimaryHDU(data=data, header=hdr)]), path)
    _LOG.info("wrote %d synthetic frames to %s", len(paths), out_dir)
    return paths


def write_truth(sset: SyntheticSet, path, *, overwrite: bool = False) -> Path:
    """Write the ground truth of a set to one FITS file.

    Extensions: ``TRUTH`` (uint8 cube, 1 = pixel hit by a cosmic ray in that
    frame), ``SIGNAL`` (float32, noiseless signal in ADU, bias-free),
    ``CRFLUX`` (float32 cube, cosmic-ray flux in ADU) and ``EVENTS`` (one row
    per event: ``KIND``, ``FRAMES`` as 1-based frame numbers ``'1,3'``,
    ``X``/``Y`` of the brightest pixel in 1-based FITS pixel coordinates,
    ``NPIX``, ``PEAK`` in ADU and ``FAINT``).  The primary header records
    gain, read noise, bias, flux factors and offsets.

    Parameters
    ----------
    sset : SyntheticSet
        The set whose truth is written.
    path : str or os.PathLike
        Output file; its directory must exist.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the parent directory of ``path`` does not exist.
    """
    from astropy.io import fits

    _check_sset(sset)
    path = Path(os.fspath(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {str(path.parent)!r} of path does not exist")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["ORIGIN"] = "megara_crplugin.synthetic"
    hdr["NFRAMES"] = sset.n_frames
    hdr["GAIN"] = (sset.gain, "[e-/ADU]")
    hdr["RDNOISE"] = (sset.rnoise, "[ADU]")
    hdr["SYNBIAS"] = (sset.bias, "[ADU] bias level included in the frames")
    for i in range(sset.n_frames):
        hdr[f"FLUXF{i + 1}"] = float(sset.flux_factors[i])
        hdr[f"XOFF{i + 1}"] = (float(sset.offsets[i, 0]), "[px]")
        hdr[f"YOFF{i + 1}"] = (float(sset.offsets[i, 1]), "[px]")
    hdr["NEVENTS"] = (len(sset.events), "injected cosmic-ray events")
    hdr["NMULTI"] = (int(sset.multi_hit.sum()), "pixels hit in >= 2 frames")
    rows = _event_rows(sset.events)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="KIND", format="8A", array=rows["kind"]),
            fits.Column(name="FRAMES", format="32A", array=rows["frames"]),
            fits.Column(name="X", format="J", array=rows["x"]),
            fits.Column(name="Y", format="J", array=rows["y"]),
            fits.Column(name="NPIX", format="J", array=rows["npix"]),
            fits.Column(name="PEAK", format="E", unit="ADU", array=rows["peak"]),
            fits.Column(name="FAINT", format="L", array=rows["faint"]),
        ],
        name="EVENTS",
    )
    hdul = fits.HDUList(
        [
            primary,
            fits.ImageHDU(sset.truth.astype(np.uint8), name="TRUTH"),
            fits.ImageHDU(np.asarray(sset.signal, dtype=np.float32), name="SIGNAL"),
            fits.ImageHDU(np.asarray(sset.cr_flux, dtype=np.float32), name="CRFLUX"),
            table,
        ]
    )
    _atomic_write(hdul, path)
    return path


def _event_rows(events: Sequence[CREvent]) -> dict[str, np.ndarray]:
    n = len(events)
    rows = {
        "kind": np.array([ev.kind for ev in events], dtype="U8") if n else np.zeros(0, "U8"),
        "frames": np.array([",".join(str(f + 1) for f in ev.frames) for ev in events] or [""])[:n],
        "x": np.zeros(n, np.int32),
        "y": np.zeros(n, np.int32),
        "npix": np.array([ev.npix for ev in events], dtype=np.int32),
        "peak": np.zeros(n, np.float32),
        "faint": np.array([ev.faint for ev in events], dtype=bool),
    }
    for j, ev in enumerate(events):
        k = int(np.argmax(ev.amplitudes.max(axis=0)))
        rows["x"][j], rows["y"][j] = ev.xs[k] + 1, ev.ys[k] + 1
        rows["peak"][j] = ev.amplitudes.max()
    return rows
