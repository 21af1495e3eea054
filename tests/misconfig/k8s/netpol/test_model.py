"""The building blocks of the evaluator: port sets, address sets, selectors, API validation, and
what happens with manifests that are broken, hostile or simply not NetworkPolicies."""

from __future__ import annotations

import json
import re

import pytest

from customhouse.misconfig.k8s.netpol import (
    ALL_EXTERNAL,
    ALL_PORTS,
    PUBLIC_IPV4,
    ExternalAccess,
    PortSet,
    Selector,
    describe_addresses,
    matrix_dict,
    to_dot,
)

from .util import analyze_text, deploy, manifests

V4 = 4


def ip(text: str) -> int:
    import ipaddress

    return int(ipaddress.ip_address(text))


def net(cidr: str) -> tuple[int, int, int]:
    import ipaddress

    n = ipaddress.ip_network(cidr)
    return (n.version, int(n.network_address), int(n.broadcast_address))


# --------------------------------------------------------------------------------------------
# ports


def test_port_sets_merge_adjacent_and_overlapping_ranges() -> None:
    p = PortSet.of([("TCP", 80, 80), ("TCP", 81, 90), ("TCP", 85, 100), ("UDP", 53, 53), ("TCP", 443, 443)])
    assert p.ranges == (("TCP", 80, 100), ("TCP", 443, 443), ("UDP", 53, 53))
    assert p.label() == "TCP:80-100,443 UDP:53"


def test_port_set_intersection_and_union() -> None:
    a = PortSet.of([("TCP", 80, 90), ("UDP", 1, 65535)])
    b = PortSet.of([("TCP", 85, 95), ("SCTP", 1, 10), ("UDP", 53, 53)])
    assert (a & b).label() == "TCP:85-90 UDP:53"
    assert (a | b).label() == "TCP:80-95 UDP:* SCTP:1-10"
    assert not (PortSet.of([("TCP", 1, 10)]) & PortSet.of([("UDP", 1, 10)]))
    assert (ALL_PORTS & a) == a and (a | ALL_PORTS).is_all
    assert ALL_PORTS.to_json() == "all"
    assert a.to_json() == [{"protocol": "TCP", "from": 80, "to": 90}, {"protocol": "UDP", "from": 1, "to": 65535}]


# --------------------------------------------------------------------------------------------
# addresses


def test_external_access_is_canonical_however_it_was_spelled() -> None:
    tcp443 = PortSet.of([("TCP", 443, 443)])
    halves = ExternalAccess.build([(net("0.0.0.0/1"), tcp443), (net("128.0.0.0/1"), tcp443)])
    whole = ExternalAccess.build([(net("0.0.0.0/0"), tcp443)])
    assert halves == whole
    assert whole.label() == "0.0.0.0/0: TCP:443"


def test_overlapping_blocks_union_their_ports() -> None:
    a = ExternalAccess.build(
        [
            (net("10.0.0.0/8"), PortSet.of([("TCP", 443, 443)])),
            (net("10.1.0.0/16"), PortSet.of([("TCP", 22, 22)])),
        ]
    )
    assert a.label() == "10.0.0.0/8 except 10.1.0.0/16: TCP:443; 10.1.0.0/16: TCP:22,443"


def test_ports_everywhere_needs_every_address() -> None:
    web = PortSet.of([("TCP", 443, 443)])
    dns = PortSet.of([("UDP", 53, 53)])
    open_ = ExternalAccess.build([(net("0.0.0.0/0"), web), (net("0.0.0.0/0"), dns)])
    assert open_.ports_everywhere(PUBLIC_IPV4).label() == "TCP:443 UDP:53"
    # Excepting private ranges keeps every public address: still the whole internet.
    private_except = ExternalAccess.build([((V4, 0, ip("9.255.255.255")), web), ((V4, ip("11.0.0.0"), 2**32 - 1), web)])
    assert private_except.ports_everywhere(PUBLIC_IPV4) == web
    # One public /32 missing is enough to say "not every address".
    holed = ExternalAccess.build([((V4, 0, ip("8.8.8.7")), web), ((V4, ip("8.8.8.9"), 2**32 - 1), web)])
    assert not holed.ports_everywhere(PUBLIC_IPV4)
    assert not ExternalAccess().ports_everywhere(PUBLIC_IPV4)


