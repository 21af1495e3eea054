"""NetworkPolicy scenarios, each with its whole expected connectivity matrix written out.

Rows are sources, columns destinations, `ext` is everything outside the cluster; a cell holds
the ports the source may open on the destination (`all`: every port of TCP, UDP and SCTP;
`TCP:*`: every TCP port), empty means denied, and an `ext` cell names the addresses too. Every
matrix is checked twice: pair by pair through the evaluator, and rebuilt from the connection
list the JSON, table and dot outputs are made of.

The docstrings of several scenarios derive their matrix from the Kubernetes documentation
(concepts/services-networking/network-policies and the networking.k8s.io/v1 API reference), so
the expectation rests on the specification, not on what the code happens to return.
"""

from __future__ import annotations

import pytest

from customhouse.misconfig.k8s.netpol import Analysis

from .util import analyze_text, deploy, grid, grid_from_connections, manifests, namespace, parse_grid


def check(a: Analysis, expected: str) -> None:
    want = parse_grid(expected)
    got = grid(a)
    assert set(got) == set(want), f"cells differ: missing {set(got) - set(want)}, extra {set(want) - set(got)}"
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, f"(got, expected) per cell: {wrong}"
    assert grid_from_connections(a) == want


def test_no_policies_everything_is_open() -> None:
    """Without any NetworkPolicy no pod is isolated, so every cell is `all`."""
    a = analyze_text(manifests(deploy("web"), deploy("db")))
    check(
        a,
        """
             | web | db  | ext
        web  | all | all | all
        db   | all | all | all
        ext  | all | all |
        """,
    )


def test_default_deny_ingress() -> None:
    """An empty podSelector selects every pod of the policy's namespace; with policyTypes
    [Ingress] and no ingress rules the policy "does not allow any traffic (and serves solely to
    ensure that the pods it selects are isolated by default)" (API reference, `ingress`). So
    web and db (prod) accept nothing, from pods or from outside. Egress is untouched: no policy
    has Egress in its types, so every pod may still send anywhere, which is why the `tool`
    column (namespace dev, no policy at all) and every `ext` destination stay `all`."""
    a = analyze_text(
        manifests(
            deploy("web"),
            deploy("db"),
            deploy("tool", "dev"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress]
""",
        )
    )
    check(
        a,
        """
             | web | db | tool | ext
        web  |     |    | all  | all
        db   |     |    | all  | all
        tool |     |    | all  | all
        ext  |     |    | all  |
        """,
    )


def test_allow_same_namespace() -> None:
    """A `from` peer with only `podSelector: {}` means every pod of the policy's own namespace;
    the deny-all and the allow policy both select web and db, and their rules are unioned."""
    a = analyze_text(
        manifests(
            deploy("web"),
            deploy("db"),
            deploy("tool", "dev"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-same-namespace, namespace: prod}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
""",
        )
    )
    check(
        a,
        """
             | web | db  | tool | ext
        web  | all | all | all  | all
        db   | all | all | all  | all
        tool |     |     | all  | all
        ext  |     |     | all  |
        """,
    )


TENANTS = [
    namespace("alice", {"user": "alice"}),
    namespace("bob", {"user": "bob"}),
    deploy("a-client", "alice", {"role": "client"}),
    deploy("a-other", "alice", {"role": "other"}),
    deploy("b-client", "bob", {"role": "client"}),
    deploy("db", "prod", {"app": "db"}),
]


