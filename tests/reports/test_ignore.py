"""The ignore file: matching, expiry, and precise errors for every kind of bad entry."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from customhouse.errors import EXIT_INPUT, InputError
from customhouse.match.ignore import apply_ignores, load_ignore_file, parse_ignore
from customhouse.report.findings import Finding, Location, Suppression
from tests.reports import samples

TODAY = date(2024, 6, 1)
FINDINGS = tuple(replace(f, suppressed=None) for f in samples.ALL)

# A realistic team file: ids, aliases, purls, globs, paths, resources, fingerprints, expiry.
IGNORE_FILE = f"""\
# Reviewed 2024-05-20 by the platform security team.
version: 1
ignore:
  - id: CVE-2023-45853
    package: zlib1g
    reason: MiniZip is not built into zlib1g; Debian marks it unimportant.
    expires: 2024-12-31

  - id: GHSA-vm8q-m57g-pff3          # Django's Truncator ReDoS, by its GHSA alias
    package: "pkg:pypi/django@4.2.*"
    reason: Truncator.words is only called on trusted text.

  - id: CVE-2024-2961
    path: /var/lib/dpkg/
    reason: PHP is not installed, so the iconv path is unreachable.
    expires: 2024-05-31                # expired yesterday

  - id: CVE-2021-44228
    package: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    path: "opt/other/*"
    reason: only the copy in opt/other is patched

  - fingerprint: {samples.AWS_KEY.fingerprint}
    reason: documented example key (AKIAIOSFODNN7EXAMPLE)

  - id: CKV_K8S_20
    resource: Deployment/kube-system/*
    reason: system components run privileged by design
"""


def rules() -> list:  # type: ignore[type-arg]
    return parse_ignore(IGNORE_FILE, ".customhouseignore.yaml")


def test_entries_are_read_with_lines() -> None:
    r = rules()
    assert [x.line for x in r] == [4, 9, 13, 18, 23, 26]
    assert r[0].expires == date(2024, 12, 31)
    assert r[1].package == "pkg:pypi/django@4.2.*"
    assert r[4].id == "" and r[4].fingerprint == samples.AWS_KEY.fingerprint


def test_which_findings_are_ignored_and_why() -> None:
    out, warnings = apply_ignores(FINDINGS, rules(), TODAY)
    by_id = {f.id: f for f in out}
    assert by_id["CVE-2023-45853"].suppressed == Suppression(
        source="ignore-file:.customhouseignore.yaml",
        reason="MiniZip is not built into zlib1g; Debian marks it unimportant.",
        status="ignored",
        expires="2024-12-31",
    )
    assert by_id["CVE-2024-27351"].suppressed is not None  # matched through its GHSA alias
    assert by_id["aws-access-key-id"].suppressed is not None  # by fingerprint
    # Path narrows: log4j-core is at opt/app/lib, not opt/other.
    assert by_id["CVE-2021-44228"].suppressed is None
    # Expired: reported again, with a warning naming the entry.
    assert by_id["CVE-2024-2961"].suppressed is None
    assert warnings == [
        "ignore entry .customhouseignore.yaml:13 (CVE-2024-2961, path /var/lib/dpkg/) expired on 2024-05-31"
        " and no longer applies; 1 matching finding reported again"
    ]
    untouched = {"CVE-2021-45046", "CVE-2023-44487", "CVE-2024-5535"}
    assert all(by_id[i] == next(f for f in FINDINGS if f.id == i) for i in untouched)
    assert [f.id for f in out] == [f.id for f in FINDINGS]


def test_an_entry_is_in_force_through_its_expiry_day() -> None:
    out, warnings = apply_ignores(FINDINGS, rules(), date(2024, 5, 31))
    assert next(f for f in out if f.id == "CVE-2024-2961").suppressed is not None
    assert warnings == []


def test_existing_suppressions_win() -> None:
    vex = Suppression(source="vex:vendor.json", reason="not affected", status="not_affected")
    f = replace(samples.MINIZIP, suppressed=vex)
    (out,), _ = apply_ignores([f], rules(), TODAY)
    assert out.suppressed == vex


def test_resource_and_package_globs() -> None:
    def misconfig(kind: str, ns: str, name: str) -> Finding:
        loc = Location(path="k8s/deploy.yaml", resource_kind=kind, resource_namespace=ns, resource_name=name)
        return Finding(id="CKV_K8S_20", kind="misconfiguration", severity="high", title="t", location=loc)

    out, _ = apply_ignores(
        [misconfig("Deployment", "kube-system", "coredns"), misconfig("Deployment", "default", "web")], rules(), TODAY
    )
    assert [f.suppressed is not None for f in out] == [True, False]
    other = parse_ignore(
        "- id: CVE-2021-44228\n  package: 'org.apache.*:log4j-*'\n  reason: r\n"
        "- id: CVE-2023-44487\n  package: pkg:golang/golang.org/x/net?arch=arm64\n  reason: r\n",
        "f.yaml",
    )
    out, _ = apply_ignores(FINDINGS, other, TODAY)
    by_id = {f.id: f for f in out}
    assert by_id["CVE-2021-44228"].suppressed is not None
    assert by_id["CVE-2023-44487"].suppressed is None  # a qualifier the package lacks


def test_empty_files_and_bare_lists(tmp_path: Path) -> None:
    assert parse_ignore("", "f") == []
    assert parse_ignore("# nothing yet\n", "f") == []
    assert parse_ignore("ignore:\n", "f") == []
    assert len(parse_ignore("- id: CVE-1\n  reason: r\n", "f")) == 1
    p = tmp_path / ".customhouseignore.yaml"
    p.write_text(IGNORE_FILE)
    assert load_ignore_file(p)[0].source == str(p)


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("- id: CVE-1\n  reason: r\n  pakage: zlib\n", ":3", "unknown key 'pakage'"),
        ("- id: CVE-1\n  package: zlib\n", ":1", "needs a 'reason'"),
        ("- id: CVE-1\n  reason:\n", ":1", "needs a 'reason'"),
        ("- package: zlib\n  reason: r\n", ":1", "needs an 'id' or a 'fingerprint'"),
        ("- id: CVE-1\n  reason: r\n  expires: 2024-13-01\n", ":3", "expires '2024-13-01' is not an ISO date"),
        ("- id: CVE-1\n  reason: r\n  expires: next week\n", ":3", "is not an ISO date"),
        ("- id: CVE-1\n  reason: r\n  id: CVE-2\n", ":3", "duplicate key 'id'"),
        ("- id: [CVE-1, CVE-2]\n  reason: r\n", ":1", "'id' must be a single value"),
        ("- CVE-1\n", ":1", "must be a mapping"),
        ("ignores:\n  - id: CVE-1\n", ":1", "unknown top-level key 'ignores'"),
        ("version: 2\nignore: []\n", ":1", "unsupported version"),
        ("ignore: CVE-1\n", ":1", "expected a list"),
        ("- id: CVE-1\n  reason: 'unterminated\n", ":2", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", ":", "not valid YAML"),
        ("- id: !!python/object:os.system x\n  reason: r\n", "", ""),
    ],
)
def test_bad_entries_name_file_and_line(text: str, where: str, reason: str) -> None:
    if not reason:  # a Python tag is just an unknown tag to the safe loader: read as text
        assert parse_ignore(text, "f.yaml")[0].id == "x"
        return
    with pytest.raises(InputError) as exc:
        parse_ignore(text, ".customhouseignore.yaml")
    assert exc.value.message.startswith(".customhouseignore.yaml" + where)
    assert reason in exc.value.message
    assert exc.value.exit_code == EXIT_INPUT


def test_hostile_files_are_bounded() -> None:
    # Alias bombs cannot expand: entries must be flat mappings of scalars.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nignore: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    with pytest.raises(InputError, match="unknown top-level key 'a'"):
        parse_ignore(bomb, "f")
    nested = "ignore: &e\n  - id: CVE-1\n    reason: r\nx: [*e, *e]\n"
    with pytest.raises(InputError):
        parse_ignore(nested, "f")
    from customhouse.match.ignore import MAX_FILE_BYTES

    with pytest.raises(InputError, match="larger than"):
        parse_ignore(b"#" * (MAX_FILE_BYTES + 1), "f")
    with pytest.raises(InputError, match="not UTF-8"):
        parse_ignore(b"- id: \xff\n", "f")
    with pytest.raises(InputError, match="cannot read ignore file"):
        load_ignore_file("/nonexistent/.customhouseignore.yaml")
