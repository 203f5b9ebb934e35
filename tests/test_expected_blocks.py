"""The expected signal's speed-ups change no value (neighbour median, threads, cached ``alike``)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin import expected as ex
from megara_crplugin._blockstats import by_row_blocks, for_each_block
from megara_crplugin._lines import neighbour_median
from megara_crplugin.expected import ExpectedSignal, estimate_expected, frame_flags, median_flags


def _reference_neighbour_median(block, hw):
    nx = block.shape[2]
    padded = np.pad(block, ((0, 0), (0, 0), (hw, hw)), mode="reflect")
    parts = [padded[:, :, hw + d : hw + d + nx] for d in range(-hw, hw + 1) if d]
    return np.median(np.concatenate(parts, axis=0), axis=0)


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("hw", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_neighbour_median_equals_numpy_median(n, hw, dtype):
    rng = np.random.default_rng(n * 10 + hw)
    block = rng.normal(100, 10, (n, 9, 23)).astype(dtype)
    block[:, :, 4] = block[:, :, 5]  # ties
    block[1, 2, 7] = 5e4  # a cosmic ray among the neighbours
    got = neighbour_median(block, hw)
    want = _reference_neighbour_median(block, hw)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)


def _stack(seed=4, shape=(70, 90)):
    rng = np.random.default_rng(seed)
    signal = 20 + 400 * np.exp(-0.5 * ((np.arange(shape[1]) - 40) / 1.5) ** 2)[None, :]
    stack = rng.poisson(np.broadcast_to(signal, (3, *shape))).astype(np.float32)
    stack += rng.normal(0, 3, stack.shape).astype(np.float32)
    stack[0, 10, 10] += 300
    stack[1, 10, 10] += 250  # a double hit
    stack[:, 30, 60] += 80  # a hot pixel: alike in every exposure
    return stack


def test_threads_and_blocks_change_no_value(monkeypatch):
    stack = _stack()
    one = estimate_expected(stack, gain=1.0, rnoise=3.0, flux_factors=[1.0, 1.1, 0.9])
    monkeypatch.setattr(ex, "CHUNK_ROWS", 7)  # many blocks, the last one short
    two = estimate_expected(stack, gain=1.0, rnoise=3.0, flux_factors=[1.0, 1.1, 0.9], threads=2)
    assert np.array_equal(one.value, two.value)
    assert np.array_equal(one.sigmas(), two.sigmas())
    assert np.array_equal(one.alike, two.alike)
    assert median_flags(stack, one, k=4.0)[10, 10]
    offsets = [(0.0, 0.0), (0.5, -0.5), (-0.5, 0.5)]  # the own-grid estimates too
    two = estimate_expected(stack, gain=1.0, rnoise=3.0, offsets=offsets, threads=2)
    monkeypatch.setattr(ex, "CHUNK_ROWS", 128)
    one = estimate_expected(stack, gain=1.0, rnoise=3.0, offsets=offsets)
    assert np.array_equal(one.value, two.value) and np.array_equal(one.sigma, two.sigma)


def test_cached_alike_gives_the_tests_of_the_uncached_one():
    stack = _stack()
    cached = estimate_expected(stack, gain=1.0, rnoise=3.0)
    assert cached.alike[30, 60] and not cached.alike[10, 10]
    # sigma stored and alike computed per test, the way the tests took them before
    plain = ExpectedSignal(cached.value, cached.sigmas(), cached.gain)
    assert cached.sigma is None  # computed from the value when needed
    assert np.array_equal(median_flags(stack, cached, k=4.0), median_flags(stack, plain, k=4.0))
    for i in range(3):
        assert np.array_equal(frame_flags(stack, cached, i), frame_flags(stack, plain, i))
    part = cached.rows(slice(5, 15))
    assert part.value.shape == (3, 10, 90) and part.alike.shape == (10, 90)
    assert np.shares_memory(part.value, cached.value)
    assert np.array_equal(part.sigmas(), cached.sigmas()[:, 5:15])


def test_for_each_block_runs_every_block_and_raises_a_worker_error():
    seen = []
    for_each_block(seen.append, [slice(0, 1), slice(1, 2), slice(2, 3)], threads=2)
    assert sorted(s.start for s in seen) == [0, 1, 2]

    def fail(sl):
        if sl.start == 1:
            raise ValueError("block 1 failed")

    with pytest.raises(ValueError, match="block 1 failed"):
        for_each_block(fail, [slice(0, 1), slice(1, 2)], threads=2)
    flags = by_row_blocks(lambda sl: np.arange(sl.start, sl.stop)[:, None] % 2 == 0, (600, 3), 2)
    assert flags[:, 0].tolist() == [r % 2 == 0 for r in range(600)]


@pytest.mark.parametrize("threads", [1, 2])
def test_diagram_histogram_by_row_blocks_equals_the_whole_image(threads, monkeypatch):
    from megara_crplugin import _blockstats
    from megara_crplugin.simulation import NoiseScale, _bin_counts, histogram2d

    rng = np.random.default_rng(0)
    x = rng.normal(50, 30, (300, 70)).astype(np.float32)
    y = np.abs(rng.normal(0, 10, (300, 70))).astype(np.float32)
    keep = rng.random(x.shape) < 0.7
    scale = NoiseScale(gain=1.0, rnoise=3.0)
    xedges = scale.inverse(np.linspace(*scale.forward([0.0, 150.0]), 41))
    yedges = np.linspace(0.0, 40.0, 31)
    want = _bin_counts(x.ravel(), y.ravel(), xedges, yedges, keep.ravel(), scale)
    monkeypatch.setattr(_blockstats, "BLOCK_ROWS", 64)  # several blocks
    got = histogram2d(x, y, xedges, yedges, scale=scale, keep=keep, threads=threads)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert 0 < got.sum() < keep.sum()
