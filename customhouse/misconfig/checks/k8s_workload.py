"""Kubernetes workload hardening beyond the Pod Security Standards (CH-K8S-*).

The Pod Security Standards say what a pod must not do; a hardened workload also bounds its
resources, reports its health, keeps its root file system read-only, does not carry API
credentials it never uses, runs images that cannot change under it, keeps secrets out of plain
text, and lives in a namespace whose network is closed by default. These checks read the same
objects as the PSS checks (customhouse.misconfig.k8s.objects): pods and the pod templates of
every workload kind, and of custom resources that embed one (Argo Rollouts and the like), found
by shape.

Two kinds of check live here. Per-document checks (`kubernetes`) need only the object at hand.
Tree-level checks (`kubernetes-tree`) need every manifest of the scanned tree at once, because
the answer depends on other objects: a LimitRange that supplies default resources, the
ServiceAccount and RoleBindings that decide whether a token is used, the NetworkPolicies and
PodDisruptionBudgets of a namespace. They report each finding in the file of the object it is
about.

Rules chosen where the upstream advice is a judgement call (docs/kubernetes.md explains them):

- resources: a memory limit and CPU and memory requests are required (a request is also
  satisfied by a limit, which Kubernetes copies into the request, and by a LimitRange default in
  the namespace); a CPU limit is not, since it throttles without protecting neighbours;
- probes: liveness and readiness are expected on long-running containers, not on Jobs, CronJobs
  and pods whose restartPolicy is Never or OnFailure, nor on init or ephemeral containers;
- a service account token counts as *unused* when the pod's service account has no RoleBinding or
  ClusterRoleBinding in the tree; an explicit `automountServiceAccountToken: true` on the pod is
  taken as deliberate.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from customhouse.misconfig.checks._secretvalues import secret_reason
from customhouse.misconfig.checks.compose import SOCKET_DIRS, SOCKET_NAMES
from customhouse.misconfig.checks.k8s_pss import at_object, document_objects, document_templates, full_path
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.imageref import parse_image_ref
from customhouse.misconfig.k8s.objects import K8sObject, PodTemplate, load_objects, pod_templates
from customhouse.misconfig.yamlsrc import Path_

K8S_DOCS = "https://kubernetes.io/docs/"
RESOURCES_DOC = K8S_DOCS + "concepts/configuration/manage-resources-containers/"
PROBES_DOC = K8S_DOCS + "tasks/configure-pod-container/configure-liveness-readiness-startup-probes/"
SECURITY_CONTEXT_DOC = K8S_DOCS + "tasks/configure-pod-container/security-context/"
SA_DOC = K8S_DOCS + "concepts/security/service-accounts/"
SA_TASK_DOC = K8S_DOCS + "tasks/configure-pod-container/configure-service-account/"
IMAGES_DOC = K8S_DOCS + "concepts/containers/images/"
SECRETS_DOC = K8S_DOCS + "concepts/configuration/secret/"
GOOD_PRACTICES_SECRETS = K8S_DOCS + "concepts/security/secrets-good-practices/"
SERVICE_DOC = K8S_DOCS + "concepts/services-networking/service/"
INGRESS_DOC = K8S_DOCS + "concepts/services-networking/ingress/#tls"
NETPOL_DOC = K8S_DOCS + "concepts/services-networking/network-policies/#default-policies"
PDB_DOC = K8S_DOCS + "tasks/run-application/configure-pdb/"
LIMITRANGE_DOC = K8S_DOCS + "concepts/policy/limit-range/"
CIS_KUBERNETES = "https://www.cisecurity.org/benchmark/kubernetes"
NIST_800_190 = "https://csrc.nist.gov/pubs/sp/800/190/final"

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
RUN_TO_COMPLETION_KINDS = frozenset({"Job", "CronJob"})
NOT_REPLICATED_KINDS = frozenset({"Pod", "PodTemplate", "Job", "CronJob", "DaemonSet"})
_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io"})


# --------------------------------------------------------------------------------------------
# reading objects


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Ctr:
    """A container of a pod template, with its path relative to the template (("spec", field, i))."""

    t: PodTemplate
    fld: str
    index: int
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        n = self.data.get("name")
        return n if isinstance(n, str) and n else f"{self.fld}[{self.index}]"

    @property
    def label(self) -> str:
        return f'container "{self.name}"'

    def path(self, *keys: str | int) -> Path_:
        return full_path(self.t, ("spec", self.fld, self.index, *keys))


def _containers(t: PodTemplate, ephemeral: bool = False) -> Iterator[Ctr]:
    for fld, i, c in t.containers():
        if ephemeral or fld != "ephemeralContainers":
            yield Ctr(t, fld, i, c)


def _templates(doc: Document) -> list[PodTemplate]:
    return document_templates(doc)


def _at(doc: Document, obj: K8sObject, path: Path_, message: str, **kw: Any) -> Violation:
    return at_object(doc, obj, path, f"{obj.ref}: {message}", **kw)


@dataclass
class Tree:
    """Every object of a scanned tree, indexed the way the tree-level checks ask."""

    objects: list[K8sObject] = field(default_factory=list)
    templates: list[PodTemplate] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> Iterator[K8sObject]:
        return (o for o in self.objects if o.kind in kinds)


_LAST_TREE: tuple[Document, Tree] | None = None


def tree_index(tree_doc: Document) -> Tree:
    """The objects of a `kubernetes-tree` document, computed once for all tree-level checks."""
    global _LAST_TREE
    cached = _LAST_TREE
    if cached is not None and cached[0] is tree_doc:
        return cached[1]
    docs = [d for d in _list(tree_doc.data) if isinstance(d, Document)]
    tree = Tree(objects=load_objects(docs))
    for obj in tree.objects:
        tree.templates.extend(pod_templates(obj))
    _LAST_TREE = (tree_doc, tree)
    return tree


def _tree_violation(obj: K8sObject, path: Path_, message: str, **kw: Any) -> Violation:
    """A tree-level finding, placed in the file of `obj` with that file's source as snippet."""
    v = _at(obj.doc, obj, path, message, **kw)
    return replace(v, path=obj.doc.path, snippet=v.snippet or obj.doc.source(v.line))


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`; {} selects all."""
    if not isinstance(selector, Mapping):
        return False
    for k, v in _map(selector.get("matchLabels")).items():
        if labels.get(str(k)) != ("" if v is None else str(v)):
            return False
    for expr in _list(selector.get("matchExpressions")):
        e = _map(expr)
        key, op = _str(e.get("key")), _str(e.get("operator"))
        values = {str(v) for v in _list(e.get("values"))}
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # an invalid selector selects nothing
    return True


# --------------------------------------------------------------------------------------------
# resources (tree: LimitRange defaults live in other files)


def _limit_range_defaults(tree: Tree) -> dict[str, tuple[set[str], set[str]]]:
    """namespace -> (resources with a default limit, resources with a default request) for containers."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for lr in tree.of_kind("LimitRange"):
        limits, requests = out.setdefault(lr.namespace, (set(), set()))
        for item in _list(lr.get("spec", "limits")):
            it = _map(item)
            if it.get("type", "Container") != "Container":
                continue
            limits.update(str(k) for k in _map(it.get("default")))
            requests.update(str(k) for k in _map(it.get("defaultRequest")))
            requests.update(str(k) for k in _map(it.get("default")))  # a default limit also becomes the request
    return out


def _resources(c: Ctr) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    res = _map(c.data.get("resources"))
    return _map(res.get("limits")), _map(res.get("requests"))


@check(
    "CH-K8S-001",
    "No memory limit",
    "medium",
    ["kubernetes-tree"],
    description="A container (or init container) has no `resources.limits.memory` and no LimitRange in its "
    "namespace (in the scanned tree) supplies a default memory limit.",
    rationale="""
Without a memory limit a leaking or attacked container can take all of the node's memory: the
kernel's OOM killer then picks victims among the other pods on the node, and the kubelet may
evict unrelated workloads. A limit turns that into a restart of the offending container only.
""",
    remediation="Set `resources.limits.memory` (and a matching request) to what the container needs at peak, "
    "or give the namespace a LimitRange with a default memory limit.",
    references=[RESOURCES_DOC, LIMITRANGE_DOC],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1499"),
)
def no_memory_limit(doc: Document, options: Options) -> Iterable[Violation]:
    tree = tree_index(doc)
    defaults = _limit_range_defaults(tree)
    for t in tree.templates:
        if "memory" in defaults.get(t.namespace, (set(), set()))[0]:
            continue
        for c in _containers(t):
            limits, _ = _resources(c)
            if limits.get("memory") is None:
                yield _tree_violation(
                    t.owner,
                    c.path("resources", "limits", "memory"),
                    f"{c.label} has no memory limit",
                    fix=f"Add `resources.limits.memory` to {c.label} (e.g. `memory: 256Mi`, sized to its peak use).",
                )


@check(
    "CH-K8S-002",
    "No CPU or memory request",
    "low",
    ["kubernetes-tree"],
    description="A container (or init container) has no CPU or no memory request: neither `resources.requests` "
    "nor `resources.limits` (which Kubernetes copies into an absent request) names it, and no LimitRange in "
    "its namespace (in the scanned tree) supplies a default.",
    rationale="""
Requests are what the scheduler reserves. A container without them is scheduled as if it needed
nothing (BestEffort), lands on overcommitted nodes, is the first to be evicted under pressure,
and gives autoscalers nothing to work from.
""",
    remediation="Set `resources.requests.cpu` and `resources.requests.memory` to the container's typical use, "
    "or give the namespace a LimitRange with default requests.",
    references=[RESOURCES_DOC, LIMITRANGE_DOC],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1499"),
)
def no_requests(doc: Document, options: Options) -> Iterable[Violation]:
    tree = tree_index(doc)
    defaults = _limit_range_defaults(tree)
    for t in tree.templates:
        defaulted = defaults.get(t.namespace, (set(), set()))[1]
        for c in _containers(t):
            limits, requests = _resources(c)
            missing = [
                r for r in ("cpu", "memory") if requests.get(r) is None and limits.get(r) is None and r not in defaulted
            ]
            if missing:
                yield _tree_violation(
                    t.owner,
                    c.path("resources", "requests"),
                    f"{c.label} has no {' or '.join(missing)} request",
                    fix=f"Add `resources.requests` with {' and '.join(missing)} to {c.label}.",
                )


# --------------------------------------------------------------------------------------------
# probes, file system


def _long_running(t: PodTemplate) -> bool:
    return t.owner.kind not in RUN_TO_COMPLETION_KINDS and t.spec.get("restartPolicy") not in ("Never", "OnFailure")


def _missing_probe(doc: Document, probe: str, what: str) -> Iterator[Violation]:
    for t in _templates(doc):
        if not _long_running(t):
            continue
        for c in _containers(t):
            if c.fld == "containers" and not isinstance(c.data.get(probe), Mapping):
                yield _at(
                    doc,
                    t.owner,
                    c.path(probe),
                    f"{c.label} has no {probe}",
                    fix=f"Add a `{probe}` to {c.label} that {what}.",
                )


@check(
    "CH-K8S-003",
    "No liveness probe",
    "low",
    ["kubernetes"],
    description="A long-running container (not in a Job, CronJob or a pod with restartPolicy Never/OnFailure; "
    "init and ephemeral containers excluded) has no `livenessProbe`.",
    rationale="""
Without a liveness probe the kubelet restarts a container only when its process exits: a
deadlocked or wedged service (including one an attacker has hung) keeps running and keeps its
endpoints until someone notices.
""",
    remediation="Add a `livenessProbe` (httpGet, tcpSocket, grpc or exec) that fails only when the process "
    "cannot recover by itself.",
    references=[PROBES_DOC],
)
def no_liveness_probe(doc: Document, options: Options) -> Iterable[Violation]:
    return _missing_probe(doc, "livenessProbe", "fails only when the process is stuck")


@check(
    "CH-K8S-004",
    "No readiness probe",
    "low",
    ["kubernetes"],
    description="A long-running container (not in a Job, CronJob or a pod with restartPolicy Never/OnFailure; "
    "init and ephemeral containers excluded) has no `readinessProbe`.",
    rationale="""
Without a readiness probe a container receives Service traffic as soon as it starts and while it
is overloaded or half broken; rolling updates proceed even when the new version never becomes
able to serve.
""",
    remediation="Add a `readinessProbe` that succeeds only when the container can serve requests.",
    references=[PROBES_DOC],
)
def no_readiness_probe(doc: Document, options: Options) -> Iterable[Violation]:
    return _missing_probe(doc, "readinessProbe", "succeeds only when it can serve")


@check(
    "CH-K8S-005",
    "Root file system writable",
    "medium",
    ["kubernetes"],
    description="A container or init container does not set `securityContext.readOnlyRootFilesystem: true` "
    "(Windows pods, where the field is not supported, are skipped).",
    rationale="""
A writable root file system lets an intruder drop tools, modify binaries and configuration, and
persist across processes in the container; with it read-only, writes are confined to declared
volumes (an emptyDir for /tmp) that are easy to audit.
""",
    remediation="Set `readOnlyRootFilesystem: true` and mount an emptyDir wherever the application must write.",
    references=[SECURITY_CONTEXT_DOC],
    frameworks=Framework(cis_kubernetes="5.7.3", nist_800_190="4.4.3"),
)
def writable_root_fs(doc: Document, options: Options) -> Iterable[Violation]:
    for t in _templates(doc):
        if _map(t.spec.get("os")).get("name") == "windows":
            continue
        for c in _containers(t):
            v = _map(c.data.get("securityContext")).get("readOnlyRootFilesystem")
            if v is not True:
                state = "does not set" if v is None else f"sets {v!r} for"
                yield _at(
                    doc,
                    t.owner,
                    c.path("securityContext", "readOnlyRootFilesystem"),
                    f"{c.label} {state} securityContext.readOnlyRootFilesystem",
                    fix=f"Set `readOnlyRootFilesystem: true` in {c.label}'s securityContext and mount an emptyDir "
                    "where it writes.",
                    set_to="true",
                )


# --------------------------------------------------------------------------------------------
# service accounts


def _bound_service_accounts(tree: Tree) -> tuple[set[tuple[str, str]], set[str], bool]:
    """((namespace, name) bound by a binding, namespaces bound as a group, all SAs bound as a group)."""
    named: set[tuple[str, str]] = set()
    group_ns: set[str] = set()
    everything = False
    for b in tree.of_kind("RoleBinding", "ClusterRoleBinding"):
        for s in _list(b.get("subjects")):
            subject = _map(s)
            kind, name = _str(subject.get("kind")), _str(subject.get("name"))
            if kind == "ServiceAccount" and name:
                ns = _str(subject.get("namespace")) or (b.namespace if b.kind == "RoleBinding" else "")
                named.add((ns or "default", name))
            elif kind == "Group" and name == "system:serviceaccounts":
                everything = True
            elif kind == "Group" and name.startswith("system:serviceaccounts:"):
                group_ns.add(name.split(":", 2)[2])
    return named, group_ns, everything


@check(
    "CH-K8S-006",
    "Service account token mounted but unused",
    "medium",
    ["kubernetes-tree"],
    description="A pod does not set `automountServiceAccountToken`, its ServiceAccount (when declared in the "
    "tree) does not set it to false, and no RoleBinding or ClusterRoleBinding in the tree grants that service "
    "account anything: the pod carries an API token it has no use for. An explicit true on the pod is taken "
    "as deliberate.",
    rationale="""
Every process in the pod can read the mounted token and call the API server with the service
account's identity: after a compromise that is the attacker's first credential, useful for
discovery even without extra permissions and dangerous as soon as someone grants the account
more.
""",
    remediation="Set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount); pods "
    "that need the API should use a dedicated service account with a RoleBinding.",
    references=[SA_TASK_DOC + "#opt-out-of-api-credential-automounting", SA_DOC, CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.1.6", nist_800_190="4.3.2", mitre_attack="T1528"),
)
def unused_token_mounted(doc: Document, options: Options) -> Iterable[Violation]:
    tree = tree_index(doc)
    accounts = {(sa.namespace, sa.name): sa for sa in tree.of_kind("ServiceAccount")}
    named, group_ns, everything = _bound_service_accounts(tree)
    for t in tree.templates:
        if t.spec.get("automountServiceAccountToken") is not None:
            continue
        sa_name = t.service_account
        sa = accounts.get((t.namespace, sa_name))
        if sa is not None and sa.data.get("automountServiceAccountToken") is False:
            continue
        if everything or t.namespace in group_ns or (t.namespace, sa_name) in named:
            continue
        yield _tree_violation(
            t.owner,
            full_path(t, ("spec", "automountServiceAccountToken")),
            f"pod template mounts the token of service account {sa_name!r}, which no binding in the tree uses",
            fix="Add `automountServiceAccountToken: false` to the pod spec"
            + (f" or to ServiceAccount {sa_name!r}" if sa is not None else "")
            + ".",
            set_to="false",
        )


@check(
    "CH-K8S-007",
    "Default service account used",
    "low",
    ["kubernetes"],
    description="A pod runs as its namespace's `default` service account (no `serviceAccountName`, or "
    "`default`) and does not opt out of the token with `automountServiceAccountToken: false`.",
    rationale="""
Every pod in the namespace that does not choose an account shares `default`: a permission granted
to it for one workload is granted to all of them, and audit logs cannot tell the workloads apart.
""",
    remediation="Create a ServiceAccount per workload and set `serviceAccountName`; or, for a pod that never "
    "calls the API, set `automountServiceAccountToken: false`.",
    references=[SA_DOC, CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.1.5", nist_800_190="4.3.2"),
)
def default_service_account(doc: Document, options: Options) -> Iterable[Violation]:
    for t in _templates(doc):
        if t.service_account != "default" or t.spec.get("automountServiceAccountToken") is False:
            continue
        key = "serviceAccountName" if "serviceAccountName" in t.spec else "serviceAccount"
        yield _at(
            doc,
            t.owner,
            full_path(t, ("spec", key)),
            "pod template runs as the namespace's default service account",
            fix="Set `serviceAccountName` to a dedicated ServiceAccount, or `automountServiceAccountToken: false`.",
        )


# --------------------------------------------------------------------------------------------
# images


@dataclass(frozen=True)
class _Image:
    ctr: Ctr
    text: str
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def _images(doc: Document) -> Iterator[_Image]:
    for t in _templates(doc):
        for c in _containers(t, ephemeral=True):
            img = c.data.get("image")
            if not isinstance(img, str) or not img.strip() or "$" in img or "{{" in img:
                continue
            ref = parse_image_ref(img)
            if ref is not None:
                yield _Image(c, img.strip(), ref.registry, ref.repository, ref.tag, ref.digest)


@check(
    "CH-K8S-008",
    "Image tag latest or missing",
    "medium",
    ["kubernetes"],
    description="A container's `image` has no tag or the `latest` tag, and no digest.",
    rationale="""
`latest` and untagged references resolve to whatever the registry serves when a node pulls:
replicas on different nodes can run different code, a reschedule silently upgrades, and what runs
cannot be traced to what was reviewed and scanned. Kubernetes also defaults imagePullPolicy to
Always for them, so every start depends on the registry.
""",
    remediation="Pin a version tag, better with its digest: `image: nginx:1.27.3@sha256:<digest>`.",
    references=[IMAGES_DOC + "#image-names", NIST_800_190],
    frameworks=Framework(nist_800_190="4.2.2", mitre_attack="T1525"),
)
def image_latest(doc: Document, options: Options) -> Iterable[Violation]:
    for img in _images(doc):
        if img.digest or img.tag not in ("", "latest"):
            continue
        what = "the latest tag" if img.tag else "no tag (implicitly latest)"
        yield _at(
            doc,
            img.ctr.t.owner,
            img.ctr.path("image"),
            f"{img.ctr.label} uses image {img.text} with {what}",
            fix="Pin a version tag and digest, e.g. `image: name:1.2.3@sha256:...`.",
        )


@check(
    "CH-K8S-009",
    "Image not pinned by digest",
    "low",
    ["kubernetes"],
    description="A container's `image` has a version tag but no `@sha256:` digest.",
    rationale="""
Tags are mutable: whoever can push to the repository (or compromises it) can move a tag to
different content, and nodes pulling later run it. A digest names exactly the reviewed image.
""",
    remediation="Append the digest of the reviewed image: `image: name:1.2.3@sha256:<digest>` "
    "(tools such as `crane digest` or `docker buildx imagetools inspect` print it).",
    references=[IMAGES_DOC + "#image-names", NIST_800_190],
    frameworks=Framework(nist_800_190="4.2.2", mitre_attack="T1525"),
)
def image_not_digest(doc: Document, options: Options) -> Iterable[Violation]:
    for img in _images(doc):
        if img.digest or img.tag in ("", "latest"):
            continue
        yield _at(
            doc,
            img.ctr.t.owner,
            img.ctr.path("image"),
            f"{img.ctr.label} uses image {img.text} by tag only",
            fix=f"Pin the digest: `image: {img.text}@sha256:<digest>`.",
        )


def registry_allowed(registry: str, name: str, allowlist: Iterable[str]) -> bool:
    """Whether an image (registry, registry/repository) matches an allowlist entry.

    Entries are registries (`registry.example.com`, globs like `*.dkr.ecr.*.amazonaws.com`) or
    registry/path prefixes (`ghcr.io/acme`, matching ghcr.io/acme/... but not ghcr.io/acme-evil/...);
    Docker Hub's aliases all mean docker.io.
    """
    for raw in allowlist:
        entry = raw.strip().lower().rstrip("/")
        if not entry:
            continue
        host, sep, rest = entry.partition("/")
        if host in _HUB_ALIASES:
            host = "docker.io"
        if not sep:
            if fnmatch.fnmatchcase(registry, host):
                return True
            continue
        reg, _, repo = name.partition("/")
        if fnmatch.fnmatchcase(reg, host) and (repo == rest or repo.startswith(rest + "/")):
            return True
    return False


@check(
    "CH-K8S-010",
    "Image from a registry outside the allowlist",
    "high",
    ["kubernetes"],
    description="A container's image comes from a registry (or registry path) not in --registry-allowlist. "
    "Silent when no allowlist is given.",
    rationale="""
Images from arbitrary registries bypass the scanning, signing and provenance controls that apply
to the approved ones; typosquatted or hijacked public images are a common supply-chain entry.
""",
    remediation="Mirror the image into an approved registry and reference it from there, or add the registry "
    "to the allowlist if it is trusted.",
    references=[IMAGES_DOC, NIST_800_190, CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.5.1", nist_800_190="4.1.5", mitre_attack="T1525"),
)
def registry_not_allowed(doc: Document, options: Options) -> Iterable[Violation]:
    if not options.registry_allowlist:
        return
    for img in _images(doc):
        if not registry_allowed(img.registry, img.name, options.registry_allowlist):
            yield _at(
                doc,
                img.ctr.t.owner,
                img.ctr.path("image"),
                f"{img.ctr.label} uses image {img.text} from {img.registry}, which is not in the registry allowlist",
                fix=f"Pull {img.repository} from an approved registry ({', '.join(options.registry_allowlist)}).",
            )


# --------------------------------------------------------------------------------------------
# secrets in plain text


def _mask(line: str, value: str) -> str:
    v = value.strip()
    if len(v) < 4 or v not in line:
        return line
    return line.replace(v, v[:2] + "*" * min(len(v) - 2, 12))


def _env_secret_reason(name: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if "$(" in text or "{{" in text:
        return ""  # a reference to another variable, or an unrendered template
    return secret_reason(name, value)


@check(
    "CH-K8S-011",
    "Secret in a literal environment value",
    "high",
    ["kubernetes"],
    description="A container's `env` entry holds a literal credential in `value`: its name says it is a secret "
    "(PASSWORD, TOKEN, SECRET, API_KEY...) or its value looks like one (cloud keys, tokens, private keys, URLs "
    "with passwords). `valueFrom` and `$(VAR)` references are not reported.",
    rationale="""
A literal env value is stored in the workload object itself: anyone who can read Deployments (far
more people than can read Secrets) sees it, it is in every copy of the manifest repository and its
history, and it appears in `kubectl describe` output.
""",
    remediation="Move the value into a Secret and reference it with `valueFrom.secretKeyRef` (or mount the "
    "Secret as a file); rotate a credential that was committed.",
    references=[SECRETS_DOC + "#using-secrets-as-environment-variables", GOOD_PRACTICES_SECRETS, CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.4.1", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def env_secret(doc: Document, options: Options) -> Iterable[Violation]:
    for t in _templates(doc):
        for c in _containers(t, ephemeral=True):
            for j, item in enumerate(_list(c.data.get("env"))):
                e = _map(item)
                name = _str(e.get("name"))
                if not name or "value" not in e:
                    continue
                reason = _env_secret_reason(name, e.get("value"))
                if not reason:
                    continue
                v = _at(
                    doc,
                    t.owner,
                    c.path("env", j, "value"),
                    f"{c.label} sets environment variable {name} to a literal secret ({reason})",
                    fix=f"Store {name} in a Secret and use `valueFrom.secretKeyRef`.",
                )
                yield replace(v, snippet=_mask(doc.source(v.line), str(e.get("value"))))


_KV_LINE = re.compile(r"""^\s*(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*[:=]\s*(.*?)\s*[,;]?\s*$""")


def _config_value_secret(key: str, value: str) -> tuple[int, str, str]:
    """(line offset inside the value, reason, the secret text) of the first credential in a ConfigMap value."""
    if "\n" not in value.strip():
        reason = secret_reason(key, value)
        return (0, reason, value) if reason else (0, "", "")
    for i, line in enumerate(value.splitlines()):
        if not line.strip() or line.lstrip().startswith(("#", "//", ";")):
            continue
        m = _KV_LINE.match(line)
        if m:
            v = m.group(2).strip().strip("\"'")
            reason = secret_reason(m.group(1), v)
        else:
            v, reason = line.strip(), secret_reason("", line.strip())
        if reason:
            return i, reason, v
    return 0, "", ""


@check(
    "CH-K8S-012",
    "Secret in a ConfigMap",
    "high",
    ["kubernetes"],
    description="A ConfigMap `data` entry is a credential (its key says it is a secret and the value is "
    "literal, or the value looks like a key or token), or a configuration file in it contains one "
    "(`password=...`, `api_key: ...`, a private key block).",
    rationale="""
ConfigMaps are meant for non-confidential data: RBAC commonly lets many more users and service
accounts read them than Secrets, they are not encrypted at rest by the usual encryption
configuration, and their content is printed by `kubectl describe`.
""",
    remediation="Move the credential into a Secret (mounted as a file or referenced by `secretKeyRef`) and "
    "keep only non-secret settings in the ConfigMap; rotate the exposed credential.",
    references=[SECRETS_DOC, GOOD_PRACTICES_SECRETS, K8S_DOCS + "concepts/configuration/configmap/"],
    frameworks=Framework(cis_kubernetes="5.4.1", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def configmap_secret(doc: Document, options: Options) -> Iterable[Violation]:
    for obj in document_objects(doc):
        if obj.kind != "ConfigMap":
            continue
        for key, value in _map(obj.data.get("data")).items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                continue
            offset, reason, secret = _config_value_secret(str(key), str(value))
            if not reason:
                continue
            path = (*obj.path, "data", key)
            v = _at(
                doc,
                obj,
                path,
                f"data key {key!r} holds a credential ({reason})",
                fix="Move it into a Secret and mount or reference that instead.",
            )
            line = v.line
            key_line = doc.source(line)
            if offset and re.search(r"[|>][+-]?\d*\s*(#.*)?$", key_line):  # a block scalar: its lines follow
                line = line + 1 + offset
            yield replace(v, line=line, snippet=_mask(doc.source(line), secret))


# --------------------------------------------------------------------------------------------
# runtime socket


def runtime_socket(path: str) -> bool:
    """Whether a hostPath is a container runtime socket or a directory holding one."""
    p = path.strip()
    if not p:
        return False
    p = posixpath.normpath(("/" + p.lstrip("/")) if p.startswith("/") else p)
    return posixpath.basename(p) in SOCKET_NAMES or p in SOCKET_DIRS


@check(
    "CH-K8S-013",
    "Container runtime socket mounted",
    "critical",
    ["kubernetes"],
    description="A pod declares a hostPath volume of a container runtime socket (docker.sock, "
    "containerd.sock, crio.sock, podman.sock...) or of the directory that holds them (/run, /var/run, "
    "/run/containerd...).",
    rationale="""
The runtime socket is root on the node: whoever can talk to it can start a privileged container
with the node's file system mounted. A pod that mounts it (even read-only, which does not
restrict a socket) hands that power to every process in the pod.
""",
    remediation="Remove the volume. Build images with a rootless builder (BuildKit rootless, kaniko) and "
    "read container metadata from the Kubernetes API or the kubelet instead of the runtime.",
    references=[K8S_DOCS + "concepts/storage/volumes/#hostpath", CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.2.12", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def socket_mount(doc: Document, options: Options) -> Iterable[Violation]:
    for t in _templates(doc):
        for i, vol in enumerate(_list(t.spec.get("volumes"))):
            hp = _map(_map(vol).get("hostPath"))
            path = _str(hp.get("path"))
            if path and runtime_socket(path):
                name = _str(_map(vol).get("name")) or f"volumes[{i}]"
                yield _at(
                    doc,
                    t.owner,
                    full_path(t, ("spec", "volumes", i, "hostPath", "path")),
                    f"volume {name!r} mounts the container runtime socket {path}",
                    fix=f"Remove volume {name!r} and every volumeMount of it.",
                )


# --------------------------------------------------------------------------------------------
# services and ingresses


@check(
    "CH-K8S-014",
    "Service exposes an administration port",
    "high",
    ["kubernetes"],
    description="A Service of type NodePort or LoadBalancer exposes an administration port (SSH 22, telnet 23, "
    "Docker API 2375/2376, RDP 3389, VNC 5900, WinRM 5985/5986, Kubernetes API 6443, kubelet 10250 by "
    "default) as its port, targetPort or nodePort.",
    rationale="""
NodePort and LoadBalancer Services are reachable from outside the cluster (every node's address,
or a cloud load balancer). Remote administration endpoints there are brute-forced and exploited
within minutes of appearing.
""",
    remediation="Use a ClusterIP Service and reach the endpoint through `kubectl port-forward`, a bastion or "
    "a VPN; if it must be external, restrict it with `loadBalancerSourceRanges` and strong authentication.",
    references=[SERVICE_DOC + "#publishing-services-service-types"],
    frameworks=Framework(nist_800_190="4.4.2", mitre_attack="T1133"),
)
def service_admin_port(doc: Document, options: Options) -> Iterable[Violation]:
    for obj in document_objects(doc):
        if obj.kind != "Service":
            continue
        kind = _str(obj.get("spec", "type"))
        if kind not in ("NodePort", "LoadBalancer"):
            continue
        for j, port in enumerate(_list(obj.get("spec", "ports"))):
            p = _map(port)
            for key in ("port", "targetPort", "nodePort"):
                value = p.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value in options.admin_ports:
                    yield _at(
                        doc,
                        obj,
                        (*obj.path, "spec", "ports", j, key),
                        f"{kind} Service exposes administration port {value} ({key})",
                        fix="Make the Service ClusterIP, or restrict it with loadBalancerSourceRanges.",
                    )
                    break


def _host_covered(host: str, tls_hosts: set[str]) -> bool:
    if host in tls_hosts:
        return True
    _, dot, rest = host.partition(".")
    return bool(dot) and f"*.{rest}" in tls_hosts


@check(
    "CH-K8S-015",
    "Ingress without TLS",
    "medium",
    ["kubernetes"],
    description="An Ingress has no `tls` section, or a rule's host is not listed in any `tls[].hosts` (a "
    "wildcard entry covers one label; a tls entry without hosts covers every host).",
    rationale="""
Without TLS, traffic between clients and the ingress controller, including credentials and
session cookies, travels in clear text and can be read or altered on the network path.
""",
    remediation="Add `spec.tls` with the Ingress's hosts and a certificate Secret (cert-manager can issue and "
    "renew it), and redirect HTTP to HTTPS in the controller.",
    references=[INGRESS_DOC],
    frameworks=Framework(nist_800_190="4.3.3", mitre_attack="T1557"),
)
def ingress_without_tls(doc: Document, options: Options) -> Iterable[Violation]:
    for obj in document_objects(doc):
        if obj.kind != "Ingress":
            continue
        tls = _list(obj.get("spec", "tls"))
        if not tls:
            yield _at(
                doc,
                obj,
                (*obj.path, "spec", "tls"),
                "Ingress has no tls section; it serves plain HTTP",
                fix="Add `spec.tls` with the hosts and a certificate Secret.",
            )
            continue
        if any(isinstance(e, Mapping) and not _list(e.get("hosts")) for e in tls):
            continue  # a tls entry without hosts applies the certificate to every host
        tls_hosts = {str(h).lower() for e in tls for h in _list(_map(e).get("hosts"))}
        for j, rule in enumerate(_list(obj.get("spec", "rules"))):
            host = _str(_map(rule).get("host")).lower()
            if host and not _host_covered(host, tls_hosts):
                yield _at(
                    doc,
                    obj,
                    (*obj.path, "spec", "rules", j, "host"),
                    f"Ingress host {host} is not covered by any tls entry",
                    fix=f"Add {host} to `spec.tls[].hosts` with a certificate for it.",
                )


# --------------------------------------------------------------------------------------------
# namespace-level: default-deny NetworkPolicy, PodDisruptionBudget (tree)


def _selects_all(policy: K8sObject) -> bool:
    sel = policy.get("spec", "podSelector")
    return isinstance(sel, Mapping) and not _map(sel.get("matchLabels")) and not _list(sel.get("matchExpressions"))


def _policy_types(policy: K8sObject) -> set[str]:
    types = policy.get("spec", "policyTypes")
    if isinstance(types, list) and types:
        return {str(t) for t in types}
    out = {"Ingress"}
    if policy.get("spec", "egress") is not None:
        out.add("Egress")
    return out


def _denies_all_ingress(policy: K8sObject) -> bool:
    return _selects_all(policy) and "Ingress" in _policy_types(policy) and not _list(policy.get("spec", "ingress"))


def _allows_all_ingress(policy: K8sObject) -> bool:
    """A policy for every pod with a rule that has no `from` (or an empty one): all sources allowed."""
    if not _selects_all(policy) or "Ingress" not in _policy_types(policy):
        return False
    for rule in _list(policy.get("spec", "ingress")):
        r = _map(rule)
        if not _list(r.get("from")) and not _list(r.get("ports")):
            return True
    return False


@check(
    "CH-K8S-016",
    "Namespace without a default-deny NetworkPolicy",
    "medium",
    ["kubernetes-tree"],
    description="A namespace that has workloads (or a Namespace object) in the tree has no NetworkPolicy "
    "selecting every pod (`podSelector: {}`) with policy type Ingress and no ingress rules, or such a policy "
    "is undone by an allow-all ingress policy. kube-system, kube-public and kube-node-lease are skipped.",
    rationale="""
Pods accept traffic from every other pod in the cluster until a NetworkPolicy selects them. With
no default deny, one compromised pod anywhere can reach every service in the namespace, including
databases and internal admin endpoints that were never meant to be exposed.
""",
    remediation="Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Ingress]` (and Egress if "
    "outbound traffic should be closed too), then allow the flows each workload needs.",
    references=[NETPOL_DOC, CIS_KUBERNETES],
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.3.3", mitre_attack="T1046"),
)
def no_default_deny(doc: Document, options: Options) -> Iterable[Violation]:
    tree = tree_index(doc)
    anchors: dict[str, K8sObject] = {}
    for namespace in tree.of_kind("Namespace"):
        if namespace.name:
            anchors.setdefault(namespace.name, namespace)
    for t in tree.templates:
        anchors.setdefault(t.namespace, t.owner)
    denied = {p.namespace for p in tree.of_kind("NetworkPolicy") if _denies_all_ingress(p)}
    opened = {p.namespace for p in tree.of_kind("NetworkPolicy") if _allows_all_ingress(p)}
    for ns in sorted(anchors):
        if ns in SYSTEM_NAMESPACES or (ns in denied and ns not in opened):
            continue
        obj = anchors[ns]
        why = "an allow-all ingress policy undoes its default deny" if ns in denied else "no default-deny policy"
        yield _tree_violation(
            obj,
            (*obj.path, "metadata"),
            f"namespace {ns!r} has {why}: its pods accept traffic from any pod",
            fix=f"Add a NetworkPolicy in namespace {ns!r} with `podSelector: {{}}` and `policyTypes: [Ingress]`.",
        )


