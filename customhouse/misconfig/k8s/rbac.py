"""Kubernetes RBAC as the API server evaluates it, and where a grant leads beyond itself.

A Role rule rarely says "cluster-admin", yet `create pods` in a namespace whose service account
is bound to cluster-admin is cluster-admin one step removed. Reviewers read bindings one at a
time; this module reads them all at once. It resolves every binding to the rules it grants (role
lookup, ClusterRole aggregation, RoleBinding scoping), answers "who can VERB RESOURCE" with the
exact binding, role and rule behind each answer, and builds an escalation graph whose shortest
paths show how a subject becomes cluster-admin, hop by hop, each hop with the grant enabling it.

Matching follows the RBAC authorizer (verbs, API groups, resources with `*` and `*/subresource`,
resourceNames, nonResourceURLs only through ClusterRoleBindings) and the authenticator's
identities (a service account is also `system:serviceaccounts`, `system:serviceaccounts:<ns>`
and `system:authenticated`; `system:anonymous` is in `system:unauthenticated`; `system:masters`
bypasses authorization). Everything is computed from manifests alone, so clusters' default
bindings are not assumed (they are not in the tree) while the default *roles* a binding may name
(`cluster-admin`, `admin`, `edit`, `view`, ...) come from a built-in table unless the tree
defines them. Nothing here does I/O: the model is built from parsed documents.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from customhouse.misconfig.engine import Document
from customhouse.misconfig.k8s.objects import K8sObject, load_objects, pod_templates
from customhouse.misconfig.yamlsrc import json_path

RBAC_GROUP = "rbac.authorization.k8s.io"
CERT_GROUP = "certificates.k8s.io"
ADMISSION_GROUP = "admissionregistration.k8s.io"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
MASTERS = "system:masters"
SA_USER_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"

CLUSTER = ""  # scope of a ClusterRoleBinding: every namespace plus cluster-scoped resources
ALL_NAMESPACES = "*"  # every namespace through RoleBindings, but no cluster-scoped resource
DEFAULT_MAX_DEPTH = 8

# Requests that never carry an object name, so rules restricted by resourceNames never match them
# (a create on a subresource, such as pods/exec or serviceaccounts/token, names its parent).
UNNAMED_VERBS = frozenset({"create", "deletecollection"})


def named_request(verb: str, subresource: str = "") -> bool:
    return bool(subresource) or verb not in UNNAMED_VERBS


# Resources that are not namespaced: a RoleBinding cannot grant them (the authorizer only applies
# RoleBindings to requests inside their namespace). Custom resources are assumed namespaced.
CLUSTER_SCOPED_RESOURCES = frozenset(
    {
        ("", "nodes"),
        ("", "persistentvolumes"),
        ("", "namespaces"),
        ("", "componentstatuses"),
        ("", "users"),
        ("", "groups"),
        ("authentication.k8s.io", "uids"),
        ("authentication.k8s.io", "userextras"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        (RBAC_GROUP, "clusterroles"),
        (RBAC_GROUP, "clusterrolebindings"),
        (CERT_GROUP, "certificatesigningrequests"),
        (CERT_GROUP, "signers"),
        (CERT_GROUP, "clustertrustbundles"),
        (ADMISSION_GROUP, "mutatingwebhookconfigurations"),
        (ADMISSION_GROUP, "validatingwebhookconfigurations"),
        (ADMISSION_GROUP, "validatingadmissionpolicies"),
        (ADMISSION_GROUP, "validatingadmissionpolicybindings"),
        (ADMISSION_GROUP, "mutatingadmissionpolicies"),
        (ADMISSION_GROUP, "mutatingadmissionpolicybindings"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("apiregistration.k8s.io", "apiservices"),
        ("storage.k8s.io", "storageclasses"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "volumeattachments"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("node.k8s.io", "runtimeclasses"),
        ("networking.k8s.io", "ingressclasses"),
        ("policy", "podsecuritypolicies"),
        ("flowcontrol.apiserver.k8s.io", "flowschemas"),
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    }
)

# Where well-known resources live, so `who-can create deployments` needs no `.apps`.
WELL_KNOWN_GROUPS: Mapping[str, str] = {
    "deployments": "apps",
    "daemonsets": "apps",
    "statefulsets": "apps",
    "replicasets": "apps",
    "controllerrevisions": "apps",
    "jobs": "batch",
    "cronjobs": "batch",
    "horizontalpodautoscalers": "autoscaling",
    "roles": RBAC_GROUP,
    "rolebindings": RBAC_GROUP,
    "clusterroles": RBAC_GROUP,
    "clusterrolebindings": RBAC_GROUP,
    "certificatesigningrequests": CERT_GROUP,
    "signers": CERT_GROUP,
    "mutatingwebhookconfigurations": ADMISSION_GROUP,
    "validatingwebhookconfigurations": ADMISSION_GROUP,
    "validatingadmissionpolicies": ADMISSION_GROUP,
    "validatingadmissionpolicybindings": ADMISSION_GROUP,
    "networkpolicies": "networking.k8s.io",
    "ingresses": "networking.k8s.io",
    "ingressclasses": "networking.k8s.io",
    "poddisruptionbudgets": "policy",
    "storageclasses": "storage.k8s.io",
    "customresourcedefinitions": "apiextensions.k8s.io",
    "apiservices": "apiregistration.k8s.io",
    "priorityclasses": "scheduling.k8s.io",
    "runtimeclasses": "node.k8s.io",
    "leases": "coordination.k8s.io",
    "endpointslices": "discovery.k8s.io",
    "tokenreviews": "authentication.k8s.io",
    "subjectaccessreviews": "authorization.k8s.io",
}


def is_cluster_scoped(group: str, resource: str) -> bool:
    return (group, resource.split("/", 1)[0]) in CLUSTER_SCOPED_RESOURCES


# --------------------------------------------------------------------------------------------
# the objects of the model


@dataclass(frozen=True)
class Source:
    """Where something is declared; an empty path means the built-in table of default roles."""

    path: str = ""
    line: int = 0
    json_path: str = ""

    @property
    def builtin(self) -> bool:
        return not self.path

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.path else "built-in"


def _source(obj: K8sObject, *keys: str | int) -> Source:
    return Source(obj.doc.path, obj.line(*keys), json_path((*obj.path, *keys)))


@dataclass(frozen=True)
class Rule:
    """One PolicyRule; `role` and `source` say where it was written (aggregation keeps them)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    role: str = ""
    source: Source = field(default_factory=Source)

    @property
    def is_non_resource(self) -> bool:
        return bool(self.non_resource_urls)

    @property
    def is_full_wildcard(self) -> bool:
        """`*` verbs on `*` resources in `*` API groups with no name restriction (cluster-admin's rule)."""
        return (
            "*" in self.verbs
            and "*" in self.api_groups
            and "*" in self.resources
            and not self.resource_names
            and not self.non_resource_urls
        )

    def verb_matches(self, verb: str) -> bool:
        return "*" in self.verbs or verb in self.verbs

    def matches(self, verb: str, group: str, resource: str, subresource: str = "", named: bool = True) -> Names:
        """The names this rule allows for the request, or None when it does not apply.

        `()` means every name. `named` says whether the request carries an object name: a rule
        restricted by resourceNames never matches a create or a deletecollection.
        """
        if self.non_resource_urls or not self.verb_matches(verb):
            return None
        if "*" not in self.api_groups and group not in self.api_groups:
            return None
        combined = f"{resource}/{subresource}" if subresource else resource
        for r in self.resources:
            if r in ("*", combined) or (subresource and r == "*/" + subresource):
                break
        else:
            return None
        if not self.resource_names:
            return ()
        return self.resource_names if named else None

    def matches_url(self, verb: str, url: str) -> bool:
        if not self.non_resource_urls or not self.verb_matches(verb):
            return False
        return any(
            u in ("*", url) or (u.endswith("*") and url.startswith(u.rstrip("*"))) for u in self.non_resource_urls
        )

    def text(self) -> str:
        def show(values: tuple[str, ...]) -> str:
            return "[" + ",".join(v if v else '""' for v in values) + "]"

        parts = [f"verbs={show(self.verbs)}"]
        if self.non_resource_urls:
            parts.append(f"nonResourceURLs={show(self.non_resource_urls)}")
        else:
            parts += [f"apiGroups={show(self.api_groups)}", f"resources={show(self.resources)}"]
            if self.resource_names:
                parts.append(f"resourceNames={show(self.resource_names)}")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        else:
            out["apiGroups"] = list(self.api_groups)
            out["resources"] = list(self.resources)
            if self.resource_names:
                out["resourceNames"] = list(self.resource_names)
        out["role"] = self.role
        out["location"] = str(self.source)
        return out


