"""The validated configuration :class:`CRConfig`, built from the declarations.

The attributes are not written here: :class:`CRConfig` is made with
:func:`dataclasses.make_dataclass` from
:data:`~megara_crplugin.config.schema.PARAMETERS` (one frozen field per
parameter, annotated with its kind's type), over :class:`_CRConfigMethods`
which holds the methods and properties.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._plugin_params import plugin_config as _plugin_config
from .detector_config import DETECTOR_CONFIGS, DetectorConfig
from .kinds import ConfigError
from .schema import AUX_GROUP as _AUX_GROUP
from .schema import PARAMETERS
from .values import aux_of as _aux_of
from .values import plain as _plain
from .values import same as _same
from .values import scalar as _scalar
from .values import wrap as _wrap

__all__ = ["CRConfig"]

_MAXPLOTS_CAP = 1000

_DOC = """Validated, normalised parameters (build it with :func:`validate_parameters`).

    One attribute per key of :data:`PARAMETERS`; see ``docs/parameters.md``
    for meanings and units.  Normalised forms: ``flux_factor`` is 'auto', a
    tuple of N floats, or (number of exposures unknown) None for 'none' or a
    float for a single number; regions are tuples of
    :class:`~megara_crplugin.regions.Region` (FITS, 1-based inclusive);
    pixel lists are tuples of int tuples ``(X, Y)`` / ``(X, Y, Xw, Yw)``;
    two-element parameters are ``(float, float)``; ``mm_fixed_points_in_boundary``
    is a tuple of ``(x, y, weight)``; ``gain`` (e-/ADU), ``rnoise`` and ``bias``
    (ADU) are floats or read-only 2-D float64 arrays.
    """


class _CRConfigMethods:
    """Methods and properties of :class:`CRConfig` (its fields come from the schema)."""

    _n_images: int | None
    _shape: tuple[int, int] | None
    _plugin: Mapping[str, Any]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CRConfig):
            return NotImplemented
        return dict(self._plugin) == dict(other._plugin) and all(
            _same(getattr(self, name), getattr(other, name)) for name in PARAMETERS
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n_images(self) -> int | None:
        """Number of exposures the configuration was validated for (None if unknown)."""
        return self._n_images

    @property
    def shape(self) -> tuple[int, int] | None:
        """Image shape ``(ny, nx)`` the configuration was validated for (None if unknown)."""
        return self._shape

    @property
    def uses_mm(self) -> bool:
        """True when M.M.Cosmic is used (crmethod 'mmcosmic' or 'mm_*')."""
        return self.crmethod == "mmcosmic" or self.crmethod.startswith("mm_")

    @property
    def aux_name(self) -> str | None:
        """Aux.Cosmic detector name ('lacosmic', 'pycosmic', 'deepcr', 'conn') or None."""
        return _aux_of(self.crmethod)

    @property
    def gain_scalar(self) -> float | None:
        """Gain (e-/ADU) as one number, or None when it varies over the image."""
        return _scalar(self.gain)

    @property
    def rnoise_scalar(self) -> float | None:
        """Read noise (ADU) as one number, or None when it varies over the image."""
        return _scalar(self.rnoise)

    @property
    def effective_maxplots(self) -> int:
        """Number of features to plot: ``maxplots``, negative meaning all, capped at 1000."""
        return _MAXPLOTS_CAP if self.maxplots < 0 else min(self.maxplots, _MAXPLOTS_CAP)

    def flux_factors(self, n: int) -> np.ndarray | None:
        """Flux factor of each exposure.

        Parameters
        ----------
        n : int
            Number of exposures.

        Returns
        -------
        numpy.ndarray of float64, shape (n,), or None
            Factor of exposure i relative to the median (dimensionless);
            ones for 'none'; None for 'auto' (to be estimated from the data).

        Raises
        ------
        ConfigError
            When an explicit list does not have ``n`` values.
        """
        ff = self.flux_factor
        if ff == "auto":
            return None
        if ff is None:
            return np.ones(n)
        if isinstance(ff, float):
            return np.full(n, ff)
        if len(ff) != n:
            raise ConfigError(
                f"flux_factor: expected one factor per exposure ({n}), got {len(ff)} factors"
            )
        return np.array(ff, dtype=np.float64)

    def detector_config(self) -> DetectorConfig | None:
        """Return the frozen configuration of the Aux detector, built from the flat keys.

        Returns
        -------
        DetectorConfig or None
            One attribute per key of the detector's prefix, named as the key
            (``cfg.detector_config().la_sigclip == (5.0, 3.0)``), also readable
            as a mapping: for a built-in detector the class of its schema group
            (:data:`~megara_crplugin.config.detector_config.DETECTOR_CONFIGS`),
            for a third-party one a class made from the keys it declares.
            None for 'mmcosmic'.
        """
        aux = self.aux_name
        if aux is None:
            return None
        if aux not in _AUX_GROUP:
            return _plugin_config(aux, self._plugin)
        cls = DETECTOR_CONFIGS[_AUX_GROUP[aux]]
        return cls(**{name: getattr(self, name) for name in cls.defaults})

    def detector_params(self) -> dict[str, Any]:
        """Return the validated parameters of the Aux detector, keys with their prefix.

        Returns
        -------
        dict
            ``dict(self.detector_config())``, e.g. ``{'la_sigclip': (5.0, 3.0), ...}``
            for L.A.Cosmic; empty for 'mmcosmic'.
        """
        return dict(self.detector_config() or {})

    def threshold(self, rnoise_scalar: float | None) -> float:
        """Return the M.M.Cosmic threshold on ``median2d - min2d`` (ADU).

        Parameters
        ----------
        rnoise_scalar : float or None
            Uniform read noise (ADU), or None when it varies over the image.

        Returns
        -------
        float
            ``mm_threshold`` when given; else ``mm_threshold_rnoise *
            rnoise_scalar``; 0.0 when the read noise is not uniform.
        """
        if self.mm_threshold is not None:
            return float(self.mm_threshold)
        if rnoise_scalar is None:
            return 0.0
        return float(self.mm_threshold_rnoise * rnoise_scalar)

    def replace(self, **changes: Any) -> CRConfig:
        """Return a copy with ``changes`` applied, validated again (same n_images/shape).

        Only the changed parameters and the rules across parameters are checked
        again (:func:`~megara_crplugin.config.validation.revalidate`).

        Raises
        ------
        ConfigError
            If a change is invalid or an unknown key is given.
        """
        from .validation import revalidate  # validation builds CRConfig

        return revalidate(self, changes)

    def as_params(self) -> dict[str, Any]:
        """Return the normalised values as a mapping accepted by :func:`validate_parameters`.

        Unlike :meth:`as_dict`, arrays and tuples are kept as they are (no
        copies), so re-validating with a known ``n_images``/``shape`` is cheap.
        """
        return {**{name: getattr(self, name) for name in PARAMETERS}, **self._plugin}

    def as_dict(self) -> dict[str, Any]:
        """All parameters as plain YAML-safe values (lists, not tuples; arrays as lists)."""
        return {name: _plain(value) for name, value in self.as_params().items()}

    def relevant_names(self) -> list[str]:
        """Parameter names used by this crmethod, in documentation order."""
        groups = {"general"}
        if self.aux_name in _AUX_GROUP:
            groups.add(_AUX_GROUP[self.aux_name])
        if self.uses_mm:
            groups.add("mm")
        return [n for n, p in PARAMETERS.items() if p.group in groups]

    def history_lines(self, *, mm_threshold: float | None = None) -> list[str]:
        """Header HISTORY record: ``"name = value"`` for the parameters this crmethod uses.

        Parameters
        ----------
        mm_threshold : float, optional
            Derived threshold actually used (ADU); recorded as
            ``"mm_threshold (derived) = value"`` (defect 27).

        Returns
        -------
        list of str
            Lines of at most 72 characters; long lists continue on lines
            starting with two spaces.  Arrays are written as
            ``array of shape (ny, nx)``.
        """
        lines: list[str] = []
        for name in self.relevant_names():
            lines.extend(_wrap(f"{name} = ", getattr(self, name)))
        for name, value in self._plugin.items():
            lines.extend(_wrap(f"{name} = ", value))
        if mm_threshold is not None:
            lines.extend(_wrap("mm_threshold (derived) = ", float(mm_threshold)))
        return lines


#: Validated configuration; one frozen attribute per declared parameter.
CRConfig = dataclasses.make_dataclass(
    "CRConfig",
    [(name, p.kind_spec.annotation) for name, p in PARAMETERS.items()]
    + [
        ("_n_images", "int | None", dataclasses.field(default=None, repr=False)),
        ("_shape", "tuple[int, int] | None", dataclasses.field(default=None, repr=False)),
        #: Parameters declared by a third-party detector (see ``_plugin_params``).
        ("_plugin", "Mapping[str, Any]", dataclasses.field(default_factory=dict, repr=False)),
    ],
    bases=(_CRConfigMethods,),
    namespace={"__doc__": _DOC},
    frozen=True,
    eq=False,
)
CRConfig.__module__ = __name__
