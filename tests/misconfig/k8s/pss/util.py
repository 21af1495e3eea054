"""Helpers for the Kubernetes posture tests: pods as data, manifests as text, scans, fixes.

Evaluator tests build pods as Python data from a pod that passes the restricted level at every
policy version (`pod()`), changing one thing, so a failing pod fails for exactly that reason.
Engine tests use YAML text (`deployment()`): the hardened Deployment below produces no finding
at all, and a test changes one line of it, then asserts the finding by check id and by the line
it must point at, looked up in the text (`line_of`) rather than written as a number.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from customhouse.misconfig.engine import Document, Options
from customhouse.misconfig.k8s.objects import tree_document
from customhouse.misconfig.runner import parse_document, run_checks
from customhouse.report.findings import Finding

DROP = object()  # as a value in pod(): remove the key

BASE_POD_SC: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
BASE_CTR_SC: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _merge(base: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in (changes or {}).items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def pod(
    pod_sc: Mapping[str, Any] | None = None,
    ctr_sc: Mapping[str, Any] | None = None,
    ctr: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(spec, metadata) of a restricted-clean pod with the given changes (DROP removes a key)."""
    container = {"name": "app", "image": "registry.example.com/app:1.0", "securityContext": _merge(BASE_CTR_SC, ctr_sc)}
    container = _merge(container, ctr)
    out = {"securityContext": _merge(BASE_POD_SC, pod_sc), "containers": [container]}
    out = _merge(out, spec)
    return out, ({"annotations": dict(annotations)} if annotations else {})


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the `nth` line containing `needle` (fails loudly if there is none)."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in fixture")


def options(level: str = "restricted", version: str = "latest", **kw: Any) -> Options:
    return Options(extra={"pss_level": level, "pss_version": version}, **kw)


def scan(text: str, opts: Options | None = None, name: str = "deploy.yaml") -> list[Finding]:
    """Per-document Kubernetes checks on one manifest text."""
    return run_checks(parse_document(text, name, "kubernetes"), opts or options())


def parse(text: str, name: str) -> Document:
    return parse_document(text, name, "kubernetes")


def scan_tree_texts(files: Mapping[str, str], opts: Options | None = None) -> list[Finding]:
    """Tree-level (`kubernetes-tree`) checks over several manifest files."""
    docs = [parse(text, name) for name, text in files.items()]
    return run_checks(tree_document("tree", docs), opts or options())


def ids(findings: list[Finding], prefix: str = "CH-K8S") -> list[str]:
    return sorted(f.id for f in findings if f.id.startswith(prefix))


def hits(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id]


def lines(findings: list[Finding], check_id: str) -> list[int]:
    return sorted(f.location.line for f in hits(findings, check_id))


def extra(f: Finding) -> dict[str, str]:
    return dict(f.misconfiguration.extra) if f.misconfiguration else {}


def apply_fix(text: str, finding: Finding) -> str:
    """The text with the finding's mechanical replacement applied (snippet lines -> replacement)."""
    detail = finding.misconfiguration
    assert detail is not None and detail.replacement, f"{finding.id} has no replacement"
    src = text.splitlines()
    start = finding.location.line
    n = len(detail.snippet.splitlines())
    assert "\n".join(src[start - 1 : start - 1 + n]) == detail.snippet
    return "\n".join([*src[: start - 1], *detail.replacement.splitlines(), *src[start - 1 + n :]]) + "\n"


# A Deployment no check reports: every PSS restricted requirement, resources, probes, a
# read-only root file system, a dedicated service account without a token, an image by digest.
DIGEST = "sha256:" + "a" * 64
HARDENED = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: web
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: registry.example.com/shop/web:1.4.2@{DIGEST}
          ports:
            - containerPort: 8080
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          livenessProbe:
            httpGet:
              path: /healthz
              port: 8080
          readinessProbe:
            httpGet:
              path: /ready
              port: 8080
"""


def deployment(replace: Mapping[str, str] | None = None, after: Mapping[str, str] | None = None) -> str:
    """HARDENED with whole lines replaced (`old line text` -> new lines) or lines added after a line."""
    out = []
    for line in HARDENED.splitlines():
        key = line.strip()
        if replace and key in replace:
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + x if x else x for x in replace[key].splitlines())
        else:
            out.append(line)
        if after and key in after:
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + x for x in after[key].splitlines())
    return "\n".join(out) + "\n"
