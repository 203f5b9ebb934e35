"""Run a single-image detector only around the cosmic-ray candidates of a stack.

With N >= 3 equivalent exposures the candidates are almost free: a pixel of
exposure i, or of the median, lying ``nsigma`` noise sigmas above the minimum
of the stack (above the minimum rather than the median of the others, so that a
pixel hit in two exposures stays a candidate in both).  :func:`detect_near`
runs the whole detector (both passes) on windows around those candidates,
through :func:`._windows.second_pass_windowed`, with a margin equal to the
detector's dependency radius, so that every detector feature (8-connected)
touching a candidate is the one the full-frame call gives.  Features that
touch no candidate (single-image false positives on sharp sky/fibre
structure, or cosmic rays below ``nsigma``) are not returned: that is the
whole difference with a full-frame call (docs/performance.md).

Units: images in ADU, gain in e-/ADU, read noise in ADU.  Mask polarity:
True = cosmic ray (or candidate).
"""

from __future__ import annotations

import numpy as np

from ._windows import second_pass_windowed

#: Default candidate threshold (noise sigmas above the median / minimum).
NSIGMA = 5.0


def stack_candidates(
    stack: np.ndarray,
    median2d: np.ndarray,
    min2d: np.ndarray,
    *,
    gain: float,
    rnoise: float,
    nsigma: float = NSIGMA,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Candidate pixels for the median, the mean and every exposure.

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-subtracted, flux-rescaled exposures (ADU).
    median2d, min2d : ndarray, shape (ny, nx)
        Median and minimum of the stack (ADU).
    gain : float
        Gain (e-/ADU).
    rnoise : float
        Read noise (ADU).
    nsigma : float, optional
        Threshold in noise sigmas, ``sqrt(rnoise**2 + max(median2d, 0) / gain)``.

    Returns
    -------
    median : ndarray of bool
        ``median2d - min2d > nsigma * sigma``.
    mean : ndarray of bool
        Union of the exposure candidates (a cosmic ray in the mean comes from one exposure).
    frames : list of ndarray of bool
        ``stack[i] - min2d > nsigma * sigma`` for each exposure.
    """
    limit = np.maximum(median2d, 0.0, dtype=np.float32)
    limit /= np.float32(gain)
    limit += np.float32(rnoise) ** 2
    np.sqrt(limit, out=limit)
    limit *= np.float32(nsigma)
    floor = min2d + limit
    frames = [np.greater(frame, floor) for frame in stack]
    median = np.greater(median2d, floor)
    mean = np.logical_or.reduce(frames) if frames else np.zeros(median.shape, dtype=bool)
    return median, mean, frames


def detector_margin(detector) -> int:
    """Dependency radius (pixels) of one whole ``detector.detect`` call.

    Uses the radius the adapters already declare for their windowed second
    pass (``margin`` for L.A.Cosmic, ``configs[i].margin`` for PyCosmic), plus
    2 pixels for the 3x3 growth of the merge; ``None`` when the detector does
    not declare one (then it cannot be windowed).
    """
    if hasattr(detector, "configs"):
        return max(c.margin for c in detector.configs) + 2
    margin = getattr(detector, "margin", None)
    return None if margin is None else int(margin) + 2


def detect_near(
    detector,
    image: np.ndarray,
    candidates: np.ndarray,
    *,
    gain: float,
    rnoise: float,
    margin: int,
    max_fraction: float = 0.6,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Detector features touching ``candidates``, computed on windows only.

    Parameters
    ----------
    detector : Detector
        A built detector whose result at a pixel depends only on the input
        within ``margin`` pixels.
    image : ndarray, shape (ny, nx)
        Bias-subtracted image (ADU).
    candidates : ndarray of bool, shape (ny, nx)
        Pixels around which the detector must run (True = candidate).
    gain, rnoise : float
        Gain (e-/ADU) and read noise (ADU).
    margin : int
        Dependency radius of ``detector.detect`` (pixels), see :func:`detector_margin`.
    max_fraction : float, optional
        Above this window/image area ratio the full frame is processed.

    Returns
    -------
    mask : ndarray of bool
        Every 8-connected feature of the full-frame mask that touches a
        candidate, and nothing else (True = cosmic ray).
    cleaned : ndarray or None
        The input (as float32/float64) with the full-frame cleaned values at
        ``mask``; None when the detector does not clean.
    """
    image = np.asarray(image)
    if not candidates.any():
        cleaned = np.array(image, dtype=np.result_type(image.dtype, np.float32))
        return np.zeros(image.shape, dtype=bool), (cleaned if detector.provides_cleaned else None)

    def run(window):
        det = detector.detect(window, gain=gain, rnoise=rnoise)
        return np.asarray(det.mask, dtype=bool), (
            det.cleaned if det.cleaned is not None else window
        )

    merged, tails, values = second_pass_windowed(
        run, (image,), candidates, margin=margin, max_fraction=max_fraction
    )
    mask = merged & tails
    if not detector.provides_cleaned:
        return mask, None
    cleaned = np.array(image, dtype=np.result_type(image.dtype, np.float32))
    cleaned[mask] = values[mask]
    return mask, cleaned
