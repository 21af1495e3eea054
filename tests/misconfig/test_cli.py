"""`customhouse config`, `customhouse checks` and `customhouse image --scanners misconfig`, run
as a user runs them: the real CLI in a subprocess, on small trees written by the test.

Each test states what the user sees (exit code, report, one warning line per problem) and
checks it against the files it wrote: lines are looked up in the fixture text, expected check
ids come from the check registry, so a test says *which* finding, not a number that drifts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from customhouse.misconfig.engine import all_checks, get_check
from tests.conftest import ROOT, shared
from tests.helpers import Run, assert_one_line_error, run_cli
from tests.misconfig.hostconfig.util import DATA, line_of
from tests.reports import conftest as report_fixtures

# The official SARIF 2.1.0 schema, fetched and cached exactly as the report tests get it.
sarif_package = report_fixtures.sarif_package
sarif_schema = report_fixtures.sarif_schema

COMPOSE = """\
services:
  web:
    image: nginx:1.27
    # customhouse:ignore=CH-DC-001 the demo needs raw devices
    privileged: true
  db:
    image: postgres:16
    privileged: true  # customhouse:ignore=CH-DC-002,CH-DC-001 replication tool needs it
  cache:
    image: redis:7
    privileged: true
    ports:
      - "22:22"  # customhouse:ignore=CH-DC-018 lab bastion
      - "2375:2375"
