"""Plug megara_crplugin into numina and the MEGARA DRP.

numina calls :func:`register` (entry point group ``numina.plugins.1``) once per
``numina`` process, after all the DRPs are loaded and before any subcommand
runs.  It applies the YAML overlay files of ``megara_crplugin.drp_config`` to
the MEGARA :class:`numina.core.pipeline.InstrumentDRP` *in place* (no second
``MEGARA`` DRP is registered) and adds the ``numina crmasks`` subcommand.
:func:`install` applies the same overlay from Python (tests, notebooks) and is
idempotent.

Overlay file format (``overlay_version: 1``; every key is checked and an
unknown key is an error naming the file and the key)::

    overlay_version: 1
    instrument: MEGARA                  # DRP to edit (must be loaded)
    mode_loader: pkg.mod.Loader         # optional, its mode_loader(node) is applied
    modes:                              # optional list
      - key: MegaraCrDetection          # required
        name: CR detection              # required
        summary: ...                    # optional strings: summary, description,
        rawimage: IMAGE_TARGET          #   rawimage, validator (FQN), builder (FQN)
        policy: add_if_missing          # or 'replace'
    pipelines:                          # required, at least one
      crplugin:
        base: default                   # pipeline copied first (required)
        version: 1                      # optional, default: the base's
        recipes: {MODE: pkg.mod.Recipe} # required, replace/extend the copied recipes
        products: {NAME: pkg.mod.Type}  # optional
        provides: [{name: N, mode: M, field: F}]   # optional
        default_requirements: default   # optional: copy the DRP defaults of this pipeline
"""

from __future__ import annotations

import argparse
import copy
import logging
from collections.abc import Iterable
from typing import Any

from ._drp_adapter import add_mode, add_pipeline, has_default_requirements, set_default_requirements
from .overlay import (
    OVERLAY_PACKAGE,
    Overlay,
    OverlayError,
    PipelineSpec,
    _err,
    load_overlay,
    overlay_files,
    overlay_root,
)

__all__ = [
    "OVERLAY_PACKAGE",
    "OverlayError",
    "Overlay",
    "PipelineSpec",
    "apply_overlay",
    "install",
    "load_overlay",
    "overlay_files",
    "overlay_root",
    "register",
]

_logger = logging.getLogger(__name__)

#: Attribute set on the pipelines created by an overlay (value: overlay source).
_MARK = "_megara_crplugin_overlay"

# --------------------------------------------------------------------------- applying


def _base_provides(pipeline) -> list:
    """ProductEntry objects of `pipeline`, through its public ``who_provides``."""
    from numina.core.pipeline import ProductEntry

    entries = []
    for name in pipeline.products:
        try:
            entry = pipeline.who_provides(name)
        except KeyError:
            continue
        entries.append(ProductEntry(entry.name, entry.mode, entry.field))
    return entries


def _copy_default_requirements(drp, spec: PipelineSpec, overlay: Overlay) -> int:
    """Copy the DRP default requirements of ``spec.default_requirements`` to ``spec.name``."""
    if not has_default_requirements(drp):
        _logger.warning(
            "%s: numina's InstrumentDRP has no default requirements table; "
            "pipeline %r gets no default requirements",
            overlay.source,
            spec.name,
        )
        return 0
    values = drp.default_requirements()  # a deep copy
    per_profile = values.get("requirements", {}).get(drp.name, {})
    copied = 0
    for node in per_profile.values():
        if spec.default_requirements in node and spec.name not in node:
            node[spec.name] = copy.deepcopy(node[spec.default_requirements])
            copied += 1
    if copied:
        set_default_requirements(drp, values)
    return copied


def _apply_pipeline(drp, spec: PipelineSpec, overlay: Overlay) -> str:
    from numina.core.pipeline import Pipeline, ProductEntry
    from numina.core.pipelineload import load_base

    existing = drp.pipelines.get(spec.name)
    if existing is not None:
        if getattr(existing, _MARK, None) is not None:
            return f"pipeline {spec.name!r} already installed"
        raise _err(
            overlay.source,
            f"pipelines.{spec.name}",
            f"DRP {drp.name} already has a pipeline {spec.name!r} that this plugin did not create",
        )
    try:
        base = drp.pipelines[spec.base]
    except KeyError:
        raise _err(
            overlay.source,
            f"pipelines.{spec.name}.base",
            f"DRP {drp.name} has no pipeline {spec.base!r}; available: {', '.join(drp.pipelines)}",
        ) from None
    for mode in spec.recipes:
        if mode not in drp.modes:
            raise _err(
                overlay.source,
                f"pipelines.{spec.name}.recipes.{mode}",
                f"DRP {drp.name} has no observing mode {mode!r}",
            )
    recipes = copy.deepcopy(base.recipes)
    recipes.update(load_base("recipes", dict(spec.recipes)))
    products = copy.deepcopy(base.products)
    products.update(load_base("products", dict(spec.products)))
    provides = {entry.name: entry for entry in _base_provides(base)}
    for name, mode, field in spec.provides:
        if mode not in recipes:
            raise _err(
                overlay.source,
                f"pipelines.{spec.name}.provides",
                f"product {name!r} is provided by mode {mode!r}, "
                "which has no recipe in the pipeline",
            )
        provides[name] = ProductEntry(name, mode, field)
    version = spec.version if spec.version is not None else base.version
    pipeline = Pipeline(
        drp.name,
        spec.name,
        recipes,
        version=version,
        products=products,
        provides=list(provides.values()),
    )
    setattr(pipeline, _MARK, overlay.source)
    add_pipeline(drp, pipeline)
    msg = f"pipeline {spec.name!r} created from {spec.base!r}"
    if spec.default_requirements:
        n = _copy_default_requirements(drp, spec, overlay)
        msg += f", default requirements of {spec.default_requirements!r} copied for {n} profile(s)"
    return msg


