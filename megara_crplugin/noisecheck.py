"""The noise model checked against the data (issue 9, item 4).

Two independent checks, both cheap (O(pixels)):

* **Read noise and excess variance from the frames.**  The difference of two
  exposures of the same scene has, per pixel, the variance
  ``2 * (rnoise**2 + S / gain + (eps * S)**2)`` where ``S`` is the signal (ADU)
  and ``eps`` the relative scatter that flux changes between the exposures add
  (0 for equivalent exposures).  The robust variance of consecutive-frame
  differences, in bins of ``median2d``, is fitted for ``rnoise**2`` and
  ``eps**2`` with the given gain.  A measured read noise that differs from
  ``rnoise`` by more than ``noise_check_tolerance`` (fraction) raises a warning.
* **Real against simulated diagram.**  The real pixels above the detection
  boundary are counted and compared with the number the simulations put
  there; those of them in features whose excess follows the signal profile
  (:mod:`megara_crplugin.fluxchange`) are flux changes, not cosmic rays.  In
  every photon-noise-dominated column of the diagram the simulations also give
  the level above which a fraction ``TAIL`` (1 %) of the pixels lie; with
  equivalent exposures about the same fraction of the real pixels lie above
  it (reported, not decisive: a star trace under changing seeing raises it
  as much as a drifting lamp).  The exposures are *not equivalent* when more
  than :func:`flux_pixels_limit` pixels above the boundary follow the profile
  (``FLUX_PIXELS_PER_MPIX`` per Mpix, at least ``FLUX_PIXELS_LIMIT``, + 3 x
  the simulated count) *and* the integrated flux around them changes
  between the exposures by more than ``INTEGRATED_SIGMA_LIMIT`` sigma of its
  noise (median over their windows, :func:`integrated_change`): seeing and
  guiding move flux within a window (2-3 sigma on the SPRAT and G93-48
  traces), a lamp drift or a throughput change scales it (18-23 sigma on the
  ISIS arcs).  Without a diagram (Aux-only crmethods), when the relative
  excess scatter exceeds ``EXCESS_LIMIT``.

The outcome is a frozen :class:`NoiseCheck` (a typed field of the result),
written to the log, to ``crmasks.fits`` (keywords ``NCRNMEAS``, ``NCEXCESS``,
``NCTAILR``, ``NCEQUIV``) and to ``report.html``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .boundary import exceeds
from .exceptions import CRPluginWarning
from .fluxchange import reject_flux_changes
from .noise_measures import integrated_change, measure_noise, offset_exposures

__all__ = [
    "NoiseCheck",
    "add_to_header",
    "check_noise",
    "check_noise_model",
    "diagram_tail",
    "diagram_text",
    "flux_pixels_limit",
    "integrated_change",
    "measure_noise",
]

log = logging.getLogger(__name__)

#: Tail fraction of the simulated diagram compared with the data.
TAIL = 0.01
#: Measured-to-expected tail ratio reported as a likely noise-model mismatch (not decisive:
#: 2.5-5.4 on the ISIS arcs and 0.3-8.5 on the SPRAT / G93-48 star traces, see
#: docs/fluxchange.md).
TAIL_RATIO_LIMIT = 3.0
#: Typical (median) change of the integrated flux of the flux-change windows between
#: the exposures, in sigma of its noise, above which the exposures are not equivalent.
INTEGRATED_SIGMA_LIMIT = 5.0
#: Relative excess scatter (``eps``) above which the exposures are not equivalent.
EXCESS_LIMIT = 0.005
#: Pixels above the boundary that follow the signal profile, beyond which (plus
#: three times the simulated count) the exposures are not equivalent: at least this many.
FLUX_PIXELS_LIMIT = 10
#: ... and this many per Mpix: equivalent offset exposures (the offsets' residual
#: on sky-line flanks) gave 0-11 such pixels at 1 Mpix and 35 at MEGARA size (16.8
#: Mpix); the ISIS arcs (lamp drift) 128 and 218 per Mpix.
FLUX_PIXELS_PER_MPIX = 10.0


def flux_pixels_limit(npix: int, expected: float = 0.0) -> float:
    """Profile-following pixels above the boundary allowed in equivalent exposures.

    Parameters
    ----------
    npix : int
        Pixels of one exposure.
    expected : float, optional
        Pixels the simulations put above the boundary (per simulated stack).

    Returns
    -------
    float
        ``max(FLUX_PIXELS_LIMIT, FLUX_PIXELS_PER_MPIX * npix / 1e6) + 3 * expected``:
        chance features grow with the image, the count of a lamp drift much faster.
    """
    return max(FLUX_PIXELS_LIMIT, FLUX_PIXELS_PER_MPIX * npix / 1e6) + 3 * expected


@dataclass(frozen=True)
class NoiseCheck:
    """The noise model compared with the frames.

    Attributes
    ----------
    rnoise_given : float
        Read noise of the configuration (ADU, median if 2-D).
    rnoise_measured : float
        Effective read noise measured from frame differences (ADU).
    excess : float
        Relative extra scatter between the exposures (``eps``: 0.01 = 1 % of
        the signal), from the same fit.
    tail_expected, tail_measured : float
        Fraction of the diagram's pixels above the simulated 1 % level:
        expected (``TAIL``) and found in the data.
    above_boundary : int
        Real pixels above the detection boundary (median diagram).
    above_boundary_expected : float
        Pixels the simulations put above it (per simulated stack).
    above_boundary_flux : int
        Real pixels above the boundary in features whose excess follows the
        signal profile (flux changes, see :mod:`megara_crplugin.fluxchange`).
    rnoise_ok : bool
        ``rnoise_measured`` within the tolerance of ``rnoise_given``.
    equivalent : bool
        The real diagram agrees with the simulated one.
    message : str
        Cause and remedy of a mismatch (empty when everything agrees).
    flux_change_sigma : float
        Typical change of the integrated flux between the exposures around the
        pixels above the boundary that follow the signal profile: the median
        over their windows of ``sqrt(chi2 / (N - 1))`` of the N window sums
        about their mean (sigma of the sums' photon and read noise; 1 for
        equivalent exposures; NaN without such pixels).
    flux_pixels_allowed : float
        Profile-following pixels above the boundary allowed in equivalent
        exposures (:func:`flux_pixels_limit`; NaN without a boundary).
    """

    rnoise_given: float
    rnoise_measured: float
    excess: float
    tail_expected: float
    tail_measured: float
    above_boundary: int
    above_boundary_expected: float
    above_boundary_flux: int
    rnoise_ok: bool
    equivalent: bool
    message: str = ""
    flux_change_sigma: float = float("nan")
    flux_pixels_allowed: float = float("nan")

    @property
    def tail_ratio(self) -> float:
        """``tail_measured / tail_expected`` (1 = the data match the simulations)."""
        return self.tail_measured / self.tail_expected if self.tail_expected > 0 else np.nan


def diagram_tail(
    counts: np.ndarray, real_counts: np.ndarray, tail: float = TAIL, columns=None
) -> float:
    """Fraction of the real pixels above the simulated ``tail`` level of their column.

    Parameters
    ----------
    counts : ndarray (ny_bins, nx_bins)
        Simulated diagram (mean counts per simulation; rows = y bins).
    real_counts : ndarray (ny_bins, nx_bins)
        Real diagram on the same bins.
    tail : float, optional
        Simulated fraction above the level.
    columns : ndarray of bool, optional
        Columns (x bins) taken into account (default: all).

    Returns
    -------
    float
        Measured fraction (``tail`` for data that match the simulations);
        NaN when no column has enough pixels.
    """
    sim = np.asarray(counts, dtype=np.float64)
    real = np.asarray(real_counts, dtype=np.float64)
    sim_tot, real_tot = sim.sum(axis=0), real.sum(axis=0)
    # fraction of each column at or above every row (cumulated from the top)
    sim_above = np.cumsum(sim[::-1], axis=0)[::-1] / np.where(sim_tot > 0, sim_tot, 1.0)
    real_above = np.cumsum(real[::-1], axis=0)[::-1]
    rows = np.argmax(sim_above <= tail, axis=0)  # lowest row with tail <= level
    usable = (
        (sim_tot * 1 > 0) & (real_tot >= 100) & (sim_above[rows, np.arange(sim.shape[1])] <= tail)
    )
    if columns is not None:
        usable &= np.asarray(columns, dtype=bool)
    if not usable.any():
        return float("nan")
    cols = np.nonzero(usable)[0]
    expected = np.sum(real_tot[cols] * sim_above[rows[cols], cols])
    found = np.sum(real_above[rows[cols], cols])
    return float(tail * found / max(expected, 1e-12))


def _above_boundary(
    stats,
    histogram,
    boundary,
    *,
    gain,
    rnoise,
    nsigma,
    bound_at_min=None,
    flux_factors=None,
    offsets=None,
):
    """Pixels above the boundary, those following the profile, their change, simulated count."""
    xc = 0.5 * (histogram.xedges[:-1] + histogram.xedges[1:])
    yc = 0.5 * (histogram.yedges[:-1] + histogram.yedges[1:])
    above_bins = yc[:, None] > np.asarray(boundary(xc), dtype=np.float64)[None, :]
    expected = float(np.asarray(histogram.counts)[above_bins].sum())
    excess = stats.median2d - stats.min2d
    above = exceeds(excess, boundary, stats.min2d, bound_at_min)
    res = reject_flux_changes(above, excess, stats.min2d, gain=gain, rnoise=rnoise, nsigma=nsigma)
    sigma = integrated_change(
        stats.stack,
        res.rejected,
        gain=float(np.median(gain)),
        rnoise=float(np.median(rnoise)),
        flux_factors=flux_factors,
        offsets=offsets,
    )
    return int(above.sum()), int(res.rejected.sum()), sigma, expected


def _percent(value: float) -> str:
    return f"{value:.1%}" if np.isfinite(value) else "not measured"


def measured_text(rnoise_measured: float, rnoise_given: float, shifted: bool = False) -> str:
    """``'read noise 3.49 ADU measured (3.40 given)'``, or that it could not be measured.

    ``shifted``: the exposures are offset, so the measured value is not compared
    (said in the text).
    """
    if not np.isfinite(rnoise_measured):
        return f"read noise not measured (too few pixels; {rnoise_given:.2f} ADU given)"
    note = "; exposures offset: not compared" if shifted else ""
    return f"read noise {rnoise_measured:.2f} ADU measured ({rnoise_given:.2f} given{note})"


def _tips(suggest_flux_factor: bool, shifted: bool) -> str:
    """The remedies of non-equivalent exposures the run does not apply already."""
    tips = ["flux_factor: auto"] if suggest_flux_factor else []
    tips.append("mm_photon_distribution: nbinom with a smaller mm_nbinom_shape")
    if not shifted:  # offsets given or measured: aligning is already done
        tips.append("mm_crosscorr_region if the frames are shifted")
    return ", ".join(tips[:-1]) + (", or " if len(tips) > 1 else "") + tips[-1]


def _message(rn_ok, rn_meas, rn_given, equivalent, ratio, eps, flux, expected, fsig, tips) -> str:
    parts = []
    if not equivalent:
        parts.append(
            f"exposures not equivalent: {flux} pixels above the boundary follow the signal "
            f"profile ({expected:.1f} expected above it from the simulations), the flux "
            f"around them changes by {fsig:.1f} sigma between the exposures, "
            f"{ratio:.1f} times the expected fraction above the simulated 1 % level, "
            f"relative excess scatter {_percent(eps)}: flux changes "
            "between frames (lamp drift, seeing, guiding); features that follow the signal "
            f"profile are rejected (flux_change_rejection); try {tips}"
        )
    if not rn_ok:
        parts.append(
            f"rnoise: {rn_meas:.2f} ADU measured from frame differences, {rn_given:.2f} ADU "
            "given; check that rnoise is in ADU, the gain and the bias"
        )
    return "; ".join(parts)


def check_noise(
    stats,
    histogram,
    boundary,
    *,
    gain,
    rnoise,
    tolerance: float,
    nsigma: float = 4.0,
    bound_at_min: np.ndarray | None = None,
    flux_factors=None,
    suggest_flux_factor: bool = True,
    offsets=None,
) -> NoiseCheck:
    """Compare the noise model with the frames; log and warn about a mismatch.

    Parameters
    ----------
    stats : StackStatistics
        Stack and its statistics (ADU).
    histogram : SimulatedHistogram or None
        Simulated and real median diagrams (None without M.M.Cosmic: the
        diagram checks are then skipped).
    boundary : callable or None
        Detection boundary f(min2d) (ADU).
    gain, rnoise : float or ndarray
        Noise model (e-/ADU, ADU); medians are used.
    tolerance : float
        ``noise_check_tolerance``: allowed fractional read-noise difference.
    nsigma : float, optional
        ``flux_change_nsigma``, for the flux-change count above the boundary.
    bound_at_min : ndarray of float32, optional
        ``boundary`` at ``min2d`` from :func:`~megara_crplugin.boundary.float32_threshold`.
    flux_factors : sequence of float, optional
        Flux factors of a stack kept as it is (``apply_flux_factor_to:
        simulated``): the integrated flux change is measured after them, so
        that known factors (``flux_factor: auto`` or given) do not make the
        exposures "not equivalent".
    suggest_flux_factor : bool, optional
        Whether the message of non-equivalent exposures suggests ``flux_factor:
        auto`` (not when the run already estimates them).
    offsets : array_like (N, 2), optional
        ``(dx, dy)`` of each exposure (px; ``mm_xy_offsets`` or measured):
        the integrated flux is summed on the exposures read at their offsets,
        and the read noise measured from frame differences (which then hold
        the offsets' own differences on every flank) is not compared with
        ``rnoise``.

    Returns
    -------
    NoiseCheck

    Warns
    -----
    CRPluginWarning
        When the read noise or the diagram disagree with the model.
    """
    g, rn = float(np.median(gain)), float(np.median(rnoise))
    rn_meas, eps = measure_noise(stats.stack, stats.median2d, gain=g)
    # offset exposures differ on every flank by the offset alone: the frame
    # differences then measure that, not the read noise (not compared)
    shifted = offset_exposures(offsets)
    rn_ok = shifted or rn <= 0 or not np.isfinite(rn_meas) or abs(rn_meas / rn - 1.0) <= tolerance
    tail, above, flux, fsig, above_exp = float("nan"), 0, 0, float("nan"), 0.0
    allowed = float("nan")  # profile-following pixels allowed (with a boundary)
    if histogram is not None:
        # columns where the photon noise dominates: flux changes show there
        xc = 0.5 * (histogram.xedges[:-1] + histogram.xedges[1:])
        tail = diagram_tail(histogram.counts, histogram.real_counts, columns=xc > g * rn**2)
        if not np.isfinite(tail):
            tail = diagram_tail(histogram.counts, histogram.real_counts)
        if boundary is not None:
            above, flux, fsig, above_exp = _above_boundary(
                stats,
                histogram,
                boundary,
                gain=gain,
                rnoise=rnoise,
                nsigma=nsigma,
                bound_at_min=bound_at_min,
                flux_factors=flux_factors,
                offsets=offsets,
            )
    ratio = tail / TAIL if np.isfinite(tail) else 1.0
    if histogram is not None and boundary is not None:
        # the diagram decides (the excess scatter alone is too noisy on small frames):
        # pixels above the boundary that follow the profile, around which the
        # integrated flux changes (a seeing change on a star trace moves flux
        # within the window: 2-3 sigma on SPRAT and G93-48; arc lamps 18-23 sigma)
        allowed = flux_pixels_limit(int(np.prod(stats.median2d.shape)), above_exp)
        equivalent = flux <= allowed or not fsig > INTEGRATED_SIGMA_LIMIT
    else:  # no diagram (Aux-only crmethod): the frame differences are the evidence
        equivalent = not eps > EXCESS_LIMIT  # not measured: no evidence either way
    tips = _tips(suggest_flux_factor, shifted)
    msg = _message(rn_ok, rn_meas, rn, equivalent, ratio, eps, flux, above_exp, fsig, tips)
    check = NoiseCheck(
        rnoise_given=rn,
        rnoise_measured=rn_meas,
        excess=eps,
        tail_expected=TAIL,
        tail_measured=tail,
        above_boundary=above,
        above_boundary_expected=above_exp,
        above_boundary_flux=flux,
        rnoise_ok=bool(rn_ok),
        equivalent=bool(equivalent),
        message=msg,
        flux_change_sigma=fsig,
        flux_pixels_allowed=allowed,
    )
    log.info(
        "noise check: %s, excess scatter %s, %.2f %% of pixels above the simulated 1 %% level, %s",
        measured_text(rn_meas, rn, shifted),
        _percent(eps),
        100 * tail,
        diagram_text(check),
    )
    if msg:
        log.warning("%s", msg)
        warnings.warn(msg, CRPluginWarning, stacklevel=3)
    return check


def diagram_text(check: NoiseCheck) -> str:
    """The pixels above the boundary, those following the profile, and the verdict's limits.

    ``'20 above the boundary (0.0 expected), 2 of them following the signal
    profile, the integrated flux around them changing by 2.8 sigma (not
    equivalent beyond 10 such pixels with a change above 5 sigma)'``; the log
    and ``report.html`` read the same words.
    """
    text = (
        f"{check.above_boundary} above the boundary ({check.above_boundary_expected:.1f} "
        f"expected), {check.above_boundary_flux} of them following the signal profile"
    )
    if check.above_boundary_flux:
        text += f", the integrated flux around them changing by {check.flux_change_sigma:.1f} sigma"
    if np.isfinite(check.flux_pixels_allowed):
        text += (
            f" (not equivalent beyond {check.flux_pixels_allowed:.0f} such pixels with a "
            f"change above {INTEGRATED_SIGMA_LIMIT:.0f} sigma)"
        )
    return text


def add_to_header(header, check: NoiseCheck | None, flux_changes: dict | None = None) -> None:
    """Record the noise check (and the flux-change count) in a FITS header.

    Keywords: ``NCRNMEAS`` (read noise measured, ADU), ``NCEXCESS`` (relative
    excess scatter), ``NCTAILR`` (measured / expected fraction above the
    simulated 1 % level; absent without a diagram), ``NCEQUIV`` (T when the
    exposures look equivalent), ``NFLUXCHG`` (MEDIANCR features rejected as
    flux changes); a mismatch adds its message as HISTORY.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Modified in place.
    check : NoiseCheck or None
        Nothing is written when None.
    flux_changes : dict, optional
        ``CRMaskResult.flux_changes``.
    """
    if flux_changes and "MEDIANCR" in flux_changes:
        header["NFLUXCHG"] = (int(flux_changes["MEDIANCR"]), "MEDIANCR features = flux changes")
    if check is None:
        return
    if np.isfinite(check.rnoise_measured):  # absent when too few pixels to measure it
        header["NCRNMEAS"] = (
            round(check.rnoise_measured, 3),
            "[ADU] read noise from frame diffs",
        )
        header["NCEXCESS"] = (round(check.excess, 5), "relative excess scatter between frames")
    if np.isfinite(check.tail_ratio):
        header["NCTAILR"] = (round(check.tail_ratio, 3), "data/simulated pixels above 1% level")
    header["NCEQUIV"] = (bool(check.equivalent), "exposures equivalent (noise check)")
    if check.message:
        header.add_history(f"Noise check: {check.message}")


def check_noise_model(
    cfg, noise, stats, histogram, boundary, bound_at_min=None, flux_factors=None, offsets=None
) -> NoiseCheck:
    """Pipeline stage: :func:`check_noise` with the run's configuration and noise model.

    ``flux_factors`` are passed on only for a stack kept as it is
    (``apply_flux_factor_to: simulated``); otherwise the stack is already divided by them.
    """
    known = None
    if flux_factors is not None and cfg.apply_flux_factor_to == "simulated":
        if not np.allclose(flux_factors, 1.0):
            known = flux_factors
    return check_noise(
        stats,
        histogram,
        boundary,
        gain=noise.gain,
        rnoise=noise.rnoise,
        tolerance=cfg.noise_check_tolerance,
        nsigma=cfg.flux_change_nsigma,
        bound_at_min=bound_at_min,
        flux_factors=known,
        suggest_flux_factor=cfg.flux_factor != "auto",
        offsets=offsets,
    )