def test_namespace_and_pod_selector_in_one_peer_is_and() -> None:
    """The documentation's own example: one `from` element holding both namespaceSelector
    (user=alice) and podSelector (role=client) "allow[s] connections from Pods with the label
    role=client in namespaces with the label user=alice". Only a-client qualifies: a-other is in
    alice with the wrong role, b-client has the role in the wrong namespace, db itself is in prod.
    Nothing else is isolated, so every other cell is `all`."""
    a = analyze_text(
        manifests(
            *TENANTS,
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {user: alice}}
      podSelector: {matchLabels: {role: client}}
""",
        )
    )
    check(
        a,
        """
                 | a-client | a-other | b-client | db  | ext
        a-client | all      | all     | all      | all | all
        a-other  | all      | all     | all      |     | all
        b-client | all      | all     | all      |     | all
        db       | all      | all     | all      |     | all
        ext      | all      | all     | all      |     |
        """,
    )


def test_two_peers_are_or() -> None:
    """Split into two `from` elements, the same selectors mean "Pods in the local Namespace with
    the label role=client, *or* any Pod in any namespace with the label user=alice" (concepts
    page). So both alice pods get in, prod-client (prod, role=client) gets in, and b-client does
    not: its role matches but a podSelector-only peer looks in the policy's namespace only."""
    a = analyze_text(
        manifests(
            *TENANTS,
            deploy("prod-client", "prod", {"role": "client"}),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {user: alice}}
    - podSelector: {matchLabels: {role: client}}
""",
        )
    )
    check(
        a,
        """
                    | a-client | a-other | b-client | db  | prod-client | ext
        a-client    | all      | all     | all      | all | all         | all
        a-other     | all      | all     | all      | all | all         | all
        b-client    | all      | all     | all      |     | all         | all
        db          | all      | all     | all      |     | all         | all
        prod-client | all      | all     | all      | all | all         | all
        ext         | all      | all     | all      |     | all         |
        """,
    )


def test_named_ports_resolve_per_destination() -> None:
    """A named port means the port of that name on the pod receiving the traffic: for ingress
    the selected pod, for egress the destination pod. `http` is 8080 on web and 9090 on api and
    does not exist on legacy (which only has an unnamed port 80), so the one ingress rule admits
    client on 8080 to web, 9090 to api and nothing to legacy. client's own egress allows `http`
    and 9100 to tier=front pods; the connection needs both sides, so 9100 (not admitted by
    ingress) drops out. client's egress has no ipBlock and no peer matching itself, so client
    reaches neither itself nor the outside; the front pods admit only client."""
    a = analyze_text(
        manifests(
            deploy(
                "web", labels={"app": "web", "tier": "front"}, ports=[("http", 8080, "TCP"), ("metrics", 9100, "TCP")]
            ),
            deploy("api", labels={"app": "api", "tier": "front"}, ports=[("http", 9090, "TCP")]),
            deploy("legacy", labels={"app": "legacy", "tier": "front"}, unnamed=[80]),
            deploy("client"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: front, namespace: prod}
spec:
  podSelector: {matchLabels: {tier: front}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {tier: front}}}]
    ports: [{port: http}, {port: 9100}]
""",
        )
    )
    check(
        a,
        """
               | web      | api      | legacy | client | ext
        web    |          |          |        | all    | all
        api    |          |          |        | all    | all
        legacy |          |          |        | all    | all
        client | TCP:8080 | TCP:9090 |        |        |
        ext    |          |          |        | all    |
        """,
    )


def test_named_port_matches_its_protocol_only() -> None:
    """A named port is looked up with the entry's protocol: `dns` is UDP 53 on the server, so
    {port: dns} (TCP by default) names nothing there while {port: dns, protocol: UDP} is 53/UDP."""
    a = analyze_text(
        manifests(
            deploy("server", ports=[("dns", 53, "UDP")]),
            deploy("client"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns, namespace: prod}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: dns}]
  - from: [{podSelector: {}}]
    ports: [{port: dns, protocol: UDP}]
""",
        )
    )
    check(
        a,
        """
               | server | client | ext
        server | UDP:53 | all    | all
        client | UDP:53 | all    | all
        ext    |        | all    |
        """,
    )


def test_end_port_ranges() -> None:
    """`endPort` makes port..endPort inclusive; adjacent and overlapping entries merge, and a
    range of one port (9000-9000) is that port."""
    a = analyze_text(
        manifests(
            deploy("server"),
            deploy("client"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server, namespace: prod}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports:
    - {port: 8000, endPort: 8100}
    - {port: 8101}
    - {port: 8050, endPort: 8060}
    - {port: 9000, endPort: 9000}
    - {protocol: UDP, port: 8000, endPort: 8010}
""",
        )
    )
    check(
        a,
        """
               | server                           | client | ext
        server |                                  | all    | all
        client | TCP:8000-8101,9000 UDP:8000-8010 | all    | all
        ext    |                                  | all    |
        """,
    )


