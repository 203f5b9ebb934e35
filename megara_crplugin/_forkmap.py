"""Run independent calls in forked worker processes, with no module-level state.

The simulations and the Aux.Cosmic calls share large read-only arrays with the
workers copy-on-write.  :class:`multiprocessing.pool.Pool` pickles the function
it maps, so the package used to park the job in a module global before forking.
Here each worker is a ``fork`` :class:`multiprocessing.Process` whose target is
the caller's closure (inherited by the fork, never pickled); only the results
travel back, through one pipe per worker.  A failing call re-raises its
exception in the parent; a worker that dies raises :class:`RuntimeError`.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Any

__all__ = ["ForkedCall", "fork_context", "fork_imap"]


def fork_context():
    """A 'fork' multiprocessing context, or None where fork is unavailable."""
    if "fork" not in mp.get_all_start_methods():
        return None
    return mp.get_context("fork")


#: Signals held while a worker is forked (see :func:`_signals_held`).
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _signals_held():
    """Hold Ctrl-C and SIGTERM while forking; deliver them after.

    ``os.fork`` runs the at-fork callbacks of the parent (``logging`` releases
    its lock there): an interrupt raised inside one is printed as "Exception
    ignored" with a traceback and lost.  Held (blocked), the signal waits for
    the end of the fork and raises in ordinary code.  Main thread only (the
    mask is per thread, and only the main thread runs Python's handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker(func: Callable[[int], Any], items: range, conn) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)  # forked while they were held
    try:
        for i in items:
            try:
                conn.send(("ok", i, func(i)))
            except BaseException as exc:  # report it, the parent re-raises
                try:
                    conn.send(("error", i, exc))
                except Exception:  # the exception itself cannot be pickled
                    conn.send(("error", i, RuntimeError(traceback.format_exc())))
                return
    finally:
        conn.close()


def fork_imap(
    func: Callable[[int], Any], n_items: int, workers: int, *, ordered: bool = True
) -> Iterator[Any]:
    """Yield ``func(i)`` for ``i`` in ``range(n_items)``, computed in forked workers.

    Parameters
    ----------
    func : callable
        ``func(i)``; may be a closure over large arrays (inherited by the fork).
        Its results must be picklable.
    n_items : int
        Number of calls.
    workers : int
        Number of worker processes (>= 1; at most ``n_items`` are started).
    ordered : bool, optional
        Yield in index order (True) or as the results arrive.

    Raises
    ------
    RuntimeError
        If fork is unavailable or a worker exits without sending its results.
    Exception
        The exception raised by ``func`` in a worker.
    """
    ctx = fork_context()
    if ctx is None:
        raise RuntimeError("fork_imap: the 'fork' start method is not available")
    nproc = max(1, min(int(workers), n_items))
    links = []
    try:
        # objects that exist at the fork are left out of the workers' garbage collection,
        # which would otherwise write to (and so copy) every page holding one of them
        gc.freeze()
        try:
            for w in range(nproc):
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(func, range(w, n_items, nproc), send))
                proc.daemon = True
                with _signals_held():
                    proc.start()
                send.close()  # the child holds the only writer: EOF means it is done
                links.append((recv, proc, len(range(w, n_items, nproc))))
        finally:
            gc.unfreeze()
        yield from _collect(links, n_items, ordered)
    finally:
        for link in links:
            _reap(link)


def _reap(link) -> None:
    """Stop a worker that still runs (SIGTERM), wait for it, close its pipe."""
    recv, proc, _ = link
    if proc.is_alive():
        proc.terminate()
    proc.join()
    recv.close()


def _collect(links, n_items: int, ordered: bool) -> Iterator[Any]:
    pending = {recv: (proc, expected) for recv, proc, expected in links}
    received = {recv: 0 for recv in pending}
    buffer: dict[int, Any] = {}
    next_index = 0
    while pending:
        for recv in wait(list(pending)):
            try:
                tag, i, payload = recv.recv()
            except EOFError:
                proc, expected = pending.pop(recv)
                if received[recv] < expected:
                    proc.join()
                    raise RuntimeError(
                        f"a worker process exited (code {proc.exitcode}) before sending "
                        f"{expected - received[recv]} of its {expected} results"
                    ) from None
                continue
            if tag == "error":
                raise payload
            received[recv] += 1
            if not ordered:
                yield payload
                continue
            buffer[i] = payload
            while next_index in buffer:
                yield buffer.pop(next_index)
                next_index += 1


class ForkedCall:
    """``func()`` started now in one forked child; :meth:`result` waits for it.

    The child inherits everything (copy-on-write): ``func`` may be a closure
    over large arrays.  Its value must be picklable; its exception is raised
    by :meth:`result`.  Fork from the main thread, with no other thread
    holding a lock the child needs.

    Raises
    ------
    RuntimeError
        If fork is unavailable; from :meth:`result`, if the child died.
    """

    def __init__(self, func: Callable[[], Any]) -> None:
        ctx = fork_context()
        if ctx is None:
            raise RuntimeError("ForkedCall: the 'fork' start method is not available")
        recv, send = ctx.Pipe(duplex=False)
        gc.freeze()  # as in fork_imap: the child's collections do not copy the heap
        try:
            proc = ctx.Process(target=_worker, args=(lambda i: func(), range(1), send))
            proc.daemon = True
            with _signals_held():
                proc.start()
        finally:
            gc.unfreeze()
        send.close()
        self._link = (recv, proc, 1)

    def cancel(self) -> None:
        """Stop the child now (SIGTERM) if it still runs, and reap it; its value is lost."""
        _reap(self._link)

    def result(self) -> Any:
        """Wait for the child; return ``func()``'s value or raise its exception."""
        try:
            return next(_collect([self._link], 1, True))
        finally:
            _reap(self._link)
