"""Reports of a mask computation: figures, per-feature PDF/CSV, HTML summary, progress.

The entry point is :func:`write_reports`; the drawing functions are exposed so
the interactive module can reuse them on an on-screen figure.  Submodules are
imported lazily, so ``megara_crplugin.reports.progress`` (used by the CLI
before any computation) does not pull in matplotlib.

Units: ADU (electrons for MEGARA).  Mask polarity: ``True`` = cosmic ray.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import effective_maxplots, save_figure

__all__ = [
    "SUMMARY_FIGURES",
    "FeaturePageRenderer",
    "RichProgress",
    "TargetPanels",
    "draw_target_diagnostic",
    "drop_unreported",
    "planned_figures",
    "plot_flux_factor",
    "plot_histogram2d",
    "plot_image_number",
    "plot_mediancr_diagnostic",
    "plot_mm_histograms",
    "plot_target_diagnostic",
    "plot_xyoffset_crosscorr",
    "save_record",
    "setup_logging",
    "write_feature_pdfs",
    "write_feature_tables",
    "write_html_report",
    "write_problematic_reports",
    "write_reports",
]

_LOG = logging.getLogger(__name__)

#: Figures written by ``reports: summary`` (the M.M.Cosmic diagrams an operator reads).
SUMMARY_FIGURES = frozenset({"diagnostic_histogram2d.png", "diagnostic_mediancr.png"})

_LAZY = {
    "TargetPanels": "figures",
    "draw_target_diagnostic": "figures",
    "plot_flux_factor": "figures",
    "plot_histogram2d": "figures",
    "plot_image_number": "figures",
    "plot_mediancr_diagnostic": "figures",
    "plot_mm_histograms": "figures",
    "plot_target_diagnostic": "figures",
    "plot_xyoffset_crosscorr": "figures",
    "FeaturePageRenderer": "features",
    "write_feature_pdfs": "features",
    "write_feature_tables": "features",
    "write_problematic_reports": "features",
    "write_html_report": "html",
    "RichProgress": "progress",
    "save_record": "progress",
    "setup_logging": "progress",
}


def __getattr__(name: str) -> Any:
    """Import the public names of the submodules on first use."""
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_inputs(result: Any, output_dir: str | os.PathLike) -> Path:
    """Validate ``result`` and ``output_dir`` before any drawing; create the folder."""
    targets = getattr(result, "targets", None)
    if not isinstance(targets, dict) or "MEDIANCR" not in targets:
        raise TypeError(
            "result must be a CRMaskResult whose targets include 'MEDIANCR', "
            f"got {type(result).__name__}"
        )
    n = result.stats.n_frames
    missing = [f"CRMASK{i}" for i in range(1, n + 1) if f"CRMASK{i}" not in targets]
    if missing:
        raise ValueError(f"result.targets lacks {', '.join(missing)} for {n} exposures")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output_dir {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def planned_figures(result: Any) -> list[tuple[str, Callable[[], Any]]]:
    """List the PNG figures that apply to ``result`` and how to draw each.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result.

    Returns
    -------
    list of (str, callable)
        File name and a zero-argument callable returning the Figure, in the
        order the pipeline produces them.  ``diagnostic_mediancr.png``,
        ``diagnostic_meancr.png`` (MEANCRT target, mean2d - min2d) and
        ``diagnostic_crmask<i>.png`` are always listed;
        ``diagnostic_meancr_residual.png`` (MEANCR target) only with
        ``config.debug``.
    """
    from . import figures as fg

    n = result.stats.n_frames
    cfg = getattr(result, "config", None)
    jobs: list[tuple[str, Callable[[], Any]]] = []
    if result.extras.get("flux_factor"):
        if n % 2 == 1:
            jobs.append(
                ("image_number_at_median_position.png", lambda: fg.plot_image_number(result))
            )
        jobs += [
            (f"flux_factor{i}.png", lambda i=i: fg.plot_flux_factor(result, i))
            for i in range(1, n + 1)
        ]
    if result.offsets is not None and result.extras.get("crosscorr_region") is not None:
        jobs += [
            (f"xyoffset_crosscorr_{i}.png", lambda i=i: fg.plot_xyoffset_crosscorr(result, i))
            for i in range(1, n + 1)
        ]
    if result.histogram is not None and result.boundary is not None:
        jobs.append(("diagnostic_histogram2d.png", lambda: fg.plot_histogram2d(result)))
    jobs.append(("diagnostic_mediancr.png", lambda: fg.plot_mediancr_diagnostic(result)))
    targets = [("diagnostic_meancr.png", "MEANCRT")]
    targets += [(f"diagnostic_crmask{i}.png", f"CRMASK{i}") for i in range(1, n + 1)]
    if getattr(cfg, "debug", False):
        targets.append(("diagnostic_meancr_residual.png", "MEANCR"))
    jobs += [
        (fname, lambda name=name: fg.plot_target_diagnostic(result, name))
        for fname, name in targets
        if name in result.targets
    ]
    return jobs


def drop_unreported(result: Any) -> None:
    """Drop, in place, the arrays of ``result`` that ``level='summary'`` never reads.

    For the reports child forked beside the combinations (``megara-crmasks``):
    that child holds its own reference to every array of the result, so the
    parent's ``del result`` frees none of them while the reports are drawn
    (about 8 frames at full size: the flags and codes of each target, the
    ``meancr`` image, ``auxclean``).  A summary reads every target's ``mask``,
    MEDIANCR's whole detection, the statistics, features, histogram and
    boundary: everything else is dropped here (set to None) and the C heap
    trimmed.  Never call it on a result used afterwards for anything else.

    Parameters
    ----------
    result : CRMaskResult
        Modified in place.
    """
    from .._memtrim import release_free_memory
    from ..result import TargetDetection

    for name, det in list(result.targets.items()):
        if name != "MEDIANCR":
            result.targets[name] = TargetDetection(name, None, None, None, None, det.mask)
    result.auxclean = None
    release_free_memory(collect=True)


def write_reports(
    result: Any,
    output_dir: str | os.PathLike,
    *,
    progress: Any = None,
    html: bool = True,
    level: str = "full",
) -> list[Path]:
    """Write every diagnostic figure, table and PDF that applies to ``result``.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result (images in ADU; masks True = cosmic ray).
        Works for Aux-only crmethods (no boundary, no histogram).
    output_dir : path-like
        Destination folder, created if missing.
    progress : Progress, optional
        Receives one ``plots`` phase whose steps are the figures and PDF
        pages; :class:`megara_crplugin.hooks.NullProgress` by default.
    html : bool, optional
        Also write ``report.html`` linking everything (default True).
    level : {'full', 'summary'}, optional
        ``full`` (default) writes everything; ``summary`` writes what an
        operator reads (:data:`SUMMARY_FIGURES`, the feature and problematic
        CSV tables and ``report.html``) and no per-target figure or PDF.

    Returns
    -------
    list of Path
        Files written, in writing order.  Each is written to a temporary
        name and renamed, so an interrupted run leaves no partial file.

    Raises
    ------
    TypeError
        If ``result`` is not a mask computation result.
    ValueError
        If a CRMASK<i> target is missing.
    NotADirectoryError
        If ``output_dir`` exists and is not a directory.

    Notes
    -----
    ``result.config.maxplots`` limits the features (and problematic regions)
    drawn in the PDFs: negative = all, capped at 1000.  The CSV tables
    always list every feature and pixel.
    """
    from . import features as fe
    from .html import write_html_report

    out = _check_inputs(result, output_dir)
    if progress is None:
        from ..hooks import NullProgress

        progress = NullProgress()
    if level not in ("full", "summary"):
        raise ValueError(f"level must be 'full' or 'summary', got {level!r}")
    maxplots = getattr(getattr(result, "config", None), "maxplots", 10)
    jobs = planned_figures(result)
    if level == "summary":
        jobs = [job for job in jobs if job[0] in SUMMARY_FIGURES]
        maxplots = 0  # tables only: no feature or problematic-region PDF pages
    has_mediancr = bool(result.targets["MEDIANCR"].mask.any())
    n_pages = 2 * effective_maxplots(maxplots, len(result.features), warn=False) * has_mediancr
    n_problem = int(result.problematic.any())  # regions are counted while writing
    written: list[Path] = []
    with progress.phase("plots", total=len(jobs) + n_pages + n_problem) as advance:
        for fname, draw in jobs:
            written.append(save_figure(draw(), out / fname))
            _LOG.debug("wrote %s", fname)
            advance(1)
        if has_mediancr:
            written += fe.write_feature_tables(result, out)
            written += fe.write_feature_pdfs(result, out, maxplots=maxplots, advance=advance)
        problem = fe.write_problematic_reports(result, out, maxplots=maxplots)
        written += problem
        advance(n_problem)
        if html:
            written.append(write_html_report(result, out, written))
    shown = out.parent if out.name.startswith(".megara-crmasks-") else out  # not the staging
    _LOG.info("reports: %d files written to %s", len(written), shown)
    return written
