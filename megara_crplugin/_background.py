"""One call run in a background thread, its exception re-raised where it is joined.

``megara-crmasks PARAMS.yaml`` draws the reports (matplotlib, which holds the
GIL most of the time) while the main thread computes and writes the
combinations (numpy and file writes, which release it): on two cores the
figures cost no wall time.  Nothing here is specific to the reports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundCall"]


class BackgroundCall:
    """Run ``func()`` in a daemon thread now; :meth:`result` waits for it.

    Parameters
    ----------
    func : callable
        Called once, without arguments, in the thread.
    name : str, optional
        Thread name (for debuggers and logs).
    """

    def __init__(self, func: Callable[[], Any], name: str = "background") -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func,), name=name, daemon=True)
        self._thread.start()

    def _run(self, func: Callable[[], Any]) -> None:
        try:
            self._value = func()
        except BaseException as exc:  # handed to the thread that joins
            self._error = exc

    def result(self) -> Any:
        """Wait for the call; return its value or raise its exception."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