Names = tuple[str, ...] | None


@dataclass(frozen=True)
class Selector:
    """A label selector of an aggregationRule (matchLabels AND every matchExpression)."""

    labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    valid: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not self.valid:
            return False
        if any(labels.get(k) != v for k, v in self.labels):
            return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True


@dataclass
class Role:
    """A Role or ClusterRole; `rules` are the effective ones (after aggregation)."""

    kind: str  # Role | ClusterRole
    name: str
    namespace: str  # "" for ClusterRoles
    labels: Mapping[str, str]
    own_rules: tuple[Rule, ...]
    selectors: tuple[Selector, ...] | None  # aggregationRule.clusterRoleSelectors, None if not aggregated
    source: Source
    obj: K8sObject | None = None
    rules: tuple[Rule, ...] = ()

    @property
    def ref(self) -> str:
        return f"Role/{self.namespace}/{self.name}" if self.kind == "Role" else f"ClusterRole/{self.name}"

    @property
    def builtin(self) -> bool:
        return self.obj is None

    @property
    def full_wildcard(self) -> Rule | None:
        return next((r for r in self.rules if r.is_full_wildcard), None)


@dataclass(frozen=True, order=True)
class Principal:
    """Who a request runs as: a user, a group (as a stand-in for its members) or a service account."""

    kind: str  # User | Group | ServiceAccount
    name: str
    namespace: str = ""

    @staticmethod
    def user(name: str) -> Principal:
        """A user; `system:serviceaccount:NS:NAME` is the service account's own user name."""
        if name.startswith(SA_USER_PREFIX):
            ns, sep, sa = name[len(SA_USER_PREFIX) :].partition(":")
            if sep and ns and sa and ":" not in sa:
                return Principal("ServiceAccount", sa, ns)
        return Principal("User", name)

    @staticmethod
    def parse(spec: str) -> Principal:
        """`user:NAME`, `group:NAME`, `sa:NS/NAME` (or `serviceaccount:NS/NAME`), or a user name."""
        kind, sep, rest = spec.partition(":")
        k = kind.lower()
        if sep and k in ("user", "u"):
            return Principal.user(rest)
        if sep and k in ("group", "g"):
            return Principal("Group", rest)
        if sep and k in ("sa", "serviceaccount"):
            ns, slash, name = rest.partition("/")
            if not slash:
                ns, _, name = rest.partition(":")
            if not ns or not name:
                raise ValueError(f"service account {spec!r}: expected sa:NAMESPACE/NAME")
            return Principal("ServiceAccount", name, ns)
        return Principal.user(spec)

    @property
    def ref(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def identities(self) -> tuple[Principal, ...]:
        """The binding subjects that apply to this principal (itself and its implicit groups)."""
        if self.kind == "ServiceAccount":
            return (
                self,
                Principal("Group", SA_GROUP),
                Principal("Group", f"{SA_GROUP}:{self.namespace}"),
                Principal("Group", AUTHENTICATED),
            )
        if self.kind == "User":
            if self.name == ANONYMOUS:
                return (self, Principal("Group", UNAUTHENTICATED))
            return (self, Principal("Group", AUTHENTICATED))
        out = [self]
        if self.name.startswith(SA_GROUP + ":"):
            out.append(Principal("Group", SA_GROUP))
        if self.name not in (AUTHENTICATED, UNAUTHENTICATED):
            out.append(Principal("Group", AUTHENTICATED))
        return tuple(out)

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        return out


@dataclass(frozen=True)
class BindingSubject:
    principal: Principal
    index: int  # position in `subjects`
    source: Source
    written_kind: str  # as written (a User subject may name a service account's user)


@dataclass(frozen=True, eq=False)
class Binding:
    """A RoleBinding or ClusterRoleBinding; identity, scope and location are read once."""

    obj: K8sObject
    role_kind: str
    role_name: str
    subjects: tuple[BindingSubject, ...]
    kind: str = ""
    name: str = ""
    namespace: str = ""  # "" for ClusterRoleBindings
    ref: str = ""
    bootstrap: bool = False  # a cluster default (kubernetes.io/bootstrapping), not the tree author's decision
    source: Source = field(default_factory=Source)  # the roleRef

    @property
    def scope(self) -> str:
        return self.namespace if self.kind == "RoleBinding" else CLUSTER

    @property
    def path(self) -> str:
        return self.obj.doc.path


@dataclass(frozen=True)
class Grant:
    """One rule granted to a subject: through `binding` (None: a binding the attacker would create)."""

    subject: Principal
    binding: Binding | None
    role: Role
    rule: Rule
    scope: str  # CLUSTER, ALL_NAMESPACES or a namespace
    subject_index: int = -1

    @property
    def subject_source(self) -> Source:
        if self.binding is None or self.subject_index < 0:
            return Source()
        return next((s.source for s in self.binding.subjects if s.index == self.subject_index), Source())

    def scope_text(self) -> str:
        if self.scope == CLUSTER:
            return "cluster-wide"
        if self.scope == ALL_NAMESPACES:
            return "in every namespace"
        return f"in namespace {self.scope}"

    def text(self) -> str:
        via = self.binding.ref if self.binding is not None else "a binding it creates"
        return f"{via} -> {self.role.ref}: {self.rule.text()} ({self.scope_text()}; rule at {self.rule.source})"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": self.subject.ref,
            "scope": "cluster"
            if self.scope == CLUSTER
            else ("all-namespaces" if self.scope == ALL_NAMESPACES else self.scope),
        }
        if self.binding is not None:
            out["binding"] = {
                "ref": self.binding.ref,
                "location": str(self.binding.source),
                "subject_location": str(self.subject_source),
            }
        else:
            out["binding"] = None
        out["role"] = {"ref": self.role.ref, "location": str(self.role.source), "builtin": self.role.builtin}
        out["rule"] = self.rule.as_dict()
        return out


# --------------------------------------------------------------------------------------------
# parsing


def _strs(value: Any) -> tuple[str, ...]:
    """A list of strings as the API stores it; anything else grants nothing (the API would refuse it)."""
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _rules(obj: K8sObject, role_ref: str) -> tuple[Rule, ...]:
    raw = obj.get("rules")
    if not isinstance(raw, list):
        return ()
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, Mapping):
            continue
        out.append(
            Rule(
                verbs=_strs(r.get("verbs")),
                api_groups=_strs(r.get("apiGroups")),
                resources=_strs(r.get("resources")),
                resource_names=_strs(r.get("resourceNames")),
                non_resource_urls=_strs(r.get("nonResourceURLs")),
                role=role_ref,
                source=_source(obj, "rules", i),
            )
        )
    return tuple(out)


