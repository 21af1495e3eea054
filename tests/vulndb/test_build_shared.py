"""A database built from all of ../shared/data holds exactly what the real feeds say."""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from customhouse.vulndb.build import discover
from customhouse.vulndb.db import VulnDB
from customhouse.vulndb.feeds.cvss import score_vector
from tests.vulndb.conftest import SharedDB, shared_data


def _rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute(sql, args).fetchall()


def test_layout_of_shared_data_is_recognised() -> None:
    files = {f.rel: (f.kind, f.source) for f in discover(shared_data())}
    assert files["osv/Go-all.zip"] == ("osv-zip", "osv:Go")
    assert files["osv/PyPI-all.zip"] == ("osv-zip", "osv:PyPI")
    assert files["alpine/secdb/v3.20/main.json"] == ("alpine", "alpine-secdb")
    assert files["formats/debian-security-tracker-sample.json"] == ("debian-tracker", "debian-tracker")
    assert files["formats/nvd-api-2.0-page-sample.json"] == ("nvd", "nvd")
    assert files["formats/debian-DSA-list-sample"] == ("debian-dsa", "debian-dsa")
    assert files["kev/known_exploited_vulnerabilities.json"] == ("kev", "kev")
    assert files["formats/epss-sample.csv"] == ("epss", "epss")
    assert files["formats/osv-DSA-3029-1.json"] == ("osv-json", "osv:records")
    assert not any(rel.startswith(("images/", "alpine/minirootfs/")) for rel in files)


