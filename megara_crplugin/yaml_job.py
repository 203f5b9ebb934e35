"""Run the whole job of one parameter file (the ``megara-crmasks PARAMS.yaml`` form).

Shared by the command (:mod:`megara_crplugin.cli`) and the subcommands that
run parameter files themselves (``demo``, ``selftest``, ``batch``), so none of
them imports the command module (no cli <-> subcommand import cycle).

Units: gain in e-/ADU, rnoise and bias in ADU.
"""

from __future__ import annotations

import difflib
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import safety
from ._combowriter import EarlyCombinations, write_combinations
from ._memtrim import release_free_memory
from ._version import __version__
from .config import COMBINATIONS, validate_parameters
from .exceptions import CRPluginWarning

__all__ = [
    "CLIError",
    "YAML_KEYS",
    "combination_history",
    "console_for",
    "is_fits_name",
    "load_yaml",
    "noise_value",
    "print_done",
    "requirements_of",
    "run_yaml",
]

# The command's logger: the records keep the name they had before this module existed.
log = logging.getLogger("megara_crplugin.cli")

#: Top-level keys of the parameter YAML file (the numina-crmasks layout).
YAML_KEYS = ("images", "extnum", "extname", "gain", "rnoise", "bias", "requirements")


class CLIError(Exception):
    """An error reported to the operator as one line, exit status 1."""


