"""The finer expected signal at candidate pixels (``_refine``, issue 9 item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin import _refine
from megara_crplugin.expected import estimate_expected, median_flags

GAIN, RNOISE = 1.0, 3.4


def _fibres(shape=(64, 200)):
    """Noiseless fibre-like signal: Gaussian profiles along y, flat along x (ADU)."""
    y = np.arange(shape[0])[:, None]
    prof = sum(np.exp(-0.5 * ((y - c) / 2.0) ** 2) for c in range(4, shape[0], 7))
    return np.broadcast_to(8 + 300 * prof, shape).astype(np.float64)


def _double_hits(signal, seed, n_events=150, sigma_hit=5.0, noisy=True, footprint=True):
    """Three noisy exposures with faint double hits (2-pixel footprints along x)."""
    rng = np.random.default_rng(seed)
    ny, nx = signal.shape
    base = rng.poisson(np.broadcast_to(signal, (3, ny, nx))) if noisy else np.stack([signal] * 3)
    stack = base.astype(np.float32)
    if noisy:
        stack += rng.normal(0, RNOISE, stack.shape).astype(np.float32)
    ys = rng.integers(2, ny - 2, n_events)
    xs = rng.integers(5, nx - 6, n_events) // 4 * 4 + 1  # apart along x
    sig = np.sqrt(signal[ys, xs] / GAIN + RNOISE**2)
    for y, x, s in zip(ys, xs, sig, strict=True):
        for f in (1, 2):
            stack[f, y, x] += sigma_hit * s
            if footprint:  # its own footprint beside it
                stack[f, y, x + 1] += 2 * sigma_hit * s
    return stack, ys, xs


def _with_then_without_refinement(monkeypatch):
    """Yield True (the refinement on), then False (no pixel is a candidate)."""
    yield True
    monkeypatch.setattr(_refine, "K_CANDIDATE", np.inf)
    yield False


def test_refined_estimate_is_closer_to_the_true_signal_at_double_hits(monkeypatch):
    signal = _fibres()
    errors = {}
    for refine in _with_then_without_refinement(monkeypatch):
        err = []
        for seed in range(3):
            stack, ys, xs = _double_hits(signal, seed, footprint=False)
            est = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
            sig = np.sqrt(signal[ys, xs] / GAIN + RNOISE**2)
            err.append((est.value[0, ys, xs] - signal[ys, xs]) / sig)
        errors[refine] = np.concatenate(err)
    rms_refined = np.sqrt(np.mean(errors[True] ** 2))
    rms_median = np.sqrt(np.mean(errors[False] ** 2))
    # the neighbours' median of 18 values scatters ~0.3 sigma; the clipped mean
    # of 36 values from three rows less
    assert abs(np.mean(errors[True])) < 0.1
    assert rms_refined < 0.85 * rms_median


def test_refined_estimate_finds_more_faint_double_hits_and_no_clean_pixel(monkeypatch):
    signal = _fibres()
    found = {}
    for refine in _with_then_without_refinement(monkeypatch):
        hits = clean_flags = 0
        for seed in range(3):
            stack, ys, xs = _double_hits(signal, 10 + seed, sigma_hit=5.0)
            flags = median_flags(stack, estimate_expected(stack, gain=GAIN, rnoise=RNOISE), k=4.5)
            hits += int(flags[ys, xs].sum())
            away = np.ones(flags.shape, bool)
            for y, x in zip(ys, xs, strict=True):
                away[y - 1 : y + 2, x - 1 : x + 3] = False
            clean_flags += int((flags & away).sum())
        found[refine] = hits, clean_flags
    assert found[True][0] > found[False][0] + 10
    assert found[True][1] == 0


def test_adjacent_rows_are_scaled_by_the_profile_ratio():
    """Noiseless separable signal: the refined estimate is the signal itself on a fibre flank."""
    signal = _fibres()
    stack, ys, xs = _double_hits(signal, 5, noisy=False, sigma_hit=8.0)
    stack = stack.astype(np.float64)
    block = stack.astype(np.float32)
    est = np.full(signal.shape, 1.0, np.float32)  # far below: every hit is a candidate
    n = _refine.refine_candidates(
        stack, np.ones(3), slice(0, signal.shape[0]), block, est, GAIN, RNOISE, 3
    )
    assert n >= len(ys)
    # the own row is flat; the adjacent rows differ (profile), scaled back exactly
    # where their ratio is within RATIO_MIN and its inverse, left out elsewhere
    np.testing.assert_allclose(est[ys, xs], signal[ys, xs], rtol=2e-3)


def test_rows_outside_the_ratio_range_are_left_out():
    signal = np.full((5, 40), 10.0)
    signal[1] = 100.0  # ten times the row below it: ratio outside [0.6, 1/0.6]
    stack = np.stack([signal] * 3).astype(np.float32)
    stack[1:, 2, 20] += 60.0  # a double hit on row 2
    est = np.full((5, 40), 10.0, np.float32)
    _refine.refine_candidates(stack, np.ones(3), slice(0, 5), stack.copy(), est, 1.0, 1.0, 3)
    assert est[2, 20] == pytest.approx(10.0)


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (40, 3)])
def test_small_and_edge_frames(shape):
    rng = np.random.default_rng(0)
    stack = rng.normal(50, 3, (3, *shape)).astype(np.float32)
    stack[1:, 0, 0] += 100.0  # a double hit at the corner
    got = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    assert np.isfinite(got.value).all()
    if shape[0] >= 2 and shape[1] >= 2:
        assert got.value[0, 0, 0] < 70.0  # estimated from the neighbours, not the hit


def test_a_line_on_one_side_does_not_raise_the_estimate(monkeypatch):
    """Beside an arc line only the other side's values estimate the pixel (noiseless)."""
    signal = np.full((9, 40), 20.0)
    signal[:, 16:19] = [40.0, 60.0, 45.0]  # a line crossing every row, 2-4 px left of x = 20
    stack = np.stack([signal] * 3).astype(np.float32)
    stack[1:, 3:6, 20] += 80.0  # double hits on three rows
    got, default = {}, _refine.K_SIDE
    for k_side in (default, np.inf):  # np.inf: the two sides always averaged
        monkeypatch.setattr(_refine, "K_SIDE", k_side)
        est = np.full(signal.shape, 1.0, np.float32)  # every pixel a candidate
        _refine.refine_candidates(stack, np.ones(3), slice(0, 9), stack.copy(), est, 1.0, 3.0, 3)
        got[k_side] = est[3:6, 20]
    np.testing.assert_allclose(got[default], 20.0)
    assert (got[np.inf] > 25.0).all()  # half the values on the line: the median and mean pulled up
