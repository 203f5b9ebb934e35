"""The shared core: from N exposures to the cosmic-ray masks (no file I/O).

``compute_crmasks`` validates everything first (parameters, frames, noise,
detector availability), then runs the stages in order:

stack statistics -> Aux.Cosmic on the median and the exposures -> offsets ->
simulations and boundary (M.M.Cosmic) -> MEDIANCR and its features ->
MEANCRT -> CRMASK1..N -> MEANCR -> problematic pixels.

The command line and the numina recipes are thin shells over this function;
they add the files (``crmasks.fits``, combinations, reports).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._auxpass import aux_pass
from ._mediancr_run import run_mediancr
from ._memtrim import release_free_memory, share_one_arena
from ._threads import cores
from .alignment import measure_offsets
from .boundary import shared_threshold
from .combination import meancr_image
from .config import CRConfig, revalidate, validate_parameters
from .defects import aux_defects, load_bpm, stack_defects
from .exceptions import InputError
from .fluxfactor import estimate_flux_factors
from .guards import check_frame_values, check_geometry
from .hooks import NullProgress, NullReviewer
from .inputs import NoiseModel, check_frames, noise_model
from .masks import problematic_pixels
from .mmboundary import mm_boundary, synthetic_model
from .noisecheck import check_noise_model
from .result import CRMaskResult, StackStatistics, TargetDetection
from .stacking import build_stack, stack_statistics
from .targets import (
    crmask_stage,
    meancr_stage,
    meancrt_stage,
    target_inputs,
)

__all__ = ["compute_crmasks"]

log = logging.getLogger(__name__)


class _Context:
    """Run-wide state shared by the stages (internal)."""

    def __init__(self, cfg: CRConfig, noise: NoiseModel, progress, reviewer, frame_names):
        self.cfg = cfg
        self.noise = noise
        self.progress = progress
        self.reviewer = reviewer
        self.frame_names = frame_names
        self.timings: dict[str, float] = {}
        self.detector = None
        if cfg.aux_name is not None:
            from .detectors import get_detector  # optional back-ends imported lazily

            self.detector = get_detector(cfg.crmethod, cfg.detector_config())
        self.seed = (
            cfg.mm_seed
            if cfg.mm_seed is not None
            else int(np.random.SeedSequence().entropy % (2**63))
        )

    @contextmanager
    def phase(self, name: str, total: int | None = None):
        t0 = time.perf_counter()
        with self.progress.phase(name, total) as advance:
            yield advance
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        log.debug("%s: %.2f s", name, self.timings[name])

    def detect(self, image: np.ndarray):
        """Run the Aux detector (mask & cleaned in ADU) or return empty results."""
        if self.detector is None:
            return np.zeros(image.shape, dtype=bool), None
        det = self.detector.detect(
            image, gain=self.noise.gain_scalar, rnoise=self.noise.rnoise_scalar
        )
        return np.asarray(det.mask, dtype=bool), det.cleaned


def _cleaning_masks(cfg: CRConfig, shape) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, forced) masks from the region and pixel lists."""
    allowed = np.ones(shape, dtype=bool)
    for reg in cfg.regions_to_be_skipped:
        allowed[reg.slices] = False
    forced = np.zeros(shape, dtype=bool)
    for x, y in cfg.pixels_to_be_flagged_as_cr:
        allowed[y - 1, x - 1] = True
        forced[y - 1, x - 1] = True
    for x, y in cfg.pixels_to_be_ignored_as_cr:
        allowed[y - 1, x - 1] = False
        forced[y - 1, x - 1] = False
    for x, y, _, _ in cfg.pixels_to_be_replaced_by_local_median:
        allowed[y - 1, x - 1] = False
        forced[y - 1, x - 1] = False
    return allowed, forced


