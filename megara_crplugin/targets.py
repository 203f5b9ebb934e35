"""Detection stages of the targets: MEDIANCR, the exposures, MEANCRT, CRMASKi, MEANCR.

Each stage takes arrays (the run-wide ones through one frozen
:class:`TargetInputs`) and returns :class:`~megara_crplugin.result.TargetDetection`
objects.  Nothing here reads files, draws, or asks the operator: the pipeline
(:func:`megara_crplugin.pipeline.compute_crmasks`) calls the stages in order and
the reports and the interactive review receive their results.

For every target the flags are made the same way (:func:`detections`):

1. M.M.Cosmic flags: above the target's boundary, above ``mm_threshold``
   (:func:`~megara_crplugin.masks.mm_flags`), plus the expected-signal test
   (``mm_expected_sigma``) when it is on;
2. Aux.Cosmic flags corroborated by M.M. evidence (``mm_aux_corroboration``);
3. features that are flux changes removed (``flux_change_rejection``).

Mask polarity everywhere: True = cosmic ray.  Units: ADU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from threading import Lock
from typing import Any

import numpy as np

from ._excess import less, normalised_excess
from ._threads import cores
from .boundary import shared_threshold
from .config import CRConfig
from .corroborate import corroborate
from .fluxchange import alike_at, filter_target
from .inputs import NoiseModel
from .masks import feature_table, mm_flags, target_detection
from .result import Feature, StackStatistics, TargetDetection

__all__ = [
    "Normalised",
    "TargetInputs",
    "collect",
    "crmask_stage",
    "detections",
    "exposure_stage",
    "exposure_tasks",
    "meancr_stage",
    "meancrt_stage",
    "mediancr_stage",
    "target_inputs",
]

#: ``more_mm(flag_mm) -> flag_mm``: extra M.M. flags of a target (expected-signal test).
MoreFlags = Callable[[np.ndarray], np.ndarray] | None


@dataclass(frozen=True)
class TargetInputs:
    """Run-wide inputs of the target stages (built once by :func:`target_inputs`).

    Attributes
    ----------
    cfg : CRConfig
        The validated parameters.
    noise : NoiseModel
        Gain (e-/ADU) and read noise (ADU).
    stats : StackStatistics
        min2d, median2d, mean2d, max2d of the stack (ADU).
    allowed : ndarray of bool
        Pixels that may be flagged (not skipped, ignored, replaced, nor a defect).
    forced : ndarray of bool
        Pixels flagged by the operator (``pixels_to_be_flagged_as_cr``).
    threshold : float
        The derived ``mm_threshold`` (ADU).
    boundary : callable or None
        Detection boundary of the median diagram (None for Aux-only methods).
    secondary : mapping
        Boundaries of the other diagrams (``'mean'``, ``'frame'``) and the
        corroboration levels (``'corroboration'``).
    all_aux : ndarray of bool or None
        Aux detections present in every exposure (defects out), None without
        an Aux detector.
    alike : callable or None
        Warm-pixel signature ``alike(ys, xs)`` at those pixels
        (:func:`~megara_crplugin.fluxchange.alike_at`), None when the
        flux-change rejection is off.
    flux_changes : dict
        Features rejected as flux changes per target; filled by the stages.
    profile : LowerOf or None
        ``min(min2d, expected signal from the neighbours)`` (ADU, read at
        pixels: ``profile[ys, xs]``), the
        flux-change profile at the detections: the neighbours do not contain
        the pixel itself, so a cosmic ray over a noise peak of ``min2d`` is not
        "explained" as a scaled copy of that peak; elsewhere the profile is
        ``min2d``.  None (no expected signal): ``min2d`` everywhere.
    normalised : Normalised or None
        Statistics of the flux-normalised stack: the flux-change tests of
        MEDIANCR and CRMASKi use them when the flux factors differ from 1 and
        the stack is not rescaled (``apply_flux_factor_to: simulated``), so
        that the known global factors are not taken for a flux change of
        every feature.  None otherwise.
    offsets_excess : callable or None
        With offset exposures: ``excess(ys, xs)``, the expected signal of the
        exposure(s) giving ``median2d`` less that of the one giving ``min2d``
        (ADU; flux-normalised when ``normalised`` is), the excess the offsets
        alone give on steep profiles.  MEDIANCR's flux-change test reads the
        excess less this.  None without offsets.
    frame_offsets_excess : callable or None
        With offset exposures: ``frame_offsets_excess(i)`` is ``excess(ys, xs)``,
        exposure ``i``'s expected signal less that of the exposure giving ``min2d``
        (ADU; flux-normalised when ``normalised`` is): what the offsets alone add
        to ``exposure - min2d``.  CRMASKi's flux-change test reads its excess
        less this.  None without offsets.
    """

    cfg: CRConfig
    noise: NoiseModel
    stats: StackStatistics
    allowed: np.ndarray
    forced: np.ndarray
    threshold: float
    boundary: Callable[[np.ndarray], np.ndarray] | None
    secondary: Mapping[str, Any]
    all_aux: np.ndarray | None
    alike: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    flux_changes: dict[str, int] = field(default_factory=dict)
    profile: Any = None
    normalised: Normalised | None = None
    offsets_excess: Callable | None = None
    frame_offsets_excess: Callable[[int], Callable] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx)."""
        return self.allowed.shape


