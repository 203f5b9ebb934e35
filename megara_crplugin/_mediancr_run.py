"""MEDIANCR and the exposures' flags, from one estimate of the expected signal.

:func:`run_mediancr` estimates the expected signal of every exposure once
(``mm_expected_sigma``), runs MEDIANCR's test and, in a run that asks nothing
of the operator, starts the exposures' flags beside it in the same pool of
threads: they do not depend on MEDIANCR, so the cores MEDIANCR's serial parts
leave idle test the exposures.  MEDIANCR is submitted first, then the
exposures; the pool runs ``jobs`` of them at a time (one at a time: the
former order).  An interactive run reviews MEDIANCR before any exposure is
tested.  No flag depends on the order.  Mask polarity: True = cosmic ray;
units: ADU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ._excess import frame_offsets_excess, offsets_excess
from ._threads import cores
from .config import CRConfig
from .expected_stage import aux_confirmation, expected_signal, frame_hook, median_hook
from .fluxchange import alike_values
from .result import Feature, TargetDetection
from .stacking import normalised_statistics
from .targets import Normalised, TargetInputs, collect, exposure_tasks, mediancr_stage

__all__ = ["LowerOf", "MediancrRun", "run_mediancr"]


class LowerOf:
    """``min(low, expected signal of each exposure / its flux factor)``, read at pixels only.

    ``obj[ys, xs]`` gives the values of the full-frame image at those pixels
    (float32, ADU; exact: a minimum), which the flux-change tests read at
    their detections only: no full frame is made (nor, with flux factors,
    the N normalised frames).

    Parameters
    ----------
    low : ndarray (ny, nx)
        ``min2d`` (or the flux-normalised one), ADU.
    value : ndarray (N, ny, nx)
        :attr:`~megara_crplugin.expected.ExpectedSignal.value`, ADU.
    flux_factors : sequence of float, optional
        Each exposure's expected signal is divided by its factor first.
    """

    def __init__(self, low: np.ndarray, value: np.ndarray, flux_factors=None) -> None:
        self.low, self.value = low, value
        self.scale = None
        if flux_factors is not None:
            self.scale = np.asarray(flux_factors, np.float32).reshape(-1, 1)

    def __getitem__(self, at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        ys, xs = at
        each = self.value[:, ys, xs]
        if self.scale is not None:
            each = each / self.scale
        return np.minimum(self.low[ys, xs], each.min(axis=0))

    def compact(self) -> LowerOf:
        """The same values from one plane: the exposures' minimum, made once.

        With flux factors or offsets :attr:`value` is N frames; the later
        stages (MEANCRT, CRMASKi) need only their minimum, so the N frames
        can go.  Exact: division and minimum give the same float32 values.
        """
        if self.value.strides[0] == 0:  # one plane broadcast: nothing to free
            return self
        lowest = None
        for i, plane in enumerate(self.value):
            each = plane if self.scale is None else plane / self.scale[i, 0]
            lowest = each.copy() if lowest is None else np.minimum(lowest, each, out=lowest)
        return LowerOf(self.low, lowest[np.newaxis])


@dataclasses.dataclass
class MediancrRun:
    """MEDIANCR's result and the exposures' flags, started or still to start.

    Attributes
    ----------
    ti : TargetInputs
        The run-wide inputs with the flux-change profile and the
        flux-normalised statistics (without their median) for the next stages.
    mediancr : TargetDetection
        MEDIANCR.
    features : list of Feature
        Its features, most certain first.
    """

    ti: TargetInputs
    mediancr: TargetDetection
    features: list[Feature]
    _pool: ThreadPoolExecutor
    _tasks: list[Callable[[], Any]]
    _started: list[Future] | None = None

    def start_exposures(self) -> None:
        """Submit the exposures' calls to the pool (once)."""
        if self._started is None:
            self._started = [self._pool.submit(task) for task in self._tasks]

    def exposures(self, advance: Callable[[int], Any] = lambda k: None) -> list:
        """(flag_aux, flag_mm) of every exposure; ``advance(1)`` as each is ready."""
        self.start_exposures()
        return collect(self._started, advance)


