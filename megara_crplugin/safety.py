"""Ownership of output files: what the tool may create, replace or delete.

The rule (``docs/reliability.md``): the tool deletes or replaces only files it
created and can name -- its own output names (:data:`OUTPUT_PATTERNS`) and its
own hidden staging folder.  Before any pixel work, every output path is
checked: a path that resolves to an input file, an input lying in the output
directory under a name the run writes, or an existing directory where a file
is expected is refused with one line naming it.

:func:`staging` yields a hidden folder inside the output directory; all the
outputs are written there and moved into place only when the whole run
succeeded.  SIGINT and SIGTERM during the run remove the folder (SIGTERM is
turned into :class:`Terminated`); both are deferred while the finished files
are moved in, so a run either leaves its full set of files or the previous
set untouched.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .exceptions import InputError

__all__ = [
    "COMBINED_PATTERNS",
    "MASKS_PATTERNS",
    "OUTPUT_PATTERNS",
    "RECORD_PATTERNS",
    "REPORT_PATTERNS",
    "OutputError",
    "Terminated",
    "check_output_dir",
    "check_output_file",
    "check_output_names",
    "main_form_patterns",
    "one_line",
    "staging",
]

#: Names of the masks file of the main form.
MASKS_PATTERNS = ("crmasks.fits",)
#: Names of the combined images of the main form.
COMBINED_PATTERNS = ("combined_*.fits",)
#: Names of the diagnostic figures, tables and summary (``megara_crplugin.reports``).
REPORT_PATTERNS = (
    "diagnostic_*.png",
    "flux_factor*.png",
    "xyoffset_crosscorr_*.png",
    "image_number_at_median_position.png",
    "mediancr_identified_*.csv",
    "mediancr_identified_*.pdf",
    "problematic_pixels.csv",
    "problematic_pixels.pdf",
    "report.html",
)
#: The terminal record of the main form (``--record``).
RECORD_PATTERNS = ("terminal_output.txt",)
#: Every name the tool writes in an output directory (and only these may be removed).
OUTPUT_PATTERNS = MASKS_PATTERNS + COMBINED_PATTERNS + REPORT_PATTERNS + RECORD_PATTERNS

log = logging.getLogger(__name__)

_STAGE_PREFIX = ".megara-crmasks-"
#: Temporary names of ``megara_crplugin._atomic``.
_TEMPORARY = re.compile(r"^\.(.+)\.[0-9a-f]{16}\.tmp$")


class OutputError(InputError):
    """An output path the tool refuses to write, or an OS error while writing (one line)."""


class Terminated(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """SIGTERM received during a run (the staging folder is removed)."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.path.realpath(path)))


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _resolved(a) == _resolved(b)


def check_output_dir(path: str | os.PathLike, label: str) -> Path:
    """Refuse an output directory that is a file (or lies below a file).

    Parameters
    ----------
    path : path-like
        Output directory (created later, only when the run writes).
    label : str
        Name of the option in messages (e.g. ``--output_dir``).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{label} {p}: is a file, expected a directory")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{label} {p}: {parent} is a file, expected a directory")
            if not os.access(parent, os.W_OK | os.X_OK) and not p.exists():
                raise OutputError(f"{label} {p}: cannot create it ({parent} is not writable)")
            break
    if p.is_dir() and not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"{label} {p}: directory is not writable")
    return p


def check_output_file(
    path: str | os.PathLike, label: str, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Refuse an output file that is a directory or resolves to one of the inputs.

    Parameters
    ----------
    path : path-like
        Output file.
    label : str
        Name of the option in messages (e.g. ``--output_masks``).
    inputs : iterable of path-like
        Every file the run reads.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{label} {p}: is an existing directory, expected a file name")
    for src in inputs:
        if _same(p, Path(src)):
            raise OutputError(
                f"{label} {p}: is the input file {src}; choose another output name "
                "(inputs are never overwritten)"
            )
    check_output_dir(p.parent if str(p.parent) else Path("."), f"{label} {p}: folder")
    return p


def check_output_names(
    output_dir: str | os.PathLike,
    patterns: Sequence[str],
    inputs: Iterable[str | os.PathLike] = (),
    label: str = "--output_dir",
) -> None:
    """Refuse inputs and directories lying in ``output_dir`` under names the run writes.

    Parameters
    ----------
    output_dir : path-like
        Output directory.
    patterns : sequence of str
        Shell patterns of the names this run writes or may remove as stale.
    inputs : iterable of path-like
        Every file the run reads.
    label : str
        Name of the option in messages.

    Raises
    ------
    OutputError
    """
    out = Path(output_dir)
    if not out.is_dir():
        return
    real_out = _resolved(out)
    for src in inputs:
        src_path = Path(src)
        if _resolved(src_path).parent == real_out and _matches(src_path.name, patterns):
            raise OutputError(
                f"{label} {out}: the input file {src_path.name} lies there under a name the "
                "tool writes; move it or choose another output directory"
            )
    for entry in out.iterdir():
        if entry.is_dir() and _matches(entry.name, patterns):
            raise OutputError(
                f"{label} {out}: {entry.name} is a directory where the tool writes a file; "
                "move it or choose another output directory"
            )


def main_form_patterns(*, computing: bool) -> tuple[str, ...]:
    """Output names of the main form: combinations, plus masks and reports when computing."""
    return OUTPUT_PATTERNS if computing else COMBINED_PATTERNS


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (OS errors: file name and reason).

    A :class:`~megara_crplugin.config.ConfigError` keeps one line per problem.
    """
    if len(getattr(exc, "problems", ())) > 1:
        return "\n".join(" ".join(str(p).split()) for p in exc.problems)
    if isinstance(exc, OSError) and not isinstance(exc, InputError) and exc.strerror:
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def forget_keyboard_interrupt() -> None:
    """After a handled Ctrl-C, let ``python -m ...`` exit with the status returned.

    CPython run with ``-m`` remembers a KeyboardInterrupt that ended code run
    from a string (``exec``/``eval`` of source text, as ``dataclasses`` and
    ``namedtuple`` do while a module is imported) even when it was caught, and
    then ends the process by SIGINT whatever status it was given.  Evaluating
    any string resets that memory.
    """
    eval("None")  # noqa: S307 - a constant: only resets CPython's flag


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


