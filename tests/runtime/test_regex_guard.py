"""A rule whose regex never ends must not stop the engine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from customhouse.runtime.rules import load_rules, regexes
from tests.runtime.evts import execve, proc, syscall_dict

EVIL = "(a+)+$"
RULES = f"""
- rule: Evil regex
  desc: catastrophic backtracking in a backtracking engine
  condition: evt.type = execve and proc.cmdline regex "{EVIL}"
  output: evil %proc.name
  priority: WARNING
- rule: Still here
  desc: the rule after it
  condition: evt.type = execve and proc.name = aaaa
  output: still here %proc.name
  priority: NOTICE
"""


def test_never_ending_regex_does_not_hang_the_engine(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    events = tmp_path / "events.jsonl"
    with events.open("w") as fh:
        for _ in range(200):
            fh.write(json.dumps(syscall_dict("execve", proc("aaaa", args=["a" * 40 + "!"]))) + "\n")
    script = textwrap.dedent(
        f"""
        from customhouse.runtime.events import read_events
        from customhouse.runtime.rules import load_rules
        rs = load_rules([{str(rules)!r}], default=False)
        n = sum(len(rs.engine.evaluate(e)) for e in read_events({str(events)!r}))
        print(n, [r.name for r in rs.rules if not r.disabled_reason])
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("200 "), p.stdout  # "Still here" fired on every event, "Evil" on none


def test_a_rule_over_its_time_budget_is_disabled_and_the_others_go_on() -> None:
    warnings: list[str] = []
    rs = load_rules(default=False, texts=[(RULES, "r.yaml")], regex_budget=0.0, warn=warnings.append)
    e = execve(proc("aaaa", args=["a" * 100_000]))
    first = [a.rule.name for a in rs.engine.evaluate(e)]
    assert first == ["Still here"]
    assert any("rule 'Evil regex' disabled" in w and "time budget" in w for w in warnings)
    assert [a.rule.name for a in rs.engine.evaluate(e)] == ["Still here"]
    assert [r.name for r in rs.engine.rules_for("syscall", "execve")] == ["Still here"]


@pytest.fixture
def no_re2() -> Iterator[None]:
    saved = regexes.backend()
    regexes.force_backend(None)
    try:
        yield
    finally:
        regexes.force_backend(saved)


def test_without_re2_dangerous_patterns_skip_their_rule(no_re2: None) -> None:
    warnings: list[str] = []
    rs = load_rules(default=False, texts=[(RULES, "r.yaml")], warn=warnings.append)
    assert [r.name for r in rs.rules] == ["Still here"]
    assert "refused without RE2: nested quantifiers" in warnings[0]
    for pattern, why in [
        ("(a|aa)+", "quantified alternation"),
        ("a.*b.*c", "several unbounded"),
        ("(a)\\1", "backreference"),
    ]:
        with pytest.raises(regexes.UnsafeRegexError, match=why):
            regexes.compile_fullmatch(pattern)
    safe = regexes.compile_fullmatch("/proc/[0-9]+/cmdline")
    assert safe("/proc/12/cmdline") and not safe("/proc/x/cmdline")


def test_re2_is_the_engine_here() -> None:
    assert regexes.backend() is not None
    m = regexes.compile_fullmatch(EVIL)
    assert m("a" * 10) and not m("a" * 100_000 + "!")
