"""customhouse.forking: work in a forked child, its result back through a pipe."""

from __future__ import annotations

import os

import pytest

from customhouse.forking import Forked, safe


def test_result_comes_back_and_the_child_sees_the_parent_state() -> None:
    state = {"rules": list(range(1000))}  # inherited, never pickled to the child
    child = Forked(lambda: (os.getpid(), sum(state["rules"]), b"x" * 300_000))  # more than a pipe holds
    pid, total, blob = child.result() or (0, 0, b"")
    assert pid not in (0, os.getpid()) and total == 499_500 and len(blob) == 300_000


def test_a_failing_child_gives_none_and_leaves_this_process_alone() -> None:
    def boom() -> int:
        raise RuntimeError("no")

    assert Forked(boom).result() is None

    def unpicklable() -> object:
        return lambda: 1

    assert Forked(unpicklable).result() is None
    assert safe()  # pytest's process: one thread (xdist workers too)


def test_a_fork_that_cannot_start_leaves_the_work_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """fork() failing (a process limit: EAGAIN) is not an error: `result()` is None, nothing leaks."""

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", no_fork)
    child = Forked(lambda: 1)
    assert child.result() is None and child.result() is None
    assert len(os.listdir("/proc/self/fd")) == before
