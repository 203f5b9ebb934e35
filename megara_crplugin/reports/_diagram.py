"""Panels (a) and (b) of the target figures: scales, density mesh and numbers.

Helpers of :mod:`megara_crplugin.reports.figures` (split off to keep that module
small).  The diagram's abscissa is the noise-stabilised coordinate of the MM
histogram (when known) and its ordinate the ``diagram_yscale`` axis; the
density of the non-suspected pixels is binned uniformly in those drawn
coordinates and drawn over its true edges.  Units: ADU (or ``BUNIT``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._axes import set_noise_xscale, set_yscale, spread_labels
from ._common import config_value

__all__: list[str] = []

#: Bins of the density image of non-suspected pixels (x, y).
DENSITY_BINS = (400, 300)
#: At most this many suspected pixels are drawn as numbers in panel (b).
MAX_NUMBERED = 250


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    """Finite range of ``values`` widened by 2 % on each side."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return 0.0, 1.0
        lo, hi = float(finite.min()), float(finite.max())
    pad = 0.02 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _bin_index(values: np.ndarray, lim: tuple[float, float], nbins: int) -> np.ndarray:
    """Index (int32) of uniform bin over ``lim``; values outside go to the end bins."""
    t = np.subtract(values, np.float32(lim[0]), dtype=np.float32)
    t *= np.float32(nbins / (lim[1] - lim[0]))
    np.clip(t, 0, nbins - 1, out=t)
    return t.astype(np.int32)


def _density(tx: np.ndarray, ty: np.ndarray, sus_t: tuple, tlimx: tuple, tlimy: tuple):
    """2-D counts (rows = y) of the non-suspected pixels, by direct bin indexing.

    ``tx``, ``ty`` are the diagram coordinates already transformed to the
    axes' scales and ``sus_t`` the transformed coordinates of the suspected
    pixels; bins are uniform over ``tlimx`` x ``tlimy`` in that space.
    """
    nbx, nby = DENSITY_BINS
    x, y = tx.ravel(), ty.ravel()
    if not np.isfinite(np.add.reduce(x, dtype=np.float64) + np.add.reduce(y, dtype=np.float64)):
        finite = np.isfinite(x) & np.isfinite(y)
        x, y = x[finite], y[finite]
    index = _bin_index(y, tlimy, nby)
    index *= nbx
    index += _bin_index(x, tlimx, nbx)
    counts = np.bincount(index, minlength=nbx * nby)
    sx, sy = sus_t
    ok = np.isfinite(sx) & np.isfinite(sy)
    sus_index = _bin_index(sy[ok], tlimy, nby) * nbx + _bin_index(sx[ok], tlimx, nbx)
    counts -= np.bincount(sus_index, minlength=nbx * nby)
    return counts.reshape(nby, nbx)


#: Pixels per block of :func:`density_by_rows` (bounds its temporaries).
_BLOCK_PIXELS = 1 << 20


def density_by_rows(xdiag, ydiag, fx, fy, sus_t: tuple, tlimx: tuple, tlimy: tuple):
    """:func:`_density` of whole frames, computed by blocks of rows.

    ``fx`` and ``fy`` map data to drawn coordinates (elementwise); the counts
    of the blocks add up to those of the whole frame, without full-frame
    float64 coordinates and bin indices (about ten frames of temporaries at
    the MEGARA size).
    """
    nbx, nby = DENSITY_BINS
    ny, nx = np.shape(xdiag)
    step = max(1, _BLOCK_PIXELS // max(nx, 1))
    none = (np.zeros(0, np.float32), np.zeros(0, np.float32))
    counts = np.zeros((nby, nbx), dtype=np.int64)
    for r0 in range(0, ny, step):
        rows = slice(r0, min(ny, r0 + step))
        counts += _density(fx(xdiag[rows]), fy(ydiag[rows]), none, tlimx, tlimy)
    sx, sy = sus_t
    ok = np.isfinite(sx) & np.isfinite(sy)
    sus_index = _bin_index(sy[ok], tlimy, nby) * nbx + _bin_index(sx[ok], tlimx, nbx)
    counts -= np.bincount(sus_index, minlength=nbx * nby).reshape(nby, nbx)
    return counts


def _axis_functions(axis: Any) -> tuple[Any, Any]:
    """Forward and inverse functions (data <-> drawn coordinate) of an axis' scale."""
    tr = axis.get_transform()
    inv = tr.inverted()
    return (
        lambda v: np.asarray(tr.transform_non_affine(np.asarray(v)), dtype=np.float32),
        lambda t: np.asarray(inv.transform_non_affine(np.asarray(t, dtype=float)), dtype=float),
    )


def _set_diagram_scales(ax: Any, result: Any, xlim: tuple, ylim: tuple) -> None:
    """Noise-stabilised abscissa (when known) and the configured ordinate scale."""
    scale = getattr(result.histogram, "scale", None) if result.histogram is not None else None
    set_noise_xscale(ax, scale, *xlim)
    rnoise = float(np.median(np.atleast_1d(config_value(result, "rnoise", 3.0) or 3.0)))
    kind = config_value(result, "diagram_yscale", "sqrt") or "sqrt"
    set_yscale(ax, kind, *ylim, linthresh=10.0 * max(rnoise, 1.0))


def _draw_numbers(panels: Any, units: str = "ADU") -> None:
    """Panel (b): each suspected pixel as its sequence number (same colours as (a)).

    Numbers that would overlap are pushed aside (a thin line joins each
    displaced number to its pixel, drawn as a dot).
    """
    ax, sus = panels.numbers, panels.suspected
    colours = {2: "tab:blue", 3: "tab:red", 4: "magenta"}
    flagged = np.flatnonzero(sus.code >= 2)
    # the most extreme ordinates first, so the numbers shown are the interesting ones
    order = flagged[np.argsort(-np.nan_to_num(sus.y[flagged], nan=-np.inf), kind="stable")]
    shown = order[:MAX_NUMBERED]
    offsets = spread_labels(ax, sus.x[shown], sus.y[shown])
    for k, (dx, dy) in zip(shown, offsets, strict=True):
        if not np.isfinite(dx):
            continue  # no free place near the pixel: the dot alone is drawn
        colour = colours[int(sus.code[k])]
        moved = bool(dx or dy)
        ax.annotate(
            str(sus.number[k]),
            (sus.x[k], sus.y[k]),
            xytext=(dx, dy),
            textcoords="offset points",
            color=colour,
            fontsize=6,
            ha="center",
            va="center",
            annotation_clip=True,
            arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.4} if moved else None,
        )
    ax.plot(sus.x[shown], sus.y[shown], ".", color="0.4", ms=1.5)
    rest = np.concatenate([order[MAX_NUMBERED:], shown[~np.isfinite(offsets[:, 0])]])
    if rest.size:
        for value, colour in colours.items():
            sel = rest[sus.code[rest] == value]
            ax.plot(sus.x[sel], sus.y[sel], ".", color=colour, ms=2)
        n_numbered = order.size - rest.size
        ax.set_title(f"(b) {n_numbered} of {order.size} numbered (no overlap)", fontsize=10)
    else:
        ax.set_title("(b) suspected pixels numbered per category", fontsize=10)
    ax.set_xlabel(f"min2d - bias ({units})")
