"""`customhouse runtime replay` and `customhouse runtime rules check`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from customhouse.errors import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, EXIT_USAGE
from tests.helpers import Run, assert_one_line_error, run_cli
from tests.runtime.evts import audit_dict, proc, syscall_dict


@cache
def _wired() -> bool:
    from customhouse.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return "runtime" in sub.choices  # type: ignore[attr-defined]


def rt(*args: str) -> Run:
    """`customhouse runtime ARGS` (through the module's own entry until the main CLI registers it)."""
    if _wired():
        return run_cli("runtime", *args)
    p = subprocess.run(
        [sys.executable, "-m", "customhouse.runtime.cli", "runtime", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    lines = [
        {"format": "customhouse-events", "version": 1},
        syscall_dict("execve", proc("bash", "/bin/bash", tty=34816, parent="runc")),
        syscall_dict("execve", proc("ls", "/bin/ls", ["-la"])),
        syscall_dict("execve", proc("xmrig", "/tmp/xmrig", ["-o", "stratum+tcp://x:3333"])),
        audit_dict("create", "pods", subresource="exec", stage="ResponseStarted"),
    ]
    p.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return p


def test_replay_text(events: Path) -> None:
    r = rt("replay", str(events))
    assert r.code == EXIT_OK, r.err
    lines = r.out.splitlines()
    assert len(lines) == 4, r.out
    assert lines[0].startswith("12:00:00.123456789: Notice Terminal shell in container (user=app")
    assert any(": Critical Crypto miner process" in ln for ln in lines)
    assert any("Exec or attach into pod (user=alice" in ln for ln in lines)
    assert "replayed 4 events" in r.err and "4 alerts" in r.err


def test_replay_json_to_file_with_fail_on(events: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    r = rt("replay", str(events), "-f", "json", "-o", str(out), "--fail-on", "critical", "--hostname", "n1")
    assert r.code == EXIT_FINDINGS, r.err
    assert r.out == ""
    docs = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert {d["rule"] for d in docs} >= {"Terminal shell in container", "Crypto miner process"}
    for d in docs:
        assert set(d) == {"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}
        assert d["hostname"] == "n1"
    assert rt("replay", str(events), "--fail-on", "emergency").code == EXIT_OK


def test_replay_filter_record_and_own_rules(events: Path, tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "- rule: Any exec\n  desc: d\n  condition: evt.type = execve and proc.name = ls\n"
        "  output: exec %proc.cmdline\n  priority: INFO\n"
    )
    rec = tmp_path / "subset.jsonl"
    r = rt(
        "replay", str(events), "-r", str(rules), "--filter", "spawned_process and container", "--record", str(rec), "-q"
    )
    assert r.code == EXIT_OK, r.err
    assert r.err == ""
    assert "Informational exec ls -la" in r.out
    assert "Exec or attach" not in r.out  # the audit event was filtered out
    recorded = rt("replay", str(rec), "--no-default-rules", "-r", str(rules))
    assert recorded.code == EXIT_OK and "replayed 3 events" in recorded.err
    only = rt("replay", str(events), "--no-default-rules", "-r", str(rules), "--min-priority", "notice")
    assert only.out == ""


def test_replay_stdin(events: Path) -> None:
    cmd = [sys.executable, "-m", "customhouse", "runtime", "replay", "-"] if _wired() else [
        sys.executable, "-m", "customhouse.runtime.cli", "runtime", "replay", "-"
    ]  # fmt: skip
    p = subprocess.run(cmd, input=events.read_text(), capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 4


def test_replay_errors(events: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: Bad\n  desc: d\n  condition: (proc.name = x\n  output: x\n  priority: INFO\n")
    assert_one_line_error(rt("replay", str(events), "-r", str(bad)), EXIT_INPUT, f"{bad}:3: rule 'Bad'", "unbalanced")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(events.read_text() + '{"source": "syscall"}\n')
    r = rt("replay", str(broken))
    assert r.code == EXIT_INPUT and f"{broken}:6: invalid event" in r.err
    assert_one_line_error(rt("replay", str(tmp_path / "none.jsonl")), EXIT_USAGE, "no such events file")
    assert_one_line_error(rt("replay", str(events), "--filter", "proc.name ="), EXIT_USAGE, "--filter")
    assert_one_line_error(rt("replay", str(events), "--fail-on", "loud"), EXIT_USAGE, "--fail-on")
    assert_one_line_error(rt("replay", str(events), "--no-default-rules"), EXIT_USAGE, "--no-default-rules")


def test_rules_check(tmp_path: Path) -> None:
    r = rt("rules", "check")
    assert r.code == EXIT_OK
    assert r.out.startswith("1 file(s),") and "rules loaded, 0 skipped" in r.out
    assert "  loaded    Terminal shell in container  [Notice, syscall, evt.type: execve,execveat]" in r.out
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "- rule: Future\n  desc: d\n  condition: proc.newfield = 1\n  output: x\n  priority: INFO\n"
        "- list: shell_binaries\n  items: [busybox]\n  override:\n    items: append\n"
    )
    r = rt("rules", "check", str(mine), "-f", "json", "-v")
    assert r.code == EXIT_OK, r.err
    doc = json.loads(r.out)
    assert doc["skipped"] == [{"rule": "Future", "where": f"{mine}:1", "reason": "unknown field 'proc.newfield'"}]
    assert "unknown field 'proc.newfield'" in r.err
    shell = next(x for x in doc["rules"] if x["rule"] == "Terminal shell in container")
    assert "busybox" not in shell["condition"]  # lists stay named in the expanded text
    bad = tmp_path / "bad.yaml"
    bad.write_text("- macro: m\n  condition: proc.name in (a, b\n")
    assert_one_line_error(rt("rules", "check", str(bad), "--no-default-rules"), EXIT_INPUT, f"{bad}:2: macro 'm'")


def test_watch_sink_specs_are_checked_before_anything_starts(tmp_path: Path) -> None:
    from customhouse.errors import UsageError
    from customhouse.runtime import sinks
    from customhouse.runtime.cli import _sinks

    assert _sinks([], "h") is None
    fan = _sinks([f"file:{tmp_path / 'a.jsonl'}", "syslog:127.0.0.1:5514"], "h")
    try:
        assert [type(s) for s in fan.sinks] == [sinks.FileSink, sinks.SyslogSink]
    finally:
        fan.close()
    for bad in ("nothing", "file:", "ftp:x", "webhook:not-a-url", "syslog:nohostport", f"file:{tmp_path}/no/dir/x"):
        with pytest.raises(UsageError):
            _sinks([bad], "h")


def test_agent_stats_count_kernel_losses_only_during_the_run() -> None:
    from customhouse.runtime.agent import Stats

    st = Stats()
    assert st.kernel_lost() == 0  # never read: nothing claimed
    st.audit_lost_start, st.audit_lost = 115, 120
    st.rule_matches[("Read sensitive file", "Warning")] = 2
    d = st.as_dict()
    assert d["audit_lost_during"] == 5
    assert d["rule_matches"] == [{"rule": "Read sensitive file", "priority": "Warning", "count": 2}]
    json.dumps(d)  # the --stats-file document is plain JSON
