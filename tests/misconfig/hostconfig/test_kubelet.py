"""Kubelet configuration checks (CH-KL-*): failing and passing fixtures per check, defaults.

Fixtures are KubeletConfiguration files (kubelet.config.k8s.io/v1beta1) built from a hardened
one. Missing fields are judged by the defaults documented for the config file format (not the
command-line flags): anonymous auth off, webhook authn on, Webhook authorization and read-only
port 0 are defaults, so a minimal file must not be reported for them, while
protectKernelDefaults, rotateCertificates, seccompDefault (false) and podPidsLimit (-1) are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from customhouse.misconfig.engine import all_checks
from customhouse.misconfig.runner import scan_tree

from .util import Case, apply_fix, hits, line_of, lines, replacement, scan

HARDENED = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
    cacheTTL: 2m0s
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
readOnlyPort: 0
protectKernelDefaults: true
makeIPTablesUtilChains: true
eventRecordQPS: 50
streamingConnectionIdleTimeout: 5m0s
rotateCertificates: true
serverTLSBootstrap: true
featureGates:
  RotateKubeletServerCertificate: true
tlsMinVersion: VersionTLS12
tlsCipherSuites:
  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  - TLS_RSA_WITH_AES_256_GCM_SHA384
seccompDefault: true
podPidsLimit: 4096
"""

MINIMAL = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def kubelet(*changes: tuple[str, str]) -> str:
    text = HARDENED
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def drop(line: str) -> tuple[str, str]:
    return (line + "\n", "")