def load_yaml(path: Path) -> dict[str, Any]:
    """The checked mapping of a parameter file (:class:`CLIError` naming the file otherwise)."""
    from .yaml_input import load_yaml_file

    if not path.is_file():
        raise CLIError(f"parameter file {path}: file not found")
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise CLIError(
            f"parameter file {path}: expected a mapping with keys {', '.join(YAML_KEYS)}"
        )
    for key in data:
        if key not in YAML_KEYS:
            close = difflib.get_close_matches(str(key), YAML_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CLIError(f"parameter file {path}: unknown top-level key {key!r}{hint}")
    images = data.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
        raise CLIError(f"parameter file {path}: 'images' must be a list of FITS file names")
    req = data.get("requirements") or {}
    if not isinstance(req, dict):
        raise CLIError(f"parameter file {path}: 'requirements' must be a mapping")
    extnum, extname = data.get("extnum"), data.get("extname")
    if extnum is not None and (
        not isinstance(extnum, int) or isinstance(extnum, bool) or extnum < 0
    ):
        raise CLIError(f"parameter file {path}: 'extnum' must be an integer >= 0, got {extnum!r}")
    if extname is not None and not isinstance(extname, str):
        raise CLIError(f"parameter file {path}: 'extname' must be an HDU name, got {extname!r}")
    return data


def is_fits_name(value) -> bool:
    """Whether a gain / rnoise / bias value names a FITS file."""
    return isinstance(value, str) and value.lower().endswith((".fits", ".fit", ".fits.gz"))


def noise_value(value, name: str, base: Path):
    """A number, or the name of a FITS file holding a 2-D array (gain/rnoise/bias)."""
    if is_fits_name(value):
        from .inputs import read_frames

        return read_frames([base / value])[0]
    return value


def requirements_of(data: dict[str, Any], params_file: Path) -> dict[str, Any]:
    """The ``requirements`` of a loaded parameter file with its top-level gain, rnoise, bias.

    Values naming a FITS file are read (path relative to the file's folder).
    """
    base = params_file.resolve().parent
    requirements = dict(data.get("requirements") or {})
    for key in ("gain", "rnoise", "bias"):
        if key in requirements:
            raise CLIError(f"{key}: give it at the top level of {params_file}, not in requirements")
        if data.get(key) is not None:
            requirements[key] = noise_value(data[key], key, base)
    return requirements


def combination_history(argv: Sequence[str], images: Sequence[str]) -> list[str]:
    """HISTORY lines of a combined image: version, date, node, command line, inputs."""
    lines = [
        f"megara_crplugin {__version__}",
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"node: {platform.node()}",
        f"python: {sys.executable}",
        "$ megara-crmasks " + " ".join(argv),
        "Input images:",
    ]
    lines += [f"- {Path(i).name}" for i in images]
    return lines


def _reports_in_background(result, stage: Path, level: str):
    """Start writing the reports of ``result`` into ``stage`` in a forked child (BackgroundCall)."""
    from ._background import BackgroundCall
    from .reports import drop_unreported, write_reports

    parent = os.getpid()

    def draw():
        if level == "summary" and os.getpid() != parent:  # the forked child's own copy only
            drop_unreported(result)
        t0 = time.perf_counter()
        written = write_reports(result, stage, level=level)
        log.info("reports written (%.1f s, beside the combinations)", time.perf_counter() - t0)
        return written

    return BackgroundCall(draw, name="reports", process=True)


class _Job:
    """The masks of one parameter-file run (computed or read), and its reports' child."""

    def __init__(self, stage, params, identities, shape, images, first, hooks):
        self.stage, self.params, self.identities, self.shape = stage, params, identities, shape
        self.images, self.first = images, first
        self.reports, self.progress, self.reviewer = hooks
        self.background = None  # the reports, drawn while the combinations are written

    def masks(self, crmasks, frames, early=None):
        """``(masks, statistics)``: read from ``crmasks``, or computed (statistics then kept).

        A computation writes ``crmasks.fits`` into the staging folder and
        starts the reports' child (unless interactive: then the reports are
        drawn by the pipeline itself); ``early`` (:class:`EarlyCombinations`)
        receives the pipeline's ``on_stack`` and ``on_mediancr`` hooks.
        """
        from .crmasks_file import crmasks_hdulist, read_crmasks, write_crmasks
        from .identity import match_masks
        from .pipeline import compute_crmasks
        from .provenance import data_unit

        if crmasks is not None:
            masks = read_crmasks(crmasks, n_frames=len(frames), shape=self.shape)
            return match_masks(masks, self.identities, source=f"crmasks file {crmasks}"), None
        params, stage, reviewer = self.params, self.stage, self.reviewer
        if reviewer is None and params.interactive:
            from .interactive import InteractiveReviewer

            reviewer = InteractiveReviewer(output_dir=stage)
        later = self.reports and params.reports is not None and not params.interactive
        result = compute_crmasks(
            frames,
            params,
            output_dir=stage if self.reports and not later else None,
            progress=self.progress,
            reviewer=reviewer,
            frame_names=self.images,
            units=data_unit(self.first),
            release_frames=True,  # the combinations use the pipeline's stack
            on_stack=None if early is None else early.start,
            on_mediancr=None if early is None else early.start_mediancr,
        )
        if later:
            self.background = _reports_in_background(result, stage, params.reports)
        hdul = crmasks_hdulist(
            result,
            history=[f"Image {Path(i).name}" for i in self.images],
            frame_uuids=self.identities,
        )
        write_crmasks(hdul, stage / "crmasks.fits")
        masks = read_crmasks(hdul)  # from memory: the file is not read back
        statistics = result.stats  # the combinations reuse the stack and its statistics
        del result, hdul  # the detections, reports' data and file images are not needed
        release_free_memory(collect=True)
        return masks, statistics

    def wait_reports(self) -> None:
        """Wait for the reports' child (its exception is raised here)."""
        if self.background is not None:
            self.background.result()

    def cancel_reports(self) -> None:
        """Stop the reports' child, if any (after a failure)."""
        if self.background is not None:
            self.background.cancel()


def run_yaml(
    params_file: str | os.PathLike,
    *,
    output_dir: str | os.PathLike = ".",
    crmasks: str | os.PathLike | None = None,
    reports: bool = True,
    progress=None,
    reviewer=None,
    argv: Sequence[str] = (),
    combinations: Sequence[str] = COMBINATIONS,
    jobs: int | None = None,
) -> Path:
    """Run the whole job of one parameter file (masks, combinations, reports).

    Parameters
    ----------
    params_file : path-like
        YAML file with ``images``, ``extnum``/``extname``, ``gain`` (e-/ADU),
        ``rnoise`` (ADU), ``bias`` (ADU) and ``requirements``.  Image paths are
        relative to the YAML file's folder.
    output_dir : path-like, optional
        Destination of ``crmasks.fits``, ``combined_<method>.fits`` and the
        reports (created if needed).
    crmasks : path-like, optional
        Existing masks file: skip the computation and only combine.
    reports : bool, optional
        Write the diagnostic figures and tables.
    progress, reviewer : optional
        Hooks passed to :func:`megara_crplugin.pipeline.compute_crmasks`.
    argv : sequence of str, optional
        Command line recorded in the HISTORY of the combined images.
    combinations : sequence of str, optional
        Combination methods written as ``combined_<method>.fits`` (default:
        all seven; an empty sequence writes none).
    jobs : int, optional
        Cores for the independent work (the ``jobs`` parameter; overrides the
        file's value when given; 0 = all).

    Returns
    -------
    Path
        The output directory.
    """
    from .identity import check_distinct, file_identities
    from .inputs import check_frames, read_frames
    from .provenance import input_header, refuse_combined_inputs

    params_file = Path(params_file)
    data = load_yaml(params_file)
    base = params_file.resolve().parent
    images = [str(base / p) for p in data["images"]]
    noise_files = [base / v for k in ("gain", "rnoise", "bias") if is_fits_name(v := data.get(k))]
    inputs = [params_file, *images, *noise_files, *([crmasks] if crmasks is not None else [])]
    stale = safety.main_form_patterns(computing=crmasks is None)
    safety.check_output_dir(output_dir, "--output_dir")
    safety.check_output_names(output_dir, stale, inputs)
    if crmasks is None:
        refuse_combined_inputs(images, extnum=data.get("extnum"), extname=data.get("extname"))
    frames = read_frames(images, extnum=data.get("extnum"), extname=data.get("extname"))
    shape = check_frames(frames, names=images, min_frames=1)
    identities = file_identities(images, frames)
    check_distinct(identities, images)
    requirements = requirements_of(data, params_file)
    if jobs is not None:
        requirements["jobs"] = jobs
    params = validate_parameters(requirements, n_images=len(frames), shape=shape)
    if params.interactive:
        from .interactive import display_available

        if not display_available():
            warnings.warn(
                "interactive: no display available; running non-interactively",
                CRPluginWarning,
                stacklevel=2,
            )
            params = params.replace(interactive=False, verify_cr=False)
    output_dir = Path(output_dir)
    log.info(
        "megara-crmasks %s: %d images of shape %s -> %s",
        __version__,
        len(frames),
        shape,
        output_dir,
    )
    first = input_header(images[0], extnum=data.get("extnum"), extname=data.get("extname"))
    history = combination_history(argv, images)
    with safety.staging(output_dir, stale=stale, protected=inputs) as stage:
        hooks = (reports, progress, reviewer)
        job = _Job(stage, params, identities, shape, images, first, hooks)
        wanted = combinations if crmasks is None else ()  # some written early when computing
        early = EarlyCombinations(stage, params, history, wanted, images=images, first=first)
        try:
            masks, statistics = job.masks(crmasks, frames, early)
            # written during the detection: their messages come first, in time order
            combined = early.result()
            rest = [m for m in combinations if m not in early.methods]
            combined += write_combinations(
                stage,
                frames,
                masks,
                params,
                history,
                methods=rest,
                images=images,
                first=first,
                statistics=statistics,
            )
            job.wait_reports()  # the reports' exception, if any, is raised here
        except BaseException:
            early.cancel()  # no child writes into the staging folder once it is removed
            job.cancel_reports()
            raise
        if (stage / "report.html").is_file():
            from .reports._report_parts import add_products

            masks_file = stage / "crmasks.fits" if crmasks is None else Path(crmasks).resolve()
            order = {f"combined_{m}.fits": k for k, m in enumerate(combinations)}
            combined.sort(key=lambda p: order.get(p.name, len(order)))
            add_products(stage / "report.html", [masks_file, *combined])
    return output_dir


def console_for(args):
    """Set up the package's logging; return (console, progress) (progress None if quiet)."""
    from .reports.progress import RichProgress, setup_logging

    level = "WARNING" if args.quiet and args.log_level in ("DEBUG", "INFO") else args.log_level
    console = setup_logging(level, record=getattr(args, "record", False))
    progress = None if args.quiet else RichProgress(console=console)
    return console, progress


def print_done(console, text: str) -> None:
    """The closing line of a command (nothing with --quiet)."""
    if console is not None:
        console.print(f"[bold green]done[/]: {text}")
