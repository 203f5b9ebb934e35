"""MEDIANCR's run: the lazy flux-change profile and the exposures started beside MEDIANCR."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin._mediancr_run import LowerOf


@pytest.mark.parametrize("flux_factors", [None, (0.8, 1.0, 1.25)])
def test_lower_of_at_pixels_is_the_full_frame_minimum(flux_factors):
    rng = np.random.default_rng(11)
    low = rng.normal(50.0, 5.0, (40, 30)).astype(np.float32)
    value = rng.normal(50.0, 5.0, (3, 40, 30)).astype(np.float32)
    whole = value
    if flux_factors is not None:
        whole = value / np.asarray(flux_factors, np.float32).reshape(-1, 1, 1)
    expected = np.minimum(low, whole.min(axis=0))
    ys, xs = rng.integers(0, 40, 500), rng.integers(0, 30, 500)
    got = LowerOf(low, value, flux_factors)[ys, xs]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected[ys, xs])
    assert (got < low[ys, xs]).any() and (got == low[ys, xs]).any()  # both sides occur
    empty = np.array([], dtype=int)
    assert LowerOf(low, value, flux_factors)[empty, empty].shape == (0,)


@pytest.mark.parametrize("flux_factors", [None, (0.8, 1.0, 1.25)])
def test_compact_lower_of_keeps_one_plane_and_the_same_values(flux_factors):
    """After the exposures the N expected frames (flux factors, offsets) shrink to one."""
    rng = np.random.default_rng(12)
    low = rng.normal(50.0, 5.0, (40, 30)).astype(np.float32)
    value = rng.normal(50.0, 5.0, (3, 40, 30)).astype(np.float32)
    whole = LowerOf(low, value, flux_factors)
    small = whole.compact()
    assert small.value.shape == (1, 40, 30)
    ys, xs = np.nonzero(np.ones((40, 30), dtype=bool))
    np.testing.assert_array_equal(small[ys, xs], whole[ys, xs])
    assert not np.shares_memory(small.value, value)
    plane = np.broadcast_to(value[0], value.shape)  # one plane already: kept as it is
    assert LowerOf(low, plane).compact().value is plane


def test_exposures_started_beside_mediancr_give_the_sequential_masks():
    """Interactive runs test the exposures after MEDIANCR; others beside it: same masks."""
    from megara_crplugin import pipeline
    from megara_crplugin.synthetic import make_megara_like_frames

    sset = make_megara_like_frames((300, 96), seed=8, n_double_hits=3, rate="high")
    params = {"gain": 1.0, "rnoise": 3.4, "bias": 0.0, "mm_seed": 2, "mm_nsimulations": 3}
    params |= {"crmethod": "mmcosmic", "interactive": False, "jobs": 2}
    beside = pipeline.compute_crmasks(list(sset.frames), params)
    calls = []
    real = pipeline.run_mediancr

    def after(*args, **kwargs):
        calls.append(kwargs["exposures_now"])
        return real(*args, **{**kwargs, "exposures_now": False})

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "run_mediancr", after)
        later = pipeline.compute_crmasks(list(sset.frames), params)
    assert calls == [True]  # a non-interactive run starts them beside MEDIANCR
    assert beside.targets["MEDIANCR"].mask.any()
    for name, target in beside.targets.items():
        np.testing.assert_array_equal(target.mask, later.targets[name].mask, err_msg=name)
    assert beside.flux_changes == later.flux_changes


def test_offsets_excess_follows_the_exposures_that_give_the_median_and_the_minimum():
    """The expected signals of the exposures the *values* rank median and minimum."""
    from megara_crplugin._excess import offsets_excess

    value = np.array([[[10.0, 5.0]], [[14.0, 5.0]], [[11.0, 9.0]]], np.float32)
    ys, xs = np.array([0, 0]), np.array([0, 1])
    # noise only: the values rank as their expected signals, median - min of those
    at = offsets_excess(value + 0.1, value)
    np.testing.assert_allclose(at(ys, xs), [1.0, 0.0])
    # a double hit in exposures 0 and 2 of the first pixel: exposure 1 gives the
    # minimum, exposure 2 the median; 11 - 14, not 11 - 10
    stack = value.copy()
    stack[0, 0, 0] += 50
    stack[2, 0, 0] += 20
    np.testing.assert_allclose(offsets_excess(stack, value)(ys, xs), [-3.0, 0.0])
    got = offsets_excess(value, value, [1.0, 2.0, 1.0])  # 10, 7, 11 and 5, 2.5, 9
    np.testing.assert_allclose(got(ys, xs), [3.0, 2.5])


def test_offsets_alone_are_not_a_flux_change_of_mediancr(monkeypatch):
    """Offset exposures raise median2d - min2d on every steep flank; double hits there stay."""
    from megara_crplugin import _mediancr_run, pipeline
    from megara_crplugin.synthetic import make_megara_like_frames

    offsets = ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))
    sset = make_megara_like_frames(
        (400, 400), seed=2, rate="high", n_double_hits=40, faint_fraction=0.5, offsets=offsets
    )
    params = {"interactive": False, "gain": sset.gain, "rnoise": sset.rnoise, "bias": sset.bias}
    params["mm_crosscorr_region"] = [1, 400, 1, 400]  # offsets by cross-correlation
    events = sset.double_hit_events(min_sigma=5)

    def run():
        res = pipeline.compute_crmasks(list(sset.frames), params)
        caught = sum(bool(res.masks["MEDIANCR"][e.ys, e.xs].any()) for e in events)
        return res.flux_changes["MEDIANCR"], caught

    with_excess = run()
    monkeypatch.setattr(
        _mediancr_run, "offsets_excess", lambda s, v, f=None: lambda ys, xs: np.zeros(ys.size)
    )
    without = run()
    assert with_excess == (0, 34)  # of 35 events
    # two double hits on flanks taken for flux changes ((4, 31) before a minimum 7 sigma
    # above the lowest of the exposures' expectations kept one: fluxchange.K_LOWEST_HIT)
    assert without == (3, 32)


def test_frame_offsets_excess_is_each_expected_signal_minus_that_of_the_minimum():
    from megara_crplugin._excess import frame_offsets_excess

    value = np.array([[[10.0, 5.0]], [[14.0, 5.0]], [[11.0, 9.0]]], np.float32)
    ys, xs = np.array([0, 0]), np.array([0, 1])
    of = frame_offsets_excess(value, value)
    assert [of(i)(ys, xs).tolist() for i in range(3)] == [[0, 0], [4, 0], [1, 4]]
    stack = value.copy()
    stack[0, 0, 0] -= 10  # exposure 0 gives min2d at the first pixel, exposure 1 at the second
    of = frame_offsets_excess(stack, value, [1.0, 2.0, 1.0])  # 10, 7, 11 and 5, 2.5, 9
    assert [of(i)(ys, xs).tolist() for i in range(3)] == [[0, 2.5], [-3, 0], [1, 6.5]]


def test_offsets_alone_are_not_a_flux_change_of_the_exposures(monkeypatch):
    """Each exposure - min2d is raised on steep flanks by the offsets: single hits there stay.

    A high-rate 1024 x 1024 set with +-0.5 px offsets (seed 2): CRMASKi features taken
    for flux changes 29 -> 0, pixels hit by > 10 sigma missed 61 -> 30 (no false feature).
    """
    from megara_crplugin import _mediancr_run, pipeline
    from megara_crplugin.synthetic import make_megara_like_frames

    offsets = ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))
    sset = make_megara_like_frames(
        (400, 400), seed=2, rate="high", n_double_hits=0, offsets=offsets
    )
    params = {"interactive": False, "gain": sset.gain, "rnoise": sset.rnoise, "bias": sset.bias}
    params["mm_crosscorr_region"] = [1, 400, 1, 400]
    sigma = np.sqrt(np.clip(sset.expected, 0, None) / sset.gain + sset.rnoise**2)
    hit = sset.cr_flux > 10 * sigma

    def run():
        res = pipeline.compute_crmasks(list(sset.frames), params)
        rejected = sum(res.flux_changes.get(f"CRMASK{i + 1}", 0) for i in range(3))
        missed = sum(int((hit[i] & ~res.masks[f"CRMASK{i + 1}"]).sum()) for i in range(3))
        return rejected, missed

    with_excess = run()
    monkeypatch.setattr(_mediancr_run, "frame_offsets_excess", lambda s, v, f=None: None)
    without = run()
    # features taken for flux changes, > 10 sigma pixels missed (of 3990); (8, 12) and (1, 6)
    # before the exposures' own rows predicted them on lines (_ownline), (9, 8) before a
    # minimum 7 sigma above the lowest of the exposures' expectations kept one on a flank
    assert without == (8, 7)
    assert with_excess == (0, 0)
