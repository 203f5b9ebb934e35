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

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._forkmap import fork_imap
from ._threads import limit_openmp, workers_and_threads
from .alignment import measure_offset, shift_image
from .boundary import boundary_points, fit_boundary
from .combination import combine_stack
from .config import CRConfig, validate_parameters
from .exceptions import InputError
from .fluxfactor import estimate_flux_factors
from .hooks import NullProgress, NullReviewer
from .inputs import NoiseModel, check_frames, noise_model
from .masks import feature_table, keep_features, mm_flags, problematic_pixels, target_detection
from .result import CRMaskResult, SimulatedHistogram, StackStatistics, TargetDetection
from .simulation import (
    NoiseScale,
    SyntheticModel,
    diagram_limits,
    fork_context,
    histogram2d,
    remove_isolated_bins,
    simulate_histogram,
)
from .stacking import build_stack, stack_statistics

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
    cfg = validate_parameters(params, n_images=n, shape=shape or shape0)
    noise = noise_model(cfg.gain, cfg.rnoise, cfg.bias, shape=shape)
    return cfg, noise, shape


def compute_crmasks(
    frames: Sequence[np.ndarray],
    parameters: Mapping[str, Any] | CRConfig | None = None,
    *,
    output_dir: str | Path | None = None,
    progress=None,
    reviewer=None,
    frame_names: Sequence[str] | None = None,
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
    """
    cfg, noise, shape = _prepare(frames, parameters, frame_names)
    reviewer = reviewer if (cfg.interactive and reviewer is not None) else NullReviewer()
    ctx = _Context(cfg, noise, progress or NullProgress(), reviewer, frame_names)
    if cfg.aux_name is not None:
        from .detectors import get_detector  # optional back-ends imported lazily

        ctx.detector = get_detector(cfg.crmethod, cfg.detector_params())
    t_start = time.perf_counter()
    n = len(frames)
    extras: dict[str, Any] = {"seed": ctx.seed}

    ff, stack, stats = _stack(ctx, frames, shape, extras)
    allowed, forced = _cleaning_masks(cfg, shape)
    threshold = cfg.threshold(noise.rnoise_scalar)

    aux_med, auxclean, aux_mean, aux_frames, cleaned_frames = _aux_pass(ctx, stats)
    aux_med &= allowed

    offsets = _offsets(ctx, stats, cleaned_frames, extras)
    boundary = histogram = None
    secondary = {"mean": None, "frame": None}
    if cfg.uses_mm:
        model = _synthetic_model(cfg, stats, aux_med, cleaned_frames, offsets, ff)
        exclude = aux_med.copy()
        for m in aux_frames:
            exclude |= m
        histogram, boundary, secondary = _mm_boundary(
            ctx, stats, model, exclude, shifted=offsets is not None
        )
        extras["boundaries"] = secondary

    y_med = stats.median2d - stats.min2d
    min_max2d = cfg.mm_minimum_max2d_rnoise * np.asarray(noise.rnoise, dtype=np.float32)
    mm_kwargs = dict(
        boundary=boundary,
        threshold=threshold,
        max2d=stats.max2d,
        min_max2d=min_max2d,
        mm_dilation=cfg.mm_dilation,
        cleanable=allowed,
    )
    all_aux = np.logical_and.reduce(aux_frames) if ctx.detector is not None else None

    def detections(y, aux, *, per_frame=False, bnd=boundary):
        if not cfg.uses_mm:
            return aux & allowed, np.zeros(shape, dtype=bool)
        flag_mm = mm_flags(stats.min2d, y, **{**mm_kwargs, "boundary": bnd})
        support = y > threshold
        if per_frame and all_aux is not None:
            support |= all_aux  # pixels hit in every exposure stay masked (defect 24)
        return keep_features(aux & allowed, support), flag_mm

    with ctx.phase("MEDIANCR"):
        flag_aux, flag_mm = detections(y_med, aux_med)
        mediancr = target_detection(
            "MEDIANCR",
            stats.median2d,
            flag_aux=flag_aux,
            flag_mm=flag_mm,
            forced=forced & allowed,
            dilation=cfg.dilation,
            allowed=allowed | forced,
        )
        features = feature_table(mediancr.mask, mediancr.code, stats.min2d, y_med, boundary)
    result = CRMaskResult(
        config=cfg,
        uuid=str(uuid.uuid4()),
        flux_factors=ff,
        mm_threshold=threshold,
        stats=stats,
        targets={"MEDIANCR": mediancr},
        features=features,
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
    )
    if cfg.verify_cr and features:
        rejected = ctx.reviewer.verify_features(result, features)
        _reject_features(result, rejected)
    ctx.reviewer.review_mediancr(result)

    with ctx.phase("exposures", n) as advance:
        per_frame = []
        for i in range(n):
            per_frame.append(
                detections(
                    stack[i] - stats.min2d, aux_frames[i], per_frame=True, bnd=secondary["frame"]
                )
            )
            advance(1)
        # a cosmic ray M.M.Cosmic finds in one exposure is a cosmic ray of the mean
        frames_mm = np.logical_or.reduce([fm for _, fm in per_frame])

    with ctx.phase("MEANCRT"):
        flag_aux, flag_mm = detections(stats.mean2d - stats.min2d, aux_mean, bnd=secondary["mean"])
        meancrt = target_detection(
            "MEANCRT",
            stats.mean2d,
            flag_aux=flag_aux,
            flag_mm=flag_mm | frames_mm,
            forced=forced & allowed,
            dilation=cfg.dilation,
            include=result.targets["MEDIANCR"].mask,
            allowed=allowed | forced,
        )
        result.targets["MEANCRT"] = meancrt

    with ctx.phase("CRMASKi"):
        forced_in = forced & allowed
        # forced pixels: masked in the mm_cr_coincidences brightest exposures
        order = np.argsort(stack[:, forced_in], axis=0) if forced_in.any() else None
        for i, (flag_aux, flag_mm) in enumerate(per_frame):
            top = np.zeros(shape, dtype=bool)
            if order is not None:
                top[forced_in] = (order[n - cfg.mm_cr_coincidences :] == i).any(axis=0)
            result.targets[f"CRMASK{i + 1}"] = target_detection(
                f"CRMASK{i + 1}",
                stack[i],
                flag_aux=flag_aux,
                flag_mm=flag_mm,
                forced=forced_in & top,
                dilation=cfg.dilation,
                within=meancrt.mask,
                allowed=allowed | forced,
            )
        del order

    with ctx.phase("MEANCR"):
        meancr_img = combine_stack(
            stack, "meancr", masks=result, cr_coincidences=cfg.mm_cr_coincidences
        ).data
        aux_meancr, _ = ctx.detect(meancr_img)
        empty = np.zeros(shape, dtype=bool)
        # no dilation here: the reference leaked CRMASK_N into MEANCR (defect 1)
        result.targets["MEANCR"] = target_detection(
            "MEANCR", meancr_img, flag_aux=aux_meancr & allowed, flag_mm=empty, allowed=allowed
        )
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


def _stack(ctx: _Context, frames, shape, extras):
    """Flux factors, the (rescaled) stack and its statistics."""
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
        stats = stack_statistics(stack, cr_coincidences=cfg.mm_cr_coincidences)
    if cfg.mm_synthetic == "single" and cfg.uses_mm and not np.allclose(ff, 1.0):
        raise InputError(
            "mm_synthetic 'single' needs flux factors equal to 1; flux_factor 'auto' gave "
            + ", ".join(f"{f:.4f}" for f in ff)
        )
    return ff, stack, stats


#: Detectors whose calls may run in forked worker processes (pure numpy/C, no
#: framework threads that a fork could leave in a bad state).
_FORK_SAFE_DETECTORS = ("lacosmic", "pycosmic")


def _aux_pass(ctx: _Context, stats: StackStatistics):
    """Aux.Cosmic on median2d, mean2d and every exposure.

    The N + 2 calls are independent: with a fork-safe detector they run in two
    forked worker processes (the images are shared copy-on-write); the results
    do not depend on it.
    """
    n = stats.n_frames
    images = [stats.median2d, stats.mean2d, *stats.stack]
    ctx_fork = None
    if ctx.detector is not None and getattr(ctx.detector, "name", "") in _FORK_SAFE_DETECTORS:
        ctx_fork = fork_context()
    with ctx.phase("detector: median, mean and exposures", n + 2) as advance:
        if ctx_fork is None:
            out = []
            for img in images:
                out.append(ctx.detect(img))
                advance(1)
        else:
            out = []
            workers, threads = workers_and_threads(ctx.cfg.jobs, len(images))

            def call(i):  # in a worker: no more OpenMP threads than its share of cores
                limit_openmp(threads)
                return ctx.detect(images[i])

            for res in fork_imap(call, len(images), workers):
                out.append(res)
                advance(1)
    (aux_med, auxclean), (aux_mean, _) = out[0], out[1]
    aux_frames = [m for m, _ in out[2:]]
    cleaned_frames = [c if c is not None else stats.stack[i] for i, (_, c) in enumerate(out[2:])]
    return aux_med, auxclean, aux_mean, aux_frames, cleaned_frames


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
        offs = np.array([measure_offset(ref, np.asarray(c)[reg.slices]) for c in cleaned])
    for i, (dx, dy) in enumerate(offs, start=1):
        log.info("offset of exposure %d: dx=%+.3f dy=%+.3f pixels", i, dx, dy)
    return offs


def _synthetic_model(cfg, stats, aux_med, cleaned, offsets, ff) -> SyntheticModel:
    """Expected signal of the simulated exposures (multiplied by the flux factors: defect 19)."""
    n = stats.n_frames
    ff_sim = ff if cfg.apply_flux_factor_to == "simulated" else np.ones(n)
    if cfg.mm_synthetic == "single":
        return SyntheticModel(np.stack([np.asarray(c, np.float32) for c in cleaned]), np.ones(n))
    pre = np.clip(stats.median2d, 0, None)
    pre[aux_med] = stats.min2d[aux_med]
    if offsets is None:
        return SyntheticModel(pre, np.asarray(ff_sim, dtype=float))
    cube = np.stack([shift_image(pre, dx, dy) * ff_sim[i] for i, (dx, dy) in enumerate(offsets)])
    return SyntheticModel(cube, np.ones(n))


def _mm_boundary(ctx: _Context, stats, model, exclude, *, shifted):
    """Simulations + boundary fit, with the interactive refit / re-simulation loop."""
    cfg = ctx.cfg
    noise = ctx.noise
    fixed = np.asarray(cfg.mm_fixed_points_in_boundary, dtype=float).reshape(-1, 3)
    y_med = stats.median2d - stats.min2d
    overrides: dict[str, float] = {}
    counts = None
    while True:
        if counts is None:
            lim = diagram_limits(
                stats.min2d,
                n_frames=stats.n_frames,
                gain=noise.gain_median,
                rnoise=noise.rnoise_median,
                cr_coincidences=cfg.mm_cr_coincidences,
                distribution=cfg.mm_photon_distribution,
                nbinom_shape=cfg.mm_nbinom_shape,
                shifted=shifted,
                fixed_points=fixed,
                ydiag_max=cfg.mm_ydiag_max,
                seed=ctx.seed,
            )
            if overrides:
                lim = type(lim)(
                    xmin=overrides.get("xdiag_min", lim.xmin),
                    xmax=overrides.get("xdiag_max", lim.xmax),
                    ymax=overrides.get("ydiag_max", lim.ymax),
                )
            scale = NoiseScale(
                gain=noise.gain_median,
                rnoise=noise.rnoise_median,
                nbinom_shape=cfg.mm_nbinom_shape
                if cfg.mm_photon_distribution == "nbinom"
                else None,
            )
            xedges, yedges = lim.edges(scale)
            with ctx.phase("simulations", cfg.mm_nsimulations) as advance:
                sims = simulate_histogram(
                    model,
                    gain=noise.gain,
                    rnoise=noise.rnoise,
                    xedges=xedges,
                    yedges=yedges,
                    scale=scale,
                    nsimulations=cfg.mm_nsimulations,
                    cr_coincidences=cfg.mm_cr_coincidences,
                    distribution=cfg.mm_photon_distribution,
                    nbinom_shape=cfg.mm_nbinom_shape,
                    exclude=exclude,
                    seed=ctx.seed,
                    advance=advance,
                    workers=workers_and_threads(cfg.jobs, cfg.mm_nsimulations)[0],
                )
            counts = sims.counts
            real = histogram2d(stats.min2d, y_med, xedges, yedges, scale=scale)
        with ctx.phase("boundary"):
            clean = remove_isolated_bins(counts, cfg.mm_hist2d_min_neighbors)
            boundary = _fit(
                cfg,
                clean,
                sims.tails["median"],
                xedges,
                yedges,
                scale,
                kind=cfg.mm_boundary_fit,
                fixed=fixed,
                fraction=sims.fraction,
            )
        histogram = SimulatedHistogram(
            counts=clean / (cfg.mm_nsimulations * sims.fraction),
            real_counts=real,
            xedges=xedges,
            yedges=yedges,
            nsimulations=cfg.mm_nsimulations,
            distribution=cfg.mm_photon_distribution,
            nbinom_shape=cfg.mm_nbinom_shape,
            synthetic=cfg.mm_synthetic,
        )
        decision = ctx.reviewer.review_boundary(histogram, boundary, stats, cfg)
        if decision.action == "continue":
            return (
                histogram,
                boundary,
                _secondary_boundaries(cfg, sims, scale, boundary, xedges, yedges),
            )
        changes = dict(decision.changes)
        for key in ("xdiag_min", "xdiag_max", "ydiag_max"):
            if key in changes:
                overrides[key] = float(changes.pop(key))
        cfg = cfg.replace(**changes) if changes else cfg
        ctx.cfg = cfg
        fixed = np.asarray(cfg.mm_fixed_points_in_boundary, dtype=float).reshape(-1, 3)
        if decision.action == "resimulate":
            counts = None  # the RNG restarts from mm_seed (reproducible reruns: defect 28)


def _fit(cfg, counts, tails, xedges, yedges, scale, *, kind, fixed, fraction=1.0):
    """Boundary points of one simulated diagram and the boundary fitted through them."""
    px, py = boundary_points(
        counts, xedges, yedges, scale=scale, tails=tails, tail=cfg.mm_boundary_tail * fraction
    )
    return fit_boundary(
        px,
        py,
        kind=kind,
        n_knots=cfg.mm_knots_splfit,
        niter=cfg.mm_niter_boundary_extension,
        weight=cfg.mm_weight_boundary_extension,
        fixed_points=fixed,
        scale=scale,
    )


def _secondary_boundaries(cfg, sims, scale, median_boundary, xedges, yedges):
    """Boundaries of the MEANCRT (mean - min) and CRMASKi (exposure - min) diagrams.

    With ``mm_secondary_boundary: simulated`` (default) each is fitted, like the
    median one but without its fixed points, to the simulations of its own
    ordinate: the mean of N values scatters less than their median and one
    exposure more, so reusing the median boundary (the reference, and the
    ``median`` option) misses faint single hits in the mean.
    """
    if cfg.mm_secondary_boundary == "median" or cfg.mm_boundary_fit == "piecewise":
        return {"mean": median_boundary, "frame": median_boundary}
    out = {}
    for name in ("mean", "frame"):
        clean = remove_isolated_bins(sims.hists[name], cfg.mm_hist2d_min_neighbors)
        out[name] = _fit(
            cfg,
            clean,
            sims.tails[name],
            xedges,
            yedges,
            scale,
            kind="spline",
            fixed=None,
            fraction=sims.fraction,
        )
    return out


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
    for name, t in result.targets.items():
        if name != "MEDIANCR":
            log.info("%s: %d masked pixels", name, int(t.mask.sum()))
    log.info("problematic pixels (masked in every CRMASKi): %d", int(result.problematic.sum()))
