"""`customhouse k8s PATH`: the misconfiguration scan restricted to Kubernetes manifests.

It is `customhouse config` with two differences. Only files detected as Kubernetes manifests are
read (a repository's Dockerfiles and compose files are not this command's business, and their
parse errors would be noise here). And after the per-file checks, the tree-level checks
(`kubernetes-tree`: namespace default-deny, PodDisruptionBudgets, unused service account tokens,
LimitRange-aware resources, and the RBAC and NetworkPolicy analyses) run once over every
manifest. Objects of kinds nothing here understands (custom resources without a pod template,
misspelled kinds) are counted and reported in one summary line instead of being silently
ignored.

`add_pss_options` and `pss_extra` are shared with `config`, which takes the same two
Pod Security Standards flags. Importing this module stays cheap: YAML, the engine and the
renderers load inside the handler.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, UsageError

PSS_LEVELS = ("privileged", "baseline", "restricted")

# Kinds of the built-in API groups that the checks either analyse or knowingly have nothing to
# say about; anything else without a pod template is an "unknown kind".
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "extensions",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "discovery.k8s.io",
        "coordination.k8s.io",
        "certificates.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "resource.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "internal.apiserver.k8s.io",
        "storagemigration.k8s.io",
    }
)
BUILTIN_KINDS = frozenset(
    [
        "Pod",
        "PodTemplate",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
        "Service",
        "Endpoints",
        "EndpointSlice",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "StorageClass",
        "VolumeAttachment",
        "CSIDriver",
        "CSINode",
        "CSIStorageCapacity",
        "VolumeAttributesClass",
        "LimitRange",
        "ResourceQuota",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "PriorityClass",
        "RuntimeClass",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "CertificateSigningRequest",
        "ClusterTrustBundle",
        "Lease",
        "Event",
        "Binding",
        "ComponentStatus",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "ResourceClaim",
        "ResourceClaimTemplate",
        "DeviceClass",
        "ResourceSlice",
        "PodSecurityPolicy",
        "IPAddress",
        "ServiceCIDR",
        "StorageVersionMigration",
        "TokenReview",
        "SubjectAccessReview",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
        "LocalSubjectAccessReview",
        "SelfSubjectReview",
    ]
)


# --------------------------------------------------------------------------------------------
# the Pod Security Standards flags (also added to `config` by its owner)


def _level_arg(value: str) -> str:
    v = value.strip().lower()
    if v not in PSS_LEVELS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a level (use {', '.join(PSS_LEVELS)})")
    return v


def _version_arg(value: str) -> str:
    if value.strip().lower() == "latest":  # argparse converts the default too: no import for it
        return "latest"
    from customhouse.misconfig.k8s.pss import format_version, parse_version

    try:
        minor = parse_version(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message.split(": ", 1)[-1]) from None
    return "latest" if value.strip().lower() == "latest" else format_version(minor)


def add_pss_options(p: argparse.ArgumentParser) -> None:
    """`--pss-level` and `--pss-version`, as `k8s` and `config` define them."""
    g = p.add_argument_group("Pod Security Standards")
    g.add_argument(
        "--pss-level",
        type=_level_arg,
        default="restricted",
        metavar="LEVEL",
        help="evaluate pods against this level: privileged (no PSS checks), baseline, restricted (default)",
    )
    g.add_argument(
        "--pss-version",
        type=_version_arg,
        default="latest",
        metavar="v1.N|latest",
        help="policy version, as in the pod-security.kubernetes.io/enforce-version label: v1.0 to v1.37, "
        "or latest (default)",
    )


def pss_extra(args: argparse.Namespace) -> dict[str, str]:
    """Options.extra entries for the PSS flags (validated again for callers that built args by hand).
    The defaults need no parsing, and a `config` run over Dockerfiles then does not import the
    PSS module (4 ms) for them."""
    level, raw = getattr(args, "pss_level", None) or "restricted", getattr(args, "pss_version", None) or "latest"
    if level in PSS_LEVELS and raw == "latest":
        return {"pss_level": level, "pss_version": "latest"}
    from customhouse.misconfig.k8s.pss import format_version, parse_level, parse_version

    level = parse_level(getattr(args, "pss_level", None) or "restricted")
    raw = str(getattr(args, "pss_version", None) or "latest")
    minor = parse_version(raw)
    return {"pss_level": level, "pss_version": "latest" if raw.strip().lower() == "latest" else format_version(minor)}


# --------------------------------------------------------------------------------------------
# the command


def add_commands(sub: Any) -> None:
    """Register `k8s` on the top-level parser."""
    from customhouse.misconfig.cli import (
        CONFIG_FORMATS,
        _common,
        add_jobs_option,
        add_misconfig_options,
        add_scanners_option,
    )

    p = sub.add_parser(
        "k8s",
        help="scan Kubernetes manifests under PATH: Pod Security Standards, workload hardening, RBAC, NetworkPolicy",
        description="Scan the Kubernetes manifests of a directory tree (or one file): Pod Security Standards "
        "exactly as PodSecurity admission evaluates them, workload hardening, and the checks that need every "
        "manifest at once. A file that cannot be read or parsed is skipped with a warning naming it (and the "
        "line). Exit codes: 0 clean, 1 an unsuppressed finding at or above --fail-on, 2 usage, 3 PATH "
        "unreadable, 6 internal error.",
        epilog="Checks: `customhouse checks list --file-type kubernetes`, docs/kubernetes.md.",
    )
    p.add_argument("path", metavar="PATH", type=Path)
    p.add_argument("-f", "--format", choices=CONFIG_FORMATS, default="table", help="report format (default: table)")
    p.add_argument(
        "--fail-on",
        default="",
        metavar="SEVERITY",
        help="exit 1 when an unsuppressed finding is at or above SEVERITY (critical, high, medium, low, info)",
    )
    p.add_argument("--severity", default="", help="report only these severities (comma list)")
    p.add_argument(
        "--ignore-file", type=Path, metavar="FILE", help="ignore file (default: ./.customhouseignore.yaml when present)"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and directories matching GLOB (repeatable): a name anywhere, or a path from PATH",
    )
    p.add_argument(
        "--enable-check",
        action="append",
        default=[],
        metavar="ID[,ID...]",
        help="also run these checks that are off by default (repeatable)",
    )
    add_scanners_option(p)
    add_pss_options(p)
    add_misconfig_options(p)
    add_jobs_option(p)
    _common(p)
    p.set_defaults(func=cmd_k8s)


@dataclass
class K8sScan:
    findings: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scanned: int = 0  # manifest files read
    skipped: int = 0  # files that could not be read or parsed
    objects: int = 0
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    evaluated: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # file -> checks that ran
    check_severity: dict[str, str] = field(default_factory=dict)

    def unknown_summary(self) -> str:
        n = sum(self.unknown_kinds.values())
        if not n:
            return ""
        kinds = ", ".join(sorted(self.unknown_kinds))
        return f"{n} object{'s' if n != 1 else ''} of unknown kinds skipped ({kinds})"


def is_unknown(obj: Any) -> bool:
    """An object no check understands: not a built-in kind and no pod template to evaluate."""
    from customhouse.misconfig.k8s.objects import pod_templates

    group = obj.api_version.split("/", 1)[0] if "/" in obj.api_version else ""
    if group in BUILTIN_GROUPS and obj.kind in BUILTIN_KINDS:
        return False
    return not pod_templates(obj)


def scan_k8s(
    root: Path,
    options: Any = None,
    skip: Iterable[str] = (),
    policies: Any = None,
    exclude: Sequence[str] = (),
    enable: Iterable[str] = (),
    jobs: int = 0,
    cache_dir: Path | None = None,
    scanners: Iterable[str] = ("misconfig", "secret"),
    worker_finish: Any = None,
) -> K8sScan:
    """Every Kubernetes manifest under `root` through the per-file and the tree-level checks.

    This is `runner.scan_tree` limited to manifests (same file handling, warnings and tree-level
    checks) plus the count of objects no check understands.
    """
    from customhouse.misconfig.k8s.objects import load_objects
    from customhouse.misconfig.runner import scan_tree

    res = scan_tree(
        root,
        options,
        skip,
        policies=policies,
        exclude=exclude,
        enable=enable,
        file_types=("kubernetes",),
        keep_documents=True,
        misconfig="misconfig" in scanners,
        secrets="secret" in scanners,
        jobs=jobs,
        cache_dir=cache_dir,
        worker_finish=worker_finish,
    )
    out = K8sScan(
        findings=res.findings,
        warnings=res.warnings,
        scanned=res.scanned.get("kubernetes", 0),
        skipped=res.skipped,
        evaluated=res.evaluated,
        check_severity=res.check_severity,
    )
    for obj in load_objects(res.documents):
        out.objects += 1
        if is_unknown(obj):
            out.unknown_kinds[obj.kind] += 1
    summary = out.unknown_summary()
    if summary:
        out.warnings.append(summary)
    return out


def cmd_k8s(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from customhouse.cli import _emit, _severities, _warn
    from customhouse.errors import InputError
    from customhouse.match.triage import gate, triage
    from customhouse.misconfig.cli import (
        _fail_on,
        _policy_set,
        _skips,
        misconfig_options,
        resolve_check_ids,
        scanners_arg,
        shown_checks,
        worker_finish,
    )
    from customhouse.model import TargetInfo
    from customhouse.report import finding_renderer
    from customhouse.report.scan_report import ScanReport

    # Every usage error before any work, as `config` does.
    scanners = scanners_arg(args)
    severities = _severities(args.severity) if args.severity else ()
    fail_on = _fail_on(args.fail_on)
    base = misconfig_options(args)
    options = replace(base, extra={**dict(base.extra), **pss_extra(args)})
    enable = resolve_check_ids(args.enable_check, "--enable-check", builtin_only=True)
    skip = _skips(args.skip_check)
    if not args.policy:
        skip = resolve_check_ids(skip, "--skip-check")
    if not args.path.exists():
        raise InputError(f"{args.path}: no such file or directory")
    if args.ignore_file is not None and not args.ignore_file.is_file():
        raise InputError(f"{args.ignore_file}: ignore file not found")

    from customhouse.misconfig.runner import collector_paused

    with _policy_set(args) as policies, collector_paused():
        if policies is not None:
            skip = resolve_check_ids(skip, "--skip-check", policies)
        result = scan_k8s(
            args.path,
            options,
            skip,
            policies=policies,
            exclude=args.exclude,
            enable=enable,
            jobs=args.jobs,
            cache_dir=args.cache_dir,
            scanners=scanners,
            worker_finish=worker_finish(args.format),
        )

    warnings = list(result.warnings)
    if args.path.is_file() and not result.scanned:
        if result.skipped and warnings:
            raise InputError(warnings[0])
        raise InputError(f"{args.path}: not a Kubernetes manifest (YAML or JSON with apiVersion and kind)")
    if not result.scanned and not result.skipped:
        warnings.append(f"{args.path}: no Kubernetes manifests found")
    findings, more = triage(result.findings, args.ignore_file, severities)
    warnings += more
    if not args.quiet:
        for w in warnings:
            _warn(w)
    evaluated = shown_checks(result.evaluated, result.check_severity, severities)
    report = ScanReport(
        target=TargetInfo(name=str(args.path), kind="k8s"),
        os=None,
        findings=tuple(findings),
        warnings=tuple(warnings),
        fail_on=fail_on,
        evaluated_checks=evaluated,
    )
    _emit(finding_renderer(args.format)(report), args.output)
    return EXIT_FINDINGS if gate(findings, fail_on) else EXIT_OK
