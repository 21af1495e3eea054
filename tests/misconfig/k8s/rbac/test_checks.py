"""RBAC checks (CH-K8S-RBAC-*): a failing and a passing fixture for every check.

Each failing fixture grants one dangerous right to one subject; the finding must point at that
subject's entry in the binding (looked up in the text) and name the role rule behind it. The
passing fixture is a near miss: the same role bound through a RoleBinding where the resource is
cluster-scoped, the right restricted to a harmless name or verb, or a cluster-default binding.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from customhouse.misconfig.engine import Options, all_checks
from customhouse.misconfig.k8s.rbac import Principal

from .util import (
    binding,
    cluster_binding,
    cluster_role,
    deployment,
    extra,
    hits,
    join,
    line_of,
    role,
    rule,
    scan,
    service_account,
    url_rule,
)

RBAC = "rbac.authorization.k8s.io"
CERTS = "certificates.k8s.io"
ADM = "admissionregistration.k8s.io"


@dataclass(frozen=True)
class Case:
    check_id: str
    fail: str
    fail_at: str  # the subject's `name:` line; the finding points at its `- kind:` line just above
    passing: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.check_id}{'-' + self.note if self.note else ''}"


def crb(*rules: str, subject: str = "user:mallory") -> str:
    """A ClusterRole with `rules`, bound cluster-wide to `subject`."""
    return join(cluster_role("granted", *rules), cluster_binding("grant", "granted", subject))


def rb(*rules: str, subject: str = "user:mallory", ns: str = "team") -> str:
    """The same ClusterRole bound with a RoleBinding in `ns`."""
    return join(cluster_role("granted", *rules), binding("grant", ns, "ClusterRole:granted", subject))


CASES = [
    Case("CH-K8S-RBAC-001", crb(rule("*", "*", "*")), "name: mallory", crb(rule("*", "pods", "")), "wildcards"),
    Case(
        "CH-K8S-RBAC-001",
        join(cluster_binding("root", "cluster-admin", "sa:ops/root-sa")),
        "name: root-sa",
        join(binding("viewer", "ops", "ClusterRole:view", "sa:ops/root-sa")),
        "builtin",
    ),
    Case(
        "CH-K8S-RBAC-002",
        rb(rule("list", "secrets")),
        "name: mallory",
        rb(rule("get,list", "configmaps"), rule("create", "secrets")),
    ),
    Case(
        "CH-K8S-RBAC-002",
        join(binding("editors", "team", "ClusterRole:edit", "group:editor-group")),
        "name: editor-group",
        join(binding("viewers", "team", "ClusterRole:view", "group:editor-group")),
        "builtin-edit",
    ),
    Case(
        "CH-K8S-RBAC-003",
        rb(rule("get,list", "*", "")),
        "name: mallory",
        rb(rule("get,list", "pods,services", "")),
    ),
    Case(
        "CH-K8S-RBAC-003",
        rb(rule("update", "*/scale", "apps")),
        "name: mallory",
        rb(rule("update", "deployments/scale", "apps")),
        "subresource",
    ),
    Case(
        "CH-K8S-RBAC-004",
        rb(rule("create", "pods")),
        "name: mallory",
        rb(rule("get,list,watch,delete", "pods")),
    ),
    Case(
        "CH-K8S-RBAC-004",
        rb(rule("patch", "deployments", "apps")),
        "name: mallory",
        rb(rule("patch", "deployments/scale", "apps")),
        "controller",
    ),
    Case(
        "CH-K8S-RBAC-005",
        rb(rule("get", "pods/exec")),
        "name: mallory",
        rb(rule("get", "pods/log")),
    ),
    Case(
        "CH-K8S-RBAC-005",
        rb(rule("patch", "pods/ephemeralcontainers")),
        "name: mallory",
        rb(rule("get", "pods/ephemeralcontainers")),
        "debug",
    ),
    Case(
        "CH-K8S-RBAC-006",
        rb(rule("get", "configmaps"), subject="sa:team/default"),
        "name: default",
        rb(rule("get", "configmaps"), subject="sa:team/app"),
    ),
    Case(
        "CH-K8S-RBAC-007",
        crb(rule("get", "pods"), subject="group:system:masters"),
        "name: system:masters",
        crb(rule("get", "pods"), subject="group:masters"),
    ),
    Case(
        "CH-K8S-RBAC-008",
        rb(rule("bind", "roles", RBAC)),
        "name: mallory",
        rb(rule("create,update", "roles", RBAC)),
        "bind",
    ),
    Case(
        "CH-K8S-RBAC-008",
        crb(rule("impersonate", "users", "")),
        "name: mallory",
        rb(rule("impersonate", "users", "")),  # users are cluster-scoped: a RoleBinding grants nothing
        "impersonate",
    ),
    Case(
        "CH-K8S-RBAC-008",
        crb(rule("escalate", "clusterroles", RBAC)),
        "name: mallory",
        crb(rule("get,list", "clusterroles", RBAC)),
        "escalate",
    ),
    Case(
        "CH-K8S-RBAC-009",
        crb(rule("create", "persistentvolumes")),
        "name: mallory",
        crb(rule("create", "persistentvolumeclaims")),
    ),
    Case(
        "CH-K8S-RBAC-010",
        crb(rule("get", "nodes/proxy")),
        "name: mallory",
        crb(rule("get", "nodes/metrics,nodes/stats")),
    ),
    Case(
        "CH-K8S-RBAC-010",
        crb(rule("get", "*/proxy", "")),
        "name: mallory",
        rb(rule("get", "*/proxy", "")),
        "pattern",
    ),
    Case(
        "CH-K8S-RBAC-011",
        crb(rule("update", "certificatesigningrequests/approval", CERTS)),
        "name: mallory",
        crb(rule("create,get", "certificatesigningrequests", CERTS)),
    ),
    Case(
        "CH-K8S-RBAC-012",
        crb(rule("patch", "mutatingwebhookconfigurations", ADM)),
        "name: mallory",
        crb(rule("get,list", "mutatingwebhookconfigurations", ADM)),
    ),
    Case(
        "CH-K8S-RBAC-012",
        crb(rule("delete", "validatingwebhookconfigurations", ADM)),
        "name: mallory",
        rb(rule("delete", "validatingwebhookconfigurations", ADM)),
        "delete",
    ),
    Case(
        "CH-K8S-RBAC-013",
        rb(rule("create", "serviceaccounts/token")),
        "name: mallory",
        rb(rule("create", "serviceaccounts")),
    ),
    Case(
        "CH-K8S-RBAC-014",
        join(
            service_account("deployer", "ci"),
            cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
            binding("dev", "ci", "ClusterRole:edit", "user:mallory"),
        ),
        "name: mallory",
        join(
            service_account("deployer", "ci"),
            cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
            binding("dev", "sandbox", "ClusterRole:edit", "user:mallory"),
        ),
    ),
    Case(
        "CH-K8S-RBAC-015",
        crb(rule("get", "configmaps"), subject="group:system:authenticated"),
        "name: system:authenticated",
        crb(rule("get", "configmaps"), subject="group:authenticated-users"),
    ),
    Case(
        "CH-K8S-RBAC-015",
        crb(url_rule("get", "/metrics"), subject="user:system:anonymous"),
        "name: system:anonymous",
        crb(url_rule("get", "/metrics"), subject="user:anonymous"),
        "anonymous",
    ),
]


def test_every_rbac_check_has_a_case() -> None:
    ids = {c.meta.id for c in all_checks() if c.meta.id.startswith("CH-K8S-RBAC-")}
    assert ids == {c.check_id for c in CASES}
    for c in all_checks():
        if c.meta.id.startswith("CH-K8S-RBAC-"):
            assert c.meta.file_types == ("kubernetes-tree",)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fails(case: Case) -> None:
    found = hits(scan(case.fail), case.check_id)
    assert len(found) == 1, [f.message for f in found]
    f = found[0]
    assert f.location.line == line_of(case.fail, case.fail_at) - 1
    assert f.location.path == "rbac.yaml"
    assert f.location.json_path.startswith("$.subjects[")
    assert f.location.resource_kind in ("RoleBinding", "ClusterRoleBinding")
    facts = extra(f)
    assert facts["binding"].startswith(f.location.resource_kind + "/")
    assert facts["subject"] in f.message
    assert f.misconfiguration is not None and f.misconfiguration.snippet.strip().startswith("- kind:")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passes(case: Case) -> None:
    assert hits(scan(case.passing), case.check_id) == []


def test_finding_points_at_the_subject_entry_and_names_the_rule() -> None:
    text = rb(rule("get", "configmaps"), rule("get,watch", "secrets"), subject="sa:team/reader")
    [f] = hits(scan(text), "CH-K8S-RBAC-002")
    assert f.location.line == line_of(text, "- kind: ServiceAccount")
    assert (f.location.resource_kind, f.location.resource_namespace, f.location.resource_name) == (
        "RoleBinding",
        "team",
        "grant",
    )
    facts = extra(f)
    assert facts["scope"] == "team"
    assert facts["role"] == "ClusterRole/granted"
    assert facts["rule"] == 'verbs=[get,watch] apiGroups=[""] resources=[secrets]'
    secrets_line = line_of(text, 'resources: ["secrets"]')
    assert facts["rule_location"] == f"rbac.yaml:{secrets_line - 1}"
    assert facts["binding_location"] == f"rbac.yaml:{line_of(text, 'roleRef:')}"
    assert "ServiceAccount/team/reader can read Secrets in namespace team" in f.message


def test_one_finding_per_subject() -> None:
    text = join(
        cluster_role("reader", rule("get", "secrets")),
        binding("readers", "team", "ClusterRole:reader", "user:a", "group:b", "sa:c"),
    )
    found = hits(scan(text), "CH-K8S-RBAC-002")
    assert sorted(extra(f)["subject"] for f in found) == ["Group/b", "ServiceAccount/team/c", "User/a"]
    assert len({f.fingerprint for f in found}) == 3


def test_cluster_default_bindings_are_not_reported() -> None:
    defaults = join(
        cluster_role("system:controller:token-cleaner", rule("get,list,delete", "secrets")),
        cluster_binding(
            "system:controller:token-cleaner",
            "system:controller:token-cleaner",
            "sa:kube-system/token-cleaner",
            defaults=True,
        ),
    )
    assert hits(scan(defaults), "CH-K8S-RBAC-002") == []
    authored = defaults.replace("  labels:\n    kubernetes.io/bootstrapping: rbac-defaults\n", "")
    assert len(hits(scan(authored), "CH-K8S-RBAC-002")) == 1


def test_cluster_admin_does_not_repeat_every_specific_check() -> None:
    found = scan(crb(rule("*", "*", "*")))
    assert {f.id for f in found} == {"CH-K8S-RBAC-001"}


def test_aggregated_rule_is_reported_through_the_aggregating_role() -> None:
    text = join(
        cluster_role(
            "extra-edit",
            rule("create", "serviceaccounts/token"),
            labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        ),
        binding("viewers", "team", "ClusterRole:view", "user:vic"),
    )
    [f] = hits(scan(text), "CH-K8S-RBAC-013")
    facts = extra(f)
    assert facts["role"] == "ClusterRole/view" and facts["role_location"] == "built-in"
    token_line = line_of(text, 'resources: ["serviceaccounts/token"]')
    assert facts["rule_location"] == f"rbac.yaml:{token_line - 1}"


def test_escalation_finding_carries_the_path() -> None:
    text = join(
        service_account("deployer", "ci"),
        cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
        deployment("web", "ci", sa="deployer"),
        role("exec", "ci", rule("create", "pods/exec")),
        binding("exec", "ci", "Role:exec", "group:support"),
    )
    [f] = hits(scan(text), "CH-K8S-RBAC-014")
    facts = extra(f)
    assert facts["hops"] == "1"
    assert facts["subject"] == "Group/support"
    assert facts["end"] == "ServiceAccount/ci/deployer"
    assert facts["path"].startswith("Group/support --[exec or attach into pods in namespace ci")
    assert "Deployment/ci/web runs as ServiceAccount/ci/deployer" in facts["path"]
    assert f.severity == "critical"
    assert f.location.line == line_of(text, "name: support") - 1
    # the cluster-admin SA itself has no *path* (CH-K8S-RBAC-001 reports it)
    assert all(extra(x)["subject"] != "ServiceAccount/ci/deployer" for x in hits(scan(text), "CH-K8S-RBAC-014"))


def test_escalation_through_an_implicit_group_is_reported_on_the_group() -> None:
    text = join(
        cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
        binding("ci-sas", "ci", "ClusterRole:edit", "group:system:serviceaccounts:ci"),
        binding("own", "ci", "ClusterRole:view", "sa:ci/web"),
    )
    found = hits(scan(text), "CH-K8S-RBAC-014")
    assert [extra(f)["subject"] for f in found] == ["Group/system:serviceaccounts:ci"]


def test_max_depth_option_bounds_the_escalation_search() -> None:
    text = join(
        cluster_binding("admin", "cluster-admin", "sa:kube-system/admin"),
        role("deploy", "kube-system", rule("create", "deployments", "apps")),
        binding("builder", "kube-system", "Role:deploy", "sa:build/builder"),
        role("tokens", "build", rule("create", "serviceaccounts/token")),
        binding("tokens", "build", "Role:tokens", "user:ursula"),
    )
    deep = {extra(f)["subject"] for f in hits(scan(text), "CH-K8S-RBAC-014")}
    assert deep == {"ServiceAccount/build/builder", "User/ursula"}
    shallow = {extra(f)["subject"] for f in hits(scan(text, Options(extra={"rbac_max_depth": 1})), "CH-K8S-RBAC-014")}
    assert shallow == {"ServiceAccount/build/builder"}


def test_inline_ignore_in_the_binding_file_applies() -> None:
    from customhouse.misconfig.runner import run_tree_checks

    from .util import docs

    text = rb(rule("get", "secrets"), subject="user:reader")
    ignored = text.replace("subjects:\n", "subjects:\n# customhouse:ignore=CH-K8S-RBAC-002 audited read-only tooling\n")
    for body, suppressed in ((text, False), (ignored, True)):
        findings, _ran = run_tree_checks(docs({"rbac/reader.yaml": body}), "tree", Options())
        [f] = hits(findings, "CH-K8S-RBAC-002")
        assert f.location.path == "rbac/reader.yaml"
        assert (f.suppressed is not None) is suppressed


def test_default_bindings_count_in_paths_but_start_no_finding() -> None:
    from .util import model

    text = join(
        cluster_binding("admin", "cluster-admin", "sa:kube-system/boss"),
        role("pods", "kube-system", rule("create", "pods")),
        binding("system:controller:x", "kube-system", "Role:pods", "sa:kube-system/x-controller", defaults=True),
        binding("helper", "kube-system", "Role:pods", "user:helper"),
    )
    subjects = {extra(f)["subject"] for f in hits(scan(text), "CH-K8S-RBAC-014")}
    assert subjects == {"User/helper"}
    m = model(text)
    assert Principal("ServiceAccount", "x-controller", "kube-system") not in m.principals(include_defaults=False)
    path = m.escalation_graph().path(Principal("ServiceAccount", "x-controller", "kube-system"))
    assert path is not None and [h.capability for h in path.hops] == ["pods.create"]
