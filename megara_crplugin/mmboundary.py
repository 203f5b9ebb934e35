"""M.M.Cosmic's detection boundaries: the synthetic model, the simulations and the fits.

Stages of :func:`megara_crplugin.pipeline.compute_crmasks` (moved here to keep
each module readable): :func:`synthetic_model` builds the model of the
expected signal of each exposure, :func:`mm_boundary` simulates the diagram,
fits the median boundary (with the interactive review) and the secondary
boundaries of the mean and of the exposures, and the corroboration levels of
the Aux detections.  Units: ADU.
"""

from __future__ import annotations

import logging

import numpy as np

from ._threads import cores, workers_and_threads
from .alignment import shift_image
from .boundary import boundary_points, fit_boundary
from .corroborate import corroboration_levels
from .result import SimulatedHistogram
from .simulation import (
    NoiseScale,
    SyntheticModel,
    diagram_limits,
    histogram2d,
    remove_isolated_bins,
    simulate_histogram,
)

__all__ = ["mm_boundary", "synthetic_model"]

log = logging.getLogger(__name__)


def synthetic_model(cfg, stats, aux_med, cleaned, offsets, ff) -> SyntheticModel:
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


def mm_boundary(ctx, stats, model, exclude, *, shifted):
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
            real = histogram2d(
                stats.min2d, y_med, xedges, yedges, scale=scale, threads=cores(cfg.jobs)
            )
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
            scale=scale,
        )
        decision = ctx.reviewer.review_boundary(histogram, boundary, stats, cfg)
        if decision.action == "continue":
            secondary = _secondary_boundaries(cfg, sims, scale, boundary, xedges, yedges)
            secondary["corroboration"] = corroboration_levels(
                sims, scale, xedges, cfg.mm_aux_corroboration
            )
            return histogram, boundary, secondary
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
