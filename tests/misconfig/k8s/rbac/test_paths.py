"""Escalation paths to cluster-admin: each fixture states the exact chain of hops it expects.

Every fixture has a near miss that must *not* produce a path (pod creation in a namespace
without a privileged service account, a bind restricted to `view`, a token that is not mounted,
a signer that is not the API server's...), so a test fails if the graph invents edges as well as
if it misses them.
"""

from __future__ import annotations

from customhouse.misconfig.k8s.rbac import Principal

from .util import (
    binding,
    cluster_binding,
    cluster_role,
    deployment,
    hops,
    join,
    model,
    path_of,
    pod,
    role,
    rule,
    service_account,
    token_secret,
)

ADMIN_SA = join(
    service_account("deployer", "ci"),
    cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
)


def test_pod_creation_reaches_a_cluster_admin_service_account() -> None:
    tree = join(
        ADMIN_SA,
        role("pod-maker", "ci", rule("create,get", "pods")),
        binding("alice-pods", "ci", "Role:pod-maker", "user:alice"),
    )
    path = path_of(tree, "user:alice")
    assert hops(path) == [("User/alice", "pods.create", "ServiceAccount/ci/deployer")]
    assert path is not None and path.end == "ServiceAccount/ci/deployer"
    hop = path.hops[0]
    assert hop.via == "a pod it starts runs as ServiceAccount/ci/deployer"
    [g] = hop.grants
    assert g.binding is not None and g.binding.ref == "RoleBinding/ci/alice-pods"
    assert g.role.ref == "Role/ci/pod-maker" and g.rule.text() == 'verbs=[create,get] apiGroups=[""] resources=[pods]'
    assert path.end_grant is not None and path.end_grant.role.ref == "ClusterRole/cluster-admin"
    assert path.text().startswith("User/alice --[create pods in namespace ci (a pod it starts runs as")


def test_no_path_when_pods_can_only_be_created_where_no_privileged_sa_lives() -> None:
    tree = join(
        ADMIN_SA,
        service_account("runner", "sandbox"),
        role("pod-maker", "sandbox", rule("create", "pods")),
        binding("sandbox-pods", "sandbox", "Role:pod-maker", "user:sam"),
    )
    assert path_of(tree, "user:sam") is None
    # the same right in the namespace of the privileged SA is a path
    moved = tree.replace("namespace: sandbox\nsubjects", "namespace: ci\nsubjects").replace(
        "name: pod-maker\n  namespace: sandbox", "name: pod-maker\n  namespace: ci"
    )
    assert hops(path_of(moved, "user:sam")) == [("User/sam", "pods.create", "ServiceAccount/ci/deployer")]


THREE_HOPS = join(
    # dev may impersonate one service account in ops
    role("impersonate-helper", "ops", rule("impersonate", "serviceaccounts", names="helper")),
    binding("dev-helper", "ops", "Role:impersonate-helper", "user:dev"),
    # ops/helper reads Secrets in build, where builder's legacy token is stored
    cluster_role("secret-reader", rule("get", "secrets")),
    binding("helper-secrets", "build", "ClusterRole:secret-reader", "sa:ops/helper"),
    token_secret("builder-token", "build", "builder"),
    # build/builder deploys into kube-system, where kube-admin is cluster-admin
    role("deployer", "kube-system", rule("create", "deployments", "apps")),
    binding("builder-deploys", "kube-system", "Role:deployer", "sa:build/builder"),
    cluster_binding("kube-admin", "cluster-admin", "sa:kube-system/kube-admin"),
)


def test_three_hop_path() -> None:
    path = path_of(THREE_HOPS, "user:dev")
    assert hops(path) == [
        ("User/dev", "impersonate.sa", "ServiceAccount/ops/helper"),
        ("ServiceAccount/ops/helper", "secrets.read", "ServiceAccount/build/builder"),
        ("ServiceAccount/build/builder", "workloads.create", "ServiceAccount/kube-system/kube-admin"),
    ]
    assert path is not None
    assert path.hops[1].via == "Secret build/builder-token holds the token of ServiceAccount/build/builder"
    assert [h.grants[0].binding.ref for h in path.hops if h.grants[0].binding] == [
        "RoleBinding/ops/dev-helper",
        "RoleBinding/build/helper-secrets",
        "RoleBinding/kube-system/builder-deploys",
    ]
    # the search is bounded: three hops do not fit in two
    assert model(THREE_HOPS).escalation_graph(max_depth=2).path(Principal.user("dev")) is None


def test_three_hop_path_breaks_when_the_impersonation_names_someone_else() -> None:
    tree = THREE_HOPS.replace('resourceNames: ["helper"]', 'resourceNames: ["auditor"]')
    assert path_of(tree, "user:dev") is None


