"""Data containers passed between the stages (no computation, no I/O).

Units: all images are bias-subtracted and in ADU (electrons for MEGARA, where
the recipe works with gain = 1).  Mask polarity everywhere: ``True`` = cosmic ray.
Coordinates: arrays are indexed ``[y, x]`` from 0; FITS coordinates (X, Y)
start at 1, so pixel (X, Y) is element ``[Y - 1, X - 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .crmasks_type import CRMasks

if TYPE_CHECKING:  # pragma: no cover
    from .boundary import Boundary
    from .config import CRConfig
    from .noisecheck import NoiseCheck

__all__ = [
    "CODE_AUX",
    "CODE_BOTH",
    "CODE_DILATION",
    "CODE_MM",
    "CRMaskResult",
    "Feature",
    "SimulatedHistogram",
    "StackStatistics",
    "TargetDetection",
]

#: Codes of the MEDIANCR detection map.
CODE_DILATION = 1
CODE_MM = 2
CODE_AUX = 3
CODE_BOTH = 4


@dataclass
class StackStatistics:
    """Per-pixel statistics along the exposure axis of the stack (ADU).

    Attributes
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-subtracted exposures, divided by their flux factors when
        ``apply_flux_factor_to == 'original'``.
    min2d : ndarray, shape (ny, nx)
        Mean of the ``N - mm_cr_coincidences`` lowest values (the minimum for
        N = 3).  Abscissa of the MM diagram.
    max2d, median2d, mean2d : ndarray, shape (ny, nx)
        Maximum, median and mean along the exposure axis.
    """

    stack: np.ndarray
    min2d: np.ndarray
    max2d: np.ndarray
    median2d: np.ndarray
    mean2d: np.ndarray

    @property
    def n_frames(self) -> int:
        """Number of exposures."""
        return self.stack.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx)."""
        return self.stack.shape[1:]


@dataclass
class SimulatedHistogram:
    """MM diagram histograms (rows = y bins, columns = x bins).

    Attributes
    ----------
    counts : ndarray, shape (ny_bins, nx_bins)
        Mean number of simulated pixels per bin and simulation, after the
        isolated-bin removal.
    real_counts : ndarray, shape (ny_bins, nx_bins)
        Histogram of the real data (median2d - min2d versus min2d).
    xedges, yedges : ndarray
        Bin edges (ADU).
    nsimulations : int
        Number of simulations accumulated.
    distribution : str
        ``'poisson'`` or ``'nbinom'``.
    scale : NoiseScale, optional
        Abscissa transform of the columns (columns are uniform in
        ``scale.forward(x)``); figures draw the abscissa in that coordinate.
    """

    counts: np.ndarray
    real_counts: np.ndarray
    xedges: np.ndarray
    yedges: np.ndarray
    nsimulations: int
    distribution: str
    nbinom_shape: float | None = None
    synthetic: str = "median"
    scale: Any = None


@dataclass
class TargetDetection:
    """Detections on one target image (median2d, mean2d, exposure i, meancr).

    Attributes
    ----------
    name : str
        Extension name of the mask: ``MEDIANCR``, ``MEANCRT``, ``CRMASK<i>``
        or ``MEANCR``.
    target : ndarray
        The image analysed (ADU).
    flag_aux, flag_mm : ndarray of bool
        Detections of the Aux.Cosmic detector and of M.M.Cosmic before the
        global dilation (all False when the method is not used).
    code : ndarray of uint8
        0 clean, 1 added by global dilation, 2 M.M.Cosmic only, 3 Aux only,
        4 both.
    mask : ndarray of bool
        Final mask written to ``crmasks.fits`` (True = cosmic ray).
    """

    name: str
    target: np.ndarray
    flag_aux: np.ndarray
    flag_mm: np.ndarray
    code: np.ndarray
    mask: np.ndarray


@dataclass
class Feature:
    """One 8-connected group of MEDIANCR pixels.

    Attributes
    ----------
    number : int
        Sequence number after sorting by ``distance`` (1 = farthest above the
        boundary).
    category : str
        ``'any4'``, ``'only3'``, ``'only2'`` or ``'other'``, from all the
        feature's pixels.
    ys, xs : ndarray of int
        Array indices of the feature's pixels.
    codes : ndarray of uint8
        MEDIANCR code of each pixel.
    distance : float
        Largest ``y - boundary(x)`` of the feature's pixels in the median
        diagram (ADU); ``-inf`` where no boundary exists (Aux-only methods),
        in which case features are sorted by their peak ``y``.
    """

    number: int
    category: str
    ys: np.ndarray
    xs: np.ndarray
    codes: np.ndarray
    distance: float

    @property
    def centroid(self) -> tuple[float, float]:
        """Centroid ``(y, x)`` in array indices."""
        return float(np.mean(self.ys)), float(np.mean(self.xs))


@dataclass
class CRMaskResult:
    """Everything the mask computation produced.

    ``targets`` holds, in file order, ``MEDIANCR``, ``MEANCRT``,
    ``CRMASK1..N`` and ``MEANCR``.
    """

    config: CRConfig
    uuid: str
    flux_factors: np.ndarray
    mm_threshold: float
    stats: StackStatistics
    targets: dict[str, TargetDetection]
    features: list[Feature]
    problematic: np.ndarray
    auxclean: np.ndarray | None = None
    rpmedian: tuple[tuple[int, int, int, int], ...] = ()
    histogram: SimulatedHistogram | None = None
    boundary: Boundary | None = None
    offsets: np.ndarray | None = None
    gain: np.ndarray | float = 1.0
    rnoise: np.ndarray | float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    #: Detector defects (:class:`~megara_crplugin.defects.DefectMap`; True = defect,
    #: never in a cosmic-ray mask), None when not classified.
    defects: Any = None
    #: Number of features rejected as flux changes, per target (``MEDIANCR``,
    #: ``MEANCRT``, ``CRMASK<i>``); empty when ``flux_change_rejection`` is off.
    flux_changes: dict[str, int] = field(default_factory=dict)
    #: The noise model checked against the frames (None when not run).
    noise_check: NoiseCheck | None = None

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """Final boolean masks keyed by extension name, in file order."""
        return {name: t.mask for name, t in self.targets.items()}

    @property
    def crmasks(self) -> CRMasks:
        """The masks as the combinations take them (the same arrays, not copies).

        Carries ``apply_flux_factor_to`` and ``mm_cr_coincidences`` of
        :attr:`config`, the defects mask when classified, and no frame
        identities (those are recorded only when the file is written).
        """
        cfg = self.config
        return CRMasks(
            uuid=self.uuid,
            flux_factors=self.flux_factors,
            masks=self.masks,
            auxclean=self.auxclean,
            rpmedian=self.rpmedian,
            apply_flux_factor_to=cfg.apply_flux_factor_to,
            cr_coincidences=int(cfg.mm_cr_coincidences),
            defects=None if self.defects is None else self.defects.mask,
        )