def run_mediancr(
    ti: TargetInputs,
    stack: np.ndarray,
    ff: np.ndarray,
    offsets,
    aux: tuple[np.ndarray, list[np.ndarray]],
    bound: np.ndarray | None,
    pool: ThreadPoolExecutor,
    *,
    exposures_now: bool,
) -> MediancrRun:
    """The expected signal, then MEDIANCR (and, with ``exposures_now``, the exposures beside it).

    Parameters
    ----------
    ti : TargetInputs
        Run-wide inputs.
    stack : ndarray (N, ny, nx)
        Bias-free exposures (ADU).
    ff : ndarray (N,)
        Flux factors.
    offsets : ndarray (N, 2) or None
        Offsets of the exposures (px).
    aux : tuple
        ``(aux_med, aux_frames)``: Aux detections of the median image and of
        each exposure (bool, True = cosmic ray).
    bound : ndarray of float32 or None
        The median's boundary at ``min2d``.
    pool : ThreadPoolExecutor
        Threads of the tests, ``jobs`` of them (the caller shuts it down).
    exposures_now : bool
        Start the exposures' calls with MEDIANCR's test.
    """
    cfg, stats = ti.cfg, ti.stats
    expected = expected_signal(cfg, stack, ti.noise, ff, offsets)
    if expected is not None:  # the flux-change profile at the detections
        ti = dataclasses.replace(ti, profile=LowerOf(stats.min2d, expected.value))
    ti = dataclasses.replace(ti, normalised=_normalised(cfg, ti.noise, stack, ff, expected))
    if expected is not None and offsets is not None and cfg.flux_change_rejection:
        scale = ff if ti.normalised is not None else None
        ti = dataclasses.replace(
            ti,
            offsets_excess=offsets_excess(stack, expected.value, scale),
            frame_offsets_excess=frame_offsets_excess(stack, expected.value, scale),
        )
    # the exposures and the later stages: the normalised low, not the median; no offsets_excess
    later = dataclasses.replace(ti, offsets_excess=None)
    if ti.normalised is not None:
        later = dataclasses.replace(
            later, normalised=dataclasses.replace(ti.normalised, median=None)
        )
    hook = median_hook(cfg, expected, stack, ti.allowed)
    confirm = aux_confirmation(cfg, expected, stack)
    median = pool.submit(mediancr_stage, ti, aux[0], hook, bound, confirm)
    tasks = exposure_tasks(
        later,
        stack,
        aux[1],
        lambda i: frame_hook(cfg, expected, stack, i, ti.allowed),
        cores(cfg.jobs),
    )
    started = [pool.submit(task) for task in tasks] if exposures_now else None
    mediancr, features = median.result()
    return MediancrRun(later, mediancr, features, pool, tasks, started)


def _normalised(cfg: CRConfig, noise, stack, ff, expected) -> Normalised | None:
    """Statistics of the flux-normalised stack for the flux-change tests (see ``Normalised``).

    None unless the flux factors differ from 1 on a stack that is not rescaled
    (``apply_flux_factor_to: simulated``) and the flux-change rejection is on:
    then ``median2d - min2d`` carries the known global factors, which the test
    would take for a flux change of every feature.
    """
    if not cfg.flux_change_rejection or cfg.apply_flux_factor_to != "simulated":
        return None
    if np.allclose(ff, 1.0):
        return None
    low, median, high = normalised_statistics(stack, ff, cr_coincidences=cfg.mm_cr_coincidences)
    profile = None if expected is None else LowerOf(low, expected.value, ff)
    alike = alike_values(median, high, noise.gain, noise.rnoise)  # lets median and high go
    return Normalised(low, median, profile, alike, np.asarray(ff, float))
