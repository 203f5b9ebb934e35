"""The one parameter schema of megara_crplugin: declaration, validation, normalisation.

Every user-facing key (YAML ``requirements``, numina recipe parameters, CLI)
is declared once in :data:`PARAMETERS`.  :func:`validate_parameters` checks a
mapping of such keys *before any computation*, collects every problem in one
pass and returns an immutable :class:`CRConfig` holding normalised values.
The same table generates the numina recipe parameters, ``docs/parameters.md``
(:func:`parameters_markdown`) and the HISTORY record of the mask file
(:meth:`CRConfig.history_lines`).

Units: images are bias-subtracted and in ADU; ``gain`` is in e-/ADU,
``rnoise`` and ``bias`` in ADU (the MEGARA recipe works in electrons with
gain = 1).  Coordinates follow the FITS convention (1-based, inclusive), see
:mod:`megara_crplugin.regions`.  Mask polarity everywhere: True = cosmic ray.

Strings are never evaluated: ``None``/``'none'``/``'null'`` become None and
other strings holding Python literals are read with :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from . import regions as _rg
from ._plugin_params import detector_cleans, plugin_detector_params, registered_crmethods
from .regions import Region, describe, is_int, is_number

__all__ = [
    "COMBINATIONS",
    "CRMETHODS",
    "GROUPS",
    "PARAMETERS",
    "CRConfig",
    "ConfigError",
    "Param",
    "parameters_markdown",
    "validate_parameters",
]

#: Built-in values of ``crmethod`` ('mmcosmic' is accepted: defect 5).  The valid set
#: is derived from the detector registry at validation time (third-party ``X``, ``mm_X``).
CRMETHODS: tuple[str, ...] = (
    "lacosmic",
    "pycosmic",
    "deepcr",
    "conn",
    "mmcosmic",
    "mm_lacosmic",
    "mm_pycosmic",
    "mm_deepcr",
    "mm_conn",
)
#: Combination methods of the masks.
COMBINATIONS = ("mean", "median", "min", "mediancr", "meancrt", "meancr", "meancr2")
#: Parameter groups, in documentation order, with their titles.
GROUPS: dict[str, str] = {
    "general": "General",
    "la": "L.A.Cosmic (`la_*`, crmethod lacosmic / mm_lacosmic)",
    "pc": "PyCosmic (`pc_*`, crmethod pycosmic / mm_pycosmic)",
    "dc": "deepCR (`dc_*`, crmethod deepcr / mm_deepcr)",
    "nn": "Cosmic-CoNN (`nn_*`, crmethod conn / mm_conn)",
    "mm": "M.M.Cosmic (`mm_*`, crmethod mmcosmic / mm_*)",
}
_AUX_GROUP = {"lacosmic": "la", "pycosmic": "pc", "deepcr": "dc", "conn": "nn"}
_KINDS = {
    "bool": "bool",
    "int": "int",
    "float": "float",
    "optional_float": "float or null",
    "seed": "int or null",
    "choice": "str",
    "pair": "float or [float, float]",
    "noise": "float or 2-D array",
    "flux_factor": "'none', 'auto', float or list of N floats",
    "regions": "list of [xmin, xmax, ymin, ymax]",
    "region": "[xmin, xmax, ymin, ymax] or null",
    "pixels": "list of [X, Y]",
    "pixels_median": "list of [X, Y, Xwidth, Ywidth]",
    "offsets": "list of N [dx, dy] or null",
    "fixed_points": "list of [x, y] or [x, y, weight]",
    "path": "str (file path), 2-D array (Python) or null",
}
_HISTORY_WIDTH = 72
_MAXPLOTS_CAP = 1000
_MIN_CROSSCORR_AREA = 100
_NONE_STRINGS = ("none", "null")


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


@dataclass(frozen=True)
class Param:
    """Declaration of one parameter.

    Attributes
    ----------
    name : str
        Key in YAML ``requirements`` and attribute of :class:`CRConfig`.
    group : {'general', 'la', 'pc', 'dc', 'nn', 'mm'}
        Which detector or stage uses it.
    kind : str
        Value family (key of the kind table: 'bool', 'int', 'float', 'choice',
        'pair', 'noise', 'regions', ...), decides parsing and normalisation.
    default : object
        Default as a plain Python value of the real type (lists, not tuples).
    description : str
        One-line description.
    unit : str
        Physical unit ('' when dimensionless).
    choices : tuple of str, optional
        Allowed values of enumerated parameters.
    minimum, maximum : float, optional
        Range limits; exclusive when ``min_exclusive``/``max_exclusive``.
    odd : bool
        Integers must be odd.
    nullable : bool
        ``None`` (or 'none'/'null') is a valid value.
    note : str
        Extra rule text for the documentation.
    """

    name: str
    group: str
    kind: str
    default: Any
    description: str
    unit: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    odd: bool = False
    nullable: bool = False
    note: str = ""

    @property
    def type_label(self) -> str:
        """YAML-level type in words (for documentation)."""
        return _KINDS[self.kind]

    @property
    def rule(self) -> str:
        """Allowed values in words, e.g. ``'odd; >= 3'`` or ``"'poisson', 'nbinom'"``."""
        parts = []
        if self.choices:
            parts.append(", ".join(repr(c) for c in self.choices))
        if self.odd:
            parts.append("odd")
        if _bounds(self):
            parts.append(_bounds(self))
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def validate(
        self,
        value: Any,
        *,
        n_images: int | None = None,
        shape: tuple[int, int] | None = None,
    ) -> Any:
        """Check one value and return it normalised.

        Parameters
        ----------
        value : object
            The user value (YAML type, Python value or a string holding a
            Python literal).  ``None``, 'none', 'None' and 'null' mean None.
        n_images : int, optional
            Number of exposures, for length checks (flux_factor,
            mm_xy_offsets); skipped when None.
        shape : tuple of int, optional
            Image shape ``(ny, nx)``, for regions, pixels and arrays; skipped
            when None.

        Returns
        -------
        object
            The normalised value (see :class:`CRConfig`).

        Raises
        ------
        ConfigError
            ``"<name>: expected <what>, got <repr>"``.
        """
        if isinstance(value, str) and value.strip().lower() in _NONE_STRINGS:
            value = None
        if isinstance(value, str) and self.kind not in ("choice", "flux_factor"):
            value = _parse_literal(value)
        elif isinstance(value, str) and self.kind == "flux_factor" and value.strip() != "auto":
            value = _parse_literal(value)
        if value is None and not self.nullable:
            raise ConfigError(f"{self.name}: expected {self._expected()}, got None")
        try:
            return _NORMALISERS[self.kind](self, value, n_images, shape)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{self.name}: {exc}") from None

    def _expected(self) -> str:
        return _expected_text(self)

    def _fail(self, value: Any) -> ConfigError:
        return ConfigError(f"{self.name}: expected {self._expected()}, got {describe(value)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _bounds(p: Param) -> str:
    lo, hi = p.minimum, p.maximum
    if lo is not None and hi is not None:
        left, right = "(" if p.min_exclusive else "[", ")" if p.max_exclusive else "]"
        return f"in {left}{_num(lo)}, {_num(hi)}{right}"
    if lo is not None:
        return f"{'>' if p.min_exclusive else '>='} {_num(lo)}"
    if hi is not None:
        return f"{'<' if p.max_exclusive else '<='} {_num(hi)}"
    return ""


def _expected_text(p: Param) -> str:
    rng = f" {_bounds(p)}" if _bounds(p) else ""
    texts = {
        "bool": "a boolean (true or false)",
        "int": f"{'an odd integer' if p.odd else 'an integer'}{rng}",
        "float": f"a finite number{rng}",
        "optional_float": f"a finite number{rng} or null",
        "seed": f"an integer{rng} or null",
        "choice": "one of " + ", ".join(repr(c) for c in p.choices or ()),
        "pair": f"a number or a list of 2 finite numbers{rng}",
        "noise": f"a finite number{rng} or a 2-D array of them",
        "flux_factor": "'none', 'auto', a number > 0 or a list of one number > 0 per exposure",
        "regions": "a list of [xmin, xmax, ymin, ymax] regions or null",
        "region": "[xmin, xmax, ymin, ymax] or null",
        "pixels": "a list of [X, Y] pixels or null",
        "pixels_median": "a list of [X, Y, Xwidth, Ywidth] or null",
        "offsets": "a list of [dx, dy] pairs or null",
        "fixed_points": "a list of [x, y] or [x, y, weight] or null",
        "path": "a file path (string), a 2-D array (from Python) or null",
    }
    return texts[p.kind]


def _parse_literal(text: str) -> Any:
    """Python literal held by a string (never ``eval``); the string itself if none."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _in_range(p: Param, x: float) -> bool:
    if p.minimum is not None and (x <= p.minimum if p.min_exclusive else x < p.minimum):
        return False
    if p.maximum is not None and (x >= p.maximum if p.max_exclusive else x > p.maximum):
        return False
    return not (p.odd and int(x) % 2 == 0)


