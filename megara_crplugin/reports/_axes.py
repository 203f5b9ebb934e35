"""Axis scales, histogram meshes, colour maps and labels shared by the MM diagrams.

The MM diagram histograms have columns uniform in the noise-stabilised
coordinate ``t = NoiseScale.forward(x)`` (see :mod:`megara_crplugin.simulation`),
so their true edges are not uniform in ADU.  They are drawn here with
``pcolormesh`` over those true edges (never ``imshow`` over a linear extent)
and, when the scale is known, on an abscissa that is itself the
noise-stabilised coordinate, labelled in data units.  Ordinates can be drawn
linear, square-root (signed) or symmetric-log.

Units: ADU (or the frames' ``BUNIT``, e.g. electrons for MEGARA in numina).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []

#: Ordinate scales of the MM diagrams (``diagram_yscale`` parameter).
YSCALES = ("linear", "sqrt", "log")

#: Candidate tick values (data units) of a noise-stabilised abscissa.
_NICE = np.array([1.0, 2.0, 5.0])


def data_units(result: Any) -> str:
    """Unit of the images of ``result``: ``extras['bunit']`` or ``'ADU'``."""
    extras = getattr(result, "extras", None) or {}
    unit = str(extras.get("bunit") or "").strip()
    return unit or "ADU"


def _signed_sqrt(y):
    y = np.asarray(y, dtype=float)
    return np.sign(y) * np.sqrt(np.abs(y))


def _signed_square(t):
    t = np.asarray(t, dtype=float)
    return np.sign(t) * t * t


def _nice_ticks(lo: float, hi: float, fwd, n_target: int = 7) -> np.ndarray:
    """Round tick values in ``[lo, hi]`` spread evenly in the coordinate ``fwd``."""
    top = max(abs(lo), abs(hi), 1.0)
    decades = np.arange(-1, int(np.ceil(np.log10(top))) + 1)
    mags = (_NICE[None, :] * 10.0 ** decades[:, None]).ravel()
    cand = np.unique(np.concatenate([[0.0], mags, -mags, mags * 3]))
    cand = cand[(cand >= lo) & (cand <= hi)]
    if cand.size == 0:
        return np.array([lo, hi])
    t = np.asarray(fwd(cand), dtype=float)
    t0, t1 = (float(v) for v in fwd(np.array([lo, hi], dtype=float)))
    min_gap = abs(t1 - t0) / (n_target + 1)
    # anchored at 0 when it is inside (else at the lowest candidate), spread both ways
    start = int(np.argmin(np.abs(cand))) if lo <= 0 <= hi else 0
    keep = [start]
    for step in (1, -1):
        last = start
        for i in range(start + step, cand.size if step > 0 else -1, step):
            if abs(t[i] - t[last]) >= min_gap:
                keep.append(i)
                last = i
    return cand[sorted(keep)]


def set_noise_xscale(ax: Any, scale: Any, lo: float, hi: float) -> None:
    """Draw the abscissa of ``ax`` in the noise-stabilised coordinate of ``scale``.

    Parameters
    ----------
    ax : Axes
    scale : NoiseScale or None
        Transform of the histogram columns; ``None`` keeps a linear axis.
    lo, hi : float
        Axis limits (data units).
    """
    if scale is not None:

        def fwd(x):
            return np.asarray(scale.forward(np.asarray(x, dtype=np.float64)), dtype=float)

        def inv(t):
            return np.asarray(scale.inverse(t), dtype=float)

        ax.set_xscale("function", functions=(fwd, inv))
        ax.set_xticks(_nice_ticks(lo, hi, fwd))
    ax.set_xlim(lo, hi)


def set_yscale(ax: Any, kind: str, lo: float, hi: float, *, linthresh: float = 10.0) -> None:
    """Ordinate of an MM diagram: ``'linear'``, ``'sqrt'`` (signed) or ``'log'`` (symlog).

    ``'log'`` is symmetric-log, linear within ``+-linthresh`` (data units), so
    the negative and zero ordinates of noise stay on the plot.
    """
    if kind == "sqrt":
        ax.set_yscale("function", functions=(_signed_sqrt, _signed_square))
        ax.set_yticks(_nice_ticks(lo, hi, _signed_sqrt))
    elif kind == "log":
        ax.set_yscale("symlog", linthresh=max(float(linthresh), 1e-3))
    elif kind != "linear":
        raise ValueError(f"diagram_yscale must be one of {YSCALES}, got {kind!r}")
    ax.set_ylim(lo, hi)


def histogram_cmap(vmin: float, vmax: float) -> Any:
    """Colour map of the MM histograms: light to mid grey below 1 pixel, viridis above.

    Bins holding on average less than one simulated pixel per simulation are
    grey (light = rarest), so the two ends of the scale never share a colour.
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    if vmin >= 1.0 or vmax <= 1.0:
        return colormaps["viridis"]
    frac = np.log(1.0 / vmin) / np.log(vmax / vmin)
    n_low = max(1, int(np.floor(256 * frac)))  # a value of exactly 1 is already viridis
    low = colormaps["Greys"](np.linspace(0.2, 0.55, n_low))
    high = colormaps["viridis"](np.linspace(0.0, 1.0, max(1, 256 - n_low)))
    return ListedColormap(np.vstack([low, high]), name="mm_grey_viridis")