def _selector(raw: Any) -> Selector:
    if not isinstance(raw, Mapping):
        return Selector(valid=False)
    labels = raw.get("matchLabels")
    exprs = raw.get("matchExpressions")
    if labels is not None and not isinstance(labels, Mapping):
        return Selector(valid=False)
    pairs = tuple(sorted((str(k), "" if v is None else str(v)) for k, v in (labels or {}).items()))
    out = []
    if exprs is not None and not isinstance(exprs, list):
        return Selector(valid=False)
    for e in exprs or []:
        if not isinstance(e, Mapping) or not isinstance(e.get("key"), str):
            return Selector(valid=False)
        op = e.get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return Selector(valid=False)
        out.append((e["key"], str(op), _strs(e.get("values"))))
    return Selector(pairs, tuple(out))


def _role(obj: K8sObject) -> Role:
    kind = obj.kind
    ns = obj.namespace if kind == "Role" else ""
    ref = f"Role/{ns}/{obj.name}" if kind == "Role" else f"ClusterRole/{obj.name}"
    selectors: tuple[Selector, ...] | None = None
    agg = obj.get("aggregationRule")
    if kind == "ClusterRole" and isinstance(agg, Mapping):
        sels = agg.get("clusterRoleSelectors")
        selectors = tuple(_selector(s) for s in sels) if isinstance(sels, list) else ()
    return Role(kind, obj.name, ns, obj.labels, _rules(obj, ref), selectors, _source(obj), obj)


def _binding(obj: K8sObject, warnings: list[str]) -> Binding | None:
    ref = obj.get("roleRef")
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str) or not ref.get("name"):
        warnings.append(f"{obj.doc.path}:{obj.line()}: {obj.ref} has no roleRef name; it grants nothing")
        return None
    role_kind = ref.get("kind")
    if role_kind not in ("Role", "ClusterRole") or (obj.kind == "ClusterRoleBinding" and role_kind != "ClusterRole"):
        warnings.append(f"{obj.doc.path}:{obj.line('roleRef')}: {obj.ref} refers to {role_kind!r}; it grants nothing")
        return None
    subjects = []
    raw = obj.get("subjects")
    for i, s in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(s, Mapping):
            continue
        kind, name = s.get("kind"), s.get("name")
        if not isinstance(name, str) or not name:
            continue
        if kind == "ServiceAccount":
            ns = s.get("namespace")
            if not isinstance(ns, str) or not ns:
                # The authorizer defaults to the RoleBinding's namespace; a ClusterRoleBinding has none.
                ns = obj.namespace if obj.kind == "RoleBinding" else ""
            if not ns:
                warnings.append(
                    f"{obj.doc.path}:{obj.line('subjects', i)}: {obj.ref} names ServiceAccount {name!r} without a "
                    "namespace; it matches nobody"
                )
                continue
            principal = Principal("ServiceAccount", name, ns)
        elif kind == "User":
            principal = Principal.user(name)
        elif kind == "Group":
            principal = Principal("Group", name)
        else:
            continue
        subjects.append(BindingSubject(principal, i, _source(obj, "subjects", i), str(kind)))
    kind = obj.kind
    return Binding(
        obj,
        str(role_kind),
        str(ref["name"]),
        tuple(subjects),
        kind=kind,
        name=obj.name,
        namespace=obj.namespace if kind == "RoleBinding" else "",
        ref=obj.ref,
        bootstrap=obj.labels.get(BOOTSTRAP_LABEL) == "rbac-defaults",
        source=_source(obj, "roleRef"),
    )


# --------------------------------------------------------------------------------------------
# the default roles a cluster always has (used when the tree does not define them)