def test_describe_addresses_prefers_the_except_form_when_shorter() -> None:
    a = ExternalAccess.build([(net("0.0.0.0/0"), ALL_PORTS)])
    b = ExternalAccess.build(
        [(iv, ALL_PORTS) for iv in [(V4, 0, ip("9.255.255.255")), (V4, ip("11.0.0.0"), 2**32 - 1)]]
    )
    assert describe_addresses([s[:3] for s in a.segments]) == "0.0.0.0/0"
    assert describe_addresses([s[:3] for s in b.segments]) == "0.0.0.0/0 except 10.0.0.0/8"
    c = ExternalAccess.build([(net("10.0.0.0/24"), ALL_PORTS), (net("10.0.2.0/24"), ALL_PORTS)])
    assert describe_addresses([s[:3] for s in c.segments]) == "10.0.0.0/24, 10.0.2.0/24"
    assert ALL_EXTERNAL.label() == "all"


# --------------------------------------------------------------------------------------------
# selectors


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        (Selector(), {}, True),
        (Selector((("app", "web"),)), {"app": "web", "x": "y"}, True),
        (Selector((("app", "web"),)), {"app": "db"}, False),
        (Selector(exprs=(("tier", "In", frozenset({"a", "b"})),)), {"tier": "b"}, True),
        (Selector(exprs=(("tier", "In", frozenset({"a"})),)), {}, False),
        (Selector(exprs=(("tier", "NotIn", frozenset({"a"})),)), {}, True),
        (Selector(exprs=(("tier", "NotIn", frozenset({"a"})),)), {"tier": "a"}, False),
        (Selector(exprs=(("tier", "Exists", frozenset()),)), {"tier": ""}, True),
        (Selector(exprs=(("tier", "DoesNotExist", frozenset()),)), {"tier": ""}, False),
        (Selector((("app", "web"),), (("tier", "Exists", frozenset()),)), {"app": "web"}, False),
    ],
)
def test_label_selector_semantics(selector: Selector, labels: dict[str, str], matches: bool) -> None:
    assert selector.matches(labels) is matches


def test_selector_description_reads_like_kubectl() -> None:
    s = Selector((("app", "web"),), (("tier", "In", frozenset({"b", "a"})), ("legacy", "DoesNotExist", frozenset())))
    assert s.describe() == "app=web,tier in (a,b),!legacy"
    assert Selector().describe() == "(all)"


# --------------------------------------------------------------------------------------------
# what the API server would refuse


def _policy(spec: str) -> str:
    return manifests(
        deploy("web"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: prod}\nspec:\n" + spec,
    )


INVALID = [
    ("  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/8]}}]\n", "strict subset"),
    ("  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]\n", "strict subset"),
    ("  ingress:\n  - from: [{ipBlock: {cidr: '::/0', except: [10.0.0.0/8]}}]\n", "strict subset"),
    ("  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.1}}]\n", "not a valid CIDR"),
    ("  ingress:\n  - from: [{ipBlock: {cidr: 300.0.0.0/8}}]\n", "not a valid CIDR"),
    ("  ingress:\n  - from: [{ipBlock: {}}]\n", "cidr is required"),
    ("  ingress:\n  - from: [{}]\n", "must set podSelector"),
    ("  ingress:\n  - from: [{podSelector: null}]\n", "must set podSelector"),
    ("  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]\n", "may not be combined"),
    ("  ingress:\n  - ports: [{port: http, endPort: 90}]\n", "port is a name"),
    ("  ingress:\n  - ports: [{port: 90, endPort: 80}]\n", "lower than port"),
    ("  ingress:\n  - ports: [{endPort: 80}]\n", "without port"),
    ("  ingress:\n  - ports: [{port: 80, protocol: tcp}]\n", "is not TCP, UDP or SCTP"),
    ("  ingress:\n  - ports: [{port: 80, protocol: ICMP}]\n", "is not TCP, UDP or SCTP"),
    ("  ingress:\n  - ports: [{port: 0}]\n", "not a port number"),
    ("  ingress:\n  - ports: [{port: 70000}]\n", "not a port number"),
    ("  ingress:\n  - ports: [{port: true}]\n", "not a port number"),
    ("  ingress:\n  - ports: [{port: '80'}]\n", "neither a number nor a valid port name"),
    ("  ingress:\n  - ports: [{port: http--alt}]\n", "neither a number nor a valid port name"),
    ("  ingress:\n  - ports: [{port: a-very-long-port-name}]\n", "neither a number nor a valid port name"),
    ("  ingress:\n  - ports: [{port: HTTP}]\n", "neither a number nor a valid port name"),
    ("  podSelector: {matchExpressions: [{key: a, operator: in, values: [x]}]}\n", "is not one of In"),
    ("  podSelector: {matchExpressions: [{key: a, operator: In, values: []}]}\n", "needs at least one value"),
    ("  podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}\n", "takes no values"),
    ("  podSelector: {matchLabels: {version: 1}}\n", "must be a string"),
    ("  podSelector: {matchLabels: [a]}\n", "matchLabels must be an object"),
    ("  podSelector: 5\n", "label selector must be an object"),
    ("  policyTypes: [Ingress, Egress, Ingress]\n", "at most two"),
    ("  policyTypes: [Both]\n", "is not Ingress or Egress"),
    ("  policyTypes: Ingress\n", "policyTypes must be a list"),
    ("  ingress: 5\n", "must be a list of rules"),
    ("  ingress: [5]\n", "rule must be an object"),
    ("  ingress:\n  - from: {podSelector: {}}\n", "from must be a list"),
    ("  ingress:\n  - ports: 80\n", "ports must be a list"),
    ("  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: 10.1.0.0/16}}]\n", "except must be a list"),
]


