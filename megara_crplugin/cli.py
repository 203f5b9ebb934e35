"""``megara-crmasks``: the command-line shell over the shared core.

Forms (see ``docs/cli.md``)::

    megara-crmasks PARAMS.yaml [--output_dir DIR] [--crmasks FILE] [--log-level L]
                               [--record] [--echo] [--no-reports]
    megara-crmasks compute --inputlist LIST --output_masks FILE [options of seed 000]
    megara-crmasks apply --inputlist LIST --input_mask FILE --output_combined FILE
                         [--combination METHOD]
    megara-crmasks demo [--output_dir DIR] [--size N] [--seed S] [--crmethod M]
    megara-crmasks batch OB.yaml [OB.yaml ...] --output_dir DIR [--scheduler ADDRESS] ...

Every output of a run is written into a hidden staging folder inside the output
directory and moved into place only when the whole run succeeded, so an error
or an operator's stop leaves nothing partial behind.  Input files are only read.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import platform
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._version import __version__
from .config import COMBINATIONS, ConfigError, validate_parameters
from .exceptions import CRPluginWarning, InputError, UserStop

__all__ = ["main", "run_yaml"]

log = logging.getLogger("megara_crplugin.cli")

#: Top-level keys of the parameter YAML file (seed 001).
YAML_KEYS = ("images", "extnum", "extname", "gain", "rnoise", "bias", "requirements")


class CLIError(Exception):
    """An error reported to the operator as one line, exit status 1."""


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise CLIError(f"parameter file {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CLIError(f"parameter file {path}: not valid YAML ({exc})") from exc
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
    return data


def _noise_value(value, name: str, base: Path):
    """A number, or the name of a FITS file holding a 2-D array (gain/rnoise/bias)."""
    if isinstance(value, str) and value.lower().endswith((".fits", ".fit", ".fits.gz")):
        from .inputs import read_frames

        return read_frames([base / value])[0]
    return value


@contextmanager
def _staging(output_dir: Path):
    """Yield a hidden folder inside ``output_dir``; move its files in on success."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".megara-crmasks-", dir=output_dir))
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            target = output_dir / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


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


