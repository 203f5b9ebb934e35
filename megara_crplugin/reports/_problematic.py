"""The problematic-pixel report: ``problematic_pixels.csv`` and ``problematic_pixels.pdf``.

Regions of pixels masked in every CRMASKi; one PDF page per region (exposures on
top, CRMASKi below).  Units: ADU.  Mask polarity: ``True`` = cosmic ray.
Re-exported by :mod:`megara_crplugin.reports.features`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    atomic_path,
    config_value,
    cutout_window,
    effective_maxplots,
    fits_extent,
    image_limits,
    new_figure,
    write_text,
)
from ._pages import Advance, _csv_text, _noop, _pdf_pages, _set_image, _shared_cutout_axes


def _problematic_regions(problematic: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """8-connected regions of the problematic mask as (ys, xs), in label order."""
    from scipy import ndimage

    labels, n = ndimage.label(problematic, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    order = np.argsort(lab, kind="stable")
    splits = np.cumsum(np.bincount(lab, minlength=n + 1)[1:])[:-1]
    return list(zip(np.split(ys[order], splits), np.split(xs[order], splits), strict=True))


class ProblematicPageRenderer:
    """Render one page per problematic region: exposures (top) and CRMASKi (bottom)."""

    def __init__(self, result: Any, n_regions: int) -> None:
        self.result = result
        self.n_regions = n_regions
        self.semiwindow = int(config_value(result, "semiwindow", 15) or 15)
        self.color_scale = str(config_value(result, "color_scale", "minmax") or "minmax")
        n = result.stats.n_frames
        self.masks = [np.asarray(result.targets[f"CRMASK{i + 1}"].mask) for i in range(n)]
        self.fig = new_figure((2.8 * n, 6.0))
        self.fig.subplots_adjust(
            left=0.05, right=0.98, bottom=0.07, top=0.88, wspace=0.12, hspace=0.2
        )
        axes = _shared_cutout_axes(self.fig, 2, n, 2 * n)
        self.panels = []
        placeholder = np.zeros((2, 2))
        for i in range(n):
            top, bottom = axes[i], axes[n + i]
            art_top = top.imshow(placeholder, origin="lower", cmap="gray", interpolation="nearest")
            art_bot = bottom.imshow(
                placeholder, origin="lower", cmap="gray", vmin=0, vmax=1, interpolation="nearest"
            )
            (cross,) = bottom.plot([], [], "x", color="red", ms=7, mew=1.5)
            top.set_title(f"exposure {i + 1}", fontsize=9, y=1.0)
            bottom.set_title(f"CRMASK{i + 1}", fontsize=9, y=1.0)
            self.panels.append((art_top, art_bot, cross))
        self.axes = axes
        self.title = self.fig.suptitle("", fontsize=11)

    def render(self, number: int, ys: np.ndarray, xs: np.ndarray, pdf: Any) -> None:
        """Append the page of region ``number`` (pixels ``ys``, ``xs``) to ``pdf``."""
        stack = self.result.stats.stack
        centre = (float(np.mean(ys)), float(np.mean(xs)))
        y0, y1, x0, x1 = cutout_window(centre, self.semiwindow, stack.shape[1:])
        extent, win = fits_extent(y0, y1, x0, x1), (slice(y0, y1), slice(x0, x1))
        clim = image_limits(np.asarray(self.result.stats.median2d[win]), self.color_scale)
        for i, (art_top, art_bot, cross) in enumerate(self.panels):
            _set_image(art_top, np.asarray(stack[i][win]), extent, clim)
            _set_image(art_bot, self.masks[i][win].astype(np.uint8), extent, None)
            cross.set_data(xs + 1, ys + 1)
        self.axes[0].set_xlim(extent[0], extent[1])  # shared by every panel
        self.axes[0].set_ylim(extent[2], extent[3])
        self.title.set_text(
            f"Problematic pixels #{number}/{self.n_regions}: {len(xs)} pixel(s) masked in "
            f"every CRMASKi, centre (X, Y) = ({centre[1] + 1:.1f}, {centre[0] + 1:.1f})"
        )
        pdf.savefig(self.fig)


def write_problematic_reports(
    result: Any,
    output_dir: str | os.PathLike,
    *,
    maxplots: int | None = None,
    advance: Advance | None = None,
) -> list[Path]:
    """Write ``problematic_pixels.csv`` and ``problematic_pixels.pdf``.

    Problematic pixels are those masked (True) in every CRMASKi, as given by
    ``result.problematic``; 8-connected groups are numbered in raster order.

    Parameters
    ----------
    result : CRMaskResult
        Uses ``problematic``, ``targets['CRMASK<i>']`` and ``stats``.
    output_dir : path-like
        Existing directory.
    maxplots : int, optional
        Number of regions drawn in the PDF; negative or None = all (capped at
        1000).  The CSV always lists every problematic pixel.
    advance : callable, optional
        Called with 1 after each PDF page.

    Returns
    -------
    list of Path
        ``[csv, pdf]``, ``[csv]`` when ``maxplots`` is 0, or ``[]`` when no
        pixel is problematic.

    Notes
    -----
    ``Mask_value`` is the MEDIANCR code of the pixel (0-4), i.e. how the
    median combination treated it.
    """
    advance = advance or _noop
    regions = _problematic_regions(np.asarray(result.problematic, dtype=bool))
    if not regions:
        return []
    code = np.asarray(result.targets["MEDIANCR"].code)
    rows = np.concatenate(
        [
            np.column_stack([np.full(ys.size, k), xs + 1, ys + 1, code[ys, xs]])
            for k, (ys, xs) in enumerate(regions, start=1)
        ]
    ).astype(np.int64)
    written = [write_text(Path(output_dir) / "problematic_pixels.csv", _csv_text(rows))]
    n_drawn = effective_maxplots(maxplots, len(regions))
    if n_drawn == 0:
        return written
    renderer = ProblematicPageRenderer(result, len(regions))
    path = Path(output_dir) / "problematic_pixels.pdf"
    with atomic_path(path) as tmp, _pdf_pages(tmp) as pdf:
        for k, (ys, xs) in enumerate(regions[:n_drawn], start=1):
            renderer.render(k, ys, xs, pdf)
            advance(1)
    written.append(path)
    return written
