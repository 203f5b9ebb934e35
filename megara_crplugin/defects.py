"""Detector defects: pixels that are not cosmic rays (issue 9, item 2).

A cosmic ray adds charge to one exposure (two for a double hit).  A pixel that
the noise model cannot explain *from below*, or that stands out from its
neighbours the same way in *every* exposure, is a detector defect, not a
cosmic ray.  Defects are never put in a cosmic-ray mask (the pipeline removes
them from the pixels that may be flagged) and are written to their own
``DEFECTS`` extension of ``crmasks.fits``.

Rules (images bias-subtracted, ADU; ``sigma(v) = sqrt(max(v, 0) / gain +
rnoise**2)``):

* ``low``: ``min2d < -defects_low_rnoise * rnoise``.  A signal is never
  negative, so a minimum that far under the bias is not noise (the ISIS first
  columns reach about -80 read-noise units).
* ``hot``: in every exposure the pixel exceeds the brightest of its 8
  neighbours by more than ``defects_hot_sigma * sigma(neighbour)`` and is more
  than 3 times that neighbour: sharper than any sampled image (a star or a line
  of FWHM >= 2 pixels has a neighbour above a third of its peak), with the same
  value in every exposure: its range over the N exposures is within
  :func:`same_range` (N) times the noise at its median, the 99.5 % point of the
  range of N normal values (a cosmic ray hitting the pixel in every exposure has
  unrelated amplitudes and stays a cosmic ray).
* ``aux``: features the Aux detector flags in every exposure whose pixels all
  have the same value (range test): hot pixels on a background, which the
  8-neighbour rule misses when a neighbour is bright.
* ``cold``: in every exposure the pixel lies more than ``defects_hot_sigma *
  sigma(neighbour)`` under the faintest of its 8 neighbours and under a third
  of it, with the same value in every exposure (dead pixels).
* ``bpm``: pixels marked (non-zero) in the optional bad-pixel mask ``bpm``
  (FITS, like the DRP's master BPM: 1 = bad).

Mask polarity here: True = defect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from .exceptions import InputError
from .masks import keep_features
from .noise_values import value_at

__all__ = [
    "DefectMap",
    "add_constant_detections",
    "aux_defects",
    "classify_defects",
    "load_bpm",
    "same_range",
    "stack_defects",
]

#: The 8 neighbours of a pixel (3 x 3 ring).
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
#: A defect pixel is more than this factor above (below) its brightest (faintest) neighbour.
SHARPNESS = 3.0


def same_range(n: int) -> float:
    """Largest range of N values of one pixel, in noise units, for "the same value".

    About the 99.5 % point of the range of N normal values (4.3 for N = 3, 4.75
    for 5, 5.4 for 10).
    """
    return 3.3 + 0.9 * float(np.log(max(int(n), 2)))


@dataclass(frozen=True)
class DefectMap:
    """Detector defects of one run (True = defect).

    Attributes
    ----------
    mask : ndarray of bool (ny, nx)
        Union of every rule.
    n_low, n_hot, n_cold, n_bpm : int
        Pixels found by each rule (a pixel may satisfy several).
    """

    mask: np.ndarray
    n_low: int = 0
    n_hot: int = 0
    n_cold: int = 0
    n_bpm: int = 0
    n_aux: int = 0

    @property
    def count(self) -> int:
        """Number of defect pixels."""
        return int(np.count_nonzero(self.mask))

    def summary(self) -> str:
        """One line for the log and the report."""
        return (
            f"defects: {self.count} pixels (low {self.n_low}, hot {self.n_hot}, "
            f"cold {self.n_cold}, bpm {self.n_bpm}, aux {self.n_aux}), never in a cosmic-ray mask"
        )


def load_bpm(path: str | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Read the bad-pixel mask ``bpm`` (first HDU with 2-D data; non-zero = bad).

    Parameters
    ----------
    path : str, ndarray or None
        FITS file, or the mask itself (validated array); None: no BPM.
    shape : (int, int)
        Shape of the exposures.

    Returns
    -------
    ndarray of bool or None
        True = known defect.

    Raises
    ------
    megara_crplugin.exceptions.InputError
        One line naming ``bpm`` and the file when it cannot be used.
    """
    if path is None:
        return None
    if isinstance(path, np.ndarray):
        return np.asarray(path, dtype=bool)
    from astropy.io import fits

    p = Path(path)
    if not p.is_file():
        raise InputError(f"bpm: file {p} not found (expected a FITS bad-pixel mask, 1 = bad)")
    try:
        with fits.open(p, memmap=False) as hdul:
            data = next((h.data for h in hdul if h.data is not None and h.data.ndim == 2), None)
    except (OSError, ValueError) as exc:
        raise InputError(f"bpm: {p} is not a readable FITS file ({exc})") from None
    if data is None:
        raise InputError(f"bpm: {p} has no 2-D image (expected a bad-pixel mask, 1 = bad)")
    if tuple(data.shape) != tuple(shape):
        raise InputError(f"bpm: {p} has shape {data.shape}, the exposures {tuple(shape)}")
    return np.asarray(data) != 0


