"""Diagnostic figures of a mask computation (PNG, matplotlib, headless).

Every function draws into a given :class:`matplotlib.figure.Figure` (cleared
first) or into a new stand-alone Agg figure, and returns it; nothing here
touches pyplot state or calls ``show()``, so the interactive module can reuse
the same drawing code on an on-screen figure.

Units: images and diagram coordinates are in ADU (electrons for MEGARA).
Mask polarity: ``True`` = cosmic ray.  Detection codes: 0 clean, 1 added by
the global dilation, 2 M.M.Cosmic only, 3 Aux.Cosmic only, 4 both.
Images are drawn in FITS coordinates (first pixel = 1).

Large frames are never scattered pixel by pixel: the non-suspected pixels of
an MM diagram are drawn as a 2-D density image (log colour scale), while every
suspected pixel (code > 0) is always drawn individually.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._axes import data_units, draw_mesh, histogram_cmap, set_noise_xscale, threshold_visible
from ._common import (
    CODE_MARKERS,
    aux_label,
    config_value,
    image_limits,
    prepare_figure,
)
from ._diagram import (  # noqa: F401  (MAX_NUMBERED re-exported)
    DENSITY_BINS,
    MAX_NUMBERED,
    _axis_functions,
    _density,
    _draw_numbers,
    _padded_range,
    _set_diagram_scales,
)

__all__ = [
    "SuspectedPixels",
    "TargetPanels",
    "draw_target_diagnostic",
    "image_number_at_median",
    "plot_flux_factor",
    "plot_histogram2d",
    "plot_image_number",
    "plot_mediancr_diagnostic",
    "plot_mm_histograms",
    "plot_target_diagnostic",
    "plot_xyoffset_crosscorr",
    "target_boundary",
]

_LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------- MM histograms


def _histogram_norm(*arrays: np.ndarray) -> tuple[Any, Any]:
    """Return a common log normalisation and colour map for several histograms."""
    from matplotlib.colors import LogNorm

    positive = np.concatenate([a[a > 0].ravel() for a in arrays])
    if positive.size == 0:
        vmin, vmax = 0.1, 10.0
    else:
        vmin, vmax = float(positive.min()), float(positive.max())
        if vmax <= vmin:
            vmax = vmin * 10.0
    return LogNorm(vmin=vmin, vmax=vmax), histogram_cmap(vmin, vmax)


def _iteration_colour(it: int) -> str:
    """C0 for the initial fit, C1..C6 for the extension iterations, grey beyond."""
    return f"C{it}" if it <= 6 else "grey"


def _draw_boundary_fit(ax: Any, boundary: Any) -> None:
    """Boundary points, fit of every iteration, knots and fixed points."""
    ax.plot(boundary.points_x, boundary.points_y, "r+", ms=6, label="boundary points")
    xgrid = np.linspace(boundary.xmin, boundary.xmax, 500)
    for it, fit in enumerate(boundary.iterations):
        label = "initial fit" if it == 0 else (f"iteration {it}" if it <= 6 else None)
        ax.plot(xgrid, fit(xgrid), "-", color=_iteration_colour(it), lw=1.2, label=label)
    knots = np.asarray(boundary.knots, dtype=float)
    if knots.size:
        ax.plot(knots, boundary(knots), "o", color="k", ms=3, label="knots")
    fixed = boundary.fixed_points
    if fixed is not None and len(fixed):
        fixed = np.asarray(fixed, dtype=float)
        ax.plot(fixed[:, 0], fixed[:, 1], "s", mfc="none", mec="magenta", ms=7, label="fixed")


def _simulation_title(histogram: Any) -> str:
    """Title of the simulated panel (distribution, shape, simulations, synthetic)."""
    if histogram.distribution == "nbinom":
        dist = f"Negative binomial (shape={histogram.nbinom_shape})"
    else:
        dist = "Poisson"
    return (
        f"Simulated data, {dist}\n(mm_nsimulations = {histogram.nsimulations}, "
        f"mm_synthetic={histogram.synthetic})"
    )


def plot_mm_histograms(
    histogram: Any,
    boundary: Any,
    *,
    mm_threshold: float | None = None,
    units: str = "ADU",
    fig: Any = None,
) -> Any:
    """Draw the simulated and real MM diagrams with the detection boundary.

    Parameters
    ----------
    histogram : SimulatedHistogram
        ``counts`` (mean simulated pixels per bin and simulation),
        ``real_counts``, ``xedges``/``yedges`` (ADU).
    boundary : Boundary
        Fitted boundary: points, per-iteration fits, knots, fixed points and
        ``__call__`` (constant extension outside the fitted range).
    mm_threshold : float, optional
        Minimum ordinate (ADU) of M.M.Cosmic detections, drawn dotted when it
        lies inside the diagram (no legend entry otherwise).
    units : str, optional
        Unit of the axis labels (the frames' BUNIT; default ``'ADU'``).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared); a new 12.1x5.5 in Agg figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Left axes: simulated histogram with boundary points (red +), the fit
        of each iteration (C0 initial, C1.. next, grey beyond 6), knots and
        fixed points (magenta squares).  Right axes: real data with the final
        boundary in red.  Both histograms are drawn with ``pcolormesh`` over
        their true edges; when ``histogram.scale`` is set, the shared abscissa
        is the noise-stabilised coordinate in which the columns are uniform
        (tick labels in data units).
    """
    fig = prepare_figure(fig, (12.1, 5.5))
    ax_sim, ax_real = fig.subplots(1, 2, sharex=True, sharey=True)
    xe, ye = np.asarray(histogram.xedges, float), np.asarray(histogram.yedges, float)
    norm, cmap = _histogram_norm(histogram.counts, histogram.real_counts)
    scale = getattr(histogram, "scale", None)
    xgrid = xe[0] + (xe[-1] - xe[0]) * np.linspace(0.0, 1.0, 2000) ** 2
    xnote = ", noise-stabilised axis" if scale is not None else ""
    panels = (
        (ax_sim, histogram.counts, _simulation_title(histogram), "mean pixels per bin"),
        (ax_real, histogram.real_counts, "Real data", "pixels per bin"),
    )
    for ax, counts, title, clabel in panels:
        mesh = draw_mesh(ax, counts, xe, ye, norm=norm, cmap=cmap)
        fig.colorbar(mesh, ax=ax, label=clabel)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"min2d - bias ({units}){xnote}")
        ax.set_ylabel(f"median2d - min2d ({units})")
    _draw_boundary_fit(ax_sim, boundary)
    ax_real.plot(xgrid, boundary(xgrid), "r-", lw=1.5, label="detection boundary")
    set_noise_xscale(ax_sim, scale, xe[0], xe[-1])
    ax_sim.set_ylim(ye[0], ye[-1])
    for ax in (ax_sim, ax_real):
        if threshold_visible(mm_threshold, (ye[0], ye[-1])):
            ax.axhline(mm_threshold, color="k", ls=":", lw=1, label="mm_threshold")
        ax.legend(loc="upper left", fontsize=7)
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.1, top=0.88, wspace=0.2)
    return fig


def plot_histogram2d(result: Any, *, fig: Any = None) -> Any:
    """Draw ``diagnostic_histogram2d.png`` of a mask computation.

    Parameters
    ----------
    result : CRMaskResult
        Must hold ``histogram`` and ``boundary`` (M.M.Cosmic crmethods).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the result has no MM diagram (Aux-only crmethods).
    """
    if result.histogram is None or result.boundary is None:
        raise ValueError(
            "result.histogram and result.boundary are None: crmethod "
            f"{config_value(result, 'crmethod')!r} has no M.M.Cosmic diagram to plot"
        )
    return plot_mm_histograms(
        result.histogram,
        result.boundary,
        mm_threshold=result.mm_threshold,
        units=data_units(result),
        fig=fig,
    )


# --------------------------------------------------------------------------- target diagnostics


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
    counts = _density(fx(xdiag), fy(ydiag), (fx(sus.x), fy(sus.y)), tlimx, tlimy)
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


def _check_exposure(result: Any, exposure: int) -> int:
    """Validate a 1-based exposure number and return the 0-based index."""
    n = result.stats.n_frames
    if not isinstance(exposure, (int, np.integer)) or not 1 <= exposure <= n:
        raise ValueError(f"exposure must be an integer in 1..{n}, got {exposure!r}")
    return int(exposure) - 1


def _centre_extent(xc: np.ndarray, yc: np.ndarray) -> tuple[float, float, float, float]:
    """Return the imshow extent of a histogram given its (uniform) bin centres."""
    dx = (xc[-1] - xc[0]) / max(1, xc.size - 1) if xc.size > 1 else 1.0
    dy = (yc[-1] - yc[0]) / max(1, yc.size - 1) if yc.size > 1 else 1.0
    return (xc[0] - dx / 2, xc[-1] + dx / 2, yc[0] - dy / 2, yc[-1] + dy / 2)


def _side_item(items: Any, side: int) -> Any:
    """Item ``side`` of a per-side list of flux-factor diagnostics, or None."""
    if items is None or side >= len(items):
        return None
    return items[side]


def plot_flux_factor(result: Any, exposure: int, *, fig: Any = None) -> Any:
    """Draw ``flux_factor{exposure}.png``: ratio-versus-signal histograms and the fit.

    Parameters
    ----------
    result : CRMaskResult
        ``result.extras['flux_factor']`` must hold one dict per exposure
        (``hist``, ``hist_clean``, ``xcentres`` signal in ADU, ``ycentres``
        ratio, ``points``, ``curves``, ``modes``, ``factor``).
    exposure : int
        1-based exposure number.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared).

    Returns
    -------
    matplotlib.figure.Figure
        Left: raw histogram.  Right: cleaned histogram with the points of
        each side, the spline curves, the modes and the chosen factor.

    Raises
    ------
    ValueError
        If there are no 'auto' flux-factor diagnostics or ``exposure`` is out of range.
    """
    diags = result.extras.get("flux_factor")
    if not diags:
        raise ValueError("result.extras['flux_factor'] is missing: flux_factor was not 'auto'")
    d = diags[_check_exposure(result, exposure)]
    fig = prepare_figure(fig, (12.0, 5.5))
    ax_raw, ax_clean = fig.subplots(1, 2, sharex=True, sharey=True)
    xc, yc = np.asarray(d["xcentres"], float), np.asarray(d["ycentres"], float)
    norm, _ = _histogram_norm(np.asarray(d["hist"], float), np.asarray(d["hist_clean"], float))
    for ax, key, title in ((ax_raw, "hist", "raw"), (ax_clean, "hist_clean", "cleaned + fit")):
        shown = np.ma.masked_less_equal(np.asarray(d[key], float), 0)
        im = ax.imshow(
            shown,
            origin="lower",
            aspect="auto",
            extent=_centre_extent(xc, yc),
            norm=norm,
            cmap="viridis",
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, label="pixels per bin")
        ax.set_title(f"exposure {exposure}: {title}", fontsize=10)
        ax.set_xlabel(f"median2d signal ({data_units(result)})")
        ax.set_ylabel(f"exposure {exposure} / median2d")
    for side, colour in ((0, "tab:red"), (1, "tab:orange")):
        points = _side_item(d.get("points"), side)
        if points is not None and len(points) == 2 and np.size(points[0]):
            ax_clean.plot(points[0], points[1], ".", color=colour, ms=4, label=f"side {side}")
        curve = _side_item(d.get("curves"), side)
        if curve is not None and len(curve) == 2:
            ax_clean.plot(curve[1], curve[0], "-", color=colour, lw=1.2)
        mode = _side_item(d.get("modes"), side)
        if mode is not None and len(mode) == 2:
            ax_clean.plot(mode[0], mode[1], "*", color=colour, mec="k", ms=12)
    ax_clean.axhline(d["factor"], color="w", ls="--", lw=1, label=f"factor {d['factor']:.3f}")
    ax_clean.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"flux_factor{exposure} = {d['factor']:.6g}", fontsize=11)
    return fig


def image_number_at_median(stack: np.ndarray, *, chunk_rows: int = 512) -> np.ndarray:
    """1-based number of the exposure that provides the median of each pixel.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Exposures (ADU); N should be odd (for even N the upper median is used).
    chunk_rows : int, optional
        Rows processed at a time, bounding the memory of the temporaries.

    Returns
    -------
    ndarray of uint8, shape (ny, nx)
        Values 1..N.  Ties are resolved in exposure order, as a stable sort
        would: exposure i ranks before exposure j > i when their values are equal.

    Notes
    -----
    The rank of each exposure is counted with ``N (N - 1)`` comparisons
    instead of sorting, which is several times faster for small N.
    """
    n = stack.shape[0]
    out = np.zeros(stack.shape[1:], dtype=np.uint8)
    for r0 in range(0, stack.shape[1], chunk_rows):
        block = stack[:, r0 : r0 + chunk_rows]
        target = out[r0 : r0 + chunk_rows]
        for i in range(n):
            rank = np.zeros(block.shape[1:], dtype=np.int16)
            for j in range(n):
                if j != i:
                    rank += (block[j] < block[i]) if j > i else (block[j] <= block[i])
            target[rank == n // 2] = i + 1
    return out


def _region_bounds(region: Any) -> tuple[int, int, int, int]:
    """(xmin, xmax, ymin, ymax) FITS bounds of a Region object or a 4-sequence."""
    if hasattr(region, "xmin"):
        return int(region.xmin), int(region.xmax), int(region.ymin), int(region.ymax)
    xmin, xmax, ymin, ymax = (int(v) for v in region)
    return xmin, xmax, ymin, ymax


def _draw_regions(ax: Any, regions: Any) -> None:
    """Yellow dashed rectangles of FITS regions (inclusive bounds)."""
    from matplotlib.patches import Rectangle

    for region in regions or ():
        xmin, xmax, ymin, ymax = _region_bounds(region)
        ax.add_patch(
            Rectangle(
                (xmin - 0.5, ymin - 0.5),
                xmax - xmin + 1,
                ymax - ymin + 1,
                fill=False,
                ec="yellow",
                ls="--",
                lw=1.2,
            )
        )


def plot_image_number(result: Any, *, fig: Any = None) -> Any:
    """Draw ``image_number_at_median_position.png``.

    Parameters
    ----------
    result : CRMaskResult
        Uses ``stats.median2d`` and ``stats.stack`` (ADU); regions from
        ``config.flux_factor_regions`` are drawn as yellow dashed rectangles.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared).

    Returns
    -------
    matplotlib.figure.Figure
        Left: median2d.  Right: the exposure number at the median position
        (categorical colours); the panels share their zoom.
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    stats = result.stats
    n = stats.n_frames
    fig = prepare_figure(fig, (12.0, 5.5))
    ax_med = fig.add_subplot(1, 2, 1)
    ax_num = fig.add_subplot(1, 2, 2, sharex=ax_med, sharey=ax_med)
    med_art = _draw_image(ax_med, np.asarray(stats.median2d), "median2d", full_resolution=False)
    fig.colorbar(med_art, ax=ax_med, label=data_units(result), pad=0.01)
    numbers = image_number_at_median(np.asarray(stats.stack))
    cmap = ListedColormap(colormaps["tab10"](np.arange(n) % 10))
    norm = BoundaryNorm(np.arange(0.5, n + 1.5), cmap.N)
    ny, nx = numbers.shape
    im = ax_num.imshow(
        numbers,
        origin="lower",
        cmap=cmap,
        norm=norm,
        aspect="auto",
        extent=(0.5, nx + 0.5, 0.5, ny + 0.5),
        interpolation="nearest",
        interpolation_stage="data",
    )
    fig.colorbar(im, ax=ax_num, ticks=np.arange(1, n + 1), label="exposure number")
    ax_num.set_title("image number at median position", fontsize=10)
    ax_num.set_xlabel("X (FITS)")
    regions = config_value(result, "flux_factor_regions")
    for ax in (ax_med, ax_num):
        _draw_regions(ax, regions)
    return fig


