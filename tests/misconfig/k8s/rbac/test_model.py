"""The RBAC model: rule matching as the authorizer does it, role resolution, subjects and scopes."""

from __future__ import annotations

import pytest

from customhouse.misconfig.k8s.rbac import CLUSTER, Principal, Rule

from .util import (
    binding,
    cluster_binding,
    cluster_role,
    join,
    model,
    role,
    rule,
    url_rule,
)


def r(verbs: str, resources: str, groups: str = "", names: str = "", urls: str = "") -> Rule:
    return Rule(
        tuple(verbs.split(",")),
        tuple(groups.split(",")) if not urls else (),
        tuple(resources.split(",")) if resources else (),
        tuple(names.split(",")) if names else (),
        tuple(urls.split(",")) if urls else (),
    )


@pytest.mark.parametrize(
    ("rule_", "request_", "expected"),
    [
        # verbs: exact or "*"
        (r("get", "pods"), ("get", "", "pods", ""), ()),
        (r("get", "pods"), ("list", "", "pods", ""), None),
        (r("*", "pods"), ("escalate", "", "pods", ""), ()),
        # API groups: "" is core and never matches apps; "*" matches every group
        (r("get", "deployments"), ("get", "apps", "deployments", ""), None),
        (r("get", "deployments", "apps"), ("get", "apps", "deployments", ""), ()),
        (r("get", "deployments", "*"), ("get", "apps", "deployments", ""), ()),
        # resources: a bare resource does not cover its subresources; "*" does
        (r("create", "pods"), ("create", "", "pods", "exec"), None),
        (r("create", "pods/exec"), ("create", "", "pods", "exec"), ()),
        (r("create", "*"), ("create", "", "pods", "exec"), ()),
        (r("create", "pods/exec"), ("create", "", "pods", ""), None),
        # "*/sub" matches that subresource of any resource; "pods/*" is a literal, not a pattern
        (r("update", "*/scale", "*"), ("update", "apps", "deployments", "scale"), ()),
        (r("update", "*/scale", "*"), ("update", "apps", "deployments", "status"), None),
        (r("create", "pods/*"), ("create", "", "pods", "exec"), None),
        (r("get", "*/*"), ("get", "", "pods", "log"), None),
        # resourceNames: returned for named requests, never matching create
        (r("get", "secrets", names="a,b"), ("get", "", "secrets", ""), ("a", "b")),
        (r("create", "secrets", names="a"), ("create", "", "secrets", ""), None),
        # non-resource rules never match resource requests
        (r("get", "", urls="/healthz"), ("get", "", "healthz", ""), None),
    ],
)
def test_rule_matching(rule_: Rule, request_: tuple[str, str, str, str], expected: tuple[str, ...] | None) -> None:
    verb, group, resource, sub = request_
    assert rule_.matches(verb, group, resource, sub, verb != "create") == expected


def test_non_resource_urls_match_exactly_or_by_trailing_star() -> None:
    rr = r("get", "", urls="/healthz,/apis/*")
    assert rr.matches_url("get", "/healthz")
    assert not rr.matches_url("get", "/healthz/ready")
    assert rr.matches_url("get", "/apis/apps/v1")
    assert not rr.matches_url("post", "/healthz")
    assert r("*", "", urls="*").matches_url("post", "/anything")


def test_full_wildcard_requires_every_star_and_no_names() -> None:
    assert r("*", "*", "*").is_full_wildcard
    assert not r("*", "*", "").is_full_wildcard
    assert not r("*", "*", "*", names="x").is_full_wildcard
    assert not r("get,list", "*", "*").is_full_wildcard


def test_rolebinding_to_clusterrole_is_scoped_to_its_namespace() -> None:
    m = model(
        join(
            cluster_role("secret-reader", rule("get", "secrets")),
            binding("read", "team-a", "ClusterRole:secret-reader", "user:ann"),
        )
    )
    in_a = m.who_can("get", "secrets", namespace="team-a")
    assert [(g.subject.ref, g.scope) for g, _ in in_a] == [("User/ann", "team-a")]
    assert m.who_can("get", "secrets", namespace="team-b") == []
    # without -n every grant is listed with its scope
    assert [g.scope for g, _ in m.who_can("get", "secrets")] == ["team-a"]


