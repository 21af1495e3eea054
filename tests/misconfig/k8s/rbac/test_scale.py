"""Thousands of bindings: the model, the escalation graph and every RBAC check stay fast and exact."""

from __future__ import annotations

from customhouse.misconfig.engine import Options, all_checks
from customhouse.misconfig.k8s.objects import tree_document
from customhouse.misconfig.k8s.rbac import RbacModel

from .util import binding, cluster_binding, deployment, docs, join, role, rule, service_account

NAMESPACES = 150
BINDINGS_PER_NS = 20


def big_tree() -> str:
    """Every namespace: 5 SAs, a workload, a Role and 20 bindings (users, shared groups, SAs).

    Every tenth namespace's Role can create pods; only ns0 holds a cluster-admin service account,
    so exactly the pod creators of ns0 have an escalation path.
    """
    parts = [cluster_binding("admin", "cluster-admin", "sa:ns0/sa1")]
    for n in range(NAMESPACES):
        ns = f"ns{n}"
        parts += [service_account(f"sa{i}", ns) for i in range(5)]
        parts.append(deployment(f"web{n}", ns, sa="sa0"))
        extra_rule = rule("create", "pods") if n % 10 == 0 else rule("get", "services")
        parts.append(role("dev", ns, rule("get,list", "pods,configmaps"), extra_rule))
        for b in range(BINDINGS_PER_NS):
            ref = "Role:dev" if b % 2 else "ClusterRole:view"
            parts.append(binding(f"b{b}", ns, ref, f"user:u{n}-{b}", f"group:g{b}", f"sa:{ns}/sa{b % 5}"))
    return join(*parts)


def test_thousands_of_bindings() -> None:
    tree = docs({"big.yaml": big_tree()})
    model = RbacModel.from_documents(tree)
    assert len(model.bindings) == NAMESPACES * BINDINGS_PER_NS + 1
    graph = model.escalation_graph()
    paths = graph.paths_to_cluster_admin(model.principals())
    doc = tree_document("big", tree)
    findings = []
    for c in all_checks():
        if c.meta.id.startswith("CH-K8S-RBAC-"):
            findings += [(c.meta.id, v) for v in c.run(doc, Options())]

    odd = [b for b in range(BINDINGS_PER_NS) if b % 2]
    expected = {f"User/u0-{b}" for b in odd} | {f"Group/g{b}" for b in odd}
    expected |= {f"ServiceAccount/ns0/sa{b % 5}" for b in odd} - {"ServiceAccount/ns0/sa1"}
    escalating = {dict(v.extra)["subject"] for cid, v in findings if cid == "CH-K8S-RBAC-014"}
    assert escalating == expected
    assert {p.start.ref for p in paths if p.hops} == expected
    assert all(p.length == 1 for p in paths if p.hops)
    # pod creation: every odd binding of every tenth namespace, one finding per subject
    creators = [v for cid, v in findings if cid == "CH-K8S-RBAC-004"]
    assert len(creators) == (NAMESPACES // 10) * len(odd) * 3
    for v in creators:
        facts = dict(v.extra)
        assert (
            facts["scope"] in {f"ns{n}" for n in range(0, NAMESPACES, 10)}
            and facts["role"] == f"Role/{facts['scope']}/dev"
        )
