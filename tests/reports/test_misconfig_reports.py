"""Misconfiguration findings in every report: grouped by file, with lines, fixes and the
check's own metadata, and still valid for the schemas and validators the formats are read by."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from customhouse.report.findings import Suppression
from customhouse.report.findings_json import render_json
from customhouse.report.findings_table import WIDTH, render_table
from customhouse.report.junit import render_junit
from customhouse.report.markdown import render_markdown
from customhouse.report.sarif import render_sarif
from tests.conftest import ROOT
from tests.reports import misconfig_samples as m
from tests.reports import samples
from tests.reports.test_findings_json import _paths

EVALUATED = {
    "services/api/Dockerfile": [
        ("CH-DF-001", "Base image uses the latest tag"),
        ("CH-DF-002", "Image runs as root"),
        ("CH-DF-005", "ADD used to fetch a remote file"),
        ("CH-DF-010", "No HEALTHCHECK instruction"),
    ],
    "clean/Dockerfile": [("CH-DF-001", "Base image uses the latest tag"), ("CH-DF-002", "Image runs as root")],
}


def mixed_report(**kw: Any) -> Any:
    """An image scan's vulnerabilities next to its image-config finding and a repository's."""
    image = replace(m.IMAGE_USER, target="", location=replace(m.IMAGE_USER.location, path=""), fingerprint="")
    return samples.report((*samples.ALL, image, m.DF_ROOT, m.COMPOSE_PRIV, m.COMPOSE_PRIV_DB), **kw)


# ------------------------------------------------------------------------------ table


def test_table_groups_by_file_then_resource_in_file_order() -> None:
    out = render_table(m.report())
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    titles = [ln for ln in out.splitlines() if ln and not ln.startswith((" ", "warning")) and "finding" not in ln]
    assert titles == [
        "registry.example.com/team/app:1.0 (image-config)",
        "k8s/app.yaml (kubernetes) — Pod shop/one",
        "k8s/app.yaml (kubernetes) — Deployment shop/api",  # worst file first, resources in file order
        "deploy/docker-compose.yml (compose)",
        "services/api/Dockerfile (dockerfile)",
    ]
    dockerfile = out[out.index("services/api/Dockerfile (dockerfile)") :]
    rows = [ln.split()[:3] for ln in dockerfile.splitlines() if re.match(r" (-|\d)", ln)]
    assert rows == [["-", "CH-DF-010", "low"], ["6-7", "CH-DF-005", "medium"], ["14", "CH-DF-002", "high"]]
    # Title over the place's message; only the first sentence of the fix.
    assert "Image runs as root" in dockerfile and "The last USER instruction of the final" in dockerfile
    assert "Create an unprivileged" in dockerfile and "Keep root only" not in dockerfile
    image = out[: out.index("k8s/app.yaml")]
    assert "Where" in image and "$.config.User" in image  # no line: the JSON path says where


def test_table_hides_suppressed_misconfigurations_and_counts_them() -> None:
    out = render_table(m.report())
    assert 'service "web" runs privileged' in out and 'service "db"' not in out
    assert "8 findings (critical: 1, high: 3, medium: 3, low: 1)" in out
    assert "1 suppressed finding not shown (1 by inline)" in out


def test_table_keeps_vulnerability_layout_next_to_misconfigurations() -> None:
    out = render_table(mixed_report())
    assert "Package" in out and "org.apache.logging" in out  # the vulnerability table is unchanged
    assert "oci-layout:/images/app:1.0 (image-config)" in out
    assert "repo" not in out.splitlines()[0]


# ------------------------------------------------------------------------------ JSON


def test_json_serializes_the_misconfiguration_detail() -> None:
    doc = json.loads(render_json(m.report()))
    by_msg = {f["message"]: f for f in doc["findings"]}
    priv = by_msg['service "web" runs privileged']
    assert priv["misconfiguration"] == {
        "file_type": "compose",
        "snippet": "    privileged: true",
        "replacement": "    privileged: false",
        "check_source": "rego:policies/compose/privileged.rego",
        "description": "A privileged container has every capability and all host devices.",
        "extra": {},
    }
    assert priv["location"]["json_path"] == "$.services.web.privileged" and priv["location"]["column"] == 5
    assert by_msg["container api is privileged"]["misconfiguration"]["extra"] == {"pss_check": "privileged"}
    db = by_msg['service "db" runs privileged']
    assert db["suppressed"]["source"] == "inline" and doc["summary"]["suppressed_by_source"] == {"inline": 1}
    vuln = json.loads(render_json(samples.report()))["findings"][0]
    assert vuln["misconfiguration"] is None


def test_json_misconfiguration_fields_are_documented() -> None:
    text = (ROOT / "docs" / "report-formats.md").read_text()
    documented = set(re.findall(r"`([a-z_\[\].]+)`", text))
    paths = {p.removesuffix("[]") for p in _paths(json.loads(render_json(m.report())))}
    wanted = {p for p in paths if p.startswith("findings[].misconfiguration")}
    wanted = {p for p in wanted if not p.startswith("findings[].misconfiguration.extra.")}
    assert "findings[].misconfiguration.file_type" in wanted
    assert sorted(wanted - documented) == []


# ------------------------------------------------------------------------------ SARIF


def sarif(report: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render_sarif(report or m.report()))
    return doc


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("which", ["misconfig", "mixed"])
def test_sarif_valid_against_the_schema(sarif_schema: dict[str, Any], which: str) -> None:
    doc = sarif(m.report() if which == "misconfig" else mixed_report())
    errors = sorted(_validator(sarif_schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_sarif_schema_rejects_a_broken_fix(sarif_schema: dict[str, Any]) -> None:
    """Not vacuous for the new parts: a replacement without its deleted region is invalid."""
    import jsonschema

    doc = sarif()
    res = next(r for r in doc["runs"][0]["results"] if "fixes" in r)
    del res["fixes"][0]["artifactChanges"][0]["replacements"][0]["deletedRegion"]
    with pytest.raises(jsonschema.ValidationError):
        _validator(sarif_schema).validate(doc)


@pytest.mark.parametrize("which", ["misconfig", "mixed"])
def test_sarif_multitool_finds_no_problems(sarif_multitool: Path, tmp_path: Path, which: str) -> None:
    log = tmp_path / "report.sarif"
    log.write_text(render_sarif(m.report() if which == "misconfig" else mixed_report()))
    out = tmp_path / "validation.sarif"
    cmd = [str(sarif_multitool), "validate", str(log), "-o", str(out), "--rule-kind", "Sarif;Gh"]
    subprocess.run([*cmd, "--log", "ForceOverwrite"], capture_output=True, timeout=300, check=True)
    results = json.loads(out.read_text())["runs"][0]["results"]
    problems = [(r["ruleId"], r["message"]) for r in results if r["ruleId"] != "SARIF2005"]
    assert problems == []


def test_sarif_rules_come_from_check_metadata() -> None:
    rules = {r["id"]: r for r in sarif()["runs"][0]["tool"]["driver"]["rules"]}
    root = rules["CH-DF-002"]
    assert root["name"] == "ImageRunsAsRoot"
    assert root["shortDescription"]["text"] == "Image runs as root"
    assert root["fullDescription"]["text"] == "The container's main process runs as UID 0."
    assert root["helpUri"] == "https://docs.docker.com/reference/dockerfile/#user"
    assert "Fix: Create an unprivileged user" in root["help"]["text"]
    assert "| CIS Docker Benchmark | 4.1 |" in root["help"]["markdown"]
    tags = root["properties"]["tags"]
    assert {
        "security",
        "misconfiguration",
        "high",
        "dockerfile",
        "CIS Docker Benchmark 4.1",
        "MITRE ATT&CK T1611",
    } <= set(tags)
    assert root["properties"]["security-severity"] == "8.0" and root["defaultConfiguration"]["level"] == "error"
    assert rules["CH-K8S-001"]["properties"]["security-severity"] == "9.5"
    assert rules["CH-DF-010"]["properties"]["security-severity"] == "2.0"
    assert rules["CH-DF-010"]["defaultConfiguration"]["level"] == "note"
    custom = rules["ORG-COMPOSE-001"]
    assert "custom-policy" in custom["properties"]["tags"]
    assert "Custom policy: policies/compose/privileged.rego" in custom["help"]["text"]
    # A rule's description is the check's, never one finding's message.
    assert "web" not in custom["fullDescription"]["text"]


def test_sarif_results_have_regions_snippets_and_fixes() -> None:
    results = sarif()["runs"][0]["results"]
    by_msg = {r["message"]["text"]: r for r in results}
    web = by_msg['service "web" runs privileged']
    phys = web["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "deploy/docker-compose.yml"
    assert phys["region"] == {
        "startLine": 4,
        "startColumn": 5,
        "endLine": 4,
        "snippet": {"text": "    privileged: true"},
    }
    assert web["fixes"] == [
        {
            "description": {"text": "set privileged: false on web"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "deploy/docker-compose.yml"},
                    "replacements": [
                        {
                            "deletedRegion": {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 21},
                            "insertedContent": {"text": "    privileged: false"},
                        }
                    ],
                }
            ],
        }
    ]
    assert web["properties"]["checkSource"] == "rego:policies/compose/privileged.rego"
    assert web["properties"]["jsonPath"] == "$.services.web.privileged"
    assert web["partialFingerprints"]["customhouse/v1"] == m.COMPOSE_PRIV.fingerprint
    add = by_msg["ADD downloads https://example.com/tool.tar.gz without verifying it"]
    assert add["locations"][0]["physicalLocation"]["region"]["endLine"] == 7
    assert "fixes" not in add  # no mechanical replacement
    whole = by_msg["No HEALTHCHECK instruction"]["locations"][0]["physicalLocation"]["region"]
    assert whole == {"startLine": 1}  # GitHub needs a line; no snippet for "the whole file"
    db = by_msg['service "db" runs privileged']
    assert db["suppressions"][0]["justification"] == "needs raw block devices"
    pod = by_msg["container sidecar has no memory limit"]["locations"][0]["logicalLocations"][0]
    assert pod["fullyQualifiedName"] == "Pod/shop/one"


def test_sarif_offers_no_fix_when_the_region_is_uncertain() -> None:
    """A snippet that is not the finding's whole lines: a fix could hit the wrong columns."""
    partial = replace(m.DF_ROOT, location=replace(m.DF_ROOT.location, end_line=15))
    (res,) = sarif(m.report((partial,)))["runs"][0]["results"]
    assert "fixes" not in res
    multi = replace(
        m.DF_ADD,
        misconfiguration=replace(m.DF_ADD.misconfiguration, replacement="ADD --checksum=sha256:0 \\\n    x /y"),  # type: ignore[type-var]
    )
    (res,) = sarif(m.report((multi,)))["runs"][0]["results"]
    region = res["fixes"][0]["artifactChanges"][0]["replacements"][0]["deletedRegion"]
    assert region == {"startLine": 6, "startColumn": 1, "endLine": 7, "endColumn": 21}


