"""Expected signal of each exposure from its neighbours, and the tests built on it.

M.M.Cosmic judges a pixel by ``median - min`` of its N values: for a double
hit the minimum is the one clean value, a single noisy sample of the signal,
so faint double hits on low signal hide in its scatter.  Here the signal a
pixel should have is estimated from the pixels beside it along the
dispersion direction (x, where spectra vary slowly) in every exposure: the
median of ``2 * half_width * N`` values (flux-factor normalised), which
scatters about three times less than one sample and ignores the cosmic rays
of the neighbours (up to half the values may be hit).

Where the signal is sharp along x (sky and arc lines) the neighbours
under-estimate the line peak; there the x-profile of the three rows above and
below (a line crosses every fibre at the same column), scaled to this row,
predicts the pixel, and the pixel's own minimum is a floor.  On the steep
flank of a strong line the neighbours over-shoot (their window reaches up the
line): where their median lies ``_OVERSHOOT_SIGMA`` above the pixel's own
minimum, the line's profile (the minimum + 1 sigma as a floor) replaces it.
Offset exposures are aligned first and the estimate is shifted back onto
each (see :func:`estimate_expected`); on lines, and on flat rows where that
interpolation errs most, each exposure's own grid predicts it
(:mod:`~megara_crplugin._ownline`).  The alignment spreads a cosmic ray over
the neighbours that estimate the pixels beside it (a track along x over most
of them), so with offsets the estimate is made twice: the second time the
exposures are aligned with the values :data:`K_RAYS` sigma above the first
estimate replaced by it.

Tests (all per pixel, so the false-alarm level does not grow with the image):

* :func:`raised_in` -- at least ``needed`` of the N values lie more than
  ``k`` sigma above their expected signal (sigma from gain and read noise,
  plus the estimate's own scatter; ``k`` a normal-tail level, raised by the
  photon noise's skewness on faint pixels), unless raised alike in every
  exposure (a hot pixel, alone: beside a cosmic ray's footprint it is a
  triple hit, :mod:`~megara_crplugin._beside`).  :func:`median_flags` (``needed = N // 2 + 1``):
  "the median is raised by cosmic rays" (MEDIANCR); :func:`frame_flags`: a
  single hit; :func:`mediancr_mm_flags`: MEDIANCR's test and the boundary.

Units: ADU (bias-free stack), ``gain`` in e-/ADU, ``rnoise`` in ADU.
Mask polarity: True = cosmic ray.  Arrays are indexed ``[y, x]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ._beside import clear_beside_rays
from ._blockstats import for_each_block, row_blocks
from ._interp import align, interpolation_bias, interpolation_error, shift_linear, smoothing
from ._lines import line_estimate, neighbour_median
from ._ownline import own_lines
from ._refine import refine_candidates
from ._selectnet import order_statistics
from ._tails import MEDIAN_EFFICIENCY, level, skewness
from .noise_measures import offset_exposures
from .noise_values import value_at

__all__ = [
    "ExpectedSignal",
    "estimate_expected",
    "exposures_above",
    "frame_flags",
    "median_flags",
    "mediancr_mm_flags",
    "raised_in",
]

#: Neighbours used on each side along x (px).
HALF_WIDTH = 3
#: Rows of one block (bounds the temporaries: ~4 * HALF_WIDTH * N copies per thread).
CHUNK_ROWS = 128
#: Structure (sigma) above which the pixel's own minimum is a floor of the estimate.
_FLOOR_SIGMA = 5.0
#: Structure (sigma) above which a line's profile replaces neighbours that overshoot.
_LINE_SIGMA = 20.0
#: Neighbours' median above the pixel's minimum by this many sigma: they overshoot.
_OVERSHOOT_SIGMA = 3.0
#: Values this many sigma above a first estimate are replaced before offset exposures are aligned.
K_RAYS = 7.0


@dataclass(frozen=True)
class ExpectedSignal:
    """Expected signal of every exposure and its noise (ADU).

    Attributes
    ----------
    value : ndarray of float32, shape (N, ny, nx)
        Expected signal of each exposure (ADU, bias-free); read-only (one
        plane broadcast) without offsets and flux factors.
    sigma : ndarray of float32, shape (N, ny, nx), or None
        Noise of one value about that expectation: photon and read noise
        plus the scatter of the estimate (ADU).  None: computed from
        ``value``, ``gain``, ``rnoise`` and ``scale`` when needed
        (:meth:`sigmas`), a block of rows at a time in the pipeline, which
        saves N float32 frames.
    gain : float or ndarray (ny, nx), optional
        Gain (e-/ADU), for the noise of values far above the expectation.
    alike : ndarray of bool, shape (ny, nx), optional
        The pixel's ``N - 1`` lowest values are alike (see :func:`raised_in`),
        computed once by :func:`estimate_expected` from the stack it was
        given; the tests then take that same stack.  None: computed by each test.
    rnoise : float or ndarray (ny, nx), optional
        Read noise (ADU), for ``sigma`` None.
    scale : float, optional
        Scatter of the estimate in units of one value's noise, for ``sigma`` None.
    """

    value: np.ndarray
    sigma: np.ndarray | None
    gain: float | np.ndarray = 1.0
    alike: np.ndarray | None = None
    rnoise: float | np.ndarray = 0.0
    scale: float = 0.0

    def rows(self, sl: slice) -> ExpectedSignal:
        """The same expectation on the rows ``sl`` only (views, no copy)."""

        def part(a):
            return a[sl] if np.ndim(a) == 2 else a

        sigma = None if self.sigma is None else self.sigma[:, sl]
        alike = None if self.alike is None else self.alike[sl]
        gain, rnoise = part(self.gain), part(self.rnoise)
        return ExpectedSignal(self.value[:, sl], sigma, gain, alike, rnoise, self.scale)

    def sigmas(self) -> np.ndarray:
        """Noise of one value of each exposure about its expectation (float32, ADU)."""
        if self.sigma is not None:
            return self.sigma
        out = np.empty(self.value.shape, np.float32)
        for i, value in enumerate(self.value):
            out[i] = np.sqrt(_variance(value, self.gain, self.rnoise, self.scale))
        return out

    def z_at(self, stack: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Excess of each exposure of ``stack`` over this expectation at ``(ys, xs)`` (sigma)."""
        at = (slice(None), ys, xs)
        value = self.value[at]
        if self.sigma is not None:
            return (stack[at] - value) / self.sigma[at]
        gain, rnoise = value_at(self.gain, (ys, xs)), value_at(self.rnoise, (ys, xs))
        return (stack[at] - value) / np.sqrt(_variance(value, gain, rnoise, self.scale))


