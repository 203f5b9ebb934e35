"""Corroboration of the Aux.Cosmic detections by the M.M. diagram (issue 9, item 1).

A single-image detector run on ``median2d`` (or ``mean2d``, or one exposure)
flags sharp structure: cosmic rays, but also hot pixels, bad columns and sharp
sources that are present in every exposure.  Those have no M.M. evidence: their
``target - min2d`` is what the noise allows.  A feature of an Aux mask is kept
only when one of its pixels lies above the *corroboration level* of its
diagram, a looser companion of the detection boundary measured on the same
simulations:

``level(x) = z(x) * sigma(x)``, where ``sigma(x)`` is the single-exposure noise
at signal ``x = min2d`` (:meth:`NoiseScale.sigma`) and ``z(x)`` is the
normalised ordinate that a simulated pixel of the column of ``x`` exceeds with
probability ``mm_aux_corroboration`` (per pixel; per pixel and exposure for
CRMASKi).  ``z`` is read from each column's largest simulated ordinates when
that probability falls within them, and otherwise from the pooled, normalised
tails of all the columns (the columns hold the same distribution up to the
scale ``sigma``).  Units: ADU.  Mask polarity: True = cosmic ray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .masks import keep_features

__all__ = ["CorroborationLevel", "corroborate", "corroboration_levels"]


@dataclass(frozen=True)
class CorroborationLevel:
    """Per-signal corroboration level of one diagram (callable: ADU -> ADU).

    Attributes
    ----------
    t : ndarray
        Noise-stabilised abscissae of the column centres (``scale.forward``).
    z : ndarray
        Normalised level of each column (units of ``scale.sigma``).
    scale : NoiseScale
        Abscissa transform and noise model of the simulations.
    probability : float
        Per-pixel probability, under the no-CR hypothesis, of lying above the level.
    """

    t: np.ndarray
    z: np.ndarray
    scale: object
    probability: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Level (ADU) at signal ``x`` (ADU, ``min2d``), any shape."""
        x = np.asarray(x, dtype=np.float64)
        z = np.interp(self.scale.forward(x), self.t, self.z)
        return z * self.scale.sigma(x)


def _column_centres(xedges: np.ndarray, scale) -> tuple[np.ndarray, np.ndarray]:
    te = scale.forward(np.asarray(xedges, dtype=np.float64))
    tc = 0.5 * (te[:-1] + te[1:])
    return tc, scale.inverse(tc)


def _pooled_curve(tails, totals, sig) -> tuple[np.ndarray, np.ndarray]:
    """Pooled survival curve: (log10 probability, normalised ordinate), sorted."""
    lp, zz = [], []
    for i in np.flatnonzero(totals > 0):
        vals = tails[i][np.isfinite(tails[i])]
        if len(vals) == 0:
            continue
        rank = np.arange(1, len(vals) + 1) - 0.5
        lp.append(np.log10(rank / totals[i]))
        zz.append(vals / sig[i])
    if not lp:
        return np.zeros(0), np.zeros(0)
    lp, zz = np.concatenate(lp), np.concatenate(zz)
    order = np.argsort(lp)
    return lp[order], zz[order]


def _pooled_z(lp: np.ndarray, zz: np.ndarray, probability: float) -> float | None:
    """Normalised ordinate of the pooled curve at ``probability``.

    The pooled points are binned in 0.2 dex of probability (median ordinate per
    bin) and interpolated; beyond the probabilities the simulations cover the
    nearest bin is used (a smaller probability, hence a higher level, when the
    requested one is larger than all of them).
    """
    if len(lp) < 8:
        return None
    bins = np.floor(lp / 0.2).astype(np.int64)
    centres, meds = [], []
    for b in np.unique(bins):
        sel = bins == b
        if sel.sum() >= 4:
            centres.append(float(np.median(lp[sel])))
            meds.append(float(np.median(zz[sel])))
    if not centres:
        return None
    return float(np.interp(np.log10(probability), centres, meds))


def level_of(counts, tails, xedges, scale, probability: float) -> CorroborationLevel | None:
    """Corroboration level of one simulated diagram.

    Parameters
    ----------
    counts : ndarray (nby, nbx)
        Simulated pixels per bin (all simulations).
    tails : ndarray (nbx, K)
        Largest simulated ordinates of each column, decreasing (ADU).
    xedges : ndarray
        Column edges (ADU).
    scale : NoiseScale
        Abscissa transform and noise model of the simulations.
    probability : float
        Per-pixel probability above the level (0 < p < 1).

    Returns
    -------
    CorroborationLevel or None
        None when the simulations hold too few pixels to measure it.
    """
    totals = np.asarray(counts, dtype=np.float64).sum(axis=0)
    tc, xc = _column_centres(xedges, scale)
    sig = scale.sigma(xc)
    lp, zz = _pooled_curve(tails, totals, sig)
    z_pool = _pooled_z(lp, zz, probability)
    t_out, z_out = [], []
    for i in np.flatnonzero(totals > 0):
        vals = tails[i][np.isfinite(tails[i])]
        target = probability * totals[i]
        rank = np.arange(1, len(vals) + 1) - 0.5
        if len(vals) >= 8 and rank[0] <= target <= rank[-1]:
            z = float(np.interp(target, rank, vals)) / sig[i]
        elif z_pool is not None:
            z = z_pool
        else:
            continue
        t_out.append(tc[i])
        z_out.append(z)
    if not t_out:
        return None
    return CorroborationLevel(np.asarray(t_out), np.asarray(z_out), scale, float(probability))


def corroboration_levels(sims, scale, xedges, probability: float | None) -> dict:
    """Levels of the three diagrams: ``{'median', 'mean', 'frame'}`` -> level or None.

    ``probability`` None disables the rule (every level None: the reference,
    where an Aux feature needs only one pixel above ``mm_threshold``).
    """
    out = {}
    for name in ("median", "mean", "frame"):
        if probability is None or name not in sims.hists:
            out[name] = None
        else:
            out[name] = level_of(sims.hists[name], sims.tails[name], xedges, scale, probability)
    return out


def corroborate(
    aux: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    level: Callable[[np.ndarray], np.ndarray] | None,
    threshold: float,
    also: np.ndarray | None = None,
) -> np.ndarray:
    """Aux features with M.M. evidence: one pixel above ``max(level(x), threshold)``.

    Parameters
    ----------
    aux : ndarray of bool
        Aux.Cosmic detections (True = cosmic ray), already restricted to the
        pixels that may be flagged.
    x, y : ndarray
        Diagram coordinates: ``min2d`` and ``target - min2d`` (ADU).
    level : callable or None
        Corroboration level (ADU); None: ``threshold`` alone (reference rule).
    threshold : float
        Derived ``mm_threshold`` (ADU).
    also : ndarray of bool, optional
        Pixels that validate a feature whatever their ordinate (CRMASKi: Aux
        detections of every exposure with M.M. evidence in one of them).

    Returns
    -------
    ndarray of bool
        The union of the corroborated features.
    """
    support = y > threshold
    if level is not None and aux.any():
        ys, xs = np.nonzero(aux)
        ok = np.zeros(aux.shape, dtype=bool)
        ok[ys, xs] = y[ys, xs] > level(x[ys, xs])
        support &= ok
    if also is not None:
        support |= also
    return keep_features(aux, support)