@pytest.mark.parametrize(("spec", "reason"), INVALID, ids=[r for _s, r in INVALID])
def test_invalid_policies_are_rejected_and_left_out(spec: str, reason: str) -> None:
    a = analyze_text(_policy(spec))
    (p,) = a.policies
    assert not p.valid
    assert any(reason in m for m, _path in p.errors), p.errors
    assert not a.ingress_isolated(0) and not a.egress_isolated(0)


def test_spec_that_is_not_an_object() -> None:
    text = manifests(
        deploy("web"), "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: 5\n"
    )
    (p,) = analyze_text(text).policies
    assert p.errors == [("spec must be an object", ("spec",))]


VALID = [
    "  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.1/8, except: [10.1.0.0/16]}}]\n",  # host bits: accepted
    "  ingress:\n  - ports: [{port: http-alt}, {port: 80, endPort: 80}, {protocol: SCTP}]\n",
    "  podSelector: {matchExpressions: [{key: a, operator: DoesNotExist}]}\n  policyTypes: [Ingress, Egress]\n",
    "  ingress: null\n  egress: []\n  policyTypes: []\n",
]


@pytest.mark.parametrize("spec", VALID)
def test_near_misses_are_valid(spec: str) -> None:
    (p,) = analyze_text(_policy(spec)).policies
    assert p.valid, p.errors


def test_absent_spec_is_the_zero_spec_deny_all_ingress() -> None:
    """A NetworkPolicy without spec selects every pod and, defaulted to [Ingress] with no rules,
    admits nothing: the API accepts it, so it isolates."""
    a = analyze_text(
        manifests(
            deploy("web"),
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: prod}\n",
        )
    )
    assert a.ingress_isolated(0) and not a.egress_isolated(0)
    assert not a.allowed(0, 0)


# --------------------------------------------------------------------------------------------
# broken and foreign input


BROKEN_WORKLOADS = [
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p1, namespace: prod, labels: {app: web}}\nspec: {containers: 5}\n",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p2, namespace: prod}\nspec: null\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d1, namespace: prod}\nspec: {template: 7}\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d2, namespace: prod}\nspec:\n  template:\n"
    "    metadata: {labels: [a]}\n    spec:\n      containers:\n      - {name: c, image: x, ports: 5}\n"
    "      - {name: d, image: x, ports: [5, {name: http, containerPort: web}, {name: 7, containerPort: 80}]}\n",
    "apiVersion: v1\nkind: Pod\nmetadata: null\nspec: {containers: [{name: c, image: x}]}\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: {labels: {a: b}}\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: prod}\ndata: {a: b}\n",
    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
    "- just\n- a list\n",
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: prod}\n"
    "spec:\n  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]\n    ports: [{port: http}]\n",
]


def test_broken_manifests_never_crash_and_foreign_objects_are_counted() -> None:
    a = analyze_text(manifests(*BROKEN_WORKLOADS))
    ids = [w.id for w in a.workloads]
    assert ids == ["Pod/prod/p1", "Deployment/prod/d2", "Pod/default/"]
    d2 = a.workloads[1]
    assert dict(d2.named_ports) == {} and dict(d2.labels) == {}
    assert a.skipped == 4  # p2 (no pod spec), d1 (no template), the ConfigMap, the Widget
    assert any("Namespace without a name" in w for w in a.warnings)
    data = matrix_dict(a)
    json.dumps(data)
    assert data["summary"]["other_objects"] == 4
    # The policy isolates the prod pods; its named port resolves on none of them.
    assert not a.allowed(0, 0) and not a.allowed(1, 0)
    assert to_dot(a).count("->") == len(a.connections())


