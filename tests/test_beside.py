"""Hot pixels are alone; triple hits have a cosmic ray beside them (megara_crplugin._beside)."""

from __future__ import annotations

import numpy as np

from megara_crplugin._beside import K_BESIDE, clear_beside_rays
from megara_crplugin.expected import K_CLEAN, estimate_expected, frame_flags, median_flags

GAIN, RNOISE = 1.0, 3.4


def _z_at(z):
    return lambda ys, xs: z[:, ys, xs].copy()


def _clear(z, y, x):
    alike = np.ones(z.shape[1:], bool)
    cleared = clear_beside_rays(_z_at(z), alike, np.ones_like(alike), k_clean=K_CLEAN)
    return cleared, bool(alike[y, x])


def test_a_lone_hot_pixel_and_a_ray_on_it_stay_hot():
    z = np.zeros((3, 5, 5))
    z[:, 2, 2] = 12.0  # raised alike in every exposure
    assert _clear(z, 2, 2) == (0, True)
    z[0, 2, 2], z[0, 2, 3], z[0, 3, 3] = 90.0, 40.0, 20.0  # a track over it in exposure 0
    assert _clear(z, 2, 2) == (0, True)


def test_a_ray_beside_in_a_lower_exposure_makes_a_triple_hit():
    z = np.zeros((3, 5, 5))
    z[:, 2, 2] = (40.0, 15.0, 13.0)
    z[2, 1, 1] = K_BESIDE + 1  # exposure 2's ray spreads into a neighbour
    cleared, alike = _clear(z, 2, 2)
    assert not alike and cleared >= 1
    z[2, 1, 1] = K_BESIDE - 0.5  # not a confident ray
    assert _clear(z, 2, 2)[1]


def test_structure_raised_in_every_exposure_is_no_ray_beside():
    z = np.zeros((3, 5, 5))
    z[:, 2, 2] = (40.0, 15.0, 13.0)
    z[:, 2, 3] = (9.0, 8.0, 8.5)  # a neighbour raised everywhere: structure, crosstalk
    assert _clear(z, 2, 2)[1]


def test_corner_pixels_look_at_the_neighbours_inside_the_frame():
    z = np.zeros((3, 4, 4))
    z[:, 0, 0] = (40.0, 15.0, 13.0)
    z[1, 1, 0] = 30.0
    assert not _clear(z, 0, 0)[1]


def _flat_stack(seed=4):
    rng = np.random.default_rng(seed)
    shape = (3, 48, 64)
    stack = rng.poisson(20.0 * GAIN, shape) / GAIN + rng.normal(0, RNOISE, shape)
    return stack.astype(np.float32), np.sqrt(20.0 / GAIN + RNOISE**2)


def test_triple_hit_is_in_mediancr_hot_pixel_with_a_ray_is_not():
    stack, sigma = _flat_stack()
    # a hot pixel (12 sigma in every exposure) with a track over it in exposure 0
    stack[:, 10, 10] += 12 * sigma
    stack[0, 10, 9:13] += np.array([30, 80, 60, 30]) * sigma
    # a triple hit: single-pixel rays in exposures 0 and 1, a track in exposure 2
    stack[:, 30, 40] += np.array([40, 15, 13]) * sigma
    stack[2, 29:32, 39] += 25 * sigma
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    flags = median_flags(stack, exp, k=4.3)
    assert flags[30, 40] and not flags[10, 10]
    # the triple hit is in every exposure's single-hit mask; of the track over the
    # hot pixel, its other pixels (the hot pixel stays a defect, as before)
    assert all(frame_flags(stack, exp, i)[30, 40] for i in range(3))
    assert frame_flags(stack, exp, 0)[10, 11] and not frame_flags(stack, exp, 0)[10, 10]
