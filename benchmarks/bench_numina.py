"""A real ``numina run`` of the crplugin MegaraCrDetection recipe on synthetic raw MEGARA frames.

Not a test.  Usage::

    nice python benchmarks/bench_numina.py                   # 3 full raw frames, 4212 x 4196
    python benchmarks/bench_numina.py --size 4212x356        # quick check of the script
    python benchmarks/bench_numina.py --crmethod mmcosmic --keep --workdir /tmp

What it does:

1. makes three MEGARA-like exposures in electrons on the trimmed grid
   (:func:`megara_crplugin.synthetic.make_megara_like_frames`, as
   ``bench_crmasks.py``: 0.2 % of the pixels hit per frame, 20 designed double
   hits, read noise 3.4 e-) and turns them into raw frames with
   ``tests/numina_helpers.py`` (bias level 1000 / 1020 ADU, overscan and
   prescan columns, gains 1.73 / 1.6 e-/ADU, the headers megaradrp reads);
   a full-size master bias (zeros) goes beside them;
2. full size (``--size full``, raw 4212 x 4196, trimmed 4112 x 4096) uses
   megaradrp's own instrument profile (INSCONF :data:`MEGARA_PROFILE`, its
   detector component 2e02e135-...).  Other sizes keep the 4212 rows
   (megaradrp's overscan fit has fixed row knots) and get a profile written
   next to the frames with the columns of that detector scaled down, passed
   with ``--profile-path``;
3. writes the OB (MegaraCrDetection, pipeline ``crplugin``, the recipe's
   default parameters plus ``interactive: false``, ``--crmethod`` if given)
   and runs the ``numina`` console script (``numina run ob.yaml``) as a
   subprocess, timed as in ``bench_crmasks.py``: wall, CPU of the tree (GNU
   ``time -v``), peak summed PSS of the process tree (``/proc``), load
   average before / after;
4. prints those figures, the seconds per stage from the time stamps of
   numina's ``processing.log`` (:func:`log_stages`: start-up, megaradrp's
   preprocessing, each cosmic-ray phase, storing the result), the MEDIANCR
   pixels of ``crmasks.fits``, the designed double hits found there, and at
   full size the verdict against the 45 s target of issue 11.

The exit status is 1 if ``numina run`` failed (the tail of its log is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numina_helpers as nh  # noqa: E402
from bench_crmasks import _program, caught_events, run_measured, versions  # noqa: E402

#: megaradrp 0.22's instrument profile for 2017-05-07 .. 2025-11-01 (DATE-OBS of the frames).
MEGARA_PROFILE = "ca3558e3-e50d-4bbc-86bd-da50a0998a48"
#: Its detector component (raw 4212 x 4196, trimmed 4112 x 4096).
MEGARA_DETECTOR = "2e02e135-2325-47c9-9975-466b445b0b8b"
FULL_RAW = (4212, 4196)
#: Target of issue 11 for ``numina run`` MegaraCrDetection on full frames (wall s).
TARGET_WALL_S = 45.0
OB_ID = "bench"


def parse_size(text: str) -> tuple[int, int]:
    """``'full'`` -> (4212, 4196); ``'4212xNX'`` -> (4212, NX) (raw pixels, NX >= 164)."""
    if text.lower() == "full":
        return FULL_RAW
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        ny, nx = int(parts[0]), int(parts[1])
        if ny == FULL_RAW[0] and nx >= 164:
            return ny, nx
    raise argparse.ArgumentTypeError(
        f"expected 'full' or 4212xNX with NX >= 164 (raw pixels; megaradrp needs the "
        f"4212 rows), got {text!r}"
    )


def write_profile(folder: Path, nx_raw: int) -> str:
    """Write an instrument profile for raw 4212 x `nx_raw` frames in `folder`; return its UUID.

    The detector component is megaradrp's (:data:`MEGARA_DETECTOR`) with its
    column ranges moved to the narrower frame (50 prescan / overscan columns
    on each side); the instrument is the test profile of ``drp_config`` with
    that detector.
    """
    from importlib.resources import files

    configs = files("megaradrp.instrument.configs")
    comp = json.loads((configs / f"component-{MEGARA_DETECTOR}.json").read_text())
    edge = nx_raw - 50
    moved = {0: 0, 50: 50, 4146: edge, 4196: nx_raw}
    scan = comp["properties"][0]["values"]
    for key, value in scan.items():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
            scan[key] = [value[0], [moved[c] for c in value[1]]]
    comp["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench_numina detector {nx_raw}"))
    comp["description"] = f"BENCHMARK ONLY: MEGARA detector with raw 4212 x {nx_raw}"
    ins = json.loads((nh.PROFILE_DIR / f"instrument-{nh.PROFILE_UUID}.json").read_text())
    ins["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench_numina instrument {nx_raw}"))
    ins["description"] = comp["description"]
    ins["components"] = [
        {**c, "uuid": comp["uuid"]} if c["id"] == "detector" else c for c in ins["components"]
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"component-{comp['uuid']}.json").write_text(json.dumps(comp, indent=1))
    (folder / f"instrument-{ins['uuid']}.json").write_text(json.dumps(ins, indent=1))
    return ins["uuid"]


def write_inputs(folder: Path, raw_shape, seed: int, insconf: str):
    """Raw frames and master bias in ``folder/data``; return names, events, CR pixels, seconds."""
    from megara_crplugin.synthetic import make_megara_like_frames

    t0 = time.perf_counter()
    trimmed = (raw_shape[0] - 100, raw_shape[1] - 100)
    sset = make_megara_like_frames(trimmed, n_frames=3, seed=seed, n_double_hits=20)
    events = [(np.asarray(e.ys), np.asarray(e.xs)) for e in sset.double_hit_events(min_sigma=5.0)]
    n_cr = int(sset.truth.sum())
    data = folder / "data"
    # gain 1 e-/ADU and bias 0: the frames are electrons on the trimmed grid
    exposures = SimpleNamespace(images=list(sset.frames))
    names, _ = nh.write_raw_set(data, exposures, seed=seed, prefix="raw", insconf=insconf)
    del exposures
    del sset
    nh.master_bias(trimmed, insconf=insconf).writeto(data / "master_bias.fits")
    return names, events, n_cr, time.perf_counter() - t0


def write_ob(folder: Path, names: list[str], crmethod: str | None) -> Path:
    """The observation result: MegaraCrDetection, recipe defaults plus ``interactive: false``."""
    reqs: dict = {"master_bias": "master_bias.fits", "interactive": False}
    if crmethod is not None:
        reqs["crmethod"] = crmethod
    ob = {
        "id": OB_ID,
        "instrument": "MEGARA",
        "mode": "MegaraCrDetection",
        "pipeline": "crplugin",
        "frames": names,
        "requirements": reqs,
    }
    return nh.write_yaml(folder / "ob_bench.yaml", ob)


_PHASE = re.compile(r"cosmic rays: (.+?) done \(([\d.]+) s\)")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
#: Phases of ``compute_crmasks`` that run inside another one (not added to the total).
NESTED = {"plots": "reports"}


def _stamps(text: str, markers: dict[str, str]) -> dict[str, float]:
    """Epoch seconds of the first line of numina's ``processing.log`` holding each marker."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _STAMP.match(line)
        if m is None:
            continue
        for key, marker in markers.items():
            if key not in out and marker in line:
                local = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
                out[key] = local.timestamp() + int(m.group(2)) / 1000.0
    return out


