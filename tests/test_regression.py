"""Bit-identical masks and combined images on fixed seeds (issue 8 regression guard).

The references live in ``tests/data/regression/*.npz`` and are produced by
``tests/data/regression/regenerate.py``.  A change that is meant to alter the
detection or the combinations regenerates them on purpose (``--write``) in the
same commit; any other difference is a regression.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REGEN = Path(__file__).resolve().parent / "data" / "regression" / "regenerate.py"


def _load_regenerate():
    spec = importlib.util.spec_from_file_location("_regression_regenerate", REGEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regenerate = _load_regenerate()


@pytest.mark.parametrize("name", sorted(regenerate.CASES))
def test_outputs_bit_identical_to_reference(name):
    path = REGEN.parent / f"{name}.npz"
    with np.load(path) as stored:
        stored = dict(stored)
    current = regenerate.compute_case(name)
    lines = regenerate.differences(name, stored, current)
    assert not lines, (
        "outputs differ from the stored reference (if intended, run "
        "tests/data/regression/regenerate.py --write):\n" + "\n".join(lines)
    )


def test_reference_cases_cover_every_extension_and_method():
    with np.load(REGEN.parent / "mmcosmic_seed11.npz") as stored:
        keys = set(stored.files)
        total = sum(int(np.unpackbits(stored[k]).sum()) for k in keys if k.startswith("mask_"))
    exts = {"MEDIANCR", "MEANCRT", "CRMASK1", "CRMASK2", "CRMASK3", "MEANCR"}
    assert {f"mask_{e}" for e in exts} <= keys
    assert {f"comb_{m}_data_sha256" for m in regenerate.METHODS} <= keys
    # A reference with no cosmic ray flagged at all would guard nothing.
    assert total > 0


def test_differences_names_the_changed_pixels():
    with np.load(REGEN.parent / "mmcosmic_seed11.npz") as stored:
        current = dict(stored)
    changed = dict(current)
    mask = np.unpackbits(changed["mask_MEDIANCR"])
    mask[:3] ^= 1
    changed["mask_MEDIANCR"] = np.packbits(mask)
    changed["comb_mean_data_sum"] = np.asarray(1.5)
    lines = regenerate.differences("x", current, changed)
    assert "x: mask_MEDIANCR differs in 3 pixels" in lines
    assert any(line.startswith("x: comb_mean_data_sum stored") for line in lines)
