"""Broken feed records are skipped and counted per source; broken databases say `db update`."""

from __future__ import annotations

import gzip
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from customhouse.errors import EXIT_DATABASE, EXIT_INPUT, EXIT_OK, DatabaseError, InputError
from customhouse.vulndb.build import build_database, status
from customhouse.vulndb.cli import run
from customhouse.vulndb.db import VulnDB
from customhouse.vulndb.feeds import MAX_RECORD_BYTES
from customhouse.vulndb.feeds.osv import map_ecosystem, normalize_package
from tests.vulndb.conftest import SharedDB, copy_db

GOOD = {
    "id": "TEST-0001",
    "modified": "2024-01-01T00:00:00Z",
    "aliases": ["CVE-2024-0001"],
    "summary": "a good record",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "Some_Package.Name"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.5"}]},
                {"type": "GIT", "repo": "https://example.org/x.git", "events": [{"introduced": "abc"}]},
            ],
        }
    ],
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
}


def _record(**changes: Any) -> bytes:
    doc = json.loads(json.dumps(GOOD))
    doc.update(changes)
    return json.dumps(doc).encode()


def _write_mirror(root: Path) -> None:
    osv = root / "osv"
    osv.mkdir(parents=True)
    with zipfile.ZipFile(osv / "Test-all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("TEST-0001.json", json.dumps(GOOD))
        zf.writestr("broken.json", b'{"id": "TEST-0002", "affected": [')
        zf.writestr("not-utf8.json", b"\xff\xfe{")
        zf.writestr("list.json", b"[1, 2, 3]")
        zf.writestr("deep.json", b"[" * 200_000 + b"]" * 200_000)
        zf.writestr("no-id.json", _record(id=None))
        zf.writestr("id-number.json", _record(id=42))
        zf.writestr("affected-string.json", _record(id="TEST-0003", affected="everything"))
        zf.writestr(
            "event-int.json",
            _record(id="TEST-0004", affected=[{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [
                {"type": "SEMVER", "events": [{"introduced": 0}]}]}]),
        )  # fmt: skip
        zf.writestr(
            "event-unknown.json",
            _record(id="TEST-0005", affected=[{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [
                {"type": "SEMVER", "events": [{"removed": "1.0"}]}]}]),
        )  # fmt: skip
        zf.writestr("no-package.json", _record(id="TEST-0006", affected=[{"ranges": []}]))
        zf.writestr("summary-list.json", _record(id="TEST-0007", summary=["not", "a", "string"]))
        zf.writestr("huge.json", _record(id="TEST-0008", details="x" * (MAX_RECORD_BYTES + 10)))
        zf.writestr("huge-field.json", _record(id="TEST-0009", details="y" * 1_000_000))  # big but allowed
        zf.writestr("withdrawn.json", _record(id="TEST-0010", withdrawn="2024-02-02T00:00:00Z"))
        zf.writestr(
            "unmapped.json",
            _record(id="TEST-0011", affected=[{"package": {"ecosystem": "Android", "name": "x"}, "versions": ["1"]}]),
        )
        zf.writestr("README.md", b"not a record")
    secdb = root / "alpine" / "secdb" / "v3.20"
    secdb.mkdir(parents=True)
    (secdb / "main.json").write_text(
        json.dumps(
            {
                "distroversion": "v3.20",
                "packages": [
                    {"pkg": {"name": "good", "secfixes": {"1.2-r0": ["CVE-2024-1000"], "0": ["CVE-2024-1001"]}}},
                    {"pkg": {"name": "badlist", "secfixes": {"1.0-r0": "CVE-2024-1002"}}},
                    {"pkg": {"name": "badentry", "secfixes": {"1.0-r0": [7, "CVE-2024-1003"]}}},
                    {"pkg": {"secfixes": {"1.0-r0": ["CVE-2024-1004"]}}},
                    "not an object",
                    {"pkg": {"name": "badfixes", "secfixes": ["CVE-2024-1005"]}},
                ],
            }
        )
    )
    (secdb / "community.json").write_text('{"distroversion": "v3.20", "packages": [')
    (root / "debian").mkdir()
    (root / "debian" / "tracker.json").write_text(
        json.dumps(
            {
                "pkg": {
                    "CVE-2024-2000": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}},
                    "CVE-2024-2001": {"releases": {"bookworm": {"status": "exploded"}}},
                    "CVE-2024-2002": {"releases": "bookworm"},
                    "CVE-2024-2003": {"releases": {"bookworm": {"status": "resolved", "fixed_version": 12}}},
                    "CVE-2024-2004": {
                        "releases": {
                            "bookworm": {"status": "open", "nodsa": "Minor issue", "nodsa_reason": "ignored"},
                            "bullseye": {"status": "open", "nodsa_reason": "postponed", "urgency": "medium**"},
                            "buster": {"status": "undetermined"},
                        }
                    },
                },
                "other": "not an object",
            }
        )
    )
    (root / "nvd").mkdir()
    (root / "nvd" / "page.json.gz").write_bytes(
        gzip.compress(
            json.dumps(
                {
                    "vulnerabilities": [
                        {"cve": {"id": "CVE-2024-3000", "descriptions": [{"lang": "en", "value": "fine"}]}},
                        {"cve": {"id": "NOT-A-CVE"}},
                        {"cve": "string"},
                        {"cve": {"id": "CVE-2024-3001", "metrics": {"cvssMetricV31": "bad"}}},
                        {"cve": {"id": "CVE-2024-3002", "vulnStatus": "Rejected"}},
                    ]
                }
            ).encode()
        )
    )
    (root / "kev").mkdir()
    (root / "kev" / "kev.json").write_text(
        json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-4000", "vulnerabilityName": "x"}, {"cveID": 5}, []]})
    )
    (root / "epss").mkdir()
    (root / "epss" / "epss.csv").write_text(
        "#model_version:v1,score_date:2025-01-02T00:00:00+0000\ncve,epss,percentile\n"
        "CVE-2024-5000,0.5,0.9\nCVE-2024-5001,abc,0.1\nCVE-2024-5002,1.5,0.1\nnonsense\n"
    )


