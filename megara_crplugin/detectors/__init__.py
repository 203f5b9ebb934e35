"""Aux.Cosmic single-image detectors and their registry.

Detectors are classes registered in the entry-point group
``megara_crplugin.detectors`` (the four built-ins are registered by the
package metadata; a third-party package can add more).  When the package
metadata is missing (running from a source tree) the built-in map is used.
Entry points are loaded lazily: asking for ``lacosmic`` never imports torch.

Mask polarity: ``True`` = cosmic ray.  Units: images in ADU, gain in e-/ADU,
read noise in ADU (see :mod:`megara_crplugin.detectors.base`).
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .base import Detection, Detector, MissingOptionalDependency, merge_peak_tail

__all__ = [
    "ENTRY_POINT_GROUP",
    "Detection",
    "Detector",
    "MissingOptionalDependency",
    "available_detectors",
    "crmethods",
    "detector_class",
    "detector_names",
    "get_detector",
    "merge_peak_tail",
]

_log = logging.getLogger(__name__)

#: Entry-point group where detector classes are registered.
ENTRY_POINT_GROUP = "megara_crplugin.detectors"

_BUILTIN = {
    "lacosmic": "megara_crplugin.detectors.lacosmic:LACosmicDetector",
    "pycosmic": "megara_crplugin.detectors.pycosmic:PyCosmicDetector",
    "deepcr": "megara_crplugin.detectors.deepcr:DeepCRDetector",
    "conn": "megara_crplugin.detectors.conn:CosmicConnDetector",
}


@functools.lru_cache(maxsize=8)
def _entry_points(search_path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The group's entry points for one ``sys.path`` (scanning every dist costs ~15 ms).

    Keyed on the search path, so a folder added to ``sys.path`` (a plug-in
    made importable at run time) is seen; a package installed into an
    already-scanned folder by the running process is not.
    """
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _registry() -> dict[str, str | EntryPoint]:
    """Name -> entry point (or "module:Class" for built-ins), without loading anything."""
    found: dict[str, str | EntryPoint] = dict(_BUILTIN)
    for ep in _entry_points(tuple(sys.path)):
        if ep.name in _BUILTIN and ep.value != _BUILTIN[ep.name]:
            _log.warning(
                "ignoring entry point %s = %s: the name is reserved for %s",
                ep.name,
                ep.value,
                _BUILTIN[ep.name],
            )
            continue
        found.setdefault(ep.name, ep)
    return found


def _load(target: str | EntryPoint) -> type:
    if not isinstance(target, str):  # an entry point: the stdlib class or, once a package
        return target.load()  # put importlib_metadata (backport) on sys.meta_path, its class
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def detector_names() -> tuple[str, ...]:
    """Registered detector names, sorted, without loading any of them.

    Returns
    -------
    tuple of str
        The built-ins plus every name of the entry-point group
        :data:`ENTRY_POINT_GROUP`.
    """
    return tuple(sorted(_registry()))


def crmethods() -> tuple[str, ...]:
    """Valid values of ``crmethod``, derived from the registry.

    Returns
    -------
    tuple of str
        ``X`` for every registered detector, ``mmcosmic``, and ``mm_X``:
        built-in and third-party detectors follow the same path.
    """
    found = _registry()
    names = [*_BUILTIN, *sorted(set(found) - set(_BUILTIN))]  # built-ins in their usual order
    return (*names, "mmcosmic", *(f"mm_{name}" for name in names))


def detector_class(name: str) -> type:
    """Load the class registered as ``name`` (``mm_`` prefix accepted).

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the available names).
    """
    key = _normalise(name)
    registry = _registry()
    if key not in registry:
        raise ValueError(
            f"unknown Aux.Cosmic detector {name!r}; available: {', '.join(sorted(registry))}"
        )
    return _load(registry[key])


def available_detectors() -> dict[str, type]:
    """Return the registered detector classes.

    Loads every entry point (the built-in modules import their heavy back-ends
    only when a detector is constructed).  Third-party entry points that fail
    to load are skipped with a warning.

    Returns
    -------
    dict
        ``{name: class}`` sorted by name.
    """
    classes: dict[str, type] = {}
    for name, target in sorted(_registry().items()):
        try:
            classes[name] = _load(target)
        except Exception as exc:  # a broken third-party plug-in must not break the others
            _log.warning("cannot load detector %r: %s", name, exc)
    return classes


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"detector name must be a string, got {name!r}")
    key = name.strip().lower()
    return key[3:] if key.startswith("mm_") else key


def get_detector(name: str, params: Mapping[str, Any]) -> Detector:
    """Build the detector ``name`` once for a run.

    Parameters
    ----------
    name : str
        Registry name (``lacosmic``, ``pycosmic``, ``deepcr``, ``conn``) or the
        crmethod that uses it (``mm_lacosmic`` ...).
    params : mapping
        Validated parameters of the detector's prefix (``la_*`` ...): usually
        the frozen :meth:`CRConfig.detector_config
        <megara_crplugin.config.CRConfig.detector_config>`; a plain mapping
        is completed with the detector's defaults.

    Returns
    -------
    Detector
        A ready detector; models are loaded here, not per call.

    Raises
    ------
    ValueError
        If ``name`` is unknown (the message lists the available names) or a
        parameter is invalid.
    MissingOptionalDependency
        If the detector's optional package is not installed; the message names
        the crmethod and the ``pip install 'megara-crplugin[EXTRA]'`` command.
    """
    cls = detector_class(name)
    try:
        return cls(params)
    except MissingOptionalDependency as exc:
        make = getattr(cls, "missing_dependency", None)
        if make is None:
            raise
        raise make(crmethod=name) from exc.__cause__
