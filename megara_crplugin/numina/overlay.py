"""The plugin's YAML overlay files: where they are, their format, their validation.

Moved out of :mod:`megara_crplugin.numina.plugin` (which re-exports the public
names and applies the overlays).  Overlay file format (``overlay_version: 1``;
every key is checked and an unknown key is an error naming the file and the
key) is described in that module's docstring.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "OVERLAY_PACKAGE",
    "Overlay",
    "OverlayError",
    "PipelineSpec",
    "load_overlay",
    "overlay_files",
    "overlay_root",
    "validate_overlay",
]

#: Package holding the overlay files (the repository folder ``drp_config/``).
OVERLAY_PACKAGE = "megara_crplugin.drp_config"

_FQN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_TOP_KEYS = {"overlay_version", "instrument", "mode_loader", "modes", "pipelines"}
_MODE_KEYS = {"key", "name", "summary", "description", "rawimage", "validator", "builder", "policy"}
_PIPE_KEYS = {"base", "version", "recipes", "products", "provides", "default_requirements"}
_PROVIDES_KEYS = {"name", "mode", "field"}
_POLICIES = ("add_if_missing", "replace")


class OverlayError(ValueError):
    """An overlay file is malformed or cannot be applied; the message names the file."""


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline of an overlay file (see the module docstring)."""

    name: str
    base: str
    version: Any
    recipes: dict[str, str]
    products: dict[str, str]
    provides: tuple[tuple[str, str, str], ...]
    default_requirements: str | None


@dataclass(frozen=True)
class Overlay:
    """A validated overlay file.

    Attributes
    ----------
    source : str
        Where it was read from (used in every error message).
    instrument : str
        Name of the DRP it edits.
    mode_loader : str or None
        FQN of a class whose ``mode_loader(node)`` converts a mode node.
    modes : tuple of (dict, str)
        Mode nodes with their policy.
    pipelines : tuple of PipelineSpec
    """

    source: str
    instrument: str
    mode_loader: str | None
    modes: tuple[tuple[dict[str, Any], str], ...]
    pipelines: tuple[PipelineSpec, ...]


# --------------------------------------------------------------------------- loading


def overlay_root() -> Any:
    """Folder of the overlay files: the package :data:`OVERLAY_PACKAGE`.

    From a source checkout whose installation does not map that package
    (an editable install made before ``drp_config/`` existed), the
    repository folder ``drp_config/`` is used instead.

    Returns
    -------
    importlib.resources.abc.Traversable or pathlib.Path

    Raises
    ------
    OverlayError
        If neither is available.
    """
    try:
        return importlib.resources.files(OVERLAY_PACKAGE)
    except ModuleNotFoundError:
        repo = Path(__file__).resolve().parents[2] / "drp_config"
        if repo.is_dir():
            return repo
        raise OverlayError(
            f"the overlay files of megara_crplugin (package {OVERLAY_PACKAGE}) are not installed; "
            "reinstall megara-crplugin"
        ) from None


def overlay_files() -> list[Any]:
    """Overlay files shipped with the plugin, sorted by name.

    Returns
    -------
    list of importlib.resources.abc.Traversable
        The ``*.yaml`` files at the top of :data:`OVERLAY_PACKAGE` (the
        ``examples/`` and ``profiles/`` sub-folders are not overlays).
    """
    root = overlay_root()
    return sorted(
        (p for p in root.iterdir() if p.is_file() and p.name.endswith(".yaml")),
        key=lambda p: p.name,
    )