@pytest.fixture(scope="module")
def broken_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("broken-mirror")
    _write_mirror(root)
    db_path = root.parent / (root.name + "-db") / "customhouse.db"
    return db_path, build_database(root, db_path)


def test_skips_are_counted_per_source(broken_build: tuple[Path, Any]) -> None:
    _, report = broken_build
    stats = {s.name: s for s in report.sources}
    osv = stats["osv:Test"]
    # TEST-0001, the big-but-allowed TEST-0009, and TEST-0011 (kept as an advisory without rows)
    assert osv.records == 3
    assert osv.records + osv.skipped + osv.notes["withdrawn"] == 16  # every JSON member; README ignored
    assert osv.reasons["bad JSON"] == 3  # truncated, not UTF-8, nested too deep
    assert osv.reasons["record is not a JSON object"] == 1
    assert osv.reasons["record too large"] == 1
    assert osv.notes["withdrawn"] == 1
    assert osv.notes["unmapped ecosystem Android"] == 1
    assert osv.notes["GIT range dropped"] >= 1
    assert stats["alpine-secdb"].records == 2  # good 1.2-r0 and the CVE after the bad entry
    assert stats["alpine-secdb"].skipped == 6
    assert stats["debian-tracker"].records == 2 and stats["debian-tracker"].skipped == 4
    assert stats["nvd"].records == 1 and stats["nvd"].skipped == 3 and stats["nvd"].notes["rejected"] == 1
    assert stats["kev"].records == 1 and stats["kev"].skipped == 2
    assert stats["epss"].records == 1 and stats["epss"].skipped == 3
    assert report.skipped == sum(s.skipped for s in report.sources)


def test_good_records_survive_their_neighbours(broken_build: tuple[Path, Any]) -> None:
    db_path, _ = broken_build
    with VulnDB(db_path) as db:
        [row] = [r for r in db.affected("pypi", ["some-package-name"]) if r.vuln_id == "TEST-0001"]  # PEP 503
        assert row.ranges == {
            "ranges": [{"type": "ECOSYSTEM", "events": [["introduced", "1.0"], ["fixed", "1.5"]]}],
            "versions": [],
        }  # the GIT range is dropped
        assert db.vulnerabilities(["TEST-0009"])["TEST-0009"].details == "y" * (64 << 10)  # capped, not dropped
        assert not db.vulnerabilities(["TEST-0010"])  # withdrawn
        assert {r.vuln_id for r in db.affected("alpine:3.20", ["good", "badentry"])} == {
            "CVE-2024-1000",
            "CVE-2024-1003",
        }
    con = sqlite3.connect(db_path)
    rows = set(con.execute("SELECT ecosystem, fix_state, severity FROM affected WHERE vuln_id = 'CVE-2024-2004'"))
    con.close()
    assert rows == {
        ("debian:12", "will_not_fix", ""),
        ("debian:11", "not_fixed", "medium"),
        ("debian:10", "unknown", ""),
    }