def test_bind_cluster_admin_with_a_clusterrolebinding() -> None:
    tree = join(
        cluster_role(
            "rbac-manager",
            rule("create", "clusterrolebindings", "rbac.authorization.k8s.io"),
            rule("bind", "clusterroles", "rbac.authorization.k8s.io"),
        ),
        cluster_binding("rbac-manager", "rbac-manager", "sa:platform/rbac-manager"),
    )
    path = path_of(tree, "sa:platform/rbac-manager")
    assert hops(path) == [
        ("ServiceAccount/platform/rbac-manager", "bind", "ClusterRole/cluster-admin bound to itself cluster-wide")
    ]
    assert path is not None and len(path.hops[0].grants) == 2
    # bind restricted to view only grants view
    limited = tree.replace('verbs: ["bind"]', 'verbs: ["bind"]\n  resourceNames: ["view"]')
    assert path_of(limited, "sa:platform/rbac-manager") is None


def test_bind_in_a_namespace_then_run_as_its_privileged_sa() -> None:
    tree = join(
        service_account("power", "apps"),
        cluster_binding("power", "cluster-admin", "sa:apps/power"),
        role(
            "binder",
            "apps",
            rule("create", "rolebindings", "rbac.authorization.k8s.io"),
            rule("bind", "clusterroles", "rbac.authorization.k8s.io", names="cluster-admin"),
        ),
        binding("binder", "apps", "Role:binder", "user:nina"),
    )
    assert hops(path_of(tree, "user:nina")) == [
        ("User/nina", "bind", "ClusterRole/cluster-admin bound to itself in namespace apps"),
        ("ClusterRole/cluster-admin bound to itself in namespace apps", "pods.create", "ServiceAccount/apps/power"),
    ]


def test_impersonating_system_masters_needs_a_user_to_impersonate() -> None:
    both = join(
        cluster_role("sudo", rule("impersonate", "users,groups")),
        cluster_binding("sudo", "sudo", "user:ivan"),
    )
    assert hops(path_of(both, "user:ivan")) == [("User/ivan", "impersonate.groups", "Group/system:masters")]
    groups_only = both.replace('resources: ["users", "groups"]', 'resources: ["groups"]')
    assert path_of(groups_only, "user:ivan") is None


def test_escalate_on_its_own_clusterrole() -> None:
    tree = join(
        cluster_role(
            "self-editor", rule("escalate,update", "clusterroles", "rbac.authorization.k8s.io", names="self-editor")
        ),
        cluster_binding("self-editor", "self-editor", "user:eve"),
    )
    path = path_of(tree, "user:eve")
    assert hops(path) == [("User/eve", "escalate", "any permission cluster-wide")]
    assert path is not None and {g.role.ref for g in path.hops[0].grants} == {"ClusterRole/self-editor"}
    # escalate on another role does not change eve's own rights
    other = tree.replace('resourceNames: ["self-editor"]', 'resourceNames: ["someone-else"]')
    assert path_of(other, "user:eve") is None


def test_exec_into_a_running_pod_as_a_group() -> None:
    tree = join(
        ADMIN_SA,
        deployment("web", "ci", sa="deployer"),
        role("exec", "ci", rule("create", "pods/exec"), rule("get,list", "pods")),
        binding("devs-exec", "ci", "Role:exec", "group:devs"),
    )
    path = path_of(tree, "group:devs")
    assert hops(path) == [("Group/devs", "pods.exec", "ServiceAccount/ci/deployer")]
    assert path is not None and path.hops[0].via == "Deployment/ci/web runs as ServiceAccount/ci/deployer"
    # a pod that does not mount its token gives nothing to exec into
    no_token = tree.replace(
        "      serviceAccountName: deployer\n",
        "      serviceAccountName: deployer\n      automountServiceAccountToken: false\n",
    )
    assert path_of(no_token, "group:devs") is None


def test_nodes_proxy_reaches_pods_on_every_node() -> None:
    tree = join(
        cluster_binding("operator", "cluster-admin", "sa:kube-system/operator"),
        pod("operator-0", "kube-system", sa="operator"),
        cluster_role("kubelet-reader", rule("get", "nodes/proxy")),
        cluster_binding("monitoring", "kubelet-reader", "group:monitoring"),
    )
    assert hops(path_of(tree, "group:monitoring")) == [
        ("Group/monitoring", "nodes.proxy", "ServiceAccount/kube-system/operator")
    ]
    # through a RoleBinding, nodes/proxy (cluster-scoped) grants nothing
    scoped = tree.replace(
        cluster_binding("monitoring", "kubelet-reader", "group:monitoring"),
        binding("monitoring", "kube-system", "ClusterRole:kubelet-reader", "group:monitoring"),
    )
    assert path_of(scoped, "group:monitoring") is None