def draw_mesh(ax: Any, counts: np.ndarray, xedges, yedges, **kwargs) -> Any:
    """``pcolormesh`` of ``counts`` (rows = y) over its true bin edges; zero bins blank."""
    shown = np.ma.masked_less_equal(np.asarray(counts, dtype=float), 0)
    return ax.pcolormesh(
        np.asarray(xedges, dtype=float),
        np.asarray(yedges, dtype=float),
        shown,
        shading="flat",
        rasterized=True,
        **kwargs,
    )


def threshold_visible(threshold: Any, ylim: tuple[float, float]) -> bool:
    """True when a line at ``threshold`` lies strictly inside ``ylim`` and above 0.

    The ordinates of an MM diagram (``target - min2d``) are never negative, so
    a threshold of 0 (or below) selects nothing and gets no line or legend.
    """
    if threshold is None or not np.isfinite(threshold) or threshold <= 0:
        return False
    lo, hi = sorted(ylim)
    return bool(lo < float(threshold) < hi)


def spread_labels(
    ax: Any, x: np.ndarray, y: np.ndarray, *, min_sep: float = 9.0, rings: int = 3
) -> np.ndarray:
    """Display offsets (points) that keep text labels at ``(x, y)`` apart.

    Labels whose anchors fall within ``min_sep`` points of an already placed
    label are pushed to the nearest free spot on up to ``rings`` circles
    around their anchor; a label with no free spot gets NaN offsets (left
    out: a crowd of numbers would be unreadable anyway).

    Returns
    -------
    ndarray, shape (n, 2)
        Offsets in points, to be used with ``textcoords='offset points'``;
        NaN for labels that could not be placed.
    """
    pts = ax.transData.transform(np.column_stack([x, y])) * (72.0 / ax.figure.dpi)
    placed = np.full((len(pts), 2), np.inf)
    offsets = np.zeros((len(pts), 2))
    ring = np.column_stack([np.cos(np.arange(12) * np.pi / 6), np.sin(np.arange(12) * np.pi / 6)])
    trials = np.vstack([np.zeros((1, 2))] + [ring * r * min_sep for r in range(1, rings + 1)])
    for k, p in enumerate(pts):
        if not np.all(np.isfinite(p)):
            continue
        cand = p + trials
        choice = 0
        if k:
            d = np.hypot(*(cand[:, None, :] - placed[None, :k, :]).transpose(2, 0, 1))
            free = np.flatnonzero(np.nan_to_num(d, nan=np.inf).min(axis=1) >= min_sep)
            if free.size == 0:
                offsets[k] = np.nan
                continue
            choice = free[0]
        placed[k] = cand[choice]
        offsets[k] = trials[choice]
    return offsets


def asinh_norm(cut: np.ndarray, clim: tuple[float, float]) -> Any:
    """Asinh stretch over ``clim`` (minmax): linear over the faint half, log-like above.

    The linear width is the spread of the fainter pixels (median - 5th
    percentile), so a fibre or sky line 100 times brighter than the
    background no longer turns the rest of the cut-out black.
    """
    from matplotlib.colors import FuncNorm

    values = np.asarray(cut, dtype=float)
    values = values[np.isfinite(values)]
    spread = float(np.percentile(values, 50) - np.percentile(values, 5)) if values.size else 0.0
    width = max(spread, 1e-3 * (clim[1] - clim[0]), 1e-6)
    lo = clim[0]

    def forward(v):
        return np.arcsinh((np.asarray(v, dtype=float) - lo) / width)

    def inverse(t):
        return lo + width * np.sinh(t)

    return FuncNorm((forward, inverse), vmin=clim[0], vmax=clim[1])
