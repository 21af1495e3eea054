"""SARIF 2.1.0: the official schema, Microsoft's validator with GitHub's ingestion rules,
and GitHub's documented constraints checked one by one."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from customhouse.report.findings import Finding, Location, VulnerabilityDetail
from customhouse.report.sarif import artifact_uri, render_sarif
from tests.reports import samples


def sarif(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render_sarif(samples.report(**kw)))
    return doc


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_valid_against_the_sarif_schema(sarif_schema: dict[str, Any]) -> None:
    validator = _validator(sarif_schema)
    errors = sorted(validator.iter_errors(sarif()), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_schema_validation_is_not_vacuous(sarif_schema: dict[str, Any]) -> None:
    """The schema must reject what GitHub would: a result level outside the enumeration."""
    import jsonschema

    doc = sarif()
    doc["runs"][0]["results"][0]["level"] = "critical"
    with pytest.raises(jsonschema.ValidationError):
        _validator(sarif_schema).validate(doc)


def test_multitool_finds_no_sarif_or_github_problems(sarif_multitool: Path, tmp_path: Path) -> None:
    log = tmp_path / "report.sarif"
    log.write_text(render_sarif(samples.report()))
    out = tmp_path / "validation.sarif"
    cmd = [str(sarif_multitool), "validate", str(log), "-o", str(out)]
    cmd += ["--rule-kind", "Sarif;Gh", "--log", "ForceOverwrite"]
    subprocess.run(cmd, capture_output=True, timeout=300, check=True)
    results = json.loads(out.read_text())["runs"][0]["results"]
    # SARIF2005 only asks for an informationUri (a project home page); we have none to give.
    problems = [(r["ruleId"], r["message"]) for r in results if r["ruleId"] != "SARIF2005"]
    assert problems == []


def test_multitool_catches_a_github_violation(sarif_multitool: Path, tmp_path: Path) -> None:
    """Proof the GitHub rules ran: a rule without help text is what GitHub refuses."""
    doc = sarif()
    del doc["runs"][0]["tool"]["driver"]["rules"][0]["help"]
    log = tmp_path / "bad.sarif"
    log.write_text(json.dumps(doc))
    out = tmp_path / "validation.sarif"
    cmd = [str(sarif_multitool), "validate", str(log), "-o", str(out)]
    subprocess.run(
        [*cmd, "--rule-kind", "Gh", "--log", "ForceOverwrite"], capture_output=True, timeout=300, check=False
    )
    ids = {r["ruleId"] for r in json.loads(out.read_text())["runs"][0]["results"]}
    assert ids & {"GH2012"}


# ---------------------------------------------------------------- GitHub's constraints


def test_github_structure() -> None:
    doc = sarif()
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "customhouse"
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert 0 < len(rule["id"]) <= 255
        assert rule["shortDescription"]["text"]
        assert 0 < len(rule["fullDescription"]["text"]) <= 1000
        assert rule["help"]["text"] and rule["help"]["markdown"]
        if "vulnerability" in rule["properties"]["tags"]:
            assert rule["helpUri"].startswith("https://")
        sev = rule["properties"]["security-severity"]
        assert isinstance(sev, str) and re.fullmatch(r"\d{1,2}\.\d", sev) and 0 <= float(sev) <= 10
        tags = rule["properties"]["tags"]
        assert "security" in tags and len(tags) == len(set(tags)) <= 20
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["message"]["text"].strip()
        assert len(res["locations"]) == 1
        phys = res["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert not uri.startswith("/") and ":" not in uri.split("/")[0]
        assert phys["region"]["startLine"] >= 1
        assert res["partialFingerprints"]["primaryLocationLineHash"]


def test_one_rule_per_vulnerability_one_result_per_package() -> None:
    """The same CVE in two packages: one rule, two results, each with its own location."""
    other = samples.vuln(
        "org.openjdk:jdk-runtime", "CVE-2021-44228", "critical", "Log4Shell in a shaded copy", fixed="17.0.10"
    )
    doc = sarif(findings=(samples.LOG4SHELL, other))
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["CVE-2021-44228"]
    uris = sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"])
    assert uris == ["opt/app/lib/jdk-runtime.jar", "opt/app/lib/log4j-core-2.14.1.jar"]
    purls = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in run["results"]}
    assert purls == {samples.LOG4SHELL.vulnerability.purl, other.vulnerability.purl}  # type: ignore[union-attr]


def test_levels_follow_conventions() -> None:
    by_rule = {r["ruleId"]: r["level"] for r in sarif()["runs"][0]["results"]}
    assert by_rule["CVE-2021-44228"] == "error"  # critical
    assert by_rule["CVE-2024-2961"] == "error"  # high
    assert by_rule["CVE-2024-27351"] == "warning"  # medium
    assert by_rule["CVE-2023-45853"] == "note"  # low


def test_security_severity_agrees_with_our_severity() -> None:
    """NVD scores zlib's MiniZip bug 9.8 but Debian rates it low and that is what we report:
    GitHub must not show it as critical."""
    rules = {r["id"]: r for r in sarif()["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["CVE-2021-44228"]["properties"]["security-severity"] == "10.0"
    assert rules["CVE-2024-27351"]["properties"]["security-severity"] == "5.9"
    minizip = float(rules["CVE-2023-45853"]["properties"]["security-severity"])
    assert 0.1 <= minizip < 4.0


def test_fingerprints_are_ours() -> None:
    res = sarif()["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in res}
    assert by_rule["CVE-2021-44228"]["partialFingerprints"]["customhouse/v1"] == samples.LOG4SHELL.fingerprint


def test_suppressed_findings_carry_a_suppression() -> None:
    res = {r["ruleId"]: r for r in sarif()["runs"][0]["results"]}
    sup = res["CVE-2024-5535"]["suppressions"]
    assert sup[0]["kind"] == "external" and sup[0]["status"] == "accepted"
    assert "NPN/ALPN" in sup[0]["justification"]
    assert "suppressions" not in res["CVE-2021-44228"]


def test_long_ids_and_odd_paths_stay_within_limits() -> None:
    long_id = "CKV_" + "X" * 400
    f = Finding(
        id=long_id,
        kind="misconfiguration",
        severity="unknown",
        title="x",
        location=Location(path="/etc/my app/[conf]:1.yaml"),
    ).with_fingerprint()
    doc = sarif(findings=(f,))
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    res = doc["runs"][0]["results"][0]
    assert len(rule["id"]) == 255 and res["ruleId"] == rule["id"]
    assert res["level"] == "warning"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "etc/my%20app/%5Bconf%5D%3A1.yaml"


def test_findings_without_a_path_point_at_the_target() -> None:
    v = samples.LOG4SHELL
    f = replace(v, location=Location())
    res = sarif(findings=(f,))["runs"][0]["results"][0]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == artifact_uri(
        "oci-layout:/images/app:1.0"
    )
    assert artifact_uri("alpine:3.19") == "alpine%3A3.19"


def test_warnings_become_notifications() -> None:
    inv = sarif()["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is True
    assert "broken.dist-info" in inv["toolExecutionNotifications"][0]["message"]["text"]
    assert "endTimeUtc" not in inv
    stamped = sarif(generated_at="2024-06-02T10:00:00Z")["runs"][0]["invocations"][0]
    assert stamped["endTimeUtc"] == "2024-06-02T10:00:00Z"


def test_vulnerability_without_cvss_gets_the_band_middle() -> None:
    v = samples.ICONV.vulnerability
    assert isinstance(v, VulnerabilityDetail)
    f = replace(samples.ICONV, vulnerability=replace(v, cvss=()))
    rule = sarif(findings=(f,))["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["properties"]["security-severity"] == "8.0"
