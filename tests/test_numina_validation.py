"""The parameters are validated once on the numina recipe path (issue 8)."""

from __future__ import annotations

import numina_helpers as nh
import numpy as np
import pytest
from astropy.io import fits

pytest.importorskip("megaradrp")
from numina.core import DataFrame  # noqa: E402

import megara_crplugin.config as config_pkg  # noqa: E402
import megara_crplugin.config.validation as validation  # noqa: E402
import megara_crplugin.numina.recipes as recipes  # noqa: E402
import megara_crplugin.pipeline as pipeline  # noqa: E402
from megara_crplugin.config import validate_parameters  # noqa: E402

#: Every name under which ``validate_parameters`` is reached at run time.
_HOLDERS = (config_pkg, validation, recipes, pipeline)


def _count_validations(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    real = validate_parameters

    def counting(*args, **kwargs):
        calls.append((kwargs.get("n_images"), kwargs.get("shape")))
        return real(*args, **kwargs)

    for module in _HOLDERS:
        monkeypatch.setattr(module, "validate_parameters", counting)
    return calls


def _bpm_frame(path, bad):
    data = np.zeros(nh.TRIM_SHAPE, dtype=np.uint8)
    data[bad] = 1
    hdu = fits.PrimaryHDU(data)
    hdu.header["INSTRUME"] = "MEGARA"
    hdu.header["NUMTYPE"] = "MasterBPM"
    hdu.writeto(path)
    return DataFrame(filename=str(path))


@pytest.mark.slow
def test_crdetection_recipe_validates_the_parameters_once(tmp_path, monkeypatch):
    """Through the shape binding, the master BPM and the no-display fallback: one validation."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipes, "_display_available", lambda: False)
    data = tmp_path / "data"
    sset = nh.synthetic_set(3, n_single=20, n_double=3)
    names, _ = nh.write_raw_set(data, sset)
    nh.master_bias().writeto(data / "master_bias.fits")
    recipe = recipes.CrDetectionRecipe()
    rinput = recipe.create_input(
        obresult=nh.observation_result(data, names, "MegaraCrDetection"),
        master_bias=DataFrame(filename=str(data / "master_bias.fits")),
        master_bpm=_bpm_frame(data / "master_bpm.fits", (100, 50)),
        crmethod="mmcosmic",
        mm_nsimulations=2,
        maxplots=0,
    )
    assert rinput.interactive is True  # replaced by false: no display
    calls = _count_validations(monkeypatch)
    result = recipe.run(rinput)
    assert calls == [(3, None)], calls  # before the expensive work, shape unknown
    hdr = result.crmasks.frame[0].header
    history = [str(h) for h in hdr["HISTORY"]]
    assert "interactive = False" in history
    assert result.crmasks.frame["DEFECTS"].data[100, 50] == 1
    assert result.crmasks.frame["MEDIANCR"].data.shape == nh.TRIM_SHAPE


def test_compute_crmasks_does_not_validate_a_bound_configuration_again(monkeypatch):
    from megara_crplugin.synthetic import make_megara_like_frames

    sset = make_megara_like_frames((128, 128), seed=3, n_double_hits=5)
    params = {
        "crmethod": "mmcosmic",
        "mm_nsimulations": 2,
        "interactive": False,
        "gain": sset.gain,
        "rnoise": sset.rnoise,
        "bias": sset.bias,
    }
    cfg = validate_parameters(params, n_images=3)
    calls = _count_validations(monkeypatch)
    bound = pipeline.compute_crmasks(list(sset.frames), cfg)
    assert calls == []  # validated already: only the shape-dependent checks ran
    assert bound.config.shape == (128, 128) and bound.config == cfg
    again = pipeline.compute_crmasks(list(sset.frames), validate_parameters(params))
    assert calls == [(3, (128, 128))]  # n unknown: validated again with it and the shape
    for name, mask in bound.masks.items():
        np.testing.assert_array_equal(mask, again.masks[name], err_msg=name)