def test_protocols_udp_sctp_and_default_tcp() -> None:
    """`protocol` defaults to TCP, so {port: 53} is 53/TCP next to the explicit 53/UDP. A ports
    entry with a protocol and no port matches "all port names and numbers" of that protocol:
    client's first egress rule (no `to`: every destination, pods and outside) allows every UDP
    port; its second allows SCTP 3868 to diameter only. Each cell is ingress AND egress:
    client->dns is {TCP:53, UDP:53} & {UDP:*} = UDP:53; client->diameter is SCTP:3868;
    client->client is everything (client is not ingress-isolated) & UDP:*."""
    a = analyze_text(
        manifests(
            deploy("dns"),
            deploy("diameter"),
            deploy("client"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns, namespace: prod}
spec:
  podSelector: {matchLabels: {app: dns}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: UDP, port: 53}, {port: 53}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: diameter, namespace: prod}
spec:
  podSelector: {matchLabels: {app: diameter}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: SCTP, port: 3868}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client, namespace: prod}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP}]
  - to: [{podSelector: {matchLabels: {app: diameter}}}]
    ports: [{protocol: SCTP, port: 3868}]
""",
        )
    )
    check(
        a,
        """
                 | dns    | diameter  | client | ext
        dns      |        |           | all    | all
        diameter |        |           | all    | all
        client   | UDP:53 | SCTP:3868 | UDP:*  | 0.0.0.0/0, ::/0: UDP:*
        ext      |        |           | all    |
        """,
    )


def test_egress_isolation_only() -> None:
    """policyTypes [Egress] isolates the selected pods for egress only ("If you want to isolate a
    pod for outbound connections ... Egress in its policyTypes"); their ingress stays open. app
    may reach db on 5432/TCP and nothing else, not even itself or the outside; every other pod is
    unrestricted in both directions."""
    a = analyze_text(
        manifests(
            deploy("app"),
            deploy("db"),
            deploy("other", "dev"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app-egress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
""",
        )
    )
    check(
        a,
        """
              | app | db       | other | ext
        app   |     | TCP:5432 |       |
        db    | all | all      | all   | all
        other | all | all      | all   | all
        ext   | all | all      | all   |
        """,
    )


def test_ip_block_with_except() -> None:
    """ipBlock admits a CIDR minus its `except` ranges: web takes 443/TCP from 0.0.0.0/0 except
    10/8 and 192.168/16, and 8443/TCP from 10/8 except 10.1/16 (10.1/16 and 192.168/16 get
    nothing). batch may reach 10/8 except 10.96/12 on 5432 and 2001:db8::/32 on every port.
    ipBlock peers match outside addresses only (our documented reading of "these should be
    cluster-external IPs"), so web's ingress admits no pod at all, and batch, whose egress lists
    ipBlocks only, reaches no pod either."""
    a = analyze_text(
        manifests(
            deploy("web"),
            deploy("batch"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16]}
    ports: [{port: 443}]
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports: [{port: 8443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: batch-out, namespace: prod}
spec:
  podSelector: {matchLabels: {app: batch}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.96.0.0/12]}}]
    ports: [{port: 5432}]
  - to: [{ipBlock: {cidr: "2001:db8::/32"}}]
