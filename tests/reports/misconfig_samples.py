"""Misconfiguration findings as a `customhouse config` scan of a repository produces them.

Built directly as `Finding` objects (the checks are written alongside): a Dockerfile with a
mechanical fix and a whole-file finding, a compose file with a custom Rego policy's finding
and an inline-suppressed one, a Kubernetes manifest with two resources, and an image
configuration finding that has no line at all, only a JSON path.
"""

from __future__ import annotations

from dataclasses import replace

from customhouse.model import TargetInfo
from customhouse.report.findings import Finding, Location, MisconfigDetail, Suppression
from customhouse.report.scan_report import ScanReport

TARGET = "repo"
CIS = "CIS Docker Benchmark"


def misconfig(
    check_id: str,
    severity: str,
    title: str,
    message: str,
    path: str,
    file_type: str,
    *,
    line: int = 0,
    column: int = 0,
    end_line: int = 0,
    fix: str = "",
    snippet: str = "",
    replacement: str = "",
    source: str = "builtin",
    description: str = "",
    references: tuple[str, ...] = (),
    frameworks: tuple[tuple[str, str], ...] = (),
    resource: tuple[str, str, str] = ("", "", ""),
    json_path: str = "",
    extra: tuple[tuple[str, str], ...] = (),
    target: str = TARGET,
) -> Finding:
    kind, namespace, name = resource
    return Finding(
        id=check_id,
        kind="misconfiguration",
        severity=severity,  # type: ignore[arg-type]
        title=title,
        message=message,
        target=target,
        location=Location(
            path=path,
            line=line,
            column=column,
            end_line=end_line or line,
            json_path=json_path,
            resource_kind=kind,
            resource_namespace=namespace,
            resource_name=name,
        ),
        fix=fix,
        references=references,
        frameworks=frameworks,
        misconfiguration=MisconfigDetail(
            file_type=file_type,
            snippet=snippet,
            replacement=replacement,
            check_source=source,
            description=description,
            extra=extra,
        ),
    ).with_fingerprint()


DF_ROOT = misconfig(
    "CH-DF-002",
    "high",
    "Image runs as root",
    "The last USER instruction of the final stage switches to root",
    "services/api/Dockerfile",
    "dockerfile",
    line=14,
    column=1,
    fix="Create an unprivileged user and switch to it with USER. Keep root only for build steps.",
    snippet="USER root",
    replacement="USER 10001:10001",
    description="The container's main process runs as UID 0.",
    references=("https://docs.docker.com/reference/dockerfile/#user", "https://example.org/not-first"),
    frameworks=((CIS, "4.1"), ("NIST SP 800-190", "4.4.3"), ("MITRE ATT&CK", "T1611")),
)
DF_HEALTH = misconfig(
    "CH-DF-010",
    "low",
    "No HEALTHCHECK instruction",
    "No HEALTHCHECK instruction",
    "services/api/Dockerfile",
    "dockerfile",
    fix="Add a HEALTHCHECK that probes the service.",
    description="Without a health check the runtime cannot tell a hung container from a working one.",
    frameworks=((CIS, "4.6"),),
)
DF_ADD = misconfig(
    "CH-DF-005",
    "medium",
    "ADD used to fetch a remote file",
    "ADD downloads https://example.com/tool.tar.gz without verifying it",
    "services/api/Dockerfile",
    "dockerfile",
    line=6,
    end_line=7,
    column=1,
    fix="Download with curl and verify a checksum, or use ADD --checksum.",
    snippet="ADD https://example.com/tool.tar.gz \\\n    /opt/tool.tar.gz",
    description="Remote ADD sources are fetched at build time with no integrity check.",
)
COMPOSE_PRIV = misconfig(
    "ORG-COMPOSE-001",
    "high",
    "Compose service runs privileged",
    'service "web" runs privileged',
    "deploy/docker-compose.yml",
    "compose",
    line=4,
    column=5,
    fix="set privileged: false on web",
    snippet="    privileged: true",
    replacement="    privileged: false",
    source="rego:policies/compose/privileged.rego",
    description="A privileged container has every capability and all host devices.",
    references=("https://docs.example.com/platform/standards#privileged",),
    frameworks=((CIS, "5.4"),),
    json_path="$.services.web.privileged",
)
COMPOSE_PRIV_DB = replace(
    misconfig(
        "ORG-COMPOSE-001",
        "high",
        "Compose service runs privileged",
        'service "db" runs privileged',
        "deploy/docker-compose.yml",
        "compose",
        line=8,
        column=5,
        snippet="    privileged: true",
        replacement="    privileged: false",
        source="rego:policies/compose/privileged.rego",
        json_path="$.services.db.privileged",
    ),
    suppressed=Suppression(source="inline", reason="needs raw block devices", status="ignored"),
)
K8S_API = misconfig(
    "CH-K8S-007",
    "medium",
    "Container without memory limit",
    "container api has no memory limit",
    "k8s/app.yaml",
    "kubernetes",
    line=24,
    column=7,
    fix="Set resources.limits.memory.",
    resource=("Deployment", "shop", "api"),
    json_path="$.spec.template.spec.containers[0]",
    frameworks=(("CIS Kubernetes Benchmark", "5.7.4"),),
)
K8S_POD = misconfig(
    "CH-K8S-007",
    "medium",
    "Container without memory limit",
    "container sidecar has no memory limit",
    "k8s/app.yaml",
    "kubernetes",
    line=13,
    column=5,
    fix="Set resources.limits.memory.",
    resource=("Pod", "shop", "one"),
    json_path="$.spec.containers[1]",
)
K8S_PRIV = misconfig(
    "CH-K8S-001",
    "critical",
    "Privileged container",
    "container api is privileged",
    "k8s/app.yaml",
    "kubernetes",
    line=29,
    column=9,
    fix="Remove securityContext.privileged.",
    resource=("Deployment", "shop", "api"),
    extra=(("pss_check", "privileged"),),
)
IMAGE_USER = misconfig(
    "CH-IMG-001",
    "high",
    "Image configured to run as root",
    "config.User is empty: the image runs as root",
    "registry.example.com/team/app:1.0",
    "image-config",
    fix="Set USER in the Dockerfile.",
    json_path="$.config.User",
    target="registry.example.com/team/app:1.0",
)

ALL = (DF_ROOT, DF_HEALTH, DF_ADD, COMPOSE_PRIV, COMPOSE_PRIV_DB, K8S_API, K8S_POD, K8S_PRIV, IMAGE_USER)


def report(findings: tuple[Finding, ...] = ALL, **kw: object) -> ScanReport:
    return ScanReport(
        target=TargetInfo(name=TARGET, kind="config"),
        os=None,
        findings=findings,
        warnings=("deploy/broken.yaml:3: invalid YAML: mapping values are not allowed here",),
        **kw,  # type: ignore[arg-type]
    )
