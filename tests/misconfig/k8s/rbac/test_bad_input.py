"""Malformed RBAC manifests: wrong types and missing fields grant nothing and never crash a check."""

from __future__ import annotations

from customhouse.misconfig.k8s.rbac import Principal

from .util import extra, hits, join, model, scan

BROKEN = join(
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r1\n  namespace: a\nrules: 5\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: null\nrules: []\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: weird\n"
    "rules:\n- null\n- just a string\n- verbs: get\n  apiGroups: ['']\n  resources: [secrets]\n"
    "- verbs: [get, 7, null]\n  apiGroups: 5\n  resources: [configmaps]\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: agg-bad\n"
    "aggregationRule:\n  clusterRoleSelectors: 5\nrules: null\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: agg-bad2\n"
    "aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: 5\n  - matchExpressions:\n"
    "    - {key: a, operator: Sometimes, values: [x]}\n  - null\n  - matchExpressions: [7]\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b1\n  namespace: a\n"
    "subjects: null\nroleRef: null\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b2\n  namespace: a\n"
    "subjects:\n- 5\n- kind: User\n- kind: Robot\n  name: r2d2\n- kind: ServiceAccount\n  name: 7\n"
    "- kind: Group\n  name: ''\nroleRef:\n  kind: ClusterRole\n  name: weird\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: b3\n"
    "subjects:\n- kind: User\n  name: u\nroleRef:\n  kind: Role\n  name: r1\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: b4\n"
    "subjects: {kind: User, name: u}\nroleRef:\n  kind: ClusterRole\n  name: [cluster-admin]\n",
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: a\n  annotations: null\n"
    "type: kubernetes.io/service-account-token\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: a\n"
    "spec:\n  template:\n    spec:\n      serviceAccountName: 5\n      containers: 5\n",
    "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: a\n"
    "automountServiceAccountToken: maybe\n",
    "apiVersion: v1\nkind: 5\nmetadata:\n  name: x\n",
    # a valid grant inside a List must still be found
    "apiVersion: v1\nkind: List\nitems:\n"
    "- apiVersion: rbac.authorization.k8s.io/v1\n  kind: RoleBinding\n  metadata:\n    name: listed\n"
    "    namespace: a\n  subjects:\n  - kind: User\n    name: listed-user\n"
    "  roleRef:\n    kind: ClusterRole\n    name: edit\n",
)


def test_broken_manifests_do_not_crash_any_check() -> None:
    findings = scan(BROKEN)
    secrets = hits(findings, "CH-K8S-RBAC-002")
    # only the valid binding inside the List grants secrets (through the built-in edit)
    assert [extra(f)["subject"] for f in secrets] == ["User/listed-user"]
    assert secrets[0].location.json_path == "$.items[0].subjects[0]"


def test_broken_rules_grant_nothing() -> None:
    m = model(BROKEN)
    weird = m.cluster_role("weird")
    assert weird is not None
    # `verbs: get` (a string) and `apiGroups: 5` make rules that match nothing
    assert len(weird.rules) == 2
    for rr in weird.rules:
        assert rr.matches("get", "", "secrets") is None
        assert rr.matches("get", "", "configmaps") is None
    assert [g.subject.ref for g, _ in m.who_can("get", "secrets", namespace="a")] == ["User/listed-user"]
    agg = m.cluster_role("agg-bad2")
    assert agg is not None and agg.rules == ()


def test_broken_bindings_are_warned_about_or_ignored() -> None:
    m = model(BROKEN)
    text = "\n".join(m.warnings)
    assert "RoleBinding/a/b1 has no roleRef name" in text
    assert "ClusterRoleBinding/b3 refers to 'Role'" in text
    assert "ClusterRoleBinding/b4 has no roleRef name" in text
    b2 = next(b for b in m.bindings if b.name == "b2")
    assert b2.subjects == ()  # no subject of b2 is usable
    assert m.grants(Principal.user("u")) == []


def test_empty_and_non_kubernetes_documents() -> None:
    assert scan("") == []
    assert scan("--- \n...\n") == []
    assert model("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: b}\n").bindings == []
