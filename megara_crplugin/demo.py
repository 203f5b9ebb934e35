"""``megara-crmasks demo``: the whole job on synthetic MEGARA-like frames.

The frames come from :mod:`megara_crplugin.synthetic` (fibre spectra, sky lines,
an extended object, Poisson + read noise, cosmic rays with a known number of
pixels hit in two exposures), so the run ends with a comparison against the
ground truth.  Nothing outside the output directory is touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run", "write_demo_inputs"]


def write_demo_inputs(output_dir: Path, *, size: int, seed: int, crmethod: str):
    """Write the synthetic frames, their truth and ``params.yaml``; return (yaml, set)."""
    import yaml

    from .synthetic import make_megara_like_frames, write_frames, write_truth

    sset = make_megara_like_frames((size, size), seed=seed, n_double_hits=20)
    frames_dir = output_dir / "frames"
    paths = write_frames(sset, frames_dir, prefix="frame", overwrite=True)
    write_truth(sset, frames_dir / "truth.fits", overwrite=True)
    params = {
        "images": [str(p.relative_to(output_dir)) for p in paths],
        "extnum": 0,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
        "requirements": {
            "crmethod": crmethod,
            "interactive": False,
            "dilation": 1,
            "maxplots": 10,
            "mm_seed": 1234,
        },
    }
    path = output_dir / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path, sset


def _summary(out: Path, sset) -> list[str]:
    from astropy.io import fits

    with fits.open(out / "crmasks.fits") as hdul:
        med = hdul["MEDIANCR"].data.astype(bool)
    caught, total = sset.events_caught(med)
    sig1 = np.sqrt(np.clip(sset.signal, 0, None) / sset.gain + sset.rnoise**2)
    lines = [f"double-hit events (median raised > 5 sigma): {caught}/{total} in MEDIANCR"]
    lines.append("combination   pixels with a CR residual > 5 sigma (per 10^4)")
    for method in ("mean", "median", "mediancr", "meancrt", "meancr", "meancr2"):
        with fits.open(out / f"combined_{method}.fits") as hdul:
            data, nmap = hdul[0].data, hdul["MAP"].data
        z = (data - sset.signal) / (sig1 / np.sqrt(np.maximum(nmap, 1)))
        lines.append(f"  {method:10s}  {np.count_nonzero(z > 5) / z.size * 1e4:8.2f}")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``megara-crmasks demo`` (registered in ``_cli_parser._SUBCOMMANDS``)."""
    p.description = (
        "Generate synthetic MEGARA-like frames with known cosmic rays (fibre spectra, sky "
        "lines, an extended object, Poisson and read noise), run the whole job on them and "
        "compare the masks with the truth. Nothing outside the output directory is touched."
    )
    p.add_argument("--output_dir", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--size", type=int, default=1024, help="frame size in pixels (default 1024)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the frames (default 1)")
    p.add_argument(
        "--crmethod", default="mm_pycosmic", help="detection method (default mm_pycosmic)"
    )


def run(args: argparse.Namespace) -> int:
    """Generate the synthetic frames and run the job of their parameter file on them.

    Errors are raised (the command reports them on one line, status 1).
    """
    from .yaml_job import console_for, print_done, run_yaml

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    params, sset = write_demo_inputs(out, size=args.size, seed=args.seed, crmethod=args.crmethod)
    argv = [str(params), "--output_dir", str(out), "--log-level", args.log_level]
    if args.quiet:
        argv.append("--quiet")
    console, progress = console_for(args)
    done = run_yaml(params, output_dir=out, progress=progress, argv=argv)
    print_done(None if args.quiet else console, f"results in {done}")
    for line in _summary(out, sset):
        print(line)
    return 0