# ------------------------------------------------------------------------------ JUnit


def junit(**kw: Any) -> ET.Element:
    return ET.fromstring(render_junit(m.report(**kw)))


def test_junit_valid_against_jenkins_xsd(junit_xsd: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(junit_xsd))
    for fail_on in ("", "high"):
        schema.validate(render_junit(m.report(fail_on=fail_on, evaluated_checks=EVALUATED)))
    schema.validate(render_junit(mixed_report()))


def test_junit_suite_per_file_testcase_per_check() -> None:
    root = junit()
    suites = {s.attrib["name"]: s for s in root.findall("testsuite")}
    assert set(suites) == {
        "k8s/app.yaml",
        "deploy/docker-compose.yml",
        "services/api/Dockerfile",
        "registry.example.com/team/app:1.0",
    }
    k8s = suites["k8s/app.yaml"]
    props = {p.attrib["name"]: p.attrib["value"] for p in k8s.iter("property")}
    assert props["customhouse.target"] == "repo" and props["customhouse.file"] == "k8s/app.yaml"
    assert props["customhouse.file_type"] == "kubernetes"
    cases = {c.attrib["name"]: c for c in k8s.findall("testcase")}
    assert list(cases) == ["CH-K8S-007: Container without memory limit", "CH-K8S-001: Privileged container"]
    limits = cases["CH-K8S-007: Container without memory limit"].find("failure")
    assert limits is not None and limits.attrib == {"message": "2 findings: CH-K8S-007", "type": "medium"}
    assert (limits.text or "").splitlines() == [
        "line 13: Pod shop/one: container sidecar has no memory limit [medium] (fix: Set resources.limits.memory.)",
        "line 24: Deployment shop/api: container api has no memory limit [medium] (fix: Set resources.limits.memory.)",
    ]
    assert all(c.attrib["classname"] == "k8s/app.yaml" for c in cases.values())
    assert int(root.attrib["tests"]) == sum(int(s.attrib["tests"]) for s in suites.values()) == 7


