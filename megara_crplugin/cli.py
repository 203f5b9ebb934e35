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

import difflib
import logging
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import safety
from ._version import __version__
from .config import COMBINATIONS, ConfigError, validate_parameters
from .exceptions import CRPluginWarning, InputError, UserStop

__all__ = ["main", "run_yaml"]

log = logging.getLogger("megara_crplugin.cli")

#: Top-level keys of the parameter YAML file (the numina-crmasks layout).
YAML_KEYS = ("images", "extnum", "extname", "gain", "rnoise", "bias", "requirements")


class CLIError(Exception):
    """An error reported to the operator as one line, exit status 1."""


def _load_yaml(path: Path) -> dict[str, Any]:
    from .yaml_input import load_yaml_file

    if not path.is_file():
        raise CLIError(f"parameter file {path}: file not found")
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise CLIError(
            f"parameter file {path}: expected a mapping with keys {', '.join(YAML_KEYS)}"
        )
    for key in data:
        if key not in YAML_KEYS:
            close = difflib.get_close_matches(str(key), YAML_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CLIError(f"parameter file {path}: unknown top-level key {key!r}{hint}")
    images = data.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
        raise CLIError(f"parameter file {path}: 'images' must be a list of FITS file names")
    req = data.get("requirements") or {}
    if not isinstance(req, dict):
        raise CLIError(f"parameter file {path}: 'requirements' must be a mapping")
    extnum, extname = data.get("extnum"), data.get("extname")
    if extnum is not None and (
        not isinstance(extnum, int) or isinstance(extnum, bool) or extnum < 0
    ):
        raise CLIError(f"parameter file {path}: 'extnum' must be an integer >= 0, got {extnum!r}")
    if extname is not None and not isinstance(extname, str):
        raise CLIError(f"parameter file {path}: 'extname' must be an HDU name, got {extname!r}")
    return data


def _is_fits_name(value) -> bool:
    return isinstance(value, str) and value.lower().endswith((".fits", ".fit", ".fits.gz"))


def _noise_value(value, name: str, base: Path):
    """A number, or the name of a FITS file holding a 2-D array (gain/rnoise/bias)."""
    if _is_fits_name(value):
        from .inputs import read_frames

        return read_frames([base / value])[0]
    return value


def _combination_history(argv: Sequence[str], images: Sequence[str]) -> list[str]:
    lines = [
        f"megara_crplugin {__version__}",
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"node: {platform.node()}",
        f"python: {sys.executable}",
        "$ megara-crmasks " + " ".join(argv),
        "Input images:",
    ]
    lines += [f"- {Path(i).name}" for i in images]
    return lines


def _write_combinations(
    stage: Path,
    frames,
    masks,
    params,
    history,
    *,
    images=(),
    first=None,
    methods=COMBINATIONS,
    statistics=None,
) -> list[Path]:
    """Compute, write and drop the combinations one at a time.

    With ``statistics`` (the mask computation's, same stack) the stack is not
    built again from ``frames``.
    """
    from .combination import iter_combinations, iter_stack_combinations
    from .crmasks_file import combined_hdulist, write_hdulist
    from .provenance import combined_header

    written = []
    if statistics is not None:
        combos = iter_stack_combinations(
            statistics.stack,
            methods,
            masks=masks,
            use_auxmedian=params.use_auxmedian,
            cr_coincidences=params.mm_cr_coincidences,
            statistics=statistics,
        )
    else:
        combos = iter_combinations(
            frames,
            methods,
            masks=masks,
            bias=params.bias,
            use_auxmedian=params.use_auxmedian,
            dtype=params.dtype,
        )
    for method, comb in combos:
        header = combined_header(first, method=method, inputs=images, masks_uuid=masks.uuid)
        hdul = combined_hdulist(comb, history=history, masks_uuid=masks.uuid, header=header)
        written.append(write_hdulist(hdul, stage / f"combined_{method}.fits"))
        del comb, hdul  # one combination in memory at a time
        log.info("combined_%s.fits written", method)
    return written


def run_yaml(
    params_file: str | os.PathLike,
    *,
    output_dir: str | os.PathLike = ".",
    crmasks: str | os.PathLike | None = None,
    reports: bool = True,
    progress=None,
    reviewer=None,
    argv: Sequence[str] = (),
    combinations: Sequence[str] = COMBINATIONS,
    jobs: int | None = None,
) -> Path:
    """Run the whole job of one parameter file (masks, combinations, reports).

    Parameters
    ----------
    params_file : path-like
        YAML file with ``images``, ``extnum``/``extname``, ``gain`` (e-/ADU),
        ``rnoise`` (ADU), ``bias`` (ADU) and ``requirements``.  Image paths are
        relative to the YAML file's folder.
    output_dir : path-like, optional
        Destination of ``crmasks.fits``, ``combined_<method>.fits`` and the
        reports (created if needed).
    crmasks : path-like, optional
        Existing masks file: skip the computation and only combine.
    reports : bool, optional
        Write the diagnostic figures and tables.
    progress, reviewer : optional
        Hooks passed to :func:`megara_crplugin.pipeline.compute_crmasks`.
    argv : sequence of str, optional
        Command line recorded in the HISTORY of the combined images.
    combinations : sequence of str, optional
        Combination methods written as ``combined_<method>.fits`` (default:
        all seven; an empty sequence writes none).
    jobs : int, optional
        Cores for the independent work (the ``jobs`` parameter; overrides the
        file's value when given; 0 = all).

    Returns
    -------
    Path
        The output directory.
    """
    from .crmasks_file import crmasks_hdulist, read_crmasks, write_crmasks
    from .identity import check_distinct, file_identities, match_masks
    from .inputs import check_frames, read_frames
    from .provenance import data_unit, input_header, refuse_combined_inputs

    params_file = Path(params_file)
    data = _load_yaml(params_file)
    base = params_file.resolve().parent
    images = [str(base / p) for p in data["images"]]
    noise_files = [base / v for k in ("gain", "rnoise", "bias") if _is_fits_name(v := data.get(k))]
    inputs = [params_file, *images, *noise_files, *([crmasks] if crmasks is not None else [])]
    stale = safety.main_form_patterns(computing=crmasks is None)
    safety.check_output_dir(output_dir, "--output_dir")
    safety.check_output_names(output_dir, stale, inputs)
    if crmasks is None:
        refuse_combined_inputs(images, extnum=data.get("extnum"), extname=data.get("extname"))
    frames = read_frames(images, extnum=data.get("extnum"), extname=data.get("extname"))
    shape = check_frames(frames, names=images, min_frames=1)
    identities = file_identities(images, frames)
    check_distinct(identities, images)
    requirements = dict(data.get("requirements") or {})
    for key in ("gain", "rnoise", "bias"):
        if key in requirements:
            raise CLIError(f"{key}: give it at the top level of {params_file}, not in requirements")
        if data.get(key) is not None:
            requirements[key] = _noise_value(data[key], key, base)
    if jobs is not None:
        requirements["jobs"] = jobs
    params = validate_parameters(requirements, n_images=len(frames), shape=shape)
    if params.interactive:
        from .interactive import display_available

        if not display_available():
            warnings.warn(
                "interactive: no display available; running non-interactively",
                CRPluginWarning,
                stacklevel=2,
            )
            params = params.replace(interactive=False, verify_cr=False)
    output_dir = Path(output_dir)
    log.info(
        "megara-crmasks %s: %d images of shape %s -> %s",
        __version__,
        len(frames),
        shape,
        output_dir,
    )
    first = input_header(images[0], extnum=data.get("extnum"), extname=data.get("extname"))
    with safety.staging(output_dir, stale=stale, protected=inputs) as stage:
        statistics = None
        if crmasks is not None:
            masks = read_crmasks(crmasks, n_frames=len(frames), shape=shape)
            masks = match_masks(masks, identities, source=f"crmasks file {crmasks}")
        else:
            from .pipeline import compute_crmasks

            if reviewer is None and params.interactive:
                from .interactive import InteractiveReviewer

                reviewer = InteractiveReviewer(output_dir=stage)
            result = compute_crmasks(
                frames,
                params,
                output_dir=stage if reports else None,
                progress=progress,
                reviewer=reviewer,
                frame_names=images,
                units=data_unit(first),
                release_frames=True,  # the combinations use the pipeline's stack
            )
            hdul = crmasks_hdulist(
                result,
                history=[f"Image {Path(i).name}" for i in images],
                frame_uuids=identities,
            )
            write_crmasks(hdul, stage / "crmasks.fits")
            masks = read_crmasks(hdul)  # from memory: the file is not read back
            statistics = result.stats  # the combinations reuse the stack and its statistics
            del result, hdul  # the detections, reports' data and file images are not needed
        combined = _write_combinations(
            stage,
            frames,
            masks,
            params,
            _combination_history(argv, images),
            images=images,
            first=first,
            methods=combinations,
            statistics=statistics,
        )
        if (stage / "report.html").is_file():
            from .reports._report_parts import add_products

            masks_file = stage / "crmasks.fits" if crmasks is None else Path(crmasks).resolve()
            add_products(stage / "report.html", [masks_file, *combined])
    return output_dir


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
    _done(console, f"masks in {out} ({n_med} MEDIANCR pixels, crmethod {cfg.crmethod})")
    return 0


def _done(console, text: str) -> None:
    """The closing line of a command (nothing with --quiet)."""
    if console is not None:
        console.print(f"[bold green]done[/]: {text}")


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
        comb, masks_uuid=masks.uuid, history=_combination_history(argv, images), header=header
    )
    out = Path(args.output_combined)
    with safety.staging(out.parent, protected=inputs) as stage:
        write_hdulist(hdul, stage / out.name)
    _done(
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
        return 130
    except safety.Terminated:
        print("megara-crmasks: terminated (SIGTERM); no output written", file=sys.stderr)
        return 143


def _console(args):
    """Set up the package's logging; return (console, progress) (progress None if quiet)."""
    from .reports.progress import RichProgress, setup_logging

    level = "WARNING" if args.quiet and args.log_level in ("DEBUG", "INFO") else args.log_level
    console = setup_logging(level, record=getattr(args, "record", False))
    progress = None if args.quiet else RichProgress(console=console)
    return console, progress


def _dispatch(args, argv) -> int:
    if args.command == "run":
        return _run_main(args, argv)
    console, progress = _console(args)
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

    console, progress = _console(args)
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
        _done(console, f"results in {out}")
    if args.record:
        save_record(console, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
