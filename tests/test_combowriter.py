"""Combinations written early, in forked children, while the masks are computed."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from megara_crplugin._combowriter import MASK_FREE, EarlyCombinations
from megara_crplugin.combination import combine_stack
from megara_crplugin.config import validate_parameters
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames


@pytest.mark.parametrize("use_auxmedian", [False, True])
def test_early_combinations_are_the_combinations_of_the_final_masks(tmp_path, use_auxmedian):
    sset = make_megara_like_frames((64, 48), seed=3, n_double_hits=2)
    req = {"crmethod": "mm_pycosmic", "interactive": False, "mm_nsimulations": 2}
    req |= {"mm_seed": 4, "use_auxmedian": use_auxmedian, "gain": 1.0, "rnoise": 3.4}
    params = validate_parameters(req, n_images=3, shape=(64, 48))
    early = EarlyCombinations(tmp_path, params, ["Image x"], ["mean", "min", "mediancr"])
    result = compute_crmasks(
        list(sset.frames), params, on_stack=early.start, on_mediancr=early.start_mediancr
    )
    written = early.result()
    # with use_auxmedian the replacement values are AUXCLEAN's: left to the caller
    expected = ["mean", "min"] if use_auxmedian else ["mean", "min", "mediancr"]
    assert early.methods == expected
    assert [p.name for p in written] == [f"combined_{m}.fits" for m in expected]
    assert set(early.methods) - {"mediancr"} <= set(MASK_FREE)
    assert result.targets["MEDIANCR"].mask.any()
    for method in expected:
        want = combine_stack(
            result.stats.stack, method, masks=result.crmasks, stats=None, use_auxmedian=False
        )
        with fits.open(tmp_path / f"combined_{method}.fits") as hdul:
            np.testing.assert_array_equal(hdul[0].data, want.data, err_msg=method)
            np.testing.assert_array_equal(hdul["VARIANCE"].data, want.variance, err_msg=method)
            np.testing.assert_array_equal(hdul["MAP"].data, want.map, err_msg=method)
            assert hdul[0].header["CRMUUID"] == result.uuid
