"""Value kinds of the schema: one :class:`Kind` per family, in one table.

A parameter's ``kind`` (see :class:`~megara_crplugin.config.param.Param`)
names an entry of :data:`KINDS`, which carries everything that depends on the
value family: the YAML-level type in words (documentation), the "expected ..."
text of the error messages, the normaliser, the attribute annotation of
:class:`~megara_crplugin.config.CRConfig`, whether the numina recipe receives
the normalised value, the CLI option type and the documentation rule shown when
a parameter declares none.

Units: images in ADU, gain in e-/ADU; coordinates FITS (1-based, inclusive).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import regions as _rg
from .._plugin_params import registered_crmethods
from ..noise_values import NoiseRule, noise_problem
from ..regions import Region, describe, is_int, is_number

__all__ = ["KINDS", "ConfigError", "Kind"]

_MIN_CROSSCORR_AREA = 100
NONE_STRINGS = ("none", "null")


class ConfigError(ValueError):
    """Invalid parameters; one problem per line, all found in one pass.

    Each line reads ``"<param>: expected <what>, got <repr>"`` (or
    ``"unknown parameter ..."``).

    Attributes
    ----------
    problems : list of str
        The individual problems.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def num(x: float) -> str:
    """Shortest text of a number (``3`` for 3.0)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def bounds(p: Any) -> str:
    """Range of a parameter in words (``'in (0, 1)'``, ``'>= 3'``), '' when unbounded."""
    lo, hi = p.minimum, p.maximum
    if lo is not None and hi is not None:
        left, right = "(" if p.min_exclusive else "[", ")" if p.max_exclusive else "]"
        return f"in {left}{num(lo)}, {num(hi)}{right}"
    if lo is not None:
        return f"{'>' if p.min_exclusive else '>='} {num(lo)}"
    if hi is not None:
        return f"{'<' if p.max_exclusive else '<='} {num(hi)}"
    return ""


def _rng(p: Any) -> str:
    return f" {bounds(p)}" if bounds(p) else ""


def parse_literal(text: str) -> Any:
    """Python literal held by a string (never ``eval``); the string itself if none."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _in_range(p: Any, x: float) -> bool:
    if p.minimum is not None and (x <= p.minimum if p.min_exclusive else x < p.minimum):
        return False
    if p.maximum is not None and (x >= p.maximum if p.max_exclusive else x > p.maximum):
        return False
    return not (p.odd and int(x) % 2 == 0)


def _norm_bool(p: Any, v: Any, n: int | None, shape: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise p._fail(v)
    return bool(v)


def _norm_int(p: Any, v: Any, n: int | None, shape: Any) -> int | None:
    if v is None:
        return None
    if not is_int(v) or not _in_range(p, int(v)):
        raise p._fail(v)
    return int(v)


def _norm_float(p: Any, v: Any, n: int | None, shape: Any) -> float | None:
    if v is None:
        return None
    if not is_number(v) or not _in_range(p, float(v)):
        raise p._fail(v)
    return float(v)


def _norm_path(p: Any, v: Any, n: int | None, shape: Any) -> str | np.ndarray | None:
    if v is None:
        return None
    if isinstance(v, np.ndarray):  # from Python (the numina recipe: megaradrp's master BPM)
        if v.ndim != 2 or (shape is not None and tuple(v.shape) != tuple(shape)):
            raise ConfigError(
                [f"{p.name}: expected a 2-D array of the exposures' shape, got shape {v.shape}"]
            )
        out = np.asarray(v) != 0
        out.setflags(write=False)
        return out
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str) or not v.strip():
        raise p._fail(v)
    return v


def _norm_choice(p: Any, v: Any, n: int | None, shape: Any) -> str | None:
    if v is None and p.nullable:
        return None
    if p.name == "dtype" and not isinstance(v, str):
        try:
            v = np.dtype(v).name
        except (TypeError, ValueError):
            raise p._fail(v) from None
    if p.name == "crmethod":  # registered detectors are valid: X, mmcosmic, mm_X
        choices = registered_crmethods()
        if not isinstance(v, str) or v not in choices:
            raise ConfigError(
                f"crmethod: expected one of {', '.join(map(repr, choices))}, got {describe(v)}"
            )
        return v
    if not isinstance(v, str) or v not in (p.choices or ()):
        raise p._fail(v)
    return v


