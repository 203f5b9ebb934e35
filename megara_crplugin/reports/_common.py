"""Private helpers shared by the report writers: atomic writes, figures, colour limits.

Mask polarity everywhere: ``True`` = cosmic ray.  Images are in ADU
(electrons for MEGARA, where gain = 1).  Array indices are ``[y, x]`` from 0;
FITS coordinates start at 1, so array column ``x`` spans ``x + 0.5 .. x + 1.5``
in FITS coordinates.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, write_text  # noqa: F401  (re-exported)

__all__: list[str] = []

_LOG = logging.getLogger(__name__)

#: Upper limit of feature pages when ``maxplots`` is negative.
MAXPLOTS_CAP = 1000

#: Colours of the detection codes (0 clean .. 4 both), shared by every figure.
CODE_COLOURS = ("black", "grey", "tab:blue", "tab:red", "gold")

#: Scatter styles of the codes in the MM diagrams (code -> matplotlib kwargs).
CODE_MARKERS: dict[int, dict[str, Any]] = {
    1: {"marker": ".", "color": "grey"},
    2: {"marker": "+", "color": "tab:blue"},
    3: {"marker": "x", "color": "tab:red"},
    4: {"marker": "o", "facecolors": "none", "edgecolors": "magenta"},
}


def new_figure(figsize: tuple[float, float]) -> Any:
    """Create a stand-alone figure with an Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def prepare_figure(fig: Any, figsize: tuple[float, float]) -> Any:
    """Return ``fig`` cleared, or a new Agg figure of ``figsize`` when ``fig`` is None."""
    if fig is None:
        return new_figure(figsize)
    fig.clear()
    return fig


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: float = 150) -> Path:
    """Save ``fig`` as a PNG atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def effective_maxplots(maxplots: int | None, n_items: int, *, warn: bool = True) -> int:
    """Return how many items (features, problematic regions) to draw for ``maxplots``.

    ``None`` or a negative value means all, capped at :data:`MAXPLOTS_CAP`;
    a warning is logged (if ``warn``) when the cap drops items.
    """
    wanted = n_items if maxplots is None or maxplots < 0 else min(int(maxplots), n_items)
    if wanted > MAXPLOTS_CAP:
        if warn:
            _LOG.warning(
                "maxplots: drawing only the first %d of %d items (cap); "
                "the CSV tables still list all of them",
                MAXPLOTS_CAP,
                n_items,
            )
        wanted = MAXPLOTS_CAP
    return wanted


def image_limits(data: np.ndarray, color_scale: str = "zscale") -> tuple[float, float]:
    """Display limits of ``data`` (ADU): ``'minmax'`` or ``'zscale'`` of the finite values.

    For ``'zscale'`` at most about 10^5 regularly spaced pixels are examined
    (the zscale algorithm itself samples 1000), so full frames cost little.
    """
    values = np.asarray(data).ravel()
    if color_scale != "minmax" and values.size > 100_000:
        values = values[:: values.size // 100_000]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    if color_scale == "minmax":
        vmin, vmax = float(values.min()), float(values.max())
    else:
        from astropy.visualization import ZScaleInterval

        vmin, vmax = (float(v) for v in ZScaleInterval().get_limits(values))
    if not vmax > vmin:
        vmax = vmin + 1.0
    return vmin, vmax


def fits_extent(y0: int, y1: int, x0: int, x1: int) -> tuple[float, float, float, float]:
    """``imshow`` extent in FITS coordinates of the array cut-out ``[y0:y1, x0:x1]``."""
    return (x0 + 0.5, x1 + 0.5, y0 + 0.5, y1 + 0.5)


def config_value(result: Any, name: str, default: Any = None) -> Any:
    """Attribute ``name`` of ``result.config``, or ``default`` when missing."""
    return getattr(getattr(result, "config", None), name, default)


def aux_label(result: Any) -> str:
    """Short name of the Aux.Cosmic detector (``la``, ``pc``, ``dc``, ``nn`` or ``aux``)."""
    name = config_value(result, "aux_name")
    if name:
        return str(name)
    method = str(config_value(result, "crmethod", "") or "")
    short = {"lacosmic": "la", "pycosmic": "pc", "deepcr": "dc", "conn": "nn"}
    return short.get(method.removeprefix("mm_"), "aux")


def cutout_window(
    centre: tuple[float, float], semiwindow: int, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Slice bounds ``(y0, y1, x0, x1)`` of a window of half-size ``semiwindow``.

    The window is centred on the rounded ``centre`` (``(y, x)`` array indices)
    and clipped to an image of ``shape``.
    """
    yc, xc = (int(round(c)) for c in centre)
    ny, nx = shape
    y0, y1 = max(0, yc - semiwindow), min(ny, yc + semiwindow + 1)
    x0, x1 = max(0, xc - semiwindow), min(nx, xc + semiwindow + 1)
    return y0, y1, x0, x1