def _sigma(v, gain, rnoise):
    return np.sqrt(np.maximum(v, 0) / gain + np.square(rnoise))


def _ring_extreme(frame, ys, xs, hot: bool) -> np.ndarray:
    """Max (hot) or min of the 8 neighbours of the pixels ``(ys, xs)``, edges repeated.

    The values of ``ndimage.maximum_filter(frame, footprint=_RING,
    mode="nearest")`` (or the minimum filter) at those pixels.
    """
    ny, nx = frame.shape
    pick = np.maximum if hot else np.minimum
    out = None
    for dy, dx in zip(*(np.nonzero(_RING)), strict=True):
        v = frame[np.clip(ys + dy - 1, 0, ny - 1), np.clip(xs + dx - 1, 0, nx - 1)]
        out = v if out is None else pick(out, v)
    return out


def _defect_flags(frame, nb, gain, rnoise, k, hot: bool) -> np.ndarray:
    """Sharper than the neighbours' extreme ``nb`` by k sigma and by :data:`SHARPNESS`."""
    if hot:
        excess = frame - nb
        sharp = frame > SHARPNESS * np.maximum(nb, 0)
    else:
        excess = nb - frame
        sharp = SHARPNESS * frame < nb
    return (excess > k * _sigma(nb, gain, rnoise)) & sharp


def _every_frame(stack, gain, rnoise, k, *, hot: bool) -> np.ndarray:
    """Pixels sharper than their 8 neighbours (above for hot, below for cold) in every frame.

    The first frame is filtered whole; the others only at its candidates
    (a few per mille of the pixels), with the same values.
    """
    first = np.asarray(stack[0], dtype=np.float32)
    filt = ndimage.maximum_filter if hot else ndimage.minimum_filter
    nb = filt(first, footprint=_RING, mode="nearest")
    # the sharpness test first (float32, few pass), then the whole test there
    sharp = first > SHARPNESS * np.maximum(nb, 0) if hot else SHARPNESS * first < nb
    ys, xs = np.nonzero(sharp)
    del sharp
    g, r = value_at(gain, (ys, xs)), value_at(rnoise, (ys, xs))
    keep = _defect_flags(first[ys, xs], nb[ys, xs], g, r, k, hot)
    ys, xs = ys[keep], xs[keep]
    for frame in stack[1:]:
        if ys.size == 0:
            break
        frame = np.asarray(frame, dtype=np.float32)
        g, r = value_at(gain, (ys, xs)), value_at(rnoise, (ys, xs))
        nb = _ring_extreme(frame, ys, xs, hot)
        keep = _defect_flags(frame[ys, xs], nb, g, r, k, hot)
        ys, xs = ys[keep], xs[keep]
    out = np.zeros(first.shape, dtype=bool)
    out[ys, xs] = True
    return out


def _same_value(stack, cand: np.ndarray, gain, rnoise) -> np.ndarray:
    """Candidates whose values have the same expectation in every exposure (range test)."""
    same = np.zeros(cand.shape, dtype=bool)
    if cand.any():
        vals = np.asarray(stack)[:, cand]
        spread = vals.max(axis=0) - vals.min(axis=0)
        g, r = value_at(gain, cand), value_at(rnoise, cand)
        limit = same_range(len(vals)) * _sigma(np.median(vals, axis=0), g, r)
        same[cand] = spread <= limit
    return same