def _norm_pair(p: Any, v: Any, n: int | None, shape: Any) -> tuple[float, float]:
    if isinstance(v, np.ndarray) and v.ndim == 1:
        v = v.tolist()
    if is_number(v):
        v = (v, v)
    if (
        not isinstance(v, (list, tuple))
        or len(v) != 2
        or not all(is_number(x) and _in_range(p, float(x)) for x in v)
    ):
        raise p._fail(v)
    return float(v[0]), float(v[1])


def _norm_noise(p: Any, v: Any, n: int | None, shape: Any) -> float | np.ndarray:
    """Gain, rnoise or bias; the rule is applied by ``noise_values.noise_problem``."""
    rule = NoiseRule(p.name, p.unit, p.minimum, bool(p.min_exclusive))
    if is_number(v):
        if noise_problem(float(v), rule) is not None:
            raise p._fail(v)
        return float(v)
    if not isinstance(v, (np.ndarray, list, tuple)):
        raise p._fail(v)
    try:
        arr = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise p._fail(v) from None
    problem = noise_problem(arr, rule, shape=shape) if arr.ndim == 2 else "ndim"
    if problem in ("ndim", "finite"):
        raise p._fail(v)
    if problem == "range":
        raise ConfigError(
            f"{p.name}: expected every array value {p.rule}, got min = {num(arr.min())}"
        )
    if problem == "shape":
        raise ConfigError(
            f"{p.name}: expected an array of the image shape {tuple(shape)}, "
            f"got array of shape {arr.shape}"
        )
    arr.setflags(write=False)
    return arr


def _norm_flux(p: Any, v: Any, n: int | None, shape: Any) -> Any:
    if v is None or (isinstance(v, str) and v.strip() == "none"):
        return None if n is None else (1.0,) * n
    if isinstance(v, str) and v.strip() == "auto":
        return "auto"
    if isinstance(v, np.ndarray) and v.ndim == 1:
        v = v.tolist()
    if is_number(v):
        if float(v) <= 0:
            raise p._fail(v)
        return float(v) if n is None else (float(v),) * n
    if (
        not isinstance(v, (list, tuple))
        or not v
        or not all(is_number(x) and float(x) > 0 for x in v)
    ):
        raise p._fail(v)
    if n is not None and len(v) != n:
        raise ConfigError(f"{p.name}: expected one factor per exposure ({n}), got {len(v)} factors")
    return tuple(float(x) for x in v)


def _norm_region(p: Any, v: Any, n: int | None, shape: Any) -> Region | None:
    if v is None:
        return None
    region = _rg.as_region(v, shape=shape)
    if region.area < _MIN_CROSSCORR_AREA:
        raise ConfigError(
            f"{p.name}: expected a region of at least {_MIN_CROSSCORR_AREA} pixels, "
            f"got {list(region)} ({region.area} pixels)"
        )
    return region


