"""The numpy forms of astroscrappy's separable medians and convolution give its bits."""

import numpy as np
import pytest

astroscrappy_utils = pytest.importorskip("astroscrappy.utils")

from megara_crplugin.detectors._lafilters import convolve, sepmedfilt  # noqa: E402

#: At least 2 * (size // 2) pixels each way: astroscrappy's border copies write
#: outside smaller arrays (heap corruption), so smaller frames are compared with
#: what the border rule says instead (test_sepmedfilt_of_a_frame_smaller_than_a_window).
SHAPES = [(8, 9), (9, 8), (10, 10), (41, 37), (130, 301)]


def _scene(shape, seed):
    """Float32 noise with many exact ties and a few signed zeros and spikes."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, shape).astype(np.float32)
    image[rng.random(shape) < 0.3] = 100.0
    image[rng.random(shape) < 0.02] = 5000.0
    image[rng.random(shape) < 0.02] = 0.0
    return image


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [5, 7, 9])
def test_sepmedfilt_matches_astroscrappy_bit_for_bit(shape, size):
    image = _scene(shape, seed=size)
    expected = getattr(astroscrappy_utils, f"sepmedfilt{size}")(image)
    got = sepmedfilt(image, size)
    assert got.dtype == np.float32
    # the same numbers; +0.0 / -0.0 may differ by design (equal values), so compare as floats
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(3, 3), (2, 20), (20, 4)])
def test_sepmedfilt_of_a_frame_smaller_than_a_window_is_a_copy(shape):
    # every pixel lies within size // 2 of an edge along one axis: all border
    image = _scene(shape, seed=5)
    got = sepmedfilt(image, 9)
    np.testing.assert_array_equal(got, image)
    assert got is not image


def test_sepmedfilt_does_not_modify_its_input():
    image = _scene((40, 50), seed=3)
    before = image.copy()
    sepmedfilt(image, 9)
    np.testing.assert_array_equal(image, before)


def test_sepmedfilt_of_a_large_frame_with_several_row_blocks():
    # 4096 columns: several row blocks in each pass (blocks are sized by bytes)
    image = _scene((300, 4096), seed=11)
    np.testing.assert_array_equal(sepmedfilt(image, 7), astroscrappy_utils.sepmedfilt7(image))


@pytest.mark.parametrize("shape", [(3, 3), *SHAPES, (70, 4096)])
@pytest.mark.parametrize("kshape", [(11, 11), (3, 5), (4, 6), (1, 1)])
def test_convolve_matches_astroscrappy_bit_for_bit(shape, kshape):
    rng = np.random.default_rng(kshape[0] * 10 + kshape[1])
    kernel = rng.random(kshape).astype(np.float32)
    image = _scene(shape, seed=1)
    expected = astroscrappy_utils.convolve(image, kernel)
    got = convolve(image, kernel)
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))