CASES = [
    Case(
        "CH-KL-001",
        kubelet(("anonymous:\n    enabled: false", "anonymous:\n    enabled: true")),
        "    enabled: true",
        MINIMAL,
    ),
    Case("CH-KL-002", kubelet(("mode: Webhook", "mode: AlwaysAllow")), "mode: AlwaysAllow", MINIMAL),
    Case(
        "CH-KL-003",
        kubelet(drop("  x509:"), drop("    clientCAFile: /etc/kubernetes/pki/ca.crt")),
        "authentication:",
        HARDENED,
    ),
    Case(
        "CH-KL-004",
        kubelet(("webhook:\n    enabled: true", "webhook:\n    enabled: false")),
        "    enabled: false",
        MINIMAL,
        nth=2,
    ),
    Case("CH-KL-005", kubelet(("readOnlyPort: 0", "readOnlyPort: 10255")), "readOnlyPort", MINIMAL),
    Case(
        "CH-KL-006",
        kubelet(("streamingConnectionIdleTimeout: 5m0s", "streamingConnectionIdleTimeout: 0s")),
        "streamingConnectionIdleTimeout",
        kubelet(("streamingConnectionIdleTimeout: 5m0s", "streamingConnectionIdleTimeout: 4h0m0s")),
    ),
    Case(
        "CH-KL-006",
        kubelet(("streamingConnectionIdleTimeout: 5m0s", 'streamingConnectionIdleTimeout: "0h0m0s"')),
        "streamingConnectionIdleTimeout",
        kubelet(("streamingConnectionIdleTimeout: 5m0s", "streamingConnectionIdleTimeout: 30s")),
        "hms",
    ),
    Case("CH-KL-007", kubelet(drop("protectKernelDefaults: true")), "kind:", HARDENED),
    Case(
        "CH-KL-007",
        kubelet(("protectKernelDefaults: true", "protectKernelDefaults: false")),
        "protectKernelDefaults",
        HARDENED,
        "false",
    ),
    Case(
        "CH-KL-008",
        kubelet(("makeIPTablesUtilChains: true", "makeIPTablesUtilChains: false")),
        "makeIPTablesUtilChains",
        MINIMAL,
    ),
    Case(
        "CH-KL-009",
        kubelet(("eventRecordQPS: 50", "eventRecordQPS: 0")),
        "eventRecordQPS",
        kubelet(("eventRecordQPS: 50", "eventRecordQPS: 5")),
    ),
    Case(
        "CH-KL-010",
        kubelet(drop("serverTLSBootstrap: true")),
        "kind:",
        kubelet(
            (
                "serverTLSBootstrap: true",
                "tlsCertFile: /var/lib/kubelet/pki/kubelet.crt\ntlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key",
            )
        ),
    ),
    Case(
        "CH-KL-010",
        kubelet(("serverTLSBootstrap: true", "serverTLSBootstrap: false")),
        "serverTLSBootstrap",
        HARDENED,
        "false",
    ),
    Case("CH-KL-011", kubelet(drop("rotateCertificates: true")), "kind:", HARDENED),
    Case(
        "CH-KL-011",
        kubelet(("rotateCertificates: true", "rotateCertificates: false")),
        "rotateCertificates",
        HARDENED,
        "false",
    ),
    Case(
        "CH-KL-012",
        kubelet(("RotateKubeletServerCertificate: true", "RotateKubeletServerCertificate: false")),
        "RotateKubeletServerCertificate",
        kubelet(drop("featureGates:"), drop("  RotateKubeletServerCertificate: true")),
    ),
    Case(
        "CH-KL-013",
        kubelet(("  - TLS_RSA_WITH_AES_256_GCM_SHA384", "  - TLS_RSA_WITH_3DES_EDE_CBC_SHA")),
        "3DES",
        HARDENED,
    ),
    Case(
        "CH-KL-013",
        kubelet(("  - TLS_RSA_WITH_AES_256_GCM_SHA384", "  - TLS_ECDHE_RSA_WITH_RC4_128_SHA")),
        "RC4",
        kubelet(("  - TLS_RSA_WITH_AES_256_GCM_SHA384", "  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305")),
        "rc4",
    ),
    Case(
        "CH-KL-014",
        kubelet(("tlsMinVersion: VersionTLS12", "tlsMinVersion: VersionTLS11")),
        "tlsMinVersion",
        kubelet(("tlsMinVersion: VersionTLS12", "tlsMinVersion: VersionTLS13")),
    ),
    Case("CH-KL-015", kubelet(drop("seccompDefault: true")), "kind:", HARDENED),
    Case(
        "CH-KL-015",
        kubelet(("seccompDefault: true", "seccompDefault: false")),
        "seccompDefault",
        HARDENED,
        "false",
    ),
    Case("CH-KL-016", kubelet(("podPidsLimit: 4096", "podPidsLimit: -1")), "podPidsLimit", HARDENED),
    Case("CH-KL-016", kubelet(drop("podPidsLimit: 4096")), "kind:", HARDENED, "unset"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture_is_reported_on_its_line(case: Case) -> None:
    findings = scan(case.fail, "kubelet")
    assert case.line in lines(findings, case.check_id), [(f.id, f.location.line) for f in findings]
    assert all(f.location.resource_kind == "KubeletConfiguration" for f in findings)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture_is_not_reported(case: Case) -> None:
    assert hits(scan(case.passing, "kubelet"), case.check_id) == []


def test_hardened_config_has_no_findings() -> None:
    assert [(f.id, f.message) for f in scan(HARDENED, "kubelet")] == []


def test_every_kubelet_check_has_cases() -> None:
    registered = {c.meta.id for c in all_checks() if "kubelet" in c.meta.file_types}
    assert registered == {c.check_id for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mechanical_replacement_leaves_valid_yaml_without_the_finding(case: Case) -> None:
    before = hits(scan(case.fail, "kubelet"), case.check_id)
    for f in before:
        if replacement(f):
            fixed = apply_fix(case.fail, f)
            assert yaml.safe_load(fixed)["kind"] == "KubeletConfiguration"
            assert len(hits(scan(fixed, "kubelet"), case.check_id)) < len(before)


def test_minimal_config_is_judged_by_documented_file_defaults() -> None:
    found = {f.id for f in scan(MINIMAL, "kubelet")}
    # reported: defaults that are unsafe (false / -1 / self-signed / no client CA)
    assert found == {"CH-KL-003", "CH-KL-007", "CH-KL-010", "CH-KL-011", "CH-KL-015", "CH-KL-016"}
    # not reported: anonymous=false, webhook=true, mode=Webhook, readOnlyPort=0 are file defaults


def test_json_config_points_at_lines_and_offers_no_yaml_insertions() -> None:
    data = yaml.safe_load(HARDENED)
    data["readOnlyPort"] = 10255
    del data["seccompDefault"]
    text = json.dumps(data, indent=2) + "\n"
    findings = scan(text, "kubelet")
    assert lines(findings, "CH-KL-005") == [line_of(text, '"readOnlyPort"')]
    (sec,) = hits(findings, "CH-KL-015")
    assert sec.location.line == line_of(text, '"kind"') and replacement(sec) == ""


def test_kubeadm_bundle_only_checks_the_kubelet_document() -> None:
    text = (
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nnodeRegistration:\n  name: node-1\n"
        "---\n" + kubelet(("readOnlyPort: 0", "readOnlyPort: 10255"))
    )
    findings = scan(text, "kubelet")
    assert [(f.id, f.location.line) for f in findings] == [("CH-KL-005", line_of(text, "readOnlyPort"))]


def test_runner_detects_kubelet_config_by_content(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(kubelet(("mode: Webhook", "mode: AlwaysAllow")))
    result = scan_tree(tmp_path)
    assert result.scanned.get("kubelet") == 1
    assert [f.id for f in result.findings if f.id.startswith("CH-KL")] == ["CH-KL-002"]