def _write_combinations(stage: Path, frames, masks, params, history) -> list[Path]:
    from .combination import iter_combinations
    from .crmasks_file import combined_hdulist, write_hdulist

    written = []
    combos = iter_combinations(
        frames,
        COMBINATIONS,
        masks=masks,
        bias=params.bias,
        use_auxmedian=params.use_auxmedian,
        dtype=params.dtype,
    )
    for method, comb in combos:
        hdul = combined_hdulist(comb, history=history, masks_uuid=masks.uuid)
        written.append(write_hdulist(hdul, stage / f"combined_{method}.fits"))
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

    Returns
    -------
    Path
        The output directory.
    """
    from .crmasks_file import crmasks_hdulist, read_crmasks, write_crmasks
    from .inputs import check_frames, read_frames

    params_file = Path(params_file)
    data = _load_yaml(params_file)
    base = params_file.resolve().parent
    images = [str(base / p) for p in data["images"]]
    frames = read_frames(images, extnum=data.get("extnum"), extname=data.get("extname"))
    shape = check_frames(frames, names=images, min_frames=1)
    requirements = dict(data.get("requirements") or {})
    for key in ("gain", "rnoise", "bias"):
        if key in requirements:
            raise CLIError(f"{key}: give it at the top level of {params_file}, not in requirements")
        if data.get(key) is not None:
            requirements[key] = _noise_value(data[key], key, base)
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
    with _staging(output_dir) as stage:
        if crmasks is not None:
            masks = read_crmasks(crmasks, n_frames=len(frames), shape=shape)
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
            )
            hdul = crmasks_hdulist(result, history=[f"Image {Path(i).name}" for i in images])
            write_crmasks(hdul, stage / "crmasks.fits")
            masks = read_crmasks(hdul)
            del result, hdul  # the stack, statistics and detections are no longer needed
        _write_combinations(stage, frames, masks, params, _combination_history(argv, images))
    return output_dir


def _inputlist(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--inputlist {p}: file not found")
    base = p.resolve().parent
    names = [ln.split("#")[0].strip() for ln in p.read_text().splitlines()]
    return [str(base / n) for n in names if n]


#: Seed-000 option names of ``compute`` and the parameters they set.
COMPUTE_OPTIONS = {
    "flux_factor": ("flux_factor", str),
    "knots_splfit": ("mm_knots_splfit", int),
    "nsimulations": ("mm_nsimulations", int),
    "niter_boundary_extension": ("mm_niter_boundary_extension", int),
    "weight_boundary_extension": ("mm_weight_boundary_extension", float),
    "threshold": ("mm_threshold", float),
    "minimum_max2d_rnoise": ("mm_minimum_max2d_rnoise", float),
    "dilation": ("dilation", int),
    "semiwindow": ("semiwindow", int),
    "color_scale": ("color_scale", str),
    "maxplots": ("maxplots", int),
    "crmethod": ("crmethod", str),
    "seed": ("mm_seed", int),
}


def _compute(args) -> int:
    from .crmasks_file import crmasks_hdulist, write_crmasks
    from .inputs import check_frames, read_frames
    from .pipeline import compute_crmasks

    images = _inputlist(args.inputlist)
    frames = read_frames(
        images,
        extname=None if args.extname in (None, "PRIMARY") else args.extname,
        extnum=0 if args.extname == "PRIMARY" else None,
    )
    shape = check_frames(frames, names=images, min_frames=1)
    params: dict[str, Any] = {
        "gain": args.gain,
        "rnoise": args.rnoise,
        "bias": args.bias,
        "interactive": args.interactive,
        "crmethod": args.crmethod,
    }
    for opt, (key, _) in COMPUTE_OPTIONS.items():
        value = getattr(args, opt, None)
        if value is not None:
            params[key] = value
    if not args.plots:
        params["maxplots"] = 0
    cfg = validate_parameters(params, n_images=len(frames), shape=shape)
    out = Path(args.output_masks)
    with _staging(out.parent if str(out.parent) else Path(".")) as stage:
        result = compute_crmasks(
            frames, cfg, output_dir=stage if args.plots else None, frame_names=images
        )
        write_crmasks(crmasks_hdulist(result), stage / out.name)
    return 0


def _apply(args, argv) -> int:
    from .combination import combine
    from .crmasks_file import combined_hdulist, read_crmasks, write_hdulist
    from .inputs import check_frames, read_frames

    images = _inputlist(args.inputlist)
    frames = read_frames(
        images,
        extname=None if args.extname in (None, "PRIMARY") else args.extname,
        extnum=0 if args.extname == "PRIMARY" else None,
    )
    shape = check_frames(frames, names=images, min_frames=3)
    masks = read_crmasks(args.input_mask, n_frames=len(frames), shape=shape)
    comb = combine(frames, args.combination, masks=masks, bias=args.bias)
    hdul = combined_hdulist(comb, masks_uuid=masks.uuid, history=_combination_history(argv, images))
    write_hdulist(hdul, args.output_combined)
    return 0


def _main_parser() -> argparse.ArgumentParser:
    from .reports.progress import LOG_LEVELS

    p = argparse.ArgumentParser(
        prog="megara-crmasks",
        description="Cosmic-ray masks (M.M.Cosmic + Aux.Cosmic) of N >= 3 equivalent exposures "
        "and their CR-free combinations. Other forms: 'megara-crmasks compute|apply|demo -h'.",
    )
    p.add_argument("params", help="YAML file: images, extnum, gain, rnoise, bias, requirements")
    p.add_argument("--output_dir", default=".", help="output directory (created if missing)")
    p.add_argument("--crmasks", help="use this masks file instead of computing the masks")
    p.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, type=str.upper)
    p.add_argument("--record", action="store_true", help="write terminal_output.txt")
    p.add_argument("--echo", action="store_true", help="print the command line")
    p.add_argument("--no-reports", action="store_true", help="skip figures and tables")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _compute_apply_parser(kind: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"megara-crmasks {kind}")
    p.add_argument("--inputlist", required=True, help="text file with one FITS image per line")
    p.add_argument(
        "--extname", default=None, help="HDU name of the images (default: first HDU with data)"
    )
    p.add_argument("--bias", type=float, default=0.0, help="bias (ADU, default 0.0)")
    if kind == "apply":
        p.add_argument("--input_mask", required=True, help="crmasks.fits")
        p.add_argument("--output_combined", required=True, help="output FITS file")
        p.add_argument("--combination", default="mediancr", choices=COMBINATIONS)
        return p
    p.add_argument("--gain", type=float, default=1.0, help="gain (e-/ADU, default 1.0)")
    p.add_argument("--rnoise", type=float, default=3.4, help="read noise (ADU, default 3.4)")
    p.add_argument("--crmethod", default="mmcosmic", help="detection method (default mmcosmic)")
    p.add_argument("--interactive", action="store_true", help="interactive review")
    p.add_argument("--plots", action="store_true", help="write diagnostic figures and tables")
    p.add_argument("--output_masks", required=True, help="output masks file")
    for opt, (key, typ) in COMPUTE_OPTIONS.items():
        if opt not in ("crmethod",):
            p.add_argument(f"--{opt}", type=typ, default=None, help=f"sets {key}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``megara-crmasks`` (and of ``numina crmasks``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("compute", "apply"):
            args = _compute_apply_parser(argv[0]).parse_args(argv[1:])
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
            return _compute(args) if argv[0] == "compute" else _apply(args, argv)
        if argv and argv[0] == "batch":
            from .batch_cli import main as batch_main

            return batch_main(argv[1:])
        if argv and argv[0] == "demo":
            from .demo import main as demo_main

            return demo_main(argv[1:])
        args = _main_parser().parse_args(argv)
        return _run_main(args, argv)
    except UserStop:
        print("megara-crmasks: stopped by the operator; no output written", file=sys.stderr)
        return 0
    except (CLIError, ConfigError, InputError, ImportError, ValueError) as exc:
        print(f"megara-crmasks: error: {exc}", file=sys.stderr)
        return 1


def _run_main(args, argv) -> int:
    from .reports.progress import RichProgress, save_record, setup_logging

    console = setup_logging(args.log_level, record=args.record)
    if args.echo:
        console.print("$ megara-crmasks " + " ".join(argv))
    progress = RichProgress(console=console)
    with warnings.catch_warnings():
        warnings.simplefilter("default", CRPluginWarning)
        out = run_yaml(
            args.params,
            output_dir=args.output_dir,
            crmasks=args.crmasks,
            reports=not args.no_reports,
            progress=progress,
            argv=argv,
        )
    console.print(f"[bold green]done[/]: results in {out}")
    if args.record:
        save_record(console, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