def test_junit_passing_checks_and_threshold() -> None:
    root = junit(fail_on="high", evaluated_checks=EVALUATED)
    suites = {s.attrib["name"]: s for s in root.findall("testsuite")}
    df = {c.attrib["name"].split(":")[0]: c for c in suites["services/api/Dockerfile"].findall("testcase")}
    assert list(df) == ["CH-DF-010", "CH-DF-005", "CH-DF-002", "CH-DF-001"]  # findings in file order, passes last
    assert df["CH-DF-002"].find("failure") is not None  # high
    assert df["CH-DF-005"].find("failure") is None  # medium: below --fail-on, listed in system-out
    assert "lines 6-7: ADD downloads" in (df["CH-DF-005"].findtext("system-out") or "")
    assert df["CH-DF-001"].find("failure") is None and df["CH-DF-001"].find("system-out") is None
    clean = suites["clean/Dockerfile"]
    assert clean.attrib["tests"] == "2" and clean.attrib["failures"] == "0"
    compose = suites["deploy/docker-compose.yml"].find("testcase")
    assert compose is not None
    assert "suppressed by inline: needs raw block devices" in (compose.findtext("system-out") or "")
    assert root.attrib["failures"] == str(sum(int(s.attrib["failures"]) for s in suites.values())) == "4"


