"""Monte-Carlo simulation of the MM diagram: exact tails, reproducibility, limits."""

from __future__ import annotations

import numpy as np
import pytest

import megara_crplugin._simcounts as _simcounts
import megara_crplugin.simulation as simulation
from megara_crplugin.simulation import (
    TOP_K,
    NoiseScale,
    SyntheticModel,
    diagram_limits,
    histogram2d,
    remove_isolated_bins,
    simulate_histogram,
)

GAIN, RNOISE = 1.0, 3.4


def _model(shape=(48, 40), seed=0):
    """Expected signal (ADU) spanning 0..3000 with a few negative values."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-5.0, 3000.0, shape[1])[None, :] * rng.uniform(0.2, 1.0, size=(shape[0], 1))
    return ramp.astype(np.float32)


def _edges(model, nbins=30):
    scale = NoiseScale(gain=GAIN, rnoise=RNOISE)
    lim = diagram_limits(model, n_frames=3, gain=GAIN, rnoise=RNOISE, seed=5)
    xedges, yedges = lim.edges(scale, nbins=nbins)
    return scale, xedges, yedges


def _run(model, **kw):
    scale, xedges, yedges = _edges(model.model)
    args = dict(
        gain=GAIN,
        rnoise=RNOISE,
        xedges=xedges,
        yedges=yedges,
        scale=scale,
        nsimulations=3,
        seed=42,
        workers=1,
    )
    args.update(kw)
    return simulate_histogram(model, **args)


def _ordinates(ys):
    """The three diagram ordinates of ``_simulate_rows``; the pooled exposure one as (N, ...)."""
    out = {"median": ys["median"], "mean": ys["mean"]}
    if "frame" in ys:
        out["frame"] = ys["frame"]
    else:  # N = 3 shortcut: exposure - min takes the values 0, median - min, max - min
        out["frame"] = np.stack([np.zeros_like(ys["median"]), ys["median"], ys["max"]])
    return out


def _tail_values(name, y):
    """Ordinates that enter the tail tables.

    With N = 3 the pooled exposure statistic leaves the minimum's own zeros out of
    its tails (they are counted in the histogram only): the exponential tail
    extrapolation would otherwise be pulled by that point mass in sparse columns.
    """
    return y[1:] if name == "frame" and y.ndim == 3 and not y[0].any() else y


def _brute_force(model, *, nsim, seed, rows_per_chunk):
    """Histogram and per-column top-K of every simulated ordinate, by a plain sort.

    The columns and rows are computed with the float32 arithmetic of the binning, so
    the comparison tests the selection and merging of the tails, not rounding at edges.
    """
    scale, xedges, yedges = _edges(model.model)
    ny, nx = model.shape
    samples = {name: ([], [], [], []) for name in simulation.STATISTICS}
    for k in range(nsim):
        for j, a in enumerate(range(0, ny, rows_per_chunk)):
            sl = slice(a, min(a + rows_per_chunk, ny))
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, j)))
            x, ys = simulation._simulate_rows(
                model,
                sl,
                gain=GAIN,
                rnoise=RNOISE,
                distribution="poisson",
                nbinom_shape=1000.0,
                n_excl=2,
                rng=rng,
            )
            for name, y in _ordinates(ys).items():
                samples[name][0].append(np.broadcast_to(x, y.shape).ravel())
                samples[name][1].append(y.ravel())
                t = _tail_values(name, y)
                samples[name][2].append(np.broadcast_to(x, t.shape).ravel())
                samples[name][3].append(t.ravel())
    hists = {name: _bin(s[0], s[1], scale, xedges, yedges)[0] for name, s in samples.items()}
    tails = {name: _bin(s[2], s[3], scale, xedges, yedges)[1] for name, s in samples.items()}
    return hists, tails


def _bin(xs, ys, scale, xedges, yedges):
    """Plain histogram and per-column sorted top-K of the samples."""
    nbx, nby = len(xedges) - 1, len(yedges) - 1
    t0, t1 = scale.forward(np.array([xedges[0], xedges[-1]]))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.float32)
    fx = (scale.forward(x) - np.float32(t0)) * np.float32(nbx / (t1 - t0))
    fy = (y - np.float32(yedges[0])) * np.float32(nby / (yedges[-1] - yedges[0]))
    fy = np.minimum(fy, np.float32(nby - 0.5))
    ok = (fx >= 0) & (fx < nbx) & (fy >= 0)
    col = fx[ok].astype(np.int64)
    row = fy[ok].astype(np.int64)
    hist = np.zeros((nby, nbx), dtype=np.int64)
    np.add.at(hist, (row, col), 1)
    top = np.full((nbx, TOP_K), -np.inf, dtype=np.float32)
    yv = y[ok]
    for c in range(nbx):
        vals = np.sort(yv[col == c])[::-1][:TOP_K]
        top[c, : len(vals)] = vals
    return hist, top


@pytest.mark.parametrize("chunk_rows", [48, 7])
def test_tails_and_histogram_equal_brute_force(monkeypatch, chunk_rows):
    """Top-K column tails (and counts) equal a plain sort of all simulated ordinates."""
    model = SyntheticModel(_model(), np.ones(3))
    ny, nx = model.shape
    monkeypatch.setattr(simulation, "_CHUNK_PIXELS", chunk_rows * nx)
    got = _run(model, nsimulations=3, seed=42)
    hists, tails = _brute_force(model, nsim=3, seed=42, rows_per_chunk=chunk_rows)
    for name in simulation.STATISTICS:
        np.testing.assert_array_equal(got.hists[name], hists[name], err_msg=name)
        np.testing.assert_array_equal(got.tails[name], tails[name], err_msg=name)
    # the pooled exposure histogram holds N samples per pixel
    assert got.hists["frame"].sum() == 3 * got.hists["median"].sum()
    # a well-populated column really has TOP_K finite values, decreasing
    full = np.isfinite(got.tails["median"]).all(axis=1)
    assert full.any()
    assert np.all(np.diff(got.tails["median"][full], axis=1) <= 0)


def test_merge_top_equals_sort_with_ties_and_many_chunks():
    rng = np.random.default_rng(3)
    ncol = 5
    top = np.full((ncol, TOP_K), -np.inf, dtype=np.float32)
    all_cols, all_vals = [], []
    for _ in range(20):
        cols = rng.integers(0, ncol, size=300)
        vals = np.round(rng.normal(size=300), 1).astype(np.float32)  # many ties
        top = _simcounts._merge_top(top, cols, vals)
        all_cols.append(cols)
        all_vals.append(vals)
    cols = np.concatenate(all_cols)
    vals = np.concatenate(all_vals)
    for c in range(ncol):
        np.testing.assert_array_equal(top[c], np.sort(vals[cols == c])[::-1][:TOP_K])


def test_simulations_identical_with_one_and_two_workers():
    model = SyntheticModel(_model(), np.array([0.9, 1.0, 1.1]))
    one = _run(model, nsimulations=4, workers=1)
    two = _run(model, nsimulations=4, workers=2)
    for name in simulation.STATISTICS:
        np.testing.assert_array_equal(one.hists[name], two.hists[name])
        np.testing.assert_array_equal(one.tails[name], two.tails[name])


def test_same_seed_same_histogram_other_seed_differs():
    model = SyntheticModel(_model(), np.ones(3))
    a = _run(model, seed=1)
    b = _run(model, seed=1)
    c = _run(model, seed=2)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, c.counts)
    # the same pixels, other noise: nearly the same number fall inside the diagram
    assert abs(int(a.counts.sum()) - int(c.counts.sum())) < 0.01 * a.counts.sum()


def test_advance_called_once_per_simulation_and_exclude_respected():
    model = SyntheticModel(_model(), np.ones(3))
    calls = []
    full = _run(model, nsimulations=3, advance=calls.append)
    assert calls == [1, 1, 1]
    exclude = np.zeros(model.shape, dtype=bool)
    exclude[:, ::2] = True
    half = _run(model, nsimulations=3, exclude=exclude)
    assert 0 < half.counts.sum() < full.counts.sum()
    assert half.counts.sum() <= 3 * np.count_nonzero(~exclude)
    nothing = _run(model, nsimulations=2, exclude=np.ones(model.shape, dtype=bool))
    assert nothing.counts.sum() == 0
    assert np.isneginf(nothing.tails["median"]).all()


def test_nsimulations_must_be_positive():
    model = SyntheticModel(_model(), np.ones(3))
    with pytest.raises(ValueError, match=r"mm_nsimulations: expected an integer > 0, got 0"):
        _run(model, nsimulations=0)


def test_simulated_noise_matches_poisson_plus_read_noise():
    """The median - min spread of a flat 1000 e- model matches a direct draw."""
    lam = 1000.0
    model = SyntheticModel(np.full((64, 64), lam, dtype=np.float32), np.ones(3))
    rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(0, 0)))
    x, ys = simulation._simulate_rows(
        model,
        slice(0, 64),
        gain=GAIN,
        rnoise=RNOISE,
        distribution="poisson",
        nbinom_shape=1000.0,
        n_excl=2,
        rng=rng,
    )
    sigma = np.sqrt(lam + RNOISE**2)
    assert abs(float(np.mean(x)) - (lam - 0.846 * sigma)) < 0.1 * sigma  # E[min of 3] = -0.846
    ordinates = _ordinates(ys)
    assert np.all(ordinates["median"] >= 0) and np.all(ordinates["frame"].min(axis=0) == 0)
    assert np.all(ordinates["frame"].max(axis=0) >= ordinates["median"])
    # the mean of the median - min for 3 normal draws is 0.846 sigma
    assert abs(float(np.mean(ys["median"])) / sigma - 0.846) < 0.05


def test_synthetic_model_scales_by_factor_and_clips_negative():
    base = np.array([[-10.0, 0.0, 100.0]], dtype=np.float32)
    model = SyntheticModel(base, np.array([0.8, 1.0, 1.2]))
    np.testing.assert_allclose(model.rows(0, slice(0, 1)), [[0.0, 0.0, 80.0]])
    np.testing.assert_allclose(model.rows(2, slice(0, 1)), [[0.0, 0.0, 120.0]])
    cube = SyntheticModel(np.stack([base, 2 * base, 3 * base]), np.ones(3))
    np.testing.assert_allclose(cube.rows(1, slice(0, 1)), [[0.0, 0.0, 200.0]])
    assert model.n_frames == 3 and model.shape == (1, 3)


def test_noise_scale_round_trip_and_continuity():
    scale = NoiseScale(gain=1.5, rnoise=4.0)
    x = np.array([-100.0, -1e-6, 0.0, 1e-6, 10.0, 1e4, 1e6])
    np.testing.assert_allclose(scale.inverse(scale.forward(x)), x, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(scale.forward(x)) > 0)
    # slope continuous at 0: dt/dx = 1 / (2 gain r) on both sides
    eps = 1e-4
    left = (scale.forward(0.0) - scale.forward(-eps)) / eps
    right = (scale.forward(eps) - scale.forward(0.0)) / eps
    assert abs(left - right) < 1e-6
    np.testing.assert_allclose(scale.sigma([0.0, 150.0]), [4.0, np.sqrt(100.0 + 16.0)])


def test_diagram_limits_cover_data_fixed_points_and_overrides():
    x = _model()
    kw = dict(n_frames=3, gain=GAIN, rnoise=RNOISE, seed=3)
    lim = diagram_limits(x, **kw)
    assert lim.xmin <= x.min() and lim.xmax >= x.max()
    # at 3000 ADU the median - min of 3 exposures stays below ~5 sigma: ymax ~ 2 x that
    sigma = np.sqrt(3000.0 + RNOISE**2)
    assert 2 * sigma < lim.ymax < 2 * 6 * sigma
    shifted = diagram_limits(x, shifted=True, **kw)
    assert shifted.ymax == pytest.approx(2 * lim.ymax)
    fp = np.array([[100.0, 10 * lim.ymax, 1.0]])
    assert diagram_limits(x, fixed_points=fp, **kw).ymax == pytest.approx(10.5 * lim.ymax)
    assert diagram_limits(x, ydiag_max=77.0, **kw).ymax == 77.0
    xe, ye = lim.edges(NoiseScale(gain=GAIN, rnoise=RNOISE), nbins=10)
    assert xe[0] == lim.xmin and xe[-1] == lim.xmax and len(xe) == 11
    np.testing.assert_allclose(ye, np.linspace(0, lim.ymax, 11))


def test_histogram2d_of_known_points():
    scale = NoiseScale(gain=1.0, rnoise=1.0)
    xe = scale.inverse(np.linspace(0.0, 2.0, 3))  # two columns uniform in t
    ye = np.array([0.0, 1.0, 2.0])
    x = np.array([scale.inverse(0.5), scale.inverse(1.5), scale.inverse(1.5), 1e9])
    y = np.array([0.5, 0.5, 1.5, 0.5])
    h = histogram2d(x, y, xe, ye, scale=scale)
    np.testing.assert_array_equal(h, [[1, 1], [0, 1]])
    h = histogram2d(x, y, xe, ye, scale=scale, keep=np.array([True, False, True, True]))
    np.testing.assert_array_equal(h, [[1, 0], [0, 1]])


def test_remove_isolated_bins():
    counts = np.zeros((5, 5), dtype=int)
    counts[0, 0] = 7  # isolated
    counts[2:4, 2:4] = 1  # each has 3 occupied neighbours
    np.testing.assert_array_equal(remove_isolated_bins(counts, 0), counts)
    out = remove_isolated_bins(counts, 1)
    assert out[0, 0] == 0 and out[2:4, 2:4].sum() == 4
    out = remove_isolated_bins(counts, 4)
    assert out.sum() == 0
    assert counts[0, 0] == 7  # input untouched


def test_large_images_are_simulated_on_a_row_subset_with_the_same_boundary():
    from megara_crplugin.boundary import boundary_points

    rng = np.random.default_rng(5)
    model = np.abs(rng.normal(40.0, 25.0, (600, 400))).astype(np.float32)
    smodel = SyntheticModel(model, np.ones(3))
    scale = NoiseScale(1.0, 3.4)
    lim = diagram_limits(model, n_frames=3, gain=1.0, rnoise=3.4, seed=1)
    xedges, yedges = lim.edges(scale)
    kw = dict(
        gain=1.0,
        rnoise=3.4,
        xedges=xedges,
        yedges=yedges,
        scale=scale,
        nsimulations=4,
        seed=3,
        workers=1,
    )
    full = simulate_histogram(smodel, max_pixels=None, **kw)
    part = simulate_histogram(smodel, max_pixels=60_000, **kw)
    assert full.fraction == 1.0 and part.fraction == 150 / 600
    assert 0.99 * 150 * 400 * 4 <= part.counts.sum() <= 150 * 400 * 4
    px, py = boundary_points(
        full.counts, xedges, yedges, scale=scale, tails=full.tails["median"], tail=0.1
    )
    qx, qy = boundary_points(
        part.counts,
        xedges,
        yedges,
        scale=scale,
        tails=part.tails["median"],
        tail=0.1 * part.fraction,
    )
    common, ia, ib = np.intersect1d(px, qx, return_indices=True)
    dense = full.counts.sum(axis=0)[np.searchsorted(px, common)] > 0
    assert len(common) > 10 and dense.all()
    ratio = qy[ib] / py[ia]
    # fewer samples: the extrapolated tail is noisier and errs upwards (conservative)
    assert 0.97 <= np.median(ratio) <= 1.15, np.median(ratio)
    assert np.mean(np.abs(ratio - 1) < 0.25) >= 0.9
