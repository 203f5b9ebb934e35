"""The one cosmic-ray mask type consumed by the combinations.

:class:`CRMasks` is what :func:`megara_crplugin.crmasks_file.read_crmasks` returns and
what :attr:`megara_crplugin.result.CRMaskResult.crmasks` gives for masks still in
memory (the same arrays, not copies).  :mod:`megara_crplugin.combination` accepts only
this type.

Mask polarity: ``True`` = cosmic ray.  Images in ADU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CRMasks"]


@dataclass(frozen=True)
class CRMasks:
    """Cosmic-ray masks and the keywords the combinations need.

    Attributes
    ----------
    uuid : str
        Identifier of the masks (``UUID`` of ``crmasks.fits``).
    flux_factors : ndarray, shape (N,)
        Flux factor of each exposure (dimensionless).
    masks : mapping of str to ndarray of bool
        ``MEDIANCR``, ``MEANCRT``, ``CRMASK1..N`` and ``MEANCR`` in file order,
        each (ny, nx); True = cosmic ray.
    auxclean : ndarray or None
        Aux-cleaned median2d (ADU), when the detector cleans images.
    rpmedian : tuple of (X, Y, X_width, Y_width)
        Pixels replaced by a local median (FITS coordinates, from 1).
    apply_flux_factor_to : str
        ``'simulated'`` or ``'original'``: how the masks were computed (the
        combinations divide by the flux factors by default only for
        ``'original'``).
    cr_coincidences : int
        ``mm_cr_coincidences`` of the masks (min2d rule of the replacements).
    frame_uuids : tuple of str
        Identity of each exposure (``FUUID1..N``); empty when not recorded.
    header : astropy.io.fits.Header or None
        Primary header of the file the masks were read from (None in memory).
    defects : ndarray of bool or None
        Detector defects (True = defect, never in a mask); None when absent.
    """

    uuid: str
    flux_factors: np.ndarray
    masks: Mapping[str, np.ndarray]
    auxclean: np.ndarray | None = None
    rpmedian: tuple[tuple[int, int, int, int], ...] = ()
    apply_flux_factor_to: str = "simulated"
    cr_coincidences: int = 2
    frame_uuids: tuple[str, ...] = ()
    header: Any = None
    defects: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Number of exposures the masks were computed for."""
        return len(self.flux_factors)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx)."""
        return self.masks["MEDIANCR"].shape
