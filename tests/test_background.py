"""A call in a background thread, its result and exception where it is joined."""

from __future__ import annotations

import threading

import pytest

from megara_crplugin._background import BackgroundCall


def test_the_call_runs_while_the_caller_goes_on_and_returns_its_value():
    release = threading.Event()
    started = threading.Event()

    def work():
        started.set()
        assert release.wait(5), "the caller never went on"
        return 42

    call = BackgroundCall(work, name="test")
    assert started.wait(5)  # running already, before anyone waits for it
    release.set()  # only possible because the constructor did not block
    assert call.result() == 42


def test_the_exception_of_the_call_is_raised_by_result():
    def work():
        raise ValueError("figure failed")

    call = BackgroundCall(work)
    with pytest.raises(ValueError, match="figure failed"):
        call.result()


def test_a_forked_call_returns_its_value_from_another_process():
    import os

    call = BackgroundCall(lambda: (os.getpid(), 42), process=True)
    pid, value = call.result()
    assert value == 42 and pid != os.getpid()


def test_a_forked_call_raises_its_exception_and_replays_its_log_and_warnings(caplog):
    import logging
    import warnings

    def work():
        logging.getLogger("megara_crplugin.test").warning("drawn %d figures", 3)
        warnings.warn("a figure looks odd", UserWarning, stacklevel=1)
        return "done"

    with caplog.at_level(logging.INFO, logger="megara_crplugin"):
        with pytest.warns(UserWarning, match="a figure looks odd"):
            assert BackgroundCall(work, process=True).result() == "done"
    assert "drawn 3 figures" in caplog.text

    def fail():
        raise ValueError("figure failed in the child")

    with pytest.raises(ValueError, match="figure failed in the child"):
        BackgroundCall(fail, process=True).result()


def test_cancel_stops_a_forked_call_at_once_and_drops_its_value():
    import time

    def sleeper():
        time.sleep(30)
        return "never"

    call = BackgroundCall(sleeper, process=True)
    proc = call._forked._link[1]
    t0 = time.monotonic()
    call.cancel()
    assert time.monotonic() - t0 < 5.0
    assert not proc.is_alive() and proc.exitcode != 0
