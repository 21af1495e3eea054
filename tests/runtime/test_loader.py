"""Rule files: lists, macros, rules, exceptions, append and override, versions, and the errors
a malformed file gives (file, line, item, reason) or the warning an unknown field gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from customhouse.errors import EXIT_INPUT
from customhouse.runtime.events import Event
from customhouse.runtime.rules import RuleError, RuleSet, load_rules
from tests.runtime.evts import HOST, audit, execve, open_file, proc

BASE = """
- list: shells
  items: [bash, sh]
- list: all_shells
  items: [shells, zsh]
- macro: spawned_process
  condition: evt.type in (execve, execveat) and evt.dir = <
- macro: container
  condition: container.id != host
- macro: shell_in_container
  condition: spawned_process and container and proc.name in (all_shells)
- rule: Shell
  desc: a shell
  condition: shell_in_container
  output: shell %proc.name in %container.id
  priority: WARNING
  tags: [T1059]
"""


def load(*texts: str, warn: list[str] | None = None, **kw: object) -> RuleSet:
    docs = [(textwrap.dedent(t), f"r{i}.yaml") for i, t in enumerate(texts)]
    sink = warn if warn is not None else []
    return load_rules(default=False, texts=docs, warn=sink.append, **kw)  # type: ignore[arg-type]


def fired(rs: RuleSet, e: Event) -> list[str]:
    return [a.rule.name for a in rs.engine.evaluate(e)]


def error(*texts: str) -> RuleError:
    with pytest.raises(RuleError) as exc:
        load(*texts)
    assert exc.value.exit_code == EXIT_INPUT
    return exc.value


ZSH = execve(proc("zsh"))
FISH = execve(proc("fish"))


def test_lists_inside_lists_and_macros_inside_macros() -> None:
    rs = load(BASE)
    assert fired(rs, execve(proc("bash"))) == ["Shell"]
    assert fired(rs, ZSH) == ["Shell"]
    assert fired(rs, execve(proc("bash"), container=HOST)) == []
    r = rs.rules[0]
    assert r.evttypes == {"execve", "execveat"}
    assert r.tags == ("T1059",)
    assert r.priority_name == "Warning"


def test_list_defined_after_use_and_across_files() -> None:
    rs = load(BASE, "- list: shells\n  items: [fish]\n  append: true\n")
    assert fired(rs, FISH) == ["Shell"]


def test_list_append_and_override() -> None:
    appended = load(BASE, "- list: shells\n  items: [fish]\n  override:\n    items: append\n")
    assert fired(appended, FISH) == ["Shell"]
    assert fired(appended, execve(proc("bash"))) == ["Shell"]
    replaced = load(BASE, "- list: shells\n  items: [fish]\n  override:\n    items: replace\n")
    assert fired(replaced, FISH) == ["Shell"]
    assert fired(replaced, execve(proc("bash"))) == []
    assert fired(replaced, ZSH) == ["Shell"]  # all_shells still has zsh


def test_list_redefinition_replaces() -> None:
    rs = load(BASE, "- list: shells\n  items: [ksh]\n")
    assert fired(rs, execve(proc("bash"))) == []
    assert fired(rs, execve(proc("ksh"))) == ["Shell"]


def test_macro_append_and_override() -> None:
    appended = load(BASE, "- macro: container\n  condition: and container.image.repository = nginx\n  append: true\n")
    assert fired(appended, execve(proc("bash"))) == []  # the test image is docker.io/library/nginx
    replaced = load(
        BASE,
        """
        - macro: container
          condition: container.image.repository = docker.io/library/nginx
          override:
            condition: replace
        """,
    )
    assert fired(replaced, execve(proc("bash"))) == ["Shell"]


def test_rule_append_condition_output_tags_exceptions() -> None:
    rs = load(
        BASE,
        """
        - rule: Shell
          condition: and proc.tty != 0
          output: (tty=%proc.tty)
          tags: [mine]
          append: true
        """,
    )
    assert fired(rs, execve(proc("bash"))) == []
    e = execve(proc("bash", tty=5))
    (alert,) = rs.engine.evaluate(e)
    assert alert.output == "shell bash in 0123456789ab (tty=5)"
    assert alert.rule.tags == ("T1059", "mine")


def test_rule_override_replace_priority_output_enabled() -> None:
    rs = load(
        BASE,
        """
        - rule: Shell
          priority: CRITICAL
          output: replaced %proc.name
          override:
            priority: replace
            output: replace
        """,
    )
    (alert,) = rs.engine.evaluate(execve(proc("bash")))
    assert alert.rule.priority_name == "Critical" and alert.output == "replaced bash"
    disabled = load(BASE, "- rule: Shell\n  enabled: false\n  override:\n    enabled: replace\n")
    assert disabled.rules == [] and disabled.disabled == ["Shell"]
    legacy = load(BASE, "- rule: Shell\n  enabled: false\n")
    assert legacy.rules == []
    again = load(BASE, "- rule: Shell\n  enabled: false\n", "- rule: Shell\n  enabled: true\n")
    assert [r.name for r in again.rules] == ["Shell"]


def test_rule_redefinition_keeps_its_place() -> None:
    rs = load(
        BASE
        + """
