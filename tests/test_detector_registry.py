"""A detector registered only through an entry point is a first-class crmethod.

The test writes a tiny package and its ``.dist-info`` (with an
``entry_points.txt`` in the ``megara_crplugin.detectors`` group) into a
temporary folder put on ``sys.path``: nothing is installed, nothing in the
package names the detector.
"""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest

from megara_crplugin.config import CRMETHODS, ConfigError, validate_parameters
from megara_crplugin.detectors import crmethods, detector_names, get_detector
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

_DETECTOR = '''
import numpy as np
from scipy import ndimage

from megara_crplugin.detectors.base import BaseDetector, Detection


class ThresholdDetector(BaseDetector):
    """Flags pixels above a 3x3 median by xt_nsigma x sqrt(noise) (ADU)."""

    name = "xthresh"
    prefix = "xt_"
    defaults = {"xt_nsigma": 10.0, "xt_verbose": False}

    def _detect(self, image, *, gain, rnoise):
        smooth = ndimage.median_filter(image, size=3)
        sigma = np.sqrt(np.maximum(smooth, 0) / gain + rnoise**2)
        mask = image - smooth > self.params["xt_nsigma"] * sigma
        return Detection(mask=mask, cleaned=np.where(mask, smooth, image))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Put the package ``xthresh_plugin`` and its dist-info on ``sys.path``."""
    pkg = tmp_path / "xthresh_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(_DETECTOR))
    info = tmp_path / "xthresh_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xthresh-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[megara_crplugin.detectors]\nxthresh = xthresh_plugin:ThresholdDetector\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "xthresh"


@pytest.fixture(scope="module")
def triplet():
    return make_megara_like_frames((64, 128), seed=3, n_double_hits=4, bias=0.0)


def test_builtins_follow_the_registry_path():
    assert crmethods() == CRMETHODS  # no third-party detector installed here
    assert {"lacosmic", "pycosmic", "deepcr", "conn"} <= set(detector_names())


def test_entry_point_name_is_a_valid_crmethod_and_mm_variant(plugin):
    assert plugin in detector_names()
    assert {plugin, f"mm_{plugin}"} <= set(crmethods())
    for method in (plugin, f"mm_{plugin}"):
        cfg = validate_parameters({"crmethod": method, "xt_nsigma": 7.5})
        assert cfg.aux_name == plugin
        assert cfg.uses_mm is method.startswith("mm_")
        assert cfg.detector_params() == {"xt_nsigma": 7.5, "xt_verbose": False}
        assert "xt_nsigma = 7.5" in cfg.history_lines()
        assert get_detector(method, cfg.detector_params()).params["xt_nsigma"] == 7.5
        # the plug-in gets a frozen configuration of its declared keys too
        frozen = cfg.detector_config()
        assert frozen.xt_nsigma == 7.5 and frozen == {"xt_nsigma": 7.5, "xt_verbose": False}
        assert dict(frozen.defaults) == {"xt_nsigma": 10.0, "xt_verbose": False}
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.xt_nsigma = 1.0
        detector = get_detector(method, frozen)
        assert detector.config == frozen and detector.params["xt_nsigma"] == 7.5
        with pytest.raises(TypeError):
            detector.params["xt_nsigma"] = 1.0


def test_parameters_are_declared_by_the_detector(plugin):
    with pytest.raises(ConfigError, match=r"unknown parameter 'xt_sigma'; detector 'xthresh'"):
        validate_parameters({"crmethod": plugin, "xt_sigma": 3})
    # without the detector selected its keys are unknown, like any other key
    with pytest.raises(ConfigError, match=r"unknown parameter 'xt_nsigma'"):
        validate_parameters({"crmethod": "mmcosmic", "xt_nsigma": 3})
    cfg = validate_parameters({"crmethod": plugin})
    assert cfg.replace(xt_nsigma=4.0).detector_params()["xt_nsigma"] == 4.0


def test_a_declared_name_that_cannot_be_an_attribute_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "xbad_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from megara_crplugin.detectors.base import BaseDetector\n\n\n"
        "class BadDetector(BaseDetector):\n"
        '    name = "xbad"\n    prefix = "xb"\n    defaults = {"xb-level": 1.0, "xb_ok": 2}\n'
    )
    info = tmp_path / "xbad_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xbad-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[megara_crplugin.detectors]\nxbad = xbad_plugin:BadDetector\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info_:
        validate_parameters({"crmethod": "mm_xbad", "xb_ok": 3})
    assert str(info_.value) == (
        "crmethod: detector 'xbad' declares an unusable parameter name: expected a Python "
        "identifier not starting with '_' and not one of defaults, from_params, get, items, "
        "keys, replace, values, got 'xb-level'"
    )


def test_unregistered_name_is_rejected_with_the_registered_list():
    with pytest.raises(ConfigError, match=r"crmethod: expected one of 'lacosmic'.*got 'xthresh'"):
        validate_parameters({"crmethod": "xthresh"})


@pytest.mark.parametrize("prefix", ["", "mm_"])
def test_entry_point_detector_runs_in_the_pipeline(plugin, triplet, prefix):
    params = {
        "crmethod": prefix + plugin,
        "interactive": False,
        "gain": float(triplet.gain),
        "rnoise": float(triplet.rnoise),
        "mm_nsimulations": 2,
        "maxplots": 0,
    }
    strict = compute_crmasks(list(triplet.frames), {**params, "xt_nsigma": 6.0})
    blind = compute_crmasks(list(triplet.frames), {**params, "xt_nsigma": 1e9})
    truth = triplet.truth
    for i in range(3):
        found = strict.masks[f"CRMASK{i + 1}"]
        # the plug-in's detections reach the masks and include injected hits
        assert (found & truth[i]).sum() > 0
    if not prefix:  # Aux alone: a detector that finds nothing gives empty masks
        assert not any(m.any() for m in blind.masks.values())
    assert np.isclose(strict.config.detector_params()["xt_nsigma"], 6.0)
