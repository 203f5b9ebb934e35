"""Per-target diagnostic figures: MM diagram with the boundary, suspected pixels, images.

Units: ADU (electrons for MEGARA); mask polarity ``True`` = cosmic ray; images in FITS
coordinates (first pixel = 1).  Re-exported by :mod:`megara_crplugin.reports.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._axes import data_units, draw_mesh, threshold_visible
from ._common import (
    CODE_MARKERS,
    aux_label,
    config_value,
    image_limits,
    prepare_figure,
)
from ._diagram import (
    DENSITY_BINS,
    _axis_functions,
    _draw_numbers,
    _padded_range,
    _set_diagram_scales,
    density_by_rows,
)


@dataclass
class SuspectedPixels:
    """Pixels with a non-zero detection code in one target.

    Attributes
    ----------
    ys, xs : ndarray of int
        Array indices (FITS coordinates are ``xs + 1``, ``ys + 1``).
    x, y : ndarray of float
        Diagram coordinates (ADU): ``min2d`` and ``target - min2d``.
    code : ndarray of uint8
        Detection code 1..4.
    number : ndarray of int
        Sequence number within the code (1-based; 0 for code 1).
    """

    ys: np.ndarray
    xs: np.ndarray
    x: np.ndarray
    y: np.ndarray
    code: np.ndarray
    number: np.ndarray


@dataclass
class TargetPanels:
    """The four panels of a target diagnostic figure (panels a-d).

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    diagram : Axes
        (a) MM diagram: density of non-suspected pixels, symbols per code.
    numbers : Axes
        (b) same diagram with each suspected pixel drawn as its number;
        shares both axes with (a).
    image : Axes
        (c) the target image (FITS coordinates) with the suspected pixels.
    reference : Axes
        (d) the reference image (``mean2d`` for MEDIANCR, ``median2d``
        otherwise); shares both axes with (c).
    suspected : SuspectedPixels
        Pixels drawn in (a)-(c).
    image_artist, reference_artist : AxesImage
        Images of (c) and (d), so callers can swap data or limits.
    name : str
        Target (mask) name.
    artists : dict
        Other artists by name (``'boundary'``, ``'threshold'``, ``'density'``).
    """

    figure: Any
    diagram: Any
    numbers: Any
    image: Any
    reference: Any
    suspected: SuspectedPixels
    image_artist: Any
    reference_artist: Any
    name: str
    artists: dict[str, Any] = field(default_factory=dict)


_TARGET_LABELS = {"MEDIANCR": "median2d", "MEANCRT": "mean2d", "MEANCR": "meancr"}


def target_boundary(result: Any, name: str) -> Any:
    """Boundary used to flag target ``name`` (None where M.M.Cosmic was not used).

    MEDIANCR uses ``result.boundary``; MEANCRT and CRMASK<i> use the
    secondary boundaries of ``result.extras['boundaries']`` (``'mean'``,
    ``'frame'``) when the pipeline fitted them, else the median one; MEANCR
    has no M.M.Cosmic detection.
    """
    if result.boundary is None or name == "MEANCR":
        return None
    secondary = result.extras.get("boundaries") or {}
    if name == "MEANCRT":
        return secondary.get("mean") or result.boundary
    if name.startswith("CRMASK"):
        return secondary.get("frame") or result.boundary
    return result.boundary


def _target_labels(name: str) -> tuple[str, str]:
    """Labels of the target image and of the reference image for mask ``name``."""
    if name.startswith("CRMASK"):
        return f"exposure {name[6:]}", "median2d"
    label = _TARGET_LABELS.get(name, name.lower())
    return label, ("mean2d" if name == "MEDIANCR" else "median2d")


def _suspected_pixels(code: np.ndarray, xdiag: np.ndarray, ydiag: np.ndarray) -> SuspectedPixels:
    """Collect the pixels with code > 0 and number them per code (raster order)."""
    ys, xs = np.nonzero(code)
    codes = code[ys, xs].astype(np.uint8)
    number = np.zeros(codes.size, dtype=np.int64)
    for value in (2, 3, 4):
        sel = codes == value
        number[sel] = np.arange(1, int(sel.sum()) + 1)
    return SuspectedPixels(ys, xs, xdiag[ys, xs], ydiag[ys, xs], codes, number)


def _scatter_codes(ax: Any, sus: SuspectedPixels, xs: np.ndarray, ys: np.ndarray, aux: str):
    """Scatter the suspected pixels with one symbol per code; returns legend handles."""
    labels = {1: "added by dilation", 2: "mm only", 3: f"{aux} only", 4: f"mm & {aux}"}
    handles = []
    for value in (1, 3, 2, 4):
        sel = sus.code == value
        if not sel.any():
            continue
        size = 6 if value == 1 else 25
        handles.append(
            ax.scatter(
                xs[sel],
                ys[sel],
                s=size,
                lw=0.8,
                label=f"{labels[value]} ({sel.sum()})",
                **CODE_MARKERS[value],
            )
        )
    return handles


def _draw_diagram(panels: TargetPanels, result: Any, xdiag: np.ndarray, ydiag: np.ndarray):
    """Panel (a): density of clean pixels, suspected symbols, boundary, threshold."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.lines import Line2D

    ax, sus = panels.diagram, panels.suspected
    xlim, ylim = _padded_range(xdiag), _padded_range(ydiag)
    _set_diagram_scales(ax, result, xlim, ylim)
    fx, ix = _axis_functions(ax.xaxis)
    fy, iy = _axis_functions(ax.yaxis)
    tlimx, tlimy = tuple(fx(np.array(xlim))), tuple(fy(np.array(ylim)))
    counts = density_by_rows(xdiag, ydiag, fx, fy, (fx(sus.x), fy(sus.y)), tlimx, tlimy)
    counts = np.ma.masked_less_equal(counts, 0)
    norm = LogNorm(vmin=1, vmax=max(2, int(counts.max()) if counts.count() else 2))
    # Blues without its near-white start, so bins holding a single pixel stay visible
    cmap = ListedColormap(colormaps["Blues"](np.linspace(0.35, 1.0, 256)))
    xedges = ix(np.linspace(*tlimx, DENSITY_BINS[0] + 1))
    yedges = iy(np.linspace(*tlimy, DENSITY_BINS[1] + 1))
    xedges[[0, -1]], yedges[[0, -1]] = xlim, ylim
    mesh = draw_mesh(ax, counts, xedges, yedges, cmap=cmap, norm=norm)
    panels.artists["density"] = mesh
    panels.figure.colorbar(mesh, ax=ax, label="non-suspected pixels per bin", pad=0.01)
    handles = [
        Line2D(
            [],
            [],
            ls="none",
            marker="s",
            color="tab:blue",
            alpha=0.5,
            label=f"non-suspected pixels ({xdiag.size - sus.code.size})",
        )
    ]
    handles += _scatter_codes(ax, sus, sus.x, sus.y, aux_label(result))
    boundary = target_boundary(result, panels.name)
    if boundary is not None:
        xgrid = ix(np.linspace(*tlimx, 1000))
        (line,) = ax.plot(xgrid, boundary(xgrid), "-", color="orange", label="boundary")
        panels.artists["boundary"] = line
        handles.append(line)
        if threshold_visible(result.mm_threshold, ylim):
            thr = ax.axhline(result.mm_threshold, color="k", ls=":", lw=1, label="mm_threshold")
            panels.artists["threshold"] = thr
            handles.append(thr)
    n_flagged = int(np.count_nonzero(sus.code >= 2))
    ax.legend(
        handles=handles,
        title=f"Total: {n_flagged} suspected pixels",
        fontsize=7,
        title_fontsize=8,
        loc="upper right",
    )
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    units = data_units(result)
    ax.set_xlabel(f"min2d - bias ({units})")
    label, _ = _target_labels(panels.name)
    yscale = config_value(result, "diagram_yscale", "sqrt") or "sqrt"
    ax.set_ylabel(f"{label} - min2d ({units}, {yscale} axis)")
    ax.set_title(f"(a) MM diagram, {panels.name}", fontsize=10)