@check(
    "CH-K8S-017",
    "No PodDisruptionBudget",
    "low",
    ["kubernetes-tree"],
    description="A replicated workload (spec.replicas of 2 or more: Deployments, StatefulSets, ReplicaSets, "
    "ReplicationControllers and custom resources with a pod template) has no PodDisruptionBudget in its "
    "namespace whose selector matches its pod labels.",
    rationale="""
Without a PodDisruptionBudget a node drain, cluster upgrade or autoscaler scale-down may evict
every replica at once: a voluntary disruption becomes an outage.
""",
    remediation="Add a PodDisruptionBudget selecting the workload's pods with `minAvailable` or "
    "`maxUnavailable` set so that enough replicas survive a drain.",
    references=[PDB_DOC],
)
def no_pdb(doc: Document, options: Options) -> Iterable[Violation]:
    tree = tree_index(doc)
    pdbs: dict[str, list[K8sObject]] = {}  # by namespace: a PDB only selects pods of its own
    for p in tree.of_kind("PodDisruptionBudget"):
        pdbs.setdefault(p.namespace, []).append(p)
    for t in tree.templates:
        obj = t.owner
        replicas = obj.get("spec", "replicas")
        if obj.kind in NOT_REPLICATED_KINDS or not isinstance(replicas, int) or isinstance(replicas, bool):
            continue
        if replicas < 2:
            continue
        labels = t.labels
        if any(selector_matches(p.get("spec", "selector"), labels) for p in pdbs.get(t.namespace, ())):
            continue
        yield _tree_violation(
            obj,
            (*obj.path, "spec", "replicas"),
            f"{replicas} replicas and no PodDisruptionBudget selects its pods",
            fix="Add a PodDisruptionBudget (policy/v1) whose selector matches the pod template labels.",
        )
