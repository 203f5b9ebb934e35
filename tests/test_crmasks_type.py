"""One mask type: CRMaskResult.crmasks and read_crmasks give the same CRMasks."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from megara_crplugin.combination import METHODS, combine, combine_all, combine_stack
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks
from megara_crplugin.crmasks_type import CRMasks


def test_result_crmasks_shares_the_arrays(small_result):
    masks = small_result.crmasks
    assert isinstance(masks, CRMasks)
    assert list(masks.masks) == list(small_result.targets)
    for name, target in small_result.targets.items():
        assert masks.masks[name] is target.mask  # not a copy
    assert masks.flux_factors is small_result.flux_factors
    assert masks.apply_flux_factor_to == small_result.config.apply_flux_factor_to
    assert masks.cr_coincidences == small_result.config.mm_cr_coincidences
    with pytest.raises(dataclasses.FrozenInstanceError):
        masks.uuid = "other"


def test_in_memory_and_file_masks_combine_identically(small_set, small_result):
    from_file = read_crmasks(crmasks_hdulist(small_result))
    in_memory = small_result.crmasks
    assert from_file.uuid == in_memory.uuid and from_file.shape == in_memory.shape
    assert (from_file.apply_flux_factor_to, from_file.cr_coincidences) == (
        in_memory.apply_flux_factor_to,
        in_memory.cr_coincidences,
    )
    frames = list(small_set.frames)
    a = combine_all(frames, METHODS, masks=in_memory, bias=small_set.bias)
    b = combine_all(frames, METHODS, masks=from_file, bias=small_set.bias)
    for method in METHODS:
        np.testing.assert_array_equal(a[method].data, b[method].data, err_msg=method)
        np.testing.assert_array_equal(a[method].map, b[method].map, err_msg=method)


def test_combination_refuses_other_mask_objects(small_set, small_result):
    frames = list(small_set.frames)
    lookalike = SimpleNamespace(**dataclasses.asdict(small_result.crmasks))
    msg = r"masks: expected a CRMasks \(read_crmasks\(...\) or CRMaskResult.crmasks\), got "
    with pytest.raises(TypeError, match=msg + "SimpleNamespace"):
        combine(frames, "meancr", masks=lookalike)
    with pytest.raises(TypeError, match=msg + "CRMaskResult"):
        combine(frames, "mediancr", masks=small_result)
    with pytest.raises(TypeError, match=msg + "dict"):
        combine_stack(np.stack(frames), "meancr", masks=small_result.masks)