def test_junit_image_config_joins_the_image_suite() -> None:
    root = ET.fromstring(render_junit(mixed_report()))
    suites = {s.attrib["name"]: s for s in root.findall("testsuite")}
    image = suites["oci-layout:/images/app:1.0"]
    names = [c.attrib["name"] for c in image.findall("testcase")]
    assert "CH-IMG-001: Image configured to run as root" in names
    assert len(names) == len(samples.inventory().packages) + 2  # packages, the secret's file, the check


# ------------------------------------------------------------------------------ Markdown


def test_markdown_sections_per_file() -> None:
    md = render_markdown(m.report())
    assert "#### `services/api/Dockerfile` (dockerfile)" in md
    assert md.index("`k8s/app.yaml`") < md.index("`deploy/docker-compose.yml`") < md.index("`services/api/Dockerfile`")
    k8s = md[md.index("#### `k8s/app.yaml`") : md.index("#### `deploy/docker-compose.yml`")]
    assert "| Resource | Line | Check | Severity | Issue | Fix |" in k8s
    assert "| Deployment shop/api | 29 | CH-K8S-001 | critical | **Privileged container**<br>container api is" in k8s
    dockerfile = md[md.index("#### `services/api/Dockerfile`") :]
    assert "| Line | Check | Severity | Issue | Fix |" in dockerfile
    assert "| 14 | [CH-DF-002](https://docs.docker.com/reference/dockerfile/#user) | high |" in dockerfile
    assert "| file | CH-DF-010 | low | **No HEALTHCHECK instruction** |" in dockerfile
    assert 'service "db"' not in md and "(1 suppressed, not listed)" in md
    assert "### registry.example.com/team/app:1.0" in md and "| `$.config.User` | CH-IMG-001 |" in md


def test_markdown_misconfiguration_cells_are_escaped() -> None:
    f = replace(m.DF_ROOT, message="USER root | rm -rf <x> *y*", fix="Use `USER app`|now.")
    md = render_markdown(m.report((f,)))
    row = next(ln for ln in md.splitlines() if ln.startswith("| 14 |"))
    assert row.count(" | ") == 4
    assert "USER root \\| rm -rf &lt;x&gt; \\*y\\*" in row and "Use \\`USER app\\`\\|now." in row


def test_markdown_size_limit_counts_sections() -> None:
    many = tuple(
        replace(m.DF_ROOT, location=replace(m.DF_ROOT.location, path=f"svc{i:04d}/Dockerfile"), fingerprint="")
        for i in range(2000)
    )
    md = render_markdown(m.report(many))
    assert len(md) <= 60_000 and "more sections not shown (comment size limit)" in md


def test_suppressed_only_report_says_so_everywhere() -> None:
    gone = replace(m.DF_ROOT, suppressed=Suppression(source="ignore-file:x.yaml", reason="accepted"))
    rep = m.report((gone,))
    assert "**No findings.** (1 suppressed, not listed)" in render_markdown(rep)
    assert "1 suppressed finding not shown (1 by ignore-file)" in render_table(rep)
    root = ET.fromstring(render_junit(rep))
    assert root.attrib["failures"] == "0" and root.attrib["tests"] == "1"
