"""The host-configuration checks' metadata: what `checks list/show`, docs and SARIF rule help print.

Every check must say why it matters and how to fix it, cite where the advice comes from, and map
to at least one standard, in the formats the renderers expect (CIS section numbers, NIST SP
800-190 section numbers, MITRE ATT&CK technique ids).
"""

from __future__ import annotations

import re

import pytest

from customhouse.misconfig.engine import Check, all_checks

PREFIXES = {"CH-DC-": "compose", "CH-DD-": "docker-daemon", "CH-CD-": "containerd", "CH-KL-": "kubelet"}
CIS_SECTION = re.compile(r"^\d+\.\d+(\.\d+)?( \(v\d+\.\d+\))?(, \d+\.\d+(\.\d+)?)*$")
NIST_SECTION = re.compile(r"^4\.[1-5]\.[1-5]$")
MITRE = re.compile(r"^T\d{4}(\.\d{3})?$")


def mine() -> list[Check]:
    return [c for c in all_checks() if c.meta.id[:6] in PREFIXES]


def test_expected_number_of_checks() -> None:
    counts = {p: sum(c.meta.id.startswith(p) for c in mine()) for p in PREFIXES}
    assert counts == {"CH-DC-": 26, "CH-DD-": 16, "CH-CD-": 8, "CH-KL-": 16}


@pytest.mark.parametrize("check", mine(), ids=lambda c: c.meta.id)
def test_metadata_is_complete(check: Check) -> None:
    m = check.meta
    assert re.fullmatch(r"CH-(DC|DD|CD|KL)-\d{3}", m.id)
    assert m.file_types == (PREFIXES[m.id[:6]],)
    assert m.severity in ("critical", "high", "medium", "low")
    assert m.title and not m.title.endswith(".")
    assert len(m.description) > 20 and len(m.rationale) > 80 and len(m.remediation) > 20
    assert m.references and all(r.startswith("https://") for r in m.references)
    f = m.frameworks
    assert f.pairs(), "maps to no standard"
    assert not f.cis_docker or CIS_SECTION.match(f.cis_docker), f.cis_docker
    assert not f.cis_kubernetes or CIS_SECTION.match(f.cis_kubernetes), f.cis_kubernetes
    assert not f.nist_800_190 or NIST_SECTION.match(f.nist_800_190), f.nist_800_190
    assert not f.mitre_attack or MITRE.match(f.mitre_attack), f.mitre_attack
    if m.id.startswith("CH-KL-"):
        assert not f.cis_docker
    if m.id.startswith(("CH-DD-",)):
        assert f.cis_docker.startswith("2."), "daemon.json settings are CIS Docker section 2"


def test_titles_are_unique() -> None:
    titles = [c.meta.title for c in mine()]
    assert len(titles) == len(set(titles))
