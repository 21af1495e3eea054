"""NetworkPolicy checks (CH-K8S-NP-*): for each, trees that must fail (with the line the finding
points at, looked up from the fixture) and near misses that must not."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from customhouse.misconfig.engine import get_check
from customhouse.report.findings import Finding

from .util import deploy, hits, line_of, manifests, scan

NP_IDS = [f"CH-K8S-NP-00{i}" for i in range(1, 7)]
HEAD = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"


def policy(name: str, *spec: str, ns: str = "prod") -> str:
    """A NetworkPolicy whose spec is `spec`, one YAML line per argument (indented for you)."""
    return f"{HEAD}metadata:\n  name: {name}\n  namespace: {ns}\nspec:\n" + "".join(f"  {line}\n" for line in spec)


WEB = deploy("web")


@dataclass
class Case:
    check_id: str
    failing: str
    needle: str  # text of the line the finding must point at
    passing: str
    name: str = ""
    message: str = ""  # a substring the message must contain


CASES = [
    Case(
        "CH-K8S-NP-001",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "ingress:",
                "- from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]",
                "  ports: [{port: 443}]",
            ),
        ),
        "name: web",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "ingress:",
                "- from: [{ipBlock: {cidr: 52.0.0.0/8}}]",
                "  ports: [{port: 443}]",
            ),
        ),
        "private-except-is-still-internet",
        "admits TCP:443 from every public IPv4 address (via NetworkPolicy/prod/web ingress[0])",
    ),
    Case(
        "CH-K8S-NP-001",
        manifests(WEB, policy("web", "podSelector: {}", "ingress: [{}]")),
        "name: web",
        manifests(WEB, policy("web", "podSelector: {}", "ingress:", "- from: [{podSelector: {}}]")),
        "allow-all-rule",
        "every port of every protocol from every public IPv4 and IPv6 address",
    ),
    Case(
        "CH-K8S-NP-001",
        manifests(
            WEB,
            policy(
                "low", "podSelector: {}", "ingress:", "- from: [{ipBlock: {cidr: 0.0.0.0/1}}]", "  ports: [{port: 80}]"
            ),
            policy(
                "high",
                "podSelector: {}",
                "ingress:",
                "- from: [{ipBlock: {cidr: 128.0.0.0/1}}]",
                "  ports: [{port: 80}]",
            ),
        ),
        "name: web",
        manifests(
            WEB,
            policy(
                "low", "podSelector: {}", "ingress:", "- from: [{ipBlock: {cidr: 0.0.0.0/1}}]", "  ports: [{port: 80}]"
            ),
            policy(
                "high",
                "podSelector: {}",
                "ingress:",
                "- from: [{ipBlock: {cidr: 128.0.0.0/1}}]",
                "  ports: [{port: 81}]",
            ),
        ),
        "split-across-policies",
        "via NetworkPolicy/prod/low ingress[0], NetworkPolicy/prod/high ingress[0]",
    ),
    Case(
        "CH-K8S-NP-001",
        manifests(
            WEB,
            policy(
                "web", "podSelector: {}", "ingress:", "- from: [{ipBlock: {cidr: '::/0'}}]", "  ports: [{port: 443}]"
            ),
        ),
        "name: web",
        # Not isolated at all: the namespace default-deny check's business, not this one's.
        manifests(WEB, policy("other", "podSelector: {matchLabels: {app: other}}", "ingress: [{}]")),
        "ipv6",
        "from every public IPv6 address",
    ),
    Case(
        "CH-K8S-NP-002",
        manifests(
            WEB,
            policy(
                "web", "podSelector: {}", "ingress:", "- from: [{namespaceSelector: {}}]", "  ports: [{port: 8080}]"
            ),
        ),
        "name: web",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "ingress:",
                "- from:",
                "  - namespaceSelector:",
                "      matchLabels: {kubernetes.io/metadata.name: monitoring}",
            ),
        ),
        "empty-namespace-selector",
        "admits TCP:8080 from pods in any namespace (via NetworkPolicy/prod/web ingress[0])",
    ),
    Case(
        "CH-K8S-NP-002",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "ingress:",
                "- from:",
                "  - namespaceSelector:",
                "      matchExpressions:",
                "      - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}",
                "    podSelector: {matchLabels: {role: scraper}}",
            ),
        ),
        "name: web",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "ingress:",
                "- from:",
                "  - namespaceSelector:",
                "      matchExpressions: [{key: team, operator: Exists}]",
                "    podSelector: {matchLabels: {role: scraper}}",
            ),
        ),
        "notin-and-pod-labels",
        "(pods labelled role=scraper, labels any pod's author can set)",
    ),
    Case(
        "CH-K8S-NP-003",
        manifests(
            WEB,
            policy(
                "web", "podSelector: {}", "policyTypes: [Egress]", "egress:", "- to: [{ipBlock: {cidr: 0.0.0.0/0}}]"
            ),
        ),
        "name: web",
        manifests(
            WEB,
            policy(
                "web",
                "podSelector: {}",
                "policyTypes: [Egress]",
                "egress:",
                "- to: [{ipBlock: {cidr: 0.0.0.0/0}}]",
                "  ports: [{port: 443}]",
            ),
        ),
        "ipblock-without-ports",
        "may connect to every public IPv4 address on every port of every protocol (via "
        "NetworkPolicy/prod/web egress[0])",
    ),
    Case(
        "CH-K8S-NP-003",
        manifests(
            WEB, policy("web", "podSelector: {}", "policyTypes: [Egress]", "egress:", "- ports: [{protocol: TCP}]")
        ),
        "name: web",
        manifests(
            WEB, policy("web", "podSelector: {}", "policyTypes: [Egress]", "egress:", "- ports: [{protocol: UDP}]")
        ),
        "every-tcp-port-anywhere",
        "on TCP:*",
    ),
    Case(
        "CH-K8S-NP-004",
        manifests(WEB, policy("typo", "podSelector:", "  matchLabels: {app: wbe}", "ingress: []")),
        "podSelector:",
        manifests(WEB, policy("typo", "podSelector:", "  matchLabels: {app: wbe}", "ingress: []", ns="elsewhere")),
        "typo",
        "podSelector app=wbe matches none of the 1 workload(s) in namespace prod (Deployment/prod/web)",
    ),
    Case(
        "CH-K8S-NP-004",
        manifests(WEB, policy("bare", "podSelector: {matchLabels: {tier: none}}")),
        "podSelector:",
        manifests(WEB, policy("bare", "podSelector: {matchLabels: {app: web}}")),
        "without-rules",
    ),
    Case(
        "CH-K8S-NP-005",
        manifests(
            WEB,
            policy("web", "podSelector: {}", "ingress:", "- from:", "  - podSelector: {matchLabels: {app: frontend}}"),
        ),
        "- podSelector: {matchLabels: {app: frontend}}",
        manifests(
            WEB,
            policy("web", "podSelector: {}", "ingress:", "- from:", "  - podSelector: {matchLabels: {app: web}}"),
        ),
        "peer-matches-nothing",
        "ingress[0]: peer (pods app=frontend in namespace prod) matches no workload in namespace(s) prod",
    ),
    Case(
        "CH-K8S-NP-005",
        manifests(
            WEB,
            policy("web", "podSelector: {}", "policyTypes: [Egress]", "ingress:", "- from: [{podSelector: {}}]"),
        ),
        "  ingress:",
        manifests(
            WEB,
            policy(
                "web", "podSelector: {}", "policyTypes: [Egress, Ingress]", "ingress:", "- from: [{podSelector: {}}]"
            ),
        ),
        "rules-outside-policy-types",
        "the ingress rules have no effect: policyTypes does not include Ingress",
    ),
    Case(
        "CH-K8S-NP-006",
        manifests(WEB, policy("bad", "podSelector: {}", "ingress:", "- ports:", "  - {port: http, endPort: 90}")),
        "endPort: 90",
        manifests(WEB, policy("bad", "podSelector: {}", "ingress:", "- ports:", "  - {port: 80, endPort: 90}")),
        "endport-with-name",
        "NetworkPolicy/prod/bad: endPort may not be set when port is a name",
    ),
    Case(
        "CH-K8S-NP-006",
        manifests(
            WEB,
            policy(
                "bad",
                "podSelector: {}",
                "egress:",
                "- to:",
                "  - ipBlock:",
                "      cidr: 10.0.0.0/24",
                "      except: [10.0.1.0/24]",
            ),
        ),
        "except: [10.0.1.0/24]",
        manifests(
            WEB,
            policy(
                "bad",
                "podSelector: {}",
                "egress:",
                "- to:",
                "  - ipBlock:",
                "      cidr: 10.0.0.0/16",
                "      except: [10.0.1.0/24]",
            ),
        ),
        "except-outside-cidr",
        "except 10.0.1.0/24 is not a strict subset of 10.0.0.0/24",
    ),
]


def _ids(c: Case) -> str:
    return f"{c.check_id}-{c.name}" if c.name else c.check_id


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_failing_fixture_points_at_the_line(case: Case) -> None:
    found = hits(scan(("manifests.yaml", case.failing)), case.check_id)
    assert [f.location.line for f in found] == [line_of(case.failing, case.needle)], [f.message for f in found]
    (f,) = found
    assert f.location.path == "manifests.yaml"
    assert (
        f.misconfiguration is not None
        and f.misconfiguration.snippet.strip() == case.failing.splitlines()[f.location.line - 1].strip()
    )
    if case.message:
        assert case.message in f.message, f.message


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_near_miss_passes(case: Case) -> None:
    found = hits(scan(("manifests.yaml", case.passing)), case.check_id)
    assert found == [], [f.message for f in found]


def test_every_check_has_a_case_and_metadata() -> None:
    assert {c.check_id for c in CASES} == set(NP_IDS)
    for cid in NP_IDS:
        c = get_check(cid)
        assert c is not None and c.meta.file_types == ("kubernetes-tree",)
        assert c.meta.frameworks.pairs(), cid


def _on(found: list[Finding], check_id: str) -> list[tuple[str, str]]:
    return sorted((f.location.path, f.location.resource_name) for f in hits(found, check_id))


def test_findings_name_the_file_of_the_object_they_are_about() -> None:
    """Across files, a workload finding points at the workload's manifest and a policy finding
    at the policy's, whichever file made the workload reachable."""
    found = scan(
        ("apps/web.yaml", WEB),
        ("apps/api.yaml", deploy("api")),
        (
            "policies/np.yaml",
            manifests(
                policy("open", "podSelector: {}", "ingress: [{}]"),
                policy("typo", "podSelector: {matchLabels: {app: nope}}"),
            ),
        ),
    )
    assert _on(found, "CH-K8S-NP-001") == [("apps/api.yaml", "api"), ("apps/web.yaml", "web")]
    assert _on(found, "CH-K8S-NP-004") == [("policies/np.yaml", "typo")]
    (typo,) = hits(found, "CH-K8S-NP-004")
    assert typo.location.resource_kind == "NetworkPolicy" and typo.location.resource_namespace == "prod"


