"""RBAC checks (CH-K8S-RBAC-*): dangerous grants and escalation paths to cluster-admin.

A rule is only dangerous once a binding hands it to someone, so every finding is about a grant:
one subject of one RoleBinding or ClusterRoleBinding, the role it names and the rules of that
role that allow the dangerous action, in the scope the binding gives them. A finding points at
the subject's entry in the binding (that is what to remove or narrow) and carries where the rule
is written in `extra`, since the role often lives in another file or is a built-in default.

Rules are evaluated as the RBAC authorizer does (customhouse/misconfig/k8s/rbac.py): `*`,
`*/subresource`, resourceNames, ClusterRole aggregation, and RoleBinding scoping, so a rule on a
cluster-scoped resource (nodes/proxy, persistentvolumes, CSR approval, webhook configurations,
impersonating users or groups) granted through a RoleBinding is not reported: it grants nothing.
Bindings labelled `kubernetes.io/bootstrapping: rbac-defaults` are the cluster's own defaults
(they appear in dumps of live clusters) and are not reported; their grants still count when an
escalation path runs through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.k8s.rbac import (
    ADMISSION_GROUP,
    ANONYMOUS,
    AUTHENTICATED,
    CERT_GROUP,
    CLUSTER,
    DEFAULT_MAX_DEPTH,
    MASTERS,
    RBAC_GROUP,
    UNAUTHENTICATED,
    Binding,
    BindingSubject,
    Principal,
    Role,
    Rule,
    is_cluster_scoped,
    iter_grant_subjects,
    model_for,
    named_request,
)

RBAC_DOCS = "https://kubernetes.io/docs/reference/access-authn-authz/rbac/"
RBAC_GOOD_PRACTICES = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
CIS_K8S = "https://www.cisecurity.org/benchmark/kubernetes"
NIST = "4.3.1"  # NIST SP 800-190 4.3.1: unbounded administrative access
TREE = ("kubernetes-tree",)

Request = tuple[tuple[str, ...], str, str, str]  # (verbs, group, resource, subresource)


def _allows(rule: Rule, scope: str, requests: tuple[Request, ...]) -> bool:
    """Whether `rule`, granted in `scope`, allows any of `requests` (for some object name)."""
    for verbs, group, resource, sub in requests:
        if scope != CLUSTER and is_cluster_scoped(group, resource):
            continue  # a RoleBinding cannot grant cluster-scoped resources
        for verb in verbs:
            if rule.matches(verb, group, resource, sub, named_request(verb, sub)) is not None:
                return True
    return False


def _scope_words(scope: str) -> str:
    return "cluster-wide" if scope == CLUSTER else f"in namespace {scope}"


def _violation(
    b: Binding,
    role: Role,
    s: BindingSubject,
    rules: list[Rule],
    message: str,
    fix: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Violation:
    src = s.source
    facts = [
        ("subject", s.principal.ref),
        ("scope", "cluster" if b.scope == CLUSTER else b.scope),
        ("binding", b.ref),
        ("binding_location", str(b.source)),
        ("role", role.ref),
        ("role_location", str(role.source)),
    ]
    for i, r in enumerate(rules[:5]):
        suffix = "" if i == 0 else f"_{i + 1}"
        facts += [(f"rule{suffix}", r.text()), (f"rule_location{suffix}", str(r.source))]
    return Violation(
        message=message,
        line=src.line,
        column=b.obj.column("subjects", s.index),
        snippet=b.obj.doc.source(src.line),
        fix=fix,
        json_path=src.json_path,
        resource_kind=b.kind,
        resource_namespace=b.namespace,
        resource_name=b.name,
        path=b.path,
        extra=(*facts, *extra),
    )


def _grant_check(
    doc: Document, predicate: Callable[[Rule, str], bool], what: str, fix: str, admin: bool = False
) -> Iterator[Violation]:
    """One violation per subject of every binding whose role has a rule matching `predicate`.

    A role with a full-wildcard rule allows everything; CH-K8S-RBAC-001 reports it once instead of
    every specific check repeating it.
    """
    model = model_for(doc)
    # A role is usually bound many times; what matters of the scope is only cluster vs namespace.
    matched: dict[tuple[int, str], list[Rule]] = {}
    for b, role, s in iter_grant_subjects(model):
        key = (id(role), b.kind)
        rules = matched.get(key)
        if rules is None:
            rules = []
            if admin or role.full_wildcard is None:
                rules = [r for r in role.rules if predicate(r, b.scope)]
                if b.kind == "RoleBinding":
                    rules = [r for r in rules if not r.is_non_resource]
            matched[key] = rules
        if not rules:
            continue
        where = f"{rules[0].source}" if not rules[0].source.builtin else f"built-in {role.ref}"
        message = (
            f"{s.principal.ref} can {what} {_scope_words(b.scope)} through {b.ref} -> {role.ref} "
            f"(rule {rules[0].text()} at {where})"
        )
        yield _violation(b, role, s, rules, message, fix)


def _reqs(verbs: str, group: str, resources: str) -> tuple[Request, ...]:
    out = []
    for res in resources.split(","):
        base, _, sub = res.partition("/")
        out.append((tuple(verbs.split(",")), group, base, sub))
    return tuple(out)


SECRETS_READ = _reqs("get,list,watch", "", "secrets")
POD_CREATE = (
    *_reqs("create,update,patch", "", "pods,replicationcontrollers"),
    *_reqs("create,update,patch", "apps", "deployments,daemonsets,statefulsets,replicasets"),
    *_reqs("create,update,patch", "batch", "jobs,cronjobs"),
    *_reqs("create,update,patch", "extensions", "deployments,daemonsets,replicasets"),
)
EXEC = (*_reqs("create,get", "", "pods/exec,pods/attach"), *_reqs("update,patch", "", "pods/ephemeralcontainers"))
BIND_ESCALATE = _reqs("bind,escalate", RBAC_GROUP, "roles,clusterroles")
IMPERSONATE = (
    *_reqs("impersonate", "", "users,groups,serviceaccounts"),
    *_reqs("impersonate", "authentication.k8s.io", "uids,userextras/scopes"),
)
PV_CREATE = _reqs("create", "", "persistentvolumes")
NODES_PROXY = _reqs("get,list,watch,create,update,patch,delete", "", "nodes/proxy")
CSR_APPROVAL = (
    *_reqs("update,patch", CERT_GROUP, "certificatesigningrequests/approval"),
    *_reqs("approve", CERT_GROUP, "signers"),
)
WEBHOOKS = _reqs(
    "create,update,patch,delete,deletecollection",
    ADMISSION_GROUP,
    "mutatingwebhookconfigurations,validatingwebhookconfigurations,validatingadmissionpolicies,"
    "validatingadmissionpolicybindings,mutatingadmissionpolicies,mutatingadmissionpolicybindings",
)
SA_TOKEN = _reqs("create", "", "serviceaccounts/token")


def _has_wildcard(rule: Rule) -> bool:
    if rule.is_full_wildcard:
        return False  # CH-K8S-RBAC-001 reports it
    values = (*rule.verbs, *rule.api_groups, *rule.non_resource_urls)
    return "*" in values or any(r == "*" or r.startswith("*/") for r in rule.resources)


@check(
    "CH-K8S-RBAC-001",
    "cluster-admin (all verbs on all resources) granted",
    "high",
    TREE,
    description="A binding grants `*` verbs on `*` resources in `*` API groups: cluster-admin cluster-wide "
    "through a ClusterRoleBinding, full control of a namespace through a RoleBinding.",
    rationale="Such a subject can read every Secret, run any pod as any service account and rewrite RBAC "
    "itself; one stolen credential is the whole cluster (or namespace). CIS 5.1.1 asks that cluster-admin "
    "be used only where required.",
    remediation="Bind a role listing the verbs and resources the subject needs (for people, the built-in "
    "`admin`/`edit`/`view` through RoleBindings); keep cluster-admin for break-glass accounts.",
    references=(RBAC_DOCS, RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.1", nist_800_190=NIST, mitre_attack="T1078"),
)
def cluster_admin(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, _s: r.is_full_wildcard,
        "do anything (`*` on `*`)",
        "Replace the role with one that lists only the needed verbs and resources.",
        admin=True,
    )


@check(
    "CH-K8S-RBAC-002",
    "Read access to Secrets",
    "high",
    TREE,
    description="A binding grants get, list or watch on Secrets.",
    rationale="Secrets hold passwords, keys and (legacy) service-account tokens; reading them is "
    "credential access, and `list`/`watch` return every Secret's content, not just names (CIS 5.1.2).",
    remediation="Remove secrets from the role, or restrict it with `resourceNames` to the Secrets the "
    "workload reads; prefer mounting Secrets into pods over reading them through the API.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.2", nist_800_190=NIST, mitre_attack="T1552.007"),
)
def secrets_read(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, SECRETS_READ),
        "read Secrets",
        "Drop get/list/watch on secrets, or restrict the rule with resourceNames.",
    )


@check(
    "CH-K8S-RBAC-003",
    "Wildcard in a granted RBAC rule",
    "medium",
    TREE,
    description="A granted rule uses `*` for verbs, resources (including `*/subresource`), API groups or "
    "non-resource URLs.",
    rationale="A wildcard grants today's and every future resource or verb, including ones added by CRDs "
    "and new Kubernetes releases, so the grant silently widens (CIS 5.1.3).",
    remediation="List the verbs, resources and API groups explicitly.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.3", nist_800_190=NIST, mitre_attack="T1078"),
)
def wildcards(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, _s: _has_wildcard(r),
        "use a wildcard rule",
        "Replace `*` with the explicit verbs, resources and API groups needed.",
    )


@check(
    "CH-K8S-RBAC-004",
    "Create or update of pods or workload controllers",
    "medium",
    TREE,
    description="A binding grants create, update or patch on pods or on workload controllers (Deployments, "
    "DaemonSets, StatefulSets, ReplicaSets, Jobs, CronJobs, ReplicationControllers).",
    rationale="Whoever creates a pod chooses its service account, image, volumes and security context: "
    "the pod runs with the rights of any service account of the namespace and, without Pod Security "
    "admission, can mount the node (CIS 5.1.4).",
    remediation="Grant workload creation to deployment automation only, in the namespaces it deploys "
    "to, and enforce Pod Security admission there.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.4", nist_800_190=NIST, mitre_attack="T1610"),
)
def pod_create(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, POD_CREATE),
        "create or change pods or workload controllers",
        "Remove create/update/patch on pods and workload controllers from this subject's role.",
    )


@check(
    "CH-K8S-RBAC-005",
    "Exec or attach into pods",
    "medium",
    TREE,
    description="A binding grants pods/exec or pods/attach (create, or get, which WebSocket clients use) "
    "or update of pods/ephemeralcontainers.",
    rationale="Running commands in a pod yields its service-account token, its Secrets and its network "
    "position; the subject acts as every workload it can exec into.",
    remediation="Keep exec for break-glass roles; use logs, metrics and debug tooling with audit instead.",
    references=(RBAC_GOOD_PRACTICES,),
    frameworks=Framework(nist_800_190=NIST, mitre_attack="T1609"),
)
def pod_exec(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, EXEC),
        "exec or attach into pods",
        "Remove pods/exec, pods/attach and pods/ephemeralcontainers from the role.",
    )


@check(
    "CH-K8S-RBAC-006",
    "Permissions granted to a default service account",
    "medium",
    TREE,
    description="A binding names the `default` service account of a namespace as a subject.",
    rationale="Every pod that does not name a service account runs as `default`, so rights given to it are "
    "given to every such pod of the namespace, present and future (CIS 5.1.5).",
    remediation="Create a dedicated service account for the workload that needs the rights, bind the role "
    "to it and set serviceAccountName in that workload.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.5", nist_800_190=NIST, mitre_attack="T1078.001"),
)
def default_service_account(doc: Document, options: Options) -> Iterator[Violation]:
    model = model_for(doc)
    for b, role, s in iter_grant_subjects(model):
        p = s.principal
        if p.kind != "ServiceAccount" or p.name != "default":
            continue
        rules = [r for r in role.rules if not (r.is_non_resource and b.kind == "RoleBinding")]
        message = f"{p.ref} (used by every pod without serviceAccountName) is granted {role.ref} through {b.ref}"
        yield _violation(b, role, s, rules, message, "Bind the role to a dedicated service account instead.")


@check(
    "CH-K8S-RBAC-007",
    "Binding to the system:masters group",
    "medium",
    TREE,
    description="A binding names the `system:masters` group.",
    rationale="Members of system:masters bypass RBAC entirely and their client certificates cannot be "
    "revoked; relying on the group (or suggesting membership through a binding) hides superusers from RBAC "
    "review (CIS 5.1.7).",
    remediation="Use a named group bound to the role it needs; keep system:masters for the break-glass "
    "credential created at install time.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.7", nist_800_190=NIST, mitre_attack="T1078"),
)
def system_masters(doc: Document, options: Options) -> Iterator[Violation]:
    model = model_for(doc)
    for b, role, s in iter_grant_subjects(model):
        if s.principal == Principal("Group", MASTERS):
            message = f"{b.ref} binds {role.ref} to Group/system:masters, which bypasses authorization anyway"
            yield _violation(b, role, s, [], message, "Bind the role to a dedicated group instead.")


@check(
    "CH-K8S-RBAC-008",
    "bind, escalate or impersonate granted",
    "high",
    TREE,
    description="A binding grants `bind` or `escalate` on roles or clusterroles, or `impersonate` on users, "
    "groups, service accounts, UIDs or user extras.",
    rationale="These verbs are RBAC's own escape hatches: bind grants any role the subject can name, escalate "
    "lets it add any rule to a role it holds, impersonate lets it act as someone else. Each can lead to "
    "cluster-admin (CIS 5.1.8).",
    remediation="Remove the verbs, or restrict them with resourceNames to the exact roles or identities needed.",
    references=(RBAC_DOCS, RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.8", nist_800_190=NIST, mitre_attack="T1098.006"),
)
def bind_escalate_impersonate(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, BIND_ESCALATE) or _allows(r, s, IMPERSONATE),
        "bind or escalate roles, or impersonate identities,",
        "Remove bind/escalate/impersonate from the role or restrict them with resourceNames.",
    )


@check(
    "CH-K8S-RBAC-009",
    "Create PersistentVolumes",
    "medium",
    TREE,
    description="A ClusterRoleBinding grants create on persistentvolumes.",
    rationale="A PersistentVolume may be a hostPath volume; binding it to a claim mounts any directory of "
    "the node into a pod, bypassing Pod Security's hostPath restriction (CIS 5.1.9).",
    remediation="Let a storage provisioner create volumes through StorageClasses; grant users "
    "persistentvolumeclaims instead.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.9", nist_800_190=NIST, mitre_attack="T1611"),
)
def pv_create(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, PV_CREATE),
        "create PersistentVolumes",
        "Remove create on persistentvolumes; use StorageClasses and PVCs.",
    )


@check(
    "CH-K8S-RBAC-010",
    "Access to nodes/proxy",
    "high",
    TREE,
    description="A ClusterRoleBinding grants access to the nodes/proxy subresource.",
    rationale="nodes/proxy reaches the kubelet API of every node, including its exec and run endpoints; "
    "commands run there bypass API-server audit and admission (CIS 5.1.10).",
    remediation="Grant nodes/metrics, nodes/stats or nodes/log (or the fine-grained nodes/healthz, "
    "nodes/pods, nodes/configz) instead of nodes/proxy.",
    references=(RBAC_GOOD_PRACTICES, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.1.10", nist_800_190=NIST, mitre_attack="T1609"),
)
def nodes_proxy(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, NODES_PROXY),
        "use nodes/proxy (the kubelet API)",
        "Replace nodes/proxy with the specific node subresources needed.",
    )


@check(
    "CH-K8S-RBAC-011",
    "Approval of certificate signing requests",
    "high",
    TREE,
    description="A ClusterRoleBinding grants update of certificatesigningrequests/approval or approve on signers.",
    rationale="An approver can have the cluster CA issue a client certificate for any user or group, "
    "including system:masters, and certificates cannot be revoked (CIS 5.1.11).",
    remediation="Leave approval to the kube-controller-manager's approvers and a few administrators; "
    "restrict approve on signers to the signer names really needed.",
    references=(
        "https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/",
        CIS_K8S,
    ),
    frameworks=Framework(cis_kubernetes="5.1.11", nist_800_190=NIST, mitre_attack="T1078"),
)
def csr_approval(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, CSR_APPROVAL),
        "approve certificate signing requests",
        "Remove certificatesigningrequests/approval and approve on signers from the role.",
    )


@check(
    "CH-K8S-RBAC-012",
    "Changes to admission webhook or policy configuration",
    "high",
    TREE,
    description="A ClusterRoleBinding grants create, update, patch or delete on mutating or validating "
    "webhook configurations or admission policies.",
    rationale="A mutating webhook sees and may rewrite every object it registers for (pods, Secrets); "
    "deleting a validating webhook or policy switches off the controls that rely on it (CIS 5.1.12).",
    remediation="Keep admission configuration with cluster administrators and the controllers that own "
    "their webhooks (restrict those with resourceNames).",
    references=(
        "https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/",
        CIS_K8S,
    ),
    frameworks=Framework(cis_kubernetes="5.1.12", nist_800_190=NIST, mitre_attack="T1557"),
)
def webhook_config(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, WEBHOOKS),
        "change admission webhook or policy configuration",
        "Remove write access to admissionregistration.k8s.io resources, or restrict it with resourceNames.",
    )


@check(
    "CH-K8S-RBAC-013",
    "Creation of service-account tokens",
    "high",
    TREE,
    description="A binding grants create on serviceaccounts/token (the TokenRequest API).",
    rationale="Whoever can request a token for a service account authenticates as it, with all of its "
    "rights, for as long as the token lives (CIS 5.1.13).",
    remediation="Remove serviceaccounts/token, or restrict it with resourceNames to the service accounts "
    "that must be reachable this way.",
    references=(
        "https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/",
        CIS_K8S,
    ),
    frameworks=Framework(cis_kubernetes="5.1.13", nist_800_190=NIST, mitre_attack="T1528"),
)
def sa_token(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _grant_check(
        doc,
        lambda r, s: _allows(r, s, SA_TOKEN),
        "create service-account tokens",
        "Remove create on serviceaccounts/token or restrict it with resourceNames.",
    )


@check(
    "CH-K8S-RBAC-014",
    "Escalation path to cluster-admin",
    "critical",
    TREE,
    description="A subject that is not cluster-admin can become cluster-admin in one or more steps: run a "
    "pod as a privileged service account, read its token, impersonate it, bind a role, approve a "
    "certificate... The finding's `path` lists every step with the grant enabling it.",
    rationale="Reviews look at one binding at a time; an attacker chains them. A subject that can reach "
    "cluster-admin is cluster-admin, whatever its own role says.",
    remediation="Break the first hop (remove the grant that starts the path) or the privileged end "
    "(do not bind cluster-admin to a service account that others can run as or read).",
    references=(RBAC_GOOD_PRACTICES, RBAC_DOCS),
    frameworks=Framework(nist_800_190=NIST, mitre_attack="T1078"),
)
def escalation_paths(doc: Document, options: Options) -> Iterator[Violation]:
    model = model_for(doc)
    depth = options.extra.get("rbac_max_depth", DEFAULT_MAX_DEPTH)
    graph = model.escalation_graph(depth if isinstance(depth, int) and depth > 0 else DEFAULT_MAX_DEPTH)
    seen: set[Principal] = set()
    for _b, _role, s in iter_grant_subjects(model):
        p = s.principal
        if p in seen:
            continue
        seen.add(p)
        if p == Principal("Group", MASTERS) or model.cluster_admin_grant(p) is not None:
            continue  # already cluster-admin: CH-K8S-RBAC-001
        path = graph.path(p, direct_first=True)
        if path is None or not path.hops:
            continue
        first = next(
            g for g in path.hops[0].grants if g.subject == p and g.binding is not None and not g.binding.bootstrap
        )
        assert first.binding is not None
        b = first.binding
        subject = next(x for x in b.subjects if x.index == first.subject_index)
        steps = len(path.hops)
        message = f"{p.ref} can become cluster-admin in {steps} step{'s' if steps > 1 else ''}: {path.text()}"
        extra = (("path", path.text()), ("hops", str(steps)), ("end", path.end))
        yield _violation(b, first.role, subject, [first.rule], message, _path_fix(path.hops[0].capability), extra)


def _path_fix(capability: str) -> str:
    return (
        f"Remove or narrow the grant behind the first step ({capability}), or unbind cluster-admin from the "
        "identity the path ends at; run `customhouse rbac paths` to see every path."
    )


@check(
    "CH-K8S-RBAC-015",
    "Permissions granted to every user or to anonymous requests",
    "high",
    TREE,
    description="A binding names `system:authenticated`, `system:unauthenticated` or `system:anonymous`.",
    rationale="system:authenticated is everyone with any credential, including every service-account token "
    "of every pod; system:unauthenticated and system:anonymous are anyone who can reach the API server. "
    "Rights given to them are given to the world.",
    remediation="Bind the role to the specific users, groups or service accounts that need it.",
    references=(RBAC_GOOD_PRACTICES, "https://kubernetes.io/docs/reference/access-authn-authz/authentication/"),
    frameworks=Framework(nist_800_190=NIST, mitre_attack="T1078"),
)
def everyone(doc: Document, options: Options) -> Iterator[Violation]:
    model = model_for(doc)
    broad = {Principal("Group", AUTHENTICATED), Principal("Group", UNAUTHENTICATED), Principal("User", ANONYMOUS)}
    for b, role, s in iter_grant_subjects(model):
        if s.principal not in broad:
            continue
        who = "every authenticated identity" if s.principal.name == AUTHENTICATED else "anonymous requests"
        message = f"{b.ref} grants {role.ref} to {s.principal.ref} ({who}) {_scope_words(b.scope)}"
        rules = [r for r in role.rules if not (r.is_non_resource and b.kind == "RoleBinding")]
        yield _violation(b, role, s, rules, message, "Bind the role to specific subjects instead.")