def test_clusterrolebinding_applies_in_every_namespace_and_to_cluster_resources() -> None:
    m = model(
        join(
            cluster_role("node-reader", rule("get", "nodes,secrets")),
            cluster_binding("nodes", "node-reader", "group:ops"),
            binding("ns-nodes", "team-a", "ClusterRole:node-reader", "user:ann"),
        )
    )
    assert [g.subject.ref for g, _ in m.who_can("get", "secrets", namespace="anywhere")] == ["Group/ops"]
    # nodes are cluster-scoped: the RoleBinding grants nothing for them
    assert [(g.subject.ref, g.scope) for g, _ in m.who_can("get", "nodes")] == [("Group/ops", CLUSTER)]


def test_non_resource_urls_only_through_clusterrolebindings() -> None:
    m = model(
        join(
            cluster_role("metrics", url_rule("get", "/metrics")),
            cluster_binding("scraper", "metrics", "sa:monitoring/prometheus"),
            binding("local", "team-a", "ClusterRole:metrics", "user:ann"),
        )
    )
    assert [g.subject.ref for g, _ in m.who_can("get", "/metrics")] == ["ServiceAccount/monitoring/prometheus"]
    assert m.grants(Principal.user("ann")) == []


def test_service_account_subject_namespace_defaults_to_the_rolebinding() -> None:
    m = model(
        join(
            role("worker", "jobs", rule("create", "pods")),
            binding("w", "jobs", "Role:worker", "sa:runner"),
            cluster_binding("bad", "view", "sa:orphan"),
        )
    )
    assert [g.subject for g, _ in m.who_can("create", "pods", namespace="jobs")] == [
        Principal("ServiceAccount", "runner", "jobs")
    ]
    # a ClusterRoleBinding has no namespace to default to: the subject matches nobody
    assert any("orphan" in w and "without a namespace" in w for w in m.warnings)
    assert not any(s.principal.name == "orphan" for b in m.bindings for s in b.subjects)


def test_service_account_inherits_its_groups() -> None:
    m = model(
        join(
            cluster_role("lister", rule("list", "configmaps")),
            cluster_role("getter", rule("get", "services")),
            cluster_role("watcher", rule("watch", "endpoints")),
            cluster_binding("all-sa", "lister", "group:system:serviceaccounts"),
            binding("ns-sa", "ci", "ClusterRole:getter", "group:system:serviceaccounts:ci"),
            cluster_binding("everyone", "watcher", "group:system:authenticated"),
        )
    )
    sa = Principal("ServiceAccount", "builder", "ci")
    granted = {(g.rule.verbs[0], g.scope) for g in m.grants(sa)}
    assert granted == {("list", CLUSTER), ("get", "ci"), ("watch", CLUSTER)}
    other = Principal("ServiceAccount", "builder", "prod")
    assert {g.rule.verbs[0] for g in m.grants(other)} == {"list", "watch"}
    # a user gets system:authenticated, anonymous gets system:unauthenticated instead
    assert {g.rule.verbs[0] for g in m.grants(Principal.user("bob"))} == {"watch"}
    assert m.grants(Principal.user("system:anonymous")) == []


def test_user_subject_naming_a_service_account_is_that_service_account() -> None:
    m = model(
        join(
            role("pods", "ci", rule("delete", "pods")),
            binding("b", "ci", "Role:pods", "user:system:serviceaccount:ci:cleaner"),
        )
    )
    assert [g.subject for g, _ in m.who_can("delete", "pods")] == [Principal("ServiceAccount", "cleaner", "ci")]


def test_group_subjects_and_who_can_lists_every_subject_of_a_binding() -> None:
    m = model(
        join(
            role("deployer", "web", rule("create,update", "deployments", "apps")),
            binding("deployers", "web", "Role:deployer", "group:web-team", "user:carol", "sa:web/ci"),
        )
    )
    refs = [g.subject.ref for g, _ in m.who_can("update", "deployments", "apps", namespace="web")]
    assert refs == ["Group/web-team", "ServiceAccount/web/ci", "User/carol"]
    assert m.who_can("update", "deployments", "", namespace="web") == []  # core group: no such rule


def test_resource_names_are_reported_and_checked() -> None:
    m = model(
        join(
            role("one-secret", "app", rule("get,list", "secrets", names="db-creds")),
            binding("b", "app", "Role:one-secret", "user:dan"),
        )
    )
    [(grant, names)] = m.who_can("get", "secrets", namespace="app")
    assert grant.subject == Principal.user("dan")
    assert names == ("db-creds",)
    assert m.who_can("get", "secrets", namespace="app", name="other") == []
    assert len(m.who_can("get", "secrets", namespace="app", name="db-creds")) == 1
    assert m.who_can("list", "secrets", namespace="app", name=None) != []  # list by field selector has a name
    assert m.who_can("create", "secrets", namespace="app") == []


