"""OpenMP thread count of already loaded native libraries (astroscrappy's libgomp).

astroscrappy runs its filters in OpenMP loops with one thread per core (the
L.A.Cosmic engine still calls its Laplacian, and runs the numpy forms of its
medians in as many threads: :func:`native_threads`).
When the pipeline runs several detector calls at once in forked workers, each
worker would start one OpenMP thread per core: ``workers x cores`` busy
threads on ``cores`` cores.  :func:`limit_openmp` sets the OpenMP thread count
of every OpenMP runtime mapped into *this* process (found in
``/proc/self/maps``, so it also finds the copies that wheels vendor under a
hashed name) through its public ``omp_set_num_threads`` call.  The results do
not depend on the thread count (each output pixel is computed by one thread).
No effect, and no error, where ``/proc`` or the runtime is absent.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re

_log = logging.getLogger(__name__)

_OPENMP = re.compile(r"lib(g|i|)omp[-.\w]*\.so")


def _openmp_libraries() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if _OPENMP.search(os.path.basename(p)))


def limit_openmp(n_threads: int) -> int:
    """Set the OpenMP thread count of every loaded OpenMP runtime, and of those loaded later.

    The loaded ones through ``omp_set_num_threads``; ``OMP_NUM_THREADS`` is set
    in this process's environment for a runtime loaded afterwards (a detector
    worker imports astroscrappy only on its first call: before, the worker's
    runtime was not loaded yet and started one thread per core, so two
    workers ran four threads on two cores).

    Parameters
    ----------
    n_threads : int
        Threads per parallel region (>= 1).

    Returns
    -------
    int
        Number of runtimes changed (0 when none is loaded).
    """
    n_threads = max(1, int(n_threads))
    # a runtime loaded later (astroscrappy is imported on its first call) reads this
    os.environ["OMP_NUM_THREADS"] = str(n_threads)
    changed = 0
    for path in _openmp_libraries():
        try:
            lib = ctypes.CDLL(path)
            lib.omp_set_num_threads(ctypes.c_int(n_threads))
        except (OSError, AttributeError):
            continue
        changed += 1
    _log.debug("OpenMP threads set to %d in %d runtime(s)", n_threads, changed)
    return changed


def native_threads() -> int:
    """Threads that native filters may use in this process (>= 1).

    ``OMP_NUM_THREADS`` when it is set (what :func:`limit_openmp` gave a
    detector worker, or the user's setting), else one per core: the count an
    OpenMP runtime would use.  Read by the numpy forms of astroscrappy's filters
    (:mod:`megara_crplugin.detectors._lacosmic_steps`), which run strips in
    threads instead of OpenMP loops.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        return max(1, int(value))
    except ValueError:
        return max(1, os.cpu_count() or 1)


def workers_and_threads(n_jobs: int | None, n_calls: int) -> tuple[int, int]:
    """Split ``n_jobs`` cores between worker processes and OpenMP threads.

    Parameters
    ----------
    n_jobs : int or None
        Cores to use (None: all of :func:`os.cpu_count`).
    n_calls : int
        Number of independent calls to run.

    Returns
    -------
    workers, threads : int
        ``workers * threads <= max(n_jobs, 1)``; both >= 1.
    """
    n_cores = cores(n_jobs)
    workers = max(1, min(n_cores, n_calls))
    return workers, max(1, n_cores // workers)


def cores(n_jobs: int | None) -> int:
    """Cores a run may use: ``n_jobs`` (the ``jobs`` parameter), 0 or None = all (>= 1)."""
    return max(1, int(n_jobs) if n_jobs else (os.cpu_count() or 1))


def call_rounds(n_jobs: int | None, n_calls: int) -> list[tuple[range, int, int]]:
    """Rounds of independent calls: ``(calls, workers, threads)`` for each.

    As many full rounds of :func:`workers_and_threads`'s workers as the calls
    fill, then the remaining calls (fewer than the workers), each with more
    OpenMP threads, so that no core idles while the last call runs.  For 5
    calls on 2 cores: 4 calls in 2 workers of 1 thread, then 1 call with 2.

    Parameters
    ----------
    n_jobs : int or None
        Cores to use (None or 0: all).
    n_calls : int
        Number of calls (>= 0).

    Returns
    -------
    list of (range, int, int)
        The calls of each round (indices), its workers and threads per worker
        (``workers * threads <= cores``).
    """
    n_cores = cores(n_jobs)
    workers, threads = workers_and_threads(n_jobs, n_calls)
    full = (n_calls // workers) * workers
    out = [(range(0, full), workers, threads)] if full else []
    rest = n_calls - full
    if rest:
        out.append((range(full, n_calls), rest, max(1, n_cores // rest)))
    return out


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime is mapped into this process already.

    GNU libgomp is not fork-safe: a forked child whose parent has run a
    parallel region hangs in its first parallel region of more than one
    thread (the parent's pool threads do not exist in the child).  Forked
    workers of such a parent must keep one thread.
    """
    return bool(_openmp_libraries())
