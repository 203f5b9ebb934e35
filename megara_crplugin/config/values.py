"""Helpers on normalised values: comparison, plain/literal text, HISTORY wrapping."""

from __future__ import annotations

from typing import Any

import numpy as np

HISTORY_WIDTH = 72


def aux_of(method: str) -> str | None:
    """Aux detector named by a valid ``crmethod`` (None for 'mmcosmic')."""
    base = method[3:] if method.startswith("mm_") else method
    return None if base == "mmcosmic" else base  # any other valid crmethod names a detector


def uniform(value: Any) -> bool:
    """True unless ``value`` is an array holding different values."""
    return not isinstance(value, np.ndarray) or bool(np.all(value == value.flat[0]))


def same(a: Any, b: Any) -> bool:
    """Equality of two normalised values (arrays by content, types must match)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return bool(a == b) and type(a) is type(b)


def scalar(value: float | np.ndarray) -> float | None:
    """One number for a float or a uniform array; None for a varying array."""
    if not isinstance(value, np.ndarray):
        return float(value)
    return float(value.flat[0]) if uniform(value) else None


def plain(value: Any) -> Any:
    """YAML-safe form of a normalised value (lists, not tuples; arrays as lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def literal(value: Any) -> str:
    """Plain literal text of a normalised value (arrays summarised)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(plain(value))


def wrap(head: str, value: Any, width: int = HISTORY_WIDTH) -> list[str]:
    """``head + value`` as lines of at most ``width`` characters (continuations start "  ")."""
    text = head + literal(value)
    if len(text) <= width:
        return [text]
    if isinstance(value, (list, tuple)) and value:
        tokens = [literal(v) for v in value]
        lines, current = [], head + "["
        for i, token in enumerate(tokens):
            tail = "]" if i == len(tokens) - 1 else ","
            sep = "" if current.endswith("[") or current == "  " else " "
            if len(current) + len(sep) + len(token) + len(tail) > width and current.strip(" ["):
                lines.append(current)
                current, sep = "  ", ""
            current += sep + token + tail
        lines.append(current)
    else:
        lines = [text]
    out = []
    for line in lines:
        while len(line) > width:
            out.append(line[:width])
            line = "  " + line[width:]
        out.append(line)
    return out
