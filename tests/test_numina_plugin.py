"""numina plugin: overlay validation, install(), generated parameters, recipe classes, show-*."""

from __future__ import annotations

import argparse
import copy
import sys
import types

import numina_helpers as nh
import pytest
import yaml
from numina.drps.drpsystem import DrpSystem
from numina.exceptions import ValidationError
from numina.schemas import validate as validate_schema

from megara_crplugin.config import PARAMETERS
from megara_crplugin.numina import plugin
from megara_crplugin.numina.parameters import FIXED_BY_RECIPE, SchemaParameter
from megara_crplugin.numina.recipes import (
    CR_METHODS,
    CrAcquireLCBRecipe,
    CrAcquireMOSRecipe,
    CrDetectionRecipe,
    CrImageCombination,
    CrLCBImageRecipe,
    CrLCBStandardRecipe,
    CrMOSImageRecipe,
    CrMOSStandardRecipe,
)

OVERLAY_TEXT = """
overlay_version: 1
instrument: MEGARA
pipelines:
  crplugin:
    base: default
    recipes: {MegaraCrDetection: megara_crplugin.numina.recipes.CrDetectionRecipe}
"""

SCIENCE = {
    "MegaraLcbImage": CrLCBImageRecipe,
    "MegaraMosImage": CrMOSImageRecipe,
    "MegaraLcbStdStar": CrLCBStandardRecipe,
    "MegaraMosStdStar": CrMOSStandardRecipe,
    "MegaraLcbAcquisition": CrAcquireLCBRecipe,
    "MegaraMosAcquisition": CrAcquireMOSRecipe,
}


@pytest.fixture(scope="module")
def pristine_system():
    """A freshly loaded DRP system (not numina's cached one), never modified."""
    return DrpSystem().load()


@pytest.fixture
def system(pristine_system):
    return copy.deepcopy(pristine_system)


def _overlay(text: str):
    return plugin.load_overlay("test.yaml", text=text)


# --------------------------------------------------------------------------- overlay files


def test_shipped_overlay_is_valid_and_complete():
    files = plugin.overlay_files()
    assert [f.name for f in files] == ["megara.yaml"]
    ov = plugin.load_overlay(files[0])
    assert ov.instrument == "MEGARA"
    assert ov.mode_loader == "megaradrp.loader.MegaraDrpLoader"
    (spec,) = ov.pipelines
    assert spec.name == "crplugin" and spec.base == "default"
    assert spec.recipes["MegaraCrDetection"] == "megara_crplugin.numina.recipes.CrDetectionRecipe"
    for mode, cls in SCIENCE.items():
        assert spec.recipes[mode] == f"megara_crplugin.numina.recipes.{cls.__name__}"
    assert spec.provides == (("CRMasks", "MegaraCrDetection", "crmasks"),)
    assert spec.default_requirements == "default"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "test.yaml: top level: expected a mapping, got list"),
        (
            "overlay_version: 1\ninstrument: MEGARA\npipelines: {}\nextra: 1",
            r"top level: unknown key\(s\) extra; allowed: instrument, mode_loader, modes, ",
        ),
        (
            "overlay_version: 1\ninstrument: MEGARA",
            r"top level: missing required key\(s\) pipelines",
        ),
        (
            OVERLAY_TEXT.replace("overlay_version: 1", "overlay_version: 2"),
            "overlay_version: only version 1 is supported, got 2",
        ),
        (
            OVERLAY_TEXT.replace("  crplugin:", "  default:"),
            "pipelines.default: an overlay cannot redefine the 'default' pipeline",
        ),
        (
            OVERLAY_TEXT.replace("megara_crplugin.numina.recipes.CrDetectionRecipe", "Bad Name"),
            "pipelines.crplugin.recipes.MegaraCrDetection: expected a dotted Python name",
        ),
        (
            OVERLAY_TEXT.replace("    base: default\n", ""),
            r"pipelines.crplugin: missing required key\(s\) base",
        ),
        (
            OVERLAY_TEXT + "    provides: [{name: CRMasks, mode: MegaraCrDetection}]\n",
            r"pipelines.crplugin.provides\[0\]: missing required key\(s\) field",
        ),
        (
            OVERLAY_TEXT + "modes: [{key: M, name: N, policy: sometimes}]\n",
            r"modes\[0\]\.policy: expected one of add_if_missing, replace, got 'sometimes'",
        ),
        ("overlay_version: 1\n  bad: [", "test.yaml: invalid YAML"),
    ],
)
def test_overlay_validation_messages(text, message):
    with pytest.raises(plugin.OverlayError, match=message):
        _overlay(text)


