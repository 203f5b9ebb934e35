"""Per-detector frozen configurations: made from the schema rows, built from the flat keys."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from megara_crplugin.config import PARAMETERS, ConfigError, validate_parameters
from megara_crplugin.config.detector_config import (
    DETECTOR_CONFIGS,
    LACosmicConfig,
    PyCosmicConfig,
    declared_config_class,
    field_problem,
)
from megara_crplugin.config.schema import AUX_GROUP
from megara_crplugin.detectors import detector_class, get_detector
from megara_crplugin.synthetic import make_megara_like_frames

_METHOD = {group: name for name, group in AUX_GROUP.items()}


@pytest.mark.parametrize("group", ["la", "pc", "dc", "nn"])
def test_built_in_class_is_made_from_the_schema_rows_of_its_group(group):
    cls = DETECTOR_CONFIGS[group]
    rows = [p for p in PARAMETERS.values() if p.group == group]
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == [p.name for p in rows]
    assert [f.type for f in fields] == [p.kind_spec.annotation for p in rows]
    defaults = validate_parameters({})
    assert dict(cls.defaults) == {p.name: getattr(defaults, p.name) for p in rows}
    # the detector declares the same keys (what the registry and its messages use)
    assert detector_class(_METHOD[group]).defaults == cls.defaults


def test_built_from_the_flat_yaml_keys_with_defaults():
    cfg = validate_parameters({"crmethod": "mm_lacosmic", "la_sigclip": 4, "la_niter": "2"})
    la = cfg.detector_config()
    assert type(la) is LACosmicConfig
    assert la.la_sigclip == (4.0, 4.0) and la.la_niter == 2  # normalised by the schema
    assert la.la_sigfrac == (0.3, 0.3) and la.la_psfmodel == "gaussxy"  # defaults
    assert cfg.detector_params() == dict(la) and list(la) == list(LACosmicConfig.defaults)
    assert la["la_niter"] == 2 and la.get("pc_iterations") is None and "la_niter" in la
    assert validate_parameters({"crmethod": "mmcosmic"}).detector_config() is None
    pc = validate_parameters({"crmethod": "pycosmic", "pc_rlim": [1.5, 2.0]}).detector_config()
    assert type(pc) is PyCosmicConfig and pc.pc_rlim == (1.5, 2.0) and pc.pc_iterations == 4


def test_frozen_and_changed_only_by_copy():
    la = validate_parameters({"crmethod": "lacosmic"}).detector_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        la.la_niter = 2
    with pytest.raises(TypeError):
        la["la_niter"] = 2  # read-only mapping
    other = la.replace(la_niter=2)
    assert (la.la_niter, other.la_niter) == (4, 2) and other != la
    assert pickle.loads(pickle.dumps(la)) == la
    det = get_detector("lacosmic", {"la_niter": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        det.config.la_niter = 1
    assert det.params is det.config and det.config.la_niter == 3


def test_the_detector_uses_the_frozen_configuration_it_is_given():
    la = validate_parameters({"crmethod": "mm_lacosmic", "la_niter": 2}).detector_config()
    det = get_detector("mm_lacosmic", la)
    assert det.config is la and det.margin == get_detector("lacosmic", {"la_niter": 2}).margin


def test_unknown_keys_still_refused_with_one_line():
    with pytest.raises(
        ConfigError, match=r"^unknown parameter 'la_sigclp'; did you mean 'la_sigclip'\?$"
    ):
        validate_parameters({"crmethod": "lacosmic", "la_sigclp": 3})
    valid = ", ".join(sorted(LACosmicConfig.defaults))
    with pytest.raises(ValueError) as info:
        get_detector("lacosmic", {"la_sigclp": 3, "la_niterr": 1})
    assert str(info.value) == f"unknown lacosmic parameter(s) la_niterr, la_sigclp; valid: {valid}"


@pytest.mark.parametrize("method", ["lacosmic", "pycosmic"])
def test_output_unchanged_from_dict_or_frozen_configuration(method):
    triplet = make_megara_like_frames((48, 64), seed=5, n_double_hits=2, bias=0.0)
    image = triplet.frames[0].astype(np.float64)
    cfg = validate_parameters({"crmethod": method})
    kwargs = {"gain": float(triplet.gain), "rnoise": float(triplet.rnoise)}
    a = get_detector(method, cfg.detector_config()).detect(image, **kwargs)
    b = get_detector(method, {}).detect(image, **kwargs)
    assert a.mask.any()
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.cleaned, b.cleaned)


def test_declared_class_for_third_party_keys():
    cls = declared_config_class("xthresh", {"xt_nsigma": 10.0, "xt_box": [3, 3]})
    cfg = cls.from_params({"xt_nsigma": 6.0, "other": 1})
    assert cfg == {"xt_nsigma": 6.0, "xt_box": [3, 3]} and cfg.xt_nsigma == 6.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.xt_nsigma = 1.0
    for bad in ("xt-n", "_xt", "keys", "class"):
        message = field_problem(bad)
        assert message.endswith(f"got {bad!r}") and message.startswith(
            "expected a Python identifier"
        )
        with pytest.raises(ValueError, match=r"^detector 'xthresh': parameter name: expected"):
            declared_config_class("xthresh", {bad: 1})
    assert field_problem("xt_nsigma") is None
