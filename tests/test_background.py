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
