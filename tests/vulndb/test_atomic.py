"""A build killed half-way leaves the previous database in place and usable."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from customhouse.errors import DatabaseError
from customhouse.vulndb.build import build_database, db_lock
from customhouse.vulndb.db import VulnDB
from tests.vulndb.conftest import SharedDB, copy_db, shared_data


def _db_command() -> list[str]:
    """`customhouse db ...` once the main CLI has the db commands, else the same handlers on their own."""
    from customhouse.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    if "db" in (sub.choices or {}):
        return [sys.executable, "-m", "customhouse"]
    return [sys.executable, "-m", "customhouse.vulndb.cli"]


def test_sigkill_mid_build_keeps_old_database(shared_db: SharedDB, tmp_path: Path) -> None:
    db_path = copy_db(shared_db.path, tmp_path / "cache" / "db" / "customhouse.db")
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    cmd = [*_db_command(), "db", "build", "--from", str(shared_data()), "--db", str(db_path), "-q"]
    proc = subprocess.Popen(cmd, env={**os.environ, "CUSTOMHOUSE_CACHE_DIR": str(tmp_path / "cache")})
    temps: list[Path] = []
    deadline = time.monotonic() + 60
    try:
        # Kill once the builder has written a good part of its temporary files.
        while time.monotonic() < deadline and proc.poll() is None:
            temps = list(db_path.parent.glob(".customhouse.db.*.tmp"))
            if sum(t.stat().st_size for t in temps if t.exists()) > 4 << 20:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the build finished or failed before it could be killed")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    # The old database is byte for byte what it was, and scans can use it.
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    with VulnDB(db_path) as db:
        assert [r for r in db.affected("alpine:3.20", ["openssl"]) if r.fix_state == "fixed"]
        assert db.vulnerabilities(["GO-2022-0493"])
    assert all(t.exists() for t in temps)  # the killed builder's leftovers ...
    report = build_database(shared_data(), db_path)  # ... are removed by the next builder
    assert not any(t.exists() for t in temps)
    assert report.counts == shared_db.report.counts
    assert not list(db_path.parent.glob(".*.tmp"))


def test_one_builder_at_a_time(tmp_path: Path) -> None:
    target = tmp_path / "db" / "customhouse.db"
    with db_lock(target), pytest.raises(DatabaseError, match="another customhouse process"):
        build_database(shared_data(), target)
    assert not target.exists()


def _limit_file_size() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(2) instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))


def test_write_failure_removes_temporary_file(shared_db: SharedDB, tmp_path: Path) -> None:
    """A real write error half-way (files capped at 2 MiB, as a full disk would) is exit 4, one line,
    and leaves the old database and no temporary file."""
    db_path = copy_db(shared_db.path, tmp_path / "db" / "customhouse.db")
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    cmd = [*_db_command(), "db", "build", "--from", str(shared_data()), "--db", str(db_path)]
    env = {**os.environ, "CUSTOMHOUSE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=120, check=False
    )
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.count("\n") == 1 and str(db_path) in proc.stderr and "cannot write" in proc.stderr
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert not list(db_path.parent.glob(".*.tmp"))