""",
        )
    )
    check(
        a,
        """
              | web | batch | ext
        web   |     | all   | all
        batch |     |       | 10.0.0.0/8 except 10.96.0.0/12: TCP:5432; 2001:db8::/32: all
        ext   | 0.0.0.0/0 except 10.0.0.0/8, 192.168.0.0/16: TCP:443; 10.0.0.0/8 except 10.1.0.0/16: TCP:8443 | all |
        """,
    )


def test_policy_in_another_namespace_selects_nothing_here() -> None:
    """A policy's podSelector only selects pods of the policy's namespace: the deny policy in
    `other` isolates web2 there and leaves prod's web (same labels) open."""
    a = analyze_text(
        manifests(
            deploy("web", "prod", {"app": "web"}),
            deploy("web2", "other", {"app": "web"}),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-web, namespace: other}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: []
""",
        )
    )
    check(
        a,
        """
             | web | web2 | ext
        web  | all |      | all
        web2 | all |      | all
        ext  | all |      |
        """,
    )


def test_match_expressions_operators() -> None:
    """Label selector requirements: In (key present, value listed), NotIn (key absent or value
    not listed), Exists, DoesNotExist; requirements of one selector are ANDed. Each rule opens
    its own port so the cell shows which requirement admitted whom:
    1001 tier In (frontend, edge); 1002 tier NotIn (frontend); 1003 canary Exists;
    1004 legacy DoesNotExist AND tier Exists.
    fe (tier=frontend): 1001, 1004. edge (tier=edge, legacy): 1001, 1002.
    be (tier=backend, canary): 1002, 1003, 1004. bare (no tier): 1002.
    server (app=server only): NotIn matches a missing key, so 1002."""
    a = analyze_text(
        manifests(
            deploy("server"),
            deploy("fe", labels={"tier": "frontend"}),
            deploy("edge", labels={"tier": "edge", "legacy": "true"}),
            deploy("be", labels={"tier": "backend", "canary": "yes"}),
            deploy("bare", labels={"role": "batch"}),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server, namespace: prod}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: tier, operator: In, values: [frontend, edge]}]}}]
    ports: [{port: 1001}]
  - from: [{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [frontend]}]}}]
    ports: [{port: 1002}]
  - from: [{podSelector: {matchExpressions: [{key: canary, operator: Exists}]}}]
    ports: [{port: 1003}]
  - from:
    - podSelector:
        matchExpressions:
        - {key: legacy, operator: DoesNotExist}
        - {key: tier, operator: Exists}
    ports: [{port: 1004}]
""",
        )
    )
    check(
        a,
        """
               | server        | fe  | edge | be  | bare | ext
        server | TCP:1002      | all | all  | all | all  | all
        fe     | TCP:1001,1004 | all | all  | all | all  | all
        edge   | TCP:1001-1002 | all | all  | all | all  | all
        be     | TCP:1002-1004 | all | all  | all | all  | all
        bare   | TCP:1002      | all | all  | all | all  | all
        ext    |               | all | all  | all | all  |
        """,
    )


def test_allow_all_rule_is_unioned_with_deny_all() -> None:
    """`ingress: [{}]` is one rule with no `from` and no `ports`: "If this field is empty or
    missing, this rule matches all sources" and all ports, so web admits everything, from pods
    and from outside, although the deny-all policy selects it too (policies are additive; the
    union of their rules applies). deny-all lists Egress as well and has no egress rules, so web
    and db may not send anything: web's open ingress is used by tool (dev, unrestricted) and the
    outside only. db admits nothing."""
    a = analyze_text(
        manifests(
            deploy("web"),
            deploy("db"),
            deploy("tool", "dev"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
""",
        )
    )
    check(
        a,
        """
             | web | db | tool | ext
        web  |     |    |      |
        db   |     |    |      |
        tool | all |    | all  | all
        ext  | all |    | all  |
        """,
    )


def test_namespace_labels_and_the_automatic_name_label() -> None:
    """namespaceSelector reads the Namespace objects' labels, plus `kubernetes.io/metadata.name`,
    which the API server sets to the namespace's name on every namespace (and overwrites if a
    manifest sets it). payments is declared with team=payments; shop is declared with team=shop
    and a forged metadata.name of `payments`, which does not survive; monitoring and data are
    never declared and carry only their name label. So pay gets 5432, cart gets 6432 (team=shop)
    and not 5432, prom gets 9187 (name label of an undeclared namespace), and db's own namespace
    gets nothing."""
    a = analyze_text(
        manifests(
            namespace("payments", {"team": "payments"}),
            namespace("shop", {"team": "shop", "kubernetes.io/metadata.name": "payments"}),
            deploy("pay", "payments"),
            deploy("cart", "shop"),
            deploy("prom", "monitoring"),
            deploy("db", "data"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: payments}}}]
    ports: [{port: 5432}]
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{port: 9187}]
  - from: [{namespaceSelector: {matchLabels: {team: shop}}}]
    ports: [{port: 6432}]
""",
        )
    )
    check(
        a,
        """
             | pay | cart | prom | db       | ext
        pay  | all | all  | all  | TCP:5432 | all
        cart | all | all  | all  | TCP:6432 | all
        prom | all | all  | all  | TCP:9187 | all
        db   | all | all  | all  |          | all
        ext  | all | all  | all  |          |
        """,
    )
    assert a.namespaces["shop"].labels["kubernetes.io/metadata.name"] == "shop"
    assert dict(a.namespaces["monitoring"].labels) == {"kubernetes.io/metadata.name": "monitoring"}


