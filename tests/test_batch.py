"""``megara-crmasks batch`` / :func:`megara_crplugin.batch.run_batch` on small synthetic OBs.

Every OB is a 256 x 256 synthetic triplet (``crmethod: mmcosmic``, 3 simulations,
no reports), written once per module.  Clusters run on 127.0.0.1 only and are
closed by the tests; every wait is bounded.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from megara_crplugin.batch import BatchError, local_cluster, run_batch
from megara_crplugin.batch_job import RECORD_NAME
from megara_crplugin.cli import main
from megara_crplugin.demo import write_demo_inputs

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[1]


def _write_ob(root: Path, name: str, *, size: int = 256, seed: int = 1, **req) -> Path:
    """A synthetic triplet in ``root/name/`` and its parameter file ``root/name.yaml``."""
    folder = root / name
    folder.mkdir(parents=True)
    params, _ = write_demo_inputs(folder, size=size, seed=seed, crmethod="mmcosmic")
    data = yaml.safe_load(params.read_text())
    data["images"] = [f"{name}/{image}" for image in data["images"]]
    data["requirements"].update({"mm_nsimulations": 3, "maxplots": 0, **req})
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def obs(tmp_path_factory):
    """Two valid OBs and one with an invalid parameter (mm_threshold < 0)."""
    root = tmp_path_factory.mktemp("obs")
    good = [_write_ob(root, "ob_a", seed=11), _write_ob(root, "ob_b", seed=12)]
    bad = root / "ob_bad.yaml"
    data = yaml.safe_load(good[0].read_text())
    data["requirements"]["mm_threshold"] = -3
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    return [*good, bad]


@pytest.fixture(scope="module")
def client():
    """A one-worker local cluster (processes) as run_batch starts it, and its client."""
    with local_cluster(workers=1) as cluster, distributed.Client(cluster) as c:
        yield c


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "batch_summary.csv", newline="") as fh:
        return {row["ob"]: row for row in csv.DictReader(fh)}


def _mediancr(path: Path) -> int:
    with fits.open(path) as hdul:
        return int(np.count_nonzero(hdul["MEDIANCR"].data))


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _check_two_results(out: Path) -> None:
    rows = _summary(out)
    assert {k: v["status"] for k, v in rows.items()} == {
        "ob_a": "done",
        "ob_b": "done",
        "ob_bad": "failed",
    }
    assert "mm_threshold" in rows["ob_bad"]["error"]
    assert not (out / "ob_bad").exists()
    for ob in ("ob_a", "ob_b"):
        assert sorted(p.name for p in (out / ob).iterdir()) == sorted(
            [RECORD_NAME, "crmasks.fits"]
            + [f"combined_{m}.fits" for m in ("mean", "median", "min", "mediancr")]
            + [f"combined_{m}.fits" for m in ("meancrt", "meancr", "meancr2")]
        )
        npix = _mediancr(out / ob / "crmasks.fits")
        assert npix > 0
        assert int(rows[ob]["mediancr_pixels"]) == npix
    assert _hidden(out) == []


def test_local_cluster_isolates_a_failing_ob_and_resume_runs_nothing(obs, tmp_path, capsys):
    out = tmp_path / "night"
    args = ["batch", *map(str, obs), "--output_dir", str(out), "--workers", "2", "--no-reports"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "ob_bad failed: mm_threshold" in err
    _check_two_results(out)
    stamps = {ob: (out / ob / "crmasks.fits").stat().st_mtime_ns for ob in ("ob_a", "ob_b")}

    args[args.index("--workers") + 1] = "1"
    assert main([*args, "--resume"]) == 1  # the invalid OB still fails
    rows = _summary(out)
    assert [rows[ob]["status"] for ob in ("ob_a", "ob_b", "ob_bad")] == [
        "skipped",
        "skipped",
        "failed",
    ]
    for ob, stamp in stamps.items():
        assert (out / ob / "crmasks.fits").stat().st_mtime_ns == stamp
        assert int(rows[ob]["mediancr_pixels"]) == _mediancr(out / ob / "crmasks.fits")


def test_resume_reruns_an_ob_whose_parameters_changed(obs, tmp_path, client):
    work = tmp_path / "obs"
    work.mkdir()
    copies = []
    for src in obs[:2]:  # the parameter files point into the shared folders
        data = yaml.safe_load(src.read_text())
        data["images"] = [str(src.parent / i) for i in data["images"]]
        copies.append(work / src.name)
        copies[-1].write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    events = []
    first = run_batch(
        copies, out, client=client, reports=False, on_update=lambda *e: events.append(e)
    )
    assert [r.status for r in first.results] == ["done", "done"]
    assert events[0] == ("start", "2", None)
    assert sorted(e[1] for e in events if e[0] == "finished") == ["ob_a", "ob_b"]
    assert all(e[0] in ("running", "finished") for e in events[1:])
    record = json.loads((out / "ob_b" / RECORD_NAME).read_text())
    data = yaml.safe_load(copies[1].read_text())
    data["requirements"]["mm_seed"] = 99
    copies[1].write_text(yaml.safe_dump(data, sort_keys=False))
    again = run_batch(copies, out, client=client, reports=False, resume=True)
    assert [r.status for r in again.results] == ["skipped", "done"]
    assert (
        json.loads((out / "ob_b" / RECORD_NAME).read_text())["checksums"]["parameters"]
        != (record["checksums"]["parameters"])
    )
    assert again.exit_status == 0


def test_interactive_ob_runs_unattended_with_a_warning(tmp_path, client):
    ob = _write_ob(tmp_path, "ob_int", seed=21, interactive=True)
    (res,) = run_batch([ob], tmp_path / "out", client=client, reports=False).results
    assert res.status == "done"
    assert "interactive: no review windows in a batch; every feature accepted" in res.warnings
    rows = _summary(tmp_path / "out")
    assert "interactive: no review windows" in rows["ob_int"]["warnings"]


def test_a_folder_not_written_by_batch_is_left_alone(obs, tmp_path, client):
    out = tmp_path / "out"
    (out / "ob_a").mkdir(parents=True)
    (out / "ob_a" / "notes.txt").write_text("mine")
    result = run_batch([obs[0]], out, client=client, reports=False)
    (res,) = result.results
    assert res.status == "failed"
    assert "not written by megara-crmasks batch" in res.error
    assert sorted(p.name for p in (out / "ob_a").iterdir()) == ["notes.txt"]
    assert (out / "ob_a" / "notes.txt").read_text() == "mine"
    assert result.exit_status == 1


def test_bad_batch_options_fail_before_any_work(obs, tmp_path):
    twin = tmp_path / "other"
    twin.mkdir()
    (twin / "ob_a.yaml").write_text(obs[0].read_text())
    with pytest.raises(BatchError, match="both would write ob_a/"):
        run_batch([obs[0], twin / "ob_a.yaml"], tmp_path / "out")
    with pytest.raises(BatchError, match="--workers: only for the local cluster"):
        run_batch(obs, tmp_path / "out", scheduler="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(BatchError, match=r"--memory-per-job 1e\+06: 1 worker\(s\) share"):
        run_batch(obs, tmp_path / "out", workers=1, memory_per_job=1e6)
    assert not (tmp_path / "out").exists()


def test_cli_rejects_bad_numbers(obs, tmp_path, capsys):
    for opt, value in (("--workers", "0"), ("--memory-per-job", "-2")):
        with pytest.raises(SystemExit) as exc:
            main(["batch", str(obs[0]), "--output_dir", str(tmp_path / "out"), opt, value])
        assert exc.value.code == 2
        assert f"{opt}: expected" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _dask(module: str, *args: str) -> subprocess.Popen:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    cmd = [sys.executable, "-m", f"distributed.cli.{module}", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def test_existing_scheduler_and_worker_on_loopback(obs, tmp_path):
    sched_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    procs = [_dask("dask_scheduler", "--port", "0", "--scheduler-file", str(sched_file), *common)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            _dask(
                "dask_worker",
                "--scheduler-file",
                str(sched_file),
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--resources",
                "MEMORY=2",
                *common,
            )
        )
        with distributed.Client(address, timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
        out = tmp_path / "night"
        with pytest.raises(BatchError, match="no worker of the cluster declares MEMORY >= 8"):
            run_batch(obs, out, scheduler=address, memory_per_job=8)
        result = run_batch(obs, out, scheduler=address, memory_per_job=1.5, reports=False)
        assert result.exit_status == 1
        assert [r.ob for r in result.failed] == ["ob_bad"]
        _check_two_results(out)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_worker_killed_mid_job_is_retried_without_partial_output(tmp_path, client):
    ob = _write_ob(tmp_path, "ob_kill", size=512, seed=5, mm_nsimulations=6)
    out = tmp_path / "out"
    (pid,) = client.run(os.getpid).values()
    box: list = []
    events: list = []

    def batch():
        box.append(
            run_batch(
                [ob], out, client=client, reports=False, on_update=lambda *e: events.append(e[:2])
            )
        )

    runner = threading.Thread(target=batch)
    runner.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the job's hidden stage, then kill
        if out.is_dir() and any(n.startswith(".ob_kill.batch-") for n in os.listdir(out)):
            break
        time.sleep(0.005)
    assert not (out / "ob_kill").exists()
    os.kill(pid, signal.SIGKILL)
    runner.join(timeout=180)
    assert not runner.is_alive()
    (res,) = box[0].results
    assert res.status == "done"
    assert any(w.startswith("retried:") for w in res.warnings)
    assert [e for e in events if e[0] != "finished"] == [
        ("start", "1"),
        ("running", "ob_kill"),
        ("restarted", "ob_kill"),
    ]
    assert (out / "ob_kill" / "crmasks.fits").is_file()
    assert _hidden(out) == []
    assert pid not in client.run(os.getpid).values()