def _variance(value, gain, rnoise, scale):
    """Photon + read noise at ``value`` (ADU^2), times ``1 + scale**2`` (the estimate's scatter)."""
    return (np.maximum(value, 0) / gain + np.asarray(rnoise) ** 2) * (1.0 + scale**2)


def _rows(a, rows):
    a = np.asarray(a)
    return a[rows] if a.ndim == 2 else a


def _estimate_block(stack, ff, rows, gain, rnoise, half_width):
    """Expected signal (flux-normalised, ADU) of rows ``rows`` from the exposures of ``stack``.

    One estimate for all exposures; the pixel's own minimum over the
    exposures is a floor where the adjacent rows show structure along x.
    """
    block = stack[:, rows].astype(np.float32) / ff[:, None, None].astype(np.float32)
    est = neighbour_median(block, half_width)
    refine_candidates(stack, ff, rows, block, est, gain, rnoise, half_width)
    line, structure = line_estimate(stack, ff, rows, block, gain, rnoise, half_width)
    low = block.min(axis=0)
    low[structure <= _FLOOR_SIGMA] = np.nan
    # on a steep flank the neighbours reach up the line: their median lies far
    # above the pixel's own minimum; a strong line's profile predicts it instead
    noise_low = np.sqrt(np.maximum(low, 0) / gain + np.asarray(rnoise) ** 2)
    over = (structure > _LINE_SIGMA) & (est > low + _OVERSHOOT_SIGMA * noise_low)
    over[:, :half_width] = over[:, -half_width:] = False  # mirrored neighbours at the edges
    est = np.where(over, np.fmax(line, low + noise_low), est)
    return np.broadcast_to(np.fmax(est, np.fmax(low, line)), block.shape)


