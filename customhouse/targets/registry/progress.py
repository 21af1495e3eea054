"""Per-layer download bars on stderr, shown only when Settings.progress is set.

Layer downloads are the slow part of scanning a remote image, and a bar of bytes received is
the only sign that a large pull is moving rather than hung. The CLI may already run its own
live display (the layer counter) on stderr; two independent live displays on one terminal
overwrite each other, so both draw through the shared stderr console (customhouse.console).
"""

from __future__ import annotations

from typing import Any

from customhouse.console import stderr_console


class Task:
    """One layer's bar; a no-op when progress is off, so callers need not check."""

    def __init__(self, progress: Any = None, task_id: Any = None) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.update(self._id, advance=n)

    def restart(self, done: int) -> None:
        """After a resumed or restarted connection: show what is really in hand."""
        if self._progress is not None:
            self._progress.update(self._id, completed=done)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.update(self._id, visible=False)
            self._progress = None


class Downloads:
    """The set of layer bars of one image; started on the first download, stopped on close."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def task(self, description: str, total: int) -> Task:
        if not self.enabled:
            return Task()
        if self._progress is None:
            try:
                self._progress = self._start()
            except Exception:  # a display problem must never fail a scan
                self.enabled = False
                return Task()
        task_id = self._progress.add_task(description, total=total if total > 0 else None)
        return Task(self._progress, task_id)

    def _start(self) -> Any:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=stderr_console(),
            transient=True,
        )
        progress.start()
        return progress

    def close(self) -> None:
        if self._progress is not None:
            try:
                self._progress.stop()
            finally:
                self._progress = None
