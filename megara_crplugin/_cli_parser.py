"""The one argparse tree of ``megara-crmasks`` (and ``numina crmasks``).

Forms::

    megara-crmasks PARAMS.yaml [options]        (the default: same as 'run')
    megara-crmasks run PARAMS.yaml [options]
    megara-crmasks compute --inputlist LIST --output_masks FILE [parameters]
    megara-crmasks apply --inputlist LIST --input_mask FILE --output_combined FILE
    megara-crmasks demo [--output_dir DIR] [--size N]

The options of ``compute`` are generated from the parameter schema
(:data:`megara_crplugin.config.PARAMETERS`): same names, same defaults, same
descriptions as the YAML ``requirements``.  An option not given is not passed
at all, so the schema's default applies exactly as in the YAML form.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .config import COMBINATIONS, PARAMETERS

__all__ = [
    "COMMANDS",
    "build_parser",
    "normalise_argv",
    "parameter_options",
    "register_subcommand",
]

#: Subcommands contributed by other modules, as ``(name, module, help)``.
#:
#: To add a subcommand (e.g. ``selftest`` or ``batch``), append one tuple here;
#: the module (imported lazily, when the parser is built) must expose
#:
#: * ``add_arguments(parser: argparse.ArgumentParser) -> None``: its options
#:   (``--log-level`` and ``--quiet`` are already there), and
#: * ``run(args: argparse.Namespace) -> int``: the exit status.
#:
#: ``megara-crmasks --help`` then lists it, and errors raised as
#: ``CLIError``/``ConfigError``/``InputError`` are reported on one line like the
#: built-in subcommands.  ``_SUBCOMMANDS`` is the registry; nothing else to edit
#: (:func:`register_subcommand` does the same at run time).
_SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("demo", "megara_crplugin.demo", "the whole job on synthetic MEGARA-like frames"),
    ("selftest", "megara_crplugin.selftest_cli", "inject known cosmic rays and measure recall"),
    ("batch", "megara_crplugin.batch_cli", "many parameter files (OBs) on dask.distributed"),
]


def register_subcommand(name: str, module: str, help_text: str) -> None:
    """Add (or replace) subcommand ``name`` implemented by ``module`` (see ``_SUBCOMMANDS``)."""
    if name in {n for n, _ in _BUILTIN}:
        raise ValueError(f"subcommand {name!r} is built in and cannot be replaced")
    _SUBCOMMANDS[:] = [entry for entry in _SUBCOMMANDS if entry[0] != name]
    _SUBCOMMANDS.append((name, module, help_text))


#: Built-in subcommands (handled in :mod:`megara_crplugin.cli`).
_BUILTIN = (
    ("run", "run the job of a parameter file (the default form: 'megara-crmasks PARAMS.yaml')"),
    ("compute", "compute crmasks.fits from a list of exposures"),
    ("apply", "combine a list of exposures with an existing crmasks.fits"),
)

#: Old option names (the MEGARA cookbook's compute form) kept as aliases of the schema names.
ALIASES = {
    "mm_knots_splfit": "knots_splfit",
    "mm_nsimulations": "nsimulations",
    "mm_niter_boundary_extension": "niter_boundary_extension",
    "mm_weight_boundary_extension": "weight_boundary_extension",
    "mm_threshold": "threshold",
    "mm_minimum_max2d_rnoise": "minimum_max2d_rnoise",
    "mm_seed": "seed",
}

#: Recommended combination (docs/combination.md): the default of ``apply``.
RECOMMENDED_COMBINATION = "meancr2"

_GROUP_TITLES = {
    "general": "general parameters",
    "la": "L.A.Cosmic (Aux) parameters",
    "pc": "PyCosmic (Aux) parameters",
    "dc": "deepCR (Aux) parameters",
    "nn": "conn (Aux) parameters",
    "mm": "M.M.Cosmic parameters",
}

#: Schema parameters that are not options of ``compute`` (given otherwise).
_NOT_OPTIONS = ("interactive", "verify_cr")


def COMMANDS() -> list[str]:  # noqa: N802  (reads like the constant it stands for)
    """Names of every subcommand, built-in first."""
    return [name for name, _ in _BUILTIN] + [name for name, _, _ in _SUBCOMMANDS]


def _help(spec: Any) -> str:
    unit = f" [{spec.unit}]" if spec.unit else ""
    default = "null" if spec.default is None else spec.default
    return f"{spec.description}{unit} (default: {default})".replace("%", "%%")


def parameter_options(parser: argparse.ArgumentParser, *, skip: Sequence[str] = ()) -> None:
    """Add one ``--<name>`` option per schema parameter, grouped by detector.

    Values are parsed as YAML scalars/lists (``--flux_factor auto``,
    ``--la_sigclip "[5, 3]"``); nothing is set unless given (``dest`` = the
    parameter name, default suppressed).
    """
    groups: dict[str, Any] = {}
    for name, spec in PARAMETERS.items():
        if name in skip or name in _NOT_OPTIONS:
            continue
        if spec.group not in groups:
            groups[spec.group] = parser.add_argument_group(_GROUP_TITLES.get(spec.group))
        flags = [f"--{name}"] + ([f"--{ALIASES[name]}"] if name in ALIASES else [])
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if spec.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = spec.kind_spec.cli_type
            kwargs["metavar"] = "VALUE" if spec.kind != "choice" else None
            if spec.kind == "choice" and spec.choices:
                kwargs["choices"] = spec.choices
        groups[spec.group].add_argument(*flags, help=_help(spec), **kwargs)


def _common(parser: argparse.ArgumentParser) -> None:
    from .reports.progress import LOG_LEVELS

    out = parser.add_argument_group("output and logging")
    out.add_argument(
        "--log-level",
        default="INFO",
        choices=LOG_LEVELS,
        type=str.upper,
        help="messages of megara_crplugin shown (default INFO; other packages: WARNING)",
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, only warnings and errors"
    )


def _combinations(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("all", ""):
        return COMBINATIONS
    if text.strip().lower() == "none":
        return ()
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in COMBINATIONS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown method {bad[0]!r}; choose among {', '.join(COMBINATIONS)}, 'all' or 'none'"
        )
    return names


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help=_BUILTIN[0][1],
        description="Compute the masks of the images of a parameter file, then write the "
        "combined images and the reports.",
    )
    p.add_argument("params", help="YAML file: images, extnum, gain, rnoise, bias, requirements")
    p.add_argument("--output_dir", default=".", help="output directory (created if missing)")
    p.add_argument("--crmasks", help="use this masks file instead of computing the masks")
    p.add_argument(
        "--combinations",
        type=_combinations,
        default=COMBINATIONS,
        metavar="M1,M2,...",
        help=f"combined images to write (comma-separated among {', '.join(COMBINATIONS)}; "
        "'all' (default) or 'none'); each is about 10.5 MB per Mpixel",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="cores for the independent detector calls and simulations (the 'jobs' "
        "parameter; default: the file's value, else all cores)",
    )
    p.add_argument("--record", action="store_true", help="write terminal_output.txt")
    p.add_argument("--echo", action="store_true", help="print the command line")
    p.add_argument("--no-reports", action="store_true", help="skip figures and tables")
    _common(p)


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputlist", required=True, help="text file with one FITS image per line")
    p.add_argument(
        "--extname", default=None, help="HDU name of the images (default: first HDU with data)"
    )


def _add_compute(sub: Any) -> None:
    p = sub.add_parser(
        "compute",
        help=_BUILTIN[1][1],
        description="Compute the cosmic-ray masks of N >= 3 exposures. Every parameter of "
        "the YAML 'requirements' is an option, with the same default.",
    )
    _inputs(p)
    p.add_argument("--output_masks", required=True, help="output masks file (crmasks.fits)")
    p.add_argument("--plots", action="store_true", help="write diagnostic figures and tables")
    p.add_argument(
        "--interactive",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help=_help(PARAMETERS["interactive"]) + "; without a display it is switched off",
    )
    parameter_options(p)
    _common(p)


def _add_apply(sub: Any) -> None:
    p = sub.add_parser(
        "apply",
        help=_BUILTIN[2][1],
        description="Combine N exposures with the masks of crmasks.fits.",
    )
    _inputs(p)
    p.add_argument("--bias", type=float, default=0.0, help="bias subtracted [ADU] (default 0.0)")
    p.add_argument("--input_mask", required=True, help="crmasks.fits")
    p.add_argument("--output_combined", required=True, help="output FITS file")
    p.add_argument(
        "--combination",
        default=RECOMMENDED_COMBINATION,
        choices=COMBINATIONS,
        help=f"combination method (default {RECOMMENDED_COMBINATION}, the recommended one)",
    )
    _common(p)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``megara-crmasks`` parser: built-in and registered subcommands."""
    parser = argparse.ArgumentParser(
        prog="megara-crmasks",
        description="Cosmic-ray masks (M.M.Cosmic + Aux.Cosmic) of N >= 3 equivalent "
        "exposures and their CR-free combinations. The default form is "
        "'megara-crmasks PARAMS.yaml [options]' (= 'megara-crmasks run PARAMS.yaml'); "
        "'megara-crmasks COMMAND -h' shows the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    _add_run(sub)
    _add_compute(sub)
    _add_apply(sub)
    for name, module, help_text in _SUBCOMMANDS:
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:])
        mod.add_arguments(p)
        if not any(a.dest == "quiet" for a in p._actions):
            _common(p)
        p.set_defaults(_module=module)
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Insert the implicit ``run`` of the YAML form; reject misspelt commands.

    ``megara-crmasks params.yaml ...`` becomes ``megara-crmasks run params.yaml
    ...``: the first word is taken as a parameter file when it is not a
    command and names a YAML file or an existing file.  Anything else that is
    not a command is left for argparse, which answers "invalid choice" (with a
    did-you-mean added here).
    """
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return argv
    if argv[0].startswith("-"):  # options before the parameter file: the YAML form
        return ["run", *argv]
    first = argv[0]
    commands = COMMANDS()
    if first in commands:
        return argv
    if first.lower().endswith((".yaml", ".yml")) or Path(first).is_file():
        return ["run", *argv]
    close = difflib.get_close_matches(first, commands, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    choices = ", ".join(repr(c) for c in commands)
    build_parser().error(
        f"argument COMMAND: invalid choice: {first!r} (choose from {choices}, "
        f"or give a parameter file PARAMS.yaml){hint}"
    )
    return argv  # pragma: no cover  (error() exits)
