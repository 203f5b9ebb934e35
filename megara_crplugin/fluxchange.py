"""Flux changes are not cosmic rays: a feature-wise profile test (issue 9, item 3).

When the flux of the source changes between the exposures (a star trace under
changing seeing or guiding, an arc line whose lamp drifts, a fibre whose
throughput changes), the excess of a target over the minimum (``median2d -
min2d`` for MEDIANCR, ``exposure - min2d`` for CRMASKi) is a scaled copy of the
local signal: ``excess ~ a * profile + b`` with ``profile = min2d``.  A cosmic
ray is sharper than the instrument's profile: its excess is not explained by
that model.

The test, per 8-connected feature of a detection mask:

1. the feature's window is the feature grown by ``window`` pixels; features
   whose windows touch form one group (a drifting arc line gives one group
   along the line); ``a`` (>= 0), ``c`` (>= 0), ``d`` and ``b`` come from a
   weighted least-squares fit ``excess = a * profile + c * |grad profile| +
   d . grad profile + b`` (the gradient terms: a sub-pixel shift changes a
   sharp profile most on its flanks, one more than the other) over the ring
   (the group's window without the detections; weights 1 / noise variance),
   repeated once over the whole window without the pixels the first fit
   leaves above the limit of step 2 (the cosmic rays);
2. on the feature's pixels the residual ``excess - (change + b)``, with
   ``change`` the fitted non-constant part, is compared with
   ``hypot(nsigma * sqrt(var_noise), tolerance * |change|)``
   (the second term allows the excess of a real flux change to differ from a
   pure scaling of the profile by up to ``tolerance`` times the fitted excess:
   sub-pixel shifts, seeing changes);
3. a feature with no pixel above that limit is a *flux change* and is removed,
   provided there is a flux change to speak of (``evidence_chi2``): the fitted
   change must be significant over the group's window, ``sum(change**2 /
   var) >= evidence_chi2`` (25: a 5-sigma change).  On flat sky or a steady
   profile nothing changes, and a feature there is not explained by a flux
   change whatever its amplitude: the detection test that found it (the
   expected-signal test, more sensitive than ``median - min``) is trusted.
   The one exception is a *warm pixel*: a single isolated pixel whose highest
   values are alike (``alike``: ``max2d - median2d`` within
   :data:`ALIKE_SIGMA` sigma of their difference), the signature of a pixel
   flipping between two levels (random telegraph signal), not of two
   independent cosmic rays; it keeps the amplitude test of step 2.
4. a feature whose minimum lies :data:`K_LOWEST_HIT` sigma above the
   neighbours' expected signal at one of its pixels (``at_flags``), whose
   highest values are not alike (a hot pixel's are), is hit in
   every exposure, not a flux change, and is kept (with offset exposures
   ``at_flags`` is the lowest of their expectations: on a steep flank a hit
   in fewer exposures can pass too).

Everything is one labelling plus per-label reductions (``np.bincount``):
O(pixels), never one pass per feature.  Mask polarity: True = cosmic ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._fcfit import at_pixels, basis_of, fit_limit, open_groups, sampler, slope_level, window_fit
from ._fcwindows import grown, window_groups, window_groups_by_labelling
from .noise_values import value_at

#: Highest values of a pixel closer than this many sigma of their difference are "alike".
ALIKE_SIGMA = 1.5
#: Excess (sigma) above which a pixel of a feature counts as raised (warm-pixel test).
_RAISED_SIGMA = 3.0
#: A detection whose minimum lies this many sigma above the neighbours' expectation
#: (``at_flags``) is hit in every exposure: no flux change explains it.
K_LOWEST_HIT = 7.0

__all__ = [
    "K_LOWEST_HIT",
    "FluxChangeResult",
    "alike_at",
    "alike_pixels",
    "alike_values",
    "filter_detections",
    "filter_target",
    "reject_flux_changes",
]


@dataclass(frozen=True)
class FluxChangeResult:
    """Outcome of :func:`reject_flux_changes` on one detection mask.

    Attributes
    ----------
    kept : ndarray of bool
        The detections left (True = cosmic ray): the input minus the flux-change features.
    rejected : ndarray of bool
        Pixels of the features classified as flux changes.
    n_features : int
        Number of 8-connected features tested.
    n_rejected : int
        Number of them classified as flux changes.
    """

    kept: np.ndarray
    rejected: np.ndarray
    n_features: int
    n_rejected: int


def _without_change(lab, grp, is_flag, used, chi2_terms, evidence_chi2, nlab):
    """Per feature label: True where its group's fitted change is not significant.

    ``chi2_terms`` = ``weight * change**2`` on the window pixels; the sum runs
    over the pixels of the last fit (``used``).
    """
    ngroups = int(grp.max()) if grp.size else 0
    chi2 = np.bincount(grp[used], weights=chi2_terms[used], minlength=ngroups + 1)
    group_of = np.zeros(nlab + 1, dtype=np.intp)
    group_of[lab] = grp[is_flag]
    return chi2[group_of] < evidence_chi2


def _warm_pixel(lab, alike_on_flags, z_on_flags, nlab):
    """Per feature label: True for a warm pixel (one raised pixel, its highest values alike).

    ``z_on_flags`` is the excess of each flagged pixel in units of the noise:
    a feature with at most one pixel above ``_RAISED_SIGMA`` (a detector's
    growth around it does not count) whose highest pixel is ``alike``.
    """
    raised = np.bincount(lab, weights=z_on_flags > _RAISED_SIGMA, minlength=nlab + 1)
    order = np.lexsort((z_on_flags, lab))  # by label, then by excess: the peak last
    last = np.r_[lab[order][1:] != lab[order][:-1], True]
    peak_alike = np.zeros(nlab + 1, dtype=bool)
    peak_alike[lab[order][last]] = alike_on_flags[order][last]
    return (raised <= 1) & peak_alike


def _hit_in_every_exposure(lab, lowest, expected, var, alike_on_flags, nlab):
    """Per feature label: True where a pixel's minimum is K_LOWEST_HIT sigma above its expectation.

    ``lowest`` (the profile, ``min2d``) and ``expected`` (``at_flags``: no
    higher than the neighbours' expected signal) at the flagged pixels, ADU;
    ``var`` the noise variance at ``expected`` (ADU**2).  A flux change
    scales what every exposure receives, so it cannot put the lowest value
    that far above what the pixel's neighbours predict; a cosmic ray in every
    exposure does (its ``median - min`` is only the difference of two rays).
    A pixel whose highest values are alike (``alike_on_flags``, None: not
    known) does not count: a hot pixel, or sharp structure in every exposure.
    """
    hit = lowest - expected > K_LOWEST_HIT * np.sqrt(var)
    if alike_on_flags is not None:
        hit &= ~np.asarray(alike_on_flags, dtype=bool)
    return np.bincount(lab, weights=hit, minlength=nlab + 1) > 0


def alike_pixels(stats, gain, rnoise) -> np.ndarray:
    """Pixels whose highest value equals the median within noise (warm-pixel signature).

    ``max2d - median2d < ALIKE_SIGMA * sqrt(2) * sigma``, sigma the noise of one
    value at the median's level (gain in e-/ADU, read noise in ADU).  For N = 3
    these are the two highest values: two cosmic rays deposit independent
    charges, a pixel flipping between two levels repeats one.

    Parameters
    ----------
    stats : StackStatistics
        ``median2d`` and ``max2d`` (ADU).
    gain, rnoise : float or ndarray
        Noise model.

    Returns
    -------
    ndarray of bool
        True = the highest values are alike.
    """
    return alike_values(stats.median2d, stats.max2d, gain, rnoise)


def alike_values(median: np.ndarray, high: np.ndarray, gain, rnoise) -> np.ndarray:
    """:func:`alike_pixels` from the median and the highest value of each pixel (ADU).

    True where ``high - median < ALIKE_SIGMA * sqrt(2) * sigma``, sigma the noise
    of one value at the median's level.
    """
    sigma = np.sqrt(np.clip(median, 0, None) / gain + np.asarray(rnoise) ** 2)
    return high - median < ALIKE_SIGMA * np.sqrt(2.0) * sigma


def alike_at(median: np.ndarray, high: np.ndarray, gain, rnoise):
    """:func:`alike_values` as ``alike(ys, xs)``, evaluated at those pixels only.

    The flux-change test reads the warm-pixel signature at its detections
    only: no full-frame map is computed.  The same values as
    :func:`alike_values` on the whole frame (element-wise, same dtypes).
    """

    def alike(ys, xs):
        at = (ys, xs)
        return alike_values(median[at], high[at], value_at(gain, at), value_at(rnoise, at))

    return alike


def reject_flux_changes(
    flags: np.ndarray,
    excess: np.ndarray,
    profile: np.ndarray,
    *,
    gain,
    rnoise,
    window: int = 6,
    nsigma: float = 4.0,
    tolerance: float = 3.0,
    protected: np.ndarray | None = None,
    evidence_chi2: float | None = None,
    alike: np.ndarray | None = None,
    at_flags: np.ndarray | None = None,
    settled: np.ndarray | None = None,
) -> FluxChangeResult:
    """Remove the features of ``flags`` whose excess is a scaled copy of the local signal.

    Parameters
    ----------
    flags : ndarray of bool (ny, nx)
        Detections to test (True = cosmic ray), before any global dilation.
    excess : ndarray (ny, nx) or callable
        Excess of the target over the expected signal (ADU), e.g.
        ``median2d - min2d`` or ``exposure - min2d``; or ``excess(ys, xs)``
        giving it at those pixels only (the test reads no other: no
        full-frame copy is made).
    profile : ndarray (ny, nx)
        The local signal whose scaled copy a flux change follows (ADU),
        normally ``min2d``.
    gain : float or ndarray
        Gain (e-/ADU), for the Poisson part of the noise.
    rnoise : float or ndarray
        Read noise (ADU).
    window : int, optional
        Width (pixels) of the ring around each feature used for the fit.
    nsigma : float, optional
        A feature is a cosmic ray when one of its pixels exceeds the model by
        more than ``nsigma`` times the allowed scatter.
    tolerance : float, optional
        Allowed fractional mismatch between the excess of a flux change and
        ``a * profile`` (profile shape changes, sub-pixel shifts).
    protected : ndarray of bool, optional
        Pixels whose features are never rejected (forced by the operator).
    evidence_chi2 : float, optional
        A feature is a flux change only when the fitted change over its
        group's window has at least this chi-square (see the module notes);
        None: no such requirement (any feature the model explains is removed).
    alike : ndarray of bool or callable, optional
        Pixels whose highest values are alike (:func:`alike_pixels`; or
        ``alike(ys, xs)`` at those pixels, :func:`alike_at`): an isolated
        single-pixel feature there keeps the amplitude test even without a
        flux change (a warm pixel).  Used with ``evidence_chi2``.
    at_flags : ndarray (ny, nx), optional
        The profile at the flagged pixels (ADU), instead of ``profile``
        there: the pipeline passes ``min(min2d, expected signal from the
        neighbours)``, so that a cosmic ray on a noise peak of ``min2d`` is
        not explained as a scaled copy of that peak.  A feature with a pixel
        whose ``profile`` lies :data:`K_LOWEST_HIT` sigma above it, its
        highest values not ``alike``, is hit in every exposure and kept.
    settled : ndarray of bool, optional
        Pixels that end in the target's mask whatever this test says (the
        exposures' detections for MEANCRT): a group of features lying wholly
        inside is kept untested (the others are tested exactly as without
        ``settled``).

    Returns
    -------
    FluxChangeResult
    """
    flags = np.asarray(flags, dtype=bool)
    if not flags.any() or (settled is not None and not (flags & ~settled).any()):
        empty = np.zeros(flags.shape, dtype=bool)
        return FluxChangeResult(kept=flags.copy(), rejected=empty, n_features=0, n_rejected=0)
    # groups: features whose windows touch share one fit (their rings overlap);
    # everything below works on the window pixels only (compressed 1-D arrays)
    found = None
    if np.count_nonzero(flags) * (2 * window + 1) <= flags.size // 8:
        found = window_groups(flags, window)  # None when the detections are clustered
    if found is None:  # dense or clustered: label the frames
        found = window_groups_by_labelling(flags, window, grown(flags, window))
    lab, nlab, wy, wx, grp, ngroups = found
    is_flag = flags[wy, wx]
    closed = None
    if settled is not None:  # only the groups with a feature not wholly settled
        lab, wy, wx, grp, is_flag, closed = open_groups(settled, lab, wy, wx, grp, is_flag)
        if lab.size == 0:
            empty = np.zeros(flags.shape, dtype=bool)
            return FluxChangeResult(flags.copy(), empty, n_features=0, n_rejected=0)
    sample = sampler(profile, flags, at_flags)
    p = sample(wy, wx).astype(np.float64)
    e = (excess(wy, wx) if callable(excess) else np.asarray(excess)[wy, wx]).astype(np.float64)
    var = at_pixels(rnoise, wy, wx) ** 2 + np.clip(p, 0.0, None) / at_pixels(gain, wy, wx)
    weight = 1.0 / np.maximum(var, 1e-6)
    basis = basis_of(sample, flags.shape, wy, wx, p, grp, ngroups)
    nonneg = [True, True, False, False]
    # fit on the ring (the window without the detections, which must not drive
    # the fit), then again on the whole window without the pixels the first fit
    # does not explain (the cosmic rays themselves)
    used = ~is_flag
    for _ in range(2):
        coef, b = window_fit(grp, used, e, basis, weight, ngroups, nonneg)
        change = sum(coef[grp, k] * bk for k, bk in enumerate(basis))
        limit = fit_limit(change, var, nsigma, tolerance)
        used = ~((e - (change + b[grp])) > limit)

    sharp = ((e - (change + b[grp])) > limit)[is_flag]
    ys, xs = wy[is_flag], wx[is_flag]
    is_cr = np.bincount(lab, weights=sharp, minlength=nlab + 1) > 0
    if protected is not None:
        is_cr |= np.bincount(lab, weights=protected[ys, xs], minlength=nlab + 1) > 0
    at = None if alike is None else (alike(ys, xs) if callable(alike) else alike[ys, xs])
    if at_flags is not None:
        lowest = np.asarray(profile)[ys, xs].astype(np.float64)
        is_cr |= _hit_in_every_exposure(lab, lowest, p[is_flag], var[is_flag], at, nlab)
    if evidence_chi2 is not None:
        # no flux change in the window: nothing to explain the feature away,
        # unless it is a warm pixel (amplitude test above only)
        varying = change - slope_level(grp, used, coef, basis[1], weight)
        steady = _without_change(lab, grp, is_flag, used, weight * varying**2, evidence_chi2, nlab)
        if at is not None:
            steady &= ~_warm_pixel(lab, at, (e / np.sqrt(var))[is_flag], nlab)
        is_cr |= steady
    is_cr[0] = True
    if closed is not None:
        is_cr[closed] = True
    rejected = np.zeros(flags.shape, dtype=bool)
    out = ~is_cr[lab]
    rejected[ys[out], xs[out]] = True
    return FluxChangeResult(
        kept=flags & ~rejected,
        rejected=rejected,
        n_features=int(nlab) - (0 if closed is None else np.unique(closed).size),
        n_rejected=int((~is_cr[1:]).sum()),
    )


def filter_detections(
    flag_aux: np.ndarray,
    flag_mm: np.ndarray,
    excess: np.ndarray,
    profile: np.ndarray,
    *,
    gain,
    rnoise,
    nsigma: float,
    protected: np.ndarray | None = None,
    evidence_chi2: float | None = None,
    alike: np.ndarray | None = None,
    at_flags: np.ndarray | None = None,
    settled: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, FluxChangeResult]:
    """Apply :func:`reject_flux_changes` to the union of one target's detections.

    Parameters
    ----------
    flag_aux, flag_mm : ndarray of bool
        Aux.Cosmic and M.M.Cosmic detections of the target (True = cosmic ray).
    excess, profile : ndarray
        See :func:`reject_flux_changes` (ADU).
    gain, rnoise : float or ndarray
        Noise model (e-/ADU, ADU); arrays are broadcast to the image.
    nsigma : float
        ``flux_change_nsigma``.
    protected : ndarray of bool, optional
        Pixels forced by the operator (their features are kept).
    evidence_chi2, alike, at_flags, settled : optional
        See :func:`reject_flux_changes`.

    Returns
    -------
    flag_aux, flag_mm : ndarray of bool
        The detections without the flux-change features.
    FluxChangeResult
        What was rejected.
    """
    res = reject_flux_changes(
        flag_aux | flag_mm,
        excess,
        profile,
        gain=gain,
        rnoise=rnoise,
        nsigma=nsigma,
        protected=protected,
        evidence_chi2=evidence_chi2,
        alike=alike,
        at_flags=at_flags,
        settled=settled,
    )
    return flag_aux & res.kept, flag_mm & res.kept, res


def filter_target(
    cfg,
    noise,
    min2d,
    flags,
    excess,
    protected,
    counts: dict,
    name: str,
    alike=None,
    at_flags=None,
    settled=None,
):
    """Pipeline stage: drop the flux-change features of one target's detections.

    Parameters
    ----------
    cfg : CRConfig
        Uses ``flux_change_rejection``, ``flux_change_nsigma`` and
        ``flux_change_evidence``.
    noise : NoiseModel
        Gain (e-/ADU) and read noise (ADU).
    min2d : ndarray
        The profile (ADU).
    flags : tuple of ndarray of bool
        ``(flag_aux, flag_mm)`` of the target (True = cosmic ray).
    excess : ndarray
        Target minus ``min2d`` (ADU).
    protected : ndarray of bool
        Pixels forced by the operator.
    counts : dict
        Receives ``counts[name]`` = number of features rejected.
    name : str
        Target name (``MEDIANCR``, ``MEANCRT``, ``CRMASK<i>``).
    alike : ndarray of bool, optional
        Warm-pixel signature (:func:`alike_pixels`).
    at_flags : ndarray, optional
        The profile at the detections (see :func:`reject_flux_changes`).
    settled : ndarray of bool, optional
        Pixels that end in the target's mask anyway (see :func:`reject_flux_changes`).

    Returns
    -------
    tuple of ndarray of bool
        ``(flag_aux, flag_mm)`` without the flux changes (unchanged when the
        rejection is off).
    """
    if not cfg.flux_change_rejection:
        return flags
    flag_aux, flag_mm, res = filter_detections(
        *flags,
        excess,
        min2d,
        gain=noise.gain,
        rnoise=noise.rnoise,
        nsigma=cfg.flux_change_nsigma,
        protected=protected,
        evidence_chi2=cfg.flux_change_evidence,
        alike=alike,
        at_flags=at_flags,
        settled=settled,
    )
    counts[name] = res.n_rejected
    return flag_aux, flag_mm