# Assumption, documented in docs/kubernetes-rbac.md: these are the security-relevant rules of the
# bootstrap ClusterRoles of current Kubernetes releases, not their complete text. `admin`, `edit`
# and `view` are aggregated exactly as in a cluster, so a tree's own `aggregate-to-edit` roles
# extend them. Each entry: (verbs, apiGroups, resources), comma-separated.
_READ = "get,list,watch"
_WRITE = "create,delete,deletecollection,patch,update"
_BUILTIN_ROLES: tuple[tuple[str, dict[str, str], str, tuple[tuple[str, str, str], ...]], ...] = (
    ("cluster-admin", {}, "", (("*", "*", "*"),)),
    ("admin", {}, "admin", ()),
    ("edit", {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, "edit", ()),
    ("view", {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, "view", ()),
    (
        "system:aggregate-to-admin",
        {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "",
        (
            ("create", "authorization.k8s.io", "localsubjectaccessreviews"),
            (_READ + "," + _WRITE, RBAC_GROUP, "roles,rolebindings"),
        ),
    ),
    (
        "system:aggregate-to-edit",
        {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "",
        (
            (_READ, "", "pods/attach,pods/exec,pods/portforward,pods/proxy,secrets,services/proxy"),
            ("impersonate", "", "serviceaccounts"),
            (_WRITE, "", "pods,pods/attach,pods/exec,pods/portforward,pods/proxy"),
            ("create", "", "pods/eviction"),
            (
                _WRITE,
                "",
                "configmaps,events,persistentvolumeclaims,replicationcontrollers,replicationcontrollers/scale,"
                "secrets,serviceaccounts,services,services/proxy",
            ),
            ("create", "", "serviceaccounts/token"),
            (
                _WRITE,
                "apps",
                "daemonsets,deployments,deployments/rollback,deployments/scale,replicasets,replicasets/scale,"
                "statefulsets,statefulsets/scale",
            ),
            (_WRITE, "autoscaling", "horizontalpodautoscalers"),
            (_WRITE, "batch", "cronjobs,jobs"),
            (_WRITE, "policy", "poddisruptionbudgets"),
            (_WRITE, "networking.k8s.io", "ingresses,networkpolicies"),
            (_READ + "," + _WRITE, "coordination.k8s.io", "leases"),
        ),
    ),
    (
        "system:aggregate-to-view",
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        "",
        (
            (
                _READ,
                "",
                "configmaps,endpoints,persistentvolumeclaims,pods,pods/log,pods/status,replicationcontrollers,"
                "serviceaccounts,services,events,limitranges,resourcequotas,namespaces",
            ),
            (_READ, "apps", "controllerrevisions,daemonsets,deployments,replicasets,statefulsets"),
            (_READ, "batch", "cronjobs,jobs"),
            (_READ, "autoscaling", "horizontalpodautoscalers"),
            (_READ, "policy", "poddisruptionbudgets"),
            (_READ, "networking.k8s.io", "ingresses,networkpolicies"),
            (_READ, "discovery.k8s.io", "endpointslices"),
        ),
    ),
    (
        "system:basic-user",
        {},
        "",
        (("create", "authorization.k8s.io", "selfsubjectaccessreviews,selfsubjectrulesreviews"),),
    ),
)


def _builtin_roles() -> list[Role]:
    out = []
    for name, labels, aggregates, specs in _BUILTIN_ROLES:
        ref = f"ClusterRole/{name}"
        rules = [
            Rule(tuple(v.split(",")), tuple(g.split(",")), tuple(r.split(",")), role=ref, source=Source())
            for v, g, r in specs
        ]
        if name == "cluster-admin":
            rules.append(Rule(("*",), non_resource_urls=("*",), role=ref))
        selectors = None
        if aggregates:
            selectors = (Selector(((f"rbac.authorization.k8s.io/aggregate-to-{aggregates}", "true"),)),)
        all_labels = {BOOTSTRAP_LABEL: "rbac-defaults", **labels}
        out.append(Role("ClusterRole", name, "", all_labels, tuple(rules), selectors, Source()))
    return out


# --------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class RunningPod:
    """A pod template whose service-account token is mounted (exec into it yields the token)."""

    namespace: str
    service_account: str
    owner: str  # Kind/ns/name of the object declaring it
    name: str  # the Pod's own name when the owner is a bare Pod, else ""


@dataclass(frozen=True)
class TokenSecret:
    namespace: str
    name: str
    service_account: str
    source: Source


class RbacModel:
    """Every role, binding and service account of a tree, with effective permissions per principal."""

    def __init__(self, objects: Sequence[K8sObject]) -> None:
        self.warnings: list[str] = []
        self.roles: dict[tuple[str, str, str], Role] = {}
        self.bindings: list[Binding] = []
        self.namespaces: set[str] = set()
        self.service_accounts: dict[str, set[str]] = defaultdict(set)
        self.running: list[RunningPod] = []
        self.token_secrets: list[TokenSecret] = []
        for role in _builtin_roles():
            self.roles[("ClusterRole", "", role.name)] = role
        sa_automount: dict[tuple[str, str], bool] = {}
        templates = []
        for obj in objects:
            kind = obj.kind
            if obj.namespace:
                self.namespaces.add(obj.namespace)
            if kind == "Namespace" and obj.name:
                self.namespaces.add(obj.name)
            if kind in ("Role", "ClusterRole") and obj.name:
                role = _role(obj)
                self.roles[(role.kind, role.namespace, role.name)] = role
            elif kind in ("RoleBinding", "ClusterRoleBinding") and obj.name:
                b = _binding(obj, self.warnings)
                if b is not None:
                    self.bindings.append(b)
            elif kind == "ServiceAccount" and obj.name:
                self.service_accounts[obj.namespace].add(obj.name)
                auto = obj.get("automountServiceAccountToken")
                if isinstance(auto, bool):
                    sa_automount[(obj.namespace, obj.name)] = auto
            elif kind == "Secret" and obj.get("type") == TOKEN_SECRET_TYPE:
                sa = obj.annotations.get(SA_NAME_ANNOTATION, "")
                if sa and obj.name:
                    self.token_secrets.append(TokenSecret(obj.namespace, obj.name, sa, _source(obj)))
                    self.service_accounts[obj.namespace].add(sa)
            else:
                templates.extend(pod_templates(obj))
        for t in templates:
            sa = t.service_account
            self.service_accounts[t.namespace].add(sa)
            mount = t.spec.get("automountServiceAccountToken")
            if not isinstance(mount, bool):
                mount = sa_automount.get((t.namespace, sa), True)
            if mount:
                bare = t.owner.kind == "Pod"
                self.running.append(RunningPod(t.namespace, sa, t.owner.ref, t.owner.name if bare else ""))
        self._aggregate()
        self.grants_by_subject: dict[Principal, list[Grant]] = defaultdict(list)
        for b in self.bindings:
            resolved = self.role_of(b)
            if resolved is None:
                where = f"Role {b.namespace}/{b.role_name}" if b.role_kind == "Role" else f"ClusterRole {b.role_name}"
                self.warnings.append(
                    f"{b.path}:{b.source.line}: {b.ref} refers to {where}, which is neither in the tree nor a "
                    "built-in default; its permissions are unknown"
                )
                continue
            for s in b.subjects:
                if s.principal.kind == "ServiceAccount":
                    self.service_accounts[s.principal.namespace].add(s.principal.name)
                    self.namespaces.add(s.principal.namespace)
                for rule in resolved.rules:
                    if rule.is_non_resource and b.kind == "RoleBinding":
                        continue  # nonResourceURLs are only granted through ClusterRoleBindings
                    self.grants_by_subject[s.principal].append(Grant(s.principal, b, resolved, rule, b.scope, s.index))
        for ns in self.service_accounts:
            self.namespaces.add(ns)
        self._graphs: dict[tuple[int, tuple[Principal, ...]], EscalationGraph] = {}
        self._effective: dict[Principal, list[Grant]] = {}

    @classmethod
    def from_documents(cls, docs: Iterable[Document]) -> RbacModel:
        return cls(load_objects(docs))

    # ---------------------------------------------------------------- roles

    def _aggregate(self) -> None:
        """ClusterRole aggregation as the controller converges: union of matching roles' rules.

        Rules written in an aggregated role itself are kept as well: in a dump of a live cluster
        they are the controller's output; in a hand-written manifest the controller would replace
        them, so keeping them can over-report but never hides a grant.
        """
        cluster_roles = sorted((r for r in self.roles.values() if r.kind == "ClusterRole"), key=lambda r: r.name)
        for r in self.roles.values():
            r.rules = r.own_rules
        aggregated = [r for r in cluster_roles if r.selectors is not None]
        for _ in range(len(aggregated) + 1):
            changed = False
            for r in aggregated:
                seen = set(r.own_rules)
                rules = list(r.own_rules)
                for other in cluster_roles:
                    if other.name == r.name or not any(s.matches(other.labels) for s in r.selectors or ()):
                        continue
                    for rule in other.rules:
                        if rule not in seen:
                            seen.add(rule)
                            rules.append(rule)
                if tuple(rules) != r.rules:
                    r.rules = tuple(rules)
                    changed = True
            if not changed:
                break

    def role_of(self, b: Binding) -> Role | None:
        if b.role_kind == "Role":
            return self.roles.get(("Role", b.namespace, b.role_name))
        return self.roles.get(("ClusterRole", "", b.role_name))

    def cluster_role(self, name: str) -> Role | None:
        return self.roles.get(("ClusterRole", "", name))

    # ---------------------------------------------------------------- subjects

    def principals(self, include_defaults: bool = True) -> list[Principal]:
        """Every subject named by a binding (optionally only by non-default bindings), sorted."""
        out: set[Principal] = set()
        for b in self.bindings:
            if include_defaults or not b.bootstrap:
                out.update(s.principal for s in b.subjects)
        return sorted(out)

    def known_service_accounts(self) -> list[Principal]:
        return sorted(Principal("ServiceAccount", n, ns) for ns, names in self.service_accounts.items() for n in names)

    def grants(self, principal: Principal) -> list[Grant]:
        """Effective grants: those of the principal and of every group it is implicitly in."""
        cached = self._effective.get(principal)
        if cached is None:
            cached = []
            for ident in principal.identities():
                cached.extend(self.grants_by_subject.get(ident, ()))
            self._effective[principal] = cached
        return list(cached)

    def cluster_admin_grant(self, principal: Principal) -> Grant | None:
        """The grant making `principal` cluster-admin equivalent (`*` on `*` in `*`, cluster-wide)."""
        return next((g for g in self.grants(principal) if g.scope == CLUSTER and g.rule.is_full_wildcard), None)

    def escalation_graph(
        self, max_depth: int = DEFAULT_MAX_DEPTH, extra: tuple[Principal, ...] = ()
    ) -> EscalationGraph:
        """The escalation graph of this model (plus `extra` start principals), built once per bound."""
        key = (max_depth, tuple(sorted(set(extra))))
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = EscalationGraph(self, max_depth, extra)
        return graph

    # ---------------------------------------------------------------- queries

    def who_can(
        self,
        verb: str,
        resource: str,
        group: str = "",
        subresource: str = "",
        namespace: str | None = None,
        name: str | None = None,
    ) -> list[tuple[Grant, tuple[str, ...]]]:
        """Every (subject grant, allowed names) that allows the request, as the RBAC authorizer decides.

        `namespace` None means "in any namespace": grants of RoleBindings are included with their
        scope. A `resource` starting with `/` is a non-resource URL.
        """
        out: list[tuple[Grant, tuple[str, ...]]] = []
        url = resource if resource.startswith("/") else ""
        cluster_scoped = not url and is_cluster_scoped(group, resource)
        named = name is not None or named_request(verb, subresource)
        for b in self.bindings:
            if (url or cluster_scoped) and b.scope != CLUSTER:
                continue
            if namespace is not None and b.scope not in (CLUSTER, namespace):
                continue
            role = self.role_of(b)
            if role is None:
                continue
            for rule in role.rules:
                if url:
                    if not rule.matches_url(verb, url):
                        continue
                    names: tuple[str, ...] = ()
                else:
                    got = rule.matches(verb, group, resource, subresource, named)
                    if got is None or (name is not None and got and name not in got):
                        continue
                    names = got
                for s in b.subjects:
                    out.append((Grant(s.principal, b, role, rule, b.scope, s.index), names))
        out.sort(
            key=lambda x: (x[0].subject, x[0].scope, x[0].binding.ref if x[0].binding else "", str(x[0].rule.source))
        )
        return out


def model_for(tree: Document) -> RbacModel:
    """The model of a `kubernetes-tree` document, built once for all the checks that read it."""
    global _LAST
    if _LAST is not None and _LAST[0] is tree:
        return _LAST[1]
    docs = tree.data if isinstance(tree.data, list) else []
    model = RbacModel.from_documents(d for d in docs if isinstance(d, Document))
    _LAST = (tree, model)
    return model


_LAST: tuple[Document, RbacModel] | None = None


# --------------------------------------------------------------------------------------------
# capabilities: what a set of grants lets a holder do that leads to another identity


@dataclass(frozen=True)
class _Spec:
    cap: str
    verbs: tuple[str, ...]
    group: str
    resource: str
    subresource: str = ""
    cluster_only: bool = False  # the authorizer checks it outside any namespace


_WORKLOADS = (
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
    ("extensions", "deployments"),
    ("extensions", "daemonsets"),
    ("extensions", "replicasets"),
)

SPECS: tuple[_Spec, ...] = (
    _Spec("pods.create", ("create",), "", "pods"),
    *(_Spec("workloads.create", ("create",), g, r) for g, r in _WORKLOADS),
    *(_Spec("workloads.update", ("update", "patch"), g, r) for g, r in _WORKLOADS),
    _Spec("pods.update", ("update", "patch"), "", "pods"),
    _Spec("pods.exec", ("create", "get"), "", "pods", "exec"),
    _Spec("pods.exec", ("create", "get"), "", "pods", "attach"),
    _Spec("pods.exec", ("update", "patch"), "", "pods", "ephemeralcontainers"),
    _Spec("secrets.read", ("get", "list", "watch"), "", "secrets"),
    _Spec("secrets.create", ("create",), "", "secrets"),
    _Spec("sa.token", ("create",), "", "serviceaccounts", "token"),
    _Spec("impersonate.sa", ("impersonate",), "", "serviceaccounts"),
    _Spec("impersonate.users", ("impersonate",), "", "users", cluster_only=True),
    _Spec("impersonate.groups", ("impersonate",), "", "groups", cluster_only=True),
    _Spec("bind.clusterroles", ("bind",), RBAC_GROUP, "clusterroles"),
    _Spec("bind.roles", ("bind",), RBAC_GROUP, "roles"),
    _Spec("escalate.clusterroles", ("escalate",), RBAC_GROUP, "clusterroles", cluster_only=True),
    _Spec("escalate.roles", ("escalate",), RBAC_GROUP, "roles"),
    _Spec("update.clusterroles", ("update", "patch"), RBAC_GROUP, "clusterroles", cluster_only=True),
    _Spec("create.clusterroles", ("create",), RBAC_GROUP, "clusterroles", cluster_only=True),
    _Spec("update.roles", ("update", "patch"), RBAC_GROUP, "roles"),
    _Spec("write.rolebindings", ("create", "update", "patch"), RBAC_GROUP, "rolebindings"),
    _Spec(
        "write.clusterrolebindings", ("create", "update", "patch"), RBAC_GROUP, "clusterrolebindings", cluster_only=True
    ),
    _Spec("nodes.proxy", ("get", "create"), "", "nodes", "proxy", cluster_only=True),
    _Spec("csr.create", ("create",), CERT_GROUP, "certificatesigningrequests", cluster_only=True),
    _Spec("csr.approval", ("update", "patch"), CERT_GROUP, "certificatesigningrequests", "approval", True),
    _Spec("signers.approve", ("approve",), CERT_GROUP, "signers", cluster_only=True),
    _Spec(
        "webhook.mutating", ("create", "update", "patch"), ADMISSION_GROUP, "mutatingwebhookconfigurations", "", True
    ),
)


@dataclass(frozen=True)
class Cap:
    scope: str
    names: tuple[str, ...]  # () = any name
    grant: Grant


def _rule_caps(rule: Rule) -> list[tuple[_Spec, tuple[str, ...]]]:
    """(spec, names) for every escalation-relevant action `rule` allows, in any scope."""
    out: list[tuple[_Spec, tuple[str, ...]]] = []
    if rule.is_non_resource:
        return out
    for spec in SPECS:
        best: Names = None
        for verb in spec.verbs:
            names = rule.matches(
                verb, spec.group, spec.resource, spec.subresource, named_request(verb, spec.subresource)
            )
            if names is not None and (best is None or not names):
                best = names
            if best == ():
                break
        if best is not None:
            out.append((spec, best))
    return out


def capabilities(
    grants: Iterable[Grant], cache: dict[int, list[tuple[_Spec, tuple[str, ...]]]] | None = None
) -> dict[str, list[Cap]]:
    """Which escalation-relevant actions `grants` allow, with the scope, names and grant of each.

    `cache` (keyed by rule identity, so only valid while the rules live) spares re-matching the
    rules of a role bound many times.
    """
    out: dict[str, list[Cap]] = defaultdict(list)
    for g in grants:
        if cache is None:
            matched = _rule_caps(g.rule)
        else:
            key = id(g.rule)
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = _rule_caps(g.rule)
            matched = hit
        for spec, names in matched:
            if spec.cluster_only and g.scope != CLUSTER:
                continue
            out[spec.cap].append(Cap(g.scope, names, g))
    return out


def _meet(a: str, b: str) -> str | None:
    """The scope where two grants both apply (None: nowhere)."""
    if a == CLUSTER:
        return b
    if b == CLUSTER:
        return a
    if a == ALL_NAMESPACES:
        return b
    if b == ALL_NAMESPACES:
        return a
    return a if a == b else None


def _covers(names: tuple[str, ...], name: str) -> bool:
    return not names or name in names


# --------------------------------------------------------------------------------------------
# the escalation graph

Node = tuple[str, ...]  # ("P", kind, namespace, name) | ("pool", type, namespace) | ("role", ref, scope)

# Pools gather "any of these identities" behind one node, so a cluster-wide pod-create right costs
# one edge instead of one per service account; entering a pool is the hop, leaving it is free.
POOL_SA = "sa"  # any service account of a namespace (mounted into a pod the attacker creates)
POOL_RUNNING = "running"  # service accounts whose tokens are mounted in existing pods
POOL_TOKENS = "tokens"  # service accounts with a token Secret
POOL_USERS = "users"
POOL_GROUPS = "groups"


def pnode(p: Principal) -> Node:
    return ("P", p.kind, p.namespace, p.name)


def node_principal(n: Node) -> Principal | None:
    return Principal(n[1], n[3], n[2]) if n[0] == "P" else None


@dataclass(frozen=True)
class Edge:
    src: Node
    dst: Node
    weight: int  # 1: a step the attacker takes; 0: leaving a pool
    capability: str = ""
    action: str = ""  # what the grants allow, e.g. "create pods in namespace ci"
    grants: tuple[Grant, ...] = ()
    note: str = ""  # how a pool member is reached, e.g. "Secret ci/x holds its token"


@dataclass(frozen=True)
class Hop:
    src: str
    dst: str
    capability: str
    action: str
    via: str
    grants: tuple[Grant, ...]

    def text(self) -> str:
        via = f" ({self.via})" if self.via else ""
        return f"{self.src} --[{self.action}{via}]--> {self.dst}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.src,
            "to": self.dst,
            "capability": self.capability,
            "action": self.action,
            "via": self.via,
            "grants": [g.as_dict() for g in self.grants],
        }


@dataclass(frozen=True)
class EscalationPath:
    start: Principal
    hops: tuple[Hop, ...]
    end: str  # the node holding the target
    reason: str  # why the end node is the target (e.g. the grant that makes it cluster-admin)
    end_grant: Grant | None = None

    @property
    def length(self) -> int:
        return len(self.hops)

    def text(self) -> str:
        if not self.hops:
            return f"{self.start.ref} is already {self.reason}"
        return " ; ".join(h.text() for h in self.hops) + f" ; {self.end} is {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.start.as_dict(),
            "subject_ref": self.start.ref,
            "length": self.length,
            "direct": not self.hops,
            "hops": [h.as_dict() for h in self.hops],
            "end": self.end,
            "reason": self.reason,
            "end_grant": self.end_grant.as_dict() if self.end_grant is not None else None,
            "text": self.text(),
        }


_ACTIONS = {
    "pods.create": "create pods {scope}",
    "workloads.create": "create workload controllers {scope}",
    "workloads.update": "update workload controllers {scope} (their pod template may name any service account)",
    "pods.update": "update pods {scope} (replace a container image)",
    "pods.exec": "exec or attach into pods {scope}",
    "secrets.read": "read Secrets {scope}",
    "secrets.create": "create a service-account token Secret {scope} and read it back",
    "sa.token": "request service-account tokens {scope}",
    "impersonate.sa": "impersonate service accounts {scope}",
    "impersonate.users": "impersonate users",
    "impersonate.groups": "impersonate groups",
    "bind": "bind {role} to itself with a {binding} {scope}",
    "escalate": "add any rule to {role}, which is bound to it, {scope} (escalate)",
    "nodes.proxy": "reach the kubelet API through nodes/proxy and run commands in pods on any node",
    "csr": "create and approve a CertificateSigningRequest for a kube-apiserver client certificate of any identity",
    "webhook.mutating": "register a mutating admission webhook that rewrites pods",
}


# Among equally short paths, prefer the plainest story: running a pod before stealing a token.
_PREFERENCE = (
    "pods.create",
    "workloads.create",
    "workloads.update",
    "pods.exec",
    "pods.update",
    "sa.token",
    "secrets.read",
    "secrets.create",
    "impersonate.sa",
    "impersonate.users",
    "impersonate.groups",
    "bind",
    "escalate",
    "nodes.proxy",
    "webhook.mutating",
    "csr",
)


def _rank(capability: str) -> int:
    return _PREFERENCE.index(capability) if capability in _PREFERENCE else len(_PREFERENCE)


def _scope_words(scope: str) -> str:
    if scope in (CLUSTER, ALL_NAMESPACES):
        return "in any namespace"
    return f"in namespace {scope}"


ANY_ROLE_NAME = "(any rules)"


class EscalationGraph:
    """Principals and what their grants let them become; shortest paths by 0-1 BFS from the target."""

    def __init__(self, model: RbacModel, max_depth: int = DEFAULT_MAX_DEPTH, extra: Iterable[Principal] = ()) -> None:
        self.model = model
        self.max_depth = max_depth
        self.edges: dict[Node, list[Edge]] = defaultdict(list)
        self.role_nodes: dict[Node, tuple[Role, str]] = {}
        self.principals: list[Principal] = sorted(
            set(model.principals())
            | set(model.known_service_accounts())
            | {Principal("Group", MASTERS), Principal("Group", AUTHENTICATED)}
            | set(extra)
        )
        # Service accounts a pod may run as: those the tree shows, plus any asked about by name.
        self._sa_by_ns: dict[str, list[Principal]] = defaultdict(list)
        for p in self.principals:
            if p.kind == "ServiceAccount":
                self._sa_by_ns[p.namespace].append(p)
        self.any_role = Role(
            "ClusterRole",
            ANY_ROLE_NAME,
            "",
            {},
            (Rule(("*",), ("*",), ("*",), role="ClusterRole/" + ANY_ROLE_NAME),),
            None,
            Source(),
        )
        self.any_role.rules = self.any_role.own_rules
        self._rule_cache: dict[int, list[tuple[_Spec, tuple[str, ...]]]] = {}
        self._build()
        self._cache: dict[tuple[Node, ...], tuple[dict[Node, int], dict[Node, Edge]]] = {}
        self._admins: dict[Node, tuple[str, Grant | None]] | None = None

    # ---------------------------------------------------------------- building

    def _add(self, edge: Edge) -> None:
        self.edges[edge.src].append(edge)

    def _build(self) -> None:
        work: deque[Node] = deque()
        seen: set[Node] = set()
        for p in self.principals:
            work.append(pnode(p))
        self._pools()
        while work:
            n = work.popleft()
            if n in seen:
                continue
            seen.add(n)
            before = len(self.role_nodes)
            if n[0] == "P":
                who = node_principal(n)
                assert who is not None
                self._expand(n, self.model.grants(who), own=True)
            elif n[0] == "role":
                role, scope = self.role_nodes[n]
                grants = [Grant(Principal("User", "(attacker)"), None, role, r, scope) for r in role.rules]
                self._expand(n, grants, own=False)
            if len(self.role_nodes) != before:
                work.extend(k for k in self.role_nodes if k not in seen)
        for edges in self.edges.values():
            edges.sort(key=lambda e: (e.weight, e.dst, _rank(e.capability), e.note))

    def _pools(self) -> None:
        m = self.model
        for ns, sas in self._sa_by_ns.items():
            for sa in sas:
                self._add(Edge(("pool", POOL_SA, ns), pnode(sa), 0, note=f"a pod it starts runs as {sa.ref}"))
            self._add(Edge(("pool", POOL_SA, ALL_NAMESPACES), ("pool", POOL_SA, ns), 0))
        seen_running: set[tuple[str, str]] = set()
        for rp in sorted(m.running, key=lambda r: (r.namespace, r.service_account, r.owner)):
            if (rp.namespace, rp.service_account) in seen_running:
                continue
            seen_running.add((rp.namespace, rp.service_account))
            sa = Principal("ServiceAccount", rp.service_account, rp.namespace)
            self._add(Edge(("pool", POOL_RUNNING, rp.namespace), pnode(sa), 0, note=f"{rp.owner} runs as {sa.ref}"))
        for ns in {rp.namespace for rp in m.running}:
            self._add(Edge(("pool", POOL_RUNNING, ALL_NAMESPACES), ("pool", POOL_RUNNING, ns), 0))
        for ts in sorted(m.token_secrets, key=lambda t: (t.namespace, t.name)):
            sa = Principal("ServiceAccount", ts.service_account, ts.namespace)
            note = f"Secret {ts.namespace}/{ts.name} holds the token of {sa.ref}"
            self._add(Edge(("pool", POOL_TOKENS, ts.namespace), pnode(sa), 0, note=note))
        for ns in {t.namespace for t in m.token_secrets}:
            self._add(Edge(("pool", POOL_TOKENS, ALL_NAMESPACES), ("pool", POOL_TOKENS, ns), 0))
        for p in self.principals:
            if p.kind == "User":
                self._add(Edge(("pool", POOL_USERS, ""), pnode(p), 0, note=f"as {p.ref}"))
            elif p.kind == "Group":
                self._add(Edge(("pool", POOL_GROUPS, ""), pnode(p), 0, note=f"as a member of {p.ref}"))

    def _role_node(self, role: Role, scope: str) -> Node:
        n: Node = ("role", role.ref, scope)
        self.role_nodes.setdefault(n, (role, scope))
        return n

    def _edge(self, src: Node, dst: Node, cap: str, action: str, grants: Sequence[Grant], note: str = "") -> None:
        if src != dst:
            self._add(Edge(src, dst, 1, cap, action, tuple(grants), note))

    def _pool_edge(self, src: Node, pool: str, c: Cap, cap: str) -> None:
        ns = ALL_NAMESPACES if c.scope in (CLUSTER, ALL_NAMESPACES) else c.scope
        self._edge(src, ("pool", pool, ns), cap, _ACTIONS[cap].format(scope=_scope_words(c.scope)), (c.grant,))

    def _sas(self, scope: str) -> list[Principal]:
        if scope in (CLUSTER, ALL_NAMESPACES):
            return [sa for sas in self._sa_by_ns.values() for sa in sas]
        return self._sa_by_ns.get(scope, [])

    def _expand(self, n: Node, grants: list[Grant], own: bool) -> None:
        caps = capabilities(grants, self._rule_cache)
        m = self.model
        # Run code as a service account: pods and controllers choose any SA of their namespace.
        for cap in ("pods.create", "workloads.create", "workloads.update"):
            for c in caps.get(cap, ()):
                self._pool_edge(n, POOL_SA, c, cap)
        # Get into pods that already run (their SA is fixed): exec, attach, debug, image swap.
        for cap in ("pods.exec", "pods.update"):
            for c in caps.get(cap, ()):
                if not c.names:
                    self._pool_edge(n, POOL_RUNNING, c, cap)
                    continue
                for rp in m.running:
                    if rp.name in c.names and _meet(c.scope, rp.namespace) is not None:
                        sa = Principal("ServiceAccount", rp.service_account, rp.namespace)
                        action = _ACTIONS[cap].format(scope=_scope_words(c.scope))
                        self._edge(n, pnode(sa), cap, action, (c.grant,), f"{rp.owner} runs as {sa.ref}")
        for c in caps.get("secrets.read", ()):
            if not c.names:
                self._pool_edge(n, POOL_TOKENS, c, "secrets.read")
                continue
            for ts in m.token_secrets:
                if ts.name in c.names and _meet(c.scope, ts.namespace) is not None:
                    sa = Principal("ServiceAccount", ts.service_account, ts.namespace)
                    note = f"Secret {ts.namespace}/{ts.name} holds the token of {sa.ref}"
                    action = _ACTIONS["secrets.read"].format(scope=_scope_words(c.scope))
                    self._edge(n, pnode(sa), "secrets.read", action, (c.grant,), note)
        # The token controller fills in a token Secret anyone may create for any SA of the namespace.
        for w in caps.get("secrets.create", ()):
            for r in caps.get("secrets.read", ()):
                both = _meet(w.scope, r.scope)
                if both is None:
                    continue
                pool = ("pool", POOL_SA, ALL_NAMESPACES if both in (CLUSTER, ALL_NAMESPACES) else both)
                action = _ACTIONS["secrets.create"].format(scope=_scope_words(both))
                self._edge(n, pool, "secrets.create", action, (w.grant, r.grant))
                break
        for cap in ("sa.token", "impersonate.sa"):
            for c in caps.get(cap, ()):
                if not c.names:
                    self._pool_edge(n, POOL_SA, c, cap)
                    continue
                for sa in self._sas(c.scope):
                    if sa.name in c.names:
                        action = _ACTIONS[cap].format(scope=_scope_words(c.scope))
                        self._edge(n, pnode(sa), cap, action, (c.grant,), f"as {sa.ref}")
        for c in caps.get("impersonate.users", ()):
            if not c.names:
                self._edge(n, ("pool", POOL_USERS, ""), "impersonate.users", _ACTIONS["impersonate.users"], (c.grant,))
                continue
            for name in c.names:
                p = Principal.user(name)
                if p.kind == "User":
                    self._edge(
                        n, pnode(p), "impersonate.users", _ACTIONS["impersonate.users"], (c.grant,), f"as {p.ref}"
                    )
        # Impersonating a group needs a user to impersonate alongside (Impersonate-Group requires
        # Impersonate-User).
        as_someone = [*caps.get("impersonate.users", ()), *caps.get("impersonate.sa", ())]
        if as_someone:
            for c in caps.get("impersonate.groups", ()):
                grants2 = (c.grant, as_someone[0].grant)
                if not c.names:
                    self._edge(
                        n, ("pool", POOL_GROUPS, ""), "impersonate.groups", _ACTIONS["impersonate.groups"], grants2
                    )
                    continue
                for name in c.names:
                    p = Principal("Group", name)
                    note = f"as a member of {p.ref}"
                    self._edge(n, pnode(p), "impersonate.groups", _ACTIONS["impersonate.groups"], grants2, note)
        self._bind_edges(n, caps)
        if own:
            self._escalate_edges(n, grants, caps)
        for c in caps.get("nodes.proxy", ()):
            self._edge(n, ("pool", POOL_RUNNING, ALL_NAMESPACES), "nodes.proxy", _ACTIONS["nodes.proxy"], (c.grant,))
        for c in caps.get("webhook.mutating", ()):
            action = _ACTIONS["webhook.mutating"]
            self._edge(n, ("pool", POOL_RUNNING, ALL_NAMESPACES), "webhook.mutating", action, (c.grant,))
        creates, approvals = caps.get("csr.create", ()), caps.get("csr.approval", ())
        signers = [
            c
            for c in caps.get("signers.approve", ())
            if not c.names or APISERVER_CLIENT_SIGNER in c.names or "kubernetes.io/*" in c.names
        ]
        if creates and approvals and signers:
            grants3 = (creates[0].grant, approvals[0].grant, signers[0].grant)
            self._edge(n, ("pool", POOL_GROUPS, ""), "csr", _ACTIONS["csr"], grants3)
            self._edge(n, ("pool", POOL_USERS, ""), "csr", _ACTIONS["csr"], grants3)

    def _bind_edges(self, n: Node, caps: Mapping[str, list[Cap]]) -> None:
        """Binding a role to oneself needs `bind` on that role plus the right to write the binding."""
        m = self.model
        admin = m.cluster_role("cluster-admin") or self.any_role
        for w in caps.get("write.clusterrolebindings", ()):
            for b in caps.get("bind.clusterroles", ()):
                if b.scope != CLUSTER:
                    continue
                roles = [admin] if not b.names else [r for r in map(m.cluster_role, b.names) if r is not None]
                for role in roles:
                    action = _ACTIONS["bind"].format(role=role.ref, binding="ClusterRoleBinding", scope="cluster-wide")
                    self._edge(n, self._role_node(role, CLUSTER), "bind", action, (b.grant, w.grant))
        for w in caps.get("write.rolebindings", ()):
            for b in caps.get("bind.clusterroles", ()):
                scope = _meet(w.scope, b.scope)
                if scope is None:
                    continue
                scope = ALL_NAMESPACES if scope == CLUSTER else scope
                roles = [admin] if not b.names else [r for r in map(m.cluster_role, b.names) if r is not None]
                for role in roles:
                    action = _ACTIONS["bind"].format(role=role.ref, binding="RoleBinding", scope=_scope_words(scope))
                    self._edge(n, self._role_node(role, scope), "bind", action, (b.grant, w.grant))
            for b in caps.get("bind.roles", ()):
                scope = _meet(w.scope, b.scope)
                if scope is None:
                    continue
                for (kind, ns, name), role in sorted(m.roles.items()):
                    if kind != "Role" or _meet(scope, ns) is None or not _covers(b.names, name):
                        continue
                    action = _ACTIONS["bind"].format(role=role.ref, binding="RoleBinding", scope=_scope_words(ns))
                    self._edge(n, self._role_node(role, ns), "bind", action, (b.grant, w.grant))

    def _escalate_edges(self, n: Node, grants: list[Grant], caps: Mapping[str, list[Cap]]) -> None:
        """`escalate` plus update on a role the holder is bound to: any rule, in that binding's scope."""
        seen: set[tuple[str, str]] = set()
        for g in grants:
            if g.binding is None or (g.role.ref, g.scope) in seen:
                continue
            seen.add((g.role.ref, g.scope))
            role = g.role
            found: tuple[Grant, Grant] | None = None
            if role.kind == "ClusterRole":
                for e in caps.get("escalate.clusterroles", ()):
                    if not _covers(e.names, role.name):
                        continue
                    u = next((u for u in caps.get("update.clusterroles", ()) if _covers(u.names, role.name)), None)
                    if u is not None:
                        found = (e.grant, u.grant)
                        break
                    c = next(iter(caps.get("create.clusterroles", ())), None)
                    if c is not None and role.selectors:  # a new role labelled to aggregate into it
                        found = (e.grant, c.grant)
                        break
            else:
                for e in caps.get("escalate.roles", ()):
                    if _meet(e.scope, role.namespace) is None or not _covers(e.names, role.name):
                        continue
                    u = next(
                        (
                            u
                            for u in caps.get("update.roles", ())
                            if _meet(u.scope, role.namespace) is not None and _covers(u.names, role.name)
                        ),
                        None,
                    )
                    if u is not None:
                        found = (e.grant, u.grant)
                        break
            if found is None:
                continue
            scope = g.scope
            words = "cluster-wide" if scope == CLUSTER else _scope_words(scope)
            action = _ACTIONS["escalate"].format(role=role.ref, scope=words)
            self._edge(n, self._role_node(self.any_role, scope), "escalate", action, (*found, g))

    # ---------------------------------------------------------------- targets and search

    def cluster_admin_nodes(self) -> dict[Node, tuple[str, Grant | None]]:
        """Nodes that are cluster-admin, with why: a full-wildcard cluster-wide grant, or system:masters."""
        if self._admins is not None:
            return self._admins
        out: dict[Node, tuple[str, Grant | None]] = {}
        for p in self.principals:
            if p == Principal("Group", MASTERS):
                out[pnode(p)] = ("cluster-admin (system:masters bypasses authorization)", None)
                continue
            g = self.model.cluster_admin_grant(p)
            if g is not None:
                out[pnode(p)] = (f"cluster-admin ({g.text()})", g)
        for n, (role, scope) in self.role_nodes.items():
            rule = role.full_wildcard
            if scope == CLUSTER and rule is not None:
                what = "any rule" if role is self.any_role else role.ref
                out[n] = (f"cluster-admin ({what} bound cluster-wide)", None)
        self._admins = out
        return out

    def _distances(self, targets: Iterable[Node]) -> tuple[dict[Node, int], dict[Node, Edge]]:
        key = tuple(sorted(targets))
        if key in self._cache:
            return self._cache[key]
        reverse: dict[Node, list[Edge]] = defaultdict(list)
        for edges in self.edges.values():
            for e in edges:
                reverse[e.dst].append(e)
        for edges in reverse.values():
            edges.sort(key=lambda e: (e.weight, e.src, _rank(e.capability), e.note))
        dist: dict[Node, int] = {t: 0 for t in key}
        nxt: dict[Node, Edge] = {}
        dq: deque[Node] = deque(key)
        while dq:
            v = dq.popleft()
            d = dist[v]
            for e in reverse.get(v, ()):
                nd = d + e.weight
                if nd > self.max_depth or nd >= dist.get(e.src, nd + 1):
                    continue
                dist[e.src] = nd
                nxt[e.src] = e
                if e.weight == 0:
                    dq.appendleft(e.src)
                else:
                    dq.append(e.src)
        self._cache[key] = (dist, nxt)
        return dist, nxt

    def _display(self, n: Node) -> str:
        if n[0] == "P":
            p = node_principal(n)
            return p.ref if p is not None else str(n)
        if n[0] == "role":
            role, scope = self.role_nodes[n]
            where = "cluster-wide" if scope == CLUSTER else _scope_words(scope)
            if role is self.any_role:
                return f"any permission {where}"
            return f"{role.ref} bound to itself {where}"
        return "/".join(n)

    def _walk(
        self,
        first: Edge | None,
        start: Node,
        dist: Mapping[Node, int],
        nxt: Mapping[Node, Edge],
        targets: Mapping[Node, Any],
    ) -> list[Edge] | None:
        """The edges from `start` (through `first`, when given) along shortest paths to a target.

        Leaving a pool takes the closest member not yet on the path, so a pool whose best member
        is the start itself does not turn a real path into a cycle; any other return to a node
        already on the path abandons the walk.
        """
        edges: list[Edge] = []
        seen = {start}
        n = start
        if first is not None:
            edges.append(first)
            n = first.dst
        while n not in targets:
            e: Edge | None
            if n[0] == "pool":
                exits = [x for x in self.edges.get(n, ()) if x.dst in dist and x.dst not in seen]
                e = min(exits, key=lambda x: (dist[x.dst], x.dst)) if exits else None
            else:
                e = nxt.get(n)
            if e is None or e.dst in seen:
                return None
            seen.add(n)
            edges.append(e)
            n = e.dst
        return edges

    def _hops(self, edges: list[Edge]) -> tuple[Hop, ...]:
        """Edges into pools merged with the pool's exit, so a hop always ends at an identity."""
        hops: list[Hop] = []
        pending: Edge | None = None
        notes: list[str] = []
        for e in edges:
            if e.weight == 1:
                pending, notes = e, [e.note] if e.note else []
            elif e.note:
                notes.append(e.note)
            if e.dst[0] != "pool" and pending is not None:
                hops.append(
                    Hop(
                        self._display(pending.src),
                        self._display(e.dst),
                        pending.capability,
                        pending.action,
                        "; ".join(notes),
                        pending.grants,
                    )
                )
                pending, notes = None, []
        return tuple(hops)

    def path(
        self,
        start: Principal,
        targets: Mapping[Node, tuple[str, Grant | None]] | None = None,
        direct_first: bool = False,
    ) -> EscalationPath | None:
        """The shortest path from `start` to a target node (default: cluster-admin), or None.

        `direct_first` restricts the first hop to grants bound to `start` by name (not through a
        group it is in) in bindings the tree authored (not cluster defaults), so a finding about a
        subject is about that subject's own bindings.
        """
        goal = targets if targets is not None else self.cluster_admin_nodes()
        sn = pnode(start)
        if sn in goal and not direct_first:
            reason, grant = goal[sn]
            return EscalationPath(start, (), start.ref, reason, grant)
        dist, nxt = self._distances(goal)
        if not direct_first:
            if sn not in dist:
                return None
            edges = self._walk(None, sn, dist, nxt, goal)
        else:
            edges = None
            best = self.max_depth + 1
            for e in self.edges.get(sn, ()):
                if e.weight != 1 or not any(_own(g, start) for g in e.grants):
                    continue
                d = dist.get(e.dst)
                if d is None or 1 + d >= best:
                    continue
                walked = self._walk(e, sn, dist, nxt, goal)
                if walked is not None:
                    edges, best = walked, 1 + d
        if not edges:
            return None
        end = edges[-1].dst
        reason, grant = goal[end]
        return EscalationPath(start, self._hops(edges), self._display(end), reason, grant)

    def paths_to_cluster_admin(self, starts: Iterable[Principal]) -> list[EscalationPath]:
        targets = self.cluster_admin_nodes()
        out = [p for s in starts if (p := self.path(s, targets)) is not None]
        out.sort(key=lambda p: (p.length, p.start))
        return out


def _own(g: Grant, start: Principal) -> bool:
    return g.subject == start and g.binding is not None and not g.binding.bootstrap


def iter_grant_subjects(
    model: RbacModel, include_defaults: bool = False
) -> Iterator[tuple[Binding, Role, BindingSubject]]:
    """(binding, role, subject) of every resolvable binding, skipping cluster defaults unless asked."""
    for b in model.bindings:
        if b.bootstrap and not include_defaults:
            continue
        role = model.role_of(b)
        if role is None:
            continue
        for s in b.subjects:
            yield b, role, s
