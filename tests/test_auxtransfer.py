"""Compact hand-over of detector results from forked workers, and PyCosmic's block-wise steps.

Both exist for memory only: they must give bit-identical results.
"""

import numpy as np
import plain_filters
import pytest

from megara_crplugin._auxtransfer import pack_detection, unpack_detection
from megara_crplugin.detectors import _pcfilters, pycosmic
from megara_crplugin.detectors.pycosmic import PyCosmicDetector


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_unpack_gives_the_same_bits(dtype):
    rng = np.random.default_rng(7)
    image = rng.normal(100.0, 5.0, (37, 53)).astype(dtype)
    mask = rng.random(image.shape) < 0.05
    cleaned = image.copy()
    cleaned[mask] = rng.normal(90.0, 1.0, int(mask.sum())).astype(dtype)
    ys, xs = np.nonzero(mask)
    cleaned[ys[0], xs[0]] = image[ys[0], xs[0]]  # a replacement equal to the input
    image[ys[1], xs[1]] = 0.0
    cleaned[ys[1], xs[1]] = -0.0  # a signed zero: equal under ==, other bits
    packed = pack_detection(image, mask, cleaned)
    mask2, cleaned2 = unpack_detection(image, packed)
    assert mask2.dtype == bool and np.array_equal(mask2, mask)
    assert cleaned2.dtype == cleaned.dtype
    assert np.array_equal(_bits(cleaned2), _bits(cleaned))
    # only the masked pixels travel, not a frame
    assert packed[2][1].size == int(mask.sum())


def test_pack_sends_changes_outside_the_mask_and_can_drop_the_cleaned_image():
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    mask = np.zeros(image.shape, dtype=bool)
    mask[1, 2] = True
    cleaned = image.copy()
    cleaned[1, 2] = -5.0
    cleaned[3, 4] = 99.0  # outside the mask: sent as well
    mask2, cleaned2 = unpack_detection(image, pack_detection(image, mask, cleaned))
    assert np.array_equal(cleaned2, cleaned)
    mask3, none = unpack_detection(image, pack_detection(image, mask, cleaned, keep_cleaned=False))
    assert none is None and np.array_equal(mask3, mask)
    assert unpack_detection(image, pack_detection(image, mask, None))[1] is None


def test_pycosmic_result_round_trips_bit_for_bit():
    rng = np.random.default_rng(3)
    image = rng.normal(200.0, 6.0, (120, 90)).astype(np.float32)
    ys, xs = rng.integers(2, 118, 40), rng.integers(2, 88, 40)
    image[ys, xs] += rng.uniform(100.0, 2000.0, 40).astype(np.float32)
    det = PyCosmicDetector().detect(image, gain=1.2, rnoise=3.0)
    assert det.mask.sum() >= 30
    mask, cleaned = unpack_detection(image, pack_detection(image, det.mask, det.cleaned))
    assert np.array_equal(mask, det.mask)
    assert np.array_equal(_bits(cleaned), _bits(det.cleaned))


@pytest.mark.parametrize("shape", [(23, 17), (3, 40), (64, 5)])
def test_laplace_by_row_blocks_equals_the_whole_image(monkeypatch, shape):
    monkeypatch.setattr(_pcfilters, "_BLOCK_PIXELS", 3 * shape[1] + 1)  # 3-row blocks
    image = np.random.default_rng(1).normal(0.0, 10.0, shape).astype(np.float32)
    got = pycosmic._laplace_plus(image)
    assert np.array_equal(_bits(got), _bits(plain_filters.laplace_plus(image)))


def test_median5_without_padding_equals_the_padded_median():
    image = np.random.default_rng(2).normal(0.0, 1.0, (9, 11)).astype(np.float32)
    ys, xs = np.nonzero(np.ones(image.shape, dtype=bool))
    padded = np.pad(image, 2, mode="reflect")
    expected = np.array(
        [np.median(padded[y : y + 5, x : x + 5]) for y, x in zip(ys, xs, strict=True)]
    )
    assert np.array_equal(pycosmic._median5_at(image, ys, xs), expected.astype(np.float32))


def test_density_by_row_blocks_counts_as_the_whole_frame(monkeypatch, small_result):
    """The MM-diagram density of the target figures is computed by row blocks (memory)."""
    import matplotlib

    matplotlib.use("Agg")
    from megara_crplugin.reports import _diagram
    from megara_crplugin.reports._targetfigs import draw_target_diagnostic

    whole = draw_target_diagnostic(small_result, "MEDIANCR").artists["density"].get_array()
    monkeypatch.setattr(_diagram, "_BLOCK_PIXELS", 7 * small_result.stats.min2d.shape[1] + 3)
    blocks = draw_target_diagnostic(small_result, "MEDIANCR").artists["density"].get_array()
    assert np.array_equal(np.ma.getdata(blocks), np.ma.getdata(whole))
    assert np.array_equal(np.ma.getmaskarray(blocks), np.ma.getmaskarray(whole))
    code = small_result.targets["MEDIANCR"].code
    assert int(whole.sum()) == code.size - int((code > 0).sum())


def test_forked_detector_calls_give_what_the_calls_in_process_give(
    monkeypatch, small_set, mm_params
):
    """The pipeline's compact hand-over from the workers changes no mask and no AUXCLEAN."""
    from megara_crplugin import _auxpass, pipeline

    params = mm_params(small_set, crmethod="mm_pycosmic", jobs=2)
    forked = pipeline.compute_crmasks(list(small_set.frames), params)
    monkeypatch.setattr(_auxpass, "_FORK_SAFE_DETECTORS", ())  # every call in this process
    serial = pipeline.compute_crmasks(list(small_set.frames), params)
    assert np.array_equal(_bits(forked.auxclean), _bits(serial.auxclean))
    assert set(forked.targets) == set(serial.targets)
    for name, target in forked.targets.items():
        assert np.array_equal(target.mask, serial.targets[name].mask), name
        assert np.array_equal(target.code, serial.targets[name].code), name
    assert forked.targets["MEDIANCR"].mask.sum() > 0
