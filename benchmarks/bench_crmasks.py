"""Wall time, CPU time and peak memory of ``megara-crmasks`` against ``numina-crmasks``.

Not a test: at the full MEGARA size (3 x 4112 x 4096) the reference alone takes
20-30 minutes on the 2-core team machine.  Usage::

    python benchmarks/bench_crmasks.py                         # full size, both programs
    python benchmarks/bench_crmasks.py --size 1024             # quick run (1024 x 1024)
    python benchmarks/bench_crmasks.py --methods mmcosmic --skip-reference
    python benchmarks/bench_crmasks.py --size 2048x1024 --keep --json out.json

What it does:

1. generates a synthetic MEGARA-like triplet with
   :func:`megara_crplugin.synthetic.make_megara_like_frames` (seed ``--seed``,
   20 designed double hits) and writes it with ``write_frames``;
2. writes one parameter YAML per method, with every key the reference
   requires spelled out (megaradrp recipe defaults, ``interactive: False``,
   ``dilation: 1``, ``mm_seed: 1234``, ``mm_nsimulations`` and ``maxplots``
   from the options) and absolute image paths, so both programs read the same
   file;
3. runs each program as a subprocess under GNU ``/usr/bin/time -v`` (falls back
   to ``resource.getrusage(RUSAGE_CHILDREN)`` when GNU time is missing) and
   prints wall time, CPU time (user + system, forked workers included), the
   peak RSS of the largest process, the peak summed PSS / RSS of the whole
   process tree (sampled from ``/proc`` every 0.25 s), and the ratios;
4. runs ours once more in-process (``megara_crplugin.pipeline.compute_crmasks``
   with reports) with a progress hook that records wall and CPU seconds per
   phase; ``--profile N`` runs that call under cProfile, with the forked work
   done serially so that the profile sees it.
   Both timed subprocesses run at ``--log-level INFO`` (the reference's DEBUG
   level writes extra plots, and ours at DEBUG logs every matplotlib font
   lookup, which slows the reports);
5. reports, for each program, how many designed double-hit events (median
   raised > 5 sigma) fall in MEDIANCR.

The reference rejects ``crmethod: mmcosmic`` (spec defect 5): our ``mmcosmic``
is compared with the reference's ``mm_lacosmic``, which is what a reference
user has to run, and the rejection itself is checked once (it costs only the
reference's start-up).  Both programs are given the same number of threads
(whatever the machine has); the load average before and after each run is
printed because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

#: Full MEGARA detector (ny, nx) after trimming.
MEGARA_SHAPE = (4112, 4096)
#: Targets of issue 11 on 3 x 4112 x 4096 (quiet 2-core machine): wall seconds per method.
TARGET_WALL_S = {"mmcosmic": 15.0, "mm_pycosmic": 30.0, "mm_lacosmic": 90.0}
#: ... and peak summed PSS of the process tree (GB) for every method.
TARGET_RSS_GB = 2.0
#: Reference figures quoted in the task for the same size (mm_lacosmic).
REFERENCE_QUOTED = "about 10 min and 6.4 GB"

#: Parameters every run gets (megaradrp recipe defaults where the reference has no default).
BASE_REQUIREMENTS = {
    "use_auxmedian": False,
    "flux_factor": "none",
    "apply_flux_factor_to": "simulated",
    "interactive": False,
    "dilation": 1,
    "la_gain_apply": True,
    "la_sigclip": [5.0, 3.0],
    "la_sigfrac": [0.3, 0.3],
    "la_objlim": [5.0, 5.0],
    "la_satlevel": 65535.0,
    "la_niter": 4,
    "la_sepmed": True,
    "la_cleantype": "meanmask",
    "la_fsmode": "convolve",
    "la_psfmodel": "gaussxy",
    "la_psffwhm_x": 2.5,
    "la_psffwhm_y": 2.5,
    "la_psfsize": 11,
    "la_psfbeta": 4.765,
    "la_padwidth": 10,
    "mm_cr_coincidences": 2,
    "mm_photon_distribution": "poisson",
    "mm_nbinom_shape": 1000,
    "mm_synthetic": "median",
    "mm_hist2d_min_neighbors": 0,
    "mm_dilation": 0,
    "mm_boundary_fit": "spline",
    "mm_knots_splfit": 3,
    "mm_niter_boundary_extension": 3,
    "mm_weight_boundary_extension": 10.0,
    "mm_threshold_rnoise": 0.0,
    "mm_minimum_max2d_rnoise": 5.0,
    "mm_seed": 1234,
}

_TIME_FIELDS = {
    "User time (seconds)": "user_s",
    "System time (seconds)": "sys_s",
    "Maximum resident set size (kbytes)": "maxrss_kb",
    "Elapsed (wall clock) time (h:mm:ss or m:ss)": "elapsed",
}


def parse_size(text: str) -> tuple[int, int]:
    """``'1024'`` -> (1024, 1024); ``'4112x4096'`` -> (4112, 4096) (ny x nx, pixels)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 64:
        raise argparse.ArgumentTypeError(f"expected N or NYxNX with N >= 64 pixels, got {text!r}")
    return values[0], values[1]


