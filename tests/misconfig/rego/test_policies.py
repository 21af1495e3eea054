"""Custom Rego policies end to end: real policy files evaluated by rego-cpp on parsed documents,
through the same finding, suppression and ignore-file path as the built-in checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from customhouse.misconfig.rego import PolicySet, build_inputs, load_policies
from customhouse.misconfig.runner import parse_document, scan_tree
from customhouse.report.findings import Finding

POLICIES = Path(__file__).parent / "policies"

COMPOSE = """\
services:
  web:
    image: nginx
    privileged: true
  db:
    image: postgres:16.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    # customhouse:ignore=ORG-COMPOSE-001 needs raw block devices
    privileged: true
  cache:
    image: redis:latest
"""

K8S = """\
apiVersion: v1
kind: Pod
metadata:
  name: one
  namespace: shop
spec:
  containers:
  - name: app
    image: shop:1.0
    resources:
      limits:
        memory: 128Mi
  - name: sidecar
    image: proxy:2.1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
      - name: api
        image: api:3
"""

DAEMON = """\
{
  "icc": true,
  "log-driver": "json-file"
}
"""

KUBELET = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
"""

CONTAINERD = """\
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  disable_apparmor = true
"""


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM golang AS build
RUN go build -o /app .

FROM debian:12.5
RUN echo "curl https://example.com/x | sh" > /notes.txt
RUN apt-get update && \\
    apt-get install -y --no-install-recommends ca-certificates && \\
    apt-get install -y curl