def add_constant_detections(
    defects: DefectMap, every: np.ndarray, stack: np.ndarray, *, gain, rnoise
) -> DefectMap:
    """Add the ``aux`` rule: detections of every exposure with the same value.

    Parameters
    ----------
    defects : DefectMap
        Defects found so far.
    every : ndarray of bool
        Pixels the Aux detector flags in every exposure; an 8-connected feature of
        them is a defect only when all its pixels pass the same-value test.
    stack : ndarray (N, ny, nx)
        Bias-subtracted exposures (ADU).
    gain, rnoise : float or ndarray
        e-/ADU and ADU.

    Returns
    -------
    DefectMap
        ``defects`` with those pixels added (``n_aux``).
    """
    every = every & ~defects.mask
    same = _same_value(stack, every, gain, rnoise)
    # a feature with one pixel whose values differ is a cosmic ray hitting every exposure
    found = every & ~keep_features(every, every & ~same)
    if not found.any():
        return defects
    return dataclasses.replace(
        defects, mask=defects.mask | found, n_aux=defects.n_aux + int(found.sum())
    )


def classify_defects(
    stack: np.ndarray,
    min2d: np.ndarray,
    *,
    gain: float | np.ndarray,
    rnoise: float | np.ndarray,
    low_rnoise: float | None = 10.0,
    hot_sigma: float | None = 5.0,
    bpm: np.ndarray | None = None,
) -> DefectMap:
    """Classify the detector defects of a stack.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Bias-subtracted exposures (ADU).
    min2d : ndarray (ny, nx)
        Per-pixel minimum of the stack (ADU).
    gain : float or ndarray
        e-/ADU.
    rnoise : float or ndarray
        Read noise (ADU).
    low_rnoise : float or None
        ``low`` rule limit in read-noise units (None = off).
    hot_sigma : float or None
        ``hot``/``cold`` rule limit in noise units (None = off).
    bpm : ndarray of bool, optional
        Known defects (True = bad).

    Returns
    -------
    DefectMap
    """
    shape = np.shape(min2d)
    low = np.zeros(shape, dtype=bool)
    if low_rnoise is not None:
        low = min2d < -low_rnoise * np.asarray(rnoise, dtype=np.float32)
    hot = cold = np.zeros(shape, dtype=bool)
    if hot_sigma is not None:
        hot = _every_frame(stack, gain, rnoise, hot_sigma, hot=True)
        cold = _every_frame(stack, gain, rnoise, hot_sigma, hot=False)
        same = _same_value(stack, hot | cold, gain, rnoise)
        hot &= same
        cold &= same
    known = np.zeros(shape, dtype=bool) if bpm is None else np.asarray(bpm, dtype=bool)
    result = DefectMap(
        mask=low | hot | cold | known,
        n_low=int(low.sum()),
        n_hot=int(hot.sum()),
        n_cold=int(cold.sum()),
        n_bpm=int(known.sum()),
    )
    return result


def stack_defects(cfg, noise, stats, bpm: np.ndarray | None) -> DefectMap:
    """Pipeline stage: the low/hot/cold/bpm rules with the run's parameters.

    Parameters
    ----------
    cfg : CRConfig
        ``defects_low_rnoise`` and ``defects_hot_sigma``.
    noise : NoiseModel
        ``gain`` (e-/ADU) and ``rnoise`` (ADU).
    stats : StackStatistics
        Bias-subtracted stack and its ``min2d`` (ADU).
    bpm : ndarray of bool or None
        Known defects (:func:`load_bpm`).

    Returns
    -------
    DefectMap
    """
    return classify_defects(
        stats.stack,
        stats.min2d,
        gain=noise.gain,
        rnoise=noise.rnoise,
        bpm=bpm,
        low_rnoise=cfg.defects_low_rnoise,
        hot_sigma=cfg.defects_hot_sigma,
    )


def aux_defects(cfg, noise, stats, defects: DefectMap, aux_frames) -> DefectMap:
    """Pipeline stage: add the ``aux`` rule (off with ``defects_hot_sigma: null``).

    ``aux_frames`` are the Aux masks of the N exposures (True = detection).
    """
    if cfg.defects_hot_sigma is None:
        return defects
    every = np.logical_and.reduce([np.asarray(m, dtype=bool) for m in aux_frames])
    return add_constant_detections(
        defects, every, stats.stack, gain=noise.gain, rnoise=noise.rnoise
    )
