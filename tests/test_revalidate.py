"""Incremental validation (``revalidate``) gives what a full validation gives."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.config import ConfigError, revalidate, validate_parameters

SHAPE = (40, 60)
BASE = {
    "crmethod": "mm_lacosmic",
    "interactive": False,
    "regions_to_be_skipped": [[1, 10, 1, 5]],
    "pixels_to_be_flagged_as_cr": [[60, 40]],
    "rnoise": 3.0,
}


def _messages(call) -> str:
    with pytest.raises(ConfigError) as exc:
        call()
    return str(exc.value)


def test_binding_the_shape_equals_validating_with_it():
    cfg = validate_parameters(BASE, n_images=3)
    bound = revalidate(cfg, shape=SHAPE)
    assert bound.shape == SHAPE and bound.n_images == 3
    assert bound == validate_parameters(BASE, n_images=3, shape=SHAPE)
    assert revalidate(bound) is bound and revalidate(bound, shape=SHAPE) is bound


def test_shape_errors_are_those_of_a_full_validation():
    for extra in (
        {"pixels_to_be_flagged_as_cr": [[61, 40]]},  # outside the 60 x 40 image
        {"regions_to_be_skipped": [[1, 10, 1, 50]]},
        {"bias": np.zeros((4, 4))},
        {"bpm": np.zeros((40, 61))},
    ):
        params = {**BASE, **extra}
        cfg = validate_parameters(params, n_images=3)  # no shape: accepted
        full = _messages(lambda p=params: validate_parameters(p, n_images=3, shape=SHAPE))
        assert _messages(lambda c=cfg: revalidate(c, shape=SHAPE)) == full, extra


def test_replace_checks_the_change_and_the_rules_across_parameters():
    cfg = validate_parameters(BASE, n_images=3, shape=SHAPE)
    assert cfg.replace(mm_nsimulations=4) == validate_parameters(
        {**BASE, "mm_nsimulations": 4}, n_images=3, shape=SHAPE
    )
    for change in (
        {"mm_nsimulations": 0},  # its own rule
        {"verify_cr": True},  # a rule across parameters (interactive is false)
        {"pixels_to_be_flagged_as_cr": [[0, 1]]},  # shape-dependent, shape known
        {"mm_nsimulation": 3},  # unknown key: the full validation's message
        {"crmethod": "mmcosmic", "use_auxmedian": True},  # crmethod: full validation
    ):
        full = _messages(
            lambda c=change: validate_parameters({**BASE, **c}, n_images=3, shape=SHAPE)
        )
        assert _messages(lambda c=change: cfg.replace(**c)) == full, change