def test_overlay_file_not_found(tmp_path):
    with pytest.raises(plugin.OverlayError, match=r"missing.yaml: cannot be read"):
        plugin.load_overlay(tmp_path / "missing.yaml")


def test_example_files_are_valid_for_numina_and_the_recipes():
    examples = nh.REPO / "drp_config" / "examples"
    recipes = {
        "MegaraCrDetection": CrDetectionRecipe,
        "MegaraLcbImage": CrLCBImageRecipe,
        "MegaraMosImage": SCIENCE["MegaraMosImage"],
    }
    for name in ("ob_crdetection.yaml", "ob_lcbimage_meancr2.yaml"):
        ob = yaml.safe_load((examples / name).read_text())
        validate_schema(ob, "oblock", source=name)
        assert ob["pipeline"] == "crplugin" and len(ob["frames"]) == 3
        reqs = recipes[ob["mode"]].requirements()
        for key, value in ob["requirements"].items():
            assert key in reqs, f"{name}: {key} is not a requirement of {ob['mode']}"
            if not key.startswith(("master_", "crmasks")):
                reqs[key].convert(value)  # raises ValidationError if invalid
    assert ob["requirements"]["method"] == "meancr2"
    control = yaml.safe_load((examples / "control.yaml").read_text())
    validate_schema(control, "control", source="control.yaml")
    profiles = control["requirements"]["MEGARA"]
    # every current MEGARA@GTC profile of megaradrp is covered
    assert {"ca3558e3-e50d-4bbc-86bd-da50a0998a48", "9f3fecbf-376c-47ae-a188-313b7d829104"} <= set(
        profiles
    )
    for profile in profiles.values():
        for mode, entries in profile["crplugin"].items():
            reqs = recipes[mode].requirements()
            for entry in entries:
                reqs[entry["name"]].convert(entry["content"])


# --------------------------------------------------------------------------- install


def test_install_creates_crplugin_pipeline(system):
    report = plugin.install(system)
    drp = system.query_by_name("MEGARA")
    default, crp = drp.pipelines["default"], drp.pipelines["crplugin"]
    (changes,) = report.values()
    assert "mode 'MegaraCrDetection' kept (already defined by MEGARA)" in changes
    assert crp.drp is drp and crp.version == default.version
    # science and detection modes point to the plugin, every other mode is unchanged
    assert crp.recipes["MegaraCrDetection"]["class"].endswith("CrDetectionRecipe")
    for mode, cls in SCIENCE.items():
        assert crp.recipes[mode]["class"] == f"megara_crplugin.numina.recipes.{cls.__name__}"
        assert type(crp.get_recipe_object(mode)) is cls
    untouched = set(default.recipes) - set(SCIENCE) - {"MegaraCrDetection"}
    assert {m: crp.recipes[m] for m in untouched} == {m: default.recipes[m] for m in untouched}
    assert "megaradrp.recipes" in default.recipes["MegaraCrDetection"]["class"]
    entry = crp.who_provides("CRMasks")
    assert (entry.mode, entry.field) == ("MegaraCrDetection", "crmasks")
    assert crp.who_provides("MasterBias").field == "master_bias"
    recipe = drp.get_recipe_object("MegaraCrDetection", pipeline_name="crplugin")
    assert recipe.pipeline == "crplugin" and isinstance(recipe, CrDetectionRecipe)
    # megaradrp's default requirements are available under the new pipeline key
    reqs = drp.default_requirements()["requirements"]["MEGARA"]
    prof = reqs["9f3fecbf-376c-47ae-a188-313b7d829104"]
    assert (
        prof["crplugin"] == prof["default"] and len(prof["crplugin"]["MegaraArcCalibration"]) > 10
    )


