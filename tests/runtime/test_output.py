"""Alert formatting: Falco's text line and JSON output shape."""

from __future__ import annotations

import json
from pathlib import Path

from customhouse.runtime.output import AlertWriter, alert_json, alert_text
from customhouse.runtime.rules import load_rules
from tests.runtime.evts import T0, execve, proc

RULE = """
- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = bash
  output: "shell %proc.name (pid=%proc.pid parent=%proc.pname aname=%proc.aname[3] tty=%proc.tty gone=%fd.name 100%%)."
  priority: WARNING
  tags: [shell, T1059, container]
"""


def _alert():  # type: ignore[no-untyped-def]
    rs = load_rules(default=False, texts=[(RULE, "r.yaml")])
    (a,) = rs.engine.evaluate(execve(proc("bash", pid=7, tty=34816)))
    return a


def test_text_line_is_falcos() -> None:
    a = _alert()
    assert alert_text(a) == (
        "12:00:00.123456789: Warning shell bash (pid=7 parent=nginx aname=systemd tty=34816 gone=<NA> 100%)."
    )


def test_json_shape_is_falcos() -> None:
    doc = alert_json(_alert(), hostname="node-1")
    assert list(doc) == ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"]
    assert doc["hostname"] == "node-1"
    assert doc["rule"] == "Shell" and doc["priority"] == "Warning" and doc["source"] == "syscall"
    assert doc["tags"] == ["T1059", "container", "shell"]
    assert doc["time"] == "2024-05-01T12:00:00.123456789Z"
    assert doc["output"].startswith("12:00:00.123456789: Warning shell bash")
    assert doc["output_fields"] == {
        "evt.time": T0,
        "fd.name": None,
        "proc.aname[3]": "systemd",
        "proc.name": "bash",
        "proc.pid": 7,
        "proc.pname": "nginx",
        "proc.tty": 34816,
    }
    json.dumps(doc)


def test_writer_to_file_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    with AlertWriter("json", out, hostname="h") as w:
        w.write(_alert())
        assert not out.exists()
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["rule"] == "Shell"
