"""The ``rate`` modes of make_megara_like_frames (megara_crplugin.synthetic_rates)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.synthetic import make_megara_like_frames
from megara_crplugin.synthetic_rates import HIGH_RATE_EVENTS_PER_MPIX

RANDOM_KINDS = ("single", "blob", "track", "worm")


@pytest.fixture(scope="module")
def pair():
    kw = dict(shape=(512, 512), seed=3, n_double_hits=40, faint_fraction=1.0)
    return make_megara_like_frames(**kw), make_megara_like_frames(**kw, rate="high")


def test_high_rate_has_about_1500_events_per_mpix_per_exposure(pair):
    normal, high = pair
    mpix = 512 * 512 / 1e6
    for sset, lo, hi in ((high, 0.9, 1.1), (normal, 0.2, 0.3)):
        n = sum(1 for e in sset.events if e.kind in RANDOM_KINDS)
        rate = n / sset.n_frames / mpix
        assert lo * HIGH_RATE_EVENTS_PER_MPIX <= rate <= hi * HIGH_RATE_EVENTS_PER_MPIX, rate
    assert high.parameters["rate"] == "high" and normal.parameters["cr_fraction"] == 0.002


def test_high_rate_scene_is_faint_between_fibres_same_geometry(pair):
    normal, high = pair
    assert np.array_equal(normal.scene.centres, high.scene.centres)
    assert high.scene.sky_level == pytest.approx(0.5 * normal.scene.sky_level)
    assert np.mean(high.signal < 20) > 0.75
    assert np.mean(high.signal < 20) > np.mean(normal.signal < 20)


def test_high_rate_faint_double_hits_reach_above_the_5_sigma_limit(pair):
    normal, high = pair
    # faint weaker hits are 2-5 sigma (normal) or 2-16 sigma (high): only the
    # high mode has faint events raising the median by more than 5 sigma
    assert len(normal.double_hit_events(min_sigma=5)) <= 2  # blob jitter only
    assert len(high.double_hit_events(min_sigma=5)) >= 20


def test_explicit_cr_fraction_wins_and_bad_rate_is_named():
    sset = make_megara_like_frames((64, 64), seed=1, rate="high", cr_fraction=0.0)
    assert not sset.truth.any() or all(len(e.frames) >= 2 for e in sset.events)
    with pytest.raises(ValueError, match="rate must be one of 'normal', 'high', got 'fast'"):
        make_megara_like_frames((64, 64), rate="fast")


def test_normal_rate_is_the_previous_default():
    a = make_megara_like_frames((64, 64), seed=5)
    b = make_megara_like_frames((64, 64), seed=5, rate="normal", cr_fraction=0.002)
    assert np.array_equal(a.frames, b.frames)
