"""Many OBs at once on dask.distributed: :func:`run_batch` (``megara-crmasks batch``).

Every OB is one parameter file of the main YAML form and one dask task
(:func:`megara_crplugin.batch_job.run_ob`) that writes ``DIR/<file stem>/``
through its own hidden staging folder.  Without a scheduler address a
:class:`distributed.LocalCluster` sized to this machine's cores and memory is
started for the batch and closed after it; with one the tasks go to that
cluster, whose workers must have this package installed and see the parameter
files, the images and ``DIR`` under the same paths as this process.

A failing OB is reported with its one-line error and the others go on.  A task
whose worker is lost mid-job is run once more on another worker (the local
cluster's scheduler allows one failure per task; give an existing scheduler
``distributed.scheduler.allowed-failures: 1``); a second loss fails the OB.
The summary (OB, status, time, MEDIANCR pixels, warnings, error) is written as
``DIR/batch_summary.csv``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import write_text
from .batch_job import clean_stale, run_ob

__all__ = [
    "DEFAULT_MEMORY_PER_JOB",
    "SUMMARY_NAME",
    "BatchError",
    "BatchResult",
    "OBResult",
    "local_cluster",
    "run_batch",
]

log = logging.getLogger("megara_crplugin.batch")

#: Memory reserved for one OB when sizing the local cluster (GB); a full-size
#: MEGARA triplet with ``mmcosmic`` peaks at about 3.1 GB (benchmarks/results.md).
DEFAULT_MEMORY_PER_JOB = 4.0
#: Summary file written into the batch output directory.
SUMMARY_NAME = "batch_summary.csv"
#: Seconds allowed to reach an existing scheduler.
CONNECT_TIMEOUT = 30
_GIB = 2**30


class BatchError(ValueError):
    """A batch that cannot start (bad option or OB list); one line, nothing run."""


@dataclass(frozen=True)
class OBResult:
    """Outcome of one OB.

    Attributes
    ----------
    ob : str
        OB name (the parameter file's stem); results in ``output``.
    status : str
        ``"done"``, ``"skipped"`` (``resume``: unchanged, complete) or ``"failed"``.
    seconds : float
        Wall-clock time of the task (s); 0 when the task never ran.
    mediancr_pixels : int or None
        Pixels flagged in MEDIANCR (True = cosmic ray); None when failed.
    warnings : tuple of str
        One-line warnings of the job.
    error : str or None
        One-line error of a failed OB.
    output : str
        The OB's result folder ``DIR/<stem>``.
    """

    ob: str
    status: str
    seconds: float
    mediancr_pixels: int | None
    warnings: tuple[str, ...]
    error: str | None
    output: str

    @classmethod
    def from_task(cls, d: dict[str, Any]) -> OBResult:
        """Build from the dictionary that :func:`~megara_crplugin.batch_job.run_ob` returns."""
        return cls(
            ob=d["ob"],
            status=d["status"],
            seconds=float(d.get("seconds") or 0.0),
            mediancr_pixels=d.get("mediancr_pixels"),
            warnings=tuple(d.get("warnings") or ()),
            error=d.get("error"),
            output=d["output"],
        )


@dataclass
class BatchResult:
    """All OB outcomes of a batch, in the order of the parameter files.

    Attributes
    ----------
    results : list of OBResult
    summary_csv : Path
        ``DIR/batch_summary.csv``.
    """

    results: list[OBResult] = field(default_factory=list)
    summary_csv: Path | None = None

    @property
    def failed(self) -> list[OBResult]:
        """The OBs that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_status(self) -> int:
        """0 when no OB failed, else 1."""
        return 1 if self.failed else 0


def _gb(value: float) -> str:
    return f"{value:.1f} GB"


@contextmanager
def local_cluster(workers: int | None = None, memory_per_job: float | None = None) -> Iterator:
    """A :class:`distributed.LocalCluster` on 127.0.0.1 sized for OB jobs.

    Parameters
    ----------
    workers : int, optional
        Worker processes (one thread each).  Default: as many as there are
        cores (cgroup and affinity limits included), but no more than fit in
        the memory (likewise) at ``memory_per_job`` each.
    memory_per_job : float, optional
        Memory of one job (GB; in the whole batch 1 GB = 2**30 bytes).
        Default :data:`DEFAULT_MEMORY_PER_JOB` for the sizing; when given,
        every worker must have at least that much.

    Yields
    ------
    distributed.LocalCluster
        Workers declare the resource ``MEMORY`` (GB, their memory limit); the
        scheduler allows one lost worker per task (the task is run once more).
    """
    import dask
    from dask.system import CPU_COUNT
    from distributed import LocalCluster
    from distributed.system import MEMORY_LIMIT

    total = MEMORY_LIMIT / _GIB
    per_job = memory_per_job or DEFAULT_MEMORY_PER_JOB
    n = workers or max(1, min(CPU_COUNT, int(total // per_job)))
    limit = total / n
    if memory_per_job and memory_per_job > limit:
        raise BatchError(
            f"--memory-per-job {memory_per_job:g}: {n} worker(s) share {_gb(total)} here "
            f"({_gb(limit)} each); give fewer --workers or a smaller --memory-per-job"
        )
    settings = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
    }
    # the settings stay in force while the cluster lives: a nanny restarting a
    # lost worker reads them again
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            memory_limit=int(limit * _GIB),
            resources={"MEMORY": limit},
            host="127.0.0.1",
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )
        log.info("local cluster: %d worker(s), %s each", n, _gb(limit))
        try:
            yield cluster
        finally:
            cluster.close()


def _check_obs(params_files: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    if isinstance(params_files, (str, os.PathLike)):
        params_files = [params_files]
    if not params_files:
        raise BatchError("no OB parameter file given")
    obs: dict[str, Path] = {}
    for f in params_files:
        path = Path(f).absolute()
        if path.stem in obs:
            raise BatchError(
                f"{obs[path.stem]} and {path}: both would write {path.stem}/; rename one of them"
            )
        obs[path.stem] = path
    return list(obs.items())


def _check_memory(client, memory_per_job: float) -> None:
    """An existing cluster must have a worker declaring MEMORY >= memory_per_job."""
    workers = client.scheduler_info().get("workers", {}).values()
    best = max((w.get("resources", {}).get("MEMORY", 0) for w in workers), default=0)
    if best < memory_per_job:
        raise BatchError(
            f"--memory-per-job {memory_per_job:g}: no worker of the cluster declares "
            f"MEMORY >= {memory_per_job:g} (start workers with --resources MEMORY=<GB>)"
        )


@contextmanager
def _client(scheduler, client, workers, memory_per_job) -> Iterator:
    from distributed import Client

    if client is not None:
        yield client
        return
    if scheduler is None:
        with local_cluster(workers, memory_per_job) as cluster, Client(cluster) as c:
            yield c
        return
    try:
        c = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as exc:  # OSError includes timeouts
        lines = str(exc).strip().splitlines()
        why = lines[0] if lines else type(exc).__name__
        raise BatchError(f"--scheduler {scheduler}: cannot connect ({why})") from exc
    try:
        yield c
    finally:
        c.close()


def _task(topic: str, params_file: str, out_root: str, stem: str, **kw: Any) -> dict[str, Any]:
    """The dask task: announce the start of OB ``stem`` on ``topic``, then run it."""
    from distributed import get_worker

    get_worker().log_event(topic, {"ob": stem})
    return run_ob(params_file, out_root, stem, **kw)


def _failure(stem: str, out: Path, exc: BaseException | None) -> OBResult:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        error = "worker lost twice while running this OB (killed or out of memory)"
    elif exc is None:
        error = "task cancelled (scheduler or client lost)"
    else:
        lines = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return OBResult(stem, "failed", 0.0, None, (), error, str(out / stem))


def _collect(client, futures: dict, topic: str, out: Path, on_update) -> dict[str, OBResult]:
    """Wait for the tasks, reporting running / finished OBs as they change."""
    pending = dict(futures)
    starts: dict[str, int] = {}  # attempts seen per OB (a lost worker's task starts again)
    results: dict[str, OBResult] = {}
    while pending:
        for stem, fut in list(pending.items()):
            if not fut.done():
                continue
            del pending[stem]
            if fut.status == "finished":
                res = OBResult.from_task(fut.result())
            else:
                res = _failure(stem, out, fut.exception() if fut.status == "error" else None)
                clean_stale(out, stem)
            results[stem] = res
            on_update("finished", stem, res)
        if not pending:
            break
        now = Counter(m.get("ob") for _, m in client.get_events(topic) if isinstance(m, dict))
        for stem in sorted(set(now) & set(pending)):
            if now[stem] > starts.get(stem, 0):
                on_update("running" if stem not in starts else "restarted", stem, None)
                starts[stem] = now[stem]
        time.sleep(0.2)
    return results


def _log_update(event: str, stem: str, res: OBResult | None) -> None:
    if event == "running":
        log.info("OB %s: running", stem)
    elif event == "restarted":
        log.warning("OB %s: its worker was lost; running it again", stem)
    elif res.status == "failed":
        log.error("OB %s: failed: %s", stem, res.error)
    elif res.status == "skipped":
        log.info("OB %s: skipped (complete, inputs and parameters unchanged)", stem)
    else:
        more = f", {len(res.warnings)} warning(s)" if res.warnings else ""
        log.info(
            "OB %s: done in %.1f s, MEDIANCR %d pixels%s",
            stem,
            res.seconds,
            res.mediancr_pixels,
            more,
        )


def write_summary(results: Sequence[OBResult], path: Path) -> Path:
    """Write the batch summary CSV (one row per OB) atomically and return its path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["ob", "status", "seconds", "mediancr_pixels", "warnings", "error", "output"])
    for r in results:
        writer.writerow(
            [
                r.ob,
                r.status,
                f"{r.seconds:.2f}",
                "" if r.mediancr_pixels is None else r.mediancr_pixels,
                " | ".join(r.warnings),
                r.error or "",
                r.output,
            ]
        )
    return write_text(path, buf.getvalue())


def run_batch(
    params_files: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    client=None,
    workers: int | None = None,
    memory_per_job: float | None = None,
    resume: bool = False,
    reports: bool = True,
    on_update: Callable[[str, str, OBResult | None], None] | None = None,
) -> BatchResult:
    """Run many OBs (parameter files of the main YAML form), one dask task each.

    Parameters
    ----------
    params_files : sequence of path-like
        One YAML parameter file per OB; OB name = file stem (must be unique).
    output_dir : path-like
        ``DIR``: OB results go to ``DIR/<stem>/``; the summary to
        ``DIR/batch_summary.csv``.
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:port``); default: a
        local cluster started and closed here (see :func:`local_cluster`).
    client : distributed.Client, optional
        Use this client instead (neither ``scheduler`` nor ``workers``).
    workers : int, optional
        Workers of the local cluster.
    memory_per_job : float, optional
        Memory of one job (GB): sizes the local cluster, and every task asks
        for this much of the workers' ``MEMORY`` resource.
    resume : bool, optional
        Skip OBs whose result is complete and whose inputs and parameters
        are unchanged (checksums recorded with the results).
    reports : bool, optional
        Write the figures and tables of every OB.
    on_update : callable, optional
        ``on_update(event, ob, result)`` with event ``"start"`` (ob = number
        of OBs as str), ``"running"``, ``"restarted"`` (after a lost worker) or
        ``"finished"`` (result given).

    Returns
    -------
    BatchResult
        Per-OB results; ``exit_status`` is 1 when any OB failed.

    Raises
    ------
    BatchError
        Bad options or OB list, or an unreachable scheduler (nothing run).
    """
    obs = _check_obs(params_files)
    if client is not None and (scheduler is not None or workers is not None):
        raise BatchError("client: give either a client or scheduler/workers, not both")
    if scheduler is not None and workers is not None:
        raise BatchError(f"--workers: only for the local cluster, not with --scheduler {scheduler}")
    if workers is not None and workers < 1:
        raise BatchError(f"--workers: expected an integer >= 1, got {workers}")
    if memory_per_job is not None and not memory_per_job > 0:
        raise BatchError(f"--memory-per-job: expected a number of GB > 0, got {memory_per_job}")
    out = Path(output_dir).absolute()
    if out.exists() and not out.is_dir():
        raise BatchError(f"--output_dir {out}: exists and is not a folder")

    def update(event: str, stem: str, res: OBResult | None) -> None:
        if event != "start":
            _log_update(event, stem, res)
        if on_update is not None:
            on_update(event, stem, res)

    batch_id = secrets.token_hex(4)
    results: dict[str, OBResult] = {}
    try:
        with _client(scheduler, client, workers, memory_per_job) as c:
            if memory_per_job is not None and (scheduler is not None or client is not None):
                _check_memory(c, memory_per_job)
            try:
                out.mkdir(parents=True, exist_ok=True)  # once the cluster is there
            except OSError as exc:
                raise BatchError(f"--output_dir {out}: cannot create it ({exc.strerror})") from exc
            update("start", str(len(obs)), None)
            resources = {"MEMORY": memory_per_job} if memory_per_job else None
            topic = f"megara-crmasks-batch-{batch_id}"
            futures = {
                stem: c.submit(
                    _task,
                    topic,
                    str(path),
                    str(out),
                    stem,
                    reports=reports,
                    resume=resume,
                    key=f"megara-crmasks-batch-{batch_id}-{stem}",
                    pure=False,
                    retries=1,
                    resources=resources,
                )
                for stem, path in obs
            }
            results = _collect(c, futures, topic, out, update)
    finally:
        for stem, _ in obs:
            if stem not in results:
                clean_stale(out, stem)  # an interrupted batch leaves nothing hidden
    ordered = [results[stem] for stem, _ in obs]
    return BatchResult(ordered, write_summary(ordered, out / SUMMARY_NAME))
