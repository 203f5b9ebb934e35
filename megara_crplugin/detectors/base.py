"""The single-image detector interface (Aux.Cosmic) and the helpers its adapters share.

A detector is a small class registered under a name in the entry-point group
``megara_crplugin.detectors``.  It is built once per run from the validated
parameters of its prefix (``la_*``, ``pc_*``, ``dc_*``, ``nn_*``) and then
called on several 2-D images (median, each exposure, mean, meancr).

Units: every image passed to :meth:`Detector.detect` is bias-subtracted and in
ADU; ``gain`` is in e-/ADU and ``rnoise`` in ADU.  Adapters convert to whatever
unit their back-end needs and return the cleaned image in ADU again.

Mask polarity: ``True`` = cosmic ray.

Besides the protocol this module holds what several adapters need:

* :func:`merge_peak_tail` - the two-pass merge (run-1 pixels kept: defect 21, docs/divergences.md);
* :func:`masked_median_replace` - vectorised masked-median inpainting;
* :func:`second_pass_windowed` - run a *local* second pass only on windows
  around the first-pass detections, with the same result as a full-frame run;
* :class:`BaseDetector` - input validation and its frozen parameters
  (:class:`~megara_crplugin.config.detector_config.DetectorConfig`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ..config.detector_config import DetectorConfig, declared_config_class
from ..noise_values import NoiseRule, noise_problem
from ._windows import masked_median_replace, merge_peak_tail, second_pass_windowed

__all__ = [
    "BaseDetector",
    "Detection",
    "Detector",
    "MissingOptionalDependency",
    "as_pair",
    "compose_cleaned",
    "masked_median_replace",
    "merge_peak_tail",
    "second_pass_windowed",
]

_log = logging.getLogger(__name__)


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

    Attributes
    ----------
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

    def __init__(self, params: Mapping[str, Any]) -> None:
        """Build the detector from its parameters (keys with its prefix).

        The pipeline passes the frozen, read-only mapping made by
        :meth:`CRConfig.detector_config <megara_crplugin.config.CRConfig.detector_config>`.
        """
        ...

    def detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        """Detect cosmic rays in one bias-subtracted image (ADU)."""
        ...


# --------------------------------------------------------------------------- validation


def as_pair(name: str, value: Any) -> tuple[float, float]:
    """Return a two-pass parameter as a tuple ``(first_pass, second_pass)``.

    Parameters
    ----------
    name : str
        Parameter name, used in the error message.
    value : float or sequence of two floats
        A scalar is used for both passes.

    Returns
    -------
    tuple of float
        ``(run1, run2)``.

    Raises
    ------
    ValueError
        If ``value`` is not a finite number or a sequence of exactly two.
    """
    if np.ndim(value) == 0:
        values = (value, value)
    else:
        values = tuple(np.asarray(value, dtype=object).ravel())
        if len(values) != 2:
            raise ValueError(
                f"{name} must be a number or a list of two numbers (first, second pass), "
                f"got {value!r}"
            )
    try:
        pair = (float(values[0]), float(values[1]))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must contain numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in pair):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return pair


def _positive_scalar(name: str, value: Any) -> float:
    """``gain`` (e-/ADU) or ``rnoise`` (ADU) as one number, checked with the schema's rule."""
    rule = NoiseRule.of(name)
    unit = rule.unit
    if np.ndim(value) != 0:
        raise ValueError(
            f"{name} must be a scalar ({unit}) for single-image detectors, "
            f"got an array of shape {np.shape(value)}"
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number ({unit}), got {value!r}") from None
    if noise_problem(number, rule) is not None:
        raise ValueError(f"{name} must be finite and {rule.text} ({unit}), got {value!r}")
    return number


def validate_image(image: Any) -> np.ndarray:
    """Check a detector input image and return it as an ndarray (no copy if possible).

    Raises
    ------
    ValueError
        If the image is not a real 2-D array of at least 3x3 finite values.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"image must be a 2-D array (ny, nx), got {array.ndim} dimension(s)")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image must hold real numbers, got dtype {array.dtype}")
    if min(array.shape) < 3:
        raise ValueError(f"image must be at least 3x3 pixels, got shape {array.shape}")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(array.size - np.count_nonzero(finite))
            raise ValueError(
                f"image contains {bad} non-finite value(s) (NaN or Inf); "
                "replace or mask them before cosmic-ray detection"
            )
    return array


def compose_cleaned(
    image: np.ndarray,
    mask: np.ndarray,
    sources: list[tuple[np.ndarray, np.ndarray]],
    *,
    divide_by: np.floating | None = None,
) -> np.ndarray:
    """Build a cleaned image equal to ``image`` except at ``mask`` pixels.

    Parameters
    ----------
    image : ndarray
        The detector input (ADU); never modified.
    mask : ndarray of bool
        Pixels to replace (True = cosmic ray).
    sources : list of (selection, values)
        Applied in order: ``out[mask & selection] = values[mask & selection]``.
    divide_by : numpy scalar, optional
        Divide the picked values by this (e.g. the gain, to go from electrons
        back to ADU): only the picked pixels are divided, with the same result
        as dividing the whole ``values`` array first.

    Returns
    -------
    ndarray
        float32 for integer/float32 input, float64 for float64 input.
    """
    out = np.array(image, dtype=np.result_type(image.dtype, np.float32), copy=True)
    for selection, values in sources:
        pick = mask & selection
        out[pick] = values[pick] if divide_by is None else values[pick] / divide_by
    return out


# --------------------------------------------------------------------------- base class


class BaseDetector:
    """Common behaviour of the built-in detectors.

    Subclasses define the class attributes of :class:`Detector`, a
    ``defaults`` mapping (parameter name -> default value) and
    :meth:`_detect`; a built-in detector also sets ``config_class``, the
    frozen class of its schema group.  Unknown parameters carrying the
    detector's prefix are rejected (typos); parameters of other prefixes are
    ignored.

    Parameters
    ----------
    params : mapping, optional
        Parameters of the detector's prefix; missing keys take ``defaults``.
        An instance of the detector's configuration class (as given by
        :meth:`CRConfig.detector_config
        <megara_crplugin.config.CRConfig.detector_config>`) is used as it is.

    Attributes
    ----------
    config : DetectorConfig
        The frozen parameters: one attribute per key of ``defaults``
        (``self.config.la_niter``), also readable as a read-only mapping.
    """

    name: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    provides_cleaned: ClassVar[bool] = True
    extra: ClassVar[str | None] = None
    package: ClassVar[str | None] = None
    defaults: ClassVar[Mapping[str, Any]] = {}
    config_class: ClassVar[type[DetectorConfig] | None] = None

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        params = params if params is not None else {}
        unknown = sorted(k for k in params if k.startswith(self.prefix) and k not in self.defaults)
        if unknown:
            raise ValueError(
                f"unknown {self.name} parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(self.defaults))}"
            )
        self.config: DetectorConfig = self.config_type().from_params(params)

    @classmethod
    def config_type(cls) -> type[DetectorConfig]:
        """The frozen configuration class: ``config_class``, or one made from ``defaults``.

        Raises
        ------
        ValueError
            If a name of ``defaults`` cannot be an attribute (not an identifier,
            starts with ``_``, or names a method of the configuration).
        """
        if cls.config_class is not None:
            return cls.config_class
        return declared_config_class(cls.name, cls.defaults)

    @property
    def params(self) -> DetectorConfig:
        """:attr:`config` (frozen) read as a mapping, e.g. ``self.params["xt_nsigma"]``."""
        return self.config

    @classmethod
    def missing_dependency(cls, crmethod: str | None = None) -> MissingOptionalDependency:
        """Build the error raised when the back-end package is not importable."""
        who = f"crmethod '{crmethod}'" if crmethod else f"detector '{cls.name}'"
        return MissingOptionalDependency(
            f"{who} needs the optional package {cls.package}: "
            f"pip install 'megara-crplugin[{cls.extra}]'"
        )

    def detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        """Detect cosmic rays in one bias-subtracted image.

        Parameters
        ----------
        image : array_like, shape (ny, nx)
            Bias-subtracted image in ADU (finite values).  Not modified.
        gain : float
            Gain in e-/ADU (> 0).
        rnoise : float
            Read noise in ADU (>= 0).

        Returns
        -------
        Detection
            ``mask`` (bool, True = cosmic ray) and ``cleaned`` (ADU, equal to
            the input outside the mask) or ``None``.

        Raises
        ------
        ValueError
            If the image, gain or read noise are invalid.
        """
        array = validate_image(image)
        gain = _positive_scalar("gain", gain)
        rnoise = _positive_scalar("rnoise", rnoise)
        return self._detect(array, gain=gain, rnoise=rnoise)

    def _detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        raise NotImplementedError

    def _log_level(self) -> int:
        verbose = self.config.get(f"{self.prefix}verbose", False)
        return logging.INFO if verbose else logging.DEBUG

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({items})"