def _norm_bool(p: Param, v: Any, n: int | None, shape: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise p._fail(v)
    return bool(v)


def _norm_int(p: Param, v: Any, n: int | None, shape: Any) -> int | None:
    if v is None:
        return None
    if not is_int(v) or not _in_range(p, int(v)):
        raise p._fail(v)
    return int(v)


def _norm_float(p: Param, v: Any, n: int | None, shape: Any) -> float | None:
    if v is None:
        return None
    if not is_number(v) or not _in_range(p, float(v)):
        raise p._fail(v)
    return float(v)


def _norm_path(p: Param, v: Any, shape: Any) -> str | np.ndarray | None:
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


def _norm_choice(p: Param, v: Any, n: int | None, shape: Any) -> str | None:
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


def _norm_pair(p: Param, v: Any, n: int | None, shape: Any) -> tuple[float, float]:
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


def _norm_noise(p: Param, v: Any, n: int | None, shape: Any) -> float | np.ndarray:
    if is_number(v):
        if not _in_range(p, float(v)):
            raise p._fail(v)
        return float(v)
    if not isinstance(v, (np.ndarray, list, tuple)):
        raise p._fail(v)
    try:
        arr = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise p._fail(v) from None
    if arr.ndim != 2 or not np.all(np.isfinite(arr)):
        raise p._fail(v)
    lo_ok = p.minimum is None or (
        np.all(arr > p.minimum) if p.min_exclusive else np.all(arr >= p.minimum)
    )
    if not lo_ok:
        raise ConfigError(
            f"{p.name}: expected every array value {p.rule}, got min = {_num(arr.min())}"
        )
    if shape is not None and arr.shape != tuple(shape):
        raise ConfigError(
            f"{p.name}: expected an array of the image shape {tuple(shape)}, "
            f"got array of shape {arr.shape}"
        )
    arr.setflags(write=False)
    return arr


def _norm_flux(p: Param, v: Any, n: int | None, shape: Any) -> Any:
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


def _norm_region(p: Param, v: Any, n: int | None, shape: Any) -> Region | None:
    if v is None:
        return None
    region = _rg.as_region(v, shape=shape)
    if region.area < _MIN_CROSSCORR_AREA:
        raise ConfigError(
            f"{p.name}: expected a region of at least {_MIN_CROSSCORR_AREA} pixels, "
            f"got {list(region)} ({region.area} pixels)"
        )
    return region


_NORMALISERS = {
    "bool": _norm_bool,
    "int": _norm_int,
    "seed": _norm_int,
    "float": _norm_float,
    "optional_float": _norm_float,
    "choice": _norm_choice,
    "pair": _norm_pair,
    "noise": _norm_noise,
    "flux_factor": _norm_flux,
    "region": _norm_region,
    "regions": lambda p, v, n, s: _rg.as_regions(v, shape=s),
    "pixels": lambda p, v, n, s: _rg.as_pixels(v, shape=s),
    "pixels_median": lambda p, v, n, s: _rg.as_local_median_pixels(v, shape=s),
    "offsets": lambda p, v, n, s: _rg.as_offsets(v, n_images=n),
    "fixed_points": lambda p, v, n, s: _rg.as_fixed_points(v),
    "path": lambda p, v, n, s: _norm_path(p, v, s),
}


_POS = {"minimum": 0, "min_exclusive": True}
_NONNEG = {"minimum": 0}
_UNIT = {"minimum": 0, "maximum": 1, "min_exclusive": True, "max_exclusive": True}
_NULL = {"nullable": True}

# One row per parameter, in documentation order:
# (group, name, kind, default, unit, rule keywords, one-line description).
# fmt: off
_ROWS: list[tuple[str, str, str, Any, str, dict[str, Any], str]] = [
    ("general", "gain", "noise", 1.0, "e-/ADU", _POS,
     "Detector gain; a 2-D array is accepted from Python only."),
    ("general", "rnoise", "noise", 3.4, "ADU", _NONNEG,
     "Read-out noise; a 2-D array is accepted from Python only."),
    ("general", "bias", "noise", 0.0, "ADU", {},
     "Bias level subtracted from every exposure."),
    ("general", "crmethod", "choice", "mm_pycosmic", "", {"choices": CRMETHODS},
     "Detection method: an Aux.Cosmic detector, M.M.Cosmic alone, or both (mm_*)."),
    ("general", "use_auxmedian", "bool", False, "", {"note": "not with conn, mm_conn, mmcosmic"},
     "Replace MEDIANCR pixels by the Aux-cleaned median instead of the minimum."),
    ("general", "flux_factor", "flux_factor", "none", "",
     {**_NULL, "note": "factors > 0; one number applies to every exposure"},
     "Flux of each exposure relative to the median ('none' = all 1.0)."),
    ("general", "flux_factor_regions", "regions", None, "pixel",
     {**_NULL, "note": "requires flux_factor 'auto'"},
     "Regions used by flux_factor 'auto' (null = whole image)."),
    ("general", "apply_flux_factor_to", "choice", "simulated", "",
     {"choices": ("original", "simulated")},
     "Divide the exposures by the factors ('original') or scale the simulations."),
    ("general", "interactive", "bool", True, "", {},
     "Show the MM diagram and ask for decisions."),
    ("general", "dilation", "int", 1, "pixel", _NONNEG,
     "Global dilation (3x3 structure, iterations) of every mask."),
    ("general", "regions_to_be_skipped", "regions", None, "pixel", _NULL,
     "Regions where nothing is ever flagged."),
    ("general", "pixels_to_be_flagged_as_cr", "pixels", None, "pixel", _NULL,
     "Pixels forced into the set of pixels to be cleaned."),
    ("general", "pixels_to_be_ignored_as_cr", "pixels", None, "pixel", _NULL,
     "Pixels never flagged in any mask."),
    ("general", "pixels_to_be_replaced_by_local_median", "pixels_median", None, "pixel",
     {**_NULL, "note": "Xwidth, Ywidth odd >= 1, Xwidth*Ywidth >= 3"},
     "Pixels replaced by the median of an Xwidth x Ywidth window."),
    ("general", "dtype", "choice", "float32", "", {"choices": ("float32", "float64")},
     "Floating type of the internal stack and of the combinations."),
    ("general", "verify_cr", "bool", False, "", {"note": "requires interactive"},
     "Ask accept/reject for every MEDIANCR feature."),
    ("general", "semiwindow", "int", 15, "pixel", _NONNEG,
     "Half size of the per-feature cut-outs in the PDF report."),
    ("general", "color_scale", "choice", "minmax", "", {"choices": ("minmax", "zscale")},
     "Colour scale of the per-feature cut-outs."),
    ("general", "maxplots", "int", 10, "", {"note": "any integer"},
     "Number of features plotted (negative = all; at most 1000)."),
    ("general", "debug", "bool", False, "", {},
     "Write extra diagnostic figures."),
    ("general", "diagram_yscale", "choice", "sqrt", "", {"choices": ("linear", "sqrt", "log")},
     "Ordinate of the MM diagram panels of the target figures: sqrt or (symmetric) log keep "
     "the boundary readable beside bright cosmic rays."),
    ("general", "bpm", "path", None, "", _NULL,
     "Bad-pixel mask (FITS, non-zero = bad, like the DRP's BPM): known defects, never masked."),
    ("general", "defects_low_rnoise", "optional_float", 10.0, "rnoise", {**_NULL, **_POS},
     "Defect: min2d below -this x rnoise (null = off)."),
    ("general", "defects_hot_sigma", "optional_float", 5.0, "sigma", {**_NULL, **_POS},
     "Defect: above (below) all 8 neighbours by this many sigma in every exposure; null = "
     "off (also the same-valued Aux detections of every exposure)."),
    ("general", "flux_change_rejection", "bool", True, "", {},
     "Drop features whose excess is a scaled copy of the local signal (flux changes)."),
    ("general", "flux_change_nsigma", "float", 4.0, "sigma", _POS,
     "A feature is kept when its excess exceeds the scaled-profile model by this much."),
    ("general", "noise_check_tolerance", "float", 0.25, "", _POS,
     "Warn when the read noise measured on the frames differs from rnoise by this fraction."),
    ("general", "reports", "choice", "summary", "", {**_NULL, "choices": ("full", "summary")},
     "Reports: summary (MM diagrams, tables, report.html), full (every figure and PDF), none."),
    ("general", "jobs", "int", 0, "", _NONNEG,
     "Cores used for the independent detector calls (0 = all)."),
    ("la", "la_gain_apply", "bool", False, "", {},
     "Accepted for compatibility; no effect (cleaned images are always in ADU)."),
    ("la", "la_sigclip", "pair", [5.0, 3.0], "", _POS,
     "Laplacian-to-noise limit (first and second pass)."),
    ("la", "la_sigfrac", "pair", [0.3, 0.3], "", _POS,
     "Fractional limit for neighbouring pixels (first and second pass)."),
    ("la", "la_objlim", "pair", [5.0, 5.0], "", _POS,
     "Contrast limit Laplacian / fine structure (first and second pass)."),
    ("la", "la_satlevel", "float", 65535.0, "ADU", _POS,
     "Saturation level."),
    ("la", "la_niter", "int", 4, "", {"minimum": 1},
     "Number of L.A.Cosmic iterations."),
    ("la", "la_sepmed", "bool", True, "", {},
     "Use the separable median filter."),
    ("la", "la_cleantype", "choice", "meanmask", "",
     {"choices": ("median", "medmask", "meanmask", "idw")},
     "Cleaning algorithm of the flagged pixels."),
    ("la", "la_fsmode", "choice", "convolve", "", {"choices": ("median", "convolve")},
     "How the fine-structure image is built."),
    ("la", "la_psfmodel", "choice", "gaussxy", "",
     {"choices": ("gauss", "moffat", "gaussx", "gaussy", "gaussxy")},
     "PSF model of the convolution kernel."),
    ("la", "la_psffwhm_x", "float", 2.5, "pixel", _POS,
     "PSF FWHM along X."),
    ("la", "la_psffwhm_y", "float", 2.5, "pixel", _POS,
     "PSF FWHM along Y."),
    ("la", "la_psfsize", "int", 11, "pixel", {"odd": True, "minimum": 3},
     "Size of the PSF kernel."),
    ("la", "la_psfbeta", "float", 4.765, "", _POS,
     "Moffat beta (la_psfmodel 'moffat')."),
    ("la", "la_verbose", "bool", False, "", {},
     "Log the detector's own messages."),
    ("la", "la_padwidth", "int", 10, "pixel", _NONNEG,
     "Mirror padding added around the image before detection."),
    ("pc", "pc_sigma_det", "pair", [5.0, 3.0], "", _POS,
     "Detection limit of edge pixels in sigma (first and second pass)."),
    ("pc", "pc_rlim", "pair", [1.2, 1.2], "", _POS,
     "Threshold Laplacian / Gaussian-smoothed image (first and second pass)."),
    ("pc", "pc_iterations", "int", 4, "", {"minimum": 1},
     "Number of PyCosmic iterations."),
    ("pc", "pc_fwhm_gauss_x", "float", 2.5, "pixel", _POS,
     "FWHM of the smoothing kernel along X."),
    ("pc", "pc_fwhm_gauss_y", "float", 2.5, "pixel", _POS,
     "FWHM of the smoothing kernel along Y."),
    ("pc", "pc_replace_box_x", "int", 5, "pixel", {"odd": True, "minimum": 1},
     "Median box along X for replacement values."),
    ("pc", "pc_replace_box_y", "int", 5, "pixel", {"odd": True, "minimum": 1},
     "Median box along Y for replacement values."),
    ("pc", "pc_replace_error", "float", 1.0e6, "", _POS,
     "Error value given to bad pixels."),
    ("pc", "pc_increase_radius", "int", 0, "pixel", _NONNEG,
     "Grow every detection by this radius."),
    ("pc", "pc_verbose", "bool", False, "", {},
     "Log the detector's own messages."),
    ("dc", "dc_mask", "choice", "ACS-WFC", "", {"choices": ("ACS-WFC", "WFC3-UVIS")},
     "deepCR mask model."),
    ("dc", "dc_threshold", "float", 0.5, "", _UNIT,
     "Probability threshold of the deepCR mask."),
    ("dc", "dc_verbose", "bool", False, "", {},
     "Log progress messages."),
    ("nn", "nn_model", "choice", "ground_imaging", "",
     {"choices": ("ground_imaging", "NRES", "HST_ACS_WFC")},
     "Cosmic-CoNN trained model."),
    ("nn", "nn_threshold", "float", 0.5, "", _UNIT,
     "Probability threshold of the Cosmic-CoNN mask."),
    ("nn", "nn_verbose", "bool", False, "", {},
     "Log progress messages."),
    ("mm", "mm_cr_coincidences", "int", 2, "", {"minimum": 2, "note": "<= n_images - 1"},
     "Highest values excluded from min2d (coincident hits tolerated)."),
    ("mm", "mm_photon_distribution", "choice", "poisson", "",
     {"choices": ("poisson", "nbinom")},
     "Photon statistics of the simulations."),
    ("mm", "mm_nbinom_shape", "float", 1000.0, "", {"note": "> 0 (checked only with 'nbinom')"},
     "Shape parameter of the negative binomial distribution."),
    ("mm", "mm_synthetic", "choice", "median", "", {"choices": ("median", "single")},
     "Model of the simulated exposures."),
    ("mm", "mm_hist2d_min_neighbors", "int", 0, "", {"minimum": 0, "maximum": 8},
     "Remove simulated bins with fewer non-empty neighbours (0 = off)."),
    ("mm", "mm_ydiag_max", "float", 0.0, "ADU", _NONNEG,
     "Upper y limit of the MM diagram (0 = automatic)."),
    ("mm", "mm_dilation", "int", 0, "pixel", _NONNEG,
     "Dilation of M.M.Cosmic-only detections."),
    ("mm", "mm_xy_offsets", "offsets", None, "pixel",
     {**_NULL, "note": "exclusive with mm_crosscorr_region"},
     "Offsets [dx, dy] of every exposure."),
    ("mm", "mm_crosscorr_region", "region", None, "pixel",
     {**_NULL, "note": "area >= 100 pixels"},
     "Region used to measure the offsets by cross-correlation."),
    ("mm", "mm_boundary_fit", "choice", "spline", "", {"choices": ("spline", "piecewise")},
     "Shape of the detection boundary."),
    ("mm", "mm_secondary_boundary", "choice", "simulated", "",
     {"choices": ("simulated", "median")},
     "Boundary of the MEANCRT/CRMASKi diagrams: simulated for their own ordinate, or the "
     "median one (reference)."),
    ("mm", "mm_boundary_tail", "float", 0.1, "pixel", {"minimum": 0, "min_exclusive": True},
     "Simulated pixels (all simulations) expected above each boundary point; 1 = reference."),
    ("mm", "mm_aux_corroboration", "optional_float", 1e-3, "", {**_NULL, **_UNIT},
     "Aux feature kept only with a pixel above the simulated level exceeded with this "
     "probability per pixel (null = reference: above mm_threshold)."),
    ("mm", "mm_knots_splfit", "int", 3, "", {"minimum": 2},
     "Total number of spline knots (both ends included)."),
    ("mm", "mm_fixed_points_in_boundary", "fixed_points", None, "ADU",
     {**_NULL, "note": "default weight 10000; >= 2 points for 'piecewise'"},
     "Points (min2d, median2d - min2d[, weight]) the boundary must follow."),
    ("mm", "mm_nsimulations", "int", 10, "", _POS,
     "Number of simulated stacks."),
    ("mm", "mm_niter_boundary_extension", "int", 3, "", _NONNEG,
     "Iterations pushing the spline above the boundary points."),
    ("mm", "mm_weight_boundary_extension", "float", 10.0, "", {"minimum": 1},
     "Weight base of the points above the spline, per iteration."),
    ("mm", "mm_threshold_rnoise", "float", 0.0, "rnoise", _NONNEG,
     "Minimum median2d - min2d, in units of the read noise."),
    ("mm", "mm_threshold", "optional_float", None, "ADU",
     {**_NULL, **_NONNEG, "note": "not together with mm_threshold_rnoise"},
     "Minimum median2d - min2d in ADU (the documented alias)."),
    ("mm", "mm_minimum_max2d_rnoise", "float", 5.0, "rnoise", {},
     "Minimum max2d of a double hit, in units of the read noise."),
    ("mm", "mm_expected_sigma", "optional_float", 4.5, "sigma",
     {**_NULL, "minimum": 1, "note": "null = the boundary alone (reference)"},
     "Test against the expected signal estimated from the neighbours along x "
     "(docs/mmcosmic.md): MEDIANCR flags a median this many sigma above it."),
    ("mm", "mm_seed", "seed", 1234, "", {**_NULL, **_NONNEG},
     "Seed of the simulations (null = not reproducible)."),
]
# fmt: on

#: Every parameter, in documentation order.
PARAMETERS: dict[str, Param] = {
    name: Param(name, group, kind, default, text, unit=unit, **rule)
    for group, name, kind, default, unit, rule, text in _ROWS
}


def _check_context(n_images: Any, shape: Any) -> list[str]:
    problems = []
    if n_images is not None and (not is_int(n_images) or n_images < 3):
        problems.append(f"n_images: expected an integer >= 3, got {describe(n_images)}")
    if shape is not None and (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(is_int(s) and s > 0 for s in shape)
    ):
        problems.append(f"shape: expected (ny, nx) of 2 positive integers, got {describe(shape)}")
    return problems


def _unknown(key: Any) -> str:
    if not isinstance(key, str):
        return f"unknown parameter {key!r}; parameter names are strings"
    close = difflib.get_close_matches(key, list(PARAMETERS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown parameter {key!r}{hint}"


def _uniform(value: Any) -> bool:
    return not isinstance(value, np.ndarray) or bool(np.all(value == value.flat[0]))


def _cross_checks(v: dict[str, Any], n_images: int | None) -> list[str]:
    """Rules involving several parameters (only on values that passed their own check)."""
    out: list[str] = []

    def has(*names: str) -> bool:
        return all(name in v for name in names)

    method = v.get("crmethod")
    uses_mm = method is not None and (method == "mmcosmic" or method.startswith("mm_"))
    aux = _aux_of(method) if method else None
    if has("verify_cr", "interactive") and v["verify_cr"] and not v["interactive"]:
        out.append("verify_cr: expected false when interactive is false, got True")
    wants_clean = bool(method) and has("use_auxmedian") and v["use_auxmedian"]
    if wants_clean and not (aux and detector_cleans(aux)):  # declared provides_cleaned
        out.append(
            f"use_auxmedian: expected false with crmethod {method!r} (no Aux-cleaned image), "
            "got True"
        )
    if has("flux_factor_regions", "flux_factor") and v["flux_factor_regions"]:
        if v["flux_factor"] != "auto":
            out.append(
                "flux_factor_regions: expected null unless flux_factor is 'auto', "
                f"got {_literal(v['flux_factor_regions'])[:60]}"
            )
    if aux is not None:
        for name in ("gain", "rnoise"):
            if name in v and not _uniform(v[name]):
                out.append(
                    f"{name}: expected a uniform value for crmethod {method!r} "
                    f"(the {aux} detector needs one number), got {describe(v[name])}"
                )
    if has("mm_cr_coincidences") and n_images is not None:
        if n_images < v["mm_cr_coincidences"] + 1:
            out.append(
                f"mm_cr_coincidences: expected at most n_images - 1 = {n_images - 1}, "
                f"got {v['mm_cr_coincidences']}"
            )
    if has("mm_threshold", "mm_threshold_rnoise") and v["mm_threshold"] is not None:
        if v["mm_threshold_rnoise"] != 0.0:
            out.append(
                "mm_threshold: expected null when mm_threshold_rnoise is given "
                f"({v['mm_threshold_rnoise']!r}; they are alternatives), got {v['mm_threshold']!r}"
            )
    if not uses_mm:
        return out
    if has("mm_photon_distribution", "mm_nbinom_shape"):
        shape_value = v["mm_nbinom_shape"]
        if v["mm_photon_distribution"] == "nbinom" and not shape_value > 0:
            out.append(f"mm_nbinom_shape: expected a number > 0 with 'nbinom', got {shape_value!r}")
    if has("mm_xy_offsets", "mm_crosscorr_region"):
        if v["mm_xy_offsets"] is not None and v["mm_crosscorr_region"] is not None:
            out.append(
                "mm_xy_offsets: expected null when mm_crosscorr_region is given "
                "(they are exclusive), got a list of offsets"
            )
    if has("mm_synthetic") and v["mm_synthetic"] == "single":
        out.extend(_single_checks(v, method))
    if has("mm_boundary_fit", "mm_fixed_points_in_boundary"):
        npts = len(v["mm_fixed_points_in_boundary"])
        if v["mm_boundary_fit"] == "piecewise" and npts < 2:
            out.append(
                "mm_fixed_points_in_boundary: expected at least 2 points with "
                f"mm_boundary_fit 'piecewise', got {npts}"
            )
    return out


def _single_checks(v: dict[str, Any], method: str) -> list[str]:
    out = []
    if method == "mmcosmic":
        out.append(
            "mm_synthetic: expected 'median' with crmethod 'mmcosmic' "
            "('single' needs an Aux detector), got 'single'"
        )
    for name in ("mm_xy_offsets", "mm_crosscorr_region"):
        if v.get(name) is not None:
            out.append(f"mm_synthetic: expected 'median' when {name} is given, got 'single'")
    factors = v.get("flux_factor")
    explicit = factors is not None and factors != "auto"
    values = factors if isinstance(factors, tuple) else (factors,)
    if explicit and any(f != 1.0 for f in values):
        out.append(
            "mm_synthetic: expected 'median' with flux factors different from 1, got 'single'"
        )
    return out


def _aux_of(method: str) -> str | None:
    base = method[3:] if method.startswith("mm_") else method
    return None if base == "mmcosmic" else base  # any other valid crmethod names a detector


def validate_parameters(
    params: Mapping[str, Any] | None = None,
    *,
    n_images: int | None = None,
    shape: tuple[int, int] | None = None,
) -> CRConfig:
    """Validate a mapping of parameters and return the normalised configuration.

    Every check is done here, before any computation, and every problem is
    reported at once.

    Parameters
    ----------
    params : mapping, optional
        Keys of :data:`PARAMETERS` (YAML ``requirements``); missing keys take
        their default.  Strings ``'none'``/``'None'``/``'null'`` mean None;
        strings holding lists or numbers are read with
        :func:`ast.literal_eval` (never ``eval``).
    n_images : int, optional
        Number of exposures (>= 3).  When given, flux factors and offsets
        must have that length and ``mm_cr_coincidences <= n_images - 1``.
    shape : tuple of int, optional
        Image shape ``(ny, nx)``.  When given, regions and pixels must lie
        inside the image and 2-D gain/rnoise/bias arrays must have this shape.

    Returns
    -------
    CRConfig
        Immutable, normalised configuration.

    Raises
    ------
    ConfigError
        One line per problem: ``"<param>: expected <what>, got <repr>"`` or
        ``"unknown parameter 'x'; did you mean 'y'?"``.
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"params: expected a mapping of parameter names to values, got {describe(params)}"
        )
    problems = _check_context(n_images, shape)
    if problems:
        raise ConfigError(problems)
    method = params.get("crmethod", PARAMETERS["crmethod"].default)
    aux = _aux_of(method) if isinstance(method, str) and method in registered_crmethods() else None
    plugin, problems = plugin_detector_params(params, aux, _AUX_GROUP)
    problems += [_unknown(k) for k in params if k not in PARAMETERS and k not in plugin]
    problems = list(dict.fromkeys(problems))
    values: dict[str, Any] = {}
    for name, param in PARAMETERS.items():
        try:
            values[name] = param.validate(
                params.get(name, param.default), n_images=n_images, shape=shape
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(_cross_checks(values, n_images))
    if problems:
        raise ConfigError(problems)
    shape_t = None if shape is None else (int(shape[0]), int(shape[1]))
    return CRConfig(**values, _n_images=n_images, _shape=shape_t, _plugin=MappingProxyType(plugin))


@dataclass(frozen=True, eq=False)
class CRConfig:
    """Validated, normalised parameters (build it with :func:`validate_parameters`).

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

    gain: float | np.ndarray
    rnoise: float | np.ndarray
    bias: float | np.ndarray
    crmethod: str
    use_auxmedian: bool
    flux_factor: str | tuple[float, ...] | float | None
    flux_factor_regions: tuple[Region, ...]
    apply_flux_factor_to: str
    interactive: bool
    dilation: int
    regions_to_be_skipped: tuple[Region, ...]
    pixels_to_be_flagged_as_cr: tuple[tuple[int, int], ...]
    pixels_to_be_ignored_as_cr: tuple[tuple[int, int], ...]
    pixels_to_be_replaced_by_local_median: tuple[tuple[int, int, int, int], ...]
    dtype: str
    verify_cr: bool
    semiwindow: int
    color_scale: str
    maxplots: int
    debug: bool
    diagram_yscale: str
    bpm: str | np.ndarray | None
    defects_low_rnoise: float | None
    defects_hot_sigma: float | None
    flux_change_rejection: bool
    flux_change_nsigma: float
    noise_check_tolerance: float
    reports: str | None
    jobs: int
    la_gain_apply: bool
    la_sigclip: tuple[float, float]
    la_sigfrac: tuple[float, float]
    la_objlim: tuple[float, float]
    la_satlevel: float
    la_niter: int
    la_sepmed: bool
    la_cleantype: str
    la_fsmode: str
    la_psfmodel: str
    la_psffwhm_x: float
    la_psffwhm_y: float
    la_psfsize: int
    la_psfbeta: float
    la_verbose: bool
    la_padwidth: int
    pc_sigma_det: tuple[float, float]
    pc_rlim: tuple[float, float]
    pc_iterations: int
    pc_fwhm_gauss_x: float
    pc_fwhm_gauss_y: float
    pc_replace_box_x: int
    pc_replace_box_y: int
    pc_replace_error: float
    pc_increase_radius: int
    pc_verbose: bool
    dc_mask: str
    dc_threshold: float
    dc_verbose: bool
    nn_model: str
    nn_threshold: float
    nn_verbose: bool
    mm_cr_coincidences: int
    mm_photon_distribution: str
    mm_nbinom_shape: float
    mm_synthetic: str
    mm_hist2d_min_neighbors: int
    mm_ydiag_max: float
    mm_dilation: int
    mm_xy_offsets: tuple[tuple[float, float], ...] | None
    mm_crosscorr_region: Region | None
    mm_boundary_fit: str
    mm_secondary_boundary: str
    mm_boundary_tail: float
    mm_aux_corroboration: float | None
    mm_knots_splfit: int
    mm_fixed_points_in_boundary: tuple[tuple[float, float, float], ...]
    mm_nsimulations: int
    mm_niter_boundary_extension: int
    mm_weight_boundary_extension: float
    mm_threshold_rnoise: float
    mm_threshold: float | None
    mm_minimum_max2d_rnoise: float
    mm_expected_sigma: float | None
    mm_seed: int | None
    _n_images: int | None = field(default=None, repr=False)
    _shape: tuple[int, int] | None = field(default=None, repr=False)
    #: Parameters declared by a third-party detector (see ``_plugin_params``).
    _plugin: Mapping[str, Any] = field(default_factory=dict, repr=False)

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

    def detector_params(self) -> dict[str, Any]:
        """Return the validated parameters of the Aux detector, keys with their prefix.

        Returns
        -------
        dict
            E.g. ``{'la_sigclip': (5.0, 3.0), ...}`` for L.A.Cosmic; empty for
            'mmcosmic'.
        """
        aux = self.aux_name
        if aux is None:
            return {}
        if aux not in _AUX_GROUP:
            return dict(self._plugin)
        group = _AUX_GROUP[aux]
        return {n: getattr(self, n) for n, p in PARAMETERS.items() if p.group == group}

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

        Raises
        ------
        ConfigError
            If a change is invalid or an unknown key is given.
        """
        current = self.as_params()
        current.update(changes)
        return validate_parameters(current, n_images=self._n_images, shape=self._shape)

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


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return bool(a == b) and type(a) is type(b)


def _scalar(value: float | np.ndarray) -> float | None:
    if not isinstance(value, np.ndarray):
        return float(value)
    return float(value.flat[0]) if _uniform(value) else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _literal(value: Any) -> str:
    """Plain literal text of a normalised value (arrays summarised)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(_plain(value))


def _wrap(head: str, value: Any, width: int = _HISTORY_WIDTH) -> list[str]:
    text = head + _literal(value)
    if len(text) <= width:
        return [text]
    if isinstance(value, (list, tuple)) and value:
        tokens = [_literal(v) for v in value]
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


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


_DOC_RULES = {
    "bool": "true, false",
    "regions": "inside the image",
    "pixels": "inside the image",
}


def parameters_markdown() -> str:
    """Markdown reference of every parameter, grouped, generated from :data:`PARAMETERS`.

    Returns
    -------
    str
        The content of ``docs/parameters.md``.
    """
    out = [
        "# Parameter reference",
        "",
        "<!-- Generated by megara_crplugin.config.parameters_markdown(); do not edit. -->",
        "",
        "Generated from `megara_crplugin.config.PARAMETERS`; regenerate with",
        '`python -c "from megara_crplugin.config import parameters_markdown as m; '
        "open('docs/parameters.md', 'w').write(m())\"`.",
        "Prose, examples and the divergences from the reference implementation are in",
        "[configuration.md](configuration.md). Units: ADU for images, e-/ADU for the gain;",
        "coordinates in FITS convention (1-based, inclusive). `null` and the strings",
        "`none`/`None`/`null` are equivalent.",
    ]
    for group, title in GROUPS.items():
        out += [
            "",
            f"## {title}",
            "",
            "| name | type | default | allowed values | unit | description |",
            "|---|---|---|---|---|---|",
        ]
        for p in PARAMETERS.values():
            if p.group != group:
                continue
            cells = [
                f"`{p.name}`",
                p.type_label,
                f"`{_yaml(p.default)}`",
                p.rule or _DOC_RULES.get(p.kind, "any finite number"),
                p.unit or "-",
                p.description,
            ]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


# Keep the dataclass fields and the schema in step (checked at import time).
_FIELDS = [f.name for f in dataclasses.fields(CRConfig) if not f.name.startswith("_")]
if _FIELDS != list(PARAMETERS):  # pragma: no cover - developer error
    raise RuntimeError("CRConfig fields and PARAMETERS are out of step")
