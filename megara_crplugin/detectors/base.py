"""The single-image detector interface (Aux.Cosmic) and its registry.

A detector is a small class registered under a name in the entry-point group
``megara_crplugin.detectors``.  It is built once per run from the validated
parameters of its prefix (``la_*``, ``pc_*``, ``dc_*``, ``nn_*``) and then
called on several 2-D images (median, each exposure, mean, meancr).

Units: every image passed to :meth:`Detector.detect` is bias-subtracted and in
ADU; ``gain`` is in e-/ADU and ``rnoise`` in ADU.  Adapters convert to whatever
unit their back-end needs and return the cleaned image in ADU again.

Mask polarity: ``True`` = cosmic ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Detection",
    "Detector",
    "MissingOptionalDependency",
]


class MissingOptionalDependency(ImportError):
    """An optional package needed by a detector is not installed.

    The message names the ``pip install megara-crplugin[EXTRA]`` command.
    """


@dataclass(frozen=True)
class Detection:
    """Result of one detector call.

    Attributes
    ----------
    mask : numpy.ndarray of bool, shape (ny, nx)
        ``True`` where a cosmic ray was detected.
    cleaned : numpy.ndarray of float or None
        The cleaned image in the same unit as the input (ADU), or ``None``
        when the detector does not clean (Cosmic-CoNN).
    """

    mask: np.ndarray
    cleaned: np.ndarray | None


@runtime_checkable
class Detector(Protocol):
    """Protocol every Aux.Cosmic detector follows.

    Class attributes
    ----------------
    name : str
        Registry name (``lacosmic``, ``pycosmic``, ``deepcr``, ``conn``).
    prefix : str
        Parameter prefix (``la_``, ``pc_``, ``dc_``, ``nn_``).
    provides_cleaned : bool
        Whether :meth:`detect` returns a cleaned image.
    extra : str or None
        Name of the optional extra that installs its back-end.
    """

    name: ClassVar[str]
    prefix: ClassVar[str]
    provides_cleaned: ClassVar[bool]
    extra: ClassVar[str | None]

    def __init__(self, params: Mapping[str, Any]) -> None: ...

    def detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        """Detect cosmic rays in one bias-subtracted image (ADU)."""
        ...
