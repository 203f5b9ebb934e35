"""Per-feature reports of MEDIANCR and the problematic-pixel report (PDF + CSV).

Files:

* ``mediancr_identified_{any4,only3,only2,other}.csv`` - one row per MEDIANCR
  pixel of **every** feature of the category (whatever ``maxplots`` is),
  columns ``CR_number, X_pixel, Y_pixel, Mask_value`` (FITS coordinates,
  Mask_value = MEDIANCR code 1-4).  Written whenever MEDIANCR is not empty;
  a category without features gets the header only.
* ``mediancr_identified_{...}.pdf`` - two pages per drawn feature (cut-outs,
  then the feature's MM diagram); features are drawn in sequence order
  (1 = farthest above the boundary) up to ``maxplots``.
* ``problematic_pixels.csv`` / ``.pdf`` - regions of pixels masked in every
  CRMASKi.

Pages are rendered by updating the artists of one reused figure per layout
(no new figure and no ``tight_layout`` per page), which keeps a page well
under 0.2 s.  Units: ADU.  Mask polarity: ``True`` = cosmic ray.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._axes import asinh_norm, data_units
from ._common import (
    CODE_COLOURS,
    CODE_MARKERS,
    atomic_path,
    aux_label,
    config_value,
    cutout_window,
    effective_maxplots,
    fits_extent,
    image_limits,
    new_figure,
    write_text,
)
from ._pages import (
    CSV_HEADER,
    Advance,
    _csv_text,
    _noop,
    _pdf_pages,
    _set_image,
    _shared_cutout_axes,
)
from ._problematic import ProblematicPageRenderer, write_problematic_reports

__all__ = [
    "CATEGORIES",
    "CSV_HEADER",
    "FeaturePageRenderer",
    "ProblematicPageRenderer",
    "feature_rows",
    "write_feature_pdfs",
    "write_feature_tables",
    "write_problematic_reports",
]

_LOG = logging.getLogger(__name__)

#: Feature categories, in file order.
CATEGORIES = ("any4", "only3", "only2", "other")


def feature_rows(features: Sequence[Any]) -> np.ndarray:
    """Table rows of ``features``: one row per pixel, FITS coordinates.

    Parameters
    ----------
    features : sequence of Feature
        Features with ``number``, ``ys``, ``xs`` (array indices) and ``codes``.

    Returns
    -------
    ndarray of int64, shape (n_pixels, 4)
        Columns ``CR_number, X_pixel, Y_pixel, Mask_value``.
    """
    if not features:
        return np.zeros((0, 4), dtype=np.int64)
    blocks = [
        np.column_stack(
            [np.full(len(f.xs), f.number), np.asarray(f.xs) + 1, np.asarray(f.ys) + 1, f.codes]
        ).astype(np.int64)
        for f in features
    ]
    return np.concatenate(blocks)


def write_feature_tables(result: Any, output_dir: str | os.PathLike) -> list[Path]:
    """Write the four ``mediancr_identified_<category>.csv`` tables.

    Parameters
    ----------
    result : CRMaskResult
        Its ``features`` (all of them, whatever ``maxplots`` is) are listed.
    output_dir : path-like
        Existing directory.

    Returns
    -------
    list of Path
        The four CSV paths, or an empty list when MEDIANCR has no pixel.
    """
    if not np.any(result.targets["MEDIANCR"].mask):
        return []
    written = []
    for category in CATEGORIES:
        rows = feature_rows([f for f in result.features if f.category == category])
        path = Path(output_dir) / f"mediancr_identified_{category}.csv"
        written.append(write_text(path, _csv_text(rows)))
    return written


def _grid_shape(n_frames: int) -> tuple[int, int]:
    """Rows and columns of page 1 for N exposures (N cut-outs + 3)."""
    if n_frames <= 3:
        return 2, 3
    if n_frames <= 5:
        return 2, 4
    if n_frames == 6:
        return 3, 3
    return 3, 4


def _code_cmap() -> tuple[Any, Any]:
    """Categorical colour map and norm of the detection codes 0..4."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cmap = ListedColormap(list(CODE_COLOURS))
    return cmap, BoundaryNorm(np.arange(-0.5, 5.5), cmap.N)


def _grid_segments(extent: tuple) -> list[np.ndarray]:
    """Line segments along the pixel boundaries of a cut-out of ``extent``."""
    x0, x1, y0, y1 = extent
    xs, ys = np.arange(x0, x1 + 0.5), np.arange(y0, y1 + 0.5)
    vertical = [np.array([[x, y0], [x, y1]]) for x in xs]
    return vertical + [np.array([[x0, y], [x1, y]]) for y in ys]


