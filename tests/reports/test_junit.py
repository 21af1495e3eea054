"""JUnit XML: Jenkins' XSD, and failures that mean exactly what --fail-on means."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from customhouse.report.junit import render_junit
from customhouse.report.scan_report import ScanReport
from tests.reports import samples


def tree(**kw: Any) -> ET.Element:
    return ET.fromstring(render_junit(samples.report(**kw)))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["name"].split("@")[0].split(" ")[0]: c for c in root.iter("testcase")}


def test_valid_against_jenkins_junit_xsd(junit_xsd: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(junit_xsd))
    for fail_on in ("", "high", "critical"):
        schema.validate(render_junit(samples.report(fail_on=fail_on)))
    inv = samples.inventory()
    schema.validate(render_junit(ScanReport(target=inv.target, os=None, findings=(), warnings=("w",))))


def test_xsd_validation_is_not_vacuous(junit_xsd: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    root = tree()
    del root.find("testsuite").attrib["tests"]  # type: ignore[union-attr]
    bad = ET.tostring(root, encoding="unicode")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(str(junit_xsd)).validate(bad)


def test_structure() -> None:
    """The shape every JUnit reader relies on, checked without any schema."""
    root = tree()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.attrib["name"] == "oci-layout:/images/app:1.0"
    testcases = suite.findall("testcase")
    # Every cataloged package is a testcase, plus the secret's file.
    assert len(testcases) == len(samples.inventory().packages) + 1
    assert int(suite.attrib["tests"]) == len(testcases) == int(root.attrib["tests"])
    failed = [c for c in testcases if c.find("failure") is not None]
    assert int(suite.attrib["failures"]) == len(failed) == int(root.attrib["failures"])
    for c in testcases:
        assert c.attrib["classname"] == suite.attrib["name"]
        assert len(c.findall("failure")) <= 1
    names = [c.attrib["name"] for c in testcases]
    assert len(names) == len(set(names))


def test_without_threshold_every_unsuppressed_finding_fails() -> None:
    by = cases(tree())
    failing = {n for n, c in by.items() if c.find("failure") is not None}
    assert failing == {
        "app/config/.env",
        "org.apache.logging.log4j:log4j-core",
        "libc6",
        "golang.org/x/net",
        "Django",
        "zlib1g",
    }
    # The suppressed openssl finding is reported but does not fail.
    openssl = by["openssl-libs"]
    assert openssl.find("failure") is None
    assert "CVE-2024-5535" in (openssl.findtext("system-out") or "")
    assert "suppressed by ignore-file" in (openssl.findtext("system-out") or "")
    assert by["bash"].find("failure") is None and by["bash"].find("system-out") is None


def test_threshold_fails_only_findings_at_or_above_it() -> None:
    by = cases(tree(fail_on="high"))
    failing = {n for n, c in by.items() if c.find("failure") is not None}
    assert failing == {"app/config/.env", "org.apache.logging.log4j:log4j-core", "libc6", "golang.org/x/net"}
    assert "CVE-2024-27351" in (by["Django"].findtext("system-out") or "")
    log4j = by["org.apache.logging.log4j:log4j-core"].find("failure")
    assert log4j is not None
    assert log4j.attrib["type"] == "critical"
    assert log4j.attrib["message"] == "2 findings: CVE-2021-44228, CVE-2021-45046"
    assert "fixed in 2.15.0" in (log4j.text or "")


def test_one_suite_per_target() -> None:
    lock = replace(samples.DJANGO_TRUNC, target="app/requirements.txt")
    root = ET.fromstring(render_junit(samples.report((samples.ICONV, lock))))
    names = [s.attrib["name"] for s in root.findall("testsuite")]
    assert names == ["app/requirements.txt", "oci-layout:/images/app:1.0"]
    req = root.findall("testsuite")[0]
    assert [c.attrib["name"].split("@")[0] for c in req.findall("testcase")] == ["Django"]


def test_text_xml_cannot_carry_is_replaced() -> None:
    f = replace(samples.ICONV, title="bad \x00\x1b[31m byte & <tag>")
    root = ET.fromstring(render_junit(samples.report((f,))))
    fail = next(root.iter("failure"))
    assert "bad \ufffd\ufffd[31m byte & <tag>" in (fail.text or "")