def test_install_is_idempotent(system):
    plugin.install(system)
    drp = system.query_by_name("MEGARA")
    first = drp.pipelines["crplugin"]
    reqs = drp.default_requirements()
    (changes,) = plugin.install(system).values()
    assert "pipeline 'crplugin' already installed" in changes
    assert drp.pipelines["crplugin"] is first
    assert drp.default_requirements() == reqs
    assert list(drp.pipelines) == ["default", "crplugin"]


def test_install_adds_missing_mode(system):
    drp = system.query_by_name("MEGARA")
    from megaradrp.datamodel import MegaraDataType

    del drp.modes["MegaraCrDetection"]
    (changes,) = plugin.install(system).values()
    assert "mode 'MegaraCrDetection' added" in changes
    mode = drp.modes["MegaraCrDetection"]
    assert mode.name == "CR detection" and mode.rawimage is MegaraDataType.IMAGE_TARGET


def test_install_refuses_foreign_pipeline(system):
    drp = system.query_by_name("MEGARA")
    drp.pipelines["crplugin"] = drp.pipelines["default"]
    with pytest.raises(plugin.OverlayError, match="already has a pipeline 'crplugin' that this"):
        plugin.install(system)


def test_install_errors_name_the_problem(system):
    bad_base = _overlay(OVERLAY_TEXT.replace("base: default", "base: nightly"))
    with pytest.raises(plugin.OverlayError, match="DRP MEGARA has no pipeline 'nightly'"):
        plugin.install(system, overlays=[bad_base])
    bad_mode = _overlay(OVERLAY_TEXT.replace("{MegaraCrDetection:", "{MegaraNoSuchMode:"))
    with pytest.raises(plugin.OverlayError, match="DRP MEGARA has no observing mode 'MegaraNoSu"):
        plugin.install(system, overlays=[bad_mode])
    other = _overlay(OVERLAY_TEXT.replace("instrument: MEGARA", "instrument: EMIR"))
    with pytest.raises(plugin.OverlayError, match="no numina DRP named 'EMIR' is loaded"):
        plugin.install(system, overlays=[other])


# --------------------------------------------------------------------------- parameters


def test_detection_parameters_generated_from_schema():
    reqs = CrDetectionRecipe.requirements()
    schema = set(PARAMETERS) - set(FIXED_BY_RECIPE)
    assert {"gain", "bias"} == set(FIXED_BY_RECIPE)
    assert schema <= set(reqs)
    assert not set(FIXED_BY_RECIPE) & set(reqs)
    assert {"save_preprocessed", "save_postprocessed", "master_bias", "obresult"} <= set(reqs)
    for name in schema:
        req = reqs[name]
        assert isinstance(req, SchemaParameter) and req.schema is PARAMETERS[name]
        default = PARAMETERS[name].default
        assert req.default == (list(default) if isinstance(default, tuple) else default)
    assert reqs["crmethod"].choices == list(PARAMETERS["crmethod"].choices)
    assert reqs["rnoise"].default == 3.4 and "e-" in reqs["rnoise"].description
    assert "[e-]" in reqs["la_satlevel"].description  # ADU == e- at gain 1
    assert reqs["save_preprocessed"].default is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("crmethod", "lacosmik", "crmethod: expected one of 'lacosmic'"),
        ("dilation", -1, "dilation: expected an integer >= 0, got -1"),
        ("la_sigclip", [1.0, 2.0, 3.0], "la_sigclip: expected a number or a list of 2"),
    ],
)
def test_schema_parameter_rejects_with_schema_message(name, value, message):
    with pytest.raises(ValidationError, match=f'"{name}": {message}'):
        CrDetectionRecipe.RecipeInput(**{name: value})


def test_schema_parameter_converts_values():
    req = CrDetectionRecipe.requirements()
    assert req["dilation"].convert("2") == 2
    assert req["mm_seed"].convert("none") is None
    assert req["interactive"].convert(False) is False
    # structured values are kept as given (the core checks them with the image shape)
    assert req["regions_to_be_skipped"].convert([[1, 10, 1, 20]]) == [[1, 10, 1, 20]]
    assert req["la_sigclip"].type.descriptive_name() == "float or [float, float]"


