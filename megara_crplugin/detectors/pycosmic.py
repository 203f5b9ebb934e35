"""PyCosmic-style detector (Husemann et al. 2012, A&A 545, A137), written from the paper.

PyCosmic is not on PyPI; this module implements its algorithm with
:mod:`scipy.ndimage` and numpy (no Python loop over pixels), in electrons.
Per iteration, on the current cleaned image ``out``:

1. noise ``N = sqrt(max(box mean of out, 0) + rdnoise**2)`` (e-);
2. ``L+``: Laplacian of the 2x sub-sampled image, negative values clipped,
   rebinned (the L.A.Cosmic construction, computed without building the 4x
   array); ``S = L+ / (2 N)``, so that an isolated spike of amplitude A has
   ``S = A / N``; ``S' = S - median5x5(S)``;
3. fine structure: ``R = out / max(G * out, N)`` with ``G`` a Gaussian of
   FWHM ``pc_fwhm_gauss_x`` x ``pc_fwhm_gauss_y``, negatives clipped, and
   ``L2`` its unclipped sub-sampled Laplacian (kernel / 4, 2x2 sums, as upstream);
4. a pixel is a cosmic ray when ``S' > pc_sigma_det`` and ``L2 > pc_rlim``;
5. every flagged pixel of the *original* image is replaced by the median of
   the unflagged pixels of a ``pc_replace_box_y x pc_replace_box_x`` box.

Only pixels whose neighbourhood changed are re-examined after the first
iteration (same result, much faster).  The filters run in the exact fast forms
of :mod:`._pcfilters` (the scipy results bit for bit, computed only where and
how they are needed).  After the last iteration the mask is
grown by ``pc_increase_radius`` and the replacement redone.  Two passes as for
L.A.Cosmic: ``pc_sigma_det`` and ``pc_rlim`` may be pairs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from ..config.detector_config import PyCosmicConfig
from ._pcfilters import laplace_plus, median5_at, update_laplace
from ._pcsteps import TRUNCATE as _TRUNCATE
from ._pcsteps import decide as _decide
from ._windows import EIGHT, _tile_any, _tiles_to_pixels, dilate8
from .base import (
    BaseDetector,
    Detection,
    as_pair,
    compose_cleaned,
    masked_median_replace,
    merge_peak_tail,
    second_pass_windowed,
)

__all__ = ["PyCosmicDetector", "pycosmic_pass"]

_log = logging.getLogger(__name__)

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_TILE = 32
#: Tile (pixels) of the neighbourhoods recomputed by :func:`_replace`.
_REPLACE_TILE = 8
#: Tile (pixels) and area budget (fraction of the frame) of the windowed run 2.
_RUN2_TILE = 16
_RUN2_MAX_FRACTION = 0.6

#: Historical names (tests): the building blocks live in ``_pcfilters``.
_laplace_plus = laplace_plus
_median5_at = median5_at


class _Config:
    """Resolved numerical settings of one PyCosmic pass."""

    def __init__(self, *, sigma_det, rlim, iterations, fwhm_x, fwhm_y, box_x, box_y, radius):
        self.sigma_det = float(sigma_det)
        self.rlim = float(rlim)
        self.iterations = int(iterations)
        self.sigma = (float(fwhm_y) * _FWHM_TO_SIGMA, float(fwhm_x) * _FWHM_TO_SIGMA)
        self.box = (int(box_y), int(box_x))
        self.radius = int(radius)
        gauss = max(int(_TRUNCATE * s + 0.5) for s in self.sigma)
        half = max(self.box) // 2
        #: dependency radius of one detection step (pixels)
        self.r_detect = max(2 + max(1, half), gauss + 1, half + 1)
        #: dependency radius of the replacement (largest fallback box)
        self.r_replace = (3 * max(self.box)) // 2

    def same_filters(self, other: _Config) -> bool:
        """Whether ``other`` has the same noise, ``L+`` and Gaussian (only thresholds differ)."""
        return (self.box, self.sigma) == (other.box, other.sigma)

    @property
    def margin(self) -> int:
        """Dependency radius of a whole pass (pixels)."""
        return self.iterations * (self.r_detect + self.r_replace) + self.radius + self.r_replace


def _decide_near(
    out: np.ndarray, changed: np.ndarray, cfg: _Config, rdn2: float, lap: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Detection step restricted to the pixels within ``r_detect`` of a changed pixel.

    ``lap`` is ``L+`` of the image before the change (or None); it is updated
    and reused when a window spans the whole image.  Returns the new
    detections and ``L+`` of ``out`` when known (else None).
    """
    result = np.zeros(out.shape, dtype=bool)
    grow = -(-cfg.r_detect // _TILE)
    target = dilate8(_tile_any(changed, _TILE), grow)
    region = dilate8(target, grow)
    labels, _ = ndimage.label(region, structure=EIGHT)
    whole_lap = None
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        window = tuple(
            slice(s.start * _TILE, min(s.stop * _TILE, n))
            for s, n in zip(box, out.shape, strict=True)
        )
        todo = target[box] & (labels[box] == index)
        take = _tiles_to_pixels(todo, _TILE, out[window].shape)
        whole = out[window].shape == out.shape
        known = update_laplace(lap, out, changed) if whole and lap is not None else None
        decided, lap_w = _decide(out[window], cfg, rdn2, lap=known, only=take)
        if whole:
            whole_lap = lap_w
        result[window] |= decided  # decided only inside take; the takes are disjoint
    return result, whole_lap


def _replace(
    original: np.ndarray,
    select: np.ndarray,
    cfg: _Config,
    previous: np.ndarray | None = None,
    new: np.ndarray | None = None,
) -> np.ndarray:
    """``original`` with the ``select`` pixels replaced (masked median of the others, e-).

    With ``previous`` (the result for ``select & ~new``) only the selected
    pixels within ``r_replace`` of a ``new`` pixel are recomputed: every other
    value depends on an unchanged neighbourhood and is copied.
    """
    if previous is None:
        out = original.copy()
        redo = select
    else:
        out = previous.copy()
        grow = -(-cfg.r_replace // _REPLACE_TILE)
        tiles = dilate8(_tile_any(new, _REPLACE_TILE), grow)
        redo = _tiles_to_pixels(tiles, _REPLACE_TILE, select.shape) & select
    index = np.flatnonzero(redo)
    if index.size:
        out.reshape(-1)[index] = masked_median_replace(
            original, select, box_x=cfg.box[1], box_y=cfg.box[0], at=redo
        )
    return out


def pycosmic_pass(
    image: np.ndarray,
    *,
    rdnoise: float,
    sigma_det: float = 5.0,
    rlim: float = 1.2,
    iterations: int = 4,
    fwhm_x: float = 2.5,
    fwhm_y: float = 2.5,
    box_x: int = 5,
    box_y: int = 5,
    increase_radius: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one PyCosmic pass on an image in electrons.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Bias-subtracted image in electrons.  Not modified.
    rdnoise : float
        Read noise in electrons.
    sigma_det : float, optional
        Threshold on the median-subtracted Laplacian significance ``S'``
        (in sigma of an isolated spike).
    rlim : float, optional
        Threshold on the Laplacian of the fine-structure ratio image.
    iterations : int, optional
        Maximum number of detect/replace iterations (stops early when an
        iteration adds nothing).
    fwhm_x, fwhm_y : float, optional
        FWHM (pixels) of the Gaussian smoothing along X and Y; match them to
        the line width (X) and fibre profile (Y) for IFU frames.
    box_x, box_y : int, optional
        Box (pixels) of the noise mean and of the replacement median.
    increase_radius : int, optional
        Grow the final mask by this many pixels (square).

    Returns
    -------
    mask : ndarray of bool
        True = cosmic ray.
    cleaned : ndarray of float32
        Image (e-) with the flagged pixels replaced; equal to the input elsewhere.
    """
    cfg = _Config(
        sigma_det=sigma_det,
        rlim=rlim,
        iterations=iterations,
        fwhm_x=fwhm_x,
        fwhm_y=fwhm_y,
        box_x=box_x,
        box_y=box_y,
        radius=increase_radius,
    )
    return _run(np.asarray(image, dtype=np.float32), cfg, float(rdnoise) ** 2)


def _run(
    original: np.ndarray, cfg: _Config, rdn2: float, *, first=None, also=None
) -> tuple[np.ndarray, np.ndarray]:
    """One pass: iterations of detection and replacement, then the mask growth.

    ``first``: the first step's detections when already known (bool array).
    ``also = (other, keep)``: another pass's settings (same box and Gaussian,
    other thresholds) and ``keep(new, decide)``, called after the first step
    with its detections and a function giving the other pass's first step
    from the same noise and significance.
    """
    out = original
    select = np.zeros(original.shape, dtype=bool)
    changed = lap = None
    for _ in range(cfg.iterations):
        if changed is None and first is not None:
            new = first
        elif changed is None:
            new, lap = _decide(out, cfg, rdn2, also=also)
        else:
            new, lap = _decide_near(out, changed, cfg, rdn2, lap)
        new &= ~select
        if not new.any():
            break
        select |= new
        replaced = _replace(original, select, cfg, out, new)
        changed = replaced != out
        out = replaced
    if cfg.radius > 0 and select.any():
        select = dilate8(select, cfg.radius)  # a square of side 2 radius + 1
        out = _replace(original, select, cfg)
    if out is original:
        out = original.copy()
    return select, out


class PyCosmicDetector(BaseDetector):
    """PyCosmic algorithm (``pc_*`` parameters), implemented with scipy.ndimage.

    Parameters
    ----------
    params : mapping, optional
        ``pc_*`` parameters (see ``defaults``); ``pc_sigma_det`` and ``pc_rlim``
        pairs give run 1 and run 2.
    windowed : bool, optional
        Run the second pass only around run-1 detections (same result).

    Notes
    -----
    ``pc_replace_error`` is accepted for compatibility and unused (no error
    image is produced).  ``pc_verbose`` raises the log messages from DEBUG to
    INFO.  ``pc_sigma_det`` is a significance (S = A / N for an isolated spike
    of amplitude A), as L.A.Cosmic's ``sigclip``, and ``pc_rlim`` applies to
    the same fine-structure Laplacian as upstream PyCosmic (kernel / 4 with
    2x2 sums), so thresholds keep their upstream meaning.
    """

    name: ClassVar[str] = "pycosmic"
    prefix: ClassVar[str] = "pc_"
    provides_cleaned: ClassVar[bool] = True
    extra: ClassVar[str | None] = None
    package: ClassVar[str | None] = None
    defaults: ClassVar[Mapping[str, Any]] = PyCosmicConfig.defaults
    config_class: ClassVar[type[PyCosmicConfig]] = PyCosmicConfig
    config: PyCosmicConfig

    def __init__(self, params: Mapping[str, Any] | None = None, *, windowed: bool = True):
        super().__init__(params)
        c = self.config
        self.sigma_det = as_pair("pc_sigma_det", c.pc_sigma_det)
        self.rlim = as_pair("pc_rlim", c.pc_rlim)
        self.windowed = bool(windowed)
        for key, minimum in (
            ("pc_iterations", 1),
            ("pc_replace_box_x", 1),
            ("pc_replace_box_y", 1),
            ("pc_increase_radius", 0),
        ):
            value = getattr(c, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{key} must be an integer, got {value!r}")
            if value < minimum:
                raise ValueError(f"{key} must be >= {minimum}, got {value!r}")
        for key in ("pc_replace_box_x", "pc_replace_box_y"):
            if getattr(c, key) % 2 == 0:
                raise ValueError(f"{key} must be odd (pixels), got {getattr(c, key)!r}")
        for key in ("pc_fwhm_gauss_x", "pc_fwhm_gauss_y"):
            if not float(getattr(c, key)) > 0:
                raise ValueError(f"{key} must be > 0 pixels, got {getattr(c, key)!r}")
        self.configs = tuple(
            _Config(
                sigma_det=self.sigma_det[run],
                rlim=self.rlim[run],
                iterations=c.pc_iterations,
                fwhm_x=c.pc_fwhm_gauss_x,
                fwhm_y=c.pc_fwhm_gauss_y,
                box_x=c.pc_replace_box_x,
                box_y=c.pc_replace_box_y,
                radius=c.pc_increase_radius,
            )
            for run in (0, 1)
        )
        self.two_pass = (self.sigma_det[0], self.rlim[0]) != (self.sigma_det[1], self.rlim[1])

    def _run2_on_whole_frame(self, first_peaks: np.ndarray) -> bool:
        """Whether run 2 will surely run on the whole frame, given run 1's first detections.

        Run 1's final mask contains ``first_peaks``, so the windows of
        :func:`second_pass_windowed` cover at least the tiles around them: when
        those already exceed its area budget, it falls back to the whole frame.
        """
        if not self.windowed:
            return True
        ny, nx = first_peaks.shape
        grow = max(1, -(-(self.configs[1].margin + 2) // _RUN2_TILE))
        region = dilate8(_tile_any(first_peaks, _RUN2_TILE), grow)
        heights = np.minimum(_RUN2_TILE, ny - _RUN2_TILE * np.arange(region.shape[0]))
        widths = np.minimum(_RUN2_TILE, nx - _RUN2_TILE * np.arange(region.shape[1]))
        area = int((heights[:, None] * widths[None, :])[region].sum())
        return area > _RUN2_MAX_FRACTION * ny * nx

    def _detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        level = self._log_level()
        electrons = np.multiply(image, gain, dtype=np.float32)
        rdn2 = (rnoise * gain) ** 2
        t0 = time.perf_counter()
        shared = {}

        def keep(new, decide):  # run 2's first step, when run 2 will see this frame
            if self._run2_on_whole_frame(new):
                shared["first"] = decide()

        share = self.two_pass and self.configs[0].same_filters(self.configs[1])
        also = (self.configs[1], keep) if share else None
        peaks, cleaned1 = _run(electrons, self.configs[0], rdn2, also=also)
        t1 = time.perf_counter()
        _log.log(level, "PyCosmic run 1: %d px in %.2f s", int(peaks.sum()), t1 - t0)
        if not self.two_pass:
            cleaned = compose_cleaned(image, peaks, [(peaks, cleaned1)], divide_by=np.float32(gain))
            return Detection(mask=peaks, cleaned=cleaned)

        def run2(array):
            first = shared.pop("first", None) if array is electrons else None
            return _run(array, self.configs[1], rdn2, first=first)

        # only the run-1 pixels of cleaned1 are used below (merged & ~tails lies in
        # peaks): keep those values, not the frame, while run 2 works (memory)
        at_peaks = cleaned1[peaks]
        del cleaned1

        if self.windowed:
            merged, tails, cleaned2 = second_pass_windowed(
                run2,
                (electrons,),
                peaks,
                margin=self.configs[1].margin + 2,
                tile=_RUN2_TILE,
                max_fraction=_RUN2_MAX_FRACTION,
            )
        else:
            tails, cleaned2 = run2(electrons)
            merged = merge_peak_tail(peaks, tails)
        electrons = shared = None  # not needed to compose the result (memory)
        cleaned1 = np.zeros(peaks.shape, dtype=at_peaks.dtype)
        cleaned1[peaks] = at_peaks
        del peaks, at_peaks
        _log.log(
            level,
            "PyCosmic run 2: %d px merged in %.2f s",
            int(merged.sum()),
            time.perf_counter() - t1,
        )
        inv = np.float32(gain)
        cleaned = compose_cleaned(
            image, merged, [(tails, cleaned2), (~tails, cleaned1)], divide_by=inv
        )
        return Detection(mask=merged, cleaned=cleaned)
