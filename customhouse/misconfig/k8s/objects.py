"""Kubernetes objects out of manifest documents, with where each one came from.

Every Kubernetes analysis (Pod Security Standards, workload hardening, RBAC, NetworkPolicy
reachability) starts from the same question: which objects does this tree declare, in which
namespace, and where are their pod specs? Manifests arrive as multi-document YAML or JSON,
sometimes wrapped in `List` kinds, and custom resources (Argo Rollouts, Knative, operators)
embed pod templates at places no fixed table can know, so templates are also found by shape.
Each object keeps its document and the key path inside it, so a finding can name the file,
line and JSON path of the exact field it is about.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeGuard

from customhouse.misconfig.engine import Document
from customhouse.misconfig.yamlsrc import LocatedDoc, Path_

# Kinds that live outside namespaces; everything else defaults to namespace "default".
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "CSINode",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CertificateSigningRequest",
        "PodSecurityPolicy",
        "VolumeAttachment",
    }
)

# Where the built-in workload kinds keep their pod spec (relative to the object root).
POD_SPEC_PATHS: Mapping[str, Path_] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_KINDS = frozenset(POD_SPEC_PATHS)
# Built-in API groups none of whose kinds embeds a pod template: not searched by shape.
NO_TEMPLATE_GROUPS = frozenset(
    {
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "policy",
        "autoscaling",
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
    }
)
MAX_SHAPE_DEPTH = 8  # how deep inside a custom resource a pod template is looked for


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object. `path` locates it inside `located` (non-empty inside a `List`)."""

    doc: Document  # the file (doc.path is what reports show)
    located: LocatedDoc  # the YAML/JSON document it came from
    path: Path_  # key path of the object inside `located.data`
    data: Mapping[str, Any]

    @property
    def api_version(self) -> str:
        v = self.data.get("apiVersion")
        return v if isinstance(v, str) else ""

    # kind, metadata and namespace are read for every object by every check (tens of thousands of
    # times on a large tree): computed once per object, as `data` is never modified after loading.
    @cached_property
    def kind(self) -> str:
        v = self.data.get("kind")
        return v if isinstance(v, str) else ""

    @cached_property
    def metadata(self) -> Mapping[str, Any]:
        m = self.data.get("metadata")
        return m if isinstance(m, Mapping) else {}

    @property
    def name(self) -> str:
        v = self.metadata.get("name")
        return str(v) if isinstance(v, str | int) and not isinstance(v, bool) else ""

    @cached_property
    def namespace(self) -> str:
        """ "" for cluster-scoped kinds; "default" when a namespaced object does not say."""
        if self.kind in CLUSTER_SCOPED:
            return ""
        v = self.metadata.get("namespace")
        return v if isinstance(v, str) and v else "default"

    @property
    def labels(self) -> Mapping[str, str]:
        return _str_map(self.metadata.get("labels"))

    @property
    def annotations(self) -> Mapping[str, str]:
        return _str_map(self.metadata.get("annotations"))

    @property
    def ref(self) -> str:
        """`Kind/namespace/name` (`Kind/name` when cluster-scoped): how reports name the object."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def line(self, *keys: str | int) -> int:
        return self.located.line((*self.path, *keys))

    def column(self, *keys: str | int) -> int:
        return self.located.column((*self.path, *keys))

    def get(self, *keys: str | int) -> Any:
        """The value at `keys`, or None when any step is missing or of the wrong type."""
        return dig(self.data, keys)


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec inside an object: a Pod itself, a controller's template, or a CRD's by shape."""

    owner: K8sObject
    spec_path: Path_  # relative to the owner object: where `spec` (the PodSpec) is
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)  # the template's own metadata

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def labels(self) -> Mapping[str, str]:
        """The pod's labels: the template's (or, for a bare Pod, the Pod's)."""
        return _str_map(self.metadata.get("labels"))

    @property
    def annotations(self) -> Mapping[str, str]:
        return _str_map(self.metadata.get("annotations"))

    @property
    def service_account(self) -> str:
        for key in ("serviceAccountName", "serviceAccount"):
            v = self.spec.get(key)
            if isinstance(v, str) and v:
                return v
        return "default"

    def line(self, *keys: str | int) -> int:
        return self.owner.line(*self.spec_path, *keys)

    def column(self, *keys: str | int) -> int:
        return self.owner.column(*self.spec_path, *keys)

    def json_path(self, *keys: str | int) -> str:
        from customhouse.misconfig.yamlsrc import json_path

        return json_path((*self.owner.path, *self.spec_path, *keys))

    def containers(self) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
        """(field, index, container) for initContainers, containers and ephemeralContainers."""
        for fld in ("initContainers", "containers", "ephemeralContainers"):
            items = self.spec.get(fld)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                if isinstance(c, Mapping):
                    yield fld, i, c