def _per_exposure(plane: np.ndarray, ff: np.ndarray, offsets) -> np.ndarray:
    """Each exposure's estimate: shifted back, times its factor (else ``plane`` broadcast)."""
    if offsets is None and np.all(ff == 1):
        return np.broadcast_to(plane, (len(ff), *plane.shape))
    value = np.empty((len(ff), *plane.shape), np.float32)
    for i in range(len(ff)):
        value[i] = plane if offsets is None else shift_linear(plane, *offsets[i])
    value *= ff[:, None, None].astype(np.float32)
    return value


def _plane(aligned, ff, noise):
    """One flux-normalised estimate for all exposures (ADU) from the (aligned) stack.

    ``noise`` is ``(gain, rnoise, est_scale, half_width, threads)``.
    """
    gain, rnoise, _, half_width, threads = noise
    plane = np.empty(aligned.shape[1:], np.float32)

    def estimate(rows: slice) -> None:
        plane[rows] = _estimate_block(
            aligned, ff, rows, _rows(gain, rows), _rows(rnoise, rows), half_width
        )[0]

    for_each_block(estimate, row_blocks(aligned.shape[1], CHUNK_ROWS), threads)
    return plane


def _values(plane, stack, ff, offsets, noise):
    """Expected signal of each exposure from ``plane`` and its sigma (None without offsets).

    With offsets the plane is shifted back onto each exposure and corrected
    for the interpolations, and each exposure's own grid (``stack``) predicts
    lines and flat rows (:func:`~megara_crplugin._ownline.own_lines`).
    ``noise`` is ``(gain, rnoise, est_scale, half_width, threads)``.
    """
    gain, rnoise, est_scale, half_width, threads = noise
    value = _per_exposure(plane, ff, offsets)
    if offsets is None:
        return value, None  # sigma computed from the value when needed
    sigma = np.empty(stack.shape, np.float32)
    for i, coefficients in enumerate(smoothing(offsets)):  # less the interpolations' smoothing
        left = interpolation_error(value[i])  # plus what is left of it
        value[i] -= interpolation_bias(value[i], coefficients)
        sigma[i] = np.sqrt(_variance(value[i], gain, rnoise, est_scale) + left**2)
    if offset_exposures(offsets):  # lines and flat rows from each exposure's own grid
        own_lines(stack, value, sigma, gain, rnoise, half_width, CHUNK_ROWS, threads)
    return value, sigma


def estimate_expected(
    stack: np.ndarray,
    *,
    gain,
    rnoise,
    flux_factors=None,
    offsets=None,
    half_width: int = HALF_WIDTH,
    threads: int = 1,
) -> ExpectedSignal:
    """Estimate the expected signal of each exposure from its x-neighbours.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    gain : float or ndarray (ny, nx)
        Gain (e-/ADU).
    rnoise : float or ndarray (ny, nx)
        Read noise (ADU).
    flux_factors : sequence of float, optional
        Exposure i expects ``signal * flux_factors[i]`` (default all 1).
    offsets : array_like, shape (N, 2), optional
        ``(dx, dy)`` of each exposure (px, the ``mm_xy_offsets`` convention):
        the exposures are aligned on the reference, the estimate is made on
        the aligned stack and shifted back onto each exposure; then again,
        with the values :data:`K_RAYS` sigma above that estimate replaced
        before the alignment (non-zero offsets only).
    half_width : int, optional
        Neighbours on each side along x (>= 1).
    threads : int, optional
        Blocks of rows estimated at once (threads; the result does not depend on it).

    Returns
    -------
    ExpectedSignal
        Expected values and sigmas, shape (N, ny, nx), float32.
    """
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"stack: expected a (N, ny, nx) array, got shape {stack.shape}")
    if half_width < 1:
        raise ValueError(f"half_width: expected >= 1, got {half_width}")
    n, ny, nx = stack.shape
    ff = np.ones(n) if flux_factors is None else np.asarray(flux_factors, float).reshape(n)
    est_scale = MEDIAN_EFFICIENCY / np.sqrt(2 * min(half_width, nx - 1) * n)
    noise = (gain, rnoise, est_scale, half_width, threads)
    if offsets is not None:
        offsets = np.asarray(offsets, float).reshape(n, 2)
    # the aligned copy (offsets) lives only while the plane is estimated
    plane = _plane(stack if offsets is None else align(stack, offsets), ff, noise)
    value, sigma = _values(plane, stack, ff, offsets, noise)
    if offset_exposures(offsets):
        # again, with the cosmic rays replaced before the alignment spreads them
        plane = _plane(align(stack, offsets, replace=(value, sigma, K_RAYS)), ff, noise)
        value = sigma = None  # released before the new ones are made
        value, sigma = _values(plane, stack, ff, offsets, noise)
    expected = ExpectedSignal(value, sigma, gain, None, rnoise, est_scale)
    alike = np.empty((ny, nx), dtype=bool)
    raised = np.empty((ny, nx), dtype=bool)  # two exposures or more not clean

    def compare(rows: slice) -> None:
        part = expected.rows(rows)
        sig = part.sigmas()  # once for both
        alike[rows] = _alike(stack[:, rows], part, sig)
        raised[rows] = exposures_above(stack[:, rows], part, (), sig)[1] <= n - 2

    for_each_block(compare, row_blocks(ny, CHUNK_ROWS), threads)
    z_at = partial(expected.z_at, stack)
    clear_beside_rays(z_at, alike, raised, k_clean=K_CLEAN)  # triple hits are not hot pixels
    return ExpectedSignal(value, sigma, gain, alike, rnoise, est_scale)


