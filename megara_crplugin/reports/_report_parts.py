"""Parts of ``report.html``: run information, parameters, captions, products.

Kept apart from :mod:`megara_crplugin.reports.html` so the page layout stays
small.  Every text is HTML-escaped here; links are relative to the page.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .._version import __version__
from ._common import atomic_path

__all__ = ["add_products", "caption", "parameter_rows", "run_rows"]

#: Marker comment where the products section goes (replaced by :func:`add_products`).
PRODUCTS_MARK = "<!-- products -->"

_CAPTIONS = (
    (
        r"diagnostic_histogram2d\.png",
        "M.M.Cosmic diagram: median2d - min2d versus min2d for the simulated exposures "
        "(left, with the boundary points and the fit of each iteration) and the real data "
        "(right).  Real pixels above the red boundary are flagged in MEDIANCR.  Check that "
        "the boundary hugs the top of the simulated cloud before trusting the masks.",
    ),
    (
        r"diagnostic_mediancr\.png",
        "MEDIANCR (the median combination): (a) MM diagram with every suspected pixel by "
        "detector, (b) their numbers, (c) median2d with the detections, (d) mean2d, where "
        "the cosmic rays the median already removed are visible.",
    ),
    (
        r"diagnostic_meancr\.png",
        "MEANCRT (the mean combination): (a) MM diagram of mean2d - min2d, (b) numbers, "
        "(c) mean2d with the detections, (d) median2d.",
    ),
    (
        r"diagnostic_meancr_residual\.png",
        "MEANCR residual check (debug): detections of the Aux.Cosmic detector on the CR-free mean.",
    ),
    (
        r"diagnostic_crmask(\d+)\.png",
        "Exposure {0} (CRMASK{0}): (a) MM diagram of the exposure - min2d, (b) numbers, "
        "(c) the exposure with its detections, (d) median2d.",
    ),
    (
        r"flux_factor(\d+)\.png",
        "Flux factor of exposure {0}: ratio exposure / median2d versus signal, raw (left) "
        "and cleaned with the fitted modes (right); the dashed line is the factor used.",
    ),
    (
        r"image_number_at_median_position\.png",
        "Which exposure provides the median at each pixel: a region dominated by one "
        "exposure reveals a flux or pointing difference.",
    ),
    (
        r"xyoffset_crosscorr_(\d+)\.png",
        "Offset of exposure {0} from median2d (cross-correlation): difference images "
        "before and after the shift.",
    ),
)


def caption(name: str) -> str:
    """Human caption of a figure file name (the name itself when unknown)."""
    for pattern, text in _CAPTIONS:
        match = re.fullmatch(pattern, name)
        if match:
            return text.format(*match.groups())
    return name


def _esc(value: Any) -> str:
    return html.escape(str(value))


def run_rows(result: Any) -> list[tuple[str, str]]:
    """Software, date and input rows (escaped) of the summary table."""
    names = result.extras.get("frame_names") or []
    rows = [
        ("software", _esc(f"megara_crplugin {__version__}")),
        ("report date (UTC)", _esc(datetime.now(timezone.utc).isoformat(timespec="seconds"))),
    ]
    if names:
        rows.append(("inputs", "<br>".join(_esc(Path(str(n)).name) for n in names)))
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"2-D array {value.shape[0]} x {value.shape[1]}" if value.ndim == 2 else "array"
    if isinstance(value, tuple) and value and hasattr(value[0], "xmin"):
        return "; ".join(f"[{r.xmin}:{r.xmax}, {r.ymin}:{r.ymax}]" for r in value)
    return str(value)


def parameter_rows(result: Any) -> list[tuple[str, str, str]]:
    """(name, value, default) rows of every schema parameter; changed values in bold."""
    from ..config import PARAMETERS

    cfg = getattr(result, "config", None)
    rows = []
    for name, spec in PARAMETERS.items():
        if cfg is None or not hasattr(cfg, name):
            continue
        value = _shown(getattr(cfg, name))
        default = _shown(spec.default)
        shown = _esc(value)
        if value != default and not (value in ("()", "None") and default in ("None", "()")):
            shown = f"<b>{shown}</b>"
        rows.append((_esc(name), shown, _esc(default)))
    return rows


def add_products(report: str | os.PathLike, products: Sequence[str | os.PathLike]) -> Path:
    """Add links to the products (``crmasks.fits``, ``combined_*.fits``) to a written page.

    The page is rewritten atomically; products in another folder are linked
    by their path relative to the page.
    """
    report = Path(report)
    page = report.read_text()
    items = []
    for p in products:
        rel = os.path.relpath(Path(p), report.parent)
        items.append(f'<li><a href="{quote(rel)}">{_esc(Path(p).name)}</a></li>')
    section = "<h2>Products</h2><ul>" + "".join(items) + "</ul>"
    page = page.replace(PRODUCTS_MARK, section + "\n" + PRODUCTS_MARK, 1)
    with atomic_path(report) as tmp:
        Path(tmp).write_text(page)
    return report