- rule: Other
  desc: d
  condition: spawned_process and proc.name = zsh
  output: other
  priority: NOTICE
""",
        """
        - rule: Shell
          desc: redefined
          condition: spawned_process and proc.name = zsh
          output: redefined
          priority: ERROR
        """,
    )
    assert [r.name for r in rs.rules] == ["Shell", "Other"]
    assert fired(rs, ZSH) == ["Shell", "Other"]
    first = load_rules(default=False, texts=[(BASE, "a.yaml")], rule_matching="first")
    assert [a.rule.name for a in first.engine.evaluate(ZSH)] == ["Shell"]


EXC_RULE = """
- list: trusted_writers
  items: [vi, nano]
- rule: Etc
  desc: write below etc
  condition: evt.type = openat and evt.is_open_write = true and fd.name startswith /etc/
  output: write %fd.name by %proc.name
  priority: ERROR
  exceptions:
    - name: proc_file
      fields: [proc.name, fd.name]
      comps: [=, in]
      values:
        - [tee, [/etc/hosts, /etc/hostname]]
    - name: proc_dir
      fields: [proc.name, fd.directory]
      values:
        - [certbot, /etc/letsencrypt]
    - name: editors
      fields: proc.name
      values: [trusted_writers, emacs]
    - name: cmd_prefix
      fields: [proc.cmdline, fd.name]
      comps: [startswith, pmatch]
      values:
        - ["ansible-playbook", [/etc/nginx]]
    - name: later
      fields: [proc.name, fd.filename]
      comps: [in, =]
