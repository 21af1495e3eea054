"""Alerts as text or as JSON lines in Falco's output shape, to a stream or a file.

Text, one line an alert, as Falco prints it: `12:00:00.123456789: Warning <rule output>`
(time of day in UTC).

JSON, one object a line, Falco's keys:

    {"hostname": "node-1", "output": "12:00:00.123456789: Warning <rule output>",
     "output_fields": {"evt.time": 1714564800123456789, "proc.name": "bash", ...},
     "priority": "Warning", "rule": "Terminal shell in container", "source": "syscall",
     "tags": ["T1059", "container", "shell"], "time": "2024-05-01T12:00:00.123456789Z"}

`output_fields` holds every field the rule's output names, with its typed value (numbers stay
numbers, lists are arrays, unavailable values are null) plus `evt.time` in ns. Tags are sorted.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import IO, Any

from customhouse.errors import InputError
from customhouse.runtime.events import format_time_iso, format_time_of_day
from customhouse.runtime.rules.engine import Alert

FORMATS = ("text", "json")
_TIME_FIELDS = frozenset(("evt.time", "jevt.time", "evt.rawtime", "jevt.rawtime"))


def alert_text(a: Alert) -> str:
    """Falco's text line: time of day, priority, rule output."""
    return f"{format_time_of_day(a.event.ts)}: {a.rule.priority_name} {a.output}"


def _json_value(v: Any) -> Any:
    if v is None or type(v) in (str, int, bool, float):
        return v
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return str(v)


def output_fields(a: Alert) -> dict[str, Any]:
    e = a.event
    out: dict[str, Any] = {"evt.time": e.ts}
    for op in a.rule.output.fields:
        out[op.name] = e.ts if op.name in _TIME_FIELDS else _json_value(op.getter(e))
    return dict(sorted(out.items()))


def alert_json(a: Alert, hostname: str = "") -> dict[str, Any]:
    """The alert as Falco's JSON output object."""
    r = a.rule
    return {
        "hostname": hostname,
        "output": alert_text(a),
        "output_fields": output_fields(a),
        "priority": r.priority_name,
        "rule": r.name,
        "source": r.source,
        "tags": sorted(r.tags),
        "time": format_time_iso(a.event.ts),
    }


class AlertWriter:
    """Writes alerts in one format to stdout or a file (created atomically on close)."""

    def __init__(self, fmt: str = "text", path: Path | None = None, hostname: str | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown alert format {fmt!r} (use text or json)")
        self.fmt = fmt
        self.path = path
        self.hostname = socket.gethostname() if hostname is None else hostname
        self.count = 0
        self._tmp: Path | None = None
        if path is None:
            self._fh: IO[str] = sys.stdout
        else:
            self._tmp = path.with_name(path.name + ".tmp")
            try:
                self._fh = open(self._tmp, "w", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"{path}: cannot write alerts: {exc.strerror or exc}") from None

    def write(self, a: Alert) -> None:
        if self.fmt == "json":
            line = json.dumps(alert_json(a, self.hostname), ensure_ascii=False, separators=(",", ":"))
        else:
            line = alert_text(a)
        self._fh.write(line + "\n")
        self.count += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if self._fh is sys.stdout:
            self._fh.flush()
            return
        if not self._fh.closed:
            self._fh.close()
            if self._tmp is not None and self.path is not None:
                self._tmp.replace(self.path)

    def abort(self) -> None:
        """Stop without replacing the output file (stdout is just flushed)."""
        if self._fh is sys.stdout:
            self._fh.flush()
            return
        if not self._fh.closed:
            self._fh.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AlertWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