def apply_overlay(drp, overlay: Overlay) -> list[str]:
    """Apply one overlay to an InstrumentDRP, in place.

    Parameters
    ----------
    drp : numina.core.pipeline.InstrumentDRP
        The DRP named ``overlay.instrument``.
    overlay : Overlay
        A validated overlay.

    Returns
    -------
    list of str
        One line per change (or per item found already installed).

    Raises
    ------
    OverlayError
        If the overlay does not fit the DRP (unknown base pipeline or mode,
        a foreign pipeline with the same name, an unloadable mode loader).
    """
    from numina.core.pipelineload import load_mode
    from numina.util.objimport import import_object

    if drp.name != overlay.instrument:
        raise _err(
            overlay.source,
            "instrument",
            f"overlay is for {overlay.instrument!r}, DRP is {drp.name!r}",
        )
    changes = []
    confclass = None
    if overlay.mode_loader:
        try:
            confclass = import_object(overlay.mode_loader)
        except (ImportError, AttributeError) as exc:
            raise _err(
                overlay.source, "mode_loader", f"cannot import {overlay.mode_loader!r} ({exc})"
            ) from exc
    for node, policy in overlay.modes:
        key = node["key"]
        if key in drp.modes and policy == "add_if_missing":
            changes.append(f"mode {key!r} kept (already defined by {drp.name})")
            continue
        try:
            mode = load_mode(copy.deepcopy(node), confclass, instrument=drp.name)
        except (KeyError, TypeError, ValueError, ImportError, AttributeError) as exc:
            raise _err(overlay.source, f"modes.{key}", f"cannot load the mode ({exc!r})") from exc
        add_mode(drp, key, mode)
        changes.append(f"mode {key!r} {'replaced' if policy == 'replace' else 'added'}")
    for spec in overlay.pipelines:
        changes.append(_apply_pipeline(drp, spec, overlay))
    return changes


def install(system=None, *, overlays: Iterable[Any] | None = None) -> dict[str, list[str]]:
    """Apply the plugin's overlay files to the loaded DRPs (idempotent).

    Parameters
    ----------
    system : numina.drps.drpsystem.DrpSystem, optional
        The DRP system to edit; default: numina's cached system DRPs
        (``numina.drps.get_system_drps()``), the ones every ``numina``
        command and :func:`numina.user.helpers.create_datamanager` use.
    overlays : iterable, optional
        Overlay files (paths, Traversables or :class:`Overlay` objects);
        default: :func:`overlay_files`.

    Returns
    -------
    dict
        ``{source: [change, ...]}`` for every overlay applied.

    Raises
    ------
    OverlayError
        If an overlay is invalid or its instrument is not loaded (for
        MEGARA: megaradrp is not installed).
    """
    if system is None:
        import numina.drps

        system = numina.drps.get_system_drps()
    loaded = [
        o if isinstance(o, Overlay) else load_overlay(o) for o in (overlays or overlay_files())
    ]
    report = {}
    for overlay in loaded:
        try:
            drp = system.query_by_name(overlay.instrument)
        except KeyError:
            raise _err(
                overlay.source,
                "instrument",
                f"no numina DRP named {overlay.instrument!r} is loaded "
                f"(loaded: {', '.join(system.query_all()) or 'none'}); is megaradrp installed?",
            ) from None
        report[overlay.source] = apply_overlay(drp, overlay)
        for line in report[overlay.source]:
            _logger.debug("%s: %s", overlay.source, line)
    return report


# --------------------------------------------------------------------------- numina hook


def _run_crmasks(args, extra_args, config) -> int:
    """Run ``megara_crplugin.cli.main`` with the arguments after ``numina crmasks``."""
    from megara_crplugin.cli import main

    status = main(list(args.crmasks_arguments))
    return 0 if status is None else int(status)


def add_crmasks_command(subparsers) -> argparse.ArgumentParser:
    """Add the ``numina crmasks`` subcommand (it runs ``megara_crplugin.cli:main``).

    Every argument after ``crmasks`` is passed unchanged to the plugin's
    command-line interface (``numina crmasks --help`` shows its help).
    """
    parser = subparsers.add_parser(
        "crmasks",
        help="cosmic-ray masks of N >= 3 exposures (megara_crplugin; 'numina crmasks --help')",
        add_help=False,
        prefix_chars="+",  # every argument, '--help' included, goes to the plugin's CLI
    )
    parser.add_argument("crmasks_arguments", nargs="*", metavar="ARG")
    parser.set_defaults(command=_run_crmasks)
    return parser


def register(subparsers, config) -> None:
    """Numina plugin hook (entry point group ``numina.plugins.1``).

    Adds the ``numina crmasks`` subcommand and applies the overlay files to
    the system DRPs (:func:`install`).  numina calls it after loading the
    DRPs and before running any subcommand; ``numina --disable-plugins``
    skips it, leaving megaradrp's DRP untouched.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        numina's subcommand registry.
    config : configparser.ConfigParser
        numina's configuration (not used).

    Raises
    ------
    OverlayError
        If the overlay cannot be applied (numina prints the message and goes on
        without the ``crplugin`` pipeline).
    """
    add_crmasks_command(subparsers)
    try:
        install()
    except OverlayError as exc:
        raise OverlayError(f"megara_crplugin: the DRP overlay was not applied: {exc}") from exc