def log_stages(text: str, t_start: float, t_end: float) -> dict[str, float]:
    """Seconds per stage of the run from numina's ``processing.log`` (time-stamped).

    ``t_start`` / ``t_end`` (epoch s) bracket the subprocess.  Stages: numina's
    start-up (imports, OB, profile, links in the work folder) up to the recipe's
    start; megaradrp's reduction flows (overscan, trimming, bias, gain) up to the
    first cosmic-ray phase; every phase of ``compute_crmasks`` as the recipe
    logs it ("plots" is part of "reports"); the rest of the recipe (crmasks
    HDUList, history); storing ``crmasks.fits`` / ``result.json`` and exiting.
    """
    marks = _stamps(
        text,
        {
            "start": "start MegaraCrDetection",
            "frames": "images to generate CR masks",
            "end": "end MegaraCrDetection",
        },
    )
    if len(marks) < 3:
        return {}
    stages = {
        "numina start-up (imports, OB, links)": marks["start"] - t_start,
        "megaradrp preprocessing (3 frames)": marks["frames"] - marks["start"],
    }
    phases: dict[str, float] = {}
    for m in _PHASE.finditer(text):
        phases[m.group(1)] = phases.get(m.group(1), 0.0) + float(m.group(2))
    for name, seconds in phases.items():
        stages[f"{name} (in {NESTED[name]})" if name in NESTED else name] = seconds
    top = sum(v for k, v in phases.items() if k not in NESTED)
    stages["between the logged phases"] = marks["end"] - marks["frames"] - top
    stages["storing crmasks.fits, exit"] = t_end - marks["end"]
    return stages


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable: load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=parse_size,
        default=FULL_RAW,
        help="raw frame shape: 'full' (4212x4196, megaradrp's profile; default) or 4212xNX",
    )
    parser.add_argument(
        "--crmethod",
        choices=["mmcosmic", "mm_pycosmic", "mm_lacosmic"],
        default=None,
        help="crmethod of the OB (default: none given, the recipe's default)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic frames")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temporary folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not nh.plugin_installed():
        parser.error("megara_crplugin has no numina.plugins.1 entry point: pip install -e .")
    numina = _program("numina")
    full = tuple(args.size) == FULL_RAW
    folder = Path(tempfile.mkdtemp(prefix="bench_numina_", dir=args.workdir))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    report: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "raw_shape": list(args.size),
        "crmethod": args.crmethod or "recipe default",
    }
    print(f"bench_numina {report['date']}  {os.cpu_count()} CPUs  folder {folder}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    try:
        if full:
            insconf, extra = MEGARA_PROFILE, []
        else:
            insconf = write_profile(folder / "profiles", args.size[1])
            extra = ["--profile-path", str(folder / "profiles")]
        names, events, n_cr, t_gen = write_inputs(folder, args.size, args.seed, insconf)
        ny, nx = args.size
        print(
            f"3 raw {ny}x{nx} frames (trimmed {ny - 100}x{nx - 100}, {n_cr} CR pixels, "
            f"{len(events)} double-hit events > 5 sigma), INSCONF {insconf}: {t_gen:.1f} s"
        )
        ob = write_ob(folder, names, args.crmethod)
        report["uptime_before"] = _uptime()
        print(f"before: {report['uptime_before']}", flush=True)
        t_start = time.time()
        r = run_measured(
            [numina, "run", ob.name, *extra], cwd=folder, log_path=folder / "numina.log", env=env
        )
        t_end = time.time()
        report["uptime_after"] = _uptime()
        processing = folder / f"obsid{OB_ID}_results" / "processing.log"
        text = processing.read_text(errors="replace") if processing.is_file() else ""
        r["stages"] = log_stages(text, t_start, t_end)
        r["caught"] = caught_events(folder / f"obsid{OB_ID}_results" / "crmasks.fits", events)
        report["run"] = r
        _print_run(report, len(events), full)
        if r["rc"] != 0:
            log = Path(r["log"]).read_text(errors="replace")
            print("numina run failed; the end of its log:\n" + log[-4000:])
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2, default=str))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if report.get("run", {}).get("rc", 1) != 0 else 0


