"""The normal-tail level of a threshold on photon + read noise (:mod:`.expected`, :mod:`._refine`).

A test "``value > expected + k * sigma``" means what its ``k`` says only for
normal noise; photon noise on a faint pixel is skewed upwards.  Units: ADU,
gain in e-/ADU.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEDIAN_EFFICIENCY", "level", "skewed_threshold", "skewness"]

#: The median of n normal values scatters about ``MEDIAN_EFFICIENCY * sigma / sqrt(n)``
#: (``sqrt(pi / 2)``, large n).
MEDIAN_EFFICIENCY = 1.2533


def skewed_threshold(k, value, sigma, gain):
    """Threshold ``k`` (sigma) moved up by the skewness of the photon noise (Cornish-Fisher).

    Photon noise on ``value`` ADU has third cumulant ``value / gain**2``
    (ADU^3): its upper tail is heavier than a normal one's (at 4.5 sigma 1.5
    to 4 times as many values beyond it, from 1,000 down to 15 e-, with 3.4 e-
    of read noise).  ``k + (k**2 - 1) * skewness / 6`` (``sigma``: the whole
    noise, ADU) is the level that noise exceeds about as rarely as a normal
    value exceeds ``k`` (first order: within 20 % from 5 e- up for k <= 4.5,
    tested; at 6 sigma on 5 e- the tail is still 1.5 times the normal one).
    """
    return level(k, skewness(value, sigma, gain))


def level(k, skew):
    """The Cornish-Fisher level ``k + (k**2 - 1) * skew / 6`` (sigma) of a skewed noise."""
    return k + (k * k - 1.0) / 6.0 * skew


def skewness(value, sigma, gain):
    """Skewness of photon noise on ``value`` ADU within a total noise ``sigma`` (ADU).

    The third cumulant of the photon noise, ``value / gain**2`` (ADU^3), over
    ``sigma**3``; 0 where ``value`` <= 0 (no photons).
    """
    return np.maximum(value, 0) / (np.asarray(gain) ** 2 * sigma**3)
