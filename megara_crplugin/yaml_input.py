"""Strict reading of the parameter YAML file: UTF-8, no duplicated keys.

``yaml.safe_load`` silently keeps the last of two equal keys (a typo can hide
a parameter); here a duplicated key is an error naming it and its line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .exceptions import InputError

__all__ = ["load_yaml_file"]


class _StrictLoader(yaml.SafeLoader):
    """Safe loader refusing duplicated mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        if key in seen:
            raise _DuplicateKey(key, seen[key], key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, again: int):
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


def load_yaml_file(path: str | os.PathLike, label: str = "parameter file") -> Any:
    """Read a YAML file strictly.

    Parameters
    ----------
    path : path-like
        The file (UTF-8).
    label : str, optional
        What the file is, in messages.

    Returns
    -------
    object
        The document.

    Raises
    ------
    InputError
        Missing or unreadable file, not UTF-8, not YAML, or a duplicated key;
        one line naming the file.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label} {p}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise InputError(f"{label} {p}: cannot read it ({exc.strerror or exc})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise InputError(
            f"{label} {p}: key {exc.key!r} appears twice (lines {exc.first} and {exc.again}); "
            "keep one"
        ) from None
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())
        raise InputError(f"{label} {p}: not valid YAML ({one_line})") from None
    except RecursionError:
        raise InputError(f"{label} {p}: nested too deeply") from None
