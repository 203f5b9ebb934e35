"""One OB of ``megara-crmasks batch``: the task that a dask worker runs.

An OB is one parameter file of the main YAML form.  :func:`run_ob` runs the
same job as ``megara-crmasks OB.yaml`` into a hidden folder
``DIR/.<stem>.batch-<random>`` beside the final ``DIR/<stem>``, writes the
record ``batch_record.json`` (checksums of the inputs and of the parameter
file, the files written, the number of MEDIANCR pixels, the warnings) last,
and only then renames the folder to ``DIR/<stem>``.  A worker killed mid-job
therefore leaves only a hidden folder, which the next attempt at the same OB
(or the batch driver) removes; ``DIR/<stem>`` is either absent, the previous
complete result, or the new complete result.

The function never raises for a bad OB: it returns a plain dictionary with
``status`` ``"failed"`` and a one-line ``error``, so one bad OB does not stop
the others.  Only :class:`MemoryError` propagates (dask then retries once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import platform
import secrets
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._atomic import write_text
from ._version import __version__

__all__ = ["RECORD_NAME", "clean_stale", "input_files", "read_record", "run_ob"]

#: Name of the record written with every OB result (checksums, outputs).
RECORD_NAME = "batch_record.json"


def _stage_prefixes(stem: str) -> tuple[str, str]:
    return f".{stem}.batch-", f".{stem}.old-"


def clean_stale(out_root: str | os.PathLike, stem: str) -> int:
    """Remove the hidden folders that an interrupted attempt at OB ``stem`` left.

    Parameters
    ----------
    out_root : path-like
        The batch output directory ``DIR``.
    stem : str
        The OB name (parameter file stem).

    Returns
    -------
    int
        Number of folders removed (0 when the last attempt ended cleanly).
    """
    root = Path(out_root)
    if not root.is_dir():
        return 0
    removed = 0
    prefixes = _stage_prefixes(stem)
    for entry in root.iterdir():
        if entry.name.startswith(prefixes) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(params_file: str | os.PathLike) -> list[Path]:
    """The files an OB reads: its images and any gain/rnoise/bias FITS files.

    Parameters
    ----------
    params_file : path-like
        Parameter file of the main YAML form (validated as the main form does).

    Returns
    -------
    list of Path
        Absolute paths, images first (paths in the YAML are relative to its folder).
    """
    from .yaml_job import CLIError, is_fits_name, load_yaml

    params_file = Path(params_file)
    data = load_yaml(params_file)
    base = params_file.resolve().parent
    files = [base / name for name in data["images"]]
    for key in ("gain", "rnoise", "bias"):
        value = data.get(key)
        if is_fits_name(value):
            files.append(base / value)
    for path in files:
        if not path.is_file():
            raise CLIError(f"parameter file {params_file}: input {path}: file not found")
    return files


def checksums(params_file: str | os.PathLike, *, reports: bool) -> dict[str, Any]:
    """SHA-256 of the parameter file and of every input file, plus the run options."""
    params_file = Path(params_file)
    return {
        "parameters": _sha256(params_file),
        "inputs": {str(p): _sha256(p) for p in input_files(params_file)},
        "reports": bool(reports),
    }


def read_record(result_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The record of a finished OB result folder, or None if absent or unreadable."""
    path = Path(result_dir) / RECORD_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _complete(result_dir: Path, record: dict[str, Any]) -> bool:
    """True when every file the record lists is present with its recorded size."""
    outputs = record.get("outputs")
    if not isinstance(outputs, dict) or "crmasks.fits" not in outputs:
        return False
    for name, size in outputs.items():
        path = result_dir / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    from .config import ConfigError
    from .exceptions import InputError
    from .yaml_job import CLIError

    if isinstance(exc, (CLIError, ConfigError, InputError)) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class _WarningLog(logging.Handler):
    """Collects the package's WARNING (and worse) log records of one job."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0] if record.getMessage() else "")


@contextmanager
def _capture(notes: list[str]) -> Iterator[None]:
    """Record warnings and package log warnings of the job into ``notes``."""
    handler = _WarningLog()
    logger = logging.getLogger("megara_crplugin")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # each warning once per place
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            yield
    finally:
        logger.removeHandler(handler)
    for w in caught:
        first = str(w.message).strip().splitlines()
        notes.append(f"{w.category.__name__}: {first[0] if first else ''}")
    notes.extend(handler.messages)


_DAEMON_LOCK = threading.Lock()
_DAEMON_JOBS = [0, False]  # jobs inside _children_allowed, daemon flag before the first


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let the job fork its simulation workers inside a daemonic dask worker.

    A dask worker under a nanny is a daemonic process, and multiprocessing
    refuses children there; the job's pools are closed before it returns, so
    the flag is lifted while jobs run and restored when the last one ends
    (jobs may run in several threads of one worker).
    """
    proc = multiprocessing.current_process()
    with _DAEMON_LOCK:
        if _DAEMON_JOBS[0] == 0:
            _DAEMON_JOBS[1] = proc.daemon
            if proc.daemon:
                proc.daemon = False
        _DAEMON_JOBS[0] += 1
    try:
        yield
    finally:
        with _DAEMON_LOCK:
            _DAEMON_JOBS[0] -= 1
            if _DAEMON_JOBS[0] == 0 and _DAEMON_JOBS[1]:
                proc.daemon = True


