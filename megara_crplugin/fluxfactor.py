"""Automatic flux factors between nominally equivalent exposures (``flux_factor: auto``).

``flux_factor[i]`` is the factor by which exposure i is brighter than the
median exposure.  The estimate is the median ratio ``exposure_i / median2d``
over the bright pixels (signal-to-noise > ``min_snr`` and in the upper quartile
of the signal inside the regions), iterated so that the median image is built
from exposures already brought to a common level.  Unlike the reference
(numina 0.40), factors are not quantised to 0.01 and can be exactly 1
(defect 20).  Units: ADU.
"""

from __future__ import annotations

import logging

import numpy as np

from .simulation import remove_isolated_bins

__all__ = ["estimate_flux_factors"]

log = logging.getLogger(__name__)


def estimate_flux_factors(
    stack: np.ndarray,
    *,
    region_mask: np.ndarray | None = None,
    gain: float = 1.0,
    rnoise: float = 0.0,
    min_snr: float = 30.0,
    niter: int = 3,
) -> tuple[np.ndarray, list[dict]]:
    """Estimate the flux factor of each exposure relative to the median.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Bias-subtracted exposures (ADU).
    region_mask : ndarray of bool (ny, nx), optional
        Pixels to use (``flux_factor_regions``); default all.
    gain : float, optional
        e-/ADU (noise estimate).
    rnoise : float, optional
        Read noise (ADU).
    min_snr : float, optional
        Minimum signal-to-noise of the pixels used.
    niter : int, optional
        Iterations of the median/ratio estimate.

    Returns
    -------
    factors : ndarray (N,)
        Flux factors (1.0 where no usable pixel exists, with a warning).
    diagnostics : list of dict
        One per exposure for ``flux_factor{i}.png``: ``hist``, ``hist_clean``
        (rows = ratio bins 0.50..1.50, columns = signal bins), ``xcentres``,
        ``ycentres``, ``points``, ``curves``, ``modes``, ``factor``.
    """
    n = stack.shape[0]
    sel = np.ones(stack.shape[1:], dtype=bool) if region_mask is None else region_mask
    factors = np.ones(n)
    median2d = np.median(stack[:, sel], axis=0)
    noise = np.sqrt(np.clip(median2d, 0, None) / gain + rnoise**2) + 1e-12
    bright = median2d / noise > min_snr
    if bright.sum() >= 20:
        bright &= median2d >= np.percentile(median2d[bright], 75)
    if bright.sum() < 20:
        log.warning("flux_factor auto: fewer than 20 bright pixels in the regions; using 1.0")
        return factors, _diagnostics(stack[:, sel], median2d, factors)
    values = stack[:, sel][:, bright].astype(np.float64)
    for _ in range(niter):
        ref = np.median(values / factors[:, None], axis=0)
        ratios = values / ref
        factors = np.median(ratios, axis=1)
        factors /= np.median(factors)
    return np.round(factors, 6), _diagnostics(stack[:, sel], median2d, factors)


def _diagnostics(values, median2d, factors):
    yedges = np.linspace(0.495, 1.505, 102)
    lo, hi = float(np.min(median2d)), float(np.max(median2d))
    xedges = np.linspace(lo, hi if hi > lo else lo + 1, 102)
    xc = 0.5 * (xedges[1:] + xedges[:-1])
    yc = 0.5 * (yedges[1:] + yedges[:-1])
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(values.shape[0]):
            ratio = np.where(median2d != 0, values[i] / median2d, 0.0)
            h, _, _ = np.histogram2d(ratio, median2d, bins=(yedges, xedges))
            out.append(
                {
                    "hist": h,
                    "hist_clean": remove_isolated_bins(h, 4),
                    "xcentres": xc,
                    "ycentres": yc,
                    "points": [np.empty((0,)), np.empty((0,))],
                    "curves": None,
                    "modes": None,
                    "factor": float(factors[i]),
                }
            )
    return out
