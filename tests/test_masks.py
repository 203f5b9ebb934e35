"""Mask construction primitives (spec 3.10, 5; defects 3, 13, 16)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from megara_crplugin.masks import (
    dilate,
    feature_table,
    keep_features,
    mediancr_code,
    mm_flags,
    problematic_pixels,
    target_detection,
)


def _const(value):
    return lambda x: np.full(np.shape(x), float(value))


def test_dilate_zero_is_a_copy_and_one_is_a_3x3_box():
    m = np.zeros((7, 7), dtype=bool)
    m[3, 3] = True
    same = dilate(m, 0)
    assert same is not m and np.array_equal(same, m)
    one = dilate(m, 1)
    assert one.sum() == 9 and one[2:5, 2:5].all()
    assert dilate(m, 2).sum() == 25


@pytest.mark.parametrize("iterations", [1, 2, 3, 6])
def test_dilate_gives_the_pixels_of_scipy_binary_dilation(iterations):
    rng = np.random.default_rng(iterations)
    mask = rng.random((41, 57)) < 0.01
    mask[0, 5] = mask[40, 56] = mask[17, 0] = True  # at the edges
    ref = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=iterations)
    assert np.array_equal(dilate(mask, iterations), ref)
    assert not np.array_equal(dilate(mask, iterations), dilate(mask, iterations - 1))


def test_keep_features_keeps_whole_features_with_support():
    mask = np.zeros((6, 10), dtype=bool)
    mask[1, 1:4] = True  # feature A
    mask[4, 6:9] = True  # feature B
    support = np.zeros_like(mask)
    support[1, 3] = True
    kept = keep_features(mask, support)
    assert kept[1, 1:4].all() and not kept[4].any()
    assert not keep_features(np.zeros_like(mask), support).any()


def test_mm_flags_rules():
    shape = (5, 8)
    x = np.full(shape, 100.0)
    y = np.zeros(shape)
    max2d = np.full(shape, 200.0)
    cleanable = np.ones(shape, dtype=bool)
    y[1, 1] = 50.0  # above boundary 20 and threshold 10: flagged
    y[1, 4] = 15.0  # below the boundary
    y[3, 1] = 50.0
    max2d[3, 1] = 5.0  # max2d below min_max2d: an excess caused by a negative value
    y[3, 5] = 50.0
    cleanable[3, 5] = False
    kw = dict(boundary=_const(20.0), threshold=10.0, min_max2d=17.0, cleanable=cleanable)
    flags = mm_flags(x, y, max2d=max2d, mm_dilation=0, **kw)
    assert flags.sum() == 1 and flags[1, 1]
    # a high threshold wins over the boundary
    assert not mm_flags(x, y, max2d=max2d, mm_dilation=0, **{**kw, "threshold": 60.0}).any()
    # mm_dilation grows the kept features, never into non-cleanable pixels
    grown = mm_flags(x, y, max2d=max2d, mm_dilation=1, **kw)
    assert grown[0:3, 0:3].all() and grown.sum() == 9


def test_mediancr_code_priorities():
    mm = np.array([True, True, False, False, False])
    aux = np.array([True, False, True, False, False])
    forced = np.array([True, True, True, True, False])
    np.testing.assert_array_equal(mediancr_code(mm, aux, forced), [4, 2, 3, 1, 0])


def test_target_detection_dilation_include_within_allowed():
    shape = (9, 9)
    mm = np.zeros(shape, dtype=bool)
    mm[4, 4] = True
    z = np.zeros(shape, dtype=bool)
    det = target_detection("X", np.zeros(shape), flag_aux=z, flag_mm=mm, dilation=1)
    assert det.mask.sum() == 9 and det.code[4, 4] == 2
    assert np.count_nonzero(det.code == 1) == 8
    include = np.zeros(shape, dtype=bool)
    include[0, 0] = True
    within = np.zeros(shape, dtype=bool)
    within[3:6, 3:5] = True
    allowed = np.ones(shape, dtype=bool)
    allowed[4, 3] = False
    det = target_detection(
        "Y",
        np.zeros(shape),
        flag_aux=z,
        flag_mm=mm,
        dilation=2,
        include=include,
        within=within,
        allowed=allowed,
    )
    expected = within & allowed  # include[0, 0] lies outside `within`
    np.testing.assert_array_equal(det.mask, expected)
    np.testing.assert_array_equal(det.code > 0, det.mask)  # code 0 exactly where unmasked


def test_within_keeps_subset_whatever_the_dilation():
    """Defect 3: the subset rule holds after the dilation."""
    rng = np.random.default_rng(0)
    mm = rng.random((40, 40)) > 0.97
    parent = dilate(mm, 1)
    z = np.zeros_like(mm)
    for dil in (0, 1, 2, 3):
        child = target_detection("C", z, flag_aux=z, flag_mm=mm, dilation=dil, within=parent)
        assert not (child.mask & ~parent).any()


def test_feature_table_sorted_by_distance_and_categories_from_all_pixels():
    shape = (40, 200)
    mask = np.zeros(shape, dtype=bool)
    code = np.zeros(shape, dtype=np.uint8)
    x = np.full(shape, 10.0)
    y = np.zeros(shape)
    # a long feature, code 4 only at its far end (defect 16: category from all pixels)
    mask[5, 10:150] = True
    code[5, 10:150] = 2
    code[5, 149] = 4
    y[5, 10:150] = 30.0
    # a feature mixing Aux-only and MM-only: 'other'
    mask[20, 20:22] = True
    code[20, 20], code[20, 21] = 2, 3
    y[20, 20:22] = 90.0
    # Aux-only, only3
    mask[30, 50] = True
    code[30, 50] = 3
    y[30, 50] = 55.0
    # MM-only plus dilation, only2
    mask[35, 100:102] = True
    code[35, 100], code[35, 101] = 2, 1
    y[35, 100] = 25.0
    feats = feature_table(mask, code, x, y, _const(20.0))
    assert [f.number for f in feats] == [1, 2, 3, 4]
    dists = [f.distance for f in feats]
    assert dists == sorted(dists, reverse=True) == [70.0, 35.0, 10.0, 5.0]
    assert [f.category for f in feats] == ["other", "only3", "any4", "only2"]
    assert len(feats[2].ys) == 140
    total = sum(len(f.ys) for f in feats)
    assert total == mask.sum()
    for f in feats:
        np.testing.assert_array_equal(f.codes, code[f.ys, f.xs])
    # without a boundary (Aux-only methods) features sort by their peak y
    nob = feature_table(mask, code, x, y, None)
    assert [f.distance for f in nob] == [90.0, 55.0, 30.0, 25.0]
    assert feature_table(np.zeros(shape, bool), code, x, y, None) == []


def test_problematic_pixels_is_the_and_of_crmasks_only():
    """Defect 13: nothing but the CRMASKi enters the problematic-pixel search."""
    a = np.array([[1, 1, 0, 1]], dtype=bool)
    b = np.array([[1, 0, 1, 1]], dtype=bool)
    c = np.array([[1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(problematic_pixels([a, b, c]), [[1, 0, 0, 0]])
    out = problematic_pixels([a, b, c])
    out[0, 0] = False
    assert a[0, 0]  # not a view of the input


@pytest.mark.parametrize("density", [0.0005, 0.002, 0.2])
def test_keep_features_sparse_and_dense_paths_equal_the_labelled_frame(density):
    from scipy import ndimage

    from megara_crplugin.masks import EIGHT, keep_features

    rng = np.random.default_rng(7)
    mask = ndimage.binary_dilation(rng.random((300, 400)) < density)
    mask[0, :5] = mask[-1, -3:] = mask[:, 0] = True  # features on the edges
    support = rng.random(mask.shape) < 0.05
    labels, nlab = ndimage.label(mask, structure=EIGHT)
    hit = np.bincount(labels[support & mask], minlength=nlab + 1) > 0
    hit[0] = False
    got = keep_features(mask, support)
    assert 0 < got.sum() < mask.sum() and np.array_equal(got, hit[labels])
