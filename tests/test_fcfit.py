"""Helpers of the flux-change fits (issue 11): faster forms, the same values."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin._fcfit import sampler


@pytest.mark.parametrize("at_dtype", [np.float32, np.float64])
def test_sampler_equals_np_where_of_the_profile_and_the_values_at_the_flags(at_dtype):
    rng = np.random.default_rng(4)
    profile = rng.normal(100.0, 10.0, (60, 70)).astype(np.float32)
    flags = rng.random((60, 70)) < 0.05
    at_flags = (profile - rng.uniform(0, 20, profile.shape)).astype(at_dtype)
    ys, xs = rng.integers(0, 60, 5000), rng.integers(0, 70, 5000)
    want = np.where(flags[ys, xs], at_flags[ys, xs], profile[ys, xs])
    got = sampler(profile, flags, at_flags)(ys, xs)
    assert flags[ys, xs].any() and got.dtype == want.dtype
    assert np.array_equal(got, want)
    assert np.array_equal(sampler(profile, flags, None)(ys, xs), profile[ys, xs])
