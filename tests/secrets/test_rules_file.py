"""Malformed rule files fail with one clear line naming the file, the rule and the reason;
extra rule files add rules that both backends run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from customhouse.errors import EXIT_INPUT, InputError
from customhouse.secrets import Scanner, SecretRulesError
from customhouse.secrets.rules import (
    Rule,
    RuleTest,
    _read_rules_cache,
    builtin_rules_bytes,
    load_builtin_rules,
    load_rules,
    load_rules_file,
    parse_rules,
)
from tests.conftest import ROOT
from tests.secrets.conftest import BACKENDS, config

GOOD = """\
version: 1
rules:
  - id: acme-deploy-key
    title: ACME deploy key
    provider: ACME
    category: ci-cd
    severity: high
    regex: '(?<![A-Za-z0-9_])(?P<secret>acme_dk_[a-f0-9]{32})(?![A-Za-z0-9])'
    keywords: [acme_dk_]
    tests:
      positive: ['key: «acme_dk_{{hex:32}}»']
      negative: ['acme_dk_{{hex:8}}']
"""


def _rule(**fields: str) -> str:
    base = {
        "id": "acme-x",
        "title": "ACME",
        "provider": "ACME",
        "category": "saas",
        "severity": "high",
        "regex": "'acme_[a-f0-9]{8}'",
        "keywords": "[acme_]",
    }
    base.update(fields)
    body = "\n".join(f"    {k}: {v}" for k, v in base.items() if v != "<drop>")
    return f"version: 1\nrules:\n  - {body.strip()}\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_rule(regex="'acme_[a-f0-9'"), "rule acme-x: regex does not compile"),
        (_rule(regex="'acme_[a-f0-9]+'"), "rule acme-x: regex can match more than"),
        (_rule(regex="'acme_.*'"), "rule acme-x: regex can match more than"),
        (_rule(regex="'(?:acme)?'"), "rule acme-x: regex can match the empty string"),
        (_rule(title="<drop>"), "rule acme-x: missing field 'title'"),
        (_rule(regex="<drop>"), "rule acme-x: missing field 'regex'"),
        (_rule(keywords="<drop>"), "rule acme-x: missing field 'keywords'"),
        (_rule(keywords="[ACME_]"), "rule acme-x: keyword 'ACME_' must be lower-case"),
        (_rule(severity="urgent"), "rule acme-x: unknown severity 'urgent'"),
        (_rule(category="misc"), "rule acme-x: unknown category 'misc'"),
        (_rule(validator="luhn"), "rule acme-x: unknown validator 'luhn'"),
        (_rule(entropy="9"), "rule acme-x: entropy must be"),
        (_rule(id="Bad_ID"), "rule Bad_ID: id must be"),
        (_rule(colour="blue"), "rule acme-x: unknown field 'colour'"),
        (_rule(allowlist="{regexes: ['(']}"), "rule acme-x: allowlist regex '(' does not compile"),
        (_rule(tests="{positive: ['{{nope:3}}']}"), "rule acme-x: tests.positive[0]: unknown macro"),
        (_rule(regex="'acme_\u00e9{8}'"), "rule acme-x: regex must be ASCII"),
        (GOOD + GOOD.split("rules:\n", 1)[1], "rule acme-deploy-key: duplicate id"),
        ("version: 1\nrules:\n  - id: [unclosed\n", "invalid YAML at line"),
        ("rules: {}\n", "expected a mapping with a 'rules' list"),
        ("version: 2\nrules: []\n", "unsupported rules file version"),
        ("version: 1\nrules:\n  - just a string\n", "rule #1: expected a mapping"),
    ],
)
def test_malformed_rules_file_is_one_clear_line(tmp_path: Path, text: str, reason: str) -> None:
    f = tmp_path / "custom.yaml"
    f.write_text(text)
    with pytest.raises(SecretRulesError) as e:
        load_rules_file(f)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}: "), msg
    assert reason in msg, msg
    assert isinstance(e.value, InputError) and e.value.exit_code == EXIT_INPUT


def test_unreadable_rules_file(tmp_path: Path) -> None:
    with pytest.raises(SecretRulesError, match="cannot read rules file"):
        load_rules_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize("backend", BACKENDS)
def test_extra_rules_file(tmp_path: Path, backend: str) -> None:
    f = tmp_path / "extra.yaml"
    f.write_text(GOOD)
    sc = Scanner.create(config(backend, extra_rules_file=str(f)))
    assert "acme-deploy-key" in {r.id for r in sc.rules}
    key = "acme_dk_" + "0123456789abcdef" * 2
    (m,) = [m for m in sc.scan(f"DEPLOY={key}".encode(), "x") if m.rule_id == "acme-deploy-key"]
    assert m.secret == key and m.severity == "high"


def test_extra_rules_cannot_reuse_builtin_ids(tmp_path: Path) -> None:
    f = tmp_path / "extra.yaml"
    f.write_text(GOOD.replace("acme-deploy-key", "github-pat"))
    with pytest.raises(SecretRulesError, match=r"rule github-pat: id already used by the built-in rules"):
        load_rules(f)


def test_supersedes_must_name_a_rule(tmp_path: Path) -> None:
    f = tmp_path / "extra.yaml"
    f.write_text(
        GOOD.replace("    keywords: [acme_dk_]\n", "    keywords: [acme_dk_]\n    supersedes: [no-such-rule]\n")
    )
    with pytest.raises(SecretRulesError, match="supersedes unknown rule no-such-rule"):
        load_rules(f)


def test_keywords_may_be_omitted_only_with_paths() -> None:
    text = _rule(keywords="<drop>", paths="['**/.acme']")
    (r,) = parse_rules(text.encode(), "x.yaml")
    assert r.keywords == () and r.paths == ("**/.acme",)


def test_cli_reports_a_broken_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(_rule(regex="'acme_[a-f0-9'"))
    p = subprocess.run(
        [sys.executable, "-m", "customhouse.secrets", "--rules", str(f)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert p.returncode == EXIT_INPUT
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and "rule acme-x: regex does not compile" in p.stderr


def test_cli_counts_and_markdown() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "customhouse.secrets", "--count", "--markdown"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "| `github-pat` | GitHub |" in p.stdout
    assert f"{len(load_rules())} rules" in p.stdout


def test_builtin_rules_file_is_valid() -> None:
    """Start-up parses the shipped file without compiling its regexes; here it is validated in
    full, and what start-up gets without validation is the same rules."""
    strict = load_rules(validate=True)
    lazy = parse_rules(builtin_rules_bytes(), "x", validate=False)
    assert [r.fingerprint_fields() for r in lazy] == [r.fingerprint_fields() for r in strict]
    assert not any("pattern" in r.__dict__ for r in lazy)  # nothing compiled until it is used
    assert [r.max_width for r in lazy] == [r.max_width for r in strict]
    assert [(r.positives, r.negatives) for r in lazy] == [(r.positives, r.negatives) for r in strict]


def test_builtin_rules_cache_is_used_and_a_damaged_entry_rebuilt(tmp_path: Path) -> None:
    strict = load_rules(validate=True)
    first = load_builtin_rules(str(tmp_path))
    (entry,) = (tmp_path / "secrets").glob("rules-*.json")
    cached = _read_rules_cache(entry)
    assert cached is not None
    assert [r.fingerprint_fields() for r in cached] == [r.fingerprint_fields() for r in strict]
    assert [r.known_width for r in cached] == [r.max_width for r in strict]
    assert [(r.positives, r.negatives) for r in cached] == [(r.positives, r.negatives) for r in first]
    assert not any("pattern" in r.__dict__ for r in cached)
    # Built without the generated __init__: every field is there, equal to the parsed rule's.
    names = [f.name for f in dataclasses.fields(Rule) if f.name != "known_width"]
    assert [[getattr(r, n) for n in names] for r in cached] == [[getattr(r, n) for n in names] for r in strict]
    assert all(
        isinstance(t, RuleTest) and t == RuleTest(t.text, t.path, t.validated) for r in cached for t in r.positives
    )

    good = entry.read_bytes()
    damaged = [
        good[: len(good) // 2],  # truncated
        b"\x00" * 64,  # garbage
        json.dumps({"key": entry.stem, "rules": [{"id": 1}]}).encode(),  # valid JSON, wrong records
        json.dumps({"key": "other", "rules": json.loads(good)["rules"]}).encode(),  # another entry's body
    ]
    for body in damaged:
        entry.write_bytes(body)
        assert _read_rules_cache(entry) is None
        load_builtin_rules.cache_clear()
        again = load_builtin_rules(str(tmp_path))
        assert [r.fingerprint_fields() for r in again] == [r.fingerprint_fields() for r in strict]
        assert _read_rules_cache(entry) is not None  # rewritten
    sc = Scanner.create(config("re", cache_dir=tmp_path))
    assert len(sc.rules) == len(strict)
