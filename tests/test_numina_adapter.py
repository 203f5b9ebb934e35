"""numina facts the in-place DRP adapter relies on (fails loudly on a numina upgrade).

``megara_crplugin/numina/_drp_adapter.py`` is the only module that edits a loaded
``InstrumentDRP`` (numina has no public call for it).  If any test here fails
after upgrading numina, read that module's docstring and switch it to the new
public API, or adapt the three functions.
"""

from __future__ import annotations

import pytest

pytest.importorskip("numina")

from numina.core import Requirement  # noqa: E402
from numina.core.pipeline import InstrumentDRP, ObservingMode, Pipeline  # noqa: E402

from megara_crplugin.numina._drp_adapter import (  # noqa: E402
    add_mode,
    add_pipeline,
    has_default_requirements,
    set_default_requirements,
)

UPGRADE = "numina changed: update megara_crplugin/numina/_drp_adapter.py ({})"

_RECIPE = "megara_crplugin.numina.recipes.CrDetectionRecipe"


def _drp():
    mode = ObservingMode("TOY")
    mode.key = "base_mode"
    pipe = Pipeline("TOY", "default", {"base_mode": {"class": _RECIPE}})
    reqs = {"requirements": {"TOY": {"p": {"default": {"base_mode": {"x": 1}}}}}}
    return InstrumentDRP(
        "TOY", {}, {"base_mode": mode}, {"default": pipe}, default_requirements=reqs
    )


def test_default_requirements_table_is_the_one_the_adapter_writes():
    drp = _drp()
    assert has_default_requirements(drp), UPGRADE.format("InstrumentDRP lost _def_reqs")
    table = drp.default_requirements()
    table["requirements"]["TOY"]["p"]["crplugin"] = {"base_mode": {"x": 2}}
    assert "crplugin" not in drp.default_requirements()["requirements"]["TOY"]["p"], UPGRADE.format(
        "default_requirements() no longer returns a copy"
    )
    set_default_requirements(drp, table)
    got = drp.default_requirements()["requirements"]["TOY"]["p"]
    assert got["crplugin"] == {"base_mode": {"x": 2}}, UPGRADE.format(
        "default_requirements() no longer reads _def_reqs"
    )


def test_added_pipeline_and_mode_are_found_by_the_public_queries():
    drp = _drp()
    mode = ObservingMode("TOY")
    mode.key = "new_mode"
    add_mode(drp, "new_mode", mode)
    pipe = Pipeline("TOY", "crplugin", {"new_mode": {"class": _RECIPE}}, version=2)
    add_pipeline(drp, pipe)
    assert pipe.drp is drp
    try:
        recipe = drp.get_recipe_object("new_mode", pipeline_name="crplugin")
    except (KeyError, AttributeError) as exc:
        raise AssertionError(UPGRADE.format(f"get_recipe_object: {exc!r}")) from exc
    assert recipe.pipeline == "crplugin" and recipe.mode is mode


def test_requirement_public_constructor_takes_type_default_and_choices():
    """SchemaParameter builds on this constructor instead of patching a Parameter."""
    from megara_crplugin.config import PARAMETERS
    from megara_crplugin.numina.parameters import SchemaParameter

    req = SchemaParameter(PARAMETERS["crmethod"])
    assert isinstance(req, Requirement)
    assert req.default == "mm_pycosmic" and "mm_lacosmic" in req.choices
    assert req.type.param is PARAMETERS["crmethod"]
    assert req.convert("lacosmic") == "lacosmic"
