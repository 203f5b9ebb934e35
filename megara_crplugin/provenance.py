"""Headers of the products: the first input's header, units and provenance.

``combined_<method>.fits`` keep the header of the first input (OBJECT,
EXPTIME, DATE-OBS, WCS, instrument keys...) with the structural keys removed,
and receive:

* ``BUNIT``: the inputs' unit (``ADU`` when the inputs say nothing);
* ``NCOMBINE``: number of exposures combined (N for every method; the MAP
  extension gives the per-pixel count actually used);
* ``EXPTIME``: unchanged single-exposure time.  Every method returns an image
  at the level of ONE exposure (mean, median, minimum, or a CR-free mean of
  the unmasked values), so the exposure time of the data is that of one
  exposure; ``TOTEXP`` holds the sum of the inputs' EXPTIME;
* ``COMBMETH``, ``CRMUUID``, ``CRSWVER`` (package version), ``CRINPn`` (input
  file names) and a ``VARDEF`` card stating what VARIANCE is for the method.

Everything here reads headers only (never the data).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from astropy.io import fits

from ._version import __version__
from .crmasks_checks import ascii_text

__all__ = [
    "COMBINED_KEYS",
    "combined_header",
    "data_unit",
    "input_header",
    "is_combined_product",
    "variance_definition",
]

#: Keys this package writes into every combined image (tests check them).
COMBINED_KEYS = ("BUNIT", "NCOMBINE", "EXPTIME", "TOTEXP", "COMBMETH", "CRSWVER", "VARDEF")

#: Structural keys never copied from an input header.
_STRUCTURAL = (
    "SIMPLE",
    "XTENSION",
    "BITPIX",
    "NAXIS",
    "EXTEND",
    "PCOUNT",
    "GCOUNT",
    "BZERO",
    "BSCALE",
    "BLANK",
    "CHECKSUM",
    "DATASUM",
    "EXTNAME",
    "EXTVER",
)

#: Keys that mark a file as a combined product (ours or megaradrp's).
_COMBINED_MARKS = ("COMBMETH", "CRMUUID", "NUM-NCOM", "NCOMBINE")

_VARIANCE = {
    "mean": "sample variance (ddof=1) of the N values",
    "median": "sample variance (ddof=1) of the N values (1.0x, not megaradrp's 0.57x)",
    "min": "sample variance (ddof=1) of the N values",
    "mediancr": "sample variance of the N values; 0 where the minimum replaced it",
    "meancrt": "sample variance of the N values; 0 where the minimum replaced it",
    "meancr": "sample variance of the unmasked values; 0 where one value was used",
    "meancr2": "sample variance of the unmasked values; 0 where one value was used",
}


def variance_definition(method: str) -> str:
    """One line saying what the VARIANCE extension holds for ``method``."""
    return _VARIANCE.get(method, "sample variance (ddof=1) of the values combined")


def _hdu_of(hdul: fits.HDUList, extnum: int | None, extname: str | None):
    if extname is not None and extname in hdul:
        return hdul[extname]
    if extnum is not None and 0 <= extnum < len(hdul):
        return hdul[extnum]
    return next((h for h in hdul if h.data is not None), hdul[0])


def input_header(
    path: str | os.PathLike, *, extnum: int | None = None, extname: str | None = None
) -> fits.Header:
    """Header of the HDU read from ``path`` (same HDU rule as ``read_frames``).

    The primary header is merged underneath an extension's header, so keys
    such as OBJECT and DATE-OBS that MEGARA keeps in the primary HDU are kept.
    """
    with fits.open(path, memmap=False) as hdul:
        hdu = _hdu_of(hdul, extnum, extname)
        header = fits.Header()
        if hdu is not hdul[0]:
            header.update(hdul[0].header)
        header.update(hdu.header)
    return _without_structure(header)


def _without_structure(header: fits.Header) -> fits.Header:
    """Copy of ``header`` without the structural keys (BITPIX, NAXISn, BZERO...)."""
    header = header.copy()
    for key in _STRUCTURAL:
        header.remove(key, ignore_missing=True, remove_all=True)
    for key in [k for k in header if k.startswith("NAXIS")]:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header


def data_unit(header: fits.Header | None) -> str:
    """The ``BUNIT`` of ``header`` or ``'ADU'``."""
    if header is None:
        return "ADU"
    unit = str(header.get("BUNIT", "") or "").strip()
    return unit or "ADU"


def _exptimes(paths: Sequence[str | os.PathLike]) -> list[float]:
    times = []
    for p in paths:
        try:
            value = fits.getval(p, "EXPTIME")
        except (KeyError, OSError, IndexError):
            continue
        try:
            times.append(float(value))
        except (TypeError, ValueError):
            continue
    return times


def combined_header(
    first: fits.Header | None,
    *,
    method: str,
    inputs: Sequence[str | os.PathLike],
    masks_uuid: str | None = None,
) -> fits.Header:
    """Primary header of ``combined_<method>.fits`` (see the module docstring).

    Parameters
    ----------
    first : astropy.io.fits.Header or None
        Header of the first input (from :func:`input_header`).
    method : str
        Combination method.
    inputs : sequence of path-like
        The input files, in order (recorded as ``CRINP<i>`` file names).
    masks_uuid : str, optional
        UUID of the masks used.

    Returns
    -------
    astropy.io.fits.Header
    """
    header = _without_structure(first) if first is not None else fits.Header()
    header["BUNIT"] = (data_unit(first), "unit of the data (that of the inputs)")
    header["NCOMBINE"] = (len(inputs), "exposures combined (MAP: used per pixel)")
    times = _exptimes(inputs)
    if times:
        header["EXPTIME"] = (
            float(first.get("EXPTIME", times[0])) if first is not None else times[0],
            "[s] of one exposure (combination per exposure)",
        )
        header["TOTEXP"] = (float(sum(times)), "[s] sum of the inputs' EXPTIME")
    header["COMBMETH"] = (method, "combination method")
    header["CRSWVER"] = (f"megara_crplugin {__version__}", "software that combined")
    if masks_uuid:
        header["CRMUUID"] = (masks_uuid, "UUID of the CR masks")
    header["VARDEF"] = variance_definition(method)[:68]
    header.add_comment(f"VARIANCE extension ({method}): {variance_definition(method)}")
    for i, p in enumerate(inputs, start=1):
        header[f"CRINP{i}"] = (ascii_text(Path(p).name)[:68], f"input exposure {i}")
    return header


def is_combined_product(header: fits.Header) -> str | None:
    """Name of the key showing that ``header`` is a combined product, else None.

    ``COMBMETH``/``CRMUUID`` are ours; ``NUM-NCOM`` or ``NCOMBINE`` > 1 are
    written by numina/megaradrp combinations (e.g. ``preprocessed_median.fits``).
    """
    for key in _COMBINED_MARKS:
        if key not in header:
            continue
        if key in ("NCOMBINE", "NUM-NCOM"):
            try:
                if int(header[key]) <= 1:
                    continue
            except (TypeError, ValueError):
                continue
        return key
    return None


def refuse_combined_inputs(
    paths: Sequence[str | os.PathLike], *, extnum: int | None = None, extname: str | None = None
) -> None:
    """Raise InputError when an input is a combined product (not an exposure).

    ``ls preprocessed_*.fits`` also lists ``preprocessed_median.fits``; a
    combined image among the inputs would silently become one more
    "exposure".  Only headers are read.
    """
    from .exceptions import InputError

    for p in paths:
        try:
            with fits.open(p, memmap=False) as hdul:
                hdu = _hdu_of(hdul, extnum, extname)
                header = fits.Header(hdul[0].header)
                header.update(hdu.header)
        except (OSError, ValueError):
            continue  # unreadable files are reported by read_frames
        key = is_combined_product(header)
        if key is not None:
            raise InputError(
                f"input image {p}: a combined product (header {key} = {header[key]!r}), "
                "not an exposure; remove it from the input list"
            )
