"""Page helpers shared by the PDF/CSV reports of :mod:`megara_crplugin.reports.features`.

Units: ADU.  Mask polarity: ``True`` = cosmic ray.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Header of every CSV table.
CSV_HEADER = "CR_number,X_pixel,Y_pixel,Mask_value"

Advance = Callable[[int], None]


def _noop(n: int = 1) -> None:
    """Progress callback that does nothing."""


def _pdf_pages(path: Path) -> Any:
    """Open a PdfPages writer with reproducible metadata (no creation date)."""
    from matplotlib.backends.backend_pdf import PdfPages

    return PdfPages(path, metadata={"CreationDate": None, "Creator": "megara_crplugin"})


def _csv_text(rows: np.ndarray) -> str:
    """Render an (k, 4) integer array as CSV text with :data:`CSV_HEADER`."""
    buf = io.StringIO()
    np.savetxt(buf, rows.reshape(-1, 4), fmt="%d", delimiter=",", header=CSV_HEADER, comments="")
    return buf.getvalue()


def _set_image(art: Any, data: np.ndarray, extent: tuple, clim: tuple | None) -> None:
    """Swap the data, extent and (optionally) colour limits of an AxesImage."""
    art.set_data(data)
    art.set_extent(extent)
    if clim is not None:
        art.set_clim(*clim)


def _shared_cutout_axes(fig: Any, nrows: int, ncols: int, n_used: int) -> list[Any]:
    """Grid of axes sharing x and y, with tick labels on the outer axes only."""
    from matplotlib.ticker import MaxNLocator

    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[n_used:]:
        ax.set_visible(False)
    for k, ax in enumerate(axes[:n_used]):
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.tick_params(labelsize=7)
        # show x labels on the lowest used axis of each column, y labels on the first column
        lowest_in_column = k + ncols >= n_used
        ax.tick_params(labelbottom=lowest_in_column, labelleft=k % ncols == 0)
    return list(axes[:n_used])
