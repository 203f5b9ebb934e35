"""Validation of a parameter mapping: every value, then the rules across parameters.

:func:`validate_parameters` checks every key of
:data:`~megara_crplugin.config.schema.PARAMETERS` with its declaration, then
the rules involving several parameters (:func:`_cross_checks`), collects every
problem in one pass and returns an immutable
:class:`~megara_crplugin.config.CRConfig`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._plugin_params import detector_cleans, plugin_detector_params, registered_crmethods
from ..regions import describe, is_int
from .crconfig import CRConfig
from .kinds import ConfigError
from .schema import AUX_GROUP, PARAMETERS
from .values import aux_of as _aux_of
from .values import literal as _literal
from .values import uniform as _uniform

__all__ = ["revalidate", "validate_parameters"]


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
    plugin, problems = plugin_detector_params(params, aux, AUX_GROUP)
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


def revalidate(
    cfg: CRConfig,
    changes: Mapping[str, Any] | None = None,
    *,
    shape: tuple[int, int] | None = None,
) -> CRConfig:
    """A validated configuration with ``changes`` applied and/or bound to the image shape.

    Validates again only what can have changed: the parameters in ``changes``
    and, when ``shape`` is new, those whose check needs the image shape
    (regions, pixels, 2-D arrays: ``Kind.shaped``), then every rule across
    parameters.  The result equals
    ``validate_parameters({**cfg.as_params(), **changes}, n_images=cfg.n_images,
    shape=shape)``, which is what runs when ``changes`` name an unknown key, a
    detector's own key or ``crmethod`` (the accepted keys depend on it).

    Parameters
    ----------
    cfg : CRConfig
        Output of :func:`validate_parameters`.
    changes : mapping, optional
        New values of schema parameters.
    shape : tuple of int, optional
        Image shape ``(ny, nx)``; default: the shape ``cfg`` was validated for.

    Returns
    -------
    CRConfig

    Raises
    ------
    ConfigError
        The same messages as :func:`validate_parameters`.
    """
    changes = dict(changes or {})
    new_shape = cfg.shape if shape is None else shape
    if any(k not in PARAMETERS or k == "crmethod" for k in changes):
        return validate_parameters(
            {**cfg.as_params(), **changes}, n_images=cfg.n_images, shape=new_shape
        )
    problems = _check_context(None, new_shape)
    if problems:
        raise ConfigError(problems)
    shape_t = None if new_shape is None else (int(new_shape[0]), int(new_shape[1]))
    if not changes and shape_t == cfg.shape:
        return cfg
    redo = set(changes)
    if shape_t != cfg.shape:
        redo.update(name for name, p in PARAMETERS.items() if p.kind_spec.shaped)
    values = {name: getattr(cfg, name) for name in PARAMETERS}
    for name, param in PARAMETERS.items():
        if name not in redo:
            continue
        try:
            values[name] = param.validate(
                changes.get(name, values[name]), n_images=cfg.n_images, shape=shape_t
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
            del values[name]  # the rules across parameters skip it, as in validate_parameters
    problems.extend(_cross_checks(values, cfg.n_images))
    if problems:
        raise ConfigError(problems)
    return CRConfig(**values, _n_images=cfg.n_images, _shape=shape_t, _plugin=cfg._plugin)