def raised_in(stack: np.ndarray, expected: ExpectedSignal, *, k: float, needed: int) -> np.ndarray:
    """Pixels where at least ``needed`` exposures exceed expectation + ``k`` sigma.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    expected : ExpectedSignal
        From :func:`estimate_expected` on the same stack.
    k : float
        Threshold in sigma, a normal-tail level: raised by the photon noise's
        skewness (:func:`~megara_crplugin._tails.skewed_threshold`).
    needed : int
        Number of exposures that must exceed it (1..N).

    Unless the other ``N - needed`` exposures (at least one) are clean, within
    :data:`K_CLEAN` sigma of their expectation, the values must differ by
    :data:`K_ALIKE` sigma or more: a pixel raised alike in every exposure is
    a hot pixel or structure the estimate misses, not cosmic rays (whose
    amplitudes differ).

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True = cosmic ray (raised in ``needed`` exposures or more).
    """
    return _raised(stack, expected, (k,), needed)[0]


def _raised(stack, expected: ExpectedSignal, ks: tuple[float, ...], needed: int) -> list:
    """:func:`raised_in` for several thresholds ``ks`` in one pass over the exposures."""
    n = stack.shape[0]
    if not 1 <= needed <= n:
        raise ValueError(f"needed: expected 1..{n}, got {needed}")
    sigma = expected.sigmas()
    counts, clean = exposures_above(stack, expected, ks, sigma)
    # cosmic rays in `needed` exposures leave the others clean; raised alike in
    # (nearly) every exposure is a hot pixel or structure the estimate misses
    not_hit = (clean < max(n - needed, 1)) & _alike(stack, expected, sigma)
    return [(count >= needed) & ~not_hit for count in counts]


def exposures_above(stack, expected: ExpectedSignal, ks, sigma=None) -> tuple[list, np.ndarray]:
    """How many exposures lie above ``E + k' sigma`` for each ``k`` of ``ks``; how many are clean.

    Returns the counts (uint8, one (ny, nx) array per ``k``; ``k'`` its
    normal-tail level) and the number of exposures within :data:`K_CLEAN`
    sigma of their expectation.
    """
    counts = [np.zeros(stack.shape[1:], np.uint8) for _ in ks]
    clean = np.zeros(stack.shape[1:], np.uint8)
    sigma = expected.sigmas() if sigma is None else sigma
    for i in range(stack.shape[0]):
        z = (stack[i] - expected.value[i]) / sigma[i]
        skew = skewness(expected.value[i], sigma[i], expected.gain)
        for count, k in zip(counts, ks, strict=True):
            count += z > level(k, skew)
        clean += z <= K_CLEAN
    return counts, clean