def test_policy_types_defaulting() -> None:
    """Without policyTypes, "Ingress will always be set and Egress will be set if the
    NetworkPolicy has any egress rules" (concepts page). p-a has egress rules: a becomes isolated
    both ways (no ingress rules: nothing in; out only to b). p-b's `egress: []` has no rules, so
    it is Ingress only: b admits a and sends freely. p-c says policyTypes [Egress]: its ingress
    rules are ignored (c's ingress stays open) and, with no egress rules, c sends nothing."""
    a = analyze_text(
        manifests(
            deploy("a"),
            deploy("b"),
            deploy("c"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p-a, namespace: prod}
spec:
  podSelector: {matchLabels: {app: a}}
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p-b, namespace: prod}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
  egress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p-c, namespace: prod}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: nobody}}}]
""",
        )
    )
    check(
        a,
        """
            | a | b   | c   | ext
        a   |   | all |     |
        b   |   |     | all | all
        c   |   |     |     |
        ext |   |     | all |
        """,
    )


def test_both_sides_must_allow() -> None:
    """A connection needs the sender's egress and the receiver's ingress: a may send 80-90 to b,
    b admits 85 and 95 from a, so only 85 gets through."""
    a = analyze_text(
        manifests(
            deploy("a"),
            deploy("b"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-out, namespace: prod}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 80, endPort: 90}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-in, namespace: prod}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
    ports: [{port: 85}, {port: 95}]
""",
        )
    )
    check(
        a,
        """
            | a   | b      | ext
        a   |     | TCP:85 |
        b   | all |        | all
        ext | all |        |
        """,
    )


def test_rejected_policy_is_not_applied() -> None:
    """An `except` outside its `cidr` fails API validation, so this deny-all never exists in a
    cluster: nothing is isolated, and the policy is marked invalid with the reason."""
    a = analyze_text(
        manifests(
            deploy("web"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: prod}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]
""",
        )
    )
    check(
        a,
        """
            | web | ext
        web | all | all
        ext | all |
        """,
    )
    (p,) = a.policies
    assert not p.valid and "strict subset" in p.errors[0][0]


def test_empty_pod_selector_in_peer_versus_namespace_selector_alone() -> None:
    """`podSelector: {}` alone is every pod of the policy's namespace; `namespaceSelector: {}`
    alone is every pod of every namespace. db (prod) admits its namespace on 5432 and every
    namespace on 9187; neither is an ipBlock, so the outside gets nothing."""
    a = analyze_text(
        manifests(
            deploy("db"),
            deploy("web"),
            deploy("tool", "dev"),
            """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: 5432}]
  - from: [{namespaceSelector: {}}]
    ports: [{port: 9187}]
""",
        )
    )
    check(
        a,
        """
             | db            | web | tool | ext
        db   | TCP:5432,9187 | all | all  | all
        web  | TCP:5432,9187 | all | all  | all
        tool | TCP:9187      | all | all  | all
        ext  |               | all | all  |
        """,
    )


@pytest.mark.parametrize("replicas_kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_controllers_use_their_template_labels(replicas_kind: str) -> None:
    """Policies select pods, so a controller's pod template labels count, not its own labels."""
    text = manifests(
        f"""
apiVersion: apps/v1
kind: {replicas_kind}
metadata: {{name: svc, namespace: prod, labels: {{app: wrong}}}}
spec:
  selector: {{matchLabels: {{app: svc}}}}
  template:
    metadata: {{labels: {{app: svc}}}}
    spec:
      containers: [{{name: c, image: x}}]
""",
        """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: prod}
spec:
  podSelector: {matchLabels: {app: svc}}
""",
    )
    check(
        analyze_text(text),
        """
            | svc | ext
        svc |     | all
        ext |     |
        """,
    )
