"""CycloneDX 1.6 with vulnerabilities: strict schema validation and what each field says."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from customhouse.report.cyclonedx import bom_dict, render_cyclonedx
from customhouse.report.findings import Suppression
from customhouse.report.scan_report import ScanReport
from tests.reports import samples


def validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)[:2000]


def bom(report: ScanReport | None = None) -> dict[str, Any]:
    text = render_cyclonedx(report or samples.report())
    validate(text)
    d: dict[str, Any] = json.loads(text)
    return d


def vulns(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["bom-ref"]: v for v in d["vulnerabilities"]}


def test_strictly_valid_and_extends_the_inventory_sbom() -> None:
    d = bom()
    base = bom_dict(samples.inventory())
    assert d["components"] == base["components"]
    assert d["metadata"] == base["metadata"]
    refs = {c["bom-ref"] for c in d["components"]}
    for v in d["vulnerabilities"]:
        for a in v["affects"]:
            assert a["ref"] in refs


def test_validation_is_not_vacuous() -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    d = bom()
    d["vulnerabilities"][0]["ratings"][0]["method"] = "CVSSv5"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(d)) is not None


def test_vulnerability_fields() -> None:
    v = vulns(bom())["vuln:CVE-2021-44228"]
    assert v["id"] == "CVE-2021-44228"
    assert v["source"]["url"] == "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"
    assert v["references"] == [
        {
            "id": "GHSA-jfh8-c2jp-5v3q",
            "source": {"name": "GitHub Advisories", "url": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q"},
        }
    ]
    methods = [(r.get("method"), r.get("score"), r["source"]["name"]) for r in v["ratings"]]
    assert ("CVSSv31", 10.0, "nvd") in methods and ("CVSSv2", 9.3, "nvd") in methods
    assert ("other", None, "ghsa") in methods  # the severity we report, under its source
    assert v["recommendation"] == "Upgrade org.apache.logging.log4j:log4j-core to 2.15.0"
    assert {"url": "https://logging.apache.org/log4j/2.x/security.html"} in v["advisories"]
    assert v["affects"][0]["versions"] == [{"version": "2.14.1", "status": "affected"}]
    assert v["affects"][0]["ref"].startswith("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
    props = {p["name"]: p["value"] for p in v["properties"]}
    assert props["customhouse:kev"] == "true"
    assert props["customhouse:fingerprint"] == samples.LOG4SHELL.fingerprint


def test_cwes_and_distribution_severity() -> None:
    d = vulns(bom())
    assert d["vuln:CVE-2024-2961"]["cwes"] == [787]
    minizip = d["vuln:CVE-2023-45853"]["ratings"]
    assert {"source": {"name": "debian"}, "severity": "low", "method": "other"} in minizip
    assert any(r.get("score") == 9.8 and r["severity"] == "critical" for r in minizip)


def test_analysis_states() -> None:
    not_affected = replace(
        samples.DJANGO_TRUNC,
        suppressed=Suppression(
            source="vex:vendor.openvex.json",
            reason="Truncator.words is never called with html=True",
            status="not_affected",
            justification="vulnerable_code_not_in_execute_path",
        ),
    )
    fixed = replace(samples.ICONV, suppressed=Suppression(source="vex:debian.json", reason="patched", status="fixed"))
    d = vulns(bom(samples.report((not_affected, fixed, samples.OPENSSL_NOFIX))))
    a = d["vuln:CVE-2024-27351"]
    assert a["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": "vex:vendor.openvex.json: Truncator.words is never called with html=True",
    }
    assert a["affects"][0]["versions"][0]["status"] == "unaffected"
    assert d["vuln:CVE-2024-2961"]["analysis"]["state"] == "resolved"
    ignored = d["vuln:CVE-2024-5535"]["analysis"]
    assert "state" not in ignored  # an accepted risk is not a claim of not being affected
    assert "NPN/ALPN" in ignored["detail"] and "2099-01-01" in ignored["detail"]


def test_same_cve_in_two_packages_and_partly_suppressed() -> None:
    shaded = samples.vuln("org.openjdk:jdk-runtime", "CVE-2021-44228", "critical", "Log4Shell", fixed="17.0.10")
    a = samples.vuln("lodash", "CVE-2021-44228", "critical", "Log4Shell")
    a = replace(a, suppressed=Suppression(source="vex:x.json", reason="not in this one", status="not_affected"))
    d = vulns(bom(samples.report((samples.LOG4SHELL, shaded, a))))
    assert len(d["vuln:CVE-2021-44228"]["affects"]) == 2
    assert len(d["vuln:CVE-2021-44228:2"]["affects"]) == 1
    assert d["vuln:CVE-2021-44228:2"]["analysis"]["state"] == "not_affected"


def test_report_without_inventory_gets_components_from_findings() -> None:
    inv = samples.inventory()
    report = ScanReport(target=inv.target, os=inv.os, findings=(samples.ICONV, samples.RAPID_RESET, samples.AWS_KEY))
    d = bom(report)
    names = {c["name"] for c in d["components"] if c["type"] == "library"}
    assert names == {"libc6", "golang.org/x/net"}
    assert d["dependencies"][0]["dependsOn"][-2:] == [c["bom-ref"] for c in d["components"][-2:]]
    assert len(d["vulnerabilities"]) == 2  # the secret has no place in CycloneDX
