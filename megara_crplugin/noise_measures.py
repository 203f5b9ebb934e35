"""Noise measured from the exposures themselves (issue 9, item 4).

Two measurements that :mod:`megara_crplugin.noisecheck` compares with the
noise model given by the operator:

* :func:`measure_noise` -- the effective read noise and the relative excess
  scatter from the differences of consecutive exposures, in bins of signal;
* :func:`integrated_change` -- how much the integrated flux around given
  pixels changes between the exposures, in sigma of its noise (a lamp drift
  scales it, a seeing change only moves flux within the window).

Units: ADU (bias-free exposures), ``gain`` in e-/ADU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .masks import dilate

__all__ = ["integrated_change", "measure_noise", "offset_exposures"]

#: Growth (px) of the flux-change pixels into the windows whose flux is integrated
#: (the window of :func:`megara_crplugin.fluxchange.reject_flux_changes`).
_WINDOW = 6
#: A value this many sigma above twice its pixel's median is a cosmic ray in the flux sums.
_CR_CLIP = 5.0
#: Largest number of pixels used by the frame-difference fit.
_MAX_SAMPLES = 1_000_000


def _robust_var(values: np.ndarray) -> float:
    med = np.median(values)
    return float((1.4826 * np.median(np.abs(values - med))) ** 2)


def measure_noise(
    stack: np.ndarray, signal: np.ndarray, *, gain: float, nbins: int = 24
) -> tuple[float, float]:
    """Effective read noise and relative excess scatter from consecutive-frame differences.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Bias-subtracted exposures (ADU).
    signal : ndarray (ny, nx)
        Signal of each pixel (ADU), normally ``median2d``.
    gain : float
        Gain (e-/ADU).
    nbins : int, optional
        Number of equal-count signal bins at low signal (the upper half is
        also cut in bins 10 % wide, so that the Poisson term is not smeared).

    Returns
    -------
    rnoise : float
        Effective read noise (ADU): the intercept of the fit; NaN when no
        signal bin holds enough pixels (frames of a few thousand pixels).
    excess : float
        ``eps``, the relative scatter added by flux changes (>= 0); NaN with
        ``rnoise``.
    """
    n = stack.shape[0]
    flat = np.ravel(signal)
    step = max(1, flat.size // _MAX_SAMPLES)
    idx = np.arange(0, flat.size, step)
    s = flat[idx].astype(np.float64)
    diffs = np.stack(
        [np.ravel(stack[i])[idx] - np.ravel(stack[i + 1])[idx] for i in range(n - 1)]
    ).astype(np.float64)
    # narrow bins: equal numbers of pixels at low signal, 10 % wide above
    qedges = np.quantile(s, np.linspace(0.0, 1.0, nbins + 1))
    top = max(float(s.max()), 1.0)
    gedges = np.geomspace(max(float(qedges[nbins // 2]), 1.0), top, 2)
    if top > 1.0:
        n_geo = max(2, int(np.ceil(np.log(top / gedges[0]) / np.log(1.1))) + 1)
        gedges = np.geomspace(gedges[0], top, n_geo)
    edges = np.unique(np.concatenate([qedges, gedges]))
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, edges.size - 2)
    centres, centres2, variances, weights = [], [], [], []
    for k in range(edges.size - 1):
        chunk = np.nonzero(which == k)[0]
        if chunk.size < 200:
            continue
        v = _robust_var(diffs[:, chunk].ravel()) / 2.0
        level = float(np.mean(np.clip(s[chunk], 0, None)))
        centres.append(level)
        centres2.append(float(np.mean(np.clip(s[chunk], 0, None) ** 2)))
        variances.append(v - level / gain)
        weights.append(1.0 / max(v, 1e-6))
    if not variances:  # too few pixels for any bin: not measured (not 0)
        return float("nan"), float("nan")
    c2, v, w = np.array(centres2), np.array(variances), np.array(weights)
    design = np.stack([np.ones_like(c2), c2], axis=1) * w[:, None]
    (rn2, eps2), *_ = np.linalg.lstsq(design, v * w, rcond=None)
    if eps2 < 0:  # no excess: the intercept alone
        eps2 = 0.0
        rn2 = float(np.sum(v * w * w) / np.sum(w * w))
    return float(np.sqrt(max(rn2, 0.0))), float(np.sqrt(eps2))


def integrated_change(
    stack, pixels, *, gain, rnoise, window: int = _WINDOW, flux_factors=None, offsets=None
) -> float:
    """Typical change, in sigma, of the integrated flux around ``pixels`` between exposures.

    ``pixels`` (True = a flux-change pixel) is grown by ``window`` px; in each
    8-connected window the N exposures' sums (ADU; a value more than 5 sigma
    above twice its pixel's median, a cosmic ray, counts as that median) are
    compared with their mean: ``chi2 = sum_i (S_i - mean)**2 / var`` with ``var = mean / gain +
    npix * rnoise**2`` (ADU**2).  A seeing or guiding change moves flux within
    the window and leaves its sum nearly unchanged; a lamp drift or a
    throughput change scales it.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Bias-free exposures (ADU).
    pixels : ndarray of bool (ny, nx)
        Pixels whose excess follows the signal profile.
    gain, rnoise : float
        e-/ADU and ADU.
    window : int, optional
        Growth of the pixels (px).
    flux_factors : sequence of float, optional
        Known flux factors of the exposures (``flux_factor``, applied to the
        simulations only): each exposure's sums are divided by its factor
        first, so that a known global change is not counted.
    offsets : array_like (N, 2), optional
        ``(dx, dy)`` of each exposure (px): each exposure is read at the
        window's pixels shifted by its offset (linear interpolation), so that
        flux moved across the window's edge by the offset is not counted.

    Returns
    -------
    float
        Median over the windows of ``sqrt(chi2 / (N - 1))`` (about 1 for
        equivalent exposures); NaN without pixels.
    """
    if not np.any(pixels):
        return float("nan")
    eight = np.ones((3, 3), dtype=bool)
    labels, n = ndimage.label(dilate(pixels, window), structure=eight)
    ys, xs = np.nonzero(labels)
    values = _read(stack, ys, xs, offsets)
    if flux_factors is not None:
        values /= np.asarray(flux_factors, np.float64).reshape(-1, 1)
    # a cosmic ray in a window is not a flux change: a value more than twice
    # its pixel's median (plus 5 sigma) counts as the median (at high
    # cosmic-ray rates most windows of 13 x 13 px hold one; a seeing change
    # moves the peak of a trace by tens of per cent, not by a factor 2)
    med = np.median(values, axis=0)
    pos = np.clip(med, 0, None)
    high = 2 * pos + _CR_CLIP * np.sqrt(pos / gain + rnoise**2)
    values = np.where(values > high, med, values)
    flat = labels[ys, xs]
    sums = np.stack([np.bincount(flat, v, n + 1)[1:] for v in values])
    npix = np.bincount(flat, minlength=n + 1)[1:]
    mean = sums.mean(axis=0)
    var = np.clip(mean, 0, None) / gain + npix * rnoise**2
    chi2 = ((sums - mean) ** 2).sum(axis=0) / np.maximum(var, 1e-12)
    return float(np.sqrt(np.median(chi2) / max(stack.shape[0] - 1, 1)))


def offset_exposures(offsets) -> bool:
    """True when the offsets (N, 2) are known and not all zero."""
    return offsets is not None and bool(np.any(np.asarray(offsets, float) != 0))


def _read(stack, ys, xs, offsets) -> np.ndarray:
    """``stack[:, ys, xs]`` (float64), each exposure read at ``(ys + dy, xs + dx)`` with offsets."""
    if not offset_exposures(offsets):
        return stack[:, ys, xs].astype(np.float64)
    out = np.empty((len(stack), ys.size), np.float64)
    for i, (dx, dy) in enumerate(np.asarray(offsets, float)):
        where = np.stack([ys + dy, xs + dx])
        out[i] = ndimage.map_coordinates(stack[i], where, order=1, mode="nearest")
    return out