def _prepare(frames, parameters, frame_names) -> tuple[CRConfig, NoiseModel, tuple[int, int]]:
    """All up-front checks: nothing expensive happens before they pass."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = list(frames)
    if not isinstance(frames, Sequence) or isinstance(frames, (str, bytes)):
        raise InputError(f"frames: expected a sequence of 2-D arrays, got {type(frames).__name__}")
    params = parameters.as_params() if isinstance(parameters, CRConfig) else dict(parameters or {})
    n = len(frames)
    shape0 = np.shape(frames[0]) if n else None
    coinc = params.get("mm_cr_coincidences", 2)
    min_frames = coinc + 1 if isinstance(coinc, int) and coinc >= 2 else 3
    shape = check_frames(frames, names=frame_names, min_frames=min_frames)
    if isinstance(parameters, CRConfig) and parameters.n_images == n:
        # validated already (the numina recipe): only the checks that need the shape, if new
        cfg = revalidate(parameters, shape=shape or shape0)
    else:
        cfg = validate_parameters(params, n_images=n, shape=shape or shape0)
    noise = noise_model(cfg.gain, cfg.rnoise, cfg.bias, shape=shape)
    check_frame_values(frames, frame_names)
    check_geometry(cfg, shape)
    return cfg, noise, shape


def compute_crmasks(
    frames: Sequence[np.ndarray],
    parameters: Mapping[str, Any] | CRConfig | None = None,
    *,
    output_dir: str | Path | None = None,
    progress=None,
    reviewer=None,
    frame_names: Sequence[str] | None = None,
    units: str | None = None,
    release_frames: bool = False,
    on_stack: Callable[[StackStatistics, str], Any] | None = None,
    on_mediancr: Callable[[CRMaskResult], Any] | None = None,
) -> CRMaskResult:
    """Compute the cosmic-ray masks of N >= 3 equivalent exposures.

    Parameters
    ----------
    frames : sequence of ndarray (ny, nx)
        The exposures in ADU (never modified).
    parameters : mapping or CRConfig, optional
        The ``requirements`` keys (plus ``gain`` in e-/ADU, ``rnoise`` and
        ``bias`` in ADU); see ``docs/parameters.md``.  Validated up front.
    output_dir : path-like, optional
        Where the diagnostic figures and tables go (none when omitted).
    progress : megara_crplugin.hooks.Progress, optional
        Progress display.
    reviewer : megara_crplugin.hooks.Reviewer, optional
        Interactive decisions; used only when ``interactive`` is True.
    frame_names : sequence of str, optional
        Names of the frames for messages (file names).
    units : str, optional
        Unit of the frames (their ``BUNIT``) for the figure labels, kept in
        ``result.extras['bunit']``; default ``'ADU'``.
    release_frames : bool, optional
        The caller hands the list ``frames`` over: it is emptied once the
        stack is built, so that the frames' memory is freed during the
        detection (``megara-crmasks PARAMS.yaml`` does; the arrays themselves
        are never modified).  Default False: the list is left as it is.
    on_stack : callable, optional
        ``on_stack(statistics, masks_uuid)``, called once the stack and its
        statistics exist (with an Aux.Cosmic detector: once its detections
        exist, so that nothing started there adds to its workers' memory),
        before the simulations: ``megara-crmasks`` starts writing the
        combinations that need no mask there (the statistics' arrays must not
        be modified).  ``masks_uuid`` is the UUID the result will carry.
    on_mediancr : callable, optional
        ``on_mediancr(result)``, called once MEDIANCR is final (reviewed) and
        the exposures are tested, before MEANCRT: ``result`` holds MEDIANCR
        only (its arrays must not be modified); ``megara-crmasks`` starts
        writing ``combined_mediancr.fits`` there.

    Returns
    -------
    CRMaskResult
        Masks (True = cosmic ray) and everything needed to report on them.

    Raises
    ------
    megara_crplugin.config.ConfigError, megara_crplugin.exceptions.InputError
        Before any expensive work.
    megara_crplugin.exceptions.UserStop
        When the operator stops an interactive run.

    Notes
    -----
    The first call limits this process's C heap to one arena (glibc
    ``M_ARENA_MAX``, :func:`~megara_crplugin._memtrim.share_one_arena`): the
    stages' threads then reuse each other's freed temporaries.
    """
    cfg, noise, shape = _prepare(frames, parameters, frame_names)
    bpm = load_bpm(cfg.bpm, shape)
    share_one_arena()  # the stages' threads reuse each other's freed temporaries
    reviewer = reviewer if (cfg.interactive and reviewer is not None) else NullReviewer()
    ctx = _Context(cfg, noise, progress or NullProgress(), reviewer, frame_names)
    t_start = time.perf_counter()
    n = len(frames)
    extras: dict[str, Any] = {"seed": ctx.seed, "bunit": units or "ADU"}
    extras["frame_names"] = [str(n) for n in frame_names] if frame_names else []

    ff, stack, stats = _stack(ctx, frames, shape, extras, release=release_frames)
    masks_uuid = str(uuid.uuid4())
    _call(on_stack, ctx.detector is None, stats, masks_uuid)  # no detector: at once
    allowed, forced = _cleaning_masks(cfg, shape)
    with ctx.phase("defects"):
        defects = stack_defects(cfg, noise, stats, bpm)
    allowed &= ~defects.mask  # defects are never cosmic rays (issue 9)

    aux_med, auxclean, aux_mean, aux_frames, cleaned_frames = aux_pass(ctx, stats)
    if ctx.detector is not None:
        defects = aux_defects(cfg, noise, stats, defects, aux_frames)
        allowed &= ~defects.mask
    aux_med &= allowed

    offsets = _offsets(ctx, stats, cleaned_frames, extras)
    _call(on_stack, ctx.detector is not None, stats, masks_uuid)  # after its workers' memory
    histogram, boundary, secondary = _boundaries(
        ctx, stats, ff, offsets, (aux_med, defects.mask, aux_frames), cleaned_frames
    )
    del cleaned_frames  # the Aux-cleaned exposures are not needed any more
    if cfg.uses_mm:
        extras["boundaries"] = secondary

    bound = shared_threshold(boundary, stats.min2d, cores(cfg.jobs))  # noise check, MEDIANCR
    with ctx.phase("noise check"):
        noise_check = check_noise_model(cfg, noise, stats, histogram, boundary, bound, ff, offsets)
    ti = target_inputs(
        cfg,
        noise,
        stats,
        allowed=allowed,
        forced=forced,
        boundary=boundary,
        secondary=secondary,
        aux_frames=aux_frames if ctx.detector is not None else None,
    )
    with _target_threads(cfg) as pool:
        with ctx.phase("MEDIANCR"):
            run = run_mediancr(
                ti,
                stack,
                ff,
                offsets,
                (aux_med, aux_frames),
                bound,
                pool,
                exposures_now=not cfg.interactive,  # else after the operator's review
            )
        del bound
        result = CRMaskResult(
            config=cfg,
            uuid=masks_uuid,
            flux_factors=ff,
            mm_threshold=run.ti.threshold,
            stats=stats,
            targets={"MEDIANCR": run.mediancr},
            features=run.features,
            problematic=np.zeros(shape, dtype=bool),
            auxclean=auxclean,
            rpmedian=tuple(cfg.pixels_to_be_replaced_by_local_median),
            histogram=histogram,
            boundary=boundary,
            offsets=offsets,
            gain=noise.gain,
            rnoise=noise.rnoise,
            timings=ctx.timings,
            extras=extras,
            defects=defects,
            flux_changes=run.ti.flux_changes,
            noise_check=noise_check,
        )
        _review_mediancr(ctx, result, run.features)
        with ctx.phase("exposures", n) as advance:
            per_frame = run.exposures(advance)
        ti, run = run.ti, None  # the expected signal (N float32 frames) goes
    ti = _after_exposures(ti, result, on_mediancr)
    with ctx.phase("MEANCRT"):
        meancrt = meancrt_stage(ti, aux_mean, per_frame, result.targets["MEDIANCR"].mask)
        result.targets["MEANCRT"] = meancrt
    with ctx.phase("CRMASKi"):
        result.targets.update(crmask_stage(ti, stack, per_frame, meancrt.mask))
    del per_frame
    if ctx.detector is not None:  # the detector's working set comes next: free what is dead
        release_free_memory(collect=True)
    with ctx.phase("MEANCR"):
        result.targets["MEANCR"] = _meancr_target(ctx, ti, stats, result)
    result.problematic = problematic_pixels(
        [result.targets[f"CRMASK{i + 1}"].mask for i in range(n)]
    )
    _log_summary(result)
    ctx.timings["total"] = time.perf_counter() - t_start
    if output_dir is not None and cfg.reports is not None:
        from .reports import write_reports

        with ctx.phase("reports"):
            write_reports(result, Path(output_dir), progress=ctx.progress, level=cfg.reports)
    return result


def _after_exposures(ti, result: CRMaskResult, on_mediancr):
    """``ti`` without the flux-normalised statistics, freed memory returned, the hook called.

    (MEDIANCR and CRMASKi only used the normalised statistics; the flux-change
    profile keeps only the exposures' minimum of the expected signal.)
    """
    profile = ti.profile.compact() if ti.profile is not None else None
    ti = dataclasses.replace(ti, normalised=None, profile=profile)
    release_free_memory(collect=True)
    if on_mediancr is not None:
        on_mediancr(result)
    return ti


def _call(hook, when: bool, *args) -> None:
    """``hook(*args)`` if there is a hook and ``when``."""
    if hook is not None and when:
        hook(*args)


def _boundaries(ctx: _Context, stats, ff, offsets, masks, cleaned_frames):
    """Simulations and boundaries of the M.M. diagrams (None / empty without M.M.Cosmic).

    ``masks = (aux_med, defects, aux_frames)`` (bool, True = cosmic ray or
    defect): the Aux detections of the median image feed the synthetic model;
    all of them and the defects are left out of the boundary fits.
    """
    if not ctx.cfg.uses_mm:
        return None, None, {"mean": None, "frame": None}
    aux_med, defects, aux_frames = masks
    model = synthetic_model(ctx.cfg, stats, aux_med, cleaned_frames, offsets, ff)
    exclude = aux_med | defects
    for m in aux_frames:
        exclude |= m
    return mm_boundary(ctx, stats, model, exclude, shifted=offsets is not None)


def _meancr_target(ctx: _Context, ti, stats: StackStatistics, result: CRMaskResult):
    """MEANCR: the detection on the ``meancr`` image of CRMASK1..N (no VARIANCE, no MAP)."""
    crmasks = [result.targets[f"CRMASK{i + 1}"].mask for i in range(stats.n_frames)]
    image = meancr_image(stats.stack, crmasks, stats.min2d, result.rpmedian)
    return meancr_stage(ti, image, ctx.detect(image)[0])


def _stack(ctx: _Context, frames, shape, extras, *, release: bool = False):
    """Flux factors, the (rescaled) stack and its statistics (``release``: empty ``frames``)."""
    cfg, noise = ctx.cfg, ctx.noise
    n = len(frames)
    with ctx.phase("statistics"):
        ff = cfg.flux_factors(n)
        if ff is None:  # 'auto'
            raw = build_stack(frames, bias=noise.bias, dtype=cfg.dtype)
            region = None
            if cfg.flux_factor_regions:
                region = np.zeros(shape, dtype=bool)
                for reg in cfg.flux_factor_regions:
                    region[reg.slices] = True
            ff, extras["flux_factor"] = estimate_flux_factors(
                raw, region_mask=region, gain=noise.gain_median, rnoise=noise.rnoise_median
            )
            del raw
            log.info("flux factors (auto): %s", ", ".join(f"{f:.4f}" for f in ff))
        ff = np.asarray(ff, dtype=float)
        original = cfg.apply_flux_factor_to == "original"
        stack = build_stack(
            frames, bias=noise.bias, flux_factors=ff if original else None, dtype=cfg.dtype
        )
        if release and isinstance(frames, list):
            frames.clear()  # handed over by the caller: the stack replaces them
        stats = stack_statistics(
            stack, cr_coincidences=cfg.mm_cr_coincidences, threads=cores(cfg.jobs)
        )
    if cfg.mm_synthetic == "single" and cfg.uses_mm and not np.allclose(ff, 1.0):
        raise InputError(
            "mm_synthetic 'single' needs flux factors equal to 1; flux_factor 'auto' gave "
            + ", ".join(f"{f:.4f}" for f in ff)
        )
    return ff, stack, stats


@contextmanager
def _target_threads(cfg: CRConfig):
    """Threads of MEDIANCR's and the exposures' tests (``jobs``).

    After an error or an operator's stop, the exposures not yet begun are dropped.
    """
    pool = ThreadPoolExecutor(cores(cfg.jobs), thread_name_prefix="targets")
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _review_mediancr(ctx: _Context, result: CRMaskResult, features) -> None:
    """The operator's verdicts on MEDIANCR (``verify_cr``, then the review); none when not asked."""
    if ctx.cfg.verify_cr and features:
        _reject_features(result, ctx.reviewer.verify_features(result, features))
    ctx.reviewer.review_mediancr(result)


def _reject_features(result: CRMaskResult, rejected) -> None:
    """Remove the rejected features' pixels from MEDIANCR (verify_cr)."""
    if not rejected:
        return
    med = result.targets["MEDIANCR"]
    keep = []
    for f in result.features:
        if f.number in rejected:
            med.mask[f.ys, f.xs] = False
            med.code[f.ys, f.xs] = 0
        else:
            keep.append(f)
    result.features = keep
    log.info("verify_cr: %d feature(s) rejected by the operator", len(rejected))


def _offsets(ctx: _Context, stats: StackStatistics, cleaned, extras) -> np.ndarray | None:
    cfg = ctx.cfg
    if not cfg.uses_mm:
        return None
    if cfg.mm_xy_offsets is not None:
        return np.asarray(cfg.mm_xy_offsets, dtype=float)
    if cfg.mm_crosscorr_region is None:
        return None
    reg = cfg.mm_crosscorr_region
    extras["crosscorr_region"] = reg
    with ctx.phase("offsets"):
        ref = stats.median2d[reg.slices]
        # exposures the Aux detector did not clean (mmcosmic) hold their cosmic rays
        raw = any(np.may_share_memory(c, stats.stack) for c in cleaned)
        offs = measure_offsets(ref, [np.asarray(c)[reg.slices] for c in cleaned], raw=raw)
    for i, (dx, dy) in enumerate(offs, start=1):
        log.info("offset of exposure %d: dx=%+.3f dy=%+.3f pixels", i, dx, dy)
    return offs


def _log_summary(result: CRMaskResult) -> None:
    med: TargetDetection = result.targets["MEDIANCR"]
    c = med.code
    log.info(
        "MEDIANCR: %d pixels (both %d, Aux only %d, MM only %d, added %d) in %d features",
        int(med.mask.sum()),
        int((c == 4).sum()),
        int((c == 3).sum()),
        int((c == 2).sum()),
        int((c == 1).sum()),
        len(result.features),
    )
    if result.flux_changes:
        log.info(
            "features rejected as flux changes (excess = scaled local signal): %s",
            ", ".join(f"{k} {v}" for k, v in result.flux_changes.items()),
        )
    for name, t in result.targets.items():
        if name != "MEDIANCR":
            log.info("%s: %d masked pixels", name, int(t.mask.sum()))
    log.info("problematic pixels (masked in every CRMASKi): %d", int(result.problematic.sum()))
    if result.defects is not None:
        log.info(result.defects.summary())