def test_csr_approval_issues_a_system_masters_certificate() -> None:
    tree = join(
        cluster_role(
            "csr-approver",
            rule("create", "certificatesigningrequests", "certificates.k8s.io"),
            rule("update", "certificatesigningrequests/approval", "certificates.k8s.io"),
            rule("approve", "signers", "certificates.k8s.io", names="kubernetes.io/kube-apiserver-client"),
        ),
        cluster_binding("csr", "csr-approver", "user:cara"),
    )
    assert hops(path_of(tree, "user:cara")) == [("User/cara", "csr", "Group/system:masters")]
    other_signer = tree.replace("kubernetes.io/kube-apiserver-client", "example.com/internal")
    assert path_of(other_signer, "user:cara") is None


def test_create_a_token_secret_and_read_it_back() -> None:
    tree = join(
        cluster_binding("web-admin", "cluster-admin", "sa:web/admin-sa"),
        role("secrets", "web", rule("create,get", "secrets")),
        binding("app-secrets", "web", "Role:secrets", "sa:web/app"),
    )
    assert hops(path_of(tree, "sa:web/app")) == [
        ("ServiceAccount/web/app", "secrets.create", "ServiceAccount/web/admin-sa")
    ]
    create_only = tree.replace('verbs: ["create", "get"]', 'verbs: ["create"]')
    assert path_of(create_only, "sa:web/app") is None


def test_token_request_restricted_by_name() -> None:
    tree = join(
        cluster_binding("web-admin", "cluster-admin", "sa:web/admin-sa"),
        service_account("harmless", "web"),
        role("tokens", "web", rule("create", "serviceaccounts/token", names="harmless")),
        binding("tokens", "web", "Role:tokens", "user:tina"),
    )
    assert path_of(tree, "user:tina") is None
    assert hops(path_of(tree.replace('["harmless"]', '["admin-sa"]'), "user:tina")) == [
        ("User/tina", "sa.token", "ServiceAccount/web/admin-sa")
    ]


def test_impersonation_cycle_terminates_without_a_path() -> None:
    tree = join(
        cluster_role("as-b", rule("impersonate", "users", names="b")),
        cluster_role("as-a", rule("impersonate", "users", names="a")),
        cluster_binding("a-to-b", "as-b", "user:a"),
        cluster_binding("b-to-a", "as-a", "user:b"),
    )
    assert path_of(tree, "user:a") is None
    assert path_of(tree, "user:b") is None


def test_the_shortest_path_wins() -> None:
    tree = join(
        THREE_HOPS,
        role("direct", "kube-system", rule("create", "pods")),
        binding("dev-direct", "kube-system", "Role:direct", "user:dev"),
    )
    assert hops(path_of(tree, "user:dev")) == [("User/dev", "pods.create", "ServiceAccount/kube-system/kube-admin")]


def test_paths_to_cluster_admin_lists_direct_holders_first() -> None:
    m = model(THREE_HOPS)
    graph = m.escalation_graph()
    paths = graph.paths_to_cluster_admin(m.principals())
    assert [(p.start.ref, p.length) for p in paths] == [
        ("ServiceAccount/kube-system/kube-admin", 0),
        ("ServiceAccount/build/builder", 1),
        ("ServiceAccount/ops/helper", 2),
        ("User/dev", 3),
    ]


def test_mutating_webhook_registration_rewrites_privileged_pods() -> None:
    tree = join(
        cluster_binding("operator", "cluster-admin", "sa:kube-system/operator"),
        deployment("operator", "kube-system", sa="operator"),
        cluster_role("hooks", rule("create", "mutatingwebhookconfigurations", "admissionregistration.k8s.io")),
        cluster_binding("hooks", "hooks", "sa:tools/hook-installer"),
    )
    path = path_of(tree, "sa:tools/hook-installer")
    assert hops(path) == [
        ("ServiceAccount/tools/hook-installer", "webhook.mutating", "ServiceAccount/kube-system/operator")
    ]
    validating = tree.replace("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
    assert path_of(validating, "sa:tools/hook-installer") is None


def test_escalate_on_a_namespaced_role_stays_in_its_namespace() -> None:
    rbac = "rbac.authorization.k8s.io"
    tree = join(
        cluster_binding("batch-admin", "cluster-admin", "sa:batch/runner"),
        role("self", "batch", rule("escalate,patch", "roles", rbac, names="self")),
        binding("self", "batch", "Role:self", "user:olga"),
    )
    assert hops(path_of(tree, "user:olga")) == [
        ("User/olga", "escalate", "any permission in namespace batch"),
        ("any permission in namespace batch", "pods.create", "ServiceAccount/batch/runner"),
    ]
    # the same rights where no privileged service account lives lead nowhere
    elsewhere = join(
        cluster_binding("batch-admin", "cluster-admin", "sa:other/runner"),
        role("self", "batch", rule("escalate,patch", "roles", rbac, names="self")),
        binding("self", "batch", "Role:self", "user:olga"),
    )
    assert path_of(elsewhere, "user:olga") is None
