"""Matplotlib wiring of the interactive review: figures, key routing, linked zoom.

The figures themselves are drawn by :mod:`megara_crplugin.reports` (the same
code that writes the PNG/PDF files); this module only adds the interactive
behaviour.  No global matplotlib state is touched: the standard key handler of
a figure (when it has a window manager) is disconnected for that figure only,
and keys the review does not use are forwarded to it.

Coordinates: images are drawn in FITS coordinates (pixel ``[y, x]`` is centred
on ``(x + 1, y + 1)``).  Units: ADU.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..reports._axes import data_units
from ..reports.features import FeaturePageRenderer
from ..reports.figures import TargetPanels, draw_target_diagnostic, plot_mm_histograms
from ._keys import MEDIANCR_HELP, MediancrKeys

__all__: list[str] = []

#: Most sequence numbers drawn at once in panel (c) (text artists are slow).
MAX_NUMBERS = 500

#: Symbols of the detection codes in panel (c), as in the reports' figures.
_SYMBOLS: dict[int, dict[str, Any]] = {
    1: {"marker": ".", "color": "grey", "s": 6},
    2: {"marker": "+", "color": "tab:blue", "s": 25},
    3: {"marker": "x", "color": "tab:red", "s": 25},
    4: {"marker": "o", "facecolors": "none", "edgecolors": "magenta", "s": 25},
}
_NUMBER_COLOURS = {2: "tab:blue", 3: "tab:red", 4: "magenta"}


# --------------------------------------------------------------------------- basics


def new_figure(figsize: tuple[float, float], *, managed: bool) -> Any:
    """Create a pyplot-managed figure (real windows) or a stand-alone Agg figure."""
    if managed:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def close_figure(fig: Any) -> None:
    """Close ``fig``'s window if it has one (pyplot-managed figures only)."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def save_png(fig: Any, path: Path, *, dpi: float = 150) -> None:
    """Save ``fig`` to ``path`` through a temporary name and an atomic rename."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def route_keys(fig: Any, handler: Callable[[Any], bool]) -> int:
    """Send ``fig``'s key presses to ``handler(event) -> consumed``.

    The figure's standard matplotlib key handler (if any) is disconnected for
    this figure only; keys the handler does not consume are forwarded to it,
    so zoom/pan/save keys keep working.  Returns the connection id.
    """
    canvas = fig.canvas
    manager = getattr(canvas, "manager", None)
    default_id = getattr(manager, "key_press_handler_id", None)
    if default_id is not None:
        canvas.mpl_disconnect(default_id)

    def on_key(event: Any) -> None:
        if handler(event) or default_id is None:
            return
        from matplotlib.backend_bases import key_press_handler

        key_press_handler(event, canvas, getattr(manager, "toolbar", None))

    return canvas.mpl_connect("key_press_event", on_key)


def redraw(fig: Any) -> None:
    """Ask a window to redraw ``fig`` (stand-alone figures are drawn when saved)."""
    if getattr(fig.canvas, "manager", None) is not None:
        fig.canvas.draw_idle()


def _zscale(data: np.ndarray) -> tuple[float, float]:
    finite = np.asarray(data, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    from astropy.visualization import ZScaleInterval

    vmin, vmax = (float(v) for v in ZScaleInterval().get_limits(finite))
    return (vmin, vmax) if vmax > vmin else (vmin, vmin + 1.0)


# --------------------------------------------------------------------------- MM diagram


def draw_histogram(fig: Any, histogram: Any, boundary: Any, config: Any) -> None:
    """Draw the simulated / real MM diagram (``diagnostic_histogram2d``) into ``fig``."""
    threshold = getattr(config, "mm_threshold", None)
    plot_mm_histograms(histogram, boundary, mm_threshold=threshold, fig=fig)


# --------------------------------------------------------------------------- MEDIANCR helpers


def in_box(x: np.ndarray, y: np.ndarray, xlim: Any, ylim: Any) -> np.ndarray:
    """Points inside the axis limits (either orientation)."""
    x0, x1 = sorted(xlim)
    y0, y1 = sorted(ylim)
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def zoom_region(shape: tuple[int, int], xlim: Any, ylim: Any) -> tuple[slice, slice]:
    """Array slices ``(rows, cols)`` of the pixels visible for FITS axis limits."""
    ny, nx = shape
    x0, x1 = sorted(xlim)
    y0, y1 = sorted(ylim)
    c0, c1 = max(0, int(np.floor(x0 - 0.5))), min(nx, int(np.ceil(x1 - 0.5)))
    r0, r1 = max(0, int(np.floor(y0 - 0.5))), min(ny, int(np.ceil(y1 - 0.5)))
    return slice(r0, max(r1, r0 + 1)), slice(c0, max(c1, c0 + 1))


def zoom_clim(image: np.ndarray, xlim: Any, ylim: Any, method: str) -> tuple[float, float]:
    """Colour limits (ADU) of the zoomed region: ``'minmax'`` or ``'zscale'``."""
    rows, cols = zoom_region(image.shape, xlim, ylim)
    sub = np.asarray(image[rows, cols], dtype=float)
    if method == "zscale":
        return _zscale(sub)
    finite = sub[np.isfinite(sub)]
    if finite.size == 0:
        return 0.0, 1.0
    vmin, vmax = float(finite.min()), float(finite.max())
    return (vmin, vmax) if vmax > vmin else (vmin, vmin + 1.0)


def feature_map(result: Any) -> np.ndarray:
    """Image of feature numbers (0 outside every MEDIANCR feature)."""
    fmap = np.zeros(result.stats.shape, dtype=np.int64)
    for feat in getattr(result, "features", None) or []:
        fmap[feat.ys, feat.xs] = feat.number
    return fmap


def pixel_info(result: Any, x_fits: int, y_fits: int) -> str:
    """Text describing pixel ``(X, Y)`` (FITS coordinates): statistics and code (ADU)."""
    stats = result.stats
    ny, nx = stats.shape
    if not (1 <= x_fits <= nx and 1 <= y_fits <= ny):
        return f"Pixel (X, Y) = ({x_fits}, {y_fits}) is outside the image ({nx} x {ny})."
    iy, ix = y_fits - 1, x_fits - 1
    code = int(result.targets["MEDIANCR"].code[iy, ix])
    feature = int(feature_map(result)[iy, ix])
    values = ", ".join(f"{v:.2f}" for v in stats.stack[:, iy, ix])
    unit = data_units(result)
    lines = [
        f"Pixel (X, Y) = ({x_fits}, {y_fits}) [array index y={iy}, x={ix}]",
        f"  exposures: {values}",
        f"  min2d={stats.min2d[iy, ix]:.2f}  median2d={stats.median2d[iy, ix]:.2f}  "
        f"max2d={stats.max2d[iy, ix]:.2f}  mean2d={stats.mean2d[iy, ix]:.2f}  ({unit})",
        f"  median2d - min2d = {stats.median2d[iy, ix] - stats.min2d[iy, ix]:.2f} {unit}",
        f"  MEDIANCR code = {code}" + (f" (feature #{feature})" if feature else ""),
    ]
    boundary = getattr(result, "boundary", None)
    if boundary is not None:
        limit = float(np.asarray(boundary(np.array([stats.min2d[iy, ix]])))[0])
        lines.append(f"  detection boundary at this min2d: {limit:.2f} {unit}")
    return "\n".join(lines)


def list_cr_pixels(result: Any, sus: Any, xlim: Any, ylim: Any) -> str:
    """Table of the MEDIANCR pixels (codes 1-4) inside FITS axis limits.

    ``sus`` holds ``ys``, ``xs``, ``code`` and ``number`` (the sequence
    numbers of panel b) of every pixel with a non-zero code.
    """
    sel = in_box(sus.xs + 1.0, sus.ys + 1.0, xlim, ylim)
    x0, x1 = sorted(xlim)
    y0, y1 = sorted(ylim)
    head = f"CR pixels within X=[{x0:.1f}, {x1:.1f}], Y=[{y0:.1f}, {y1:.1f}]: {int(sel.sum())}"
    if not sel.any():
        return head
    fmap = feature_map(result)
    rows = [head, "number     X     Y code feature"]
    columns = (sus.number[sel], sus.ys[sel], sus.xs[sel], sus.code[sel])
    for n, y, x, c in zip(*columns, strict=True):
        rows.append(f"{n:6d} {x + 1:5d} {y + 1:5d} {c:4d} {fmap[y, x]:7d}")
    return "\n".join(rows)


# --------------------------------------------------------------------------- MEDIANCR figure


def draw_mediancr(fig: Any, result: Any) -> TargetPanels:
    """Draw the 4-panel MEDIANCR diagnostic into ``fig`` and return its panels."""
    return draw_target_diagnostic(result, "MEDIANCR", fig=fig)


class MediancrView:
    """Interactive behaviour of the MEDIANCR figure (keys, linked zoom, overlays).

    Panels (a)/(b) and (c)/(d) share their axes (drawn that way by the
    reports).  Zooming panel (a) re-selects the pixels marked in panel (c)
    to those inside the zoomed part of the diagram.

    Parameters
    ----------
    panels : TargetPanels
        The drawn figure and its panels.
    result : CRMaskResult
        What the figure shows.
    say : callable
        Where messages (help, pixel info, lists) go.
    """

    def __init__(self, panels: TargetPanels, result: Any, say: Callable[[str], None]) -> None:
        self.fig = panels.figure
        self.panels = panels
        self.result = result
        self.say = say
        self.keys = MediancrKeys(n_frames=result.stats.n_frames)
        self.sus = panels.suspected
        ax_c = panels.image
        for artist in [*ax_c.collections, *ax_c.lines]:
            artist.set_visible(False)  # replaced by the zoom-filtered overlay below
        self._symbols = {
            value: ax_c.scatter([], [], lw=0.8, **style) for value, style in _SYMBOLS.items()
        }
        self._texts: list[Any] = []
        self.selected = np.ones(self.sus.code.size, dtype=bool)
        panels.diagram.callbacks.connect("xlim_changed", self._on_zoom)
        panels.diagram.callbacks.connect("ylim_changed", self._on_zoom)
        route_keys(self.fig, self.on_key)
        self.refresh_overlay()

    def _on_zoom(self, _ax: Any) -> None:
        self.refresh_overlay()
        redraw(self.fig)

    def refresh_overlay(self) -> None:
        """Mark in panel (c) the pixels inside panel (a)'s limits (symbols or numbers)."""
        sus, ax_a = self.sus, self.panels.diagram
        self.selected = in_box(sus.x, sus.y, ax_a.get_xlim(), ax_a.get_ylim())
        for text in self._texts:
            text.remove()
        self._texts = []
        for value, art in self._symbols.items():
            sel = self.selected & (sus.code == value)
            if self.keys.numbers and value >= 2:
                sel[:] = False
            art.set_offsets(np.column_stack([sus.xs[sel] + 1.0, sus.ys[sel] + 1.0]))
        if not self.keys.numbers:
            return
        numbered = np.flatnonzero(self.selected & (sus.code >= 2))[:MAX_NUMBERS]
        for i in numbered:
            self._texts.append(
                self.panels.image.text(
                    sus.xs[i] + 1.0,
                    sus.ys[i] + 1.0,
                    str(sus.number[i]),
                    color=_NUMBER_COLOURS[int(sus.code[i])],
                    fontsize=7,
                    ha="center",
                    va="center",
                    clip_on=True,
                )
            )

    def _show_image(self, k: int) -> None:
        stats, panels = self.result.stats, self.panels
        data = stats.mean2d if k == 0 else stats.stack[k - 1]
        panels.reference_artist.set_data(data)
        panels.reference_artist.set_clim(*_zscale(data))
        panels.reference.set_title("(d) mean2d" if k == 0 else f"(d) exposure {k}", fontsize=10)

    def _pixel_info(self, event: Any) -> None:
        panels = self.panels
        if event.inaxes not in (panels.image, panels.reference) or event.xdata is None:
            self.say("Press 'i' with the mouse over panel (c) or (d).")
            return
        x_fits = int(np.floor(event.xdata + 0.5))
        y_fits = int(np.floor(event.ydata + 0.5))
        self.say(pixel_info(self.result, x_fits, y_fits))

    def on_key(self, event: Any) -> bool:
        """Handle one key press; return True when the key was used here."""
        action = self.keys.press(event.key)
        if action is None:
            return False
        panels = self.panels
        if action in ("continue", "stop"):
            close_figure(self.fig)
            return True
        if action == "help":
            self.say(MEDIANCR_HELP)
        elif action == "info":
            self._pixel_info(event)
        elif action == "list":
            xlim, ylim = panels.image.get_xlim(), panels.image.get_ylim()
            self.say(list_cr_pixels(self.result, self.sus, xlim, ylim))
        elif action == "numbers":
            self.refresh_overlay()
        elif action == "aspect":
            panels.image.set_aspect(self.keys.aspect)
            panels.reference.set_aspect(self.keys.aspect)
        elif action == "image":
            self._show_image(self.keys.image)
        elif action == "no_image":
            self.say(f"There are only {self.result.stats.n_frames} exposures.")
        else:  # minmax / zscale of the zoomed region, each image on its own data
            pairs = (
                (panels.image, panels.image_artist),
                (panels.reference, panels.reference_artist),
            )
            for ax, art in pairs:
                data = np.asarray(art.get_array())
                art.set_clim(*zoom_clim(data, ax.get_xlim(), ax.get_ylim(), action))
        redraw(self.fig)
        return True


