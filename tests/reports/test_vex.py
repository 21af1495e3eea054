"""VEX: three formats read into one statement model, and which findings each suppresses.

The documents in tests/reports/data are written from the specs (OpenVEX 0.2.0, CycloneDX
1.5 VEX with BOM-Link references, the CSAF 2.0 VEX profile) about the image in
tests/sbom/inventories.py, whose manifest digest is sha256:ddd...; the findings are the real
advisories in tests/reports/samples.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from customhouse.errors import EXIT_INPUT, InputError
from customhouse.match.vex import (
    MAX_DOCUMENT_BYTES,
    Product,
    VexStatement,
    apply_vex,
    load_vex,
    parse_vex,
    purl_matches,
)
from customhouse.model import Package
from customhouse.report.cyclonedx import render_cyclonedx
from customhouse.report.findings import Finding, Suppression
from tests.reports import samples

DATA = Path(__file__).parent / "data"
DIGEST = "sha256:" + "d" * 64
# Every sample finding, none suppressed yet.
FINDINGS = tuple(replace(f, suppressed=None) for f in samples.ALL)


def applied(*names: str, findings: tuple[Finding, ...] = FINDINGS, **kw: Any) -> dict[str, Finding]:
    statements: list[VexStatement] = []
    for n in names:
        statements += load_vex(DATA / n).statements
    kw.setdefault("target", samples.inventory().target)
    return {f.id: f for f in apply_vex(findings, statements, **kw)}


def status(f: Finding) -> str:
    return f.suppressed.status if f.suppressed else ""


# ------------------------------------------------------------------------- OpenVEX


def test_openvex_statements_are_read() -> None:
    doc = load_vex(DATA / "openvex.json")
    assert doc.format == "openvex"
    first = doc.statements[0]
    assert first.vulnerability == "CVE-2021-44228"
    assert first.aliases == ("GHSA-jfh8-c2jp-5v3q",)
    assert first.status == "not_affected"
    assert first.justification == "vulnerable_code_not_in_execute_path"
    assert first.products[0].purl.startswith("pkg:oci/app@sha256")
    assert first.products[0].subcomponents[0].purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert first.source == str(DATA / "openvex.json")
    # A statement without its own timestamp inherits the document's last update.
    assert doc.statements[3].timestamp == "2024-05-20T09:30:00Z"


def test_openvex_decisions() -> None:
    out = applied("openvex.json")
    src = f"vex:{DATA / 'openvex.json'}"
    # Image + subcomponent: Log4Shell is not affected, with the impact statement as reason.
    log4shell = out["CVE-2021-44228"]
    assert log4shell.suppressed == Suppression(
        source=src,
        reason="JndiLookup.class is removed from the jar at build time; lookups are unreachable.",
        status="not_affected",
        justification="vulnerable_code_not_in_execute_path",
    )
    # Package purl without version, vulnerability named by its GHSA alias: affected is recorded, not hidden.
    rapid = out["CVE-2023-44487"]
    assert rapid.suppressed is None
    assert "VEX (" in rapid.message and "affected: The HTTP/2 server is exposed" in rapid.message
    # fixed suppresses, with the status notes as reason.
    assert status(out["CVE-2024-27351"]) == "fixed"
    assert "upstream patch" in out["CVE-2024-27351"].suppressed.reason  # type: ignore[union-attr]
    # Image-level statement without subcomponents covers every package of the image.
    assert status(out["CVE-2023-45853"]) == "not_affected"
    # Another version of libc6, another image: neither applies.
    assert out["CVE-2024-2961"].suppressed is None
    # Newer under_investigation supersedes an older not_affected for the same product.
    assert out["CVE-2021-45046"].suppressed is None
    assert "under investigation" in out["CVE-2021-45046"].message
    # Untouched: no statement about it.
    assert out["aws-access-key-id"] == samples.AWS_KEY
    assert out["CVE-2024-5535"].suppressed is None


def test_image_statements_need_the_image() -> None:
    """Without knowing the scanned image, image-level statements cannot apply."""
    out = applied("openvex.json", target=None)
    assert out["CVE-2021-44228"].suppressed is None
    assert out["CVE-2023-45853"].suppressed is None
    assert status(out["CVE-2024-27351"]) == "fixed"  # names the package itself


def test_image_matched_by_repository_and_tag_without_digest() -> None:
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "me",
        "timestamp": "2024-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2024-2961"},
                "products": [{"@id": "pkg:oci/app?repository_url=registry.example.com/team/app&tag=1.0"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": "CVE-2023-45853"},
                "products": [{"@id": "pkg:oci/app?repository_url=registry.example.com/team/app&tag=2.0"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_present",
            },
        ],
    }
    st = parse_vex(json.dumps(doc), "repo.vex.json").statements
    out = {f.id: f for f in apply_vex(FINDINGS, st, target=samples.inventory().target)}
    assert status(out["CVE-2024-2961"]) == "not_affected"
    assert out["CVE-2023-45853"].suppressed is None  # another tag is another image


def test_pre_0_2_spellings_and_bare_digests() -> None:
    """OpenVEX 0.0.x wrote vulnerability and products as strings; a digest names the image."""
    doc = {
        "@context": "https://openvex.dev/ns",
        "@id": "https://example.com/vex/old",
        "author": "me",
        "timestamp": "2023-01-01T00:00:00Z",
        "version": "1",
        "statements": [
            {
                "vulnerability": "CVE-2024-2961",
                "products": [f"registry.example.com/team/app@{DIGEST}"],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ],
    }
    st = parse_vex(json.dumps(doc), "old.json").statements
    out = {f.id: f for f in apply_vex(FINDINGS, st, target=samples.inventory().target)}
    assert status(out["CVE-2024-2961"]) == "not_affected"
    assert sum(1 for f in out.values() if f.suppressed) == 1


def test_component_inside_a_package_product() -> None:
    """ "x/net inside github.com/acme/app": applies when the app's main module is at the same file."""
    main = Package(
        name="github.com/acme/app",
        version="v1.4.0",
        type="golang",
        purl="pkg:golang/github.com/acme/app@v1.4.0",
        path="usr/local/bin/app",
    )
    inv = samples.inventory()
    inv = replace(inv, packages=(*inv.packages, main))
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/acme",
        "author": "acme",
        "timestamp": "2024-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2023-44487"},
                "products": [
                    {
                        "@id": "pkg:golang/github.com/acme/app@v1.4.0",
                        "subcomponents": [{"@id": "pkg:golang/golang.org/x/net"}],
                    }
                ],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        ],
    }
    st = parse_vex(json.dumps(doc), "acme.json").statements
    with_inv = {f.id: f for f in apply_vex(FINDINGS, st, inventory=inv)}
    assert status(with_inv["CVE-2023-44487"]) == "not_affected"
    without = {f.id: f for f in apply_vex(FINDINGS, st)}
    assert without["CVE-2023-44487"].suppressed is None


