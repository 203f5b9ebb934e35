"""Terminal side of a run: rich progress display, logging set-up, ``--record``.

Only the command-line shell calls :func:`setup_logging`; library code just
logs.  :class:`RichProgress` implements the :class:`~megara_crplugin.hooks.Progress`
protocol the core calls (``phase(name, total=None)`` yielding ``advance(n=1)``).
This module does not import matplotlib.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._common import write_text

__all__ = [
    "LOG_LEVELS",
    "RECORD_FILENAME",
    "RichProgress",
    "save_record",
    "setup_logging",
]

#: Accepted values of ``--log-level``.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: File written by ``--record`` when :func:`save_record` is given a directory.
RECORD_FILENAME = "terminal_output.txt"

_LOG = logging.getLogger(__name__)
_HANDLER_MARK = "_megara_crplugin_handler"


class RichProgress:
    """Rich progress display with one line per phase and its elapsed time.

    Parameters
    ----------
    console : rich.console.Console, optional
        Console to draw on (the one returned by :func:`setup_logging`, so the
        display and the log lines share it and ``--record`` captures both).
    transient : bool, optional
        Remove the display when the outermost phase ends.
    disable : bool, optional
        Draw nothing (timings are still measured).

    Attributes
    ----------
    timings : dict of str to float
        Wall-clock seconds per phase name (accumulated when a phase repeats).

    Notes
    -----
    Phases may nest; the live display starts with the outermost phase and
    stops when it ends.  A phase without ``total`` shows a pulsing bar and
    is marked complete when it ends.  Not thread-safe.
    """

    def __init__(self, *, console: Any = None, transient: bool = False, disable: bool = False):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=transient,
            disable=disable,
        )
        self._depth = 0
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Show one phase while the block runs; yield ``advance(n=1)``.

        Parameters
        ----------
        name : str
            Phase name (``simulations``, ``detectors``, ``masks``,
            ``combinations``, ``plots``, ...).
        total : int, optional
            Number of steps, if known.

        Yields
        ------
        callable
            ``advance(n=1)`` adds ``n`` completed steps.
        """
        if total is not None and (not isinstance(total, int) or total < 0):
            raise ValueError(f"total must be a non-negative integer or None, got {total!r}")
        progress = self._progress
        if self._depth == 0:
            progress.start()
        self._depth += 1
        task = progress.add_task(name, total=total)
        start = time.perf_counter()

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        try:
            yield advance
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = self.timings.get(name, 0.0) + elapsed
            if total is None:
                done = max(1.0, next(t.completed for t in progress.tasks if t.id == task))
                progress.update(task, total=done, completed=done)
            progress.stop_task(task)
            self._depth -= 1
            if self._depth == 0:
                progress.stop()
                for finished in list(progress.task_ids):  # the next run starts afresh
                    progress.remove_task(finished)
            _LOG.debug("phase %s: %.2f s", name, elapsed)


def setup_logging(level: str, *, record: bool = False) -> Any:
    """Send log records of every logger to a rich console (command-line use only).

    Parameters
    ----------
    level : str
        One of ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``
        (case-insensitive): the level of the ``megara_crplugin`` logger.
        Other loggers (the root logger) get ``max(level, WARNING)``.
    record : bool, optional
        Make the console record everything it prints, for :func:`save_record`
        (``--record``).

    Returns
    -------
    rich.console.Console
        The console the handler writes to; pass it to :class:`RichProgress`.

    Raises
    ------
    ValueError
        If ``level`` is not a known level name.

    Notes
    -----
    A handler installed by an earlier call is replaced, so calling twice does
    not duplicate lines.  Python warnings are routed to logging.
    """
    if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
        raise ValueError(f"level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(record=record)
    handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="[%X]")
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # the package's own logger gets the level asked for; other packages (matplotlib,
    # astropy, numina...) only their warnings, so DEBUG does not flood the terminal
    numeric = logging.getLevelName(level.upper())
    logging.getLogger("megara_crplugin").setLevel(numeric)
    root.setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
    return console


def save_record(console: Any, path: str | os.PathLike) -> Path:
    """Write what a recording console printed to a text file, atomically.

    Parameters
    ----------
    console : rich.console.Console
        Console created with ``record=True`` (see :func:`setup_logging`).
    path : path-like
        Output file, or an existing directory (``terminal_output.txt`` is
        written inside it).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the console does not record, or the parent directory is missing.
    """
    if not getattr(console, "record", False):
        raise ValueError("console does not record: create it with setup_logging(..., record=True)")
    target = Path(path)
    if target.is_dir():
        target = target / RECORD_FILENAME
    if not target.parent.is_dir():
        raise ValueError(f"path {str(path)!r}: directory {str(target.parent)!r} does not exist")
    return write_text(target, console.export_text(clear=False))
