"""Detection boundary of the MM diagram: boundary points and monotone fits.

The boundary points ("red crosses") are, for each x column of the simulated
histogram, the ordinate above which one simulated pixel is expected over all
the simulations.  A monotonically non-decreasing cubic spline is fitted through
them, iteratively pulled upwards (boundary extension), optionally forced
through fixed points; or a piecewise-linear curve joins the fixed points.

Outside the fitted x range the boundary is extended with the constant values
reached at its ends (documented behaviour; the reference extrapolated the
cubic when flagging, defect 17).  Units: ADU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import BSpline
from scipy.optimize import lsq_linear

from ._blockstats import for_each_block, row_blocks

__all__ = [
    "Boundary",
    "boundary_points",
    "exceeds",
    "fit_boundary",
    "float32_threshold",
    "monotone_spline",
    "shared_threshold",
]

#: Values per block when a boundary is evaluated on a large array (8 MB per float64 block).
_EVAL_BLOCK = 1 << 20


def _hist_level(col: np.ndarray, yedges: np.ndarray) -> float:
    """Ordinate above which one simulated pixel of a histogram column lies.

    The pixels of the crossing bin are taken as spread uniformly inside it.
    """
    above = np.cumsum(col[::-1])[::-1]  # above[j] = pixels in bins >= j
    if above[0] <= 1.0:
        return float(yedges[0])
    j = int(np.flatnonzero(above >= 1.0)[-1])
    above_next = above[j + 1] if j + 1 < len(col) else 0.0
    frac = (1.0 - above_next) / col[j]
    return float(yedges[j + 1] - frac * (yedges[j + 1] - yedges[j]))


def _order_level(top: np.ndarray, target: float) -> float | None:
    """Ordinate above which ``target`` simulated pixels lie, from the largest values.

    ``top`` holds a column's largest simulated ordinates in decreasing order; the
    k-th largest has ``k - 1/2`` pixels above it.  Targets below one pixel are
    reached by extrapolating ``log(k - 1/2)`` linearly in y (an exponential tail,
    which over-estimates a Gaussian one: it errs on the safe side).
    """
    vals = top[np.isfinite(top)]
    if len(vals) < 8:
        return None
    rank = np.arange(1, len(vals) + 1) - 0.5
    if target >= rank[0]:
        return float(np.interp(target, rank, vals))
    slope, icpt = np.polyfit(vals, np.log(rank), 1)
    if not slope < 0:
        return float(vals[0])
    return float(max((np.log(target) - icpt) / slope, vals[0]))


def boundary_points(
    counts: np.ndarray,
    xedges: np.ndarray,
    yedges: np.ndarray,
    *,
    scale=None,
    tails: np.ndarray | None = None,
    tail: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Boundary points ("red crosses") of the simulated MM diagram, one per column.

    Parameters
    ----------
    counts : ndarray (nby, nbx)
        Simulated pixels per bin, summed over all simulations (rows = y).
    xedges, yedges : ndarray
        Bin edges (ADU).
    scale : NoiseScale, optional
        Abscissa transform of the columns; the column centre is taken in the
        transformed coordinate.  Default: linear.
    tails : ndarray (nbx, K), optional
        The largest simulated ordinates of each column (decreasing).  When
        given, the points are measured on them at full resolution (no bin
        rounding); otherwise on the histogram, one simulated pixel per column
        (the reference rule).
    tail : float, optional
        With ``tails``: number of simulated pixels (over all the simulations)
        expected above each column's point (``mm_boundary_tail``).  1 is the
        reference rule, which lets about ``ncolumns / nsimulations`` noise
        pixels per image through; values below 1 are reached by extrapolating
        the column's tail.

    Returns
    -------
    x, y : ndarray
        Column centre and ordinate (ADU) of each usable column.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if scale is None:
        xc = 0.5 * (xedges[:-1] + xedges[1:])
    else:
        te = scale.forward(xedges)
        xc = scale.inverse(0.5 * (te[:-1] + te[1:]))
    col_tot = counts.sum(axis=0)
    px, py = [], []
    for i in np.flatnonzero(col_tot > 0):
        if tails is None:
            y = _hist_level(counts[:, i], yedges)
        else:
            y = _order_level(tails[i], tail)
        if y is not None:
            px.append(xc[i])
            py.append(y)
    return np.asarray(px, dtype=float), np.asarray(py, dtype=float)


def _design_matrix(x, t, k=3):
    n_coef = len(t) - k - 1
    return BSpline.design_matrix(np.clip(x, t[k], t[-k - 1]), t, k).toarray()[:, :n_coef]


def monotone_spline(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, *, n_knots: int
) -> tuple[BSpline, np.ndarray]:
    """Weighted least-squares cubic spline, non-decreasing on the fitted range.

    Monotonicity is imposed through non-decreasing B-spline coefficients
    (a sufficient condition for a non-decreasing cubic spline), solved exactly
    as a bounded linear least-squares problem.

    Parameters
    ----------
    x, y : ndarray
        Points (ADU), any order.
    w : ndarray
        Weights (>= 0) of the squared residuals.
    n_knots : int
        Total number of knots, both ends included (>= 2), equally spaced.

    Returns
    -------
    spline : scipy.interpolate.BSpline
        The fit (evaluate only inside the knot range; see :class:`Boundary`).
    knots : ndarray
        The ``n_knots`` knot positions.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        hi = lo + 1.0
    knots = np.linspace(lo, hi, max(2, n_knots))
    t = np.concatenate([[lo] * 3, knots, [hi] * 3])
    b = _design_matrix(x, t)
    n_coef = b.shape[1]
    # c = T d with T lower-triangular ones: c_j = d_0 + ... + d_j, d_1.. >= 0
    tri = np.tril(np.ones((n_coef, n_coef)))
    sw = np.sqrt(w)[:, None]
    a = (b @ tri) * sw
    lower = np.r_[-np.inf, np.zeros(n_coef - 1)]
    sol = lsq_linear(a, y * sw[:, 0], bounds=(lower, np.inf), method="bvls")
    return BSpline(t, tri @ sol.x, 3, extrapolate=False), knots