@dataclass(frozen=True)
class Normalised:
    """The flux-normalised stack's statistics for the flux-change tests (ADU, flux factor 1).

    Attributes
    ----------
    low, median : ndarray (ny, nx)
        ``min2d`` and ``median2d`` of the exposures divided by their flux factors
        (``median`` None once MEDIANCR is done: the exposures do not use it).
    profile : LowerOf or None
        ``min(low, expected signal / flux factor)``, read at pixels (see
        ``TargetInputs.profile``).
    alike : ndarray of bool or None
        Warm-pixel signature from the normalised values.
    flux_factors : ndarray (N,)
        The factors divided out.
    """

    low: np.ndarray
    median: np.ndarray | None
    profile: Any
    alike: np.ndarray | None
    flux_factors: np.ndarray


def target_inputs(
    cfg: CRConfig,
    noise: NoiseModel,
    stats: StackStatistics,
    *,
    allowed: np.ndarray,
    forced: np.ndarray,
    boundary,
    secondary: Mapping[str, Any],
    aux_frames: Sequence[np.ndarray] | None,
) -> TargetInputs:
    """Build the :class:`TargetInputs` of a run.

    ``aux_frames`` are the Aux detections of each exposure (None without an
    Aux detector); their intersection (defects out) is kept: a pixel hit in
    every exposure stays masked in MEANCRT and every CRMASKi (defect 24).
    """
    all_aux = None
    if aux_frames is not None:
        all_aux = np.logical_and.reduce(aux_frames) & allowed
    return TargetInputs(
        cfg=cfg,
        noise=noise,
        stats=stats,
        allowed=allowed,
        forced=forced,
        threshold=cfg.threshold(noise.rnoise_scalar),
        boundary=boundary,
        secondary=secondary,
        all_aux=all_aux,
        alike=(
            alike_at(stats.median2d, stats.max2d, noise.gain, noise.rnoise)
            if cfg.flux_change_rejection
            else None
        ),
    )


