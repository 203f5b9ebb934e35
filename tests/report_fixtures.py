"""Small fake ``CRMaskResult`` objects for the report tests and the benchmark.

The arrays are synthetic (seeded) and the detection codes are placed by hand,
so every count the reports produce is known in advance.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from megara_crplugin.result import (
    CRMaskResult,
    Feature,
    SimulatedHistogram,
    StackStatistics,
    TargetDetection,
)

#: Hand-placed MEDIANCR detections: (y, x, code) before the global dilation.
SEEDS_MM = (
    (10, 15, 4),  # any4
    (30, 40, 3),  # only3
    (45, 20, 2),  # only2
    (20, 60, 2),  # other (2 and 3, no 4)
    (20, 61, 3),
)
#: Pixel masked in every CRMASKi (a triple hit), array indices (y, x).
TRIPLE_HIT = (50, 70)


class FakeBoundary:
    """Boundary-like object: linear rise clamped to constants outside [xmin, xmax]."""

    kind = "spline"

    def __init__(self, xmin: float, xmax: float, *, y0: float = 20.0, slope: float = 0.1):
        self.xmin, self.xmax, self.y0, self.slope = float(xmin), float(xmax), y0, slope
        self.points_x = np.linspace(xmin, xmax, 20)
        self.points_y = self._line(self.points_x) - 2.0
        self.fixed_points = np.array([[xmax, self._line(xmax) + 5.0, 10000.0]])
        self.knots = np.linspace(xmin, xmax, 3)
        self.iterations = [
            (lambda x, k=k: self._line(np.asarray(x, float)) - 4.0 + 1.5 * k) for k in range(8)
        ]

    def _line(self, x):
        return self.y0 + self.slope * (np.asarray(x, float) - self.xmin)

    def __call__(self, x):
        return self._line(np.clip(np.asarray(x, float), self.xmin, self.xmax))


def _category(codes: np.ndarray) -> str:
    present = set(np.unique(codes).tolist())
    if 4 in present:
        return "any4"
    if 3 in present and 2 not in present:
        return "only3"
    if 2 in present and 3 not in present:
        return "only2"
    return "other"


def _features(code: np.ndarray, stats: StackStatistics, boundary) -> list[Feature]:
    labels, n = ndimage.label(code > 0, structure=np.ones((3, 3), bool))
    objs = ndimage.find_objects(labels)
    feats = []
    for lab, sl in enumerate(objs, start=1):
        ys, xs = np.nonzero(labels[sl] == lab)
        ys, xs = ys + sl[0].start, xs + sl[1].start
        x = stats.min2d[ys, xs]
        y = stats.median2d[ys, xs] - x
        dist = float(np.max(y - boundary(x))) if boundary is not None else -np.inf
        peak = float(np.max(y))
        feats.append((dist, peak, ys, xs, code[ys, xs].astype(np.uint8)))
    feats.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [
        Feature(k, _category(c), ys, xs, c, d) for k, (d, _, ys, xs, c) in enumerate(feats, start=1)
    ]


def _dilated_code(flags: np.ndarray) -> np.ndarray:
    """Code map with a one-pixel ring of code 1 around the flagged codes."""
    ring = ndimage.binary_dilation(flags > 0, structure=np.ones((3, 3), bool)) & (flags == 0)
    code = flags.astype(np.uint8)
    code[ring] = 1
    return code


def _target(name: str, target: np.ndarray, flags: np.ndarray) -> TargetDetection:
    code = _dilated_code(flags)
    return TargetDetection(
        name=name,
        target=target,
        flag_aux=np.isin(flags, (3, 4)),
        flag_mm=np.isin(flags, (2, 4)),
        code=code,
        mask=code > 0,
    )


def _flux_extras(n: int, rng: np.random.Generator) -> list[dict]:
    xc = np.linspace(0.0, 500.0, 101)
    yc = np.linspace(0.5, 1.5, 101)
    out = []
    for i in range(n):
        hist = rng.poisson(3.0, size=(101, 101)).astype(float)
        grid = np.linspace(0.5, 0.99, 50)
        out.append(
            {
                "hist": hist,
                "hist_clean": np.where(hist > 1, hist, 0.0),
                "xcentres": xc,
                "ycentres": yc,
                "points": [(rng.uniform(0, 500, 50), yc[:50]), (rng.uniform(0, 500, 50), yc[51:])],
                "curves": [(grid, 300 * grid), None],
                "modes": [(297.0, 0.99), None],
                "factor": 0.99 + 0.01 * i,
            }
        )
    return out


def make_fake_result(
    *,
    shape: tuple[int, int] = (60, 80),
    n_frames: int = 3,
    mm: bool = True,
    seed: int = 1,
    n_random_features: int = 0,
    maxplots: int = -1,
    flux: bool = True,
    offsets: bool = True,
) -> CRMaskResult:
    """Build a fake mask-computation result with known detections.

    ``mm=False`` mimics an Aux-only crmethod (no boundary, no histogram; MM
    codes become Aux codes).  ``n_random_features`` adds that many extra
    two-exposure hits at random positions (benchmarks).  ``flux`` and
    ``offsets`` add the 'auto' flux-factor diagnostics and cross-correlation
    offsets (with their region) to ``extras``.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    signal = 40.0 + 30.0 * np.sin(xx / 17.0) ** 2 + 0.2 * yy
    stack = rng.poisson(signal, size=(n_frames, ny, nx)) + rng.normal(0, 3.0, (n_frames, ny, nx))
    stack = stack.astype(np.float32)
    flags = np.zeros(shape, dtype=np.uint8)
    seeds = list(SEEDS_MM)
    if n_random_features:
        ys = rng.integers(5, ny - 5, n_random_features)
        xs = rng.integers(5, nx - 5, n_random_features)
        cs = rng.integers(2, 5, ys.size)
        seeds += [(int(y), int(x), int(c)) for y, x, c in zip(ys, xs, cs, strict=True)]
    for y, x, c in seeds:
        c = c if mm else 3
        stack[:2, y, x] += 800.0  # hit in two exposures
        flags[y, x] = c
    ty, tx = TRIPLE_HIT
    stack[:, ty, tx] += 900.0
    sorted_stack = np.sort(stack, axis=0)
    stats = StackStatistics(
        stack=stack,
        min2d=sorted_stack[0],
        max2d=sorted_stack[-1],
        median2d=np.median(stack, axis=0).astype(np.float32),
        mean2d=stack.mean(axis=0),
    )
    boundary = FakeBoundary(float(stats.min2d.min()), float(stats.min2d.max())) if mm else None
    targets = {"MEDIANCR": _target("MEDIANCR", stats.median2d, flags)}
    meancrt_flags = flags.copy()
    meancrt_flags[ty, tx] = 3
    targets["MEANCRT"] = _target("MEANCRT", stats.mean2d, meancrt_flags)
    for i in range(n_frames):
        crflags = np.where(flags > 0, 3, 0).astype(np.uint8) if i < 2 else np.zeros_like(flags)
        crflags[ty, tx] = 3
        targets[f"CRMASK{i + 1}"] = _target(f"CRMASK{i + 1}", stack[i], crflags)
    targets["MEANCR"] = _target("MEANCR", stats.mean2d, np.zeros_like(flags))
    problematic = np.logical_and.reduce([targets[f"CRMASK{i + 1}"].mask for i in range(n_frames)])
    histogram = None
    if mm:
        xedges = np.linspace(stats.min2d.min(), stats.min2d.max(), 101)
        yedges = np.linspace(0.0, 60.0, 101)
        ydiag = (stats.median2d - stats.min2d).ravel()
        real, _, _ = np.histogram2d(ydiag, stats.min2d.ravel(), bins=(yedges, xedges))
        sim = rng.poisson(real * 0.9 + 0.05) / 10.0
        histogram = SimulatedHistogram(sim, real, xedges, yedges, 10, "poisson")
    config = SimpleNamespace(
        maxplots=maxplots,
        semiwindow=5,
        color_scale="minmax",
        crmethod="mm_lacosmic" if mm else "lacosmic",
        aux_name="la",
        uses_mm=mm,
        dilation=1,
        mm_dilation=0,
        debug=False,
        interactive=False,
        verify_cr=False,
        use_auxmedian=False,
        flux_factor="auto",
        flux_factor_regions=[[10, 50, 10, 40]],
    )
    extras = {}
    if flux:
        extras["flux_factor"] = _flux_extras(n_frames, rng)
    shifts = np.column_stack([np.linspace(-0.5, 0.5, n_frames), np.zeros(n_frames)])
    if offsets:
        extras["crosscorr_region"] = SimpleNamespace(
            xmin=5, xmax=min(nx, 70), ymin=5, ymax=min(ny, 50)
        )
    return CRMaskResult(
        config=config,
        uuid="00000000-0000-4000-8000-000000000000",
        flux_factors=np.ones(n_frames),
        mm_threshold=15.0 if mm else 0.0,
        stats=stats,
        targets=targets,
        features=_features(targets["MEDIANCR"].code, stats, boundary),
        problematic=problematic,
        histogram=histogram,
        boundary=boundary,
        offsets=shifts if offsets else None,
        timings={"simulations": 1.5, "detectors": 3.0},
        extras=extras,
    )