@dataclass
class Boundary:
    """The detection boundary y = f(x) of the MM diagram (ADU).

    Calling it evaluates the final fit, extended outside ``[xmin, xmax]`` with
    the constant values reached at the ends.
    """

    kind: str
    points_x: np.ndarray
    points_y: np.ndarray
    fixed_points: np.ndarray
    knots: np.ndarray
    xmin: float
    xmax: float
    iterations: list[Callable[[np.ndarray], np.ndarray]] = field(default_factory=list)
    table: tuple | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate the boundary at ``x`` (constant extension outside the range).

        A spline boundary is evaluated by linear interpolation in a table of
        4097 exact values, dense in the fitting coordinate (differences far
        below 0.01 ADU, ten times faster on a full frame).
        """
        x = np.asarray(x)
        if x.size <= _EVAL_BLOCK:
            return self._evaluate(x)
        # element-wise: in blocks, the same values without full-frame float64 temporaries
        flat = x.reshape(-1)
        first = self._evaluate(flat[:_EVAL_BLOCK])
        out = np.empty(flat.shape, dtype=first.dtype)
        out[:_EVAL_BLOCK] = first
        for start in range(_EVAL_BLOCK, flat.size, _EVAL_BLOCK):
            out[start : start + _EVAL_BLOCK] = self._evaluate(flat[start : start + _EVAL_BLOCK])
        return out.reshape(x.shape)

    def _evaluate(self, x: np.ndarray) -> np.ndarray:
        if self.table is None:
            return self.iterations[-1](np.clip(x.astype(float), self.xmin, self.xmax))
        fwd, t0, dt, values = self.table
        f = (fwd(np.clip(x, self.xmin, self.xmax)) - t0) / dt
        i = np.clip(f.astype(np.intp), 0, len(values) - 2)
        w = f - i
        return values[i] * (1 - w) + values[i + 1] * w


def _identity(x):
    return np.asarray(x, dtype=float)


def _spline_callable(spl: BSpline, lo: float, hi: float, fwd):
    def f(x):
        return spl(np.clip(fwd(x), lo, hi))

    return f


def fit_boundary(
    points_x: np.ndarray,
    points_y: np.ndarray,
    *,
    kind: str = "spline",
    n_knots: int = 3,
    niter: int = 3,
    weight: float = 10.0,
    fixed_points: np.ndarray | None = None,
    scale=None,
) -> Boundary:
    """Fit the detection boundary through the boundary points (spline or piecewise).

    Parameters
    ----------
    points_x, points_y : ndarray
        Boundary points (ADU).
    kind : {'spline', 'piecewise'}
        ``spline``: monotone cubic spline, refitted ``niter`` times with the
        points above the previous fit weighted by ``weight**iteration``;
        ``piecewise``: straight lines through the fixed points (>= 2).
    n_knots : int
        Total number of spline knots (>= 2).
    niter : int
        Boundary-extension iterations (>= 0).
    weight : float
        Extension weight (>= 1).
    fixed_points : ndarray (k, 3), optional
        ``(x, y, weight)`` points forced into the fit; their weight is
        multiplied by the largest weight of the current iteration.
    scale : NoiseScale, optional
        The spline is fitted in ``scale.forward(x)`` (knots equally spaced in
        it); default linear in x.

    Returns
    -------
    Boundary
    """
    fp = np.zeros((0, 3)) if fixed_points is None else np.asarray(fixed_points, float)
    px = np.asarray(points_x, dtype=float)
    py = np.asarray(points_y, dtype=float)
    if kind == "piecewise":
        if len(fp) < 2:
            raise ValueError("mm_boundary_fit 'piecewise' needs at least 2 fixed points")
        order = np.argsort(fp[:, 0])
        xf, yf = fp[order, 0], fp[order, 1]

        def f(x):
            return np.interp(np.asarray(x, dtype=float), xf, yf)

        return Boundary("piecewise", px, py, fp, xf, float(xf[0]), float(xf[-1]), [f])
    if len(px) + len(fp) == 0:
        raise ValueError("no boundary points: the simulated MM histogram is empty")
    fwd = _identity if scale is None else scale.forward
    inv = _identity if scale is None else scale.inverse
    iterations = []
    prev = None
    knots = np.array([])
    for it in range(niter + 1):
        w = np.ones_like(px)
        if it >= 1 and prev is not None:
            w[py > prev(px)] = weight**it
        xs, ys, ws = px, py, w
        if len(fp):
            wmax = float(w.max()) if len(w) else 1.0
            xs = np.r_[px, fp[:, 0]]
            ys = np.r_[py, fp[:, 1]]
            ws = np.r_[w, fp[:, 2] * wmax]
        spl, knots = monotone_spline(fwd(xs), ys, ws, n_knots=n_knots)
        prev = _spline_callable(spl, float(knots[0]), float(knots[-1]), fwd)
        iterations.append(prev)
    knots_x = inv(knots)
    tgrid = np.linspace(knots[0], knots[-1], 4097)
    dt = (tgrid[-1] - tgrid[0]) / (len(tgrid) - 1) or 1.0
    return Boundary(
        "spline",
        px,
        py,
        fp,
        knots_x,
        float(knots_x[0]),
        float(knots_x[-1]),
        iterations,
        table=(fwd, float(tgrid[0]), float(dt), spl(tgrid)),
    )


def float32_threshold(
    boundary: Callable[[np.ndarray], np.ndarray], x: np.ndarray, threads: int = 1
) -> np.ndarray:
    """The boundary at ``x`` as a float32 threshold image, exact for float32 ordinates.

    ``t`` is the largest float32 not above ``boundary(x)`` (float64), so that
    for every float32 ``y``: ``y > t`` exactly when ``y > boundary(x)``.  Half
    the memory of the float64 values; computed once, it serves every target
    with the same boundary (the three exposures, the noise check and MEDIANCR).

    Parameters
    ----------
    boundary : callable
        The detection boundary f(x) (ADU).
    x : ndarray
        Abscissae (ADU), e.g. ``min2d``.
    threads : int, optional
        Blocks evaluated at once (threads; element-wise: the same values).

    Returns
    -------
    ndarray of float32, shape of ``x``
    """
    flat = np.asarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype=np.float32)

    def block(part: slice) -> None:
        b = np.asarray(boundary(flat[part]), dtype=np.float64)
        t = b.astype(np.float32)
        high = t > b  # rounded up: step one float32 down
        t[high] = np.nextafter(t[high], np.float32(-np.inf))
        out[part] = t

    for_each_block(block, row_blocks(flat.size, _EVAL_BLOCK), threads)
    return out.reshape(np.shape(x))


def shared_threshold(boundary, x: np.ndarray, threads: int = 1) -> np.ndarray | None:
    """:func:`float32_threshold` where it serves: a boundary and float32 ``x`` (else None).

    The targets' ordinates have the stack's dtype, as ``min2d``: with a
    float64 stack they evaluate the boundary themselves (:func:`exceeds`).
    """
    if boundary is None or np.asarray(x).dtype != np.float32:
        return None
    return float32_threshold(boundary, x, threads)


def exceeds(y: np.ndarray, boundary, x: np.ndarray, threshold=None) -> np.ndarray:
    """``y > boundary(x)`` (bool, True = above), with ``threshold`` when it applies.

    ``threshold`` is :func:`float32_threshold` of the same boundary at ``x``
    (computed once for several targets); it is used only for a float32 ``y``,
    for which it gives the same comparisons.
    """
    if threshold is None or y.dtype != np.float32:
        threshold = np.asarray(boundary(x), dtype=np.float64).reshape(y.shape)
    return y > threshold