def test_policies_without_their_workloads_are_not_flagged() -> None:
    """A tree of policies only (workloads deployed from elsewhere) must not be reported as
    selecting nothing or as having peers that match nothing."""
    text = manifests(
        policy("deny", "podSelector: {}"),
        policy(
            "db",
            "podSelector: {matchLabels: {app: db}}",
            "ingress:",
            "- from: [{podSelector: {matchLabels: {app: api}}}]",
        ),
    )
    found = scan(("np.yaml", text))
    assert hits(found, "CH-K8S-NP-004") == [] and hits(found, "CH-K8S-NP-005") == []


def test_invalid_policy_reports_every_error_and_nothing_else() -> None:
    text = manifests(
        WEB,
        policy(
            "bad",
            "podSelector: {}",
            "ingress:",
            "- from:",
            "  - {}",
            "  ports:",
            "  - {port: 80, protocol: ICMP}",
            "- from: [{ipBlock: {cidr: nonsense}}]",
        ),
    )
    found = scan(("np.yaml", text))
    assert [f.id for f in found if f.id.startswith("CH-K8S-NP")] == ["CH-K8S-NP-006"] * 3
    assert [f.location.line for f in hits(found, "CH-K8S-NP-006")] == [
        line_of(text, "- {}"),
        line_of(text, "protocol: ICMP"),
        line_of(text, "cidr: nonsense"),
    ]


def test_broken_input_never_crashes_the_checks() -> None:
    text = manifests(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod}\nspec: {containers: 5}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: prod}\nspec: {template: {spec: null}}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: prod}\nspec:\n"
        "  containers: [{name: c, image: x, ports: null, securityContext: null}]\n",
        policy(
            "x",
            "podSelector: null",
            "ingress: [{from: null, ports: null}]",
            "egress: [{to: [{namespaceSelector: null, podSelector: {}}]}]",
        ),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: 5\nspec: []\n",
    )
    found = scan(("m.yaml", text))
    ids = sorted(f.id for f in found if f.id.startswith("CH-K8S-NP"))
    # p and q are isolated by x (podSelector null = every pod), which admits everything.
    assert ids == ["CH-K8S-NP-001"] * 2 + ["CH-K8S-NP-002"] * 2 + ["CH-K8S-NP-006"]
