"""Parameters of third-party detectors: declared by the detector, not by the schema.

A detector registered in the entry-point group ``megara_crplugin.detectors``
under a name that is not built in declares its own parameters: the class
attributes ``prefix`` (e.g. ``"xx_"``) and ``defaults`` (``{"xx_name": default}``,
as :class:`~megara_crplugin.detectors.base.BaseDetector`).  The flat YAML keys
carrying that prefix are accepted for ``crmethod: X`` / ``mm_X``; the values
are checked by the detector itself when it is built (before any expensive
work).  The detector receives them as one frozen
:class:`~megara_crplugin.config.detector_config.DetectorConfig` made from its
``defaults`` (:func:`plugin_config`), read as attributes or as a read-only
mapping; a declared name must therefore be a Python identifier not starting
with ``_``.  The built-in detectors' parameters stay in the one schema of
:mod:`megara_crplugin.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "detector_cleans",
    "plugin_config",
    "plugin_detector_params",
    "registered_crmethods",
]


def registered_crmethods() -> tuple[str, ...]:
    """Valid ``crmethod`` values, read from the detector registry at call time."""
    from .detectors import crmethods  # lazy: the registry scans the entry points

    return crmethods()


def detector_cleans(aux: str) -> bool:
    """The detector's declared ``provides_cleaned`` (whether it returns a cleaned image).

    Loads the detector class (the back-end package is imported only when a
    detector is built); a class that cannot be loaded counts as cleaning, its
    loading problem is reported by :func:`plugin_detector_params` or when the
    detector is built.
    """
    from .detectors import detector_class

    try:
        return bool(getattr(detector_class(aux), "provides_cleaned", True))
    except Exception:  # reported elsewhere, with the crmethod
        return True


def plugin_detector_params(
    params: Mapping[str, Any], aux: str | None, builtin: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Split off the keys a third-party detector declares.

    Parameters
    ----------
    params : mapping
        The user's flat parameters.
    aux : str or None
        Detector name of the (already valid) crmethod, or None for ``mmcosmic``.
    builtin : mapping
        Built-in detector name -> schema group; those use the schema instead.

    Returns
    -------
    values : dict
        Every declared key of the detector with the user's value or the
        declared default (empty for built-in detectors and ``mmcosmic``).
    problems : list of str
        One line per key carrying the detector's prefix that it does not
        declare, or for a detector that cannot be loaded.
    """
    if aux is None or aux in builtin:
        return {}, []
    from .config.detector_config import field_problem
    from .detectors import detector_class

    try:
        cls = detector_class(aux)
    except Exception as exc:  # a broken plug-in is reported, not raised half-way
        return {}, [f"crmethod: detector {aux!r} cannot be loaded ({exc})"]
    declared = dict(getattr(cls, "defaults", {}) or {})
    prefix = str(getattr(cls, "prefix", "") or "")
    values = {key: params.get(key, default) for key, default in declared.items()}
    valid = ", ".join(sorted(declared)) or "none"
    problems = [
        f"crmethod: detector {aux!r} declares an unusable parameter name: {problem}"
        for problem in map(field_problem, declared)
        if problem is not None
    ]
    problems += [
        f"unknown parameter {key!r}; detector {aux!r} declares: {valid}"
        for key in params
        if isinstance(key, str) and prefix and key.startswith(prefix) and key not in declared
    ]
    return values, problems


def plugin_config(aux: str, values: Mapping[str, Any]) -> Any:
    """The frozen configuration of the third-party detector ``aux``.

    Parameters
    ----------
    aux : str
        Registered name of a detector that is not built in.
    values : mapping
        Its validated keys (:func:`plugin_detector_params`).

    Returns
    -------
    DetectorConfig
        An instance of a class made from the detector's declared ``defaults``
        (:func:`~megara_crplugin.config.detector_config.declared_config_class`)
        holding ``values``.
    """
    from .config.detector_config import declared_config_class
    from .detectors import detector_class

    declared = dict(getattr(detector_class(aux), "defaults", {}) or {})
    return declared_config_class(aux, declared).from_params(values)