class FeaturePageRenderer:
    """Render the two PDF pages of a MEDIANCR feature with reused figures.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result (boundary optional: Aux-only crmethods get
        a page 2 without boundary and threshold).
    """

    def __init__(self, result: Any) -> None:
        stats = result.stats
        self.result = result
        self.n_features = len(result.features)
        self.semiwindow = int(config_value(result, "semiwindow", 15) or 15)
        self.color_scale = str(config_value(result, "color_scale", "minmax") or "minmax")
        self.code = np.asarray(result.targets["MEDIANCR"].code)
        self.mask = np.asarray(result.targets["MEDIANCR"].mask, dtype=bool)
        use_aux = bool(config_value(result, "use_auxmedian", False))
        self.replacement = result.auxclean if use_aux and result.auxclean is not None else None
        self.replacement_label = "auxclean" if self.replacement is not None else "min2d"
        if self.replacement is None:
            self.replacement = stats.min2d
        self.n_shown = min(stats.n_frames, 9)
        self.aux = aux_label(result)
        self._build_cutout_page()
        self._build_diagram_page()

    # ---------------------------------------------------------------- page 1
    def _build_cutout_page(self) -> None:
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Patch

        nrows, ncols = _grid_shape(self.result.stats.n_frames)
        self.fig1 = new_figure((3.2 * ncols, 3.0 * nrows))
        self.fig1.subplots_adjust(
            left=0.05, right=0.98, bottom=0.06, top=0.88, wspace=0.12, hspace=0.25
        )
        axes = _shared_cutout_axes(self.fig1, nrows, ncols, self.n_shown + 3)
        titles = [f"exposure {i + 1}" for i in range(self.n_shown)]
        titles += [
            "median2d",
            "detection codes",
            f"corrected (MEDIANCR := {self.replacement_label})",
        ]
        cmap, norm = _code_cmap()
        self.images = []
        placeholder = np.zeros((2, 2))
        for k, (ax, title) in enumerate(zip(axes, titles, strict=True)):
            is_code = k == self.n_shown + 1
            kwargs = {"cmap": cmap, "norm": norm} if is_code else {"cmap": "gray"}
            art = ax.imshow(placeholder, origin="lower", interpolation="nearest", **kwargs)
            ax.set_title(title, fontsize=9, y=1.0)  # fixed y: no per-page title layout
            self.images.append(art)
        self.cut_axes = axes
        self.grid = LineCollection([], colors="0.6", linewidths=0.3)
        axes[self.n_shown + 1].add_collection(self.grid)
        labels = ["no CR", "dilation", "mm", self.aux, f"mm & {self.aux}"]
        handles = [
            Patch(fc=c, ec="k", label=lab) for c, lab in zip(CODE_COLOURS, labels, strict=True)
        ]
        self.fig1.legend(
            handles=handles,
            loc="upper right",
            bbox_to_anchor=(0.98, 0.955),
            ncol=5,
            fontsize=7,
            frameon=False,
        )
        self.title1 = self.fig1.suptitle("", fontsize=11, x=0.05, ha="left")

    def _render_cutouts(self, feature: Any) -> None:
        stats = self.result.stats
        y0, y1, x0, x1 = cutout_window(feature.centroid, self.semiwindow, self.code.shape)
        extent = fits_extent(y0, y1, x0, x1)
        win = (slice(y0, y1), slice(x0, x1))
        median = np.asarray(stats.median2d[win])
        corrected = np.where(self.mask[win], self.replacement[win], median)
        # limits of the CR-free cut-out: the cosmic ray saturates (white) instead of
        # compressing the background and the fibres into black (minmax on median2d did)
        clim = image_limits(corrected, self.color_scale)
        stretch = asinh_norm(corrected, clim) if self.color_scale == "minmax" else None
        data = [stats.stack[i][win] for i in range(self.n_shown)]
        data += [median, self.code[win], corrected]
        for k, (art, cut) in enumerate(zip(self.images, data, strict=True)):
            is_code = k == self.n_shown + 1
            if stretch is not None and not is_code:
                art.set_norm(stretch)
            _set_image(art, np.asarray(cut), extent, None if is_code else clim)
        self.grid.set_segments(_grid_segments(extent))
        self.cut_axes[0].set_xlim(extent[0], extent[1])  # shared by every cut-out
        self.cut_axes[0].set_ylim(extent[2], extent[3])
        xc, yc = feature.centroid[1] + 1, feature.centroid[0] + 1
        self.title1.set_text(
            f"CR#{feature.number}/{self.n_features}  [{feature.category}]  "
            f"{len(feature.xs)} pixels, centroid (X, Y) = ({xc:.1f}, {yc:.1f})"
        )

    # ---------------------------------------------------------------- page 2
    def _build_diagram_page(self) -> None:
        self.fig2 = new_figure((8.0, 6.0))
        self.fig2.subplots_adjust(left=0.11, right=0.97, bottom=0.1, top=0.9)
        ax = self.fig2.add_subplot(1, 1, 1)
        labels = {1: "dilation", 2: "mm only", 3: f"{self.aux} only", 4: f"mm & {self.aux}"}
        style = dict(CODE_MARKERS)
        style[1] = {"marker": "o", "facecolors": "none", "edgecolors": "black"}
        self.scatters = {
            v: ax.scatter([], [], s=50, lw=1.0, label=labels[v], **style[v]) for v in (1, 2, 3, 4)
        }
        self.boundary_line = None
        boundary = self.result.boundary
        if boundary is not None:
            (self.boundary_line,) = ax.plot([], [], "-", color="orange", label="boundary")
            thr = self.result.mm_threshold
            if thr is not None and np.isfinite(thr) and thr > 0:  # ordinates are >= 0
                ax.axhline(thr, color="k", ls=":", lw=1, label="mm_threshold")
        units = data_units(self.result)
        ax.set_xlabel(f"min2d - bias ({units})")
        ax.set_ylabel(f"median2d - min2d ({units})")
        ax.legend(loc="upper left", fontsize=8)
        self.ax2 = ax
        self.texts: list[Any] = []
        self.title2 = ax.set_title("", y=1.0)

    def _text(self, k: int) -> Any:
        """Return the k-th reusable annotation, creating it on first use."""
        while len(self.texts) <= k:
            self.texts.append(self.ax2.text(0, 0, "", fontsize=6, clip_on=True))
        return self.texts[k]

    def _render_diagram(self, feature: Any) -> None:
        stats = self.result.stats
        ys, xs = np.asarray(feature.ys), np.asarray(feature.xs)
        x = np.asarray(stats.min2d[ys, xs], dtype=float)
        y = np.asarray(stats.median2d[ys, xs], dtype=float) - x
        codes = np.asarray(feature.codes)
        for value, art in self.scatters.items():
            sel = codes == value
            art.set_offsets(np.column_stack([x[sel], y[sel]]) if sel.any() else np.empty((0, 2)))
        for k in range(max(len(self.texts), x.size)):
            text = self._text(k)
            if k < x.size:
                text.set_position((x[k], y[k]))
                text.set_text(f" ({xs[k] + 1},{ys[k] + 1})")
            text.set_visible(k < x.size)
        xpad = max(1.0, 0.1 * float(np.ptp(x)))
        xlim = (float(x.min()) - xpad, float(x.max()) + xpad)
        yvals = [y]
        if self.boundary_line is not None:
            xgrid = np.linspace(*xlim, 200)
            bvals = self.result.boundary(xgrid)
            self.boundary_line.set_data(xgrid, bvals)
            yvals += [bvals, np.atleast_1d(self.result.mm_threshold)]
        allv = np.concatenate([np.ravel(v) for v in yvals]).astype(float)
        allv = allv[np.isfinite(allv)]
        ypad = max(1.0, 0.08 * float(np.ptp(allv)))
        self.ax2.set_xlim(*xlim)
        self.ax2.set_ylim(min(0.0, float(allv.min())) - ypad, float(allv.max()) + ypad)
        extra = (
            ""
            if np.isinf(feature.distance)
            else f", distance {feature.distance:.1f} {data_units(self.result)}"
        )
        self.title2.set_text(f"CR#{feature.number}/{self.n_features}: MM diagram{extra}")

    def render(self, feature: Any, pdf: Any) -> None:
        """Append the two pages of ``feature`` to the open PdfPages ``pdf``."""
        self._render_cutouts(feature)
        pdf.savefig(self.fig1)
        self._render_diagram(feature)
        pdf.savefig(self.fig2)