# --------------------------------------------------------------------------- offsets


def plot_xyoffset_crosscorr(result: Any, exposure: int, *, fig: Any = None) -> Any:
    """Draw ``xyoffset_crosscorr_{exposure}.png`` for one exposure.

    Parameters
    ----------
    result : CRMaskResult
        Needs ``result.offsets`` (N, 2) of ``(dx, dy)`` in pixels (how much
        median2d must be shifted to coincide with the exposure) and
        ``result.extras['crosscorr_region']`` (FITS bounds).
    exposure : int
        1-based exposure number.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared).

    Returns
    -------
    matplotlib.figure.Figure
        Top: median2d and the exposure in the region.  Bottom: exposure -
        median2d before and after shifting the exposure by ``(-dx, -dy)``.

    Raises
    ------
    ValueError
        If offsets or the region are missing, or ``exposure`` is out of range.
    """
    from scipy.ndimage import shift

    region = result.extras.get("crosscorr_region")
    if result.offsets is None or region is None:
        raise ValueError("result.offsets and result.extras['crosscorr_region'] are required")
    i = _check_exposure(result, exposure)
    xmin, xmax, ymin, ymax = _region_bounds(region)
    sl = (slice(ymin - 1, ymax), slice(xmin - 1, xmax))
    med = np.asarray(result.stats.median2d[sl], dtype=float)
    img = np.asarray(result.stats.stack[i][sl], dtype=float)
    dx, dy = (float(v) for v in result.offsets[i])
    before = img - med
    after = shift(img, (-dy, -dx), order=1, mode="nearest") - med
    fig = prepare_figure(fig, (10.0, 8.0))
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    extent = (xmin - 0.5, xmax + 0.5, ymin - 0.5, ymax + 0.5)
    vmin, vmax = image_limits(med, "zscale")
    lim = float(np.nanpercentile(np.abs(before), 99)) or 1.0
    content = (
        (med, "median2d", "gray", (vmin, vmax)),
        (img, f"exposure {exposure}", "gray", (vmin, vmax)),
        (before, f"exposure {exposure} - median2d", "RdBu_r", (-lim, lim)),
        (after, f"after shift (dx, dy) = ({dx:.2f}, {dy:.2f})", "RdBu_r", (-lim, lim)),
    )
    units = data_units(result)
    for ax, (data, title, cmap, (lo, hi)) in zip(axes, content, strict=True):
        art = ax.imshow(
            data,
            origin="lower",
            extent=extent,
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            aspect="auto",
            interpolation="nearest",
        )
        fig.colorbar(art, ax=ax, label=units, pad=0.01)
        ax.set_title(title, fontsize=10)
    for ax in axes[2:]:
        ax.set_xlabel("X (FITS)")
    for ax in axes[::2]:
        ax.set_ylabel("Y (FITS)")
    fig.suptitle(f"xyoffset_crosscorr_{exposure}", fontsize=11)
    return fig