"""

DAEMON = '{\n  "icc": true,\n  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]\n}\n'

KUBELET = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
readOnlyPort: 10255
"""


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(
        tmp_path / "repo",
        {"app/docker-compose.yml": COMPOSE, "host/daemon.json": DAEMON, "node/kubelet-config.yaml": KUBELET},
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory, so no ./.customhouseignore.yaml of the checkout applies."""
    d = tmp_path / "cwd"
    d.mkdir()
    return d


def config(target: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    return run_cli("config", str(target), *args, cache_dir=cwd.parent / "cache", cwd=cwd, env=env)


def report(target: Path, *args: str, cwd: Path, codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    r = config(target, "-f", "json", *args, cwd=cwd)
    assert r.code in codes, (r.code, r.err)
    assert "Traceback" not in r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


def found(doc: dict[str, Any], check_id: str, path: str = "") -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["id"] == check_id and (not path or f["location"]["path"] == path)]


def by_line(doc: dict[str, Any], check_id: str, path: str) -> dict[int, dict[str, Any] | None]:
    """line -> suppression (None when the finding counts) of one check's findings in one file."""
    return {f["location"]["line"]: f["suppressed"] for f in found(doc, check_id, path)}


def warning_lines(run: Run) -> list[str]:
    return [ln for ln in run.err.splitlines() if ln.strip()]


# ------------------------------------------------------------------------------ suppression


def test_inline_suppression_on_the_line_and_in_the_comment_above(tree: Path, workdir: Path) -> None:
    doc = report(tree, cwd=workdir)
    path = "app/docker-compose.yml"
    priv = by_line(doc, "CH-DC-001", path)
    web, db, cache = (line_of(COMPOSE, "privileged: true", n) for n in (1, 2, 3))
    assert set(priv) == {web, db, cache}
    # the comment line above, and a trailing comment on the line itself naming several ids
    assert priv[web] == {
        "source": "inline",
        "reason": "the demo needs raw devices",
        "status": "ignored",
        "justification": "",
        "expires": "",
    }
    assert priv[db] is not None and priv[db]["reason"] == "replication tool needs it"
    assert priv[cache] is None
    # A trailing comment covers its own line only, never the next one.
    ports = by_line(doc, "CH-DC-018", path)
    assert ports[line_of(COMPOSE, '"22:22"')] is not None
    assert ports[line_of(COMPOSE, '"2375:2375"')] is None
    s = doc["summary"]
    assert s["suppressed"] == 3 and s["suppressed_by_source"] == {"inline": 3}
    assert s["total"] == sum(1 for f in doc["findings"] if f["suppressed"] is None)
    # The table hides suppressed findings but says how many there are.
    table = config(tree, cwd=workdir).out
    assert "service 'web' runs privileged" not in table and "service 'cache' runs privileged" in table
    assert "3 suppressed findings not shown (3 by inline)" in table


def test_suppressed_findings_do_not_count_for_fail_on(tmp_path: Path, workdir: Path) -> None:
    text = (
        "services:\n  web:\n    image: nginx:1.27\n    # customhouse:ignore=CH-DC-001 accepted\n    privileged: true\n"
    )
    root = write(tmp_path / "repo", {"compose.yaml": text})
    critical = [c.meta.id for c in all_checks() if c.meta.severity == "critical" and "compose" in c.meta.file_types]
    assert "CH-DC-001" in critical
    doc = report(root, "--fail-on", "critical", cwd=workdir, codes=(0,))
    assert [f["suppressed"]["source"] for f in found(doc, "CH-DC-001")] == ["inline"]
    (root / "compose.yaml").write_text(text.replace("customhouse:ignore=CH-DC-001", "customhouse:ignore=CH-DC-002"))
    doc = report(root, "--fail-on", "critical", cwd=workdir, codes=(1,))
    assert [f["suppressed"] for f in found(doc, "CH-DC-001")] == [None]


def test_ignore_file_active_and_expired_entries(tree: Path, workdir: Path) -> None:
    ignore = workdir / "team-ignore.yaml"
    ignore.write_text(
        "version: 1\n"
        "ignore:\n"
        "  - id: CH-DD-007\n"
        "    path: host/daemon.json\n"
        "    reason: lab host behind the firewall\n"
        "    expires: 2999-12-31\n"
        "  - id: CH-DC-001\n"
        "    path: app/*\n"
        "    reason: exception from last year\n"
        "    expires: 2001-01-31\n"
    )
    r = config(tree, "-f", "json", "--ignore-file", str(ignore), "--fail-on", "critical", cwd=workdir)
    # CH-DD-007 (critical) is accepted, but the expired entry lets the cache's CH-DC-001 fail the scan.
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    (api,) = found(doc, "CH-DD-007")
    assert api["suppressed"] == {
        "source": f"ignore-file:{ignore}",
        "reason": "lab host behind the firewall",
        "status": "ignored",
        "justification": "",
        "expires": "2999-12-31",
    }
    cache = line_of(COMPOSE, "privileged: true", 3)
    assert by_line(doc, "CH-DC-001", "app/docker-compose.yml")[cache] is None
    expected = (
        f"ignore entry {ignore}:7 (CH-DC-001, path app/*) expired on 2001-01-31 and no longer applies; "
        "1 matching finding reported again"
    )
    assert warning_lines(r) == [f"customhouse: warning: {expected}"]
    assert doc["warnings"] == [expected]
    # The default ./.customhouseignore.yaml is read from the working directory.
    ignore.rename(workdir / ".customhouseignore.yaml")
    doc = report(tree, cwd=workdir)
    assert found(doc, "CH-DD-007")[0]["suppressed"]["source"] == "ignore-file:.customhouseignore.yaml"


def test_ignore_file_errors_are_input_errors(tree: Path, workdir: Path) -> None:
    bad = workdir / "ignore.yaml"
    bad.write_text("ignore:\n  - id: CH-DC-001\n    pakage: x\n    reason: typo\n")
    r = config(tree, "--ignore-file", str(bad), cwd=workdir)
    assert_one_line_error(r, 3, f"{bad}:3", "pakage")
    assert r.out == ""
    r = config(tree, "--ignore-file", str(workdir / "missing.yaml"), cwd=workdir)
    assert_one_line_error(r, 3, "missing.yaml")


def test_skip_check_comma_lists_and_repeats(tree: Path, workdir: Path) -> None:
    everything = {f["id"] for f in report(tree, cwd=workdir)["findings"]}
    skipped = {"CH-DC-001", "CH-DC-018", "CH-DD-001", "CH-KL-001"}
    assert skipped <= everything
    doc = report(
        tree, "--skip-check", "CH-DC-001,ch-dc-018", "--skip-check", "CH-DD-001", "--skip-check=CH-KL-001", cwd=workdir
    )
    assert {f["id"] for f in doc["findings"]} == everything - skipped


@pytest.mark.parametrize("value", ["CH-DC-999", "NOPE", "CH-DC-001,CH-XX-001"])
def test_unknown_skip_check_is_a_usage_error(tree: Path, workdir: Path, value: str) -> None:
    r = config(tree, "--skip-check", value, cwd=workdir)
    assert_one_line_error(r, 2, "--skip-check", "unknown check id", value.rsplit(",", maxsplit=1)[-1])
    assert r.out == ""


def test_enable_check_runs_an_off_by_default_check(tmp_path: Path, workdir: Path) -> None:
    check = get_check("CH-CD-002")
    assert check is not None and not check.meta.enabled_by_default
    root = write(
        tmp_path / "node", {"etc/containerd/config.toml": (DATA / "containerd-1.6.20-default.toml").read_text()}
    )
    assert found(report(root, cwd=workdir), "CH-CD-002") == []
    (f,) = found(report(root, "--enable-check", "CH-CD-002", cwd=workdir), "CH-CD-002")
    assert f["location"]["path"] == "etc/containerd/config.toml" and f["location"]["line"] > 0
    assert_one_line_error(config(root, "--enable-check", "CH-CD-999", cwd=workdir), 2, "--enable-check")


def test_skip_check_knows_custom_policy_ids(tree: Path, workdir: Path) -> None:
    policies = str(ROOT / "tests" / "misconfig" / "rego" / "policies")
    doc = report(tree, "--policy", policies, cwd=workdir)
    custom = {f["id"] for f in doc["findings"] if not f["id"].startswith("CH-")}
    assert "ORG-COMPOSE-001" in custom
    skipped = report(tree, "--policy", policies, "--skip-check", "org-compose-001", cwd=workdir)
    assert {f["id"] for f in skipped["findings"] if not f["id"].startswith("CH-")} == custom - {"ORG-COMPOSE-001"}
    r = config(tree, "--policy", policies, "--skip-check", "ORG-COMPOSE-999", cwd=workdir)
    assert_one_line_error(r, 2, "--skip-check", "ORG-COMPOSE-999")
    # without --policy a custom id names nothing
    assert_one_line_error(config(tree, "--skip-check", "ORG-COMPOSE-001", cwd=workdir), 2, "ORG-COMPOSE-001")


# ------------------------------------------------------------------------------ gates and filters


@pytest.fixture
def high_only(tmp_path: Path) -> Path:
    """A compose file whose worst finding is high (host network), nothing critical."""
    return write(
        tmp_path / "high", {"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    network_mode: host\n"}
    )


@pytest.mark.parametrize(
    ("fail_on", "code"), [("", 0), ("critical", 0), ("high", 1), ("HIGH", 1), ("medium", 1), ("info", 1)]
)
def test_fail_on_exit_codes(high_only: Path, workdir: Path, fail_on: str, code: int) -> None:
    args = ("--fail-on", fail_on) if fail_on else ()
    doc = report(high_only, *args, cwd=workdir, codes=(code,))
    worst = max(doc["findings"], key=lambda f: ["info", "low", "medium", "high", "critical"].index(f["severity"]))
    assert worst["severity"] == "high" and worst["id"] == "CH-DC-002"


@pytest.mark.parametrize("value", ["severe", "high,critical", "kev"])
def test_bad_fail_on_is_a_usage_error(high_only: Path, workdir: Path, value: str) -> None:
    assert_one_line_error(config(high_only, "--fail-on", value, cwd=workdir), 2, "--fail-on")


def test_severity_filter(tree: Path, workdir: Path) -> None:
    full = report(tree, cwd=workdir)
    assert {f["severity"] for f in full["findings"]} >= {"critical", "high", "medium", "low"}
    doc = report(tree, "--severity", "critical,high", cwd=workdir)
    assert doc["findings"] and {f["severity"] for f in doc["findings"]} <= {"critical", "high"}
    expected = sorted(f["fingerprint"] for f in full["findings"] if f["severity"] in ("critical", "high"))
    assert sorted(f["fingerprint"] for f in doc["findings"]) == expected
    # JUnit lists as passing only the checks of the severities asked for
    junit = ET.fromstring(config(tree, "-f", "junit", "--severity", "critical", cwd=workdir).out)
    cases = {c.get("name", "").split(":")[0] for c in junit.iter("testcase")}
    critical = {c.meta.id for c in all_checks() if c.meta.severity == "critical" and c.meta.enabled_by_default}
    assert cases and cases <= critical and "CH-DC-001" in cases
    # What is not reported does not fail the scan either.
    report(tree, "--severity", "low", "--fail-on", "high", cwd=workdir, codes=(0,))
    assert_one_line_error(config(tree, "--severity", "urgent", cwd=workdir), 2, "--severity", "urgent")


def test_exclude_by_name_and_by_path(tree: Path, workdir: Path) -> None:
    write(tree, {"vendor/lib/docker-compose.yml": COMPOSE, "node/extra/kubelet-config.yaml": KUBELET})

    def paths(*args: str) -> set[str]:
        return {f["location"]["path"] for f in report(tree, *args, cwd=workdir)["findings"]}

    everything = paths()
    assert everything == {
        "app/docker-compose.yml",
        "host/daemon.json",
        "node/kubelet-config.yaml",
        "node/extra/kubelet-config.yaml",
        "vendor/lib/docker-compose.yml",
    }
    assert paths("--exclude", "vendor") == everything - {"vendor/lib/docker-compose.yml"}
    assert paths("--exclude", "lib/") == everything - {"vendor/lib/docker-compose.yml"}  # a name at any depth
    assert paths("--exclude", "node/extra") == everything - {"node/extra/kubelet-config.yaml"}
    assert paths("--exclude", "*.json", "--exclude", "app/*") == everything - {
        "host/daemon.json",
        "app/docker-compose.yml",
    }
    assert paths("--exclude", "extra") == everything - {"node/extra/kubelet-config.yaml"}


# ------------------------------------------------------------------------------ formats


def test_table_format(tree: Path, workdir: Path) -> None:
    r = config(tree, cwd=workdir)
    assert r.code == 0 and r.err == ""
    for header in (
        "app/docker-compose.yml (compose)",
        "host/daemon.json (docker-daemon)",
        "node/kubelet-config.yaml (kubelet)",
    ):
        assert header in r.out
    cache = line_of(COMPOSE, "privileged: true", 3)
    row = next(ln for ln in r.out.splitlines() if "CH-DC-001" in ln)
    assert row.split()[:3] == [str(cache), "CH-DC-001", "critical"]


def test_json_format(tree: Path, workdir: Path) -> None:
    doc = report(tree, cwd=workdir)
    assert doc["schema_version"] and doc["warnings"] == []
    kinds = {f["kind"] for f in doc["findings"]}
    assert kinds == {"misconfiguration"}
    (kl,) = found(doc, "CH-KL-001")
    assert kl["location"]["path"] == "node/kubelet-config.yaml"
    assert kl["location"]["line"] == line_of(KUBELET, "enabled: true")
    assert kl["misconfiguration"]["file_type"] == "kubelet"
    # Deterministic: the same scan gives the same bytes.
    assert config(tree, "-f", "json", cwd=workdir).out == config(tree, "-f", "json", cwd=workdir).out


def test_sarif_format_is_valid_and_keeps_suppressions(tree: Path, workdir: Path, sarif_schema: dict[str, Any]) -> None:
    import jsonschema

    r = config(tree, "-f", "sarif", cwd=workdir)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    validator_cls = jsonschema.validators.validator_for(sarif_schema)
    errors = list(validator_cls(sarif_schema, format_checker=validator_cls.FORMAT_CHECKER).iter_errors(doc))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    run = doc["runs"][0]
    results = run["results"]
    assert len(results) == len(report(tree, cwd=workdir)["findings"])
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert {res["ruleId"] for res in results} == set(rule_ids)
    priv = [res for res in results if res["ruleId"] == "CH-DC-001"]
    assert all(res["level"] == "error" for res in priv)
    lines = {res["locations"][0]["physicalLocation"]["region"]["startLine"]: res.get("suppressions") for res in priv}
    assert lines[line_of(COMPOSE, "privileged: true", 3)] is None
    sup = lines[line_of(COMPOSE, "privileged: true", 1)]
    assert (
        sup and sup[0]["justification"] == "the demo needs raw devices" and sup[0]["properties"]["source"] == "inline"
    )


def test_junit_format_one_testcase_per_check_failures_follow_fail_on(tree: Path, workdir: Path) -> None:
    r = config(tree, "-f", "junit", "--fail-on", "critical", cwd=workdir)
    assert r.code == 1, r.err
    root = ET.fromstring(r.out)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"app/docker-compose.yml", "host/daemon.json", "node/kubelet-config.yaml"}
    compose = suites["app/docker-compose.yml"]
    cases = {c.get("name", "").split(":")[0]: c for c in compose.iter("testcase")}
    # every compose check that ran is a testcase: the ones without findings pass
    ran = {c.meta.id for c in all_checks() if "compose" in c.meta.file_types and c.meta.enabled_by_default}
    assert set(cases) == ran and compose.get("tests") == str(len(ran))
    failing = {cid for cid, c in cases.items() if c.find("failure") is not None}
    assert failing == {"CH-DC-001"}  # the only unsuppressed critical finding in the file
    failure = cases["CH-DC-001"].find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert f"line {line_of(COMPOSE, 'privileged: true', 3)}" in (failure.text or "")
    assert "suppressed by inline" in (cases["CH-DC-001"].findtext("system-out") or "")
    daemon_failures = {
        c.get("name", "").split(":")[0]
        for c in suites["host/daemon.json"].iter("testcase")
        if c.find("failure") is not None
    }
    assert daemon_failures == {"CH-DD-007"}
    assert root.get("failures") == "2"
    assert root.get("tests") == str(sum(int(s.get("tests", "0")) for s in suites.values()))