def detections(
    ti: TargetInputs,
    y: np.ndarray,
    aux: np.ndarray,
    *,
    per_frame: bool = False,
    bnd=None,
    level: str = "median",
    name: str = "MEDIANCR",
    more_mm: MoreFlags = None,
    confirm_aux: MoreFlags = None,
    normalised_excess=None,
    settled: np.ndarray | None = None,
    bound_at_x: np.ndarray | None = None,
    one_at_a_time: AbstractContextManager | None = None,
    offsets_excess: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(flag_aux, flag_mm) of one target: corroborated Aux, M.M. flags, flux changes out.

    Parameters
    ----------
    ti : TargetInputs
        Run-wide inputs.
    y : ndarray
        Ordinate of the target's diagram, target - min2d (ADU).
    aux : ndarray of bool
        Aux detections on the target.
    per_frame : bool, optional
        True for an exposure (pixels Aux flags in every exposure are kept).
    bnd : callable, optional
        The target's boundary (default: the median's).
    level : {'median', 'mean', 'frame'}
        Which corroboration level applies.
    name : str
        Target name (counts of flux changes, exemption of MEDIANCR from defect 24).
    more_mm : callable, optional
        Extra M.M. flags (the expected-signal test).
    confirm_aux : callable, optional
        ``confirm_aux(flag_aux)``: the Aux detections that the expected-signal
        test confirms (MEDIANCR).
    normalised_excess : ndarray or callable, optional
        The target's excess over ``ti.normalised.low`` in the flux-normalised
        stack (ADU; or ``excess(ys, xs)`` at those pixels): the flux-change
        test then works there.
    settled : ndarray of bool, optional
        Pixels that end in the target's mask whatever the flux-change test
        says (MEANCRT: the exposures' M.M. detections): features wholly
        inside are not tested.
    bound_at_x : ndarray of float32, optional
        The boundary at ``min2d`` (:func:`~megara_crplugin.boundary.float32_threshold`),
        computed once for the targets that share it.
    one_at_a_time : context manager, optional
        Held around the flux-change test (a lock shared by the exposures
        tested in threads: one test's temporaries at a time).
    offsets_excess : callable, optional
        ``excess(ys, xs)`` the offsets alone give (ADU,
        ``TargetInputs.offsets_excess`` or ``frame_offsets_excess(i)``): the
        flux-change test reads the target's excess less this.

    Returns
    -------
    flag_aux, flag_mm : ndarray of bool
        True = cosmic ray.
    """
    cfg, stats, allowed = ti.cfg, ti.stats, ti.allowed
    if not cfg.uses_mm:
        flags = aux & allowed, np.zeros(ti.shape, dtype=bool)
    else:
        flag_mm = mm_flags(
            stats.min2d,
            y,
            boundary=ti.boundary if bnd is None else bnd,
            threshold=ti.threshold,
            max2d=stats.max2d,
            min_max2d=cfg.mm_minimum_max2d_rnoise * np.asarray(ti.noise.rnoise, dtype=np.float32),
            mm_dilation=cfg.mm_dilation,
            cleanable=allowed,
            bound_at_x=bound_at_x,
        )
        if more_mm is not None:
            flag_mm = more_mm(flag_mm)
        also = ti.all_aux if per_frame or level == "mean" else None
        levels = ti.secondary.get("corroboration") or {}
        flag_aux = corroborate(
            aux & allowed,
            stats.min2d,
            y,
            level=levels.get(level),
            threshold=ti.threshold,
            also=also,
        )
        if confirm_aux is not None:
            flag_aux = confirm_aux(flag_aux)
        flags = flag_aux, flag_mm
    # hit in every exposure: stays in MEANCRT and CRMASKi (defect 24)
    every = ti.all_aux if name != "MEDIANCR" and ti.all_aux is not None else 0
    keep = ti.forced & allowed | every
    # at the detections the profile is no higher than the neighbours say (ti.profile)
    low, excess, profile, alike = stats.min2d, y, ti.profile, ti.alike
    if normalised_excess is not None:  # the known flux factors divided out
        norm = ti.normalised
        low, excess, profile, alike = norm.low, normalised_excess, norm.profile, norm.alike
    if offsets_excess is not None:  # not a flux change; read at the tested pixels only
        excess = less(excess, offsets_excess)
    with one_at_a_time or nullcontext():
        return filter_target(
            cfg, ti.noise, low, flags, excess, keep, ti.flux_changes, name, alike, profile, settled
        )


def mediancr_stage(
    ti: TargetInputs,
    aux_med: np.ndarray,
    more_mm: MoreFlags = None,
    bound_at_x=None,
    confirm_aux: MoreFlags = None,
) -> tuple[TargetDetection, list[Feature]]:
    """MEDIANCR (pixels hit in >= 2 exposures) and its features, most certain first.

    ``bound_at_x``: the median's boundary at ``min2d`` if already computed
    (:func:`~megara_crplugin.boundary.float32_threshold`); ``confirm_aux``:
    the Aux detections kept (:func:`~megara_crplugin.expected_stage.aux_confirmation`).
    """
    y_med = ti.stats.median2d - ti.stats.min2d
    norm = ti.normalised
    flag_aux, flag_mm = detections(
        ti,
        y_med,
        aux_med,
        more_mm=more_mm,
        confirm_aux=confirm_aux,
        normalised_excess=None if norm is None else norm.median - norm.low,
        bound_at_x=bound_at_x,
        offsets_excess=ti.offsets_excess,
    )
    mediancr = target_detection(
        "MEDIANCR",
        ti.stats.median2d,
        flag_aux=flag_aux,
        flag_mm=flag_mm,
        forced=ti.forced & ti.allowed,
        dilation=ti.cfg.dilation,
        allowed=ti.allowed | ti.forced,
    )
    features = feature_table(mediancr.mask, mediancr.code, ti.stats.min2d, y_med, ti.boundary)
    return mediancr, features


def exposure_tasks(
    ti: TargetInputs,
    stack: np.ndarray,
    aux_frames: Sequence[np.ndarray],
    more_mm_of: Callable[[int], MoreFlags],
    threads: int = 1,
) -> list[Callable[[], tuple[np.ndarray, np.ndarray]]]:
    """One call per exposure, each returning its (flag_aux, flag_mm) (diagram: exposure - min2d).

    The calls may run in threads, in any order: their flux-change tests,
    which hold the largest temporaries, run one at a time, and each
    exposure's flags are the same however they run.  ``threads``: for the
    frames' boundary at ``min2d``, computed here once for all exposures.
    """
    frame_bnd = ti.secondary["frame"]
    bound = shared_threshold(frame_bnd, ti.stats.min2d, threads) if ti.cfg.uses_mm else None
    one_at_a_time = Lock()
    offsets = ti.frame_offsets_excess

    def exposure(i: int) -> tuple[np.ndarray, np.ndarray]:
        return detections(
            ti,
            stack[i] - ti.stats.min2d,
            aux_frames[i],
            per_frame=True,
            bnd=frame_bnd,
            level="frame",
            name=f"CRMASK{i + 1}",
            more_mm=more_mm_of(i),
            normalised_excess=normalised_excess(ti.normalised, stack, i),
            bound_at_x=bound,
            one_at_a_time=one_at_a_time,
            offsets_excess=None if offsets is None else offsets(i),
        )

    return [partial(exposure, i) for i in range(len(stack))]


def exposure_stage(
    ti: TargetInputs,
    stack: np.ndarray,
    aux_frames: Sequence[np.ndarray],
    more_mm_of: Callable[[int], MoreFlags],
    advance: Callable[[int], Any] = lambda k: None,
    threads: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(flag_aux, flag_mm) of every exposure, in ``threads`` threads (:func:`exposure_tasks`)."""
    tasks = exposure_tasks(ti, stack, aux_frames, more_mm_of, threads)
    with ThreadPoolExecutor(max(1, min(threads, len(tasks)))) as pool:
        return collect([pool.submit(task) for task in tasks], advance)


def collect(futures: Sequence[Future], advance: Callable[[int], Any] = lambda k: None) -> list:
    """The futures' results in order, ``advance(1)`` after each (its exception raised here)."""
    results = []
    for future in futures:
        results.append(future.result())
        advance(1)
    return results


def meancrt_stage(
    ti: TargetInputs,
    aux_mean: np.ndarray,
    per_frame: Sequence[tuple[np.ndarray, np.ndarray]],
    mediancr_mask: np.ndarray,
) -> TargetDetection:
    """MEANCRT: the mean's detections, the exposures' M.M. detections, and MEDIANCR."""
    stats = ti.stats
    # a cosmic ray M.M.Cosmic finds in one exposure is a cosmic ray of the mean
    frames_mm = np.logical_or.reduce([fm for _, fm in per_frame])
    bnd = ti.secondary["mean"]
    flag_aux, flag_mm = detections(
        ti,
        stats.mean2d - stats.min2d,
        aux_mean,
        bnd=bnd,
        level="mean",
        name="MEANCRT",
        settled=frames_mm,  # in MEANCRT anyway: no flux-change test needed there
        bound_at_x=shared_threshold(bnd, stats.min2d, cores(ti.cfg.jobs)),  # None without M.M.
    )
    return target_detection(
        "MEANCRT",
        stats.mean2d,
        flag_aux=flag_aux,
        flag_mm=flag_mm | frames_mm,
        forced=ti.forced & ti.allowed,
        dilation=ti.cfg.dilation,
        include=mediancr_mask,
        allowed=ti.allowed | ti.forced,
    )


def crmask_stage(
    ti: TargetInputs,
    stack: np.ndarray,
    per_frame: Sequence[tuple[np.ndarray, np.ndarray]],
    meancrt_mask: np.ndarray,
) -> dict[str, TargetDetection]:
    """CRMASK1..N, each restricted to MEANCRT (so CRMASKi is a subset of MEANCRT).

    Pixels forced by the operator are masked in the ``mm_cr_coincidences``
    brightest exposures.
    """
    n = len(stack)
    forced_in = ti.forced & ti.allowed
    order = np.argsort(stack[:, forced_in], axis=0) if forced_in.any() else None
    out = {}
    for i, (flag_aux, flag_mm) in enumerate(per_frame):
        top = np.zeros(ti.shape, dtype=bool)
        if order is not None:
            top[forced_in] = (order[n - ti.cfg.mm_cr_coincidences :] == i).any(axis=0)
        out[f"CRMASK{i + 1}"] = target_detection(
            f"CRMASK{i + 1}",
            stack[i],
            flag_aux=flag_aux,
            flag_mm=flag_mm,
            forced=forced_in & top,
            dilation=ti.cfg.dilation,
            within=meancrt_mask,
            allowed=ti.allowed | ti.forced,
        )
    return out


def meancr_stage(
    ti: TargetInputs, meancr_img: np.ndarray, aux_meancr: np.ndarray
) -> TargetDetection:
    """MEANCR: the Aux detections left on the masked mean (no dilation: defect 1)."""
    empty = np.zeros(ti.shape, dtype=bool)
    return target_detection(
        "MEANCR",
        meancr_img,
        flag_aux=aux_meancr & ti.allowed,
        flag_mm=empty,
        allowed=ti.allowed,
    )
