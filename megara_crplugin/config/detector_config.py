"""Frozen per-detector configurations, made from the flat YAML keys of one prefix.

Each Aux.Cosmic detector receives its own parameters as one frozen object
(a :class:`DetectorConfig`): an attribute per key, named as the YAML key
(``cfg.la_sigclip``), which can also be read as a read-only mapping
(``cfg["la_sigclip"]``, ``dict(cfg)``), the contract of
:class:`~megara_crplugin.detectors.base.Detector`, whose constructor receives a
mapping.  Assigning an attribute raises
:class:`dataclasses.FrozenInstanceError`; a changed copy is made with
:meth:`DetectorConfig.replace`.

The classes are not written by hand:

* the built-in detectors' classes (:data:`DETECTOR_CONFIGS`, one per schema
  group ``la``, ``pc``, ``dc``, ``nn``) are made with
  :func:`dataclasses.make_dataclass` from the rows of that group in
  :data:`~megara_crplugin.config.schema.PARAMETERS` (attribute types from the
  kinds, defaults the normalised schema defaults), like
  :class:`~megara_crplugin.config.CRConfig`;
* a third-party detector's class is made by :func:`declared_config_class`
  from the ``defaults`` it declares (see ``_plugin_params``).

Values are the validated, normalised ones (two-pass parameters as
``(float, float)``; see ``docs/parameters.md`` for meanings and units).
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from .schema import AUX_GROUP, PARAMETERS

__all__ = [
    "DETECTOR_CONFIGS",
    "CosmicConnConfig",
    "DeepCRConfig",
    "DetectorConfig",
    "LACosmicConfig",
    "PyCosmicConfig",
    "declared_config_class",
    "field_problem",
]


class DetectorConfig(Mapping):
    """Base of the frozen per-detector configurations (fields made from declarations).

    Attributes
    ----------
    defaults : mapping
        Read-only ``{name: default}`` of every field, in declaration order.
    """

    defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __getitem__(self, key: str) -> Any:
        if key not in self.defaults:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.defaults)

    def __len__(self) -> int:
        return len(self.defaults)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> DetectorConfig:
        """Build the configuration from flat keys; missing keys take ``defaults``.

        Keys that are not fields are ignored here: unknown keys are refused
        by the schema validation and by the detector, each with its message.
        """
        if isinstance(params, cls):
            return params
        params = params or {}
        return cls(**{name: params.get(name, default) for name, default in cls.defaults.items()})

    def replace(self, **changes: Any) -> DetectorConfig:
        """Return a copy with ``changes`` applied (:func:`dataclasses.replace`; no validation)."""
        return dataclasses.replace(self, **changes)


#: Public names of :class:`DetectorConfig` a parameter cannot take.
_RESERVED = tuple(sorted(n for n in dir(DetectorConfig) if not n.startswith("_")))


def field_problem(name: Any) -> str | None:
    """Why ``name`` cannot be an attribute of a :class:`DetectorConfig` (None when it can).

    Returns
    -------
    str or None
        ``"expected a Python identifier not starting with '_' and not one of
        ..., got <repr>"``.
    """
    if (
        isinstance(name, str)
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in _RESERVED
    ):
        return None
    return (
        "expected a Python identifier not starting with '_' and not one of "
        f"{', '.join(_RESERVED)}, got {name!r}"
    )


def _make(
    class_name: str, fields: list[tuple[str, str]], defaults: Mapping[str, Any], doc: str, who: str
) -> type[DetectorConfig]:
    for name, _ in fields:
        problem = field_problem(name)
        if problem is not None:
            raise ValueError(f"{who}: parameter name: {problem}")
    cls = dataclasses.make_dataclass(
        class_name,
        fields,
        bases=(DetectorConfig,),
        namespace={"__doc__": doc, "defaults": MappingProxyType(dict(defaults))},
        frozen=True,
        eq=False,  # Mapping's: equal to any mapping with the same items
    )
    cls.__module__ = __name__
    return cls


def _schema_class(class_name: str, group: str) -> type[DetectorConfig]:
    rows = [p for p in PARAMETERS.values() if p.group == group]
    names = ", ".join(f"``{p.name}``" for p in rows)
    doc = (
        f"Frozen parameters of group '{group}' (schema rows: {names}).\n\n"
        "Made from :data:`megara_crplugin.config.schema.PARAMETERS`; values validated "
        "and normalised, units as in ``docs/parameters.md``."
    )
    defaults = {p.name: p.validate(p.default) for p in rows}
    fields = [(p.name, p.kind_spec.annotation) for p in rows]
    return _make(class_name, fields, defaults, doc, f"schema group {group!r}")


#: Frozen configuration of L.A.Cosmic (``la_*`` rows of the schema).
LACosmicConfig = _schema_class("LACosmicConfig", AUX_GROUP["lacosmic"])
#: Frozen configuration of PyCosmic (``pc_*`` rows of the schema).
PyCosmicConfig = _schema_class("PyCosmicConfig", AUX_GROUP["pycosmic"])
#: Frozen configuration of deepCR (``dc_*`` rows of the schema).
DeepCRConfig = _schema_class("DeepCRConfig", AUX_GROUP["deepcr"])
#: Frozen configuration of Cosmic-CoNN (``nn_*`` rows of the schema).
CosmicConnConfig = _schema_class("CosmicConnConfig", AUX_GROUP["conn"])

#: Schema group -> frozen configuration class of its built-in detector.
DETECTOR_CONFIGS: Mapping[str, type[DetectorConfig]] = MappingProxyType(
    {
        AUX_GROUP["lacosmic"]: LACosmicConfig,
        AUX_GROUP["pycosmic"]: PyCosmicConfig,
        AUX_GROUP["deepcr"]: DeepCRConfig,
        AUX_GROUP["conn"]: CosmicConnConfig,
    }
)


def declared_config_class(detector: str, defaults: Mapping[str, Any]) -> type[DetectorConfig]:
    """Frozen configuration class of a third-party detector, from its declared ``defaults``.

    Parameters
    ----------
    detector : str
        Registry name of the detector (used in the class name and messages).
    defaults : mapping
        ``{name: default}`` declared by the detector class; every name must be
        a Python identifier not starting with ``_`` (:func:`field_problem`).

    Returns
    -------
    type
        A new frozen :class:`DetectorConfig` subclass; values are not
        checked here (the detector checks them when it is built).

    Raises
    ------
    ValueError
        ``"detector '<detector>': parameter name: expected a Python identifier
        ..., got '<name>'"``.
    """
    doc = f"Frozen parameters declared by the detector {detector!r}."
    fields = [(name, "Any") for name in defaults]
    return _make(f"{detector}Config", fields, defaults, doc, f"detector {detector!r}")