def test_aggregation_collects_matching_roles_transitively() -> None:
    """A tree's aggregate-to-view role extends the built-in view, and so edit and admin."""
    m = model(
        join(
            cluster_role(
                "crd-viewer",
                rule("get,list", "widgets", "example.com"),
                labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"},
            ),
            binding("admins", "shop", "ClusterRole:admin", "user:erin"),
        )
    )
    [(g, _)] = m.who_can("list", "widgets", "example.com", namespace="shop")
    assert (g.subject.ref, g.role.ref, g.rule.role) == ("User/erin", "ClusterRole/admin", "ClusterRole/crd-viewer")
    assert g.rule.source.path == "rbac.yaml"
    # built-in edit essentials reach admin through aggregation too
    assert m.who_can("create", "pods", subresource="exec", namespace="shop")[0][0].role.ref == "ClusterRole/admin"


def test_aggregation_with_match_expressions_and_own_selectors() -> None:
    agg = (
        "  - matchExpressions:\n"
        "    - {key: team, operator: In, values: [pay, billing]}\n"
        "    - {key: deprecated, operator: DoesNotExist}\n"
    )
    m = model(
        join(
            cluster_role("pay-aggregate", aggregate=agg),
            cluster_role("pay-a", rule("get", "invoices", "pay.example.com"), labels={"team": "pay"}),
            cluster_role("pay-b", rule("get", "refunds", "pay.example.com"), labels={"team": "billing"}),
            cluster_role(
                "pay-old", rule("get", "legacy", "pay.example.com"), labels={"team": "pay", "deprecated": "yes"}
            ),
            cluster_role("other", rule("get", "carts", "pay.example.com"), labels={"team": "shop"}),
        )
    )
    rules = m.cluster_role("pay-aggregate")
    assert rules is not None
    assert sorted(rr.resources[0] for rr in rules.rules) == ["invoices", "refunds"]


def test_aggregation_cycle_terminates_with_the_union() -> None:
    sel_a = "  - matchLabels: {ring: a}\n"
    sel_b = "  - matchLabels: {ring: b}\n"
    m = model(
        join(
            cluster_role("ra", rule("get", "x"), labels={"ring": "b"}, aggregate=sel_a),
            cluster_role("rb", rule("get", "y"), labels={"ring": "a"}, aggregate=sel_b),
        )
    )
    ra, rb = m.cluster_role("ra"), m.cluster_role("rb")
    assert ra is not None and rb is not None
    assert {x.resources[0] for x in ra.rules} == {"x", "y"} == {x.resources[0] for x in rb.rules}


def test_tree_definition_overrides_a_builtin_role() -> None:
    m = model(
        join(
            cluster_role("edit", rule("get", "configmaps")),
            binding("e", "app", "ClusterRole:edit", "user:fay"),
        )
    )
    assert m.who_can("get", "secrets", namespace="app") == []
    [(g, _)] = m.who_can("get", "configmaps", namespace="app")
    assert not g.role.builtin and g.rule.source.line > 0


def test_builtin_cluster_admin_and_missing_roles() -> None:
    m = model(
        join(
            cluster_binding("root", "cluster-admin", "user:root"),
            binding("x", "app", "Role:not-there", "user:gus"),
        )
    )
    g = m.cluster_admin_grant(Principal.user("root"))
    assert g is not None and g.role.builtin and str(g.rule.source) == "built-in"
    assert any("Role app/not-there" in w and "unknown" in w for w in m.warnings)
    assert m.grants(Principal.user("gus")) == []


def test_principal_parse() -> None:
    assert Principal.parse("sa:ci/builder") == Principal("ServiceAccount", "builder", "ci")
    assert Principal.parse("system:serviceaccount:ci:builder") == Principal("ServiceAccount", "builder", "ci")
    assert Principal.parse("group:system:masters") == Principal("Group", "system:masters")
    assert Principal.parse("user:alice") == Principal("User", "alice")
    assert Principal.parse("alice") == Principal("User", "alice")
    with pytest.raises(ValueError):
        Principal.parse("sa:builder")
