"""``megara-crmasks selftest PARAMS.yaml --output_dir DIR [--events N] [--seed S]``.

Reads the same parameter file as the main form, injects known cosmic rays into
copies of the exposures (see :mod:`megara_crplugin.selftest`), reruns the same
configuration, prints the recall per amplitude bin and the unexplained
detections, and writes ``selftest.csv`` and ``selftest.png`` into the output
folder.  Existing files are never overwritten; the input files are only read.

The parser is built by :func:`build_parser` on any (sub)parser and executed by
:func:`run`, so the command tree can host it unchanged.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_arguments", "build_parser", "load_inputs", "main", "run"]

log = logging.getLogger("megara_crplugin.selftest")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``selftest`` options to ``p`` (the subcommand of :mod:`megara_crplugin.cli`)."""
    p.description = (
        "Inject known cosmic rays into copies of the frames, rerun the same "
        "configuration and measure what is found (selftest.csv, selftest.png)."
    )
    p.add_argument("params", help="the YAML file of the run (images, gain, rnoise, bias, ...)")
    p.add_argument("--output_dir", default=".", help="folder of selftest.csv and selftest.png")
    p.add_argument("--events", type=int, default=300, help="number of injected events (300)")
    p.add_argument(
        "--doubles", type=int, default=None, help="how many hit two exposures (default: half)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the injections (0)")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """A stand-alone ``selftest`` parser (``add_arguments`` plus ``--log-level``)."""
    p = parser or argparse.ArgumentParser(prog="megara-crmasks selftest")
    add_arguments(p)
    p.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="logging level (INFO)",
    )
    return p


def load_inputs(params_file: str | Path):
    """Frames (ADU) and validated configuration of a parameter file, as the main form."""
    from .config import validate_parameters
    from .inputs import check_frames, read_frames
    from .yaml_job import load_yaml, requirements_of

    params_file = Path(params_file)
    data = load_yaml(params_file)
    base = params_file.resolve().parent
    images = [str(base / p) for p in data["images"]]
    frames = read_frames(images, extnum=data.get("extnum"), extname=data.get("extname"))
    shape = check_frames(frames, names=images, min_frames=3)
    requirements = requirements_of(data, params_file)
    cfg = validate_parameters(requirements, n_images=len(frames), shape=shape)
    return frames, cfg, images


def _check_counts(args) -> None:
    if args.events < 1:
        raise ValueError(f"--events: expected a positive number of events, got {args.events}")
    if args.doubles is not None and not 0 <= args.doubles <= args.events:
        raise ValueError(f"--doubles: expected 0 to --events ({args.events}), got {args.doubles}")


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``selftest`` command; returns the exit status."""
    from .selftest import run_selftest
    from .selftest_output import check_free, summary_lines, write_outputs

    logging.basicConfig(level=args.log_level, format="%(levelname)s %(message)s")
    _check_counts(args)
    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output_dir {out}: exists and is not a folder")
    check_free(out)
    frames, cfg, images = load_inputs(args.params)
    result = run_selftest(
        frames,
        cfg,
        n_events=args.events,
        n_double=args.doubles,
        seed=args.seed,
        report=print,
    )
    title = f"self-test of {Path(args.params).name} ({len(images)} exposures, {cfg.crmethod})"
    paths = write_outputs(result, out, title=title)
    for line in summary_lines(result):
        print(line)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (without the ``selftest`` word) and run; one-line errors, status 1."""
    from .config import ConfigError
    from .exceptions import InputError
    from .yaml_job import CLIError

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return run(args)
    except (CLIError, ConfigError, InputError, FileExistsError, ValueError) as exc:
        print(f"megara-crmasks selftest: error: {exc}", file=sys.stderr)
        return 1
