"""Helpers for the RBAC tests: manifest builders, a tree scanner, and path summaries.

Fixtures are written as the YAML a person would apply (one object per document), so findings
can be asserted at the line of the text that causes them (`line_of`), and escalation paths are
compared hop by hop as (from, capability, to) so a test states the exact chain it expects.
"""

from __future__ import annotations

from customhouse.misconfig.engine import Document, Options
from customhouse.misconfig.k8s.objects import tree_document
from customhouse.misconfig.k8s.rbac import EscalationGraph, EscalationPath, Principal, RbacModel
from customhouse.misconfig.runner import parse_document, run_checks
from customhouse.report.findings import Finding


def docs(files: dict[str, str]) -> list[Document]:
    return [parse_document(text, name, "kubernetes") for name, text in files.items()]


def model(files: dict[str, str] | str) -> RbacModel:
    return RbacModel.from_documents(docs(_files(files)))


def scan(files: dict[str, str] | str, options: Options | None = None) -> list[Finding]:
    return run_checks(tree_document("tree", docs(_files(files))), options or Options())


def _files(files: dict[str, str] | str) -> dict[str, str]:
    return {"rbac.yaml": files} if isinstance(files, str) else files


def hits(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in fixture")


def extra(f: Finding) -> dict[str, str]:
    return dict(f.misconfiguration.extra) if f.misconfiguration else {}


def join(*parts: str) -> str:
    return "---\n".join(p if p.endswith("\n") else p + "\n" for p in parts)


# --------------------------------------------------------------------------------------------
# builders


def _list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def rule(verbs: str, resources: str, groups: str = "", names: str = "") -> str:
    """One rule as a YAML list item (comma-separated fields; groups "" is the core group)."""
    out = f"- apiGroups: {_list(groups.split(','))}\n"
    out += f"  resources: {_list(resources.split(','))}\n"
    out += f"  verbs: {_list(verbs.split(','))}\n"
    if names:
        out += f"  resourceNames: {_list(names.split(','))}\n"
    return out


def url_rule(verbs: str, urls: str) -> str:
    return f"- nonResourceURLs: {_list(urls.split(','))}\n  verbs: {_list(verbs.split(','))}\n"


def role(name: str, ns: str, *rules: str, labels: str = "") -> str:
    body = "rules:\n" + "".join(rules) if rules else "rules: []\n"
    meta = f"metadata:\n  name: {name}\n  namespace: {ns}\n" + (f"  labels:\n{labels}" if labels else "")
    return f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n{meta}{body}"


def cluster_role(name: str, *rules: str, labels: dict[str, str] | None = None, aggregate: str = "") -> str:
    meta = f"metadata:\n  name: {name}\n"
    if labels:
        meta += "  labels:\n" + "".join(f'    {k}: "{v}"\n' for k, v in labels.items())
    out = f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n{meta}"
    if aggregate:
        out += f"aggregationRule:\n  clusterRoleSelectors:\n{aggregate}"
    return out + ("rules:\n" + "".join(rules) if rules else "rules: []\n")


def subject(spec: str) -> str:
    """`user:NAME`, `group:NAME`, `sa:NS/NAME` or `sa:NAME` (no namespace written)."""
    kind, _, rest = spec.partition(":")
    if kind == "sa":
        ns, slash, name = rest.partition("/")
        if not slash:
            return f"- kind: ServiceAccount\n  name: {ns}\n"
        return f"- kind: ServiceAccount\n  name: {name}\n  namespace: {ns}\n"
    k = {"user": "User", "group": "Group"}[kind]
    return f"- kind: {k}\n  name: {rest}\n  apiGroup: rbac.authorization.k8s.io\n"


def binding(name: str, ns: str, role_ref: str, *subjects: str, defaults: bool = False) -> str:
    """A RoleBinding in `ns` to `Role:NAME` or `ClusterRole:NAME`."""
    kind, _, rname = role_ref.partition(":")
    labels = "  labels:\n    kubernetes.io/bootstrapping: rbac-defaults\n" if defaults else ""
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
        f"{labels}subjects:\n{''.join(subject(s) for s in subjects)}"
        f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {kind}\n  name: {rname}\n"
    )


def cluster_binding(name: str, role_name: str, *subjects: str, defaults: bool = False) -> str:
    labels = "  labels:\n    kubernetes.io/bootstrapping: rbac-defaults\n" if defaults else ""
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\n{labels}"
        f"subjects:\n{''.join(subject(s) for s in subjects)}"
        f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {role_name}\n"
    )


def service_account(name: str, ns: str, automount: bool | None = None) -> str:
    out = f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
    if automount is not None:
        out += f"automountServiceAccountToken: {'true' if automount else 'false'}\n"
    return out


def deployment(name: str, ns: str, sa: str = "", automount: bool | None = None) -> str:
    spec = ""
    if sa:
        spec += f"      serviceAccountName: {sa}\n"
    if automount is not None:
        spec += f"      automountServiceAccountToken: {'true' if automount else 'false'}\n"
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n"
        f"  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n"
        f"    spec:\n{spec}      containers:\n      - name: app\n        image: registry.example.com/{name}:1.0\n"
    )


def pod(name: str, ns: str, sa: str = "") -> str:
    spec = f"  serviceAccountName: {sa}\n" if sa else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{spec}"
        f"  containers:\n  - name: app\n    image: registry.example.com/{name}:1.0\n"
    )


def token_secret(name: str, ns: str, sa: str) -> str:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n"
        f"    kubernetes.io/service-account.name: {sa}\ntype: kubernetes.io/service-account-token\n"
    )


# --------------------------------------------------------------------------------------------
# paths


def hops(path: EscalationPath | None) -> list[tuple[str, str, str]]:
    assert path is not None, "expected a path"
    return [(h.src, h.capability, h.dst) for h in path.hops]


def path_of(files: dict[str, str] | str, start: str, direct_first: bool = False) -> EscalationPath | None:
    graph: EscalationGraph = model(files).escalation_graph()
    return graph.path(Principal.parse(start), direct_first=direct_first)
