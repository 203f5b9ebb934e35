"""OBs per hour of ``megara-crmasks batch`` on a local dask cluster, for 1, 2, ... workers.

Not a test.  Usage::

    python benchmarks/bench_batch.py                  # 4 full-size OBs, 1 and 2 workers
    python benchmarks/bench_batch.py --obs 2 --workers 1   # shorter
    python benchmarks/bench_batch.py --size 512 --obs 4    # quick check of the script

What it does:

1. generates ``--triplets`` synthetic MEGARA-like triplets
   (:func:`megara_crplugin.synthetic.make_megara_like_frames`, 20 designed
   double hits, seeds ``--seed``, ``--seed`` + 1, ...) and writes them once;
2. writes ``--obs`` parameter files of the main YAML form (OB ``k`` reads
   triplet ``k mod --triplets``; with fewer triplets than OBs the later reads
   come from the page cache, which a real night does not enjoy: reading one
   full-size triplet takes about a second from a local disk);
3. for every worker count, runs :func:`megara_crplugin.batch.run_batch` on all
   OBs into a fresh folder (the local cluster's start and stop included in the
   wall time) and prints wall seconds, OBs per hour, the mean seconds per OB
   inside its task, and the load average before and after.

The machine may be shared: the load average is printed so the figures can be
judged.  Every job uses the same parameters (``--crmethod``, ``mm_nsimulations``
10, ``mm_seed`` 1234, ``dilation`` 1, reports only with ``--reports``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or NYxNX, got {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 64:
        raise argparse.ArgumentTypeError(f"expected N or NYxNX with sides >= 64, got {text!r}")
    return dims


def write_triplets(folder: Path, shape, n: int, seed: int) -> list[tuple[list[str], dict]]:
    from megara_crplugin.synthetic import make_megara_like_frames, write_frames

    sets = []
    for k in range(n):
        t0 = time.perf_counter()
        sset = make_megara_like_frames(shape, n_frames=3, seed=seed + k, n_double_hits=20)
        paths = write_frames(sset, folder / f"triplet{k}", prefix="frame")
        noise = {"gain": float(sset.gain), "rnoise": float(sset.rnoise), "bias": float(sset.bias)}
        sets.append(([str(p) for p in paths], noise))
        print(f"triplet {k}: {shape[0]}x{shape[1]} written in {time.perf_counter() - t0:.1f} s")
        del sset
    return sets


def write_obs(folder: Path, sets, n_obs: int, crmethod: str, reports: bool) -> list[Path]:
    import yaml

    obs = []
    for k in range(n_obs):
        images, noise = sets[k % len(sets)]
        params = {
            "images": images,
            "extnum": 0,
            **noise,
            "requirements": {
                "crmethod": crmethod,
                "interactive": False,
                "dilation": 1,
                "mm_nsimulations": 10,
                "mm_seed": 1234,
                "maxplots": 10 if reports else 0,
            },
        }
        path = folder / f"ob{k:03d}.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        obs.append(path)
    return obs


def bench(obs, out: Path, workers: int, memory_per_job: float | None, reports: bool) -> dict:
    from megara_crplugin.batch import run_batch

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result = run_batch(obs, out, workers=workers, memory_per_job=memory_per_job, reports=reports)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    done = [r for r in result.results if r.status == "done"]
    return {
        "workers": workers,
        "obs": len(obs),
        "done": len(done),
        "failed": [f"{r.ob}: {r.error}" for r in result.failed],
        "wall_s": round(wall, 1),
        "obs_per_hour": round(len(done) / wall * 3600, 1) if done else 0.0,
        "mean_task_s": round(sum(r.seconds for r in done) / len(done), 1) if done else None,
        "mediancr_pixels": [r.mediancr_pixels for r in done],
        "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in load1],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=parse_size, default=(4112, 4096), help="N or NYxNX")
    p.add_argument("--obs", type=int, default=4, help="OBs per run (default 4)")
    p.add_argument("--triplets", type=int, default=1, help="distinct triplets (default 1)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    p.add_argument("--crmethod", default="mmcosmic", help="crmethod of every OB")
    p.add_argument("--memory-per-job", type=float, default=None, help="GB (default: batch's)")
    p.add_argument("--reports", action="store_true", help="write the reports of every OB")
    p.add_argument("--seed", type=int, default=1, help="seed of the first triplet")
    p.add_argument("--workdir", default=None, help="where the temporary folder is made")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.obs < 1 or args.triplets < 1 or min(args.workers) < 1:
        p.error("--obs, --triplets and --workers must be >= 1")
    work = Path(tempfile.mkdtemp(prefix="bench_batch_", dir=args.workdir))
    print(
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} on {platform.node()}, "
        f"{os.cpu_count()} cores, work folder {work}"
    )
    try:
        sets = write_triplets(work, args.size, args.triplets, args.seed)
        obs = write_obs(work, sets, args.obs, args.crmethod, args.reports)
        runs = []
        for w in args.workers:
            r = bench(obs, work / f"out_w{w}", w, args.memory_per_job, args.reports)
            runs.append(r)
            print(
                f"{w} worker(s): {r['done']}/{r['obs']} OBs in {r['wall_s']} s = "
                f"{r['obs_per_hour']} OBs/hour; mean {r['mean_task_s']} s per OB task; "
                f"load {r['load_before'][0]} -> {r['load_after'][0]}"
                + (f"; FAILED {r['failed']}" if r["failed"] else "")
            )
            shutil.rmtree(work / f"out_w{w}", ignore_errors=True)
        if args.json:
            figures = {
                "size": list(args.size),
                "crmethod": args.crmethod,
                "reports": args.reports,
                "runs": runs,
            }
            Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