# --------------------------------------------------------------------------- science recipes


@pytest.mark.parametrize("mode", sorted(SCIENCE))
def test_science_recipes_are_cr_aware_subclasses(mode):
    cls = SCIENCE[mode]
    base = cls.__mro__[1]
    assert base.__module__.startswith("megaradrp.recipes.")
    mro = cls.__mro__
    # megaradrp's super(Base, self).base_run(...) must land in our combination layer
    assert mro.index(CrImageCombination) == 2
    reqs = cls.requirements()
    assert reqs["method"].choices == ["auto", "mean", "median", "sigmaclip", *CR_METHODS]
    assert reqs["method"].default == "auto"
    for choice in reqs["method"].choices:  # the description lists every choice
        assert choice in reqs["method"].description
    assert reqs["crmasks"].optional and reqs["crmasks"].type.name() == "CRMasks"
    assert "MegaraCrDetection" in reqs["crmasks"].description
    assert set(base.requirements()) <= set(reqs)
    with pytest.raises(ValidationError, match='"method": min not in'):
        cls.RecipeInput(method="min")


# --------------------------------------------------------------------------- numina crmasks


def test_crmasks_subcommand_passes_every_argument(monkeypatch):
    parser = argparse.ArgumentParser(prog="numina")
    sub = parser.add_subparsers()
    plugin.add_crmasks_command(sub)
    args, unknown = parser.parse_known_args(["crmasks", "--help", "in.yaml", "--output_dir", "o"])
    assert unknown == []
    assert args.crmasks_arguments == ["--help", "in.yaml", "--output_dir", "o"]
    seen = []
    fake = types.ModuleType("megara_crplugin.cli")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "megara_crplugin.cli", fake)
    assert args.command(args, None, None) == 3
    assert seen == [["--help", "in.yaml", "--output_dir", "o"]]


# --------------------------------------------------------------------------- numina show-*

needs_entry_point = pytest.mark.skipif(
    not nh.plugin_installed(),
    reason="megara_crplugin is not installed (pip install -e .): no numina.plugins.1 entry point",
)


@pytest.mark.numina_run
@needs_entry_point
def test_show_commands_list_plugin_pipeline(tmp_path):
    out = nh.run_numina(["show-instruments", "MEGARA"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "has pipeline 'default', version 1" in out.stdout
    assert "has pipeline 'crplugin', version 1" in out.stdout
    assert "exception loading plugin" not in out.stderr

    out = nh.run_numina(["show-modes", "-i", "MEGARA"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Observing Mode: 'CR detection' (MegaraCrDetection)" in out.stdout

    out = nh.run_numina(["show-recipes", "-i", "MEGARA", "-m", "MegaraCrDetection"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    block = out.stdout.split("Recipe: megara_crplugin.numina.recipes.CrDetectionRecipe")[1]
    assert "pipeline: crplugin" in block.splitlines()[3]
    assert "crmethod(optional)=mm_pycosmic type='str'" in block
    assert "save_preprocessed(optional)=False" in block
    assert " gain(" not in block and " bias(" not in block


@pytest.mark.numina_run
@needs_entry_point
def test_disable_plugins_shows_only_megaradrp(tmp_path):
    out = nh.run_numina(["--disable-plugins", "show-instruments", "MEGARA"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "has pipeline 'default'" in out.stdout and "crplugin" not in out.stdout


@pytest.mark.numina_run
@needs_entry_point
def test_numina_crmasks_runs_the_plugin_cli(tmp_path):
    out = nh.run_numina(["crmasks", "--help"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: megara-crmasks")
    assert all(f"    {c} " in out.stdout for c in ("run", "compute", "apply", "demo"))
    out = nh.run_numina(["crmasks", "missing.yaml"], cwd=tmp_path)
    assert out.returncode == 1
    assert "megara-crmasks: error:" in out.stderr and "missing.yaml" in out.stderr
