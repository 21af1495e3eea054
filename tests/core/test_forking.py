"""customhouse.forking: work in a forked child, its result back through a pipe."""

from __future__ import annotations

import os

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