# ----------------------------------------------------------------------- CycloneDX


def test_cyclonedx_vex_document_is_valid_cyclonedx() -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str((DATA / "cyclonedx-vex.json").read_text()) is None


def test_cyclonedx_vex_decisions() -> None:
    doc = load_vex(DATA / "cyclonedx-vex.json")
    assert doc.format == "cyclonedx"
    out = applied("cyclonedx-vex.json")
    # BOM-Link ref with ?type=jar (maven's default type) names our log4j-core.
    l4 = out["CVE-2021-44228"]
    assert status(l4) == "not_affected" and l4.suppressed is not None
    assert l4.suppressed.justification == "code_not_reachable"
    assert l4.suppressed.reason.startswith("The JNDI lookup feature is disabled")
    # exploitable -> affected: recorded; distro=debian-12 names our debian-12.5 build.
    assert out["CVE-2024-2961"].suppressed is None
    assert "affected: update" in out["CVE-2024-2961"].message
    # in_triage on a local component ref -> under investigation, recorded.
    assert "under investigation" in out["CVE-2023-44487"].message
    # resolved on a versionless purl with an exact version entry -> fixed.
    assert status(out["CVE-2024-27351"]) == "fixed"
    # false_positive limited by a version range we do not evaluate: not applied, and said so.
    assert out["CVE-2023-45853"].suppressed is None
    assert any("version ranges are not evaluated" in w for w in doc.warnings)
    # A statement on the container component (metadata.component, by digest) covers the image.
    assert status(out["CVE-2024-5535"]) == "not_affected"
    # Entries without analysis are vulnerability reports, not VEX claims.
    assert all(s.vulnerability != "CVE-2099-0001" for s in doc.statements)