# customhouse:ignore=ORG-DF-001 vendor installer, checksum verified upstream
RUN curl -fsSL https://example.com/install.sh | bash
RUN wget -qO- https://example.com/other.sh | sh -s -- --yes
COPY --from=build /app /app
"""


@pytest.fixture(scope="module")
def policies() -> Iterator[PolicySet]:
    with load_policies(POLICIES) as ps:
        yield ps


def by_id(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in sorted(findings, key=lambda f: (f.id, f.location.line, f.message)):
        out.setdefault(f.id, []).append(f)
    return out


def test_loads_policies_and_skips_libraries_and_opa_tests(policies: PolicySet) -> None:
    ids = sorted(p.id for p in policies.policies)
    assert ids == [
        "ORG-COMPOSE-001",
        "ORG-COMPOSE-002",
        "ORG-DF-001",
        "ORG-DF-002",
        "ORG-DF-003",
        "ORG-IMG-001",
        "ORG-K8S-001",
        "ORG-NODE-001",
        "ORG-NODE-002",
        "ORG-NODE-003",
    ]
    meta = next(p for p in policies.policies if p.id == "ORG-COMPOSE-001").check.meta
    assert meta.severity == "high" and meta.file_types == ("compose",)
    assert meta.frameworks.cis_docker == "5.4" and meta.frameworks.mitre_attack == "T1611"
    assert meta.references == ("https://docs.example.com/platform/standards#privileged",)
    images = next(p for p in policies.policies if p.id == "ORG-COMPOSE-002")
    assert images.rules == (("violation", 15),)  # `__rego_metadata__` and `violation` spellings
    assert images.check.meta.description == "Compose image is not pinned"  # defaults to the title


def test_compose_findings_with_lines_paths_and_suppression(policies: PolicySet) -> None:
    doc = parse_document(COMPOSE, "deploy/compose.yaml", "compose")
    found = by_id(policies.evaluate(doc, target="repo"))
    priv = found["ORG-COMPOSE-001"]
    assert [(f.location.line, f.message) for f in priv] == [
        (4, 'service "web" runs privileged'),
        (8, 'service "db" runs privileged'),
    ]
    web, db = priv
    assert web.suppressed is None
    assert db.suppressed is not None and db.suppressed.source == "inline"
    assert db.suppressed.reason == "needs raw block devices"
    assert web.location.json_path == "$.services.web.privileged"
    assert web.location.column == 5 and web.location.path == "deploy/compose.yaml" and web.target == "repo"
    assert web.fix == "set privileged: false on web"
    assert web.frameworks == (("CIS Docker Benchmark", "5.4"), ("MITRE ATT&CK", "T1611"))
    detail = web.misconfiguration
    assert detail is not None
    assert detail.check_source == f"rego:{POLICIES / 'compose' / 'privileged.rego'}"
    # The replacement takes the indentation of the line it replaces.
    assert detail.snippet == "    privileged: true" and detail.replacement == "    privileged: false"
    assert detail.description.startswith("A privileged container")
    assert web.fingerprint.startswith("sha256:") and web.fingerprint != db.fingerprint

    # The library decides "floating": nginx (no tag) and redis:latest, not the pinned postgres.
    images = found["ORG-COMPOSE-002"]
    assert [(f.location.line, f.message) for f in images] == [
        (3, "service web uses floating image nginx"),
        (10, "service cache uses floating image redis:latest"),
    ]
    assert images[0].fix == "Pin images by tag and digest."  # the metadata remediation
    assert dict(images[1].misconfiguration.extra) == {"image": "redis:latest"}  # type: ignore[union-attr]


def test_policies_only_see_their_file_types(policies: PolicySet) -> None:
    doc = parse_document(KUBELET, "kubelet.yaml", "kubelet")
    assert {f.id for f in policies.evaluate(doc)} == {"ORG-NODE-002"}
    doc = parse_document(COMPOSE, "compose.yaml", "compose")
    assert not policies.evaluate(doc, skip=("ORG-COMPOSE-001", "ORG-COMPOSE-002"))


def test_kubernetes_one_input_per_document_with_resources(policies: PolicySet) -> None:
    doc = parse_document(K8S, "k8s/app.yaml", "kubernetes")
    found = policies.evaluate(doc)
    rows = sorted((f.location.line, f.location.resource_kind, f.location.resource_name, f.message) for f in found)
    assert rows == [
        (13, "Pod", "one", "container sidecar has no memory limit"),
        (24, "Deployment", "api", "container api has no memory limit"),
    ]
    pod = next(f for f in found if f.location.resource_kind == "Pod")
    assert pod.location.resource_namespace == "shop"
    assert pod.location.json_path == "$.spec.containers[1]"
    (first, second) = (v for v, _ in build_inputs(doc))
    assert first["document_index"] == 0 and second["document_index"] == 1 and second["start_line"] == 16
    assert first["lines"]["spec.containers.1.name"] == 13 and second["lines"]["metadata.name"] == 19


def test_daemon_kubelet_and_containerd(policies: PolicySet) -> None:
    daemon = by_id(policies.evaluate(parse_document(DAEMON, "etc/docker/daemon.json", "docker-daemon")))
    assert sorted((f.location.line, f.message) for f in daemon["ORG-NODE-001"]) == [
        (0, "live-restore is not enabled"),  # a string result is about the whole file
        (2, "inter-container communication is enabled"),
    ]
    kubelet = policies.evaluate(parse_document(KUBELET, "var/lib/kubelet/config.yaml", "kubelet"))
    assert [(f.id, f.severity, f.location.line, f.location.json_path) for f in kubelet] == [
        ("ORG-NODE-002", "critical", 5, "$.authentication.anonymous.enabled")
    ]
    assert kubelet[0].location.resource_kind == ""  # only Kubernetes manifests name resources
    containerd = policies.evaluate(parse_document(CONTAINERD, "etc/containerd/config.toml", "containerd"))
    assert [(f.id, f.location.line, f.misconfiguration.replacement) for f in containerd] == [  # type: ignore[union-attr]
        ("ORG-NODE-003", 5, "  disable_apparmor = false")
    ]
    assert containerd[0].location.json_path == "$.plugins['io.containerd.grpc.v1.cri'].disable_apparmor"
    ((value, _),) = build_inputs(parse_document(CONTAINERD, "config.toml", "containerd"))
    assert value["lines"]["plugins.io.containerd.grpc.v1.cri.sandbox_image"] == 4


def test_scan_tree_and_ignore_file_apply_to_custom_findings(policies: PolicySet, tmp_path: Path) -> None:
    from customhouse.match.ignore import apply_ignores, load_ignore_file

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / "daemon.json").write_text(DAEMON)
    result = scan_tree(tmp_path, policies=policies)
    custom = [f for f in result.findings if f.id.startswith("ORG-")]
    assert {f.id for f in custom} == {"ORG-COMPOSE-001", "ORG-COMPOSE-002", "ORG-NODE-001"}
    assert all(f.target == str(tmp_path) for f in custom)

    ignore = tmp_path / ".customhouseignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: ORG-COMPOSE-002\n"
        "    path: app/*\n"
        "    reason: images are pinned by the deploy pipeline\n"
        "    expires: 2999-01-01\n"
    )
    after, _expired = apply_ignores(custom, load_ignore_file(ignore), date(2024, 6, 1))
    images = [f for f in after if f.id == "ORG-COMPOSE-002"]
    assert len(images) == 2
    assert all(f.suppressed is not None and f.suppressed.source.startswith("ignore-file:") for f in images)
    others = [f for f in after if f.id == "ORG-NODE-001"]
    assert others and all(f.suppressed is None for f in others)


def test_input_documents_are_plain_json(policies: PolicySet) -> None:
    text = "services:\n  web:\n    image: x\n    labels:\n      80: http\n      false: off\n    created: 2024-01-02\n"
    ((value, _),) = build_inputs(parse_document(text, "compose.yaml", "compose"))
    web = value["data"]["services"]["web"]
    assert web["labels"] == {"80": "http", "false": False} and web["created"] == "2024-01-02"
    assert value["file_type"] == "compose" and value["path"] == "compose.yaml"
    assert value["lines"]["services.web.labels"] == 4


def test_dockerfile_policies_read_stages_and_parsed_commands(policies: PolicySet) -> None:
    doc = parse_document(DOCKERFILE, "services/api/Dockerfile", "dockerfile")
    found = by_id(policies.evaluate(doc))
    # Pipes from a download into a shell, found in the parsed script: the `echo "... | sh"` on
    # line 6 pipes nothing. The first is suppressed by the comment above it.
    pipes = [(f.location.line, f.message, f.suppressed is not None) for f in found["ORG-DF-001"]]
    assert pipes == [(11, "curl output is piped into bash", True), (12, "wget output is piped into sh", False)]
    assert found["ORG-DF-001"][1].frameworks == (("NIST SP 800-190", "4.1.5"),)
    assert (
        found["ORG-DF-001"][1].misconfiguration.snippet == "RUN wget -qO- https://example.com/other.sh | sh -s -- --yes"
    )  # type: ignore[union-attr]
    # `golang` has no tag; debian:12.5 does.
    (base,) = found["ORG-DF-002"]
    assert (base.location.line, base.message) == (2, "stage 0 is built FROM golang")
    assert dict(base.misconfiguration.extra) == {"repository": "library/golang"}  # type: ignore[union-attr]
    # Decoded package-manager calls: the second install of the same RUN, on its own line.
    (apt,) = found["ORG-DF-003"]
    assert (apt.location.line, apt.message) == (9, "apt-get install curl without --no-install-recommends")


def test_dockerfile_input_adds_full_scripts_to_the_models_view() -> None:
    doc = parse_document(DOCKERFILE, "Dockerfile", "dockerfile")
    ((value, _),) = build_inputs(doc)
    run = value["instructions"][4]
    assert run["cmd"] == "RUN" and run["line"] == 7 and run["end_line"] == 9
    (script,) = run["scripts"]
    assert [c["argv"][:2] for c in script["commands"]] == [
        ["apt-get", "update"],
        ["apt-get", "install"],
        ["apt-get", "install"],
    ]
    assert [c["line"] for c in script["commands"]] == [7, 8, 9]
    assert [c["operator"] for c in script["commands"]] == ["", "&&", "&&"]
    assert script["packages"][2]["packages"] == ["curl"] and script["origin"] == "shell"
    assert value["stages"][1]["image"]["tag"] == "12.5" and value["final_stage"] == 1


def test_image_config_policies(policies: PolicySet) -> None:
    from customhouse.image.fs import ImageFS
    from customhouse.misconfig.engine import Document
    from customhouse.misconfig.imageconfig import ImageConfig
    from customhouse.model import FileInfo, TargetInfo

    fs = ImageFS()
    fs.add(FileInfo(path="usr/bin/su", kind="file", mode=0o4755, uid=0), 0)
    fs.add(FileInfo(path="usr/local/bin/tool", kind="file", mode=0o4755, uid=1000), 1)
    fs.add(FileInfo(path="usr/bin/ls", kind="file", mode=0o755, uid=0), 0)
    target = TargetInfo(name="registry.example.com/app:1.0", kind="registry", config={"User": ""})
    data = ImageConfig(target=target, config={"User": "", "Env": ["PATH=/usr/bin"]}, history=(), layers=(), fs=fs)
    doc = Document(path=target.name, file_type="image-config", text="{}", data=data)
    rows = sorted((f.message, f.location.json_path, f.location.line) for f in policies.evaluate(doc, target=doc.path))
    assert rows == [
        ("/usr/bin/su is setuid root (mode 4755, layer 1)", '$.rootfs["/usr/bin/su"]', 0),
        ("the image runs as root", "$.config.User", 0),
    ]
    ((value, _),) = build_inputs(doc)
    assert value["config"]["Env"] == ["PATH=/usr/bin"] and value["target"]["name"] == target.name
    assert value["files"]["usr/local/bin/tool"] == {
        "kind": "file",
        "size": 0,
        "mode": 0o4755,
        "mode_octal": "4755",
        "uid": 1000,
        "gid": 0,
        "linkname": "",
        "layer": 1,
    }


def test_quotes_backslashes_and_unicode_in_input_survive(tmp_path: Path) -> None:
    """Strings with characters JSON escapes reach the policy and come back unchanged."""
    (tmp_path / "echo.rego").write_text(
        "package custom.t.echo\n\nimport rego.v1\n\n"
        'metadata := {"id": "ORG-ECHO", "title": "echo", "severity": "info", "file_types": ["dockerfile"]}\n\n'
        'deny contains {"msg": instr.original, "line": instr.line} if {\n'
        "  some instr in input.instructions\n"
        '  instr.cmd == "RUN"\n'
        '  contains(instr.original, "\\"")\n'
        "}\n"
    )
    text = 'FROM scratch\nRUN echo "caf\u00e9 \\"quoted\\"" > C:\\tmp\\x\nRUN true\n'
    with load_policies(tmp_path) as ps:
        (f,) = ps.evaluate(parse_document(text, "Dockerfile", "dockerfile"))
    assert f.message == 'RUN echo "caf\u00e9 \\"quoted\\"" > C:\\tmp\\x' and f.location.line == 2
