"""Figures of the simulated and observed MM diagrams (histograms of the simulations).

Units: ADU (electrons for MEGARA); mask polarity ``True`` = cosmic ray; images in FITS
coordinates (first pixel = 1).  Re-exported by :mod:`megara_crplugin.reports.figures`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._axes import data_units, draw_mesh, histogram_cmap, set_noise_xscale, threshold_visible
from ._common import (
    config_value,
    prepare_figure,
)

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
