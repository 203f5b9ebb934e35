"""fork_imap: closures run in forked workers, results in order, failures surface."""

from __future__ import annotations

import os

import numpy as np
import pytest

from megara_crplugin._forkmap import fork_context, fork_imap

pytestmark = pytest.mark.skipif(fork_context() is None, reason="no 'fork' start method here")


def test_closure_over_an_array_ordered_and_unordered():
    big = np.arange(12.0).reshape(3, 4)  # inherited by the fork, never pickled

    def row_sum(i):
        return i, float(big[i].sum()), os.getpid()

    ordered = list(fork_imap(row_sum, 3, 2))
    assert [r[:2] for r in ordered] == [(0, 6.0), (1, 22.0), (2, 38.0)]
    assert os.getpid() not in {r[2] for r in ordered}  # really computed in workers
    assert sorted(r[:2] for r in fork_imap(row_sum, 3, 2, ordered=False)) == [
        (0, 6.0),
        (1, 22.0),
        (2, 38.0),
    ]


def test_exception_in_a_worker_is_raised_in_the_parent():
    def fail_on_two(i):
        if i == 2:
            raise ValueError("bad item 2")
        return i

    with pytest.raises(ValueError, match="bad item 2"):
        list(fork_imap(fail_on_two, 4, 2))


def test_a_dying_worker_is_reported_not_waited_for():
    def die(i):
        os._exit(3)

    with pytest.raises(RuntimeError, match=r"exited \(code 3\) before sending"):
        list(fork_imap(die, 2, 2))


def test_an_interrupt_during_the_fork_is_delivered_after_it_in_ordinary_code():
    """Held while forking (not lost in an at-fork callback), raised once the fork is done.

    Sent to the main thread itself: a signal sent to the process may be taken
    by another thread still alive from an earlier test (a flake of the first
    form of this test, ``os.kill``), whose mask is not the main thread's.
    """
    import signal
    import threading

    from megara_crplugin import _forkmap

    reached = []
    # Python's own handler, whatever an earlier test (or the runner) installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _forkmap._signals_held():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # in the fork
                reached.append("fork done")  # not interrupted here
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached == ["fork done"]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_workers_forked_with_held_signals_receive_them():
    import signal

    from megara_crplugin._forkmap import fork_imap

    def blocked(_):
        return sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    assert list(fork_imap(blocked, 2, workers=2)) == [[], []]
