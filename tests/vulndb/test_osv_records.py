"""How one OSV record becomes rows: ranges, fix states, severities, aliases."""

from __future__ import annotations

import json
from typing import Any

from customhouse.vulndb.feeds import FeedStats
from customhouse.vulndb.feeds.osv import parse_record


def _parse(doc: dict[str, Any]) -> tuple[Any, list[str], list[Any]]:
    got = parse_record(doc, "osv:Test", FeedStats("osv:Test", "x"))
    assert got is not None
    return got


def _entry(eco: str, name: str, *ranges: dict[str, Any], versions: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": eco, "name": name}, "ranges": list(ranges)}
    if versions is not None:
        entry["versions"] = versions
    return entry


def _rng(kind: str, *events: tuple[str, str]) -> dict[str, Any]:
    return {"type": kind, "events": [{k: v} for k, v in events]}


def test_one_row_per_package_with_all_its_ranges() -> None:
    doc = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "affected": [
            _entry(
                "npm",
                "left-pad",
                _rng("SEMVER", ("introduced", "0"), ("fixed", "1.5.0")),
                _rng("ECOSYSTEM", ("introduced", "2.0.0"), ("fixed", "2.0.1"), ("limit", "3.0.0")),
                _rng("GIT", ("introduced", "deadbeef")),
                versions=["1.4.0", "2.0.0"],
            )
        ],
    }
    _, _, [row] = _parse(doc)
    assert json.loads(row.ranges) == {
        "ranges": [
            {"type": "SEMVER", "events": [["introduced", "0"], ["fixed", "1.5.0"]]},
            {"type": "ECOSYSTEM", "events": [["introduced", "2.0.0"], ["fixed", "2.0.1"], ["limit", "3.0.0"]]},
        ],
        "versions": ["1.4.0", "2.0.0"],
    }
    assert (row.fix_state, row.fixed_version) == ("fixed", "1.5.0, 2.0.1")


def test_fix_states() -> None:
    doc = {
        "id": "PYSEC-0000-1",
        "affected": [
            _entry("PyPI", "a", _rng("ECOSYSTEM", ("introduced", "1.0"), ("last_affected", "1.9"))),
            _entry("PyPI", "b", _rng("ECOSYSTEM", ("introduced", "0"))),
            _entry("PyPI", "c", versions=["1.0", "1.1"]),
            _entry("PyPI", "d", _rng("GIT", ("introduced", "abc"))),  # nothing comparable: no row
        ],
    }
    _, _, rows = _parse(doc)
    assert {r.package: r.fix_state for r in rows} == {"a": "unknown", "b": "not_fixed", "c": "unknown"}


def test_distro_severity_and_cvss() -> None:
    doc = {
        "id": "UBUNTU-CVE-2024-1234",
        "upstream": ["CVE-2024-1234"],
        "related": ["USN-7000-1"],
        "severity": [
            {"type": "Ubuntu", "score": "medium"},
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
        ],
        "affected": [_entry("Ubuntu:22.04:LTS", "openssl", _rng("ECOSYSTEM", ("introduced", "0")))],
    }
    vuln, aliases, [row] = _parse(doc)
    assert (row.ecosystem, row.severity, row.fix_state) == ("ubuntu:22.04", "medium", "not_fixed")
    assert vuln.severity == "medium" and vuln.cvss == [("3.1", doc["severity"][1]["score"], 7.5, "osv:Test")]
    assert aliases == ["CVE-2024-1234"]  # upstream yes, related no


def test_ghsa_severity_stays_on_the_advisory() -> None:
    doc = {
        "id": "GHSA-xxxx-yyyy-zzzz",
        "aliases": ["CVE-2024-9", "not an id"],
        "database_specific": {"severity": "MODERATE"},
        "affected": [_entry("Maven", "org.example:lib", _rng("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.1")))],
    }
    vuln, aliases, [row] = _parse(doc)
    assert (vuln.severity, row.severity, row.package) == ("medium", "", "org.example:lib")
    assert aliases == ["CVE-2024-9"]


def test_products_mapped_to_one_key_collapse() -> None:
    fix = _rng("ECOSYSTEM", ("introduced", "0"), ("fixed", "3.0.8-150600.5.3.1"))
    doc = {
        "id": "SUSE-SU-2024:0001-1",
        "affected": [
            _entry("SUSE:Linux Enterprise Server 15 SP6", "libopenssl3", fix),
            _entry("SUSE:Linux Enterprise Module for Basesystem 15 SP6", "libopenssl3", fix),
            _entry("SUSE:Linux Enterprise Micro 5.5", "libopenssl3", fix),
            _entry("openSUSE:Leap 15.6", "libopenssl3", fix),
        ],
    }
    _, _, rows = _parse(doc)
    assert sorted((r.ecosystem, r.package) for r in rows) == [
        ("opensuse:15.6", "libopenssl3"),
        ("sles:15.6", "libopenssl3"),
    ]
