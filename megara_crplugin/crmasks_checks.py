"""Validation of every keyword and extension of ``crmasks.fits`` that the reader uses.

Called by :func:`megara_crplugin.crmasks_file.read_crmasks`; each problem is
an :class:`~megara_crplugin.exceptions.InputError` naming the file, the
keyword or extension and what is expected.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from .exceptions import InputError

__all__ = ["FFAPPLY_VALUES", "ascii_text", "check_crmasks_hdul"]

#: Values of ``FFAPPLY`` (``apply_flux_factor_to``).
FFAPPLY_VALUES = ("original", "simulated")


def _fail(name, msg):
    raise InputError(f"crmasks file {name}: {msg}")


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_crmasks_hdul(hdul, name: str, ncr: int, shape: tuple[int, int]) -> None:
    """Check the primary keywords, the mask values, AUXCLEAN and RPMEDIAN.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    name : str
        Its name in messages.
    ncr : int
        Number of ``CRMASKi`` extensions.
    shape : tuple of int
        Shape (ny, nx) of the masks.

    Raises
    ------
    InputError
    """
    hdr = hdul[0].header
    uuid = hdr.get("UUID")
    if not isinstance(uuid, str) or not uuid.strip():
        _fail(name, f"UUID: expected a non-empty string, got {uuid!r}")
    for i in range(1, ncr + 1):
        value = hdr.get(f"FLUXF{i}")
        if not _number(value) or not math.isfinite(value) or value <= 0:
            _fail(name, f"FLUXF{i}: expected a finite number > 0, got {value!r}")
    if "NFRAMES" in hdr and (not isinstance(hdr["NFRAMES"], Integral) or hdr["NFRAMES"] != ncr):
        _fail(name, f"NFRAMES: expected {ncr} (the number of CRMASKi), got {hdr['NFRAMES']!r}")
    ffapply = hdr.get("FFAPPLY", "simulated")
    if ffapply not in FFAPPLY_VALUES:
        _fail(name, f"FFAPPLY: expected one of {', '.join(FFAPPLY_VALUES)}, got {ffapply!r}")
    coinc = hdr.get("CRCOINC", 2)
    if not isinstance(coinc, Integral) or isinstance(coinc, bool) or not 2 <= coinc <= ncr - 1:
        _fail(name, f"CRCOINC: expected an integer from 2 to {ncr - 1} (N - 1), got {coinc!r}")
    _check_fuuids(hdr, name, ncr)
    for ext in ["MEDIANCR", "MEANCRT", "MEANCR"] + [f"CRMASK{i}" for i in range(1, ncr + 1)]:
        data = hdul[ext].data
        if not (np.issubdtype(data.dtype, np.integer) or data.dtype == bool):
            _fail(name, f"extension {ext}: expected an integer 0/1 mask, got dtype {data.dtype}")
        if data.size and (data.min() < 0 or data.max() > 1):
            _fail(name, f"extension {ext}: expected values 0 or 1, got {data.min()}..{data.max()}")
    _check_auxclean(hdul, name, shape)
    _check_rpmedian(hdul, name, shape)


def _check_fuuids(hdr, name, ncr):
    present = [i for i in range(1, ncr + 1) if f"FUUID{i}" in hdr]
    if present and len(present) != ncr:
        _fail(name, f"FUUIDi: expected one per exposure (1..{ncr}), got {len(present)}")
    values = [hdr[f"FUUID{i}"] for i in present]
    for i, v in zip(present, values, strict=True):
        if not isinstance(v, str) or not v.strip():
            _fail(name, f"FUUID{i}: expected a non-empty string, got {v!r}")
    if len(set(values)) != len(values):
        _fail(name, "FUUIDi: the same exposure is recorded twice")


def _check_auxclean(hdul, name, shape):
    if "AUXCLEAN" not in hdul:
        return
    data = hdul["AUXCLEAN"].data
    if data is None or data.ndim != 2 or tuple(data.shape) != tuple(shape):
        got = None if data is None else data.shape
        _fail(name, f"extension AUXCLEAN: expected an image of shape {tuple(shape)}, got {got}")
    if not np.issubdtype(data.dtype, np.number) or not np.all(np.isfinite(data)):
        _fail(name, "extension AUXCLEAN: expected finite values")


def _check_rpmedian(hdul, name, shape):
    if "RPMEDIAN" not in hdul:
        return
    table = hdul["RPMEDIAN"].data
    cols = ("X_pixel", "Y_pixel", "X_width", "Y_width")
    if table is None:
        return
    missing = [c for c in cols if c not in table.names]
    if missing:
        _fail(name, f"extension RPMEDIAN: missing column(s) {', '.join(missing)}")
    ny, nx = shape
    for col in cols:
        if not np.issubdtype(np.asarray(table[col]).dtype, np.integer):
            _fail(name, f"extension RPMEDIAN: column {col} expected integers")
    for col, hi in (("X_pixel", nx), ("Y_pixel", ny)):
        v = np.asarray(table[col])
        if v.size and (v.min() < 1 or v.max() > hi):
            _fail(name, f"extension RPMEDIAN: {col} expected within 1..{hi}")
    for col in ("X_width", "Y_width"):
        v = np.asarray(table[col])
        if v.size and v.min() < 1:
            _fail(name, f"extension RPMEDIAN: {col} expected >= 1")


def ascii_text(text: str) -> str:
    """``text`` with every non-ASCII character escaped (FITS cards must be ASCII).

    File and folder names with accents or other scripts are recorded as
    backslash escapes (``xe9``-style) instead of failing at the end of the run.
    """
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    out = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() else "?" for c in out)