def test_build_reports_skips_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "mirror"
    _write_mirror(root)
    assert run(["db", "build", "--from", str(root), "--db", str(tmp_path / "x.db"), "--cache-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "osv:Test: 3 records; 12 skipped" in err
    assert "customhouse: warning: osv:Test:" in err and "bad JSON" in err
    assert "Traceback" not in err


def test_empty_or_missing_source_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no feed files found"):
        build_database(tmp_path / "empty", tmp_path / "db.sqlite")
    assert run(["db", "build", "--from", str(tmp_path / "nope"), "--cache-dir", str(tmp_path)]) == EXIT_INPUT
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing", "other-schema"])
def test_unusable_database_says_db_update(
    shared_db: SharedDB, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    path = tmp_path / "db" / "customhouse.db"
    path.parent.mkdir()
    if damage == "garbage":
        path.write_bytes(b"this is not sqlite" * 1000)
    elif damage == "truncated":
        data = shared_db.path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other-schema":
        copy_db(shared_db.path, path)
        with sqlite3.connect(path) as con:
            con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
        con.close()
    with pytest.raises(DatabaseError, match="db update"):
        status(path)
    capsys.readouterr()
    assert run(["db", "status", "--db", str(path), "--cache-dir", str(tmp_path)]) == EXIT_DATABASE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "db update" in err


def test_good_database_status_exit_zero(shared_db: SharedDB, tmp_path: Path) -> None:
    assert run(["db", "status", "--db", str(shared_db.path), "-o", str(tmp_path / "s.json"), "-f", "json"]) == EXIT_OK
    assert json.loads((tmp_path / "s.json").read_text())["counts"]["kev"] == 1404


@pytest.mark.parametrize(
    ("osv", "key"),
    [
        ("Debian:12", "debian:12"),
        ("Debian:bookworm", "debian:12"),
        ("Alpine:v3.20", "alpine:3.20"),
        ("Ubuntu:22.04:LTS", "ubuntu:22.04"),
        ("Ubuntu:Pro:18.04:LTS", "ubuntu:18.04"),
        ("Ubuntu:24.10", "ubuntu:24.10"),
        ("Red Hat:enterprise_linux:9::appstream", "rhel:9"),
        ("Red Hat:enterprise_linux:8::baseos", "rhel:8"),
        ("Red Hat:rhel_eus:9.2::baseos", None),
        ("Red Hat:openshift:4.14::el9", None),
        ("AlmaLinux:9", "almalinux:9"),
        ("Rocky Linux:8", "rocky:8"),
        ("SUSE:Linux Enterprise Server 15 SP6", "sles:15.6"),
        ("SUSE:Linux Enterprise Module for Basesystem 15 SP5", "sles:15.5"),
        ("SUSE:Linux Enterprise Server 12", "sles:12"),
        ("SUSE:Linux Enterprise Micro 5.5", None),
        ("openSUSE:Leap 15.6", "opensuse:15.6"),
        ("openSUSE:Tumbleweed", "opensuse:tumbleweed"),
        ("openSUSE:Leap Micro 5.5", None),
        ("Wolfi", "wolfi"),
        ("Chainguard", "chainguard"),
        ("Go", "golang"),
        ("crates.io", "cargo"),
        ("RubyGems", "gem"),
        ("NuGet", "nuget"),
        ("Packagist", "composer"),
        ("PyPI", "pypi"),
        ("npm", "npm"),
        ("Maven", "maven"),
        ("Android", None),
        ("GIT", None),
    ],
)
def test_ecosystem_mapping(osv: str, key: str | None) -> None:
    assert map_ecosystem(osv) == key


def test_package_names_normalised() -> None:
    assert normalize_package("pypi", "Django_REST.framework") == "django-rest-framework"
    assert normalize_package("nuget", "Newtonsoft.Json") == "newtonsoft.json"
    assert normalize_package("composer", "Symfony/HTTP-Kernel") == "symfony/http-kernel"
    assert normalize_package("maven", "org.Apache:Foo") == "org.Apache:Foo"
    assert normalize_package("npm", "@Scope/Name") == "@Scope/Name"
