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

from ._diagram import MAX_NUMBERED  # noqa: F401  (re-exported)
from ._exposurefigs import (
    image_number_at_median,
    plot_flux_factor,
    plot_image_number,
    plot_xyoffset_crosscorr,
)
from ._mmfigs import plot_histogram2d, plot_mm_histograms
from ._targetfigs import (
    SuspectedPixels,
    TargetPanels,
    draw_target_diagnostic,
    plot_mediancr_diagnostic,
    plot_target_diagnostic,
    target_boundary,
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