def _alike(stack: np.ndarray, expected: ExpectedSignal, sigma=None) -> np.ndarray:
    """The N - 1 lowest values spread by less than K_ALIKE sigma of their own level.

    The highest value is left out: a cosmic ray on a hot pixel does not make
    the hot pixel a cosmic ray in the median.  Taken from ``expected.alike``
    when :func:`estimate_expected` computed it.
    """
    if expected.alike is not None:
        return expected.alike
    n = stack.shape[0]
    low = order_statistics(list(stack), tuple(range(n - 1))) if n > 2 else list(stack)
    lo, hi = low[0], low[-1]
    total = low[0].copy()
    for v in low[1:]:  # summed in order, as np.mean along axis 0 does
        total += v
    excess = np.maximum(total / len(low) - expected.value.mean(axis=0), 0)
    sigma = expected.sigmas() if sigma is None else sigma
    sig = np.sqrt(sigma.mean(axis=0) ** 2 + excess / expected.gain)
    return hi - lo < K_ALIKE * sig


def median_flags(stack: np.ndarray, expected: ExpectedSignal, *, k: float) -> np.ndarray:
    """MEDIANCR test: the median is raised (``N // 2 + 1`` values above ``k`` sigma).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    expected : ExpectedSignal
        From :func:`estimate_expected`.
    k : float
        Threshold in sigma.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True = the median is raised by cosmic rays.
    """
    return raised_in(stack, expected, k=k, needed=stack.shape[0] // 2 + 1)


#: Threshold (sigma) a boundary detection must also pass against the expected signal.
K_CONFIRM = 4.0


#: Level (sigma) above which an exposure is not clean: when none is, it is not a cosmic ray.
K_CLEAN = 3.0
#: Spread (sigma) below which values raised in every exposure are alike (not cosmic rays).
K_ALIKE = 5.0
#: Threshold (sigma) of a single exposure above its expected signal (CRMASKi, MEANCRT).
K_SINGLE = 6.0


def mediancr_mm_flags(
    stack: np.ndarray,
    expected: ExpectedSignal,
    flag_mm: np.ndarray,
    *,
    k: float,
    cleanable: np.ndarray | None = None,
) -> np.ndarray:
    """M.M. flags of MEDIANCR with the expected-signal test (``mm_expected_sigma``).

    A pixel is flagged when its median exceeds the expected signal by ``k``
    sigma (:func:`median_flags`), or when the M.M. boundary flags it and the
    median exceeds the expected signal by :data:`K_CONFIRM` sigma (a boundary
    detection made only of a low minimum is noise, not a cosmic ray).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    expected : ExpectedSignal
        From :func:`estimate_expected` on the same stack.
    flag_mm : ndarray of bool, shape (ny, nx)
        Boundary detections (True = cosmic ray).
    k : float
        Detection threshold (sigma).
    cleanable : ndarray of bool, optional
        Pixels that may be flagged.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True = cosmic ray in the median.
    """
    flagged, confirming = _raised(stack, expected, (k, K_CONFIRM), stack.shape[0] // 2 + 1)
    out = flagged | (flag_mm & confirming)
    return out & cleanable if cleanable is not None else out


def frame_flags(
    stack: np.ndarray, expected: ExpectedSignal, i: int, *, k: float = K_SINGLE
) -> np.ndarray:
    """Pixels where exposure ``i`` exceeds its expected signal by ``k`` sigma.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    expected : ExpectedSignal
        From :func:`estimate_expected` on the same stack.
    i : int
        Exposure index (0-based).
    k : float, optional
        Threshold (sigma).

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True = cosmic ray in exposure ``i`` (only where most exposures are
        within :data:`K_CLEAN` sigma of their expectation).
    """
    n = stack.shape[0]
    sigma = expected.sigmas()
    raised = stack[i] > expected.value[i] + k * sigma[i]
    clean = np.zeros(raised.shape, np.uint8)
    for j in range(n):
        clean += stack[j] <= expected.value[j] + K_CLEAN * sigma[j]
    return raised & ((clean >= n - n // 2) | ~_alike(stack, expected, sigma))
