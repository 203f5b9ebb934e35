"""Offset exposures predicted on their own grid where the interpolation errs most.

With offsets, :func:`~megara_crplugin.expected.estimate_expected` aligns the
exposures on the reference (linear interpolation), estimates there and shifts
the estimate back (a second interpolation).  On the sharp profile of a sky or
arc line the two interpolations flatten the peak and fill the flanks: after
the correction of their systematic part the estimate still read about 0.4
sigma high on line pixels of the high-rate synthetic sets (median; 2.5-97.5 %
range -2.1 to +2.4 sigma), and what is left of the error is added to the noise
(up to twice the photon noise on steep flanks), so double hits there were lost.

A line crosses every fibre at the same column *of each exposure's own grid*:
the x-profile of the exposure's own rows above and below, scaled to its own
neighbours (:func:`~megara_crplugin._lines.line_estimate` on one exposure),
predicts the pixel without any interpolation.  Measured against the truth on
the same sets: median -0.03 sigma, scatter 0.57-0.60 sigma, 2.5-97.5 % range
-1.2 to +1.5 sigma.  One exposure has no other to take a minimum with, so its
cosmic rays are first replaced by the interpolated estimate (values more than
:data:`K_CLEAN_SIGMA` sigma above it).  Where the exposure's rows show a line
this estimate replaces the interpolated one, within :data:`K_BAND` of the
interpolated one's sigma (that sigma holds the interpolation's error; the
own rows' estimate assumes a line that scales with the fibre profile, which
fails where a line fills the gap between fibres, and alone it flooded
MEDIANCR there), with the noise of one value times ``sqrt(1 + OWN_SCALE**2)``
(at the higher of the two estimates).  Ten high-rate 1024² sets with ±0.5 px
offsets (``mm_pycosmic``): double-hit events 861 -> 864 / 886, false features
per Mpix 0.29 unchanged (a band of 2 sigma: 865 and 0.76; no band: 865 and
0.95; a band of the interpolation's error alone: 863 and 0.29).

Off lines, in a fibre's valley or on its peak (the profile across the fibres is
sharp), the interpolation's error added to the noise can reach twice the photon
noise although the row is flat along x.  There the median of the exposure's
own ``2 * half_width`` x-neighbours (scatter :data:`NB_SCALE`) replaces the
interpolated estimate, within the same band, when its noise is the smaller
and the row's range along x is below :data:`FLAT_SIGMA` sigma: 864 -> 866 / 886
events, 0.29 false features per Mpix unchanged.

Units: ADU.  Arrays are indexed ``[y, x]``.
"""

from __future__ import annotations

import numpy as np

from ._blockstats import for_each_block, row_blocks
from ._interp import replaced_above
from ._lines import _LINE_ROWS, line_estimate, neighbour_median
from .noise_values import value_at

__all__ = ["FLAT_SIGMA", "K_BAND", "K_CLEAN_SIGMA", "NB_SCALE", "OWN_SCALE", "own_lines"]

#: Values this many sigma above the interpolated estimate are cosmic rays (replaced by it).
K_CLEAN_SIGMA = 5.0
#: The own-rows estimate stays within this many sigma of the interpolated one.
K_BAND = 1.0
#: Scatter of the median of an exposure's own 2 * 3 x-neighbours (1.2533 / sqrt(6)).
NB_SCALE = 0.51
#: Range of the own row along x (sigma) below which it is flat (the neighbours' median holds).
FLAT_SIGMA = 5.0
#: Scatter of the own-rows line estimate in units of one value's noise (measured 0.57-0.60).
OWN_SCALE = 0.6


def _variance(value, gain, rnoise):
    return np.maximum(value, 0) / gain + np.asarray(rnoise) ** 2


def _own_block(sub, inner: slice, value, sigma, gain, rnoise, half_width: int) -> int:
    """One exposure's block: its own-rows estimates replace ``value`` and ``sigma`` (in place).

    ``sub`` holds the block's rows and :data:`~._lines._LINE_ROWS` more on
    each side (its cosmic rays replaced), ``inner`` the block's rows in it;
    ``value`` and ``sigma`` are the block's (views).
    """
    one = sub[None]
    line, structure = line_estimate(one, np.ones(1), inner, one[:, inner], gain, rnoise, half_width)
    base = value.copy()
    band = np.float32(K_BAND) * sigma
    var0 = _variance(base, gain, rnoise)
    on_line = np.isfinite(line)
    # flat along x, the interpolation's error above the scatter of the own neighbours' median
    flat = ~on_line & (structure < FLAT_SIGMA) & (var0 * (1 + NB_SCALE**2) < sigma**2)
    nb = neighbour_median(one[:, inner], half_width) if flat.any() else base
    for use, own, scale in ((on_line, line, OWN_SCALE), (flat, nb, NB_SCALE)):
        own = np.clip(own, base - band, base + band)
        var = np.maximum(var0, _variance(own, gain, rnoise)) * (1 + scale**2)
        sigma[use] = np.sqrt(var)[use]
        value[use] = own[use]
    return int(on_line.sum() + flat.sum())


def own_lines(
    stack, value, sigma, gain, rnoise, half_width: int, chunk_rows: int = 128, threads: int = 1
) -> int:
    """Replace ``value`` and ``sigma`` by each exposure's own-grid estimate where better (in place).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU), each on its own grid.
    value, sigma : ndarray of float32, shape (N, ny, nx)
        The interpolated expected signal of each exposure and its noise (ADU);
        updated on lines and on flat rows where the interpolation's error
        dominates.
    gain, rnoise : float or ndarray (ny, nx)
        Gain (e-/ADU) and read noise (ADU).
    half_width : int
        Neighbours on each side along x (px).
    chunk_rows : int, optional
        Rows estimated at once (bounds the temporaries; the result does not depend on it).
    threads : int, optional
        Exposures estimated at once (each reads and writes only its own planes, one
        float32 frame of temporaries each: the result does not depend on it).

    Returns
    -------
    int
        Number of values replaced (all exposures).
    """
    n, ny, _ = stack.shape
    replaced = np.zeros(n, np.int64)

    def exposure(one: slice) -> None:
        i = one.start
        # its cosmic rays replaced by the interpolated estimate, before any row changes
        clean = replaced_above(stack[i], value[i], sigma[i], K_CLEAN_SIGMA)
        for rows in row_blocks(ny, chunk_rows):
            lo, hi = max(rows.start - _LINE_ROWS, 0), min(rows.stop + _LINE_ROWS, ny)
            inner = slice(rows.start - lo, rows.stop - lo)
            replaced[i] += _own_block(
                clean[lo:hi], inner, value[i, rows], sigma[i, rows], value_at(gain, rows),
                value_at(rnoise, rows), half_width,
            )  # fmt: skip

    for_each_block(exposure, [slice(i, i + 1) for i in range(n)], threads)
    return int(replaced.sum())