def test_go_advisory_with_two_ranges_in_one(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        rows = {
            r.package: r for r in db.affected("golang", ["stdlib", "golang.org/x/sys"]) if r.vuln_id == "GO-2022-0493"
        }
        assert set(rows) == {"stdlib", "golang.org/x/sys"}
        std = rows["stdlib"]
        assert std.ranges == {
            "ranges": [
                {
                    "type": "SEMVER",
                    "events": [
                        ["introduced", "0"],
                        ["fixed", "1.17.10"],
                        ["introduced", "1.18.0-0"],
                        ["fixed", "1.18.2"],
                    ],
                }
            ],
            "versions": [],
        }
        assert (std.fix_state, std.fixed_version, std.source) == ("fixed", "1.17.10, 1.18.2", "osv:Go")
        assert rows["golang.org/x/sys"].fixed_version == "0.0.0-20220412211240-33da011f77ad"
        assert db.aliases(["GO-2022-0493"])["GO-2022-0493"] == {"CVE-2022-29526", "GHSA-p782-xgp4-8hr8"}
        rec = db.vulnerabilities(["GO-2022-0493"])["GO-2022-0493"]
        assert rec.summary == "Incorrect privilege reporting in syscall and golang.org/x/sys/unix"
        assert "https://go.dev/cl/399539" in rec.references


def test_pysec_versions_list_and_computed_cvss(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        rows = [r for r in db.affected("pypi", ["apache-skywalking"]) if r.vuln_id == "PYSEC-2020-342"]
        assert len(rows) == 1
        assert rows[0].ranges["ranges"] == [{"type": "ECOSYSTEM", "events": [["introduced", "0"]]}]
        assert rows[0].ranges["versions"][:3] == ["0.1.0", "0.2.0", "0.3.0"]
        assert rows[0].fix_state == "not_fixed"
        rec = db.vulnerabilities(["PYSEC-2020-342"])["PYSEC-2020-342"]
        # AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H is the textbook 9.8.
        assert rec.cvss == (("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "osv:PyPI"),)


def test_osv_counts_match_the_zips(shared_db: SharedDB) -> None:
    """Every advisory that is not withdrawn is imported; nothing real is skipped."""
    sources = {s.name: s for s in shared_db.report.sources}
    for eco in ("Go", "PyPI"):
        with zipfile.ZipFile(shared_data() / "osv" / f"{eco}-all.zip") as zf:
            docs = [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]
        live = [d for d in docs if not d.get("withdrawn")]
        assert sources[f"osv:{eco}"].records == len(live)
        assert sources[f"osv:{eco}"].skipped == 0
        assert len(docs) - len(live) == sources[f"osv:{eco}"].notes["withdrawn"] > 0
    withdrawn = [d["id"] for d in docs if d.get("withdrawn")]
    assert not _rows(shared_db.path, "SELECT 1 FROM vulnerabilities WHERE id = ?", withdrawn[0])
    # PyPI ids are stored under PEP 503 names: no upper case, no underscores or dots.
    names = [r[0] for r in _rows(shared_db.path, "SELECT DISTINCT package FROM affected WHERE ecosystem = 'pypi'")]
    assert names and all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)


def _secdb_fixes(branch: str) -> set[tuple[str, str, str]]:
    """(package, fixed version, CVE) from the raw secdb JSON, for clean single-CVE entries."""
    out: set[tuple[str, str, str]] = set()
    for repo in ("main", "community"):
        doc = json.loads((shared_data() / "alpine" / "secdb" / branch / f"{repo}.json").read_text())
        for item in doc["packages"]:
            pkg = item["pkg"]
            for version, ids in pkg.get("secfixes", {}).items():
                for entry in ids:
                    if version != "0" and re.fullmatch(r"CVE-\d{4}-\d{4,}", entry):
                        out.add((pkg["name"], version, entry))
    return out


def test_alpine_320_rows_match_secdb(shared_db: SharedDB) -> None:
    expected = _secdb_fixes("v3.20")
    got = {
        (p, f, v)
        for p, f, v in _rows(
            shared_db.path,
            "SELECT package, fixed_version, vuln_id FROM affected WHERE ecosystem = 'alpine:3.20' "
            "AND source = 'alpine-secdb'",
        )
    }
    assert len(expected) > 2000
    assert expected <= got
    # The rest are the multi-id and remark entries, which the raw filter above leaves out.
    assert len(got - expected) < 0.1 * len(expected)
    row = _rows(
        shared_db.path,
        "SELECT ranges, fix_state FROM affected WHERE ecosystem = 'alpine:3.20' AND package = 'aom' "
        "AND vuln_id = 'CVE-2024-5171'",
    )
    expected = '{"ranges":[{"type":"ECOSYSTEM","events":[["introduced","0"],["fixed","3.9.1-r0"]]}],"versions":[]}'
    assert row == [(expected, "fixed")]


def test_alpine_version_zero_means_not_affected(shared_db: SharedDB) -> None:
    zeros = []
    doc = json.loads((shared_data() / "alpine" / "secdb" / "edge" / "community.json").read_text())
    for item in doc["packages"]:
        for cve in item["pkg"].get("secfixes", {}).get("0", []):
            zeros.append((item["pkg"]["name"], cve))
    assert zeros
    name, cve = zeros[0]
    assert not _rows(
        shared_db.path,
        "SELECT 1 FROM affected WHERE ecosystem = 'alpine:edge' AND package = ? AND vuln_id = ?",
        name,
        cve,
    )


def test_alpine_xen_entries_give_each_cve_a_row_with_its_xsa_alias(shared_db: SharedDB) -> None:
    rows = _rows(
        shared_db.path,
        "SELECT vuln_id FROM affected WHERE package = 'xen' AND vuln_id IN ('CVE-2018-3639', 'CVE-2019-17349')",
    )
    assert {r[0] for r in rows} == {"CVE-2018-3639", "CVE-2019-17349"}
    with VulnDB(shared_db.path) as db:
        assert "XSA-263" in db.aliases(["CVE-2018-3639"])["CVE-2018-3639"]


@pytest.mark.parametrize(
    ("package", "cve", "eco", "expected"),
    [
        ("chromium", "CVE-2022-0456", "debian:12", ("fixed", "98.0.4758.80-1", "")),  # urgency not yet assigned
        ("chromium", "CVE-2022-0456", "debian:11", ("fixed", "98.0.4758.80-1~deb11u1", "")),
        ("chromium", "CVE-2022-0456", "debian:10", ("end_of_life", "", "")),  # open, urgency end-of-life
        ("prototypejs", "CVE-2008-7220", "debian:9", ("fixed", "1.6.0.2-1", "high")),  # high** -> high
        ("txt2man", "CVE-2013-1444", "debian:8", ("fixed", "1.5.5-4.1", "low")),
        ("backupninja", "CVE-2005-3111", "debian:10", ("fixed", "0.8-2", "medium")),
        ("sope", "CVE-2025-53603", "debian:13", ("fixed", "5.12.1-2", "")),  # trixie = 13
    ],
)
def test_debian_tracker_statuses(
    shared_db: SharedDB, package: str, cve: str, eco: str, expected: tuple[str, ...]
) -> None:
    rows = _rows(
        shared_db.path,
        "SELECT fix_state, fixed_version, severity FROM affected WHERE package = ? AND vuln_id = ? AND ecosystem = ? "
        "AND source = 'debian-tracker'",
        package,
        cve,
        eco,
    )
    assert rows == [expected]


def test_debian_not_affected_and_sid_have_no_rows(shared_db: SharedDB) -> None:
    # CVE-2007-2383: resolved with fixed_version "0" everywhere -> Debian never shipped it vulnerable.
    assert not _rows(shared_db.path, "SELECT 1 FROM affected WHERE vuln_id = 'CVE-2007-2383'")
    ecos = {
        r[0] for r in _rows(shared_db.path, "SELECT DISTINCT ecosystem FROM affected WHERE source = 'debian-tracker'")
    }
    assert ecos == {"debian:8", "debian:9", "debian:10", "debian:11", "debian:12", "debian:13"}
    desc = _rows(shared_db.path, "SELECT details FROM vulnerabilities WHERE id = 'CVE-2013-1444'")[0][0]
    assert desc.startswith("A certain Debian patch for txt2man")


def test_debian_dsa_list_and_osv_distro_records(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        al = db.aliases(["DSA-140", "DSA-5970-1", "DSA-3029-1", "USN-6315-1", "DLA-3623-1"])
        assert al["DSA-140"] == {"CVE-2002-0660", "CVE-2002-0728"}
        assert al["DSA-5970-1"] == {"CVE-2025-53603"}
        assert al["DSA-3029-1"] == {"CVE-2014-3616"}
        assert "CVE-2023-4015" in al["USN-6315-1"] and not any(a.startswith("UBUNTU-") for a in al["USN-6315-1"])
        assert len(al["DLA-3623-1"]) == 44
        recs = db.vulnerabilities(["DSA-141", "DSA-3029-1"])
        assert recs["DSA-141"].summary == "mpack - buffer overflow"
        assert recs["DSA-141"].published == "2002-08-01T00:00:00Z"
        [nginx] = db.affected("debian:7", ["nginx"])
        assert (nginx.vuln_id, nginx.fixed_version) == ("DSA-3029-1", "1.2.1-2.2+wheezy3")


def test_kev_catalog_complete(shared_db: SharedDB) -> None:
    doc = json.loads((shared_data() / "kev" / "known_exploited_vulnerabilities.json").read_text())
    assert len(doc["vulnerabilities"]) == 1404
    assert _rows(shared_db.path, "SELECT count(*) FROM kev") == [(1404,)]
    first = doc["vulnerabilities"][0]
    with VulnDB(shared_db.path) as db:
        name, added, due, ransom = db.kev([first["cveID"]])[first["cveID"]]
    assert (name, added, due, ransom) == (
        first["vulnerabilityName"],
        first["dateAdded"],
        first["dueDate"],
        first["knownRansomwareCampaignUse"],
    )


def test_nvd_cvss_scores_and_texts(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        scores = db.cvss(["CVE-2023-27314"])["CVE-2023-27314"]
        assert ("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, "nvd@nist.gov") in scores
        rec = db.vulnerabilities(["CVE-2023-27314"])["CVE-2023-27314"]
        assert rec.source == "nvd" and rec.severity == "high"
        assert rec.details.startswith("ONTAP 9 versions prior to 9.8P19")
        assert rec.published == "2023-10-12T19:15:11.747Z"
        assert rec.references == ("https://security.netapp.com/advisory/ntap-20231009-0001/",)
    # NVD's own base scores agree with the scores computed from the vectors (same library OSV uses).
    rows = _rows(shared_db.path, "SELECT vector, score FROM cvss WHERE source NOT LIKE 'osv:%'")
    assert len(rows) > 40
    for vector, score in rows:
        computed = score_vector(vector)
        assert computed is not None and computed[1] == score, vector
    # CPE configurations never become affected rows.
    assert not _rows(shared_db.path, "SELECT 1 FROM affected WHERE vuln_id = 'CVE-2023-27314'")


def test_epss_sample(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        assert db.epss(["CVE-1999-0005"]) == {"CVE-1999-0005": (0.91963, 0.99214)}
    assert _rows(shared_db.path, "SELECT date FROM epss WHERE cve = 'CVE-1999-0001'") == [("2025-02-20",)]


def test_meta_sources_and_eol(shared_db: SharedDB) -> None:
    with VulnDB(shared_db.path) as db:
        assert db.meta["schema_version"] == "1"
        assert db.age_days() is not None and db.age_days() < 1  # type: ignore[operator]
        sources = {s["name"]: s for s in db.sources()}
        assert set(sources) == {
            "alpine-secdb",
            "debian-tracker",
            "debian-dsa",
            "osv:Go",
            "osv:PyPI",
            "osv:records",
            "nvd",
            "kev",
            "epss",
        }
        assert sources["kev"]["url"].endswith("kev/known_exploited_vulnerabilities.json")
        assert len(sources["osv:Go"]["sha256"]) == 64
        assert all(s["skipped"] == 0 for s in sources.values())
        assert db.eol("debian", "12") == "2028-06-30"
        assert db.eol("alpine", "3.20") == "2026-04-01"
        assert db.eol("ubuntu", "18.04") == "2023-05-31"
        assert {"alpine:3.20", "golang", "pypi", "debian:12", "debian:7"} <= db.ecosystems()
