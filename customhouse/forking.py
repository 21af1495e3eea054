"""A function run in a forked child process, its result sent back pickled through a pipe.

Scans split CPU-bound work this way (`fs` over parts of a tree, the Kubernetes tree-level
checks over groups of checks): the child inherits everything already loaded (compiled rules,
parsed documents, imported checks) without any of it being pickled, and only its result
crosses the pipe. A bare fork, not a multiprocessing pool, because a pool's start-up costs
more than a second core saves on work of a few tenths of a second.

Callers fork only from a single-threaded process (`safe`): a child of a threaded one can
inherit a lock another thread held and hang. A child that fails, or whose result cannot be
read, makes `result()` return None, and the caller does the work itself.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def safe() -> bool:
    """Whether this process may fork workers: it has `fork` and runs a single thread."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


class Forked(Generic[T]):
    """`fn()` running in a child process from construction on; `result()` collects it once."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._pid, self._fd = 0, -1
        try:
            r, w = os.pipe()
        except OSError:  # out of descriptors: `result()` says None, the caller does the work
            return
        try:
            pid = os.fork()
        except OSError:  # a process limit (EAGAIN), out of memory: the same
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: compute, write the pickled result, exit without any cleanup
            code = 1
            try:
                os.close(r)
                import gc

                gc.disable()  # short-lived; everything it allocates is sent back or dropped at exit
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(w, "wb") as fh:
                    fh.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self._pid, self._fd = pid, r

    def result(self) -> T | None:
        """The child's return value (`fn` must not return None), or None when it failed or was
        never started. Call it once, also when the caller's own work failed (`try`/`finally`),
        so the child is reaped and its pipe closed."""
        if self._fd < 0:
            return None
        fd, self._fd = self._fd, -1
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        _, status = os.waitpid(self._pid, 0)
        if status != 0 or not data:
            return None
        try:
            got: T = pickle.loads(data)
        except Exception:  # a truncated or otherwise unreadable result
            return None
        return got
