"""Offset exposures on lines: each exposure's own rows predict it, no interpolation.

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

Units: ADU.  Arrays are indexed ``[y, x]``.
"""

from __future__ import annotations

import numpy as np

from ._blockstats import row_blocks
from ._lines import _LINE_ROWS, line_estimate

__all__ = ["K_BAND", "K_CLEAN_SIGMA", "OWN_SCALE", "own_lines"]

#: Values this many sigma above the interpolated estimate are cosmic rays (replaced by it).
K_CLEAN_SIGMA = 5.0
#: The own-rows estimate stays within this many sigma of the interpolated one.
K_BAND = 1.0
#: Scatter of the own-rows line estimate in units of one value's noise (measured 0.57-0.60).
OWN_SCALE = 0.6


def _rows(a, rows):
    a = np.asarray(a)
    return a[rows] if a.ndim == 2 else a


def _variance(value, gain, rnoise):
    return np.maximum(value, 0) / gain + np.asarray(rnoise) ** 2


def own_lines(stack, value, sigma, gain, rnoise, half_width: int, chunk_rows: int = 128) -> int:
    """Replace ``value`` and ``sigma`` on lines by each exposure's own-rows estimate (in place).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU), each on its own grid.
    value, sigma : ndarray of float32, shape (N, ny, nx)
        The interpolated expected signal of each exposure and its noise (ADU);
        updated where the exposure's own rows show a line.
    gain, rnoise : float or ndarray (ny, nx)
        Gain (e-/ADU) and read noise (ADU).
    half_width : int
        Neighbours on each side along x (px).
    chunk_rows : int, optional
        Rows estimated at once (bounds the temporaries; the result does not depend on it).

    Returns
    -------
    int
        Number of values replaced (all exposures).
    """
    n, ny, _ = stack.shape
    replaced = 0
    for i in range(n):
        for rows in row_blocks(ny, chunk_rows):
            lo, hi = max(rows.start - _LINE_ROWS, 0), min(rows.stop + _LINE_ROWS, ny)
            sub = stack[i, lo:hi].astype(np.float32)
            hits = sub > value[i, lo:hi] + np.float32(K_CLEAN_SIGMA) * sigma[i, lo:hi]
            sub[hits] = value[i, lo:hi][hits]
            inner = slice(rows.start - lo, rows.stop - lo)
            g, rn = _rows(gain, rows), _rows(rnoise, rows)
            line, _ = line_estimate(
                sub[None], np.ones(1), inner, sub[None, inner], g, rn, half_width
            )
            on = np.isfinite(line)
            old = value[i, rows]
            band = np.float32(K_BAND) * sigma[i, rows]
            line = np.clip(line, old - band, old + band)
            var = np.maximum(_variance(old, g, rn), _variance(line, g, rn)) * (1 + OWN_SCALE**2)
            old[on] = line[on]
            sigma[i, rows][on] = np.sqrt(var)[on]
            replaced += int(on.sum())
    return replaced