def test_other_policy_apis_are_reported_not_modelled() -> None:
    text = manifests(
        deploy("web"),
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: calico, namespace: prod}\n"
        "spec: {selector: all()}\n",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: cilium, namespace: prod}\nspec: {}\n",
    )
    a = analyze_text(text)
    assert a.policies == [] and not a.ingress_isolated(0)
    assert any("projectcalico.org/v3 NetworkPolicy calico is not a Kubernetes NetworkPolicy" in w for w in a.warnings)
    assert any("CiliumNetworkPolicy cilium is not modelled" in w for w in a.warnings)


def test_list_kinds_and_several_templates_per_object() -> None:
    text = """
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: prod}
  spec:
    template:
      metadata: {labels: {app: web}}
      spec: {hostNetwork: true, containers: [{name: c, image: x}]}
- apiVersion: example.com/v1
  kind: Pair
  metadata: {name: pair, namespace: prod}
  spec:
    leader: {metadata: {labels: {role: leader}}, spec: {containers: [{name: c, image: x}]}}
    follower: {metadata: {labels: {role: follower}}, spec: {containers: [{name: c, image: x}]}}
"""
    a = analyze_text(text)
    assert [w.id for w in a.workloads] == ["Deployment/prod/web", "Pair/prod/pair#1", "Pair/prod/pair#2"]
    assert a.workloads[0].host_network
    assert [dict(w.labels) for w in a.workloads[1:]] == [{"role": "leader"}, {"role": "follower"}]


def test_same_object_declared_twice_gets_distinct_ids() -> None:
    a = analyze_text(manifests(deploy("web"), deploy("web")))
    assert len({w.id for w in a.workloads}) == 2


# --------------------------------------------------------------------------------------------
# renderings


def test_dot_escapes_hostile_names() -> None:
    text = manifests(
        'apiVersion: v1\nkind: Pod\nmetadata: {name: "evil\\"; x -> y [label=\\"", namespace: "ns\\"}"}\n'
        "spec: {containers: [{name: c, image: x}]}\n"
    )
    dot = to_dot(analyze_text(text))
    assert 'label="Pod/evil\\"; x -> y [label=\\""' in dot
    # Outside quoted strings only the structure we wrote remains.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot)
    assert "evil" not in bare
    assert bare.count("->") == 3  # self, from outside, to outside


def test_matrix_json_shape() -> None:
    text = manifests(
        deploy("web", ports=[("http", 8080, "TCP")]),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: prod}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]\n"
        "    ports: [{port: http}]\n",
    )
    data = matrix_dict(analyze_text(text), "tree")
    assert data["root"] == "tree" and data["schema_version"] == "1.0"
    (w,) = data["workloads"]
    assert w["named_ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert w["ingress_isolated"] and not w["egress_isolated"] and w["ingress_policies"] == ["NetworkPolicy/prod/p"]
    (p,) = data["policies"]
    assert p["selects"] == ["Deployment/prod/web"] and p["policy_types"] == ["Ingress"] and p["valid"]
    inbound = [c for c in data["connections"] if c["from"] == "external"]
    assert inbound == [
        {
            "from": "external",
            "to": "Deployment/prod/web",
            "ports": [{"protocol": "TCP", "from": 8080, "to": 8080}],
            "addresses": [
                "0.0.0.0/5",
                "8.0.0.0/7",
                "11.0.0.0/8",
                "12.0.0.0/6",
                "16.0.0.0/4",
                "32.0.0.0/3",
                "64.0.0.0/2",
                "128.0.0.0/1",
            ],
            "address_summary": "0.0.0.0/0 except 10.0.0.0/8",
        }
    ]


# --------------------------------------------------------------------------------------------
# scale


def test_a_few_hundred_workloads_stay_fast() -> None:
    """40 namespaces x 10 workloads, each namespace with default-deny and allow-same-namespace:
    exactly the 40 x 10 x 10 same-namespace pairs connect, plus every pod to the outside."""
    parts = []
    for n in range(40):
        ns = f"team{n}"
        parts += [deploy(f"w{n}-{k}", ns, {"app": f"w{k}"}) for k in range(10)]
        parts.append(
            f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: same-ns, namespace: {ns}}}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]\n"
        )
    a = analyze_text(manifests(*parts))
    conns = a.connections()
    assert len(a.workloads) == 400
    assert len(conns) == 40 * 10 * 10 + 400
    assert all(c.ports.is_all for c in conns)
