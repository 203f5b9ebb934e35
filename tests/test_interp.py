"""Offset exposures: the linear interpolation's systematic error, corrected (``_interp``)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin._interp import (
    align,
    interpolation_bias,
    interpolation_error,
    shift_linear,
    smoothing,
)


def _fibres(dy: float, shape=(60, 8)) -> np.ndarray:
    """Gaussian fibre profiles (sigma 1.3 px, pitch 6.6 px) along y, moved by ``dy`` px."""
    y = np.arange(shape[0])[:, None] - dy
    centres = np.arange(4.0, shape[0] - 4, 6.6)[None, :]
    prof = (1000.0 * np.exp(-0.5 * ((y - centres) / 1.3) ** 2)).sum(axis=1, keepdims=True)
    return np.broadcast_to(10.0 + prof, shape).astype(np.float32)


def test_smoothing_adds_each_exposure_shift_back_to_the_mean_alignment():
    got = smoothing([[0.0, 0.0], [0.5, -0.5], [-0.5, 1.5]])
    np.testing.assert_allclose(got, [[1 / 12, 1 / 12], [5 / 24, 5 / 24], [5 / 24, 5 / 24]])
    np.testing.assert_allclose(smoothing([[0.0, 2.0], [0.0, 0.0]]), 0.0)  # whole pixels


@pytest.mark.parametrize("dy", [0.5, 0.25])
def test_bias_removes_most_of_a_shift_error_and_the_bound_covers_the_rest(dy):
    true = _fibres(dy)
    shifted = shift_linear(_fibres(0.0), 0.0, dy)
    before = (shifted - true)[6:-6]
    coefficients = smoothing([[0.0, dy]]) / 2  # one interpolation: no alignment term
    after = (shifted - interpolation_bias(shifted, coefficients[0]) - true)[6:-6]
    assert np.abs(after).max() < 0.4 * np.abs(before).max()  # peaks flattened by ~8 %: ~2 % left
    assert abs(after.mean()) < 0.1 * np.abs(before).mean()  # the systematic part is gone
    left = interpolation_error(shifted)[6:-6]  # what the noise model keeps for it
    steep = left > 0.25 * left.max()  # not at the profile's inflections (f'' ~ 0)
    assert np.all(np.abs(after[steep]) <= 0.7 * left[steep])  # 0.60 and 0.54 measured


def test_align_shifts_each_exposure_back_and_replaces_what_lies_k_sigma_above():
    stack = np.stack([_fibres(0.0), _fibres(0.5), _fibres(-0.5)])
    offsets = np.array([[0.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    out = align(stack, offsets)
    assert out.dtype == np.float32 and out.shape == stack.shape
    for i, (dx, dy) in enumerate(offsets):
        np.testing.assert_array_equal(out[i], shift_linear(stack[i], -dx, -dy))
    value, sigma = stack.copy(), np.ones_like(stack)
    hit = stack.copy()
    hit[1, 30, 4] += 10.0  # 10 sigma: replaced by the value at k = 7
    hit[2, 20, 3] += 5.0  # 5 sigma: kept
    cleaned = align(hit, offsets, replace=(value, sigma, 7.0))
    kept = align(np.where(np.arange(3)[:, None, None] == 2, hit, stack), offsets)
    np.testing.assert_array_equal(cleaned, kept)
    assert hit[1, 30, 4] == stack[1, 30, 4] + 10.0  # the caller's stack is not touched