def _program(name: str) -> str:
    """Console script ``name`` next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(
            f"bench_crmasks: console script {name!r} not found beside {sys.executable} nor on PATH"
        )
    return found


def _gnu_time() -> str | None:
    path = shutil.which("time") or "/usr/bin/time"
    if not Path(path).is_file():
        return None
    probe = subprocess.run([path, "-v", "true"], capture_output=True, text=True)
    return path if "Maximum resident set size" in probe.stderr else None


def _parse_gnu_time(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key in _TIME_FIELDS and _TIME_FIELDS[key] != "elapsed":
            out[_TIME_FIELDS[key]] = float(value)
    return out


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMemorySampler(threading.Thread):
    """Sample the summed RSS and PSS (kB) of a process tree every ``interval`` s.

    ``megara-crmasks`` forks worker processes for the simulations; GNU time's
    "maximum resident set size" is that of the largest single process, so
    the tree total is sampled here.  PSS (proportional set size, from
    ``/proc/PID/smaps_rollup``) splits copy-on-write pages shared by forked
    workers between them, so the summed PSS is the memory the run really
    occupies; the summed RSS counts shared pages once per process.
    """

    def __init__(self, root: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.max_procs = 0
        self.available = Path("/proc/self/smaps_rollup").is_file()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while self.available and not self._stop_event.is_set():
            pids = _descendants(self.root)
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, len(pids) - 1)  # minus GNU time itself
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_measured(cmd: list[str], *, cwd: Path, log_path: Path, env: dict[str, str]) -> dict:
    """Run ``cmd``; return exit status, wall/CPU seconds, peak memory (GB) and load.

    Pending writes of the page cache are flushed first (``os.sync``).
    CPU time is user + system of the process and of its waited-for children
    (the forked simulation workers), from GNU ``time -v`` or, without it, from
    ``getrusage(RUSAGE_CHILDREN)`` deltas.  ``maxrss_gb`` is the largest
    single process's peak RSS (same sources); ``tree_pss_gb`` /
    ``tree_rss_gb`` the peak of the summed PSS / RSS of the whole process
    tree (:class:`TreeMemorySampler`, NaN where ``/proc`` is unavailable).
    """
    gnu = _gnu_time()
    # the frames just written and the previous run's outputs go to disk now, not
    # during this run (each run starts with no dirty page of another to write back)
    if hasattr(os, "sync"):
        os.sync()
    load0 = os.getloadavg()
    code = code_state()
    tfile = log_path.with_suffix(".time")
    full = [gnu, "-v", "-o", str(tfile), *cmd] if gnu is not None else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(full, cwd=cwd, env=env, stdout=log, stderr=log)
        sampler = TreeMemorySampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        sampler.stop()
    if gnu is not None:
        usage = _parse_gnu_time(tfile.read_text())
        how = "GNU time -v"
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        usage = {
            "user_s": after.ru_utime - before.ru_utime,
            "sys_s": after.ru_stime - before.ru_stime,
            # maximum over all children so far: exact only for the first large run
            "maxrss_kb": float(after.ru_maxrss),
        }
        how = "getrusage(RUSAGE_CHILDREN)"
    user, system = usage.get("user_s", float("nan")), usage.get("sys_s", float("nan"))
    nan = float("nan")
    return {
        "rc": rc,
        "wall_s": wall,
        "user_s": user,
        "sys_s": system,
        "cpu_s": user + system,
        "maxrss_gb": usage.get("maxrss_kb", nan) * 1024 / 1e9,
        "tree_pss_gb": sampler.peak_pss_kb * 1024 / 1e9 if sampler.available else nan,
        "tree_rss_gb": sampler.peak_rss_kb * 1024 / 1e9 if sampler.available else nan,
        "max_child_procs": sampler.max_procs,
        "load_before": round(load0[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
        "measured_with": how,
        "code": code,
        "log": str(log_path),
    }


def _cpu_with_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ru.ru_utime + ru.ru_stime


class PhaseRecorder:
    """Progress hook recording wall and CPU seconds per phase (CPU = all threads).

    CPU time is ``time.process_time`` of this process plus the user + system
    time of its reaped children (the forked simulation workers), so it is
    much less sensitive than wall time to other jobs on a shared machine.
    Nested phases (``plots`` inside ``reports``) are recorded separately.
    """

    def __init__(self):
        self.phases: dict[str, list[float]] = {}

    @contextmanager
    def phase(self, name: str, total: int | None = None):
        w0, c0 = time.perf_counter(), _cpu_with_children()
        try:
            yield lambda n=1: None
        finally:
            wall, cpu = self.phases.setdefault(name, [0.0, 0.0])
            self.phases[name] = [
                wall + time.perf_counter() - w0,
                cpu + _cpu_with_children() - c0,
            ]


def inprocess_phases(params_file: Path, out: Path, *, profile: int = 0) -> dict:
    """Run ``compute_crmasks`` in this process on the YAML's inputs; time each phase.

    Returns ``phases`` (name -> [wall s, CPU s], from :class:`PhaseRecorder`;
    ``read`` = reading the FITS frames, ``compute_crmasks`` = the whole call,
    reports included) and, with ``profile`` > 0, ``hot_spots``: the
    ``profile`` entries with the largest cumulative time, then the ``profile`` entries
    with the largest own time, under cProfile.  For
    that run the work ours forks out (simulations, Aux calls) runs serially in
    this process (``fork_context`` patched to return None), so cProfile sees
    it; the phase timings then include the profiler's overhead and lack the
    parallelism.
    """
    from megara_crplugin.inputs import read_frames
    from megara_crplugin.pipeline import compute_crmasks

    doc = yaml.safe_load(params_file.read_text())
    params = {**doc["requirements"], **{k: doc[k] for k in ("gain", "rnoise", "bias")}}
    rec = PhaseRecorder()
    with rec.phase("read"):
        frames = read_frames(doc["images"], extnum=doc.get("extnum"))
    hot: list[str] = []
    with rec.phase("compute_crmasks"):
        if profile > 0:
            import cProfile
            import io
            import pstats

            import megara_crplugin.pipeline as pipeline_mod
            import megara_crplugin.simulation as simulation_mod

            # cProfile only sees this process: run the forked work (simulations,
            # Aux calls) serially here, so that its hot spots show up
            patched = [m for m in (pipeline_mod, simulation_mod) if hasattr(m, "fork_context")]
            saved = [m.fork_context for m in patched]
            for m in patched:
                m.fork_context = lambda: None
            prof = cProfile.Profile()
            try:
                prof.runcall(compute_crmasks, frames, params, output_dir=out, progress=rec)
            finally:
                for m, f in zip(patched, saved, strict=True):
                    m.fork_context = f
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("cumulative").print_stats(profile)
            stats.sort_stats("tottime").print_stats(profile)
            hot = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
        else:
            compute_crmasks(frames, params, output_dir=out, progress=rec)
    return {"phases": rec.phases, "hot_spots": hot}


def caught_events(crmasks_file: Path, events) -> tuple[int, int] | None:
    """(events with a MEDIANCR pixel, MEDIANCR pixels), or None without the file."""
    from astropy.io import fits

    if not crmasks_file.is_file():
        return None
    with fits.open(crmasks_file) as hdul:
        med = np.asarray(hdul["MEDIANCR"].data).astype(bool)
    caught = sum(bool(med[ys, xs].any()) for ys, xs in events)
    return caught, int(med.sum())


def write_inputs(folder: Path, shape, seed: int, n_frames: int = 3):
    """Frames on disk plus the double-hit events [(ys, xs), ...]; the set is not kept."""
    from megara_crplugin.synthetic import make_megara_like_frames, write_frames

    t0 = time.perf_counter()
    sset = make_megara_like_frames(shape, n_frames=n_frames, seed=seed, n_double_hits=20)
    paths = write_frames(sset, folder / "frames", prefix="frame")
    events = [(np.asarray(e.ys), np.asarray(e.xs)) for e in sset.double_hit_events(min_sigma=5.0)]
    noise = {"gain": float(sset.gain), "rnoise": float(sset.rnoise), "bias": float(sset.bias)}
    n_cr = int(sset.truth.sum())
    del sset
    return paths, events, noise, n_cr, time.perf_counter() - t0


def write_params(
    folder: Path, method: str, paths, noise, *, nsim: int, maxplots: int, ours: dict | None = None
) -> Path:
    """One YAML valid for ``megara-crmasks`` and ``numina-crmasks`` (absolute image paths).

    ``ours`` holds keys only ``megara-crmasks`` knows (``reports``); with them the
    file is ``params_ours_<method>.yaml`` and is not given to the reference.
    """
    req = {"crmethod": method, **BASE_REQUIREMENTS}
    req["mm_nsimulations"] = nsim
    req["maxplots"] = maxplots
    req.update(ours or {})
    doc = {"images": [str(p.resolve()) for p in paths], "extnum": 0, **noise, "requirements": req}
    path = folder / f"params_{'ours_' if ours else ''}{method}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _fmt_run(label: str, r: dict) -> str:
    return (
        f"{label:26s} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {r['maxrss_gb']:7.2f} "
        f"{r['tree_pss_gb']:8.2f} {r['tree_rss_gb']:8.2f} {r['max_child_procs']:5d} "
        f"{r['rc']:3d}  {r['load_before']:5.2f}/{r['load_after']:5.2f}"
    )


def peak_gb(r: dict) -> float:
    """Peak memory of a run: the larger of max single-process RSS and tree PSS (GB)."""
    return float(np.nanmax([r["maxrss_gb"], r["tree_pss_gb"]]))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}" if b else "   n/a"


def code_state() -> str:
    """Commit of the working tree and whether ``megara_crplugin/`` has uncommitted edits."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "megara_crplugin"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted edits' if dirty else ''}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in (
        "megara-crplugin",
        "numina",
        "megaradrp",
        "numpy",
        "scipy",
        "astropy",
        "astroscrappy",
        "matplotlib",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=parse_size,
        default=MEGARA_SHAPE,
        help="N (N x N) or NYxNX in pixels (default 4112x4096)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["mmcosmic", "mm_pycosmic", "mm_lacosmic"],
        choices=["mmcosmic", "mm_pycosmic", "mm_lacosmic"],
    )
    parser.add_argument("--nframes", type=int, default=3, help="number of exposures N (>= 3)")
    parser.add_argument(
        "--reports",
        choices=["full", "summary", "none"],
        default=None,
        help="our 'reports' parameter (default: the schema default, summary)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="our 'jobs' parameter (default: all cores)"
    )
    parser.add_argument("--skip-reference", action="store_true", help="run only megara-crmasks")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--nsimulations", type=int, default=10, help="mm_nsimulations (>= 1)")
    parser.add_argument("--maxplots", type=int, default=10, help="maxplots for both programs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic frames")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="parent of the temporary folder (default: system temp)",
    )
    parser.add_argument(
        "--no-phases",
        action="store_true",
        help="skip the in-process run of ours that measures the per-phase timings",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run the in-process call under cProfile (serially) and print the N top "
        "entries by cumulative and by own time",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.nframes < 3:
        parser.error(f"--nframes: expected an integer >= 3, got {args.nframes}")
    if args.nsimulations < 1:
        parser.error(f"--nsimulations: expected an integer >= 1, got {args.nsimulations}")

    ours_cmd = _program("megara-crmasks")
    ref_cmd = None if args.skip_reference else _program("numina-crmasks")
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}
    ny, nx = args.size
    folder = Path(tempfile.mkdtemp(prefix="bench_crmasks_", dir=args.workdir))
    report: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "versions": versions(),
        "shape": [ny, nx],
        "nsimulations": args.nsimulations,
        "maxplots": args.maxplots,
        "runs": {},
    }
    print(f"bench_crmasks {report['date']}  {report['machine']}  folder {folder}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    try:
        paths, events, noise, n_cr, t_gen = write_inputs(folder, (ny, nx), args.seed, args.nframes)
        report["nframes"] = args.nframes
        ours_keys = {} if args.reports is None else {"reports": args.reports}
        if args.jobs is not None:
            ours_keys["jobs"] = args.jobs
        print(
            f"synthetic {args.nframes} x {ny}x{nx} frames ({n_cr} CR pixels, "
            f"{len(events)} double-hit events > 5 sigma) generated and written in {t_gen:.1f} s"
        )
        runs = report["runs"]
        ref_cache: dict[str, str] = {}
        for method in args.methods:
            params = write_params(
                folder, method, paths, noise, nsim=args.nsimulations, maxplots=args.maxplots
            )
            if ours_keys:
                params = write_params(
                    folder,
                    method,
                    paths,
                    noise,
                    nsim=args.nsimulations,
                    maxplots=args.maxplots,
                    ours=ours_keys,
                )
            out = folder / f"out_ours_{method}"
            r = run_measured(
                [ours_cmd, str(params), "--output_dir", str(out), "--log-level", "INFO"],
                cwd=folder,
                log_path=folder / f"ours_{method}.log",
                env=env,
            )
            r["caught"] = caught_events(out / "crmasks.fits", events)
            runs[f"ours {method}"] = r
            print(_fmt_run(f"ours {method}", r), flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
            if ref_cmd is None:
                continue
            ref_method = "mm_lacosmic"  # every method is compared with the reference's default
            params = folder / f"params_{method}.yaml"
            if method == "mmcosmic":
                probe = run_measured(
                    [ref_cmd, str(params), "--output_dir", str(folder / "out_ref_mmcosmic")],
                    cwd=folder,
                    log_path=folder / "ref_mmcosmic.log",
                    env=env,
                )
                text = Path(probe["log"]).read_text()
                rejected = probe["rc"] != 0 and "Invalid crmethod" in text
                report["reference_rejects_mmcosmic"] = rejected
                print(
                    f"reference with crmethod mmcosmic: exit {probe['rc']}"
                    f"{' (Invalid crmethod: defect 5)' if rejected else ''}",
                    flush=True,
                )
            if ref_method in ref_cache:
                continue
            ref_params = write_params(
                folder, ref_method, paths, noise, nsim=args.nsimulations, maxplots=args.maxplots
            )
            out = folder / f"out_ref_{ref_method}"
            r = run_measured(
                [ref_cmd, str(ref_params), "--output_dir", str(out), "--log-level", "INFO"],
                cwd=folder,
                log_path=folder / f"ref_{ref_method}.log",
                env=env,
            )
            r["caught"] = caught_events(out / "crmasks.fits", events)
            runs[f"reference {ref_method}"] = r
            ref_cache[ref_method] = f"reference {ref_method}"
            print(_fmt_run(f"reference {ref_method}", r), flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
        if not args.no_phases:
            for method in args.methods:
                t0 = time.perf_counter()
                ph = inprocess_phases(
                    folder / f"params_{'ours_' if ours_keys else ''}{method}.yaml",
                    folder / f"phases_{method}",
                    profile=args.profile,
                )
                runs[f"ours {method}"]["phases"] = ph["phases"]
                runs[f"ours {method}"]["phases_code"] = code_state()
                runs[f"ours {method}"]["hot_spots"] = ph["hot_spots"]
                print(f"in-process run of ours {method}: {time.perf_counter() - t0:.1f} s")
        _summary(report, args.methods, len(events), ref_cache)
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2, default=str))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    failed = [k for k, r in report["runs"].items() if r["rc"] != 0]
    return 1 if failed else 0


def _summary(report: dict, methods, n_events: int, ref_cache: dict[str, str]) -> None:
    runs = report["runs"]
    print()
    print(
        f"{'run':26s} {'wall s':>8s} {'CPU s':>8s} {'RSS GB':>7s} {'treePSS':>8s} "
        f"{'treeRSS':>8s} {'procs':>5s} {'rc':>3s}  load 1min before/after"
    )
    print("  (RSS = largest single process; tree = summed over the process and its workers)")
    for label, r in runs.items():
        print(_fmt_run(label, r))
    print("\nMEDIANCR: designed double-hit events caught / MEDIANCR pixels")
    for label, r in runs.items():
        c = r.get("caught")
        print(f"  {label:26s} " + (f"{c[0]}/{n_events}  {c[1]} px" if c else "no crmasks.fits"))
    print(
        "code of each run (commit of the working tree): "
        + "; ".join(
            f"{label}: {r['code']}" for label, r in runs.items() if label.startswith("ours")
        )
    )
    for method in methods:
        ours = runs.get(f"ours {method}")
        ref = runs.get(ref_cache.get("mm_lacosmic", ""))
        if ours and ref:
            ref_method = "mm_lacosmic"
            print(
                f"\nratio ours {method} / reference {ref_method}: "
                f"wall {_ratio(ours['wall_s'], ref['wall_s'])}  "
                f"CPU {_ratio(ours['cpu_s'], ref['cpu_s'])}  "
                f"peak memory {_ratio(peak_gb(ours), peak_gb(ref))}   "
                f"(speed-up x{ref['wall_s'] / ours['wall_s']:.1f})"
            )
        if ours and ours.get("phases"):
            print(
                f"phases of ours {method}, in-process (wall s / CPU s; "
                f"code {ours.get('phases_code')}):"
            )
            for name, (wall, cpu) in ours["phases"].items():
                print(f"  {name:38s} {wall:7.1f} {cpu:7.1f}")
        if ours and ours.get("hot_spots"):
            print("\n".join(ours["hot_spots"]))
    if tuple(report["shape"]) != MEGARA_SHAPE or report.get("nframes", 3) != 3:
        return
    for method, limit in TARGET_WALL_S.items():
        mm = runs.get(f"ours {method}")
        if not mm:
            continue
        ok_t = mm["wall_s"] <= limit
        ok_m = peak_gb(mm) <= TARGET_RSS_GB
        print(
            f"target {method} 3 x 4112x4096: wall {mm['wall_s']:.1f} s "
            f"(<= {limit:.0f}: {'met' if ok_t else 'MISSED'}), peak memory "
            f"{peak_gb(mm):.2f} GB (<= {TARGET_RSS_GB:.0f}: {'met' if ok_m else 'MISSED'}); "
            f"reference quoted at {REFERENCE_QUOTED}"
        )


if __name__ == "__main__":
    sys.exit(main())
