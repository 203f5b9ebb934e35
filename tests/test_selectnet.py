"""Order statistics by the pruned sorting network equal those of a sort, bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from megara_crplugin import expected as ex
from megara_crplugin._selectnet import (
    MEDIAN_NETWORKS,
    _compiled,
    batcher_pairs,
    median_of,
    order_statistics,
    selection_program,
)


@pytest.mark.parametrize("p", [2, 4, 8, 16])
def test_batcher_network_sorts_every_binary_input(p):
    # 0-1 principle: a comparator network that sorts every 0/1 input sorts every input
    pairs = batcher_pairs(p)
    for bits in itertools.product((0, 1), repeat=p):
        wires = list(bits)
        for i, j in pairs:
            if wires[i] > wires[j]:
                wires[i], wires[j] = wires[j], wires[i]
        assert wires == sorted(wires)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 6, 17, 18, 30, 42])
def test_order_statistics_equal_a_sort(m):
    rng = np.random.default_rng(m)
    values = [rng.integers(0, 4, (5, 7)).astype(np.float32) for _ in range(m)]  # many ties
    values[0][0, 0] = 1e30
    ranks = tuple(range(m))
    want = np.sort(np.stack(values), axis=0)
    for rank, got in zip(ranks, order_statistics(values, ranks), strict=True):
        assert got.dtype == np.float32
        assert np.array_equal(got, want[rank])


def test_middle_ranks_need_fewer_steps_than_the_whole_sort():
    steps, outputs = selection_program(18, (8, 9))
    assert len(outputs) == 2
    assert len(steps) < len(batcher_pairs(32)) // 2
    with pytest.raises(ValueError, match="ranks: expected distinct ranks in 0..2"):
        order_statistics([np.zeros(2)] * 3, (3,))
    with pytest.raises(ValueError, match="distinct"):
        order_statistics([np.zeros(2)] * 3, (1, 1))


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frame_median_and_alike_equal_the_numpy_forms(n, dtype):
    rng = np.random.default_rng(n)
    stack = rng.normal(50, 5, (n, 40, 30)).astype(dtype)
    stack[:, 3, 4] += 40  # raised alike
    assert np.array_equal(median_of(list(stack)), np.median(stack, axis=0))
    value = np.full(stack.shape, 50, np.float32)
    exp = ex.ExpectedSignal(value, np.full(stack.shape, 5, np.float32), gain=1.0)
    low = np.sort(stack, axis=0)[:-1]
    excess = np.maximum(low.mean(axis=0) - value.mean(axis=0), 0)
    want = low[-1] - low[0] < ex.K_ALIKE * np.sqrt(exp.sigmas().mean(axis=0) ** 2 + excess)
    assert np.array_equal(ex._alike(stack, exp), want)
    assert want[3, 4]


@pytest.mark.parametrize("m", sorted(MEDIAN_NETWORKS))
def test_median_networks_select_the_middle_of_every_binary_input(m):
    # 0-1 principle on the compiled program (pruned steps, shared scratch buffers)
    inputs = np.array(list(itertools.product([0.0, 1.0], repeat=m)), dtype=np.float32)
    planes = [np.ascontiguousarray(inputs[:, k]) for k in range(m)]
    copies = [p.copy() for p in planes]
    (got,) = order_statistics(planes, (m // 2,))
    np.testing.assert_array_equal(got, np.sort(inputs, axis=1)[:, m // 2])
    assert all(np.array_equal(p, c) for p, c in zip(planes, copies, strict=True))  # untouched
    ops = _compiled(m, (m // 2,))[0]
    assert len(ops) == {5: 10, 7: 20, 9: 30}[m]  # fewer than Batcher's 14, 22, 46


def test_order_statistics_write_into_the_given_views():
    rng = np.random.default_rng(4)
    values = [rng.normal(size=(70, 9)).astype(np.float32) for _ in range(7)]
    target = np.full((80, 12), -7.0, dtype=np.float32)
    view = target[5:75, 2:11]
    (got,) = order_statistics(values, (3,), out=[view])
    assert got is view
    np.testing.assert_array_equal(view, np.median(np.stack(values), axis=0))
    assert (target[:5] == -7).all() and (target[:, :2] == -7).all()  # nothing outside


def test_a_rank_that_is_an_input_is_copied():
    values = [np.arange(6.0)]
    (got,) = order_statistics(values, (0,))
    np.testing.assert_array_equal(got, values[0])
    assert got is not values[0]


@pytest.mark.parametrize("m", [1, 2, 3, 6, 18, 19])
def test_median_of_planes_is_numpys_median(m):
    from megara_crplugin._selectnet import median_of

    rng = np.random.default_rng(m)
    planes = list(rng.normal(0, 1, (m, 7, 9)).astype(np.float32))
    planes[0][2, 3] = planes[-1][2, 3]  # a tie
    got = median_of(planes)
    want = np.median(np.stack(planes), axis=0)
    assert got.dtype == want.dtype and np.array_equal(got, want)