def _print_run(report: dict, n_events: int, full: bool) -> None:
    r = report["run"]
    print(f"after:  {report['uptime_after']}")
    print(f"code: {r['code']}  ({r['measured_with']})")
    print(
        f"numina run MegaraCrDetection ({report['crmethod']}): exit {r['rc']}, "
        f"wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, tree PSS {r['tree_pss_gb']:.2f} GB "
        f"(largest RSS {r['maxrss_gb']:.2f} GB, {r['max_child_procs']} processes at most), "
        f"load {r['load_before']:.2f} -> {r['load_after']:.2f}"
    )
    for name, seconds in r["stages"].items():
        print(f"  {name:40s} {seconds:7.1f} s")
    if r["caught"] is not None:
        caught, n_med = r["caught"]
        print(f"MEDIANCR: {n_med} pixels; designed double hits found: {caught}/{n_events}")
    if full:
        verdict = "met" if r["rc"] == 0 and r["wall_s"] <= TARGET_WALL_S else "missed"
        print(
            f"target (issue 11, quiet 2-core machine): wall <= {TARGET_WALL_S:.0f} s: "
            f"{verdict} ({r['wall_s']:.1f} s at load {r['load_before']:.2f})"
        )
    else:
        print("target: not judged (not full size)")


if __name__ == "__main__":
    sys.exit(main())