class _Signals:
    """SIGTERM -> :class:`Terminated`; SIGINT/SIGTERM deferred while ``deferred`` is set."""

    def __init__(self):
        self.deferred = False
        self.pending: int | None = None
        self.received: int | None = None
        self.saved: dict[int, object] = {}
        self.pid = os.getpid()

    def handler(self, signum, frame):
        if os.getpid() != self.pid:  # a forked worker: end it quietly
            os._exit(128 + signum)
        if self.deferred:
            self.pending = signum
            return
        # remembered too: CPython may swallow an exception raised by a handler in a few
        # C paths (e.g. while compiling a module being imported); the commit checks it
        self.received = signum
        self.raise_for(signum)

    @staticmethod
    def raise_for(signum: int):
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.getsignal(sig)
            signal.signal(sig, self.handler)

    def restore(self) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)


@contextmanager
def staging(
    output_dir: str | os.PathLike,
    *,
    stale: Sequence[str] = (),
    protected: Iterable[str | os.PathLike] = (),
) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``output_dir``; move its files in on success.

    Parameters
    ----------
    output_dir : path-like
        Destination folder; created if missing and removed again when the run
        fails and the folder is still empty.
    stale : sequence of str
        Shell patterns of the tool's own output names: files in ``output_dir``
        matching them and not written by this run are removed on success
        (files only, never folders, never a ``protected`` file).
    protected : iterable of path-like
        Inputs of the run: never removed nor replaced.

    Yields
    ------
    Path
        The staging folder.

    Raises
    ------
    OutputError
        An OS error (disk full, permissions...), naming the output directory
        and never the staging folder.
    """
    out = Path(output_dir)
    created = _make_dirs(out)
    signals = _Signals()
    signals.install()
    stage = None
    committed = False
    try:
        try:
            stage = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=out))
            yield stage
            signals.deferred = True
            if signals.received is not None:  # the handler's exception was lost on the way
                signals.raise_for(signals.received)
            _commit(stage, out, stale, [Path(p) for p in protected])
            committed = True
        except OSError as exc:
            if not _is_output_error(exc, out):
                raise
            raise OutputError(_os_message(exc, out, stage)) from None
    finally:
        if os.getpid() == signals.pid:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            for d in created:
                try:
                    d.rmdir()  # only when still empty: the run failed before writing
                except OSError:
                    break
            signals.restore()
            if signals.pending is not None and committed:
                log.warning(
                    "signal %d received while the results were moved in: the run is complete",
                    signals.pending,
                )
            elif signals.pending is not None:
                signals.raise_for(signals.pending)


def _make_dirs(out: Path) -> list[Path]:
    """Create ``out`` and missing parents; return the ones created, deepest first."""
    missing = []
    p = out
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(_os_message(exc, out, None)) from None
    return missing


def _commit(stage: Path, out: Path, stale: Sequence[str], protected: list[Path]) -> None:
    new = sorted(stage.iterdir())
    names = {item.name for item in new}
    for item in new:
        target = out / item.name
        if target.is_dir() and not target.is_symlink():
            raise OutputError(f"{out}: {item.name} is a directory where the tool writes a file")
        if any(_same(target, p) for p in protected):
            raise OutputError(f"{out}: {item.name} is an input file; it is never overwritten")
    for item in new:
        os.replace(item, out / item.name)
    for entry in out.iterdir():
        if entry.name in names or entry.name.startswith(_STAGE_PREFIX):
            continue
        if not _matches(entry.name, stale) or (entry.is_dir() and not entry.is_symlink()):
            continue
        if any(_same(entry, p) for p in protected):
            continue
        entry.unlink()


def _is_output_error(exc: OSError, out: Path) -> bool:
    """True for OS errors about the output directory (or without a file name: disk full)."""
    if exc.filename is None:
        return True
    name = _resolved(os.fsdecode(exc.filename))
    real_out = _resolved(out)
    return name == real_out or real_out in name.parents


def _os_message(exc: OSError, out: Path, stage: Path | None) -> str:
    what = exc.strerror or str(exc)
    name = exc.filename
    if name is not None:
        name = Path(os.fsdecode(name))
        parts = name.parts
        hidden = [i for i, part in enumerate(parts) if part.startswith(_STAGE_PREFIX)]
        if hidden:  # never show the staging folder: name the final file instead
            rel = parts[hidden[0] + 1 :]
            name = out.joinpath(*rel) if rel else out
            match = _TEMPORARY.match(name.name)
            name = name.with_name(match.group(1)) if match else name
    where = f" ({name})" if name is not None and name != out else ""
    return f"output directory {out}: cannot write{where}: {what}"
