"""Expected signal from the neighbours and the tests on it (megara_crplugin.expected)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.config.schema import PARAMETERS
from megara_crplugin.expected import (
    ExpectedSignal,
    estimate_expected,
    frame_flags,
    median_flags,
    mediancr_mm_flags,
    raised_in,
)

GAIN, RNOISE = 1.0, 3.4


def _noisy(signal: np.ndarray, n: int = 3, seed: int = 0, ff=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ff = np.ones(n) if ff is None else np.asarray(ff, float)
    out = np.stack([rng.poisson(signal * f * GAIN) / GAIN for f in ff]).astype(np.float32)
    return out + rng.normal(0, RNOISE, out.shape).astype(np.float32)


def _sigma(signal):
    return np.sqrt(signal / GAIN + RNOISE**2)


def _fibres(ny=128, nx=128, level=30.0):
    """Fibre-like rows (Gaussian profile along y, pitch 6.6 px) with a flat spectrum."""
    y = np.arange(ny)[:, None]
    centres = np.arange(3.0, ny, 6.6)
    prof = np.exp(-0.5 * ((y - centres[None, :]) / 1.6) ** 2).sum(axis=1, keepdims=True)
    return np.broadcast_to(2.0 + level * prof, (ny, nx)).copy()


def test_flat_estimate_is_unbiased_and_tighter_than_one_sample():
    signal = np.full((64, 64), 10.0)
    stack = _noisy(signal)
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    assert exp.value.shape == stack.shape and exp.value.dtype == np.float32
    err = exp.value[0] - 10.0
    # the median of 18 neighbours scatters ~0.3 sigma; its max() with min2d adds a small bias
    assert abs(np.mean(err)) < 0.35 * _sigma(10.0)
    assert np.std(err) < 0.45 * _sigma(10.0)
    assert np.allclose(
        exp.sigmas()[0], _sigma(exp.value[0]) * np.sqrt(1 + 1.2533**2 / 18), rtol=1e-5
    )


def test_double_hit_of_6_sigma_on_low_signal_is_found_single_hit_is_not():
    signal = _fibres(level=20.0)
    stack = _noisy(signal, seed=3)
    y, x = 40, 60
    amp = 6.0 * _sigma(signal[y, x])
    stack[0, y, x] += 1.5 * amp
    stack[2, y, x] += amp
    stack[1, 80, 30] += 500.0  # a single hit: the median is not raised
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    med = median_flags(stack, exp, k=4.0)
    assert med[y, x]
    assert not med[80, 30]
    assert frame_flags(stack, exp, 1)[80, 30]
    assert not frame_flags(stack, exp, 0)[80, 30]


def test_no_false_alarms_on_noise_per_pixel():
    signal = _fibres(256, 256, level=15.0)
    flags = 0
    for seed in range(4):
        stack = _noisy(signal, seed=seed)
        exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
        flags += int(median_flags(stack, exp, k=4.0).sum())
    assert flags == 0  # 0.26 Mpix: the oracle's rate is a few per Mpix


def test_line_peak_is_predicted_from_the_adjacent_rows():
    ny, nx = 96, 96
    base = _fibres(ny, nx, level=10.0)
    x = np.arange(nx)
    line = np.exp(-0.5 * ((x - 48.0) / 1.0) ** 2)[None, :]
    signal = base + 40.0 * (base - 2.0) * line  # a sky line through every fibre
    stack = _noisy(signal, seed=5)
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    peak = exp.value[0][:, 48]
    bright = signal[:, 48] > 100
    # the x-neighbours alone would give less than half the peak
    assert np.median(peak[bright] / signal[bright, 48]) > 0.9
    assert not median_flags(stack, exp, k=4.0).any()


def _steep_line(ny=96, nx=96, level=10.0, centre=48.0):
    """Fibres crossed by a bright line with steep flanks along x (the foot 3 px from the peak)."""
    base = _fibres(ny, nx, level=level)
    x = np.arange(nx)
    line = np.exp(-0.5 * ((x - centre) / 1.2) ** 2)[None, :]
    return base + 150.0 * (base - 2.0) * line


def test_estimate_on_a_steep_flank_follows_the_line_not_the_neighbours():
    signal = _steep_line()
    foot = 45  # 3 px from the peak: the x-neighbours reach up the flank
    rows = np.flatnonzero(signal[:, 40] > 8)  # on the fibres
    assert np.median(signal[rows, foot + 2] / signal[rows, foot]) > 10
    stack = _noisy(signal, seed=11)
    clean = stack.copy()
    amp = 7.0 * _sigma(signal[rows, foot])
    stack[0, rows, foot] += amp
    stack[2, rows, foot] += 2.0 * amp
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    ratio = exp.value[0, rows, foot] / signal[rows, foot]
    # the neighbours' median alone is 2.5 times the foot, and no hit is found
    assert 0.8 < np.median(ratio) < 1.3
    k = PARAMETERS["mm_expected_sigma"].default  # the pipeline's level (skew-corrected)
    found = median_flags(stack, exp, k=k)[rows, foot]
    assert found.mean() >= 0.5
    assert not median_flags(clean, estimate_expected(clean, gain=GAIN, rnoise=RNOISE), k=k).any()


def test_estimate_ignores_cosmic_rays_in_the_neighbours():
    signal = np.full((32, 64), 20.0)
    stack = _noisy(signal, seed=7)
    clean = estimate_expected(stack, gain=GAIN, rnoise=RNOISE).value[0, 16, 32]
    stack[0, 16, 29:32] += 3000.0  # a track along x in one exposure
    stack[1, 16, 33:36] += 3000.0
    hit = estimate_expected(stack, gain=GAIN, rnoise=RNOISE).value[0, 16, 32]
    assert abs(hit - clean) < 0.5 * _sigma(20.0)


def test_offset_exposures_are_aligned_without_their_cosmic_rays(monkeypatch):
    """The alignment spreads a ray over its neighbours; the second pass replaces it first."""
    import megara_crplugin.expected as ex

    signal = np.full((32, 64), 20.0)
    offsets = ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))
    stack = _noisy(signal, seed=7)
    clean = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, offsets=offsets).value
    stack[0, 17, 28:36] += 3000.0  # tracks along x, one per exposure, side by side
    stack[1, 16, 26:32] += 3000.0
    stack[2, 15:18, 33:39] += 3000.0

    def raised_by_rays():
        hit = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, offsets=offsets).value
        return np.max((hit - clean) / _sigma(20.0))

    assert raised_by_rays() < 0.5  # measured 0.30 sigma
    monkeypatch.setattr(ex, "K_RAYS", np.inf)  # one pass: the spread rays raise it
    assert raised_by_rays() > 0.8  # measured 1.04 sigma


def test_flux_factors_scale_the_expectation_of_each_exposure():
    signal = np.full((32, 64), 50.0)
    ff = (0.8, 1.0, 1.2)
    stack = _noisy(signal, ff=ff, seed=2)
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, flux_factors=ff)
    for i, f in enumerate(ff):
        assert abs(np.median(exp.value[i]) - 50.0 * f) < 0.1 * _sigma(50.0 * f)


def test_offsets_move_the_estimate_with_each_exposure():
    ny, nx = 96, 64
    y = np.arange(ny)[:, None]
    centres = np.arange(3.0, ny, 6.6)

    def fibres(dy):
        prof = np.exp(-0.5 * ((y - dy - centres[None, :]) / 1.6) ** 2).sum(axis=1, keepdims=True)
        return np.broadcast_to(2.0 + 200.0 * prof, (ny, nx))

    truth = np.stack([fibres(0.0), fibres(0.5), fibres(-0.5)])
    rng = np.random.default_rng(4)
    stack = truth + rng.normal(0, RNOISE, truth.shape)
    offsets = [(0.0, 0.0), (0.0, 0.5), (0.0, -0.5)]
    pooled = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    moved = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, offsets=offsets)
    for i in (1, 2):
        err_moved = np.abs(moved.value[i] - truth[i])[5:-5].mean()
        assert err_moved < 0.5 * np.abs(pooled.value[i] - truth[i])[5:-5].mean()
    # no false alarms although the exposures differ by up to half the fibre peak
    assert not median_flags(stack, moved, k=4.25).any()


def test_boundary_detection_needs_confirmation():
    signal = np.full((32, 32), 15.0)
    stack = _noisy(signal, seed=9)
    stack[1, 10, 10] = 15.0 - 4.5 * _sigma(15.0)  # a low minimum: large median - min
    boundary = np.zeros((32, 32), bool)
    boundary[10, 10] = True
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    assert not mediancr_mm_flags(stack, exp, boundary, k=4.0)[10, 10]
    stack[[0, 2], 12, 12] += 30 * _sigma(15.0)
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    allowed = np.ones((32, 32), bool)
    allowed[12, 12] = False
    assert mediancr_mm_flags(stack, exp, boundary, k=4.0)[12, 12]
    assert not mediancr_mm_flags(stack, exp, boundary, k=4.0, cleanable=allowed)[12, 12]


def test_raised_in_counts_exposures_and_rejects_alike_values():
    value = np.zeros((3, 1, 5), np.float32)
    sigma = np.ones((3, 1, 5), np.float32)
    exp = ExpectedSignal(value, sigma, gain=1.0)
    # columns: a double hit, a single hit, a hot pixel, a hot pixel + a hit, nothing
    stack = np.array([[[50, 50, 9, 300, 0]], [[40, 0, 9, 9, 0]], [[0, 0, 9, 9, 0]]], np.float32)
    assert raised_in(stack, exp, k=4, needed=1).tolist() == [[True, True, False, False, False]]
    assert median_flags(stack, exp, k=4).tolist() == [[True, False, False, False, False]]
    assert frame_flags(stack, exp, 0).tolist() == [[True, True, False, False, False]]
    assert frame_flags(stack, exp, 1).tolist() == [[True, False, False, False, False]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: estimate_expected(np.zeros((4, 4)), gain=1, rnoise=1), "stack: expected a"),
        (
            lambda: estimate_expected(np.zeros((3, 4, 4)), gain=1, rnoise=1, half_width=0),
            "half_width: expected >= 1",
        ),
        (
            lambda: raised_in(
                np.zeros((3, 2, 2)),
                ExpectedSignal(np.zeros((3, 2, 2)), np.ones((3, 2, 2))),
                k=4,
                needed=4,
            ),  # fmt: skip
            "needed: expected 1..3",
        ),
    ],
)
def test_bad_arguments_name_themselves(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_tabulated_minimum_shifts_are_the_integrals():
    # the table spares every run the scipy.stats import; it must hold the same doubles
    from megara_crplugin._minshift import MIN_SHIFTS, min_shift, min_shift_integral

    for n in range(1, len(MIN_SHIFTS) + 1):
        assert min_shift(n) == min_shift_integral(n)
    assert min_shift(3) == pytest.approx(0.8463, abs=1e-4)  # -E[min] of 3 N(0, 1)
    assert min_shift(25) == min_shift_integral(25) > min_shift(20)


def test_one_estimate_is_shared_by_the_exposures_unless_factors_or_offsets_differ():
    """Without flux factors and offsets the N planes are one plane (no copies, read-only)."""
    stack = _noisy(_fibres(64, 48), seed=6)
    shared = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    assert shared.value.shape == stack.shape
    assert shared.value.strides[0] == 0 and not shared.value.flags.writeable
    ones = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, flux_factors=(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(ones.value, shared.value)
    ff = (0.9, 1.0, 1.1)
    scaled = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, flux_factors=ff)
    assert scaled.value.flags.writeable and scaled.value.strides[0] != 0
    # each plane is the flux-normalised estimate times its factor, in float32
    plane = scaled.value[1]  # factor 1.0
    for i, f in enumerate(ff):
        np.testing.assert_array_equal(scaled.value[i], plane * np.float32(f))
    zero = estimate_expected(stack, gain=GAIN, rnoise=RNOISE, offsets=[(0, 0)] * 3)
    np.testing.assert_array_equal(zero.value, shared.value)  # shifts by 0 px change nothing


def test_offset_exposures_on_sharp_structure_are_predicted_on_their_own_grid(monkeypatch):
    """The interpolated estimate reads sharp structure high; each exposure's own grid does not."""
    from megara_crplugin._ownline import K_BAND, own_lines
    from megara_crplugin.synthetic import make_megara_like_frames

    offsets = ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))
    sset = make_megara_like_frames((256, 256), seed=5, rate="high", offsets=offsets)
    stack = np.stack([np.asarray(f, np.float32) - np.float32(sset.bias) for f in sset.frames])
    calls = []

    import megara_crplugin.expected as ex

    def recorded(stack, value, sigma, *args):
        calls.append((value.copy(), sigma.copy()))  # the interpolated estimate
        return own_lines(stack, value, sigma, *args)

    monkeypatch.setattr(ex, "own_lines", recorded)
    est = estimate_expected(stack, gain=sset.gain, rnoise=sset.rnoise, offsets=offsets)
    assert len(calls) == 2  # once per pass
    value0, sigma0 = calls[-1]
    changed = est.value != value0
    assert 0.01 < changed.mean() < 0.5  # lines, and flat rows where the interpolation errs most
    # never farther than K_BAND of the interpolated estimate's sigma from it
    assert np.all(np.abs(est.value - value0) <= K_BAND * sigma0 * (1 + 1e-5) + 1e-3)
    # closer to the truth where it changed, away from cosmic rays
    clean = changed & ~_near_rays(sset.truth.any(axis=0))
    sig = np.sqrt(np.clip(sset.expected, 0, None) / sset.gain + sset.rnoise**2)
    before = np.median(((value0 - sset.expected) / sig)[clean])
    after = np.median(((est.value - sset.expected) / sig)[clean])
    assert before > 0.2 and abs(after) < 0.6 * before  # measured: 0.31 -> 0.02 sigma (18 % of px)
    # in fibre valleys and on peaks (flat along x) the own neighbours' median has less noise
    true = sset.expected
    flat = np.zeros(true.shape, bool)  # the truth flat along x (no line) over +-3 px
    span = np.abs(true[:, :, 6:] - true[:, :, :-6]) < 0.5 * sig[:, :, 3:-3]
    flat[:, :, 3:-3] = span & (np.abs(true[:, :, 4:-2] - true[:, :, 2:-4]) < 0.5 * sig[:, :, 3:-3])
    # 0.7 % of the pixels (0.02 % with the own rows' line estimate alone)
    assert (changed & flat & (est.sigmas() < 0.8 * sigma0)).mean() > 0.003
    assert own_lines(stack, value0.copy(), sigma0.copy(), sset.gain, sset.rnoise, 3) > 0


def _near_rays(mask):
    from scipy import ndimage

    return ndimage.binary_dilation(mask, np.ones((3, 7), bool))