# --------------------------------------------------------------------------- feature pages


class _Capture:
    """Stand-in for ``PdfPages``: keeps each page as an RGBA array."""

    def __init__(self) -> None:
        self.pages: list[np.ndarray] = []

    def savefig(self, fig: Any) -> None:
        fig.canvas.draw()
        self.pages.append(np.asarray(fig.canvas.buffer_rgba()).copy())


class FeaturePages:
    """Render the two report pages of a feature into an on-screen figure.

    The pages are drawn by the reports' :class:`FeaturePageRenderer` (same
    content as ``mediancr_identified_*.pdf``) and shown side by side.
    """

    def __init__(self, result: Any) -> None:
        self.renderer = FeaturePageRenderer(result)

    def draw(self, fig: Any, feature: Any) -> None:
        """Draw the cut-out page and the MM-diagram page of ``feature`` into ``fig``."""
        capture = _Capture()
        self.renderer.render(feature, capture)
        fig.clear()
        widths = [page.shape[1] / page.shape[0] for page in capture.pages]
        axes = fig.subplots(1, len(capture.pages), gridspec_kw={"width_ratios": widths})
        for ax, page in zip(np.atleast_1d(axes), capture.pages, strict=True):
            ax.imshow(page, interpolation="antialiased")
            ax.set_axis_off()
        fig.subplots_adjust(left=0.005, right=0.995, bottom=0.01, top=0.99, wspace=0.01)