def _cli_value(text: str) -> Any:
    """Parse a CLI option value like a YAML scalar or list (``3``, ``auto``, ``[5, 3]``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_Normaliser = Callable[[Any, Any, "int | None", Any], Any]


@dataclass(frozen=True)
class Kind:
    """Everything that depends on a parameter's value family.

    Attributes
    ----------
    label : str
        YAML-level type in words (documentation column "type").
    expected : callable
        ``expected(param) -> str``: the "expected ..." text of error messages.
    normalise : callable
        ``normalise(param, value, n_images, shape) -> value``: checks and
        normalises one value (raises ``param._fail(value)`` or
        :class:`ConfigError`).
    annotation : str
        Type of the :class:`~megara_crplugin.config.CRConfig` attribute.
    scalar : bool
        The numina recipe receives the normalised value (others keep the
        user's value, validated again by the core with the image shape).
    cli_type : callable
        ``type=`` of the CLI option (booleans use ``--x/--no-x`` instead).
    doc_rule : str
        "allowed values" text of the documentation when the parameter
        declares no rule of its own.
    shaped : bool
        The check uses the image shape (regions, pixels, 2-D arrays): it is
        done again when a configuration is bound to the exposures' shape.
    """

    label: str
    expected: Callable[[Any], str]
    normalise: _Normaliser
    annotation: str
    scalar: bool = False
    cli_type: Callable[[str], Any] = _cli_value
    doc_rule: str = "any finite number"
    shaped: bool = False


def _regions(p: Any, v: Any, n: int | None, s: Any) -> Any:
    return _rg.as_regions(v, shape=s)


def _pixels(p: Any, v: Any, n: int | None, s: Any) -> Any:
    return _rg.as_pixels(v, shape=s)


def _pixels_median(p: Any, v: Any, n: int | None, s: Any) -> Any:
    return _rg.as_local_median_pixels(v, shape=s)


def _offsets(p: Any, v: Any, n: int | None, s: Any) -> Any:
    return _rg.as_offsets(v, n_images=n)


def _fixed_points(p: Any, v: Any, n: int | None, s: Any) -> Any:
    return _rg.as_fixed_points(v)


#: The value kinds, by name (the ``kind`` of a declaration).
KINDS: dict[str, Kind] = {
    "bool": Kind(
        "bool", lambda p: "a boolean (true or false)", _norm_bool, "bool", scalar=True,
        doc_rule="true, false",
    ),
    "int": Kind(
        "int", lambda p: f"{'an odd integer' if p.odd else 'an integer'}{_rng(p)}",
        _norm_int, "int", scalar=True, cli_type=int,
    ),
    "float": Kind(
        "float", lambda p: f"a finite number{_rng(p)}", _norm_float, "float", scalar=True,
        cli_type=float,
    ),
    "optional_float": Kind(
        "float or null", lambda p: f"a finite number{_rng(p)} or null", _norm_float,
        "float | None", scalar=True,
    ),
    "seed": Kind(
        "int or null", lambda p: f"an integer{_rng(p)} or null", _norm_int, "int | None",
        scalar=True,
    ),
    "choice": Kind(
        "str", lambda p: "one of " + ", ".join(repr(c) for c in p.choices or ()),
        _norm_choice, "str", scalar=True, cli_type=str,
    ),
    "pair": Kind(
        "float or [float, float]",
        lambda p: f"a number or a list of 2 finite numbers{_rng(p)}", _norm_pair,
        "tuple[float, float]",
    ),
    "noise": Kind(
        "float or 2-D array", lambda p: f"a finite number{_rng(p)} or a 2-D array of them",
        _norm_noise, "float | np.ndarray", shaped=True,
    ),
    "flux_factor": Kind(
        "'none', 'auto', float or list of N floats",
        lambda p: "'none', 'auto', a number > 0 or a list of one number > 0 per exposure",
        _norm_flux, "str | tuple[float, ...] | float | None",
    ),
    "regions": Kind(
        "list of [xmin, xmax, ymin, ymax]",
        lambda p: "a list of [xmin, xmax, ymin, ymax] regions or null", _regions,
        "tuple[Region, ...]", doc_rule="inside the image", shaped=True,
    ),
    "region": Kind(
        "[xmin, xmax, ymin, ymax] or null", lambda p: "[xmin, xmax, ymin, ymax] or null",
        _norm_region, "Region | None", shaped=True,
    ),
    "pixels": Kind(
        "list of [X, Y]", lambda p: "a list of [X, Y] pixels or null", _pixels,
        "tuple[tuple[int, int], ...]", doc_rule="inside the image", shaped=True,
    ),
    "pixels_median": Kind(
        "list of [X, Y, Xwidth, Ywidth]", lambda p: "a list of [X, Y, Xwidth, Ywidth] or null",
        _pixels_median, "tuple[tuple[int, int, int, int], ...]", shaped=True,
    ),
    "offsets": Kind(
        "list of N [dx, dy] or null", lambda p: "a list of [dx, dy] pairs or null", _offsets,
        "tuple[tuple[float, float], ...] | None",
    ),
    "fixed_points": Kind(
        "list of [x, y] or [x, y, weight]",
        lambda p: "a list of [x, y] or [x, y, weight] or null", _fixed_points,
        "tuple[tuple[float, float, float], ...]",
    ),
    "path": Kind(
        "str (file path), 2-D array (Python) or null",
        lambda p: "a file path (string), a 2-D array (from Python) or null", _norm_path,
        "str | np.ndarray | None", shaped=True,
    ),
}  # fmt: skip
