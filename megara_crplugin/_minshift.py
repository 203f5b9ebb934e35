"""Where the minimum of N normal values lies: ``-E[min]`` in units of their sigma.

The expected signal's line estimate (:mod:`megara_crplugin.expected`) takes the
minimum of the N exposures of the adjacent rows; that minimum lies this many
sigma below their mean on average, which the estimate adds back (0.846 for
N = 3, 1.163 for N = 5).  The values for N <= 20 are tabulated: they are the
doubles :func:`min_shift_integral` gives (the tests recompute them), without
importing :mod:`scipy.stats` in every run (0.5-1.6 s).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["MIN_SHIFTS", "min_shift", "min_shift_integral"]

#: ``-E[min]`` of n = 1..20 standard normal values.
MIN_SHIFTS = (
    0.0, 0.5641895835477561, 0.8462843753216343, 1.0293753730039643, 1.1629644736405196,
    1.2672063606114712, 1.3521783756069046, 1.4236003060452778, 1.485013162209237,
    1.538752730835173, 1.5864363519080005, 1.6292276398719132, 1.6679901770491277,
    1.7033815540999764, 1.7359134449410374, 1.7659913930547881, 1.7939419808826909,
    1.8200318789687224, 1.844481511603825, 1.8674750597983207,
)  # fmt: skip


def min_shift(n: int) -> float:
    """``-E[min]`` of ``n`` standard normal values (dimensionless, in sigma)."""
    return MIN_SHIFTS[n - 1] if 1 <= n <= len(MIN_SHIFTS) else min_shift_integral(n)


@functools.lru_cache
def min_shift_integral(n: int) -> float:
    """``-E[min]`` of ``n`` standard normal values, integrated numerically (scipy)."""
    from scipy import integrate, stats

    def density(t):
        return -t * n * stats.norm.pdf(t) * stats.norm.sf(t) ** (n - 1)

    return float(integrate.quad(density, -np.inf, np.inf)[0])
