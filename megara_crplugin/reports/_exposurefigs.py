"""Per-exposure figures: flux factors, image number at the median, cross-correlation offsets.

Units: ADU (electrons for MEGARA); mask polarity ``True`` = cosmic ray; images in FITS
coordinates (first pixel = 1).  Re-exported by :mod:`megara_crplugin.reports.figures`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._axes import data_units
from ._common import (
    config_value,
    image_limits,
    prepare_figure,
)
from ._mmfigs import _histogram_norm
from ._targetfigs import _draw_image


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