def test_our_cyclonedx_output_reads_back_as_vex() -> None:
    """Suppressions written to CycloneDX by one scan suppress the same findings in the next."""
    decided = list(apply_vex(FINDINGS, load_vex(DATA / "openvex.json").statements, target=samples.inventory().target))
    text = render_cyclonedx(samples.report(tuple(decided)))
    again = apply_vex(FINDINGS, parse_vex(text, "previous.cdx.json").statements, target=samples.inventory().target)
    before = {f.id for f in decided if f.suppressed and f.suppressed.status in ("not_affected", "fixed")}
    after = {f.id for f in again if f.suppressed}
    assert before == after == {"CVE-2021-44228", "CVE-2024-27351", "CVE-2023-45853"}


# ---------------------------------------------------------------------------- CSAF


def test_csaf_vex_decisions() -> None:
    doc = load_vex(DATA / "csaf-vex.json")
    assert doc.format == "csaf"
    out = applied("csaf-vex.json")
    # Relationship "log4j-core default_component_of Team App 1.0 (our digest)".
    l4 = out["CVE-2021-44228"]
    assert status(l4) == "not_affected" and l4.suppressed is not None
    assert l4.suppressed.justification == "vulnerable_code_not_in_execute_path"
    assert "formatMsgNoLookups" in l4.suppressed.reason
    # known_affected with a vendor fix: recorded with the remediation.
    assert "vendor_fix: Upgrade to Team App 1.1" in out["CVE-2021-45046"].message
    assert out["CVE-2021-45046"].suppressed is None
    # zlib1g in a CPE-only platform: the component's purl decides; the impact comes via a group.
    assert status(out["CVE-2023-45853"]) == "not_affected"
    assert out["CVE-2023-45853"].suppressed.reason == "MiniZip is not built into the zlib1g package."  # type: ignore[union-attr]
    # A product known only by CPE cannot be matched to a package: skipped with a warning.
    assert out["CVE-2024-5535"].suppressed is None
    assert any("no purl" in w and "CSAFPID-0005" in w for w in doc.warnings)


def test_csaf_aliases() -> None:
    st = load_vex(DATA / "csaf-vex.json").statements
    assert st[0].vulnerability == "CVE-2021-44228" and st[0].aliases == ("GHSA-jfh8-c2jp-5v3q",)


def test_statement_on_an_alias_matches_the_cve_finding() -> None:
    """A GHSA statement applies to the finding whose aliases include that GHSA."""
    st = VexStatement(
        vulnerability="GHSA-vm8q-m57g-pff3",
        aliases=(),
        products=(Product(ref="pkg:pypi/Django", purl="pkg:pypi/Django"),),
        status="not_affected",
        justification="vulnerable_code_not_present",
        source="ghsa.json",
    )
    out = {f.id: f for f in apply_vex(FINDINGS, [st])}
    assert status(out["CVE-2024-27351"]) == "not_affected"
    assert sum(1 for f in out.values() if f.suppressed) == 1


def test_existing_suppressions_are_kept() -> None:
    ignored = samples.OPENSSL_NOFIX
    st = load_vex(DATA / "cyclonedx-vex.json").statements
    (out,) = apply_vex((ignored,), st, target=samples.inventory().target)
    assert out.suppressed == ignored.suppressed


# ------------------------------------------------------------------------ purls


