"""Boundary points and fits of the MM diagram (spec 3.6-3.9; defect 17)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.boundary import boundary_points, fit_boundary, monotone_spline
from megara_crplugin.simulation import NoiseScale


def _noisy_points(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 5000.0, n))
    y = 15.0 + 0.6 * np.sqrt(x) + rng.normal(0.0, 3.0, n)
    return x, y


def test_monotone_spline_is_non_decreasing_even_for_decreasing_data():
    x = np.linspace(0.0, 10.0, 50)
    y = 5.0 * np.sin(x) - 0.3 * x  # mostly decreasing, oscillating
    spl, knots = monotone_spline(x, y, np.ones_like(x), n_knots=6)
    assert len(knots) == 6 and knots[0] == 0.0 and knots[-1] == 10.0
    fine = spl(np.linspace(0.0, 10.0, 2001))
    assert np.all(np.diff(fine) >= -1e-9)


def test_monotone_spline_follows_a_monotone_curve():
    x = np.linspace(0.0, 100.0, 80)
    y = np.sqrt(x) + 3.0
    spl, _ = monotone_spline(x, y, np.ones_like(x), n_knots=8)
    assert np.max(np.abs(spl(x[5:]) - y[5:])) < 0.1


def test_monotone_spline_weights_pull_the_fit():
    x = np.linspace(0.0, 10.0, 21)
    y = np.where(x < 5, 0.0, 1.0)
    w = np.ones_like(x)
    w[x == 5.0] = 1e6
    y_w = y.copy()
    y_w[x == 5.0] = 0.8
    spl, _ = monotone_spline(x, y_w, w, n_knots=4)
    assert abs(float(spl(5.0)) - 0.8) < 1e-3


def test_boundary_is_constant_outside_the_fitted_range():
    """Defect 17: the flags use the same constant extension as the plots."""
    x, y = _noisy_points()
    for scale in (None, NoiseScale(gain=1.0, rnoise=3.4)):
        b = fit_boundary(x, y, n_knots=4, niter=2, scale=scale)
        lo, hi = b(np.array([b.xmin, b.xmax]))
        far = b(np.array([-1e6, -50.0, b.xmin - 1e-3, b.xmax + 1e-3, 2 * b.xmax, 1e9]))
        np.testing.assert_allclose(far, [lo, lo, lo, hi, hi, hi], rtol=1e-12)
        assert b.xmin == pytest.approx(x.min()) and b.xmax == pytest.approx(x.max())
        inside = b(np.linspace(b.xmin, b.xmax, 500))
        assert np.all(np.diff(inside) >= -1e-9)
        assert np.all(np.isfinite(far))


def test_boundary_extension_pushes_the_fit_above_the_points():
    x, y = _noisy_points(seed=4)
    b = fit_boundary(x, y, n_knots=3, niter=4, weight=10.0)
    assert len(b.iterations) == 5
    first_above = np.count_nonzero(y > b.iterations[0](x))
    last_above = np.count_nonzero(y > b.iterations[-1](x))
    assert first_above > 10
    assert last_above < first_above
    assert np.all(b.iterations[-1](x) >= b.iterations[0](x) - 1e-6)


def test_spline_follows_a_heavy_fixed_point():
    x, y = _noisy_points(seed=2)
    fp = np.array([[2500.0, 80.0, 10000.0]])
    b = fit_boundary(x, y, n_knots=4, niter=2, fixed_points=fp)
    assert float(b(np.array([2500.0]))[0]) == pytest.approx(80.0, abs=0.5)


def test_piecewise_boundary_through_fixed_points():
    fp = np.array([[1000.0, 60.0, 1.0], [0.0, 20.0, 1.0], [3000.0, 90.0, 1.0]])
    b = fit_boundary(np.array([]), np.array([]), kind="piecewise", fixed_points=fp)
    assert b.kind == "piecewise"
    np.testing.assert_allclose(b(np.array([0.0, 1000.0, 3000.0])), [20.0, 60.0, 90.0])
    np.testing.assert_allclose(b(np.array([500.0, 2000.0])), [40.0, 75.0])
    np.testing.assert_allclose(b(np.array([-100.0, 1e6])), [20.0, 90.0])
    assert (b.xmin, b.xmax) == (0.0, 3000.0)


def test_piecewise_needs_two_fixed_points():
    with pytest.raises(ValueError, match="'piecewise' needs at least 2 fixed points"):
        fit_boundary([1.0], [2.0], kind="piecewise", fixed_points=np.array([[1.0, 2.0, 1.0]]))


def test_empty_histogram_is_an_error():
    with pytest.raises(ValueError, match="no boundary points: the simulated MM histogram is empty"):
        fit_boundary(np.array([]), np.array([]))


def test_boundary_points_from_histogram_one_pixel_level():
    counts = np.zeros((4, 2))
    counts[:, 0] = [10, 5, 1, 0]  # 1 pixel lies in bin 2 and above
    counts[:, 1] = [10, 5, 4, 2]  # 2 pixels in the top bin: level inside it
    xe = np.array([0.0, 1.0, 2.0])
    ye = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    px, py = boundary_points(counts, xe, ye)
    np.testing.assert_allclose(px, [0.5, 1.5])
    np.testing.assert_allclose(py, [20.0, 35.0])


def test_boundary_points_skip_empty_columns():
    counts = np.zeros((3, 3))
    counts[0, 1] = 4
    px, py = boundary_points(counts, np.array([0.0, 1, 2, 3]), np.array([0.0, 1, 2, 3]))
    np.testing.assert_allclose(px, [1.5])


def test_boundary_points_from_tails_at_full_resolution():
    xe = np.array([0.0, 1.0, 2.0])
    ye = np.linspace(0.0, 100.0, 11)
    counts = np.ones((10, 2))
    tails = np.full((2, 16), -np.inf, dtype=np.float32)
    tails[0, :12] = np.arange(60.0, 48.0, -1.0)  # 60, 59, ..., 49
    tails[1, :5] = [9.0, 8.0, 7.0, 6.0, 5.0]  # fewer than 8 values: no point
    px, py = boundary_points(counts, xe, ye, tails=tails, tail=1.0)
    np.testing.assert_allclose(px, [0.5])
    np.testing.assert_allclose(py, [59.5])  # between the largest (rank 0.5) and 2nd (1.5)
    _, py3 = boundary_points(counts, xe, ye, tails=tails, tail=3.0)
    np.testing.assert_allclose(py3, [57.5])
    _, py_low = boundary_points(counts, xe, ye, tails=tails, tail=0.1)
    assert py_low[0] > 60.0  # extrapolated above the largest simulated value


def test_float32_threshold_gives_the_same_comparisons_as_the_float64_boundary():
    """``y > t`` exactly when ``y > boundary(x)`` for float32 y (issue 11: one evaluation)."""
    from megara_crplugin.boundary import float32_threshold

    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 5000.0, 200_000).astype(np.float32)
    exact = np.float32(123.5)

    def boundary(v):  # float64 values between float32 ones, and some exactly float32
        out = 10.0 + np.sqrt(np.asarray(v, dtype=np.float64)) * np.pi
        out[::7] = float(exact)
        return out

    t = float32_threshold(boundary, x.reshape(400, 500))
    assert t.dtype == np.float32 and t.shape == (400, 500)
    b = boundary(x).reshape(400, 500)
    b32 = b.astype(np.float32)
    for y in (b32, np.nextafter(b32, np.float32(np.inf)), np.nextafter(b32, np.float32(-np.inf))):
        assert np.array_equal(y > t, y > b)
    assert (b32 > b).any() and (b32 < b).any()  # both roundings occur


def test_exceeds_uses_the_shared_threshold_only_where_it_is_exact():
    from megara_crplugin.boundary import exceeds, shared_threshold

    x = np.linspace(0.0, 100.0, 400).reshape(20, 20)

    def boundary(v):
        return 5.0 + 0.1 * np.asarray(v, dtype=np.float64) + 1e-9  # between float32 values

    y32 = (boundary(x) + np.random.default_rng(1).normal(0, 1, x.shape)).astype(np.float32)
    assert shared_threshold(boundary, x) is None  # float64 abscissae: no shared threshold
    assert shared_threshold(None, x.astype(np.float32)) is None
    t = shared_threshold(boundary, x.astype(np.float32))
    want = y32 > boundary(x.astype(np.float32))
    assert 0 < want.sum() < want.size
    assert np.array_equal(exceeds(y32, boundary, x.astype(np.float32), t), want)
    wrong = np.full(x.shape, np.inf, dtype=np.float32)  # ignored for a float64 ordinate
    y64 = y32.astype(np.float64)
    assert np.array_equal(exceeds(y64, boundary, x.astype(np.float32), wrong), want)


def test_float32_threshold_in_threads_is_the_one_block_threshold(monkeypatch):
    """Blocks evaluated in two threads give the threshold of one evaluation (issue 11)."""
    import megara_crplugin.boundary as boundary_mod

    x = np.random.default_rng(4).uniform(0.0, 3000.0, (300, 170)).astype(np.float32)

    def boundary(v):
        return 7.0 + np.sqrt(np.asarray(v, dtype=np.float64)) * np.e

    whole = boundary_mod.float32_threshold(boundary, x)  # 51,000 values: one block
    monkeypatch.setattr(boundary_mod, "_EVAL_BLOCK", 4_000)  # 13 blocks, the last one short
    for threads in (1, 2):
        t = boundary_mod.shared_threshold(boundary, x, threads)
        np.testing.assert_array_equal(t, whole)
