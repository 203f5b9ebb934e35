"""``megara-crmasks``: the command-line shell over the shared core.

Forms (see ``docs/cli.md``; the parser tree is in :mod:`megara_crplugin._cli_parser`)::

    megara-crmasks PARAMS.yaml [--output_dir DIR] [--crmasks FILE] [--combinations M,...]
                               [--log-level L] [--quiet] [--record] [--echo] [--no-reports]
    megara-crmasks compute --inputlist LIST --output_masks FILE [--<parameter> VALUE ...]
    megara-crmasks apply --inputlist LIST --input_mask FILE --output_combined FILE
                         [--combination METHOD]
    megara-crmasks demo [--output_dir DIR] [--size N] [--seed S] [--crmethod M]
    megara-crmasks selftest PARAMS.yaml [--output_dir DIR] [--events N] [--seed S]
    megara-crmasks batch OB.yaml [OB.yaml ...] --output_dir DIR [--scheduler ADDRESS] ...

Every output of a run is written into a hidden staging folder inside the output
directory and moved into place only when the whole run succeeded, so an error
or an operator's stop leaves nothing partial behind.  Input files are only read.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import safety
from .config import ConfigError, validate_parameters
from .exceptions import CRPluginWarning, InputError, UserStop
from .yaml_job import CLIError, combination_history, console_for, print_done, run_yaml

__all__ = ["CLIError", "main", "run_yaml"]

log = logging.getLogger("megara_crplugin.cli")


def _inputlist(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--inputlist {p}: file not found")
    base = p.resolve().parent
    names = [ln.split("#")[0].strip() for ln in p.read_text().splitlines()]
    return [str(base / n) for n in names if n]


def _compute(args, progress=None, console=None) -> int:
    from .config import PARAMETERS
    from .crmasks_file import crmasks_hdulist, write_crmasks
    from .identity import check_distinct, file_identities
    from .inputs import check_frames, read_frames
    from .pipeline import compute_crmasks
    from .provenance import data_unit, input_header, refuse_combined_inputs

    images = _inputlist(args.inputlist)
    out = Path(args.output_masks)
    inputs = [args.inputlist, *images]
    stale = safety.REPORT_PATTERNS if args.plots else ()
    safety.check_output_file(out, "--output_masks", inputs)
    safety.check_output_names(out.parent, (out.name, *stale), inputs, "--output_masks folder")
    extname = None if args.extname in (None, "PRIMARY") else args.extname
    extnum = 0 if args.extname == "PRIMARY" else None
    refuse_combined_inputs(images, extnum=extnum, extname=extname)
    frames = read_frames(images, extname=extname, extnum=extnum)
    shape = check_frames(frames, names=images, min_frames=1)
    identities = file_identities(images, frames)
    check_distinct(identities, images)
    # only the options given: every other parameter gets the schema default (as in YAML)
    params: dict[str, Any] = {k: v for k, v in vars(args).items() if k in PARAMETERS}
    if not args.plots:
        params["maxplots"] = 0
    cfg = validate_parameters(params, n_images=len(frames), shape=shape)
    if cfg.interactive:
        from .interactive import display_available

        if not display_available():
            log.warning("interactive: no display available; running non-interactively")
            cfg = cfg.replace(interactive=False, verify_cr=False)
    unit = data_unit(input_header(images[0], extnum=extnum, extname=extname))
    with safety.staging(out.parent, stale=stale, protected=inputs) as stage:
        reviewer = None
        if cfg.interactive:
            from .interactive import InteractiveReviewer

            reviewer = InteractiveReviewer(output_dir=stage if args.plots else None)
        result = compute_crmasks(
            frames,
            cfg,
            output_dir=stage if args.plots else None,
            frame_names=images,
            progress=progress,
            reviewer=reviewer,
            units=unit,
        )
        write_crmasks(crmasks_hdulist(result, frame_uuids=identities), stage / out.name)
        if (stage / "report.html").is_file():
            from .reports._report_parts import add_products

            add_products(stage / "report.html", [stage / out.name])
        n_med = int(result.targets["MEDIANCR"].mask.sum())
    print_done(console, f"masks in {out} ({n_med} MEDIANCR pixels, crmethod {cfg.crmethod})")
    return 0


def _apply(args, argv, console=None) -> int:
    from .combination import combine
    from .crmasks_file import combined_hdulist, read_crmasks, write_hdulist
    from .identity import check_distinct, file_identities, match_masks
    from .inputs import check_frames, read_frames
    from .provenance import combined_header, input_header

    images = _inputlist(args.inputlist)
    inputs = [args.inputlist, args.input_mask, *images]
    safety.check_output_file(args.output_combined, "--output_combined", inputs)
    frames = read_frames(
        images,
        extname=None if args.extname in (None, "PRIMARY") else args.extname,
        extnum=0 if args.extname == "PRIMARY" else None,
    )
    shape = check_frames(frames, names=images, min_frames=3)
    identities = file_identities(images, frames)
    check_distinct(identities, images)
    masks = read_crmasks(args.input_mask, n_frames=len(frames), shape=shape)
    masks = match_masks(masks, identities, source=f"--input_mask {args.input_mask}")
    comb = combine(frames, args.combination, masks=masks, bias=args.bias)
    extname = None if args.extname in (None, "PRIMARY") else args.extname
    first = input_header(
        images[0], extnum=0 if args.extname == "PRIMARY" else None, extname=extname
    )
    header = combined_header(first, method=args.combination, inputs=images, masks_uuid=masks.uuid)
    hdul = combined_hdulist(
        comb, masks_uuid=masks.uuid, history=combination_history(argv, images), header=header
    )
    out = Path(args.output_combined)
    with safety.staging(out.parent, protected=inputs) as stage:
        write_hdulist(hdul, stage / out.name)
    print_done(
        console, f"{args.combination} combination of {len(frames)} images in {args.output_combined}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``megara-crmasks`` (and of ``numina crmasks``).

    One argparse tree (:mod:`megara_crplugin._cli_parser`): ``run`` (the
    default form ``megara-crmasks PARAMS.yaml``), ``compute``, ``apply`` and
    the registered subcommands (``demo``...).
    """
    from ._cli_parser import build_parser, normalise_argv

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(normalise_argv(argv))
        if args.command is None:
            build_parser().print_help()
            return 2
        return _dispatch(args, argv)
    except UserStop:
        print("megara-crmasks: stopped by the operator; no output written", file=sys.stderr)
        return 0
    except (CLIError, ConfigError, InputError, ImportError, ValueError, OSError) as exc:
        print(f"megara-crmasks: error: {safety.one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("megara-crmasks: interrupted (Ctrl-C); no output written", file=sys.stderr)
        safety.forget_keyboard_interrupt()
        return 130
    except safety.Terminated:
        print("megara-crmasks: terminated (SIGTERM); no output written", file=sys.stderr)
        return 143


def _dispatch(args, argv) -> int:
    if args.command == "run":
        return _run_main(args, argv)
    console, progress = console_for(args)
    closing = None if args.quiet else console
    with warnings.catch_warnings():
        warnings.simplefilter("default", CRPluginWarning)
        if args.command == "compute":
            return _compute(args, progress=progress, console=closing)
        if args.command == "apply":
            return _apply(args, argv, console=closing)
        import importlib

        return int(importlib.import_module(args._module).run(args) or 0)


def _run_main(args, argv) -> int:
    from .reports.progress import save_record

    console, progress = console_for(args)
    if args.echo:
        console.print("$ megara-crmasks " + " ".join(argv))
    with warnings.catch_warnings():
        warnings.simplefilter("default", CRPluginWarning)
        out = run_yaml(
            args.params,
            output_dir=args.output_dir,
            crmasks=args.crmasks,
            reports=not args.no_reports,
            progress=progress,
            argv=argv,
            combinations=args.combinations,
            jobs=args.jobs,
        )
    if not args.quiet:
        print_done(console, f"results in {out}")
    if args.record:
        save_record(console, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