"""


def _write(path: str, name: str, args: list[str] | None = None) -> Event:
    return open_file(path, "O_WRONLY", proc(name, args=args))


@pytest.mark.parametrize(
    ("path", "name", "args", "alert"),
    [
        ("/etc/hosts", "tee", None, False),
        ("/etc/passwd", "tee", None, True),
        ("/etc/letsencrypt/x", "certbot", None, False),
        ("/etc/letsencrypt/live/x", "certbot", None, True),
        ("/etc/shadow", "vi", None, False),
        ("/etc/shadow", "emacs", None, False),
        ("/etc/nginx/nginx.conf", "ansible-playbook", ["site.yml"], False),
        ("/etc/ssh/sshd_config", "ansible-playbook", ["site.yml"], True),
    ],
)
def test_exceptions(path: str, name: str, args: list[str] | None, alert: bool) -> None:
    rs = load(EXC_RULE)
    assert (fired(rs, _write(path, name, args)) == ["Etc"]) is alert


def test_exception_values_appended_later() -> None:
    rs = load(
        EXC_RULE,
        """
        - rule: Etc
          exceptions:
            - name: later
              values:
                - [[puppet, chef-client], resolv.conf]
            - name: proc_file
              values:
                - [sed, [/etc/passwd]]
          override:
            exceptions: append
        """,
    )
    assert fired(rs, _write("/etc/resolv.conf", "chef-client")) == []
    assert fired(rs, _write("/etc/passwd", "sed")) == []
    assert fired(rs, _write("/etc/passwd", "tee")) == ["Etc"]
    legacy = load(EXC_RULE, "- rule: Etc\n  exceptions:\n    - name: editors\n      values: [sed]\n  append: true\n")
    assert fired(legacy, _write("/etc/passwd", "sed")) == []


def test_exceptions_replaced() -> None:
    rs = load(
        EXC_RULE,
        """
        - rule: Etc
          exceptions:
            - name: only
              fields: [proc.name]
              values: [[tee]]
          override:
            exceptions: replace
        """,
    )
    assert fired(rs, _write("/etc/shadow", "vi")) == ["Etc"]
    assert fired(rs, _write("/etc/shadow", "tee")) == []


def test_required_engine_version() -> None:
    assert load("- required_engine_version: 0.31.0\n" + BASE).rules
    assert load("- required_engine_version: 9\n" + BASE).rules
    e = error(BASE + "- required_engine_version: 99.0.0\n")
    assert "needs engine version 99.0.0" in e.message and e.file == "r0.yaml" and e.line == 18
    assert "not a version" in error("- required_engine_version: latest\n").message


def test_unknown_field_skips_the_rule_with_a_warning() -> None:
    warnings: list[str] = []
    rs = load(
        BASE,
        """
        - rule: Future
          desc: uses a field we do not have
          condition: spawned_process and proc.future_field = 1
          output: x
          priority: NOTICE
        - rule: Future output
          desc: unknown field in the output
          condition: spawned_process
          output: "%proc.nope"
          priority: NOTICE
        - rule: Quiet
          desc: skipped silently
          condition: proc.other_field = 1
          output: x
          priority: NOTICE
          skip-if-unknown-filter: true
        - rule: Cloud
          desc: another source
          condition: ct.name = x
          output: x
          priority: NOTICE
          source: aws_cloudtrail
        """,
        warn=warnings,
    )
    assert [r.name for r in rs.rules] == ["Shell"]
    assert {s.name for s in rs.skipped} == {"Future", "Future output", "Quiet", "Cloud"}
    text = "\n".join(warnings)
    assert "r1.yaml:2: rule 'Future' skipped: unknown field 'proc.future_field'" in text
    assert "unknown field 'proc.nope'" in text and "in output" in text
    assert "Quiet" not in text
    assert "source 'aws_cloudtrail' is not supported" in text
    assert fired(rs, execve(proc("bash"))) == ["Shell"]


def test_field_of_another_source_is_unknown() -> None:
    warnings: list[str] = []
    load("- rule: R\n  desc: d\n  condition: ka.verb = get\n  output: x\n  priority: INFO\n", warn=warnings)
    assert "not available for source syscall" in warnings[0]


def test_k8s_audit_rules_meet_only_audit_events() -> None:
    rs = load(
        "- rule: K\n  desc: d\n  condition: ka.verb = get\n  output: '%ka.user.name'\n"
        "  priority: INFO\n  source: k8s_audit\n"
    )
    assert fired(rs, audit("get", "pods")) == ["K"]
    assert fired(rs, execve(proc("bash"))) == []


@pytest.mark.parametrize(
    ("text", "line", "item", "reason"),
    [
        ("- rule: A\n  condition: [unclosed\n", 3, "", "invalid YAML"),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: (proc.name = a\n  output: x\n  priority: INFO\n",
            20,
            "rule 'Bad'",
            "unbalanced parentheses",
        ),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: proc.name equals a\n  output: x\n  priority: INFO\n",
            20,
            "rule 'Bad'",
            "unknown operator 'equals'",
        ),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: nosuch and proc.name = a\n  output: x\n  priority: INFO\n",
            20,
            "rule 'Bad'",
            "undefined macro 'nosuch'",
        ),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: proc.pid = x\n  output: x\n  priority: INFO\n",
            20,
            "rule 'Bad'",
            "'x' is not a number",
        ),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: proc.name = x\n  output: x\n  priority: LOUD\n",
            22,
            "rule 'Bad'",
            "unknown priority 'LOUD'",
        ),
        (
            BASE + "- rule: Bad\n  desc: d\n  condition: proc.name = x\n  priority: INFO\n",
            18,
            "rule 'Bad'",
            "missing 'output'",
        ),
        ("- macro: m\n  condition: (a or\n", 2, "macro 'm'", "condition"),
        ("- list: l\n  items: [a, l2]\n- list: l2\n  items: [l]\n", 3, "list 'l2'", "lists include each other"),
        ("- list: l\n  items: x\n", 2, "list 'l'", "items must be a list"),
        ("- list: l\n  items: [a]\n  append: true\n", 1, "list 'l'", "appends to a list that is not defined"),
        (
            "- rule: Nope\n  condition: and x\n  append: true\n",
            1,
            "rule 'Nope'",
            "appends to a rule that is not defined",
        ),
        (BASE + "- rule: Shell\n  priority: INFO\n  append: true\n", 19, "rule 'Shell'", "cannot append to 'priority'"),
        (
            BASE + "- rule: Shell\n  output: x\n  override:\n    output: merge\n",
            20,
            "rule 'Shell'",
            "must be append or replace",
        ),
        (
            BASE + "- rule: Shell\n  output: x\n  priority: INFO\n  override:\n    output: replace\n",
            21,
            "rule 'Shell'",
            "key 'priority' is not listed in override",
        ),
        (
            BASE + "- rule: Shell\n  override:\n    priority: append\n  priority: INFO\n",
            19,
            "rule 'Shell'",
            "cannot be overridden with append",
        ),
        ("- foo: bar\n", 1, "", "unknown item"),
        ("rule: not a list\n", 1, "", "a YAML list"),
        (
            EXC_RULE + "- rule: Etc\n  exceptions:\n    - name: proc_dir\n      values: [[a]]\n  append: true\n",
            len(EXC_RULE.splitlines()) + 2,
            "rule 'Etc'",
            "each value must be a list of 2 items",
        ),
        (EXC_RULE.replace("comps: [=, in]", "comps: [=, like]"), 9, "rule 'Etc'", "unknown operator 'like'"),
    ],
)
def test_malformed_files_name_file_line_and_item(text: str, line: int, item: str, reason: str) -> None:
    e = error(text)
    assert e.file == "r0.yaml"
    assert e.line == line, e.message
    assert e.item == item, e.message
    assert reason in e.reason, e.message
    assert e.message.startswith(f"r0.yaml:{line}: ")


def test_error_in_an_appended_condition_points_at_the_append() -> None:
    e = error(BASE, "- rule: Shell\n  condition: and (proc.name = x\n  append: true\n")
    assert (e.file, e.line, e.item) == ("r1.yaml", 2, "rule 'Shell'")


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00rule")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules([bad], default=False)


def test_min_priority_drops_lower_rules() -> None:
    rs = load(BASE, min_priority="error")
    assert rs.rules == [] and rs.disabled == ["Shell"]


def test_default_ruleset_loads_quickly_and_cleanly() -> None:
    rs = load_rules()
    assert len(rs.rules) >= 25 and not rs.skipped and not rs.warnings
    assert rs.files == ["default_rules.yaml"]
    assert {r.source for r in rs.rules} == {"syscall", "k8s_audit"}
    # every syscall rule is indexed by event type: none lands in the catch-all bucket
    assert all(r.evttypes for r in rs.rules if r.source == "syscall")


def test_a_rule_that_raises_is_reported_once_and_never_stops_the_engine() -> None:
    from customhouse.runtime.events import Event, Process

    warnings: list[str] = []
    rs = load(
        BASE,
        "- rule: Fragile\n  desc: d\n  condition: spawned_process and proc.name startswith x\n"
        "  output: x\n  priority: INFO\n",
        warn=warnings,
    )
    bad = Event("execve", 1, proc=Process(1, 123), num=7)  # type: ignore[arg-type]  # no source sends this
    assert rs.engine.evaluate(bad) == []
    assert rs.engine.evaluate(bad) == []
    assert len([w for w in warnings if "rule 'Fragile' failed on event 7" in w]) == 1
    assert fired(rs, execve(proc("bash"))) == ["Shell"]
