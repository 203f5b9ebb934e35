"""Monte-Carlo simulation of the MM diagnostic diagram under the no-CR hypothesis.

The expected signal of every exposure is drawn from a Poisson (or negative
binomial) distribution in electrons, read noise is added, and the per-pixel
(min, median - min) pairs are accumulated into a 2-D histogram.  Nothing is kept
per simulation: the cube is simulated in row chunks and streamed into integer
bin counts; simulations run in up to two forked worker processes.  Every chunk has its own
random stream derived from ``(seed, simulation, chunk)``, so the result does not
depend on thread scheduling.

Units: ADU (bias-subtracted); ``gain`` in e-/ADU, ``rnoise`` in ADU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._blockstats import for_each_block, row_blocks
from ._forkmap import fork_context, fork_imap
from ._selectnet import order_statistics
from ._simcounts import STATISTICS, TOP_K, SimulationCounts, _accumulate, _bin_counts
from .stacking import low_mean

__all__ = [
    "STATISTICS",
    "SimulationCounts",
    "DiagramLimits",
    "NoiseScale",
    "SyntheticModel",
    "diagram_limits",
    "fork_context",
    "remove_isolated_bins",
    "simulate_histogram",
]

_CHUNK_PIXELS = 1 << 19  # pixels of one frame per chunk


@dataclass(frozen=True)
class NoiseScale:
    """Noise-stabilised abscissa of the MM diagram.

    ``t(x) = sqrt(x / gain + rnoise**2) - rnoise`` for ``x >= 0`` (in units where
    the single-exposure noise grows linearly), continued linearly below 0 with
    the same slope.  Histogram columns are uniform in ``t`` and the boundary is
    fitted in ``t``: the noise-driven boundary is then nearly a straight line,
    which a spline with few knots follows from the faint inter-fibre pixels to
    the brightest sky lines.  With linear columns (the reference) almost every
    MEGARA pixel falls in the first one or two columns and the fitted boundary
    overshoots at low signal.  ``x`` in ADU, ``gain`` in e-/ADU, ``rnoise`` ADU.
    """

    gain: float = 1.0
    rnoise: float = 0.0
    nbinom_shape: float | None = None

    def sigma(self, x):
        """Single-exposure noise (ADU) expected at signal ``x`` (ADU)."""
        x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        var = x / self.gain + self._r**2
        if self.nbinom_shape:
            var = var + x * x / self.nbinom_shape
        return np.sqrt(var)

    @property
    def _r(self) -> float:
        return max(float(self.rnoise), 1e-3)

    def forward(self, x):
        """t(x) for x in ADU (float32 in, float32 out; otherwise float64)."""
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(np.float64)
        dt = x.dtype.type
        r = self._r
        pos = np.sqrt(np.maximum(x, dt(0)) * dt(1.0 / self.gain) + dt(r * r)) - dt(r)
        return np.where(x >= 0, pos, x * dt(1.0 / (2.0 * self.gain * r)))

    def inverse(self, t):
        """x(t) in ADU."""
        t = np.asarray(t, dtype=np.float64)
        r = self._r
        pos = ((np.maximum(t, 0.0) + r) ** 2 - r * r) * self.gain
        return np.where(t >= 0, pos, t * 2.0 * self.gain * r)


@dataclass(frozen=True)
class DiagramLimits:
    """Limits of the MM diagram (ADU)."""

    xmin: float
    xmax: float
    ymax: float
    ymin: float = 0.0

    def edges(self, scale: NoiseScale, nbins: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(xedges, yedges)``: columns uniform in ``scale.forward(x)``, rows uniform."""
        t0, t1 = scale.forward([self.xmin, self.xmax])
        xedges = scale.inverse(np.linspace(t0, t1, nbins + 1))
        xedges[0], xedges[-1] = self.xmin, self.xmax
        return xedges, np.linspace(self.ymin, self.ymax, nbins + 1)