@pytest.mark.parametrize(
    ("pattern", "candidate", "expected"),
    [
        ("pkg:npm/lodash", "pkg:npm/lodash@4.17.21", True),
        ("pkg:npm/lodash@4.17.20", "pkg:npm/lodash@4.17.21", False),
        ("pkg:npm/%40angular/core@17.0.8", "pkg:npm/%40angular/core@17.0.8", True),
        ("pkg:npm/core@17.0.8", "pkg:npm/%40angular/core@17.0.8", False),
        ("pkg:pypi/Typing_Extensions@4.9.0", "pkg:pypi/typing-extensions@4.9.0", True),
        ("pkg:deb/debian/libc6?arch=amd64", "pkg:deb/debian/libc6@2.36?arch=amd64&distro=debian-12.5", True),
        ("pkg:deb/debian/libc6?arch=arm64", "pkg:deb/debian/libc6@2.36?arch=amd64&distro=debian-12.5", False),
        ("pkg:deb/debian/libc6?distro=debian-12", "pkg:deb/debian/libc6@2.36?distro=debian-12.5", True),
        ("pkg:deb/debian/libc6?distro=debian-1", "pkg:deb/debian/libc6@2.36?distro=debian-12.5", False),
        ("pkg:deb/ubuntu/libc6", "pkg:deb/debian/libc6@2.36", False),
        ("pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?epoch=1", "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?epoch=1", True),
        ("pkg:rpm/redhat/OpenSSL-libs", "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9", False),
        ("pkg:maven/g/a@1?type=jar", "pkg:maven/g/a@1", True),
        ("pkg:maven/g/a@1?type=pom", "pkg:maven/g/a@1", False),
        ("pkg:golang/golang.org/x/net#http2", "pkg:golang/golang.org/x/net@v0.17.0", False),
        ("not a purl", "pkg:npm/lodash@1", False),
    ],
)
def test_purl_semantics(pattern: str, candidate: str, expected: bool) -> None:
    assert purl_matches(pattern, candidate) is expected


# ------------------------------------------------------------------------ bad input


def _openvex(statement: dict[str, Any]) -> str:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.com/vex/bad",
            "author": "me",
            "timestamp": "2024-01-01T00:00:00Z",
            "version": 1,
            "statements": [statement],
        }
    )


def _csaf(vuln: dict[str, Any]) -> str:
    doc = json.loads((DATA / "csaf-vex.json").read_text())
    doc["vulnerabilities"] = [vuln]
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"hello": "world"}', "not an OpenVEX, CycloneDX or CSAF document"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"@context": "https://openvex.dev/ns/v0.2.0"}', "statements: missing"),
        (
            _openvex({"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:npm/a"}], "status": "fine"}),
            "status 'fine' is not one of",
        ),
        (
            _openvex(
                {"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:npm/a"}], "status": "not_affected"}
            ),
            "not_affected needs a justification or an impact_statement",
        ),
        (
            _openvex(
                {
                    "vulnerability": {"name": "CVE-1"},
                    "products": [{"@id": "pkg:npm/a"}],
                    "status": "not_affected",
                    "justification": "trust_me",
                }
            ),
            "unknown justification 'trust_me'",
        ),
        (_openvex({"products": [{"@id": "pkg:npm/a"}], "status": "fixed"}), "vulnerability missing"),
        ('{"bomFormat": "CycloneDX", "specVersion": "1.6"}', "vulnerabilities: missing"),
        (
            json.dumps(
                {
                    "bomFormat": "CycloneDX",
                    "vulnerabilities": [{"id": "CVE-1", "analysis": {"state": "nope"}, "affects": [{"ref": "x"}]}],
                }
            ),
            "analysis.state 'nope'",
        ),
        (
            _csaf({"cve": "CVE-1", "product_status": {"fixed": ["CSAFPID-9999"]}}),
            "undefined product id 'CSAFPID-9999'",
        ),
        (
            _csaf({"cve": "CVE-1", "product_status": {"known_not_affected": ["CSAFPID-0100"]}}),
            "no flag or impact threat",
        ),
        (
            _csaf(
                {
                    "cve": "CVE-1",
                    "product_status": {"known_not_affected": ["CSAFPID-0100"]},
                    "threats": [{"category": "impact", "details": "x", "group_ids": ["CSAFGID-9"]}],
                }
            ),
            "undefined product group 'CSAFGID-9'",
        ),
        (_csaf({"cve": "CVE-1", "product_status": {"maybe": ["CSAFPID-0100"]}}), "unknown category 'maybe'"),
        (
            json.dumps({"document": {"category": "csaf_vex", "csaf_version": "1.2"}}),
            "unsupported version '1.2'",
        ),
    ],
)
def test_malformed_documents_are_input_errors(text: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "vendor.vex.json"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_vex(path)
    assert str(path) in exc.value.message
    assert reason in exc.value.message
    assert exc.value.exit_code == EXIT_INPUT == 3


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read VEX document"):
        load_vex(tmp_path / "missing.json")
    with pytest.raises(InputError, match=r"big\.json: VEX document larger than 64 MiB"):
        parse_vex(b" " * (MAX_DOCUMENT_BYTES + 1), "big.json")
