"""Lazy logging: `logging` is imported (and its stderr handler installed) on the first message.

A warm scan prints nothing and finishes in tens of milliseconds, of which importing and
configuring `logging` would be a tenth; so modules take a `Logger` from here, and the CLI only
records the wanted verbosity. Messages print as one line: `customhouse: warning: ...`.
"""

from __future__ import annotations

import sys
from typing import Any

_config = {"quiet": False, "debug": False, "installed": False, "configured": False}


def configure(quiet: bool, debug: bool) -> None:
    """Called by the CLI only: as a library we leave handlers to the host application."""
    _config.update(quiet=quiet, debug=debug, configured=True)
    if _config["installed"]:
        _install()


def reset() -> None:
    """Undo `configure` (the CLI calls it on the way out, so in-process callers such as tests
    do not inherit its verbosity)."""
    if _config["installed"]:
        import logging

        root = logging.getLogger("customhouse")
        for h in list(root.handlers):
            root.removeHandler(h)
        root.setLevel(logging.NOTSET)
    _config.update(quiet=False, debug=False, installed=False, configured=False)


def _install() -> Any:
    import logging

    class _Formatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"customhouse: {record.levelname.lower()}: {record.getMessage()}"

    root = logging.getLogger("customhouse")
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.propagate = True  # host handlers (and pytest's caplog) still see our records
    root.setLevel(logging.DEBUG if _config["debug"] else logging.ERROR if _config["quiet"] else logging.WARNING)
    _config["installed"] = True
    return logging


class Logger:
    """The subset of `logging.Logger` we use, resolved on first call."""

    def __init__(self, name: str) -> None:
        self._name = name if name.startswith("customhouse") else f"customhouse.{name}"
        self._log: Any = None

    def _get(self) -> Any:
        if self._log is None:
            if _config["configured"] and not _config["installed"]:
                _install()
            import logging

            self._log = logging.getLogger(self._name)
        return self._log

    def debug(self, msg: str, *args: Any) -> None:
        if _config["debug"] or not _config["configured"]:
            self._get().debug(msg, *args)

    def info(self, msg: str, *args: Any) -> None:
        self._get().info(msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self._get().warning(msg, *args)

    def error(self, msg: str, *args: Any) -> None:
        self._get().error(msg, *args)


def get_logger(name: str) -> Logger:
    return Logger(name)