@dataclass(frozen=True)
class SyntheticModel:
    """Expected signal of the N simulated exposures (ADU, bias-free).

    Either one shared 2-D ``model`` times per-frame ``factors`` (``mm_synthetic:
    median``), or a full (N, ny, nx) cube (``single`` or shifted models).
    Negative expectations are treated as 0.
    """

    model: np.ndarray
    factors: np.ndarray

    @property
    def n_frames(self) -> int:
        """Number of simulated exposures."""
        return len(self.factors)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx)."""
        return self.model.shape[-2:]

    def rows(self, i: int, sl: slice) -> np.ndarray:
        """Expected signal of exposure ``i`` for the rows ``sl`` (float64, >= 0)."""
        src = self.model[i] if self.model.ndim == 3 else self.model
        lam = np.asarray(src[sl], dtype=np.float64) * float(self.factors[i])
        np.maximum(lam, 0.0, out=lam)
        return lam


def _draw_counts(rng, lam_e, distribution, nbinom_shape):
    if distribution == "poisson":
        return rng.poisson(lam_e)
    # Negative binomial with mean lam and variance lam + lam^2 / shape.
    p = nbinom_shape / (nbinom_shape + lam_e)
    return rng.negative_binomial(nbinom_shape, p)


def _rows_of(value, sl):
    arr = np.asarray(value)
    return arr if arr.ndim == 0 else arr[sl]


def _simulate_rows(model, sl, *, gain, rnoise, distribution, nbinom_shape, n_excl, rng):
    """Simulate the rows ``sl`` of the N exposures; return x and the ordinates (ADU)."""
    g = _rows_of(gain, sl)
    r = _rows_of(rnoise, sl)
    n = model.n_frames
    nrows = (sl.stop - sl.start) if isinstance(sl, slice) else len(sl)
    nx = model.shape[1]
    sim = np.empty((n, nrows, nx), dtype=np.float32)
    for i in range(n):
        counts = _draw_counts(rng, model.rows(i, sl) * g, distribution, nbinom_shape)
        np.divide(counts, g, out=sim[i], casting="unsafe")
        noise = rng.standard_normal(size=(nrows, nx), dtype=np.float32)
        noise *= np.float32(r) if np.ndim(r) == 0 else r.astype(np.float32)
        sim[i] += noise
    mean = sim.mean(axis=0)
    if n == 3 and n_excl == 2:
        # the sort along the short axis by a sorting network (same values, faster)
        xmin, xmed, xmax = order_statistics(list(sim), (0, 1, 2))
        # the pooled exposure statistic is {0, median - min, max - min}: see _Accumulator
        return xmin, {"median": xmed - xmin, "mean": mean - xmin, "max": xmax - xmin}
    xmin = low_mean(sim, n_excl)
    med = np.median(sim, axis=0)
    # the frame order is irrelevant for the pooled exposure statistic
    return xmin, {"median": med - xmin, "mean": mean - xmin, "frame": sim - xmin}


#: Pixels simulated per exposure and simulation, at most (see ``simulate_histogram``).
MAX_SIMULATED_PIXELS = 2_000_000


@dataclass
class _SimulationJob:
    """Everything one simulation needs; run(k) returns its integer histogram."""

    model: SyntheticModel
    slices: list
    gain: object
    rnoise: object
    distribution: str
    nbinom_shape: float
    n_excl: int
    entropy: int
    keep: np.ndarray | None
    xedges: np.ndarray
    yedges: np.ndarray
    scale: NoiseScale

    def run(self, k: int) -> SimulationCounts:
        total = _empty_counts(self.xedges, self.yedges)
        for j, sl in enumerate(self.slices):
            # one independent stream per (simulation, chunk): reproducible whatever
            # the number of workers
            rng = np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(k, j)))
            x, ys = _simulate_rows(
                self.model,
                sl,
                gain=self.gain,
                rnoise=self.rnoise,
                distribution=self.distribution,
                nbinom_shape=self.nbinom_shape,
                n_excl=self.n_excl,
                rng=rng,
            )
            keep = None if self.keep is None else self.keep[sl]
            _accumulate(total, x, ys, keep, self.xedges, self.yedges, self.scale)
        return total


def _empty_counts(xedges, yedges) -> SimulationCounts:
    shape = (len(yedges) - 1, len(xedges) - 1)
    return SimulationCounts(
        {name: np.zeros(shape, dtype=np.int64) for name in STATISTICS},
        {name: np.full((shape[1], TOP_K), -np.inf, dtype=np.float32) for name in STATISTICS},
    )


def histogram2d(x, y, xedges, yedges, *, scale: NoiseScale, keep=None, threads: int = 1):
    """2-D histogram of diagram coordinates on uniform bins (rows = y bins).

    Parameters
    ----------
    x, y : ndarray
        Abscissa (min2d) and ordinate (e.g. median2d - min2d), ADU.
    xedges, yedges : ndarray
        Bin edges (from :meth:`DiagramLimits.edges`).  Samples outside are dropped.
    scale : NoiseScale
        Columns are uniform in ``scale.forward(x)``.
    keep : ndarray of bool, optional
        Only these samples are counted.
    threads : int, optional
        2-D images are binned a block of rows at a time in that many threads
        (integer counts: the same histogram, with bounded temporaries).

    Returns
    -------
    ndarray of int64, shape (len(yedges) - 1, len(xedges) - 1)
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2:
        flat_keep = None if keep is None else np.ravel(keep)
        return _bin_counts(np.ravel(x), np.ravel(y), xedges, yedges, flat_keep, scale)
    parts = []

    def count(rows: slice) -> None:
        k = None if keep is None else np.ravel(keep[rows])
        parts.append(_bin_counts(np.ravel(x[rows]), np.ravel(y[rows]), xedges, yedges, k, scale))

    for_each_block(count, row_blocks(x.shape[0]), threads)
    return sum(parts[1:], parts[0])


