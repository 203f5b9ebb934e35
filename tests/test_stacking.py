"""Stacking and per-pixel statistics (spec 2.1, 2.4; defect 22)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.stacking import build_stack, low_mean, stack_statistics


def _frames(n=3, shape=(8, 9), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(500.0, 20.0, size=shape).astype(np.float32) for _ in range(n)]


def test_build_stack_subtracts_bias_and_divides_by_flux_factors():
    frames = _frames()
    before = [f.copy() for f in frames]
    ff = np.array([0.8, 1.0, 1.25])
    stack = build_stack(frames, bias=100.0, flux_factors=ff)
    assert stack.shape == (3, 8, 9)
    assert stack.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(stack[i], (before[i] - 100.0) / ff[i], rtol=1e-6)
        np.testing.assert_array_equal(frames[i], before[i])  # inputs untouched


def test_build_stack_2d_bias_and_dtype():
    frames = _frames(shape=(4, 5))
    bias = np.arange(20, dtype=float).reshape(4, 5)
    stack = build_stack(frames, bias=bias, dtype="float64")
    assert stack.dtype == np.float64
    np.testing.assert_allclose(stack[1], frames[1].astype(np.float64) - bias, rtol=1e-12)


def test_build_stack_integer_frames_are_converted():
    frames = [np.full((3, 3), v, dtype=np.uint16) for v in (1000, 1010, 65535)]
    stack = build_stack(frames, bias=1000.0)
    np.testing.assert_array_equal(stack[:, 0, 0], [0.0, 10.0, 64535.0])


def test_low_mean_equals_brute_force_mean_of_lowest():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(5, 20, 30)).astype(np.float64)
    srt = np.sort(values, axis=0)
    for n_excl in (1, 2, 3, 4):
        expected = srt[: 5 - n_excl].mean(axis=0)
        np.testing.assert_allclose(low_mean(values, n_excl), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(low_mean(values, 4), values.min(axis=0))


def test_low_mean_rejects_excluding_everything():
    with pytest.raises(ValueError, match="cannot exclude 3 of 3 values"):
        low_mean(np.zeros((3, 2, 2)), 3)


def test_stack_statistics_n3_is_min_median_max():
    stack = build_stack(_frames(3, seed=2))
    st = stack_statistics(stack)
    np.testing.assert_array_equal(st.min2d, stack.min(axis=0))
    np.testing.assert_array_equal(st.median2d, np.median(stack, axis=0))
    np.testing.assert_array_equal(st.max2d, stack.max(axis=0))
    np.testing.assert_allclose(st.mean2d, stack.mean(axis=0), rtol=1e-6)
    assert st.n_frames == 3 and st.shape == (8, 9)
    assert st.stack is stack


@pytest.mark.parametrize("coinc", [2, 3])
def test_stack_statistics_n5_min2d_is_mean_of_lowest(coinc):
    """min2d = mean of the N - mm_cr_coincidences lowest values (defect 22, N = 5)."""
    stack = build_stack(_frames(5, seed=3))
    st = stack_statistics(stack, cr_coincidences=coinc)
    srt = np.sort(stack.astype(np.float64), axis=0)
    np.testing.assert_allclose(st.min2d, srt[: 5 - coinc].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(st.median2d, srt[2], rtol=1e-6)
    np.testing.assert_array_equal(st.max2d, stack.max(axis=0))
    # strictly above the true minimum wherever the lowest values differ
    assert np.all(st.min2d >= stack.min(axis=0))
    assert np.count_nonzero(st.min2d > stack.min(axis=0)) > 0.99 * st.min2d.size


@pytest.mark.parametrize(("n", "coinc"), [(3, 2), (5, 2), (4, 1), (7, 3)])
def test_stack_statistics_by_row_blocks_in_threads_are_the_whole_frame_values(n, coinc):
    """600 rows: three blocks of rows, computed in two threads or one, same bits."""
    rng = np.random.default_rng(n)
    stack = rng.normal(100.0, 10.0, (n, 600, 90)).astype(np.float32)
    one = stack_statistics(stack, cr_coincidences=coinc, threads=1)
    two = stack_statistics(stack, cr_coincidences=coinc, threads=2)
    whole = {
        "min2d": low_mean(stack, coinc),
        "median2d": np.median(stack, axis=0).astype(np.float32),
        "max2d": stack.max(axis=0),
        "mean2d": stack.mean(axis=0, dtype=np.float64).astype(np.float32),
    }
    for name, expected in whole.items():
        np.testing.assert_array_equal(getattr(one, name), expected, err_msg=name)
        np.testing.assert_array_equal(getattr(two, name), expected, err_msg=name)
        assert getattr(two, name).dtype == np.float32


def test_stack_statistics_rejects_excluding_every_value():
    with pytest.raises(ValueError, match="cannot exclude 3 of 3"):
        stack_statistics(np.zeros((3, 4, 4), np.float32), cr_coincidences=3)