def load_overlay(source: Any, *, text: str | None = None) -> Overlay:
    """Read and validate one overlay file.

    Parameters
    ----------
    source : path-like or Traversable
        The file; when `text` is given it is only used to name the source in
        error messages.
    text : str, optional
        YAML content to parse instead of reading `source`.

    Returns
    -------
    Overlay

    Raises
    ------
    OverlayError
        If the YAML is invalid or a key is missing, unknown or of the wrong
        type; the message names the file and the key.
    """
    name = str(source)
    if text is None:
        try:
            if hasattr(source, "read_text"):
                text = source.read_text(encoding="utf-8")
            else:
                with open(source, encoding="utf-8") as fd:
                    text = fd.read()
        except OSError as exc:
            raise OverlayError(f"overlay file {name}: cannot be read ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OverlayError(f"overlay file {name}: invalid YAML ({exc})") from exc
    return validate_overlay(data, source=name)


def _err(source: str, where: str, msg: str) -> OverlayError:
    return OverlayError(f"overlay file {source}: {where}: {msg}")


def _check_keys(node: Any, allowed: set[str], required: Iterable[str], source: str, where: str):
    if not isinstance(node, Mapping):
        raise _err(source, where, f"expected a mapping, got {type(node).__name__}")
    unknown = sorted(set(map(str, node)) - allowed)
    if unknown:
        raise _err(
            source,
            where,
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
        )
    missing = [k for k in required if k not in node]
    if missing:
        raise _err(source, where, f"missing required key(s) {', '.join(missing)}")


def _check_str(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _err(source, where, f"expected a non-empty string, got {value!r}")
    return value


def _check_fqn(value: Any, source: str, where: str) -> str:
    _check_str(value, source, where)
    if not _FQN.match(value):
        raise _err(
            source,
            where,
            f"expected a dotted Python name such as 'pkg.module.Class', got {value!r}",
        )
    return value


def _modes(mode_nodes: Any, source: str) -> list[tuple[dict[str, Any], str]]:
    """Validate the ``modes`` list: (mode mapping without ``policy``, policy) pairs."""
    modes = []
    if not isinstance(mode_nodes, list):
        raise _err(source, "modes", f"expected a list, got {type(mode_nodes).__name__}")
    for i, node in enumerate(mode_nodes):
        where = f"modes[{i}]"
        _check_keys(node, _MODE_KEYS, ("key", "name"), source, where)
        for key in ("key", "name", "summary", "description", "rawimage"):
            if key in node:
                _check_str(node[key], source, f"{where}.{key}")
        for key in ("validator", "builder"):
            if key in node:
                _check_fqn(node[key], source, f"{where}.{key}")
        policy = node.get("policy", "add_if_missing")
        if policy not in _POLICIES:
            raise _err(
                source, f"{where}.policy", f"expected one of {', '.join(_POLICIES)}, got {policy!r}"
            )
        modes.append(({k: v for k, v in node.items() if k != "policy"}, policy))
    return modes


def _pipeline_spec(pname: Any, node: Any, source: str) -> PipelineSpec:
    """Validate one entry of ``pipelines`` and return its :class:`PipelineSpec`."""
    where = f"pipelines.{pname}"
    _check_str(pname, source, where)
    if pname == "default":
        raise _err(
            source, where, "an overlay cannot redefine the 'default' pipeline; use another name"
        )
    _check_keys(node, _PIPE_KEYS, ("base", "recipes"), source, where)
    base = _check_str(node["base"], source, f"{where}.base")
    recipes = node["recipes"]
    if not isinstance(recipes, Mapping) or not recipes:
        raise _err(
            source,
            f"{where}.recipes",
            "expected a non-empty mapping of mode key -> recipe class",
        )
    for mode, fqn in recipes.items():
        _check_fqn(fqn, source, f"{where}.recipes.{mode}")
    products = node.get("products") or {}
    if not isinstance(products, Mapping):
        raise _err(source, f"{where}.products", "expected a mapping of product name -> type class")
    for prod, fqn in products.items():
        _check_fqn(fqn, source, f"{where}.products.{prod}")
    provides_nodes = node.get("provides") or []
    if not isinstance(provides_nodes, list):
        raise _err(source, f"{where}.provides", "expected a list of {name, mode, field}")
    provides = []
    for j, entry in enumerate(provides_nodes):
        w = f"{where}.provides[{j}]"
        _check_keys(entry, _PROVIDES_KEYS, sorted(_PROVIDES_KEYS), source, w)
        provides.append(
            tuple(_check_str(entry[k], source, f"{w}.{k}") for k in ("name", "mode", "field"))
        )
    defreq = node.get("default_requirements")
    if defreq is not None:
        _check_str(defreq, source, f"{where}.default_requirements")
    version = node.get("version")
    if version is not None and not isinstance(version, (int, str)):
        raise _err(source, f"{where}.version", f"expected an integer or a string, got {version!r}")
    return PipelineSpec(
        name=pname,
        base=base,
        version=version,
        recipes={str(k): v for k, v in recipes.items()},
        products={str(k): v for k, v in products.items()},
        provides=tuple(provides),
        default_requirements=defreq,
    )


def validate_overlay(data: Any, *, source: str = "<overlay>") -> Overlay:
    """Validate the parsed content of an overlay file.

    Parameters
    ----------
    data : object
        Result of ``yaml.safe_load`` of the file.
    source : str, optional
        Name of the file, used in the error messages.

    Returns
    -------
    Overlay

    Raises
    ------
    OverlayError
        On the first problem found, naming `source` and the key.
    """
    _check_keys(
        data, _TOP_KEYS, ("overlay_version", "instrument", "pipelines"), source, "top level"
    )
    if data["overlay_version"] != 1:
        raise _err(
            source,
            "overlay_version",
            f"only version 1 is supported, got {data['overlay_version']!r}",
        )
    instrument = _check_str(data["instrument"], source, "instrument")
    mode_loader = data.get("mode_loader")
    if mode_loader is not None:
        _check_fqn(mode_loader, source, "mode_loader")

    modes = _modes(data.get("modes") or [], source)

    pipes = data["pipelines"]
    if not isinstance(pipes, Mapping) or not pipes:
        raise _err(
            source, "pipelines", "expected a non-empty mapping of pipeline name -> definition"
        )
    specs = [_pipeline_spec(pname, node, source) for pname, node in pipes.items()]
    return Overlay(
        source=source,
        instrument=instrument,
        mode_loader=mode_loader,
        modes=tuple(modes),
        pipelines=tuple(specs),
    )
