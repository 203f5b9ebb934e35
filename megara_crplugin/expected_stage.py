"""The expected-signal tests as hooks of the pipeline's target stages (``mm_expected_sigma``).

:func:`expected_signal` estimates the expected signal of every exposure once
per run; :func:`median_hook` and :func:`frame_hook` turn the per-pixel tests of
:mod:`megara_crplugin.expected` into the ``more_mm`` hooks of
:func:`~megara_crplugin.targets.mediancr_stage` and
:func:`~megara_crplugin.targets.exposure_tasks`; :func:`aux_confirmation`
keeps MEDIANCR's Aux detections that :func:`confirmed` supports.  Every test
is per pixel: it runs a block of rows at a time (bounded temporaries), in
``jobs`` threads, without changing a flag.  Mask polarity: True = cosmic ray.  Units: ADU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._blockstats import by_row_blocks
from ._threads import cores
from .expected import (
    K_CONFIRM,
    ExpectedSignal,
    estimate_expected,
    exposures_above,
    frame_flags,
    mediancr_mm_flags,
)

__all__ = ["aux_confirmation", "confirmed", "expected_signal", "frame_hook", "median_hook"]

Hook = Callable[[np.ndarray], np.ndarray] | None


def expected_signal(cfg, stack, noise, ff, offsets) -> ExpectedSignal | None:
    """Expected signal from the neighbours, or None when the test is off.

    Parameters
    ----------
    cfg : CRConfig
        Uses ``crmethod``, ``mm_expected_sigma``, ``apply_flux_factor_to`` and ``jobs``.
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    noise : NoiseModel
        Gain (e-/ADU) and read noise (ADU).
    ff : ndarray, shape (N,)
        Flux factors.
    offsets : ndarray (N, 2) or None
        ``(dx, dy)`` of each exposure (px).
    """
    if not cfg.uses_mm or cfg.mm_expected_sigma is None:
        return None
    return estimate_expected(
        stack,
        gain=noise.gain,
        rnoise=noise.rnoise,
        flux_factors=ff if cfg.apply_flux_factor_to == "simulated" else None,
        offsets=offsets,
        threads=cores(cfg.jobs),
    )


def median_hook(cfg, expected: ExpectedSignal | None, stack, allowed) -> Hook:
    """The MEDIANCR test (:func:`~.expected.mediancr_mm_flags`) as a hook (None when off).

    ``allowed`` (bool): pixels that may be flagged.
    """
    if expected is None:
        return None
    k = cfg.mm_expected_sigma
    return lambda flag_mm: by_row_blocks(
        lambda sl: mediancr_mm_flags(
            stack[:, sl], expected.rows(sl), flag_mm[sl], k=k, cleanable=allowed[sl]
        ),
        flag_mm.shape,
        cores(cfg.jobs),
    )


def frame_hook(cfg, expected: ExpectedSignal | None, stack, i: int, allowed) -> Hook:
    """Adds the single hits of exposure ``i`` above the expected signal (None when off)."""
    if expected is None:
        return None
    threads = cores(cfg.jobs)

    def flags(sl: slice) -> np.ndarray:
        return frame_flags(stack[:, sl], expected.rows(sl), i) & allowed[sl]

    return lambda flag_mm: flag_mm | by_row_blocks(flags, allowed.shape, threads)


def confirmed(stack, expected: ExpectedSignal, *, k: float = K_CONFIRM) -> np.ndarray:
    """Pixels where ``N // 2 + 1`` exposures lie ``k`` sigma above their expected signal.

    The count only (no "alike" rule): it confirms Aux detections that the
    corroboration has already tested against hot pixels (median - min).

    Parameters
    ----------
    stack : ndarray, shape (N, ny, nx)
        Bias-free exposures (ADU).
    expected : ExpectedSignal
        From :func:`~.expected.estimate_expected` on the same stack.
    k : float, optional
        Threshold (sigma), a normal-tail level raised by the photon noise's skewness.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True = the median is raised above its expected signal (cosmic rays).
    """
    (count,), _ = exposures_above(stack, expected, (k,))
    return count >= stack.shape[0] // 2 + 1


def aux_confirmation(cfg, expected: ExpectedSignal | None, stack) -> Hook:
    """MEDIANCR's Aux detections kept only where :func:`confirmed` (None when the test is off).

    An Aux detector on ``median2d`` also fires on what the median itself
    carries without cosmic rays: offset exposures' steep fibre flanks, sharp
    structure; a median raised by cosmic rays lies above its expected signal
    in ``N // 2 + 1`` exposures.
    """
    if expected is None:
        return None
    threads = cores(cfg.jobs)
    return lambda flag_aux: (
        flag_aux
        & by_row_blocks(
            lambda sl: confirmed(stack[:, sl], expected.rows(sl)), flag_aux.shape, threads
        )
    )
