"""One-page HTML summary (``report.html``) of a mask computation.

The page links every figure and table written by
:func:`megara_crplugin.reports.write_reports` (relative links, so the output
folder can be moved or served as is) and lists the masked-pixel counts per
mask and the features per category, so a night's runs can be reviewed in a
browser.  No JavaScript, no external resources.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..noise_measures import offset_exposures
from ..noisecheck import diagram_text, measured_text
from ._axes import data_units
from ._common import config_value, write_text
from ._report_parts import PRODUCTS_MARK, caption, parameter_rows, run_rows

__all__ = ["REPORT_FILENAME", "render_html_report", "write_html_report"]

#: Name of the summary page.
REPORT_FILENAME = "report.html"

_CSS = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th { background: #eee; } td.l, th.l { text-align: left; }
figure { display: inline-block; margin: 0.5em; width: 45%; vertical-align: top; }
figure img { width: 100%; border: 1px solid #ccc; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _link(name: str) -> str:
    return f'<a href="{quote(name)}">{_esc(name)}</a>'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
    """HTML table; the first ``left`` columns are left-aligned (rows are pre-escaped)."""

    def cell(tag: str, k: int, value: Any) -> str:
        cls = ' class="l"' if k < left else ""
        return f"<{tag}{cls}>{value}</{tag}>"

    head = "".join(cell("th", k, _esc(h)) for k, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", k, v) for k, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary_rows(result: Any) -> list[tuple[str, str]]:
    stats = result.stats
    ny, nx = stats.shape
    rows = run_rows(result) + [
        ("UUID", _esc(result.uuid)),
        ("crmethod", _esc(config_value(result, "crmethod", "?"))),
        ("exposures", _esc(f"{stats.n_frames} x {ny} x {nx} (N x ny x nx)")),
        ("flux factors", _esc(", ".join(f"{v:.4g}" for v in np.ravel(result.flux_factors)))),
    ]
    if result.boundary is not None:
        unit = _esc(data_units(result))
        rows.append((f"mm_threshold ({unit})", _esc(f"{result.mm_threshold:.4g}")))
    if result.offsets is not None:
        pairs = ", ".join(f"({dx:.2f}, {dy:.2f})" for dx, dy in np.asarray(result.offsets))
        rows.append(("offsets (dx, dy) px", _esc(pairs)))
    nc = getattr(result, "noise_check", None)
    if nc is not None:  # issue 9: the noise model checked against the frames
        shifted = offset_exposures(result.offsets)  # the read noise is then not compared
        text = (
            f"{measured_text(nc.rnoise_measured, nc.rnoise_given, shifted)}; "
            f"pixels: {diagram_text(nc)}"
        )
        rows.append(("noise check", _esc(text + (f"; {nc.message}" if nc.message else ""))))
    fc = getattr(result, "flux_changes", None)
    if fc:
        rows.append(
            ("flux-change features rejected", _esc(", ".join(f"{k} {v}" for k, v in fc.items())))
        )
    return rows


def _mask_rows(result: Any) -> list[tuple[str, str, str]]:
    npix = result.stats.min2d.size
    rows = []
    for name, det in result.targets.items():
        count = int(np.count_nonzero(det.mask))
        rows.append((_esc(name), str(count), f"{100.0 * count / npix:.4f}"))
    count = int(np.count_nonzero(result.problematic))
    rows.append(("problematic (all CRMASKi)", str(count), f"{100.0 * count / npix:.4f}"))
    defects = getattr(result, "defects", None)
    if defects is not None:  # issue 9: detector defects, never in a mask
        rows.append(
            (
                _esc(
                    f"DEFECTS (low {defects.n_low}, hot {defects.n_hot}, "
                    f"cold {defects.n_cold}, bpm {defects.n_bpm}, aux {defects.n_aux})"
                ),
                str(defects.count),
                f"{100.0 * defects.count / npix:.4f}",
            )
        )
    return rows


def _category_rows(result: Any, names: set[str]) -> list[tuple[str, ...]]:
    from .features import CATEGORIES

    rows = []
    for category in CATEGORIES:
        feats = [f for f in result.features if f.category == category]
        files = [f"mediancr_identified_{category}.{ext}" for ext in ("pdf", "csv")]
        links = " ".join(_link(n) for n in files if n in names) or "-"
        rows.append((category, str(len(feats)), str(sum(len(f.xs) for f in feats)), links))
    return rows


def render_html_report(result: Any, written: Sequence[str | os.PathLike]) -> str:
    """Return the HTML text of the summary page.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result (counts in pixels, True = cosmic ray).
    written : sequence of path-like
        Files of the same output folder to link (only their names are used).

    Returns
    -------
    str
        A complete, self-contained HTML document.
    """
    names = [Path(p).name for p in written]
    name_set = set(names)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>CR masks {_esc(result.uuid)}</title><style>{_CSS}</style></head><body>",
        "<h1>Cosmic-ray masks</h1>",
        _table(["item", "value"], _summary_rows(result), left=2),
        PRODUCTS_MARK,
        "<h2>Masked pixels per mask</h2>",
        _table(["mask", "pixels", "% of frame"], _mask_rows(result)),
        "<h2>MEDIANCR features per category</h2>",
        _table(["category", "features", "pixels", "files"], _category_rows(result, name_set)),
    ]
    params = parameter_rows(result)
    if params:
        parts += [
            "<h2>Parameters</h2><p>Values that differ from the default are in bold.</p>",
            _table(["parameter", "value", "default"], params, left=3),
        ]
    if result.timings:
        rows = [(_esc(k), f"{v:.2f}") for k, v in result.timings.items()]
        parts += ["<h2>Timings</h2>", _table(["phase", "seconds"], rows)]
    figures = [n for n in names if n.endswith(".png")]
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [
            f'<figure><a href="{quote(n)}"><img src="{quote(n)}" alt="{_esc(n)}" loading="lazy">'
            f"</a><figcaption><b>{_esc(n)}</b>: {_esc(caption(n))}</figcaption></figure>"
            for n in figures
        ]
    others = [n for n in names if not n.endswith(".png")]
    if others:
        parts.append("<h2>Tables and documents</h2><ul>")
        parts += [f"<li>{_link(n)}</li>" for n in others]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html_report(
    result: Any,
    output_dir: str | os.PathLike,
    written: Sequence[str | os.PathLike],
    *,
    filename: str = REPORT_FILENAME,
) -> Path:
    """Write the summary page into ``output_dir`` atomically.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result.
    output_dir : path-like
        Existing directory holding the files in ``written``.
    written : sequence of path-like
        Files to link.
    filename : str, optional
        Name of the page (default ``report.html``).

    Returns
    -------
    Path
        The page written.
    """
    return write_text(Path(output_dir) / filename, render_html_report(result, written))