def write_feature_pdfs(
    result: Any,
    output_dir: str | os.PathLike,
    *,
    maxplots: int | None = None,
    advance: Advance | None = None,
) -> list[Path]:
    """Write ``mediancr_identified_<category>.pdf`` for the first ``maxplots`` features.

    Parameters
    ----------
    result : CRMaskResult
        Features are drawn in sequence order (1 = farthest above the boundary).
    output_dir : path-like
        Existing directory.
    maxplots : int, optional
        Number of features drawn; negative or None = all (capped at 1000).
    advance : callable, optional
        Called with the number of pages written after each feature.

    Returns
    -------
    list of Path
        PDFs written (a category without drawn features has no PDF).
    """
    advance = advance or _noop
    features = sorted(result.features, key=lambda f: f.number)
    drawn = features[: effective_maxplots(maxplots, len(features))]
    if not drawn:
        return []
    renderer = FeaturePageRenderer(result)
    written = []
    for category in CATEGORIES:
        chosen = [f for f in drawn if f.category == category]
        if not chosen:
            continue
        path = Path(output_dir) / f"mediancr_identified_{category}.pdf"
        with atomic_path(path) as tmp, _pdf_pages(tmp) as pdf:
            for feature in chosen:
                renderer.render(feature, pdf)
                advance(2)
        written.append(path)
    return written