def dig(value: Any, keys: Sequence[str | int]) -> Any:
    for k in keys:
        if isinstance(k, int):
            if not isinstance(value, list) or not -len(value) <= k < len(value):
                return None
            value = value[k]
        else:
            if not isinstance(value, Mapping):
                return None
            value = value.get(k)
    return value


def _str_map(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): ("" if v is None else str(v)) for k, v in value.items()}


def _objects_in(doc: Document, located: LocatedDoc, data: Any, path: Path_) -> Iterator[K8sObject]:
    if not isinstance(data, Mapping):
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):
            yield from _objects_in(doc, located, item, (*path, "items", i))
        return
    if isinstance(kind, str) and kind:
        yield K8sObject(doc, located, path, data)


_LAST_LOAD: tuple[list[Document], list[K8sObject]] | None = None


def load_objects(docs: Iterable[Document]) -> list[K8sObject]:
    """Every object in the given `kubernetes` documents (multi-document streams, `List` kinds).

    The tree-level analyses (RBAC, NetworkPolicy, workload index) and the unknown-kind count
    each ask for the objects of the same documents; the last answer is kept (with the documents,
    so their identities stay theirs) and its objects, with what they have already worked out,
    are shared."""
    global _LAST_LOAD
    doc_list = list(docs)
    last = _LAST_LOAD
    same = last is not None and len(last[0]) == len(doc_list)
    if last is not None and same and all(a is b for a, b in zip(last[0], doc_list, strict=True)):
        return list(last[1])
    out = _load_objects(doc_list)
    if len(doc_list) > 1:  # single documents are the per-file checks' business (k8s_pss caches those)
        _LAST_LOAD = (doc_list, out)
    return list(out)


def _load_objects(docs: list[Document]) -> list[K8sObject]:
    out: list[K8sObject] = []
    for doc in docs:
        located_docs = doc.data if isinstance(doc.data, list) else []
        for located in located_docs:
            if isinstance(located, LocatedDoc):
                out.extend(_objects_in(doc, located, located.data, ()))
    return out


def _looks_like_pod_spec(value: Any) -> TypeGuard[Mapping[str, Any]]:
    if not isinstance(value, Mapping):
        return False
    containers = value.get("containers")
    return (
        isinstance(containers, list)
        and bool(containers)
        and all(isinstance(c, Mapping) and ("image" in c or "name" in c) for c in containers)
    )


def _by_shape(value: Any, path: Path_, depth: int) -> Iterator[tuple[Path_, Mapping[str, Any], Mapping[str, Any]]]:
    """(spec path, spec, template metadata) of every `{metadata?, spec: PodSpec}` below value."""
    if depth > MAX_SHAPE_DEPTH:
        return
    if isinstance(value, Mapping):
        spec = value.get("spec")
        if _looks_like_pod_spec(spec) and path:  # the object's own top-level spec is handled by kind
            meta = value.get("metadata")
            yield (*path, "spec"), spec, meta if isinstance(meta, Mapping) else {}
            return
        for k, v in value.items():
            if isinstance(k, str) and k not in ("metadata", "status"):
                yield from _by_shape(v, (*path, k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _by_shape(v, (*path, i), depth + 1)


def pod_templates(obj: K8sObject) -> list[PodTemplate]:
    """The pod specs `obj` declares: by kind for built-in workloads, by shape for anything else."""
    kind = obj.kind
    if kind in POD_SPEC_PATHS:
        spec_path = POD_SPEC_PATHS[kind]
        spec = dig(obj.data, spec_path)
        if not isinstance(spec, Mapping):
            return []
        if kind == "Pod":
            meta: Any = obj.metadata
        else:
            meta = dig(obj.data, (*spec_path[:-1], "metadata"))
        return [PodTemplate(obj, spec_path, spec, meta if isinstance(meta, Mapping) else {})]
    api = obj.api_version
    if api.startswith("v1") or api.startswith(("apps/", "batch/")) or api.split("/", 1)[0] in NO_TEMPLATE_GROUPS:
        return []  # built-in kinds without pod templates (Services, ConfigMaps, Roles, NetworkPolicies, ...)
    top = obj.data.get("spec")
    if _looks_like_pod_spec(top):  # a custom resource whose spec *is* a PodSpec
        return [PodTemplate(obj, ("spec",), top, obj.metadata)]
    return [PodTemplate(obj, p, s, m) for p, s, m in _by_shape(obj.data, (), 0)]


def tree_document(root: str, docs: Sequence[Document]) -> Document:
    """The whole tree's Kubernetes documents as one document, for cross-object checks.

    RBAC escalation paths and NetworkPolicy reachability depend on every manifest at once, so
    those checks (file type `kubernetes-tree`) receive this document; `data` is the list of the
    per-file documents and each Violation names its file in `Violation.path`.
    """
    return Document(path=root, file_type="kubernetes-tree", text="", data=list(docs))
