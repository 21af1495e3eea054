"""`customhouse image` end to end: database errors, gates, filters, VEX and the ignore file,
through the real CLI on the real Alpine 3.10 `docker save` archive from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared
from tests.helpers import assert_one_line_error, run_cli
from tests.match.conftest import shared_db


@pytest.fixture(scope="module")
def image() -> str:
    return f"docker-archive:{shared('images/alpine-3.10-docker-archive.tar.gz')}"


def _scan(image: str, tmp: Path, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    run = run_cli("image", image, "--db", str(shared_db()), "-f", "json", *args, cache_dir=tmp / "c", cwd=tmp)
    assert "Traceback" not in run.err
    return run.code, json.loads(run.out) if run.out else {}, run.err


def test_missing_and_corrupt_database(image: str, tmp_path: Path) -> None:
    run = run_cli("image", image, "--db", str(tmp_path / "nope.db"), cache_dir=tmp_path / "c")
    assert_one_line_error(run, 4, "nope.db", "db update")
    bad = tmp_path / "bad.db"
    bad.write_bytes(shared_db().read_bytes()[:50_000])
    run = run_cli("image", image, "--db", str(bad), cache_dir=tmp_path / "c")
    assert run.code == 4 and "db update" in run.err and "Traceback" not in run.err
    run = run_cli("image", image, cache_dir=tmp_path / "empty-cache")
    assert_one_line_error(run, 4, "not found", "db update")


def test_findings_and_gates(image: str, tmp_path: Path) -> None:
    code, doc, err = _scan(image, tmp_path)
    assert code == 0
    assert "end of life" in err  # alpine 3.10 is past its end-of-life date
    ids = {(f["vulnerability"]["package_name"], f["id"]) for f in doc["findings"]}
    assert ("apk-tools", "CVE-2021-36159") in ids and ("libssl1.1", "CVE-2020-1967") in ids
    assert doc["summary"]["total"] == len(doc["findings"]) > 10
    order = ("unknown", "info", "low", "medium", "high", "critical")
    worst = max(order.index(f["severity"]) for f in doc["findings"])
    assert _scan(image, tmp_path, "--fail-on", order[worst])[0] == 1
    if worst + 1 < len(order):  # a threshold above every finding passes
        assert _scan(image, tmp_path, "--fail-on", order[worst + 1])[0] == 0
    run = run_cli("image", image, "--db", str(shared_db()), "--fail-on", "severe", cache_dir=tmp_path / "c")
    assert_one_line_error(run, 2, "unknown severity severe")


def test_filters(image: str, tmp_path: Path) -> None:
    _, full, _ = _scan(image, tmp_path)
    _, kev_only, _ = _scan(image, tmp_path, "--only-kev")
    assert all(f["vulnerability"]["kev"] for f in kev_only["findings"])
    assert len(kev_only["findings"]) == sum(f["vulnerability"]["kev"] for f in full["findings"])
    _, unknown_only, _ = _scan(image, tmp_path, "--severity", "unknown")
    assert {f["severity"] for f in unknown_only["findings"]} <= {"unknown"}
    _, fixed_only, _ = _scan(image, tmp_path, "--ignore-unfixed")
    assert all(f["vulnerability"]["fix_state"] == "fixed" for f in fixed_only["findings"])


def test_vex_and_ignore_file_suppress_but_keep_in_json(image: str, tmp_path: Path) -> None:
    vex = tmp_path / "apk.openvex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/1",
                "author": "platform team",
                "timestamp": "2024-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "CVE-2021-36159"},
                        "products": [{"@id": "pkg:apk/alpine/apk-tools"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                    }
                ],
            }
        )
    )
    ignore = tmp_path / ".customhouseignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: CVE-2020-1967\n    package: libssl1.1\n    reason: TLS is terminated by the proxy\n"
        "    expires: 2999-01-01\n"
        "  - id: CVE-2021-3449\n    reason: accepted until the rebuild\n    expires: 2000-01-01\n"
    )
    code, doc, err = _scan(image, tmp_path, "--vex", str(vex), "--fail-on", "unknown")
    sup = {(f["vulnerability"]["package_name"], f["id"]): f["suppressed"] for f in doc["findings"] if f["suppressed"]}
    assert sup[("apk-tools", "CVE-2021-36159")]["source"].startswith("vex:")
    # the ignore file in the working directory is picked up by default
    assert sup[("libssl1.1", "CVE-2020-1967")]["reason"] == "TLS is terminated by the proxy"
    assert ("libcrypto1.1", "CVE-2020-1967") not in sup  # `package` narrows the entry
    assert not any(k[1] == "CVE-2021-3449" for k in sup)  # expired: reported again ...
    assert "CVE-2021-3449" in err and "expired" in err  # ... with a warning
    assert code == 1  # other findings still fail the gate
    table = run_cli("image", image, "--db", str(shared_db()), "--vex", str(vex), cache_dir=tmp_path / "c", cwd=tmp_path)
    assert "CVE-2021-36159" not in table.out and "suppressed" in table.out.lower()
