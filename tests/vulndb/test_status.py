"""`db status`, the age check scans call, and the synthetic database generator."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from customhouse.errors import EXIT_DATABASE, EXIT_OK
from customhouse.vulndb.build import check_age
from customhouse.vulndb.cli import run
from customhouse.vulndb.db import VulnDB
from customhouse.vulndb.synthetic import ECOSYSTEMS, generate
from tests.vulndb.conftest import SharedDB, copy_db


def test_status_table(shared_db: SharedDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "status", "--db", str(shared_db.path)]) == EXIT_OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"database  {shared_db.path}"
    assert lines[1] == "schema    1"
    assert "hours ago" in lines[2]
    kev = next(line for line in lines if line.startswith("kev "))
    assert kev.split()[1:3] == ["1404", "0"] and kev.endswith("kev/known_exploited_vulnerabilities.json")
    assert any(line.split() == ["affected", str(shared_db.report.counts["affected"])] for line in lines)


def test_status_json(shared_db: SharedDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "status", "--db", str(shared_db.path), "--format", "json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["schema_version"] == 1
    assert info["size_bytes"] == shared_db.path.stat().st_size
    assert info["counts"] == shared_db.report.counts
    assert 0 <= info["age_days"] < 1
    by_name = {s["name"]: s for s in info["sources"]}
    assert by_name["osv:Go"]["records"] == 4274 and by_name["osv:Go"]["skipped"] == 0
    assert set(by_name["nvd"]) == {"name", "url", "fetched_at", "records", "skipped", "sha256"}


def test_status_without_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "status", "--cache-dir", str(tmp_path)]) == EXIT_DATABASE
    err = capsys.readouterr().err
    assert "vulnerability database not found" in err and "db update" in err
    assert not (tmp_path / "db").exists()  # status never creates anything


def _aged(shared_db: SharedDB, tmp_path: Path, built_at: str) -> Path:
    path = copy_db(shared_db.path, tmp_path / "aged.db")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'built_at'", (built_at,))
    con.close()
    return path


def test_check_age(shared_db: SharedDB, tmp_path: Path) -> None:
    with VulnDB(shared_db.path) as db:
        assert check_age(db, 7) is None
    with VulnDB(_aged(shared_db, tmp_path, "2020-01-01T00:00:00Z")) as db:
        warning = check_age(db, 7)
        assert warning is not None and "days old (limit 7)" in warning and "db update" in warning
        assert check_age(db, 0) is None  # disabled
    with VulnDB(_aged(shared_db, tmp_path, "yesterday-ish")) as db:
        assert "no build time" in (check_age(db, 7) or "")


def test_synthetic_database_shape(tmp_path: Path) -> None:
    stats = generate(tmp_path / "synthetic.db", affected_rows=40_000, seed=3)
    assert abs(stats.affected - 40_000) < 30
    with VulnDB(stats.path) as db:
        counts = db.counts()
        assert counts["affected"] == stats.affected
        assert {key for key, _, _ in ECOSYSTEMS} == db.ecosystems()
        rows = db.affected("debian:12", ["linux", "openssl"])
        assert any(r.package == "linux" for r in rows)
        # The most popular package has far more rows than a typical one, as in real feeds.
        con = sqlite3.connect(stats.path)
        per_pkg = [
            n for (n,) in con.execute("SELECT count(*) FROM affected WHERE ecosystem = 'debian:12' GROUP BY package")
        ]
        con.close()
        assert max(per_pkg) > 20 * sorted(per_pkg)[len(per_pkg) // 2]
        fix_states = {r.fix_state for r in db.affected("ubuntu:22.04", ["linux"])}
        assert {"fixed", "not_fixed"} <= fix_states
        for r in rows[:50]:
            [rng] = r.ranges["ranges"]
            assert rng["type"] == "ECOSYSTEM" and rng["events"][0] == ["introduced", "0"]
        assert db.cvss([rows[0].vuln_id]) and db.epss([rows[0].vuln_id])
    again = generate(tmp_path / "again.db", affected_rows=40_000, seed=3)
    a = sqlite3.connect(stats.path).execute("SELECT vuln_id, package, ranges FROM affected ORDER BY rowid").fetchall()
    b = sqlite3.connect(again.path).execute("SELECT vuln_id, package, ranges FROM affected ORDER BY rowid").fetchall()
    assert a == b  # deterministic for a seed
