"""One call run in the background, its exception re-raised where it is joined.

``megara-crmasks PARAMS.yaml`` draws the reports while the main thread
computes and writes the combinations.  matplotlib holds the GIL most of the
time, so in a thread the figures slowed the combinations down; where
``fork`` exists the call runs in a forked child instead (``process=True``):
it sees the result copy-on-write, the two cores really work at once, and its
log records and warnings are replayed in the parent when it is joined.
Nothing here is specific to the reports.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from ._forkmap import ForkedCall, fork_context

__all__ = ["BackgroundCall"]


class _Keep(logging.Handler):
    """Keeps the records (message formatted, picklable) for the parent."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


def _in_child(func: Callable[[], Any]):
    """Run ``func()`` with the root logger's records and the warnings kept, not printed.

    The parent's handlers (a terminal console shared with its progress
    display) are not used from the child.
    """
    keep = _Keep()
    root = logging.getLogger()
    root.handlers = [keep]
    logging.captureWarnings(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        value = func()
    notes = [(str(w.message), w.category) for w in caught]
    return value, keep.records, notes


class BackgroundCall:
    """Run ``func()`` in the background now; :meth:`result` waits for it.

    Parameters
    ----------
    func : callable
        Called once, without arguments.
    name : str, optional
        Thread name (for debuggers and logs).
    process : bool, optional
        Run it in a forked child (where ``fork`` exists; a thread otherwise):
        for work that holds the GIL.  Its value must then be picklable, and
        what it changes in memory stays in the child.
    """

    def __init__(
        self, func: Callable[[], Any], name: str = "background", *, process: bool = False
    ) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._forked: ForkedCall | None = None
        self._thread: threading.Thread | None = None
        if process and fork_context() is not None:
            self._forked = ForkedCall(lambda: _in_child(func))
            return
        self._thread = threading.Thread(target=self._run, args=(func,), name=name, daemon=True)
        self._thread.start()

    def _run(self, func: Callable[[], Any]) -> None:
        try:
            self._value = func()
        except BaseException as exc:  # handed to the thread that joins
            self._error = exc

    def cancel(self) -> None:
        """Stop a forked call now (its value, records and warnings are dropped).

        A thread cannot be stopped: it is waited for, and its exception dropped.
        """
        if self._forked is not None:
            self._forked.cancel()
        elif self._thread is not None:
            self._thread.join()

    def result(self) -> Any:
        """Wait for the call; return its value or raise its exception."""
        if self._forked is not None:
            value, records, notes = self._forked.result()
            for record in records:
                logging.getLogger(record.name).handle(record)
            for message, category in notes:
                warnings.warn(message, category, stacklevel=2)
            return value
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