def _mediancr_pixels(path: Path) -> int:
    import numpy as np
    from astropy.io import fits

    with fits.open(path) as hdul:
        return int(np.count_nonzero(hdul["MEDIANCR"].data))


def _promote(stage: Path, final: Path) -> None:
    """Rename the finished stage onto ``final`` (the previous result removed after)."""
    if not (final.exists() or final.is_symlink()):
        os.rename(stage, final)
        return
    old = final.parent / f"{_stage_prefixes(final.name)[1]}{secrets.token_hex(6)}"
    os.rename(final, old)
    os.rename(stage, final)
    shutil.rmtree(old, ignore_errors=True)


def _check_target(final: Path) -> None:
    from .yaml_job import CLIError

    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise CLIError(f"{final}: exists and is not a folder; remove it or choose another output")
    if final.is_dir() and read_record(final) is None and any(final.iterdir()):
        raise CLIError(
            f"{final}: exists and was not written by megara-crmasks batch; "
            "remove it or choose another --output_dir"
        )


def _result(stem: str, status: str, t0: float, **extra: Any) -> dict[str, Any]:
    out = {"ob": stem, "status": status, "seconds": round(time.perf_counter() - t0, 3)}
    out.update(extra)
    return out


def _new_stage(out_root: Path, stem: str) -> Path:
    """A new hidden folder beside the final one (mode 0o777 less the umask)."""
    while True:
        stage = out_root / f"{_stage_prefixes(stem)[0]}{secrets.token_hex(6)}"
        try:
            stage.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return stage


def _run_staged(params_file: Path, out_root: Path, stem: str, sums, reports, notes) -> int:
    """Run the job into a hidden stage, write the record, rename; return MEDIANCR pixels."""
    from .hooks import NullReviewer
    from .yaml_job import load_yaml, run_yaml

    t0 = time.perf_counter()
    if (load_yaml(params_file).get("requirements") or {}).get("interactive"):
        notes.append("interactive: no review windows in a batch; every feature accepted")
    stage = _new_stage(out_root, stem)
    try:
        argv = ["batch", str(params_file), "--output_dir", str(out_root)]
        if not reports:
            argv.append("--no-reports")
        with _children_allowed(), _capture(notes):
            # a worker never opens windows: the null reviewer accepts everything
            run_yaml(
                params_file, output_dir=stage, reports=reports, argv=argv, reviewer=NullReviewer()
            )
        npix = _mediancr_pixels(stage / "crmasks.fits")
        outputs = {
            str(p.relative_to(stage)): p.stat().st_size
            for p in sorted(stage.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }
        record = {
            "ob": stem,
            "params_file": str(params_file),
            "checksums": sums,
            "outputs": outputs,
            "mediancr_pixels": npix,
            "warnings": list(dict.fromkeys(notes)),
            "seconds": round(time.perf_counter() - t0, 3),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "node": platform.node(),
            "version": __version__,
        }
        write_text(stage / RECORD_NAME, json.dumps(record, indent=1) + "\n")
        _promote(stage, out_root / stem)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # nothing left when promoted
    return npix


def run_ob(
    params_file: str, out_root: str, stem: str, *, reports: bool = True, resume: bool = False
) -> dict[str, Any]:
    """Run one OB (the main YAML form's job) into ``out_root/stem``.

    Parameters
    ----------
    params_file : str
        Absolute path of the OB's parameter file.
    out_root : str
        Absolute path of the batch output directory (must exist).
    stem : str
        OB name; the results go to ``out_root/stem``.
    reports : bool, optional
        Write the figures and tables of the main form.
    resume : bool, optional
        Return ``status`` ``"skipped"`` without running when ``out_root/stem``
        holds a complete result whose recorded checksums (parameter file,
        inputs, ``reports``) equal the current ones.

    Returns
    -------
    dict
        ``ob``, ``status`` (``"done"``, ``"skipped"`` or ``"failed"``),
        ``seconds`` (wall-clock s), ``mediancr_pixels`` (pixels flagged in
        MEDIANCR, None when failed), ``warnings`` (list of one-line str),
        ``error`` (one line, None unless failed), ``output`` (str).
    """
    t0 = time.perf_counter()
    root, pfile = Path(out_root), Path(params_file)
    final = root / stem
    notes: list[str] = []
    if clean_stale(root, stem):
        notes.append("retried: an earlier attempt was interrupted; its partial output removed")
    common = {"output": str(final), "params_file": str(pfile)}
    try:
        sums = checksums(pfile, reports=reports)
        if resume:
            record = read_record(final)
            if record and record.get("checksums") == sums and _complete(final, record):
                return _result(
                    stem,
                    "skipped",
                    t0,
                    mediancr_pixels=record.get("mediancr_pixels"),
                    warnings=list(record.get("warnings") or []),
                    error=None,
                    **common,
                )
        _check_target(final)
        npix = _run_staged(pfile, root, stem, sums, reports, notes)
    except MemoryError:
        raise
    except Exception as exc:  # an OB's failure is reported, never raised
        return _result(
            stem,
            "failed",
            t0,
            mediancr_pixels=None,
            warnings=list(dict.fromkeys(notes)),
            error=_one_line(exc),
            **common,
        )
    return _result(
        stem,
        "done",
        t0,
        mediancr_pixels=npix,
        warnings=list(dict.fromkeys(notes)),
        error=None,
        **common,
    )