def simulate_histogram(
    model: SyntheticModel,
    *,
    gain: float | np.ndarray,
    rnoise: float | np.ndarray,
    xedges: np.ndarray,
    yedges: np.ndarray,
    scale: NoiseScale,
    nsimulations: int,
    cr_coincidences: int = 2,
    distribution: str = "poisson",
    nbinom_shape: float = 1000.0,
    exclude: np.ndarray | None = None,
    seed: int | None = None,
    advance: Callable[[int], None] | None = None,
    workers: int | None = None,
    max_pixels: int | None = MAX_SIMULATED_PIXELS,
) -> SimulationCounts:
    """Accumulate the MM diagram of ``nsimulations`` synthetic exposure sets.

    Parameters
    ----------
    model : SyntheticModel
        Expected signal of each exposure (ADU).
    gain : float or ndarray (ny, nx)
        Gain in e-/ADU.
    rnoise : float or ndarray (ny, nx)
        Read noise in ADU.
    xedges, yedges : ndarray
        Bin edges of the diagram (ADU), from :meth:`DiagramLimits.edges`.
    scale : NoiseScale
        Abscissa transform of the columns.
    nsimulations : int
        Number of simulated exposure sets (> 0).
    cr_coincidences : int, optional
        Number of highest values excluded from the simulated min2d.
    distribution : {'poisson', 'nbinom'}
        Photon statistics.  ``nbinom`` has variance ``lam + lam**2 / nbinom_shape``
        (lam in electrons).
    nbinom_shape : float, optional
        Shape of the negative binomial.
    exclude : ndarray of bool (ny, nx), optional
        Pixels left out of the histogram (True = excluded; e.g. flagged by Aux).
    seed : int or None
        Seed of the random streams.  Same seed, same histogram.
    advance : callable, optional
        Called with 1 after every simulation (progress display).
    workers : int, optional
        Worker processes (default: up to 2; forked, so the model is shared
        copy-on-write; 1 = run in this process).  The result does not depend
        on it.
    max_pixels : int or None, optional
        Larger images are simulated on a fixed random subset of this many
        pixels' rows (``SimulationCounts.fraction`` records the share): the
        diagram's columns are sampled as well by a few million pixels per
        simulation, at an eighth of the cost for a full MEGARA frame.  None or
        0: every pixel.

    Returns
    -------
    SimulationCounts
        Pixels per bin summed over the simulations, and the pooled histogram
        of the noise-normalised ordinate.
    """
    if nsimulations <= 0:
        raise ValueError(f"mm_nsimulations: expected an integer > 0, got {nsimulations!r}")
    ny, nx = model.shape
    entropy = seed if seed is not None else np.random.SeedSequence().entropy
    rows = np.arange(ny)
    if max_pixels and ny * nx > max_pixels:
        # a fixed random subset of rows, the same in every simulation
        pick = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(2**20,)))
        rows = np.sort(pick.choice(ny, size=max(1, max_pixels // nx), replace=False))
    rows_per_chunk = max(1, _CHUNK_PIXELS // nx)
    slices = [rows[a : a + rows_per_chunk] for a in range(0, len(rows), rows_per_chunk)]
    job = _SimulationJob(
        model=model,
        slices=slices,
        gain=gain,
        rnoise=rnoise,
        distribution=distribution,
        nbinom_shape=nbinom_shape,
        n_excl=cr_coincidences,
        entropy=entropy,
        keep=None if exclude is None else ~np.asarray(exclude, dtype=bool),
        xedges=np.asarray(xedges, float),
        yedges=np.asarray(yedges, float),
        scale=scale,
    )
    total = _empty_counts(xedges, yedges)
    total.fraction = len(rows) / ny
    nworkers = workers if workers is not None else min(2, os.cpu_count() or 1)
    ctx = fork_context() if nworkers > 1 and nsimulations > 1 else None
    if ctx is None:
        for k in range(nsimulations):
            total += job.run(k)
            if advance is not None:
                advance(1)
        return total
    # the job is inherited by the forked workers (copy-on-write, nothing pickled)
    for counts in fork_imap(job.run, nsimulations, nworkers, ordered=False):
        total += counts
        if advance is not None:
            advance(1)
    return total


def diagram_limits(
    x: np.ndarray,
    *,
    n_frames: int,
    gain: float,
    rnoise: float,
    cr_coincidences: int = 2,
    distribution: str = "poisson",
    nbinom_shape: float = 1000.0,
    shifted: bool = False,
    fixed_points: np.ndarray | None = None,
    ydiag_max: float = 0.0,
    seed: int | None = None,
    ntrials: int = 10000,
) -> DiagramLimits:
    """Limits of the MM diagram from a quick Monte Carlo of both corners.

    Parameters
    ----------
    x : ndarray
        min2d of the data (ADU).
    n_frames : int
        Number of exposures.
    gain, rnoise : float
        Representative (median) gain in e-/ADU and read noise in ADU.
    cr_coincidences : int, optional
        Highest values excluded from the minimum (the same rule as the data,
        unlike the reference, which used the true minimum here: defect 22).
    distribution, nbinom_shape : optional
        Photon statistics, as in :func:`simulate_histogram`.
    shifted : bool, optional
        Exposures are offset: the y range is doubled again (x4 instead of x2).
    fixed_points : ndarray (k, >= 2), optional
        Boundary fixed points; the y range covers them.
    ydiag_max : float, optional
        If > 0, overrides the automatic upper y limit.
    seed : int or None
        Seed of the trials.
    ntrials : int, optional
        Monte-Carlo trials per corner.

    Returns
    -------
    DiagramLimits
    """
    rng = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(10**6,)) if seed is not None else None
    )
    xmax_data = float(np.max(x))
    m = max(0.0, xmax_data)
    low = (
        rng.normal(0.0, rnoise, size=(n_frames, ntrials))
        if rnoise > 0
        else np.zeros((n_frames, ntrials))
    )
    lam = np.full((n_frames, ntrials), m * gain)
    high = _draw_counts(rng, lam, distribution, nbinom_shape) / gain
    if rnoise > 0:
        high = high + rng.normal(0.0, rnoise, size=high.shape)
    low_med = np.median(low, axis=0)
    high_med = np.median(high, axis=0)
    high_min = low_mean(high, cr_coincidences)
    xdiag_min = min(float(low_med.min()), float(np.min(x)))
    xdiag_max = max(float(high_med.max()), xmax_data)
    ymax = float((high_med - high_min).max()) * (4.0 if shifted else 2.0)
    if fixed_points is not None and len(fixed_points) and float(np.max(fixed_points[:, 1])) > ymax:
        ymax = 1.05 * float(np.max(fixed_points[:, 1]))
    if ydiag_max > 0:
        ymax = float(ydiag_max)
    if not ymax > 0:
        ymax = max(1.0, 10.0 * rnoise)
    if not xdiag_max > xdiag_min:
        xdiag_max = xdiag_min + 1.0
    return DiagramLimits(xmin=xdiag_min, xmax=xdiag_max, ymax=ymax)


def remove_isolated_bins(counts: np.ndarray, min_neighbors: int) -> np.ndarray:
    """Zero the non-empty bins with fewer than ``min_neighbors`` non-empty neighbours.

    Parameters
    ----------
    counts : ndarray (nby, nbx)
        Histogram.
    min_neighbors : int
        0..8; 0 leaves the histogram unchanged.  Single pass.

    Returns
    -------
    ndarray
        A cleaned copy.
    """
    out = np.array(counts, copy=True)
    if min_neighbors <= 0:
        return out
    occupied = out > 0
    kernel = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    nb = ndimage.convolve(occupied.astype(np.int32), kernel, mode="constant", cval=0)
    out[occupied & (nb < min_neighbors)] = 0
    return out
