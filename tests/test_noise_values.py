"""One rule for gain / rnoise / bias: the schema, noise_model and the detectors agree."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.config import ConfigError, validate_parameters
from megara_crplugin.detectors.base import _positive_scalar
from megara_crplugin.exceptions import InputError
from megara_crplugin.inputs import noise_model
from megara_crplugin.noise_values import NoiseRule, noise_problem

SHAPE = (4, 5)
CASES = [  # (name, value, valid)
    ("gain", 2.0, True),
    ("gain", 0.0, False),
    ("gain", -1.0, False),
    ("gain", float("nan"), False),
    ("rnoise", 0.0, True),
    ("rnoise", -1e-9, False),
    ("rnoise", float("inf"), False),
    ("bias", -50.0, True),
    ("bias", float("nan"), False),
]


def test_rules_come_from_the_schema():
    assert NoiseRule.of("gain") == NoiseRule("gain", "e-/ADU", 0, True)
    assert NoiseRule.of("rnoise").text == ">= 0" and NoiseRule.of("gain").text == "> 0"
    assert NoiseRule.of("bias").minimum is None and NoiseRule.of("bias").text == ""


def test_problems_in_order():
    gain = NoiseRule.of("gain")
    assert noise_problem(np.ones(SHAPE), gain, shape=SHAPE) is None
    assert noise_problem(np.full((2, 2), np.nan), gain, shape=SHAPE) == "finite"
    assert noise_problem(np.zeros((2, 2)), gain, shape=SHAPE) == "range"
    assert noise_problem(np.ones((2, 2)), gain, shape=SHAPE) == "shape"
    assert noise_problem(np.ones((2, 2)), gain) is None  # shape unknown


def _accepted(call) -> bool:
    try:
        call()
    except (ConfigError, InputError, ValueError):
        return False
    return True


@pytest.mark.parametrize(("name", "value", "valid"), CASES)
def test_every_layer_applies_the_same_rule(name, value, valid):
    values = {"gain": 1.0, "rnoise": 3.0, "bias": 0.0, name: value}
    assert _accepted(lambda: validate_parameters({name: value})) is valid
    assert _accepted(lambda: noise_model(**values, shape=SHAPE)) is valid
    array = {**values, name: np.full(SHAPE, value)}
    assert _accepted(lambda: validate_parameters({name: array[name]}, shape=SHAPE)) is valid
    assert _accepted(lambda: noise_model(**array, shape=SHAPE)) is valid
    if name != "bias":  # the detectors take gain and rnoise only
        assert _accepted(lambda: _positive_scalar(name, value)) is valid
