"""Broken policies stop the run with one line naming the file, line and rule (exit 3), and a
rule that never ends, or grows without bound, is stopped instead of hanging the scan."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from customhouse.errors import EXIT_INPUT, InputError
from customhouse.misconfig.rego import blank_comments, load_policies
from customhouse.misconfig.runner import parse_document

HEADER = (
    "package custom.t.{name}\n\nimport rego.v1\n\n"
    'metadata := {{"id": "{id}", "title": "T", "severity": "{sev}", "file_types": ["compose"]}}\n'
)
# Work that grows with the input: passes the load-time probe (empty input), explodes at scan time.
HUGE = """
deny contains x if {
  n := count([i | some i in numbers.range(1, input.data.n)])
  x := sprintf("%d", [n])
}
"""
COMPOSE = "services:\n  web:\n    image: nginx\n"


def policy(tmp_path: Path, name: str, body: str, *, pid: str = "ORG-T1", sev: str = "low", header: bool = True) -> Path:
    path = tmp_path / f"{name}.rego"
    path.write_text((HEADER.format(name=name, id=pid, sev=sev) if header else "") + body)
    return path


def load_error(target: Path | list[Path], **kw: float) -> str:
    with pytest.raises(InputError) as exc:
        load_policies(target, **kw).close()  # type: ignore[arg-type]
    assert exc.value.exit_code == EXIT_INPUT
    message = exc.value.message
    assert "\n" not in message
    return message


def eval_error(target: Path, doc_text: str = COMPOSE, **kw: float) -> str:
    ps = load_policies(target, **kw)  # type: ignore[arg-type]
    try:
        with pytest.raises(InputError) as exc:
            ps.evaluate(parse_document(doc_text, "compose.yaml", "compose"))
    finally:
        ps.close()
    assert exc.value.exit_code == EXIT_INPUT
    return exc.value.message


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = policy(tmp_path, "bad", "\ndeny contains msg if {\n  msg := input.data[\n}\n")
    msg = load_error(path)
    assert msg.startswith(f"{path}:8:20: ")
    assert "unclosed" in msg and "msg := input.data[" in msg


def test_one_broken_file_fails_the_whole_set(tmp_path: Path) -> None:
    """Skipping a broken security policy would report a clean scan that is not."""
    policy(tmp_path, "good", 'deny contains "x" if true\n')
    bad = policy(tmp_path, "worse", "deny contains x if {\n", pid="ORG-T2")
    assert load_error(tmp_path).startswith(f"{bad}:")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'metadata := {"id": "ORG-1", "title": "t", "severity": "urgent", "file_types": ["compose"]}\n'
            'deny contains "x" if true\n',
            "invalid severity 'urgent' (one of critical, high, medium, low, info)",
        ),
        (
            'metadata := {"id": "ORG-1", "title": "t", "severity": "low", "file_types": ["helm"]}\n'
            'deny contains "x" if true\n',
            "unknown file type 'helm'",
        ),
        (
            'metadata := {"id": "ORG-1", "title": "t", "severity": "low", "file_types": ["compose"], "sevrity": "x"}\n'
            'deny contains "x" if true\n',
            "unknown metadata key 'sevrity'",
        ),
        (
            'metadata := {"id": "ORG-1", "title": "", "severity": "low", "file_types": ["compose"]}\n'
            'deny contains "x" if true\n',
            "needs a non-empty `title`",
        ),
        (
            'metadata := {"id": "has space", "title": "t", "severity": "low", "file_types": ["compose"]}\n'
            'deny contains "x" if true\n',
            "metadata id 'has space' must be a string like ORG-001",
        ),
        (
            'metadata := {"id": "ORG-1", "title": "t", "severity": "low", "file_types": ["compose"],'
            ' "frameworks": {"iso": "A.1"}}\ndeny contains "x" if true\n',
            "unknown framework 'iso'",
        ),
        ('metadata := ["ORG-1"]\ndeny contains "x" if true\n', "metadata must be an object, not a set or array"),
        ('deny contains "x" if true\n', "policy has no metadata"),
        (
            'metadata := {"id": "ORG-1", "title": "t", "severity": "low", "file_types": ["compose"]}\n',
            "has metadata but no `deny`",
        ),
        (
            'metadata := {"id": input.id, "title": "t", "severity": "low", "file_types": ["compose"]}\n'
            'deny contains "x" if true\n',
            "policy has no metadata",
        ),  # must be a constant
    ],
)
def test_invalid_metadata(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "p.rego"
    path.write_text("package custom.p\n\nimport rego.v1\n\n" + body)
    msg = load_error(path)
    assert msg.startswith(f"{path}:") and expected in msg


def test_metadata_error_points_at_the_metadata_line(tmp_path: Path) -> None:
    path = policy(tmp_path, "sev", 'deny contains "x" if true\n', sev="severe")
    assert load_error(path).startswith(f"{path}:5: ORG-T1 has invalid severity 'severe'")


@pytest.mark.parametrize("pid", ["CH-DF-001", "ch-custom-1"])
def test_builtin_id_prefix_is_refused(tmp_path: Path, pid: str) -> None:
    path = policy(tmp_path, "clash", 'deny contains "x" if true\n', pid=pid)
    assert f"policy id {pid} collides with the built-in checks" in load_error(path)


def test_duplicate_ids_and_packages(tmp_path: Path) -> None:
    a = policy(tmp_path, "a", 'deny contains "x" if true\n')
    b = policy(tmp_path, "b", 'deny contains "y" if true\n')
    assert load_error(tmp_path) == f"{b}: policy id ORG-T1 is already used by {a}"
    b.write_text(a.read_text().replace("ORG-T1", "ORG-T2"))
    assert f"package custom.t.a is already the package of {a}" in load_error(tmp_path)


def test_v0_partial_set_is_explained(tmp_path: Path) -> None:
    """rego-cpp reads `deny[msg] { ... }` as an object keyed by the message: say how to fix it."""
    path = tmp_path / "v0.rego"
    path.write_text(
        "package custom.v0\n\n"
        'metadata := {"id": "ORG-V0", "title": "t", "severity": "low", "file_types": ["compose"]}\n\n'
        'deny[msg] {\n  msg := "old style"\n}\n'
    )
    msg = load_error(path)
    assert msg.startswith(f"{path}:5: rule `deny` of policy ORG-V0")
    assert "write `deny contains x if {...}` with `import rego.v1`" in msg


def test_runtime_error_names_rule_and_document(tmp_path: Path) -> None:
    body = "\ndeny contains x if {\n  some name, _ in input.data.services\n  x := nope(name)\n}\n"
    path = policy(tmp_path, "fn", body)
    msg = eval_error(path)
    assert msg == f"{path}:7: rule `deny` of policy ORG-T1: evaluating compose.yaml: Function not found: nope"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ('{"message2": "m"}', "unknown result key 'message2'"),
        ('{"line": 1}', "needs a non-empty string `msg`"),
        ('{"msg": "m", "line": 99}', "result `line` 99 is past the end of compose.yaml (3 lines)"),
        ('{"msg": "m", "line": "2"}', "result `line` must be a non-negative integer"),
        ('{"msg": "m", "path": "services.web"}', "result `path` must be an array"),
        ("42", "a result must be a string or an object with `msg`, not a number"),
    ],
)
def test_malformed_results(tmp_path: Path, result: str, expected: str) -> None:
    path = policy(tmp_path, "res", f"\ndeny contains r if {{\n  input.data.services.web\n  r := {result}\n}}\n")
    msg = eval_error(path)
    assert msg.startswith(f"{path}:7: rule `deny` of policy ORG-T1 on compose.yaml: ") and expected in msg


def test_non_terminating_rule_is_stopped(tmp_path: Path) -> None:
    """The range depends on the input, so it passes the load-time probe and runs at scan time."""
    path = policy(tmp_path, "slow", HUGE)
    start = time.monotonic()
    msg = eval_error(path, "n: 1000000000\nservices: {}\n", timeout=1.5)
    elapsed = time.monotonic() - start
    assert elapsed < 10
    assert msg.startswith(f"{path}:7: rule `deny` of policy ORG-T1: evaluating compose.yaml: no result within 1.5 s")


def test_expensive_metadata_is_stopped_at_load(tmp_path: Path) -> None:
    path = tmp_path / "m.rego"
    path.write_text(
        "package custom.m\n\nimport rego.v1\n\n"
        'metadata := {"id": sprintf("ORG-%d", [count([i | some i in numbers.range(1, 1000000000)])]),'
        ' "title": "t", "severity": "low", "file_types": ["compose"]}\n'
        'deny contains "x" if true\n'
    )
    start = time.monotonic()
    msg = load_error(path, timeout=1.5)
    assert time.monotonic() - start < 10
    assert msg.startswith(f"{path}: evaluating `metadata`: no result within 1.5 s")


def test_memory_hungry_rule_is_stopped(tmp_path: Path) -> None:
    path = policy(tmp_path, "big", HUGE)
    msg = eval_error(path, "n: 1000000000\nservices: {}\n", timeout=60, memory_limit=200 << 20)
    assert "used more than 200 MiB of memory, stopped" in msg


def test_missing_or_empty_policy_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope") == f"--policy {tmp_path / 'nope'}: no such file or directory"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x_test.rego").write_text("package x_test\n")
    assert load_error(tmp_path / "empty") == f"--policy {tmp_path / 'empty'}: no *.rego policy files found"


def test_unreadable_sources(tmp_path: Path) -> None:
    latin = tmp_path / "latin.rego"
    latin.write_bytes(b"package custom.l\n# caf\xe9\n")
    assert load_error(latin) == f"{latin}:2: not UTF-8 text"
    quoted = tmp_path / "q.rego"
    quoted.write_text('# header\npackage custom["my-policy"]\n')
    assert load_error(quoted).startswith(f"{quoted}:2: package 'custom[\"my-policy\"]' must be dotted identifiers")


def test_comments_are_blanked_without_moving_anything() -> None:
    src = 'package a # c\nx := "# not a comment" # gone\ny := `raw # kept` # gone too\nz := "esc \\" # still string"\n'
    out = blank_comments(src)
    assert len(out) == len(src) and out.count("\n") == src.count("\n")
    assert "# c" not in out and "gone" not in out
    assert '"# not a comment"' in out and "`raw # kept`" in out and '"esc \\" # still string"' in out


def test_policies_cannot_read_the_scanners_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy could copy CI secrets into a message that ends up in a PR comment."""
    monkeypatch.setenv("CUSTOMHOUSE_TEST_SECRET", "hunter2")
    path = policy(
        tmp_path, "env", "\ndeny contains msg if {\n  input.data\n  msg := json.marshal(opa.runtime().env)\n}\n"
    )
    with load_policies(path) as ps:
        (finding,) = ps.evaluate(parse_document(COMPOSE, "compose.yaml", "compose"))
    assert "PATH" in finding.message
    assert "hunter2" not in finding.message and "CUSTOMHOUSE_TEST_SECRET" not in finding.message