def test_markdown_format_and_output_file(tree: Path, workdir: Path) -> None:
    out = workdir / "reports" / "config.md"
    out.parent.mkdir()
    r = config(tree, "-f", "markdown", "-o", str(out), cwd=workdir)
    assert r.code == 0 and r.out == "" and r.err == ""
    text = out.read_text()
    assert "CH-DC-001" in text and "app/docker-compose.yml" in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["config.md"]  # no temporary file left


# ------------------------------------------------------------------------------ checks list|show


def test_checks_list_table() -> None:
    r = run_cli("checks", "list")
    assert r.code == 0 and r.err == ""
    rows = r.out.splitlines()
    assert rows[0].split() == ["ID", "SEVERITY", "FILE", "TYPE", "TITLE"]
    listed = [ln.split()[0] for ln in rows[1:]]
    assert listed == [c.meta.id for c in all_checks()]
    row = next(ln for ln in rows if ln.startswith("CH-CD-002 "))
    assert row.endswith("(off by default)")


def test_checks_list_file_type_json() -> None:
    r = run_cli("checks", "list", "--file-type", "compose", "--format", "json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [row["id"] for row in rows] == [c.meta.id for c in all_checks() if "compose" in c.meta.file_types]
    assert all(row["file_types"] == ["compose"] for row in rows)
    priv = next(row for row in rows if row["id"] == "CH-DC-001")
    assert priv["severity"] == "critical" and priv["enabled_by_default"] is True
    assert priv["frameworks"]["CIS Docker Benchmark"] and priv["frameworks"]["MITRE ATT&CK"]
    ports = next(row for row in rows if row["id"] == "CH-DC-018")
    assert ports["options"] == ["admin_ports"]
    assert_one_line_error(run_cli("checks", "list", "--file-type", "helm"), 2, "--file-type", "helm")


def test_checks_show() -> None:
    check = get_check("CH-DC-001")
    assert check is not None
    r = run_cli("checks", "show", "CH-DC-001")
    assert r.code == 0 and r.err == ""
    assert r.out.startswith(f"# CH-DC-001: {check.meta.title}\n")
    assert "**Severity:** critical" in r.out
    assert check.meta.remediation.split()[0] in r.out and "**Rationale:**" in r.out
    for url in check.meta.references:
        assert url in r.out
    assert run_cli("checks", "show", "ch-dc-001").out == r.out  # ids are case-insensitive


def test_checks_show_unknown_id() -> None:
    r = run_cli("checks", "show", "NOPE")
    assert_one_line_error(r, 2, "unknown check", "NOPE", "checks list")
    assert r.out == ""


# ------------------------------------------------------------------------------ image --scanners misconfig


def test_image_misconfig_on_a_real_alpine_image(tmp_path: Path, workdir: Path) -> None:
    archive = shared("images/alpine-3.10-docker-archive.tar.gz")
    target = f"docker-archive:{archive}"
    cache = tmp_path / "cache"

    def image(*args: str) -> Run:
        return run_cli("image", target, "--scanners", "misconfig", "-f", "json", *args, cache_dir=cache, cwd=workdir)

    r = image()
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    ids = {f["id"] for f in doc["findings"]}
    assert ids and all(i.startswith("CH-IC-") for i in ids)
    assert {"CH-IC-001", "CH-IC-009"} <= ids  # docker.io's alpine runs as root, without a health check
    (root,) = found(doc, "CH-IC-001")
    assert root["location"]["json_path"] == "$.config.User" and root["severity"] == "medium"
    assert root["misconfiguration"]["file_type"] == "image-config"
    assert image("--fail-on", "medium").code == 1
    assert image("--fail-on", "medium", "--skip-check", "CH-IC-001").code == 0
    assert "CH-IC-001" not in {f["id"] for f in json.loads(image("--skip-check", "CH-IC-001").out)["findings"]}
    assert_one_line_error(image("--skip-check", "CH-IC-999"), 2, "--skip-check", "CH-IC-999")
    (workdir / ".customhouseignore.yaml").write_text("- id: CH-IC-001\n  reason: the base image decides\n")
    r = image("--fail-on", "medium")
    assert r.code == 0, r.err
    (ignored,) = found(json.loads(r.out), "CH-IC-001")
    assert ignored["suppressed"]["reason"] == "the base image decides"


def test_image_misconfig_options_reach_the_checks(tmp_path: Path, workdir: Path) -> None:
    from tests.misconfig.imageconfig.images import CLEAN_CONFIG, build

    cfg = {**CLEAN_CONFIG, "ExposedPorts": {"22/tcp": {}, "8080/tcp": {}}}
    img = build(tmp_path / "img", config=cfg, created="2020-01-01T00:00:00Z")
    assert {"CH-IC-010", "CH-IC-017"} <= {f.id for f in img.findings()}
    target = f"docker-archive:{tmp_path / 'img' / 'image.tar'}"

    def ids(*args: str) -> dict[str, list[str]]:
        r = run_cli(
            "image", target, "--scanners", "misconfig", "-f", "json", *args, cache_dir=tmp_path / "c", cwd=workdir
        )
        assert r.code == 0, r.err
        out: dict[str, list[str]] = {}
        for f in json.loads(r.out)["findings"]:
            out.setdefault(f["id"], []).append(f["location"]["json_path"])
        return out

    default = ids()
    assert default["CH-IC-010"] == ['$.config.ExposedPorts["22/tcp"]'] and "CH-IC-017" in default
    custom = ids("--admin-ports", "8080", "--max-image-age", "100000")
    assert custom["CH-IC-010"] == ['$.config.ExposedPorts["8080/tcp"]'] and "CH-IC-017" not in custom
    r = run_cli("image", target, "--scanners", "misconfig", "--admin-ports", "22,http", cache_dir=tmp_path / "c")
    assert_one_line_error(r, 2, "--admin-ports", "http")


# ------------------------------------------------------------------------------ Dockerfiles


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM ubuntu:latest
ADD https://example.com/tool.tar.gz /opt/
RUN apt-get update && \\
    apt-get install -y curl wget sudo
ENV DB_PASSWORD=hunter2hunter2
EXPOSE 22
CMD service ssh start && bash
"""


def dockerfile_checks() -> list[str]:
    ids = [c.meta.id for c in all_checks() if "dockerfile" in c.meta.file_types]
    assert ids, "the Dockerfile checks (customhouse/misconfig/checks/dockerfile.py) are not registered"
    return ids


def test_dockerfile_findings_and_inline_suppression(tmp_path: Path, workdir: Path) -> None:
    dockerfile_checks()
    root = write(tmp_path / "repo", {"services/api/Dockerfile": DOCKERFILE})
    doc = report(root, cwd=workdir)
    lined = [f for f in doc["findings"] if f["location"]["line"] > 0 and f["suppressed"] is None]
    assert lined, "a Dockerfile this bad must have findings on its lines"
    assert all(f["location"]["path"] == "services/api/Dockerfile" for f in doc["findings"])
    # Suppress every finding inside the multi-line RUN with one comment above the instruction.
    run_first, run_last = line_of(DOCKERFILE, "RUN apt-get"), line_of(DOCKERFILE, "apt-get install")
    in_run = {f["id"] for f in lined if run_first <= f["location"]["line"] <= run_last}
    other = {(f["id"], f["location"]["line"]) for f in lined if not run_first <= f["location"]["line"] <= run_last}
    assert in_run, "the fixture's multi-line RUN must have findings (apt-get without cleanup, pins, ...)"
    lines = DOCKERFILE.splitlines()
    lines.insert(run_first - 1, f"# customhouse:ignore={','.join(sorted(in_run))} reviewed")
    (root / "services/api/Dockerfile").write_text("\n".join(lines) + "\n")
    after = report(root, cwd=workdir)
    moved = {
        (f["id"], f["location"]["line"] - (1 if f["location"]["line"] > run_first else 0)): f["suppressed"]
        for f in after["findings"]
        if f["location"]["line"] > 0
    }
    for key in other:  # everything outside the RUN still counts
        assert key in moved and moved[key] is None, key
    suppressed = [f for f in after["findings"] if f["suppressed"] and f["suppressed"]["source"] == "inline"]
    assert {f["id"] for f in suppressed} >= in_run
    assert all(f["suppressed"]["reason"] == "reviewed" for f in suppressed)


# ------------------------------------------------------------------------------ bad input


def _alias_bomb() -> str:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")  # 10**10 nodes when expanded
    return "services:\n  web:\n    image: nginx:1.27\n" + "\n".join(levels) + "\n"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _run_measured(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[Run, float, int]:
    """Run the CLI; return its result, wall time and its own peak resident size (bytes)."""
    out, err = cwd / "stdout", cwd / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "customhouse", *args], stdout=o, stderr=e, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(proc.returncode, out.read_text(), err.read_text())
    out.unlink()
    err.unlink()
    return run, elapsed, usage.ru_maxrss * 1024


def test_bad_files_in_one_tree_cost_one_warning_each(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(
        repo,
        {
            "df-unknown/Dockerfile": "FROM alpine:3.20\nFOO bar\n",
            "df-heredoc/Dockerfile": "FROM alpine:3.20\nRUN <<EOF\necho never closed\n",
            "df-binary/Dockerfile": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16,
            "yaml/docker-compose.yml": "services:\n  web:\n    image: [nginx\n    privileged: true\n",
            "bomb/docker-compose.yml": _alias_bomb(),
            "binary/docker-compose.yml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
            "good/compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    privileged: true\n",
        },
    )
    big = repo / "big" / "docker-compose.yml"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.write(b"services:\n  web:\n    image: nginx:1.27\n    privileged: true\n")
        filler = (b"    # " + b"x" * 90 + b"\n") * 10_000
        while fh.tell() < 50 << 20:
            fh.write(filler)
    home, tmpdir, cache, cwd = (tmp_path / n for n in ("home", "tmp", "cache", "cwd"))
    for d in (home, tmpdir, cwd):
        d.mkdir()
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmpdir), "CUSTOMHOUSE_CACHE_DIR": str(cache)}
    before = _snapshot(repo)
    out = cwd / "report.json"
    args = ["config", str(repo), "-f", "json", "-o", str(out), "--fail-on", "critical"]
    run, elapsed, peak = _run_measured(args, cwd, env)

    assert run.code == 1, run.err  # the scan completed; the good file's critical finding fails it
    assert elapsed < 60 and peak < 512 << 20, (elapsed, peak)  # generous: an expanded bomb needs far more
    assert "Traceback" not in run.err
    warnings = [ln.removeprefix("customhouse: warning: ") for ln in warning_lines(run)]
    assert all(ln.startswith("customhouse: warning: ") for ln in warning_lines(run))
    expected = {
        "df-unknown/Dockerfile": ("df-unknown/Dockerfile:2:", "FOO"),
        "df-heredoc/Dockerfile": ("df-heredoc/Dockerfile:", "heredoc"),
        "df-binary/Dockerfile": ("df-binary/Dockerfile:", "binary"),
        "yaml/docker-compose.yml": ("yaml/docker-compose.yml:", "invalid YAML"),
        "bomb/docker-compose.yml": ("bomb/docker-compose.yml:", "alias bomb"),
        "binary/docker-compose.yml": ("binary/docker-compose.yml:", "binary"),
        "big/docker-compose.yml": ("big/docker-compose.yml: skipped", "limit"),
    }
    assert len(warnings) == len(expected), warnings
    for name, (prefix, reason) in expected.items():
        (w,) = [w for w in warnings if w.startswith(name)]
        assert w.startswith(prefix) and reason in w, w
    line = int(next(w for w in warnings if w.startswith("yaml/")).split(":")[1])
    assert 3 <= line <= 4  # where the unclosed flow sequence is
    doc = json.loads(out.read_text())
    assert sorted(doc["warnings"]) == sorted(warnings)
    assert [(f["id"], f["location"]["path"]) for f in doc["findings"] if f["id"] == "CH-DC-001"] == [
        ("CH-DC-001", "good/compose.yaml")
    ]
    # Nothing written anywhere but the report: not in the tree, the home or temporary directory.
    assert _snapshot(repo) == before
    assert list(home.iterdir()) == [] and list(tmpdir.iterdir()) == []
    assert sorted(p.name for p in cwd.iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("Dockerfile", "FROM alpine:3.20\nFOO bar\n", "Dockerfile:2: unknown instruction"),
        ("docker-compose.yml", "services: [\n", "invalid YAML"),
        ("notes.txt", "hello\n", "not a file type customhouse config reads"),
    ],
)
def test_a_single_file_that_cannot_be_scanned_is_an_input_error(
    tmp_path: Path, workdir: Path, name: str, content: str, needle: str
) -> None:
    f = write(tmp_path / "one", {name: content}) / name
    r = config(f, cwd=workdir)
    assert_one_line_error(r, 3, str(f), needle)
    assert r.out == ""


def test_missing_path_and_empty_tree(tmp_path: Path, workdir: Path) -> None:
    assert_one_line_error(config(tmp_path / "nowhere", cwd=workdir), 3, "nowhere", "no such file")
    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    (empty / "docs" / "README.md").write_text("nothing to see\n")
    r = config(empty, "-f", "json", "--fail-on", "low", cwd=workdir)
    assert r.code == 0
    assert json.loads(r.out)["findings"] == []
    (w,) = warning_lines(r)
    assert str(empty) in w and "no files to scan" in w


# ------------------------------------------------------------------------------ startup cost


HEAVY = ("regopy", "bashlex", "yaml", "rich", "httpx", "jsonschema", "tomllib")
HEAVY_OURS = (
    "customhouse.misconfig.engine",
    "customhouse.misconfig.runner",
    "customhouse.misconfig.dockerfile",
    "customhouse.misconfig.shell",
    "customhouse.misconfig.rego",
    "customhouse.report",
    "customhouse.vulnscan",
)


@pytest.mark.parametrize("argv", [["config", "--help"], ["checks", "list", "--help"], ["--help"]])
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    """`customhouse config --help` must stay instant: building the parser imports no parser,
    renderer, engine or policy runtime (only argparse and our small CLI modules)."""
    code = (
        "import sys, io, contextlib\n"
        "from customhouse.cli import build_parser\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        f"        build_parser().parse_args({argv!r})\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "assert 'usage:' in buf.getvalue()\n"
        f"heavy, ours = {HEAVY!r}, {HEAVY_OURS!r}\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(ours)]\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_config_help_documents_exit_codes() -> None:
    r = run_cli("config", "--help")
    assert r.code == 0 and r.err == ""
    text = " ".join(r.out.split())
    for flag in ("--skip-check", "--fail-on", "--severity", "--exclude", "--ignore-file", "--enable-check", "--policy"):
        assert flag in text
    assert "0 clean" in text and "1 an unsuppressed finding at or above --fail-on" in text and "2 usage" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["fs", "--help"],
        ["config", "--help"],
        ["checks", "show", "--help"],
        ["k8s", "--help"],
        ["rbac", "who-can", "--help"],
        ["netpol", "--help"],
        ["config", "--no-such-option"],
        ["k8s", "-f", "yaml"],
    ],
)
def test_standalone_parser_is_the_full_one(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`fs`, `config` and `k8s` build only their own parser: what it accepts, prints and rejects
    must be what the whole command line does."""
    from customhouse.cli import STANDALONE, build_parser

    assert argv[0] in STANDALONE
    seen = []
    for only in (argv[0], None):
        with pytest.raises(SystemExit) as exc:
            build_parser(only).parse_args(argv)
        out, err = capsys.readouterr()
        seen.append((exc.value.code, out, err))
    assert seen[0] == seen[1]
    assert seen[0][0] in (0, 2) and "usage: customhouse " + argv[0] in seen[0][1] + seen[0][2]