def _binned_for_display(image: np.ndarray, full_resolution: bool) -> tuple[np.ndarray, int]:
    """Block-average a large frame (factor f) for a static figure; return it and f.

    A 4112x4096 frame drawn in a ~750-pixel-wide panel is averaged in 3x3
    blocks before matplotlib's own anti-aliased resampling, which is what it
    would have done anyway, at a fraction of the cost.  Suspected pixels are
    marked with symbols, so nothing of interest is hidden.
    """
    ny, nx = image.shape
    factor = 1 if full_resolution else max(1, int(min(nx / 1200, ny / 900)))
    if factor == 1:
        return image, 1
    nyb, nxb = ny // factor, nx // factor
    view = image[: nyb * factor, : nxb * factor].reshape(nyb, factor, nxb, factor)
    return view.mean(axis=(1, 3), dtype=np.float64).astype(np.float32), factor


def _draw_image(ax: Any, image: np.ndarray, title: str, *, full_resolution: bool = True) -> Any:
    """Draw a full frame in FITS coordinates with zscale limits.

    The data are resampled to the screen before the colour mapping
    (``interpolation_stage='data'``), so a 17-Mpixel frame is never turned
    into a full-size RGBA array.
    """
    ny, nx = image.shape
    vmin, vmax = image_limits(image, "zscale")
    shown, f = _binned_for_display(image, full_resolution)
    art = ax.imshow(
        shown,
        origin="lower",
        cmap="gray",
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
        extent=(0.5, shown.shape[1] * f + 0.5, 0.5, shown.shape[0] * f + 0.5),
        interpolation="antialiased",
        interpolation_stage="data",
    )
    ax.set_xlim(0.5, nx + 0.5)
    ax.set_ylim(0.5, ny + 0.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("X (FITS)")
    ax.set_ylabel("Y (FITS)")
    return art


def draw_target_diagnostic(
    result: Any, name: str = "MEDIANCR", *, fig: Any = None, full_resolution: bool | None = None
):
    """Draw the four-panel diagnostic of one target and return its panels.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result; ``result.targets[name]`` supplies the target
        image (ADU) and the code map.  Works without boundary (Aux-only
        crmethods): no boundary or threshold is drawn then.
    name : str, optional
        ``'MEDIANCR'`` (default), ``'MEANCRT'``, ``'CRMASK<i>'`` or ``'MEANCR'``.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared); a new 12x8 in Agg figure by default.
    full_resolution : bool, optional
        Draw panels (c) and (d) at full resolution, for zooming in an
        interactive window.  Otherwise frames larger than ~2400x1800 pixels
        are block-averaged for display (the saved PNG looks the same).
        Default: True when ``fig`` is given (a caller's, possibly on-screen,
        figure), False for the new Agg figure of a file.

    Returns
    -------
    TargetPanels
        The figure, the four Axes (a)-(d), the suspected pixels and artists.

    Raises
    ------
    ValueError
        If ``name`` is not a target of ``result``.
    """
    if name not in result.targets:
        raise ValueError(f"name must be one of {list(result.targets)}, got {name!r}")
    det, stats = result.targets[name], result.stats
    full = (fig is not None) if full_resolution is None else bool(full_resolution)
    fig = prepare_figure(fig, (12.0, 8.0))
    ax_a = fig.add_subplot(2, 2, 1)
    ax_b = fig.add_subplot(2, 2, 2, sharex=ax_a, sharey=ax_a)
    ax_c = fig.add_subplot(2, 2, 3)
    ax_d = fig.add_subplot(2, 2, 4, sharex=ax_c, sharey=ax_c)
    xdiag = np.asarray(stats.min2d)
    ydiag = np.subtract(det.target, xdiag, dtype=np.result_type(det.target, xdiag, np.float32))
    sus = _suspected_pixels(np.asarray(det.code), xdiag, ydiag)
    target_label, ref_label = _target_labels(name)
    ref = stats.mean2d if ref_label == "mean2d" else stats.median2d
    img = _draw_image(ax_c, np.asarray(det.target), f"(c) {target_label}", full_resolution=full)
    ref_art = _draw_image(ax_d, np.asarray(ref), f"(d) {ref_label}", full_resolution=full)
    units = data_units(result)
    for ax, art in ((ax_c, img), (ax_d, ref_art)):
        fig.colorbar(art, ax=ax, label=units, pad=0.01)
    panels = TargetPanels(fig, ax_a, ax_b, ax_c, ax_d, sus, img, ref_art, name)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.95, wspace=0.22, hspace=0.28)
    _draw_diagram(panels, result, xdiag, ydiag)
    _draw_numbers(panels, units)
    _scatter_codes(ax_c, sus, sus.xs + 1.0, sus.ys + 1.0, aux_label(result))
    ny, nx = xdiag.shape
    ax_c.set_xlim(0.5, nx + 0.5)  # scatter autoscaling must not shrink the view
    ax_c.set_ylim(0.5, ny + 0.5)
    return panels


def plot_target_diagnostic(result: Any, name: str, *, fig: Any = None) -> Any:
    """Draw the diagnostic figure of target ``name`` and return the Figure.

    See :func:`draw_target_diagnostic`; this wrapper returns only the figure.
    """
    return draw_target_diagnostic(result, name, fig=fig).figure


def plot_mediancr_diagnostic(result: Any, *, fig: Any = None) -> Any:
    """Draw ``diagnostic_mediancr.png`` (panels a-d) and return the Figure.

    Parameters
    ----------
    result : CRMaskResult
        Mask computation result (MM boundary optional).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared).

    Returns
    -------
    matplotlib.figure.Figure
        Use :func:`draw_target_diagnostic` to get the four Axes as well.
    """
    return draw_target_diagnostic(result, "MEDIANCR", fig=fig).figure


# --------------------------------------------------------------------------- flux factors
