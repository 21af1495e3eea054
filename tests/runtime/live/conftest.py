"""The live runtime tests share one kernel, and the kernel has one audit daemon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.live.common import kernel_exclusive


@pytest.fixture(scope="module", autouse=True)
def one_module_at_a_time() -> Iterator[None]:
    """Each module here starts agents that register as the audit daemon (and guards that mark
    mounts with fanotify); two at once, on two xdist workers, would refuse each other. So a
    module holds an exclusive lock from before its first fixture to after its last teardown,
    and a worker that reaches another module meanwhile waits. (`xdist_group` would say this,
    but with pytest 9 and xdist 3.8 it no longer keeps a group on one worker.)"""
    with kernel_exclusive():
        yield
