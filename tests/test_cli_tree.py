"""The one argparse tree: commands in --help, misspellings, schema options and defaults."""

from __future__ import annotations

import logging
import re

import pytest

from megara_crplugin import _cli_parser as cp
from megara_crplugin.cli import main
from megara_crplugin.config import COMBINATIONS, PARAMETERS, validate_parameters


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "compute", "apply", "demo"):
        assert f"    {name} " in out, name
    assert "megara-crmasks PARAMS.yaml" in out


def test_misspelt_command_is_an_invalid_choice_with_a_suggestion(capsys):
    with pytest.raises(SystemExit) as info:
        main(["comptue", "--inputlist", "x.txt"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'comptue'" in err and "did you mean 'compute'?" in err
    assert "unrecognized arguments" not in err


def test_yaml_form_is_the_default():
    assert cp.normalise_argv(["night.yaml", "--output_dir", "o"])[:2] == ["run", "night.yaml"]
    assert cp.normalise_argv(["compute", "--inputlist", "l"])[0] == "compute"
    # options before the file, as the old parser accepted
    argv = cp.normalise_argv(["--log-level", "DEBUG", "night.yaml"])
    assert cp.build_parser().parse_args(argv).params == "night.yaml"


def test_compute_without_options_uses_the_schema_defaults():
    """No option given: nothing is passed, so the YAML and compute defaults coincide."""
    args = cp.build_parser().parse_args(
        ["compute", "--inputlist", "l.txt", "--output_masks", "m.fits"]
    )
    given = {k for k in vars(args) if k in PARAMETERS}
    assert given == set()
    assert validate_parameters({}).crmethod == PARAMETERS["crmethod"].default == "mm_pycosmic"


def test_compute_options_are_the_schema_parameters_with_descriptions(capsys):
    parser = cp.build_parser()
    args = parser.parse_args(
        ["compute", "--inputlist", "l", "--output_masks", "m", "--nsimulations", "7"]
        + ["--flux_factor", "auto", "--la_sigclip", "[4, 3]", "--no-use_auxmedian"]
    )
    assert args.mm_nsimulations == 7 and args.flux_factor == "auto"
    assert args.la_sigclip == [4, 3] and args.use_auxmedian is False
    with pytest.raises(SystemExit):
        parser.parse_args(["compute", "-h"])
    text = " ".join(capsys.readouterr().out.split())
    assert not re.search(r"\bsets [a-z]+_[a-z_]+", text)  # the old "sets flux_factor"
    assert " ".join(PARAMETERS["mm_nsimulations"].description.split()) in text
    assert "--crmethod" in text and "(default: mm_pycosmic)" in text


def test_apply_defaults_to_the_recommended_combination():
    args = cp.build_parser().parse_args(
        ["apply", "--inputlist", "l", "--input_mask", "m", "--output_combined", "c"]
    )
    assert args.combination == "meancr2"


def test_combinations_option():
    parse = cp.build_parser().parse_args
    assert parse(["run", "p.yaml"]).combinations == COMBINATIONS
    assert parse(["run", "p.yaml", "--combinations", "none"]).combinations == ()
    chosen = parse(["run", "p.yaml", "--combinations", "mediancr,meancr2"]).combinations
    assert chosen == ("mediancr", "meancr2")
    with pytest.raises(SystemExit):
        parse(["run", "p.yaml", "--combinations", "meancr3"])


def test_demo_help_has_no_raw_rst(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "-h"])
    out = capsys.readouterr().out
    assert "``" not in out and ":mod:" not in out and "--quiet" in out


def test_registered_subcommand_is_listed_and_dispatched(monkeypatch, capsys, tmp_path):
    """A module in _SUBCOMMANDS adds its options and runs through main()."""
    import sys
    import types

    mod = types.ModuleType("fake_selftest")
    mod.add_arguments = lambda p: p.add_argument("--level", type=int, default=1)
    mod.run = lambda args: 3 if args.level == 2 else 0
    monkeypatch.setitem(sys.modules, "fake_selftest", mod)
    monkeypatch.setattr(cp, "_SUBCOMMANDS", list(cp._SUBCOMMANDS))
    cp.register_subcommand("selftest", "fake_selftest", "x")
    with pytest.raises(ValueError, match="built in"):
        cp.register_subcommand("compute", "fake_selftest", "x")
    assert main(["selftest", "--level", "2", "--quiet"]) == 3
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "selftest" in capsys.readouterr().out


def test_package_logger_gets_the_level_other_packages_only_warnings():
    from megara_crplugin.reports.progress import setup_logging

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging("DEBUG")
        assert logging.getLogger("megara_crplugin").getEffectiveLevel() == logging.DEBUG
        assert not logging.getLogger("matplotlib.font_manager").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("megara_crplugin").setLevel(logging.NOTSET)
        logging.captureWarnings(False)
