"""NetworkPolicy checks (CH-K8S-NP-*): what the policies of a whole tree actually allow.

These run once per tree (file type `kubernetes-tree`) because no single manifest decides
reachability: whether a workload is reachable from the internet depends on every policy that
selects it. Each check reads the evaluated model of customhouse/misconfig/k8s/netpol.py, which is
built once per tree and shared by all of them.

Workload findings are only raised for workloads that *are* isolated by some policy, i.e. where
someone wrote a policy and it still lets too much through. A workload no policy selects accepts
everything; that gap is the "namespace without a default-deny NetworkPolicy" hardening check's
to report, once per namespace, not once per workload here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.k8s.netpol import (
    ALL_TCP,
    PUBLIC_IPV4,
    PUBLIC_IPV6,
    Analysis,
    ExternalEntry,
    Interval,
    Policy,
    PortSet,
    Workload,
    analyze,
    rule_ref,
    tree_documents,
)
from customhouse.misconfig.k8s.objects import K8sObject
from customhouse.misconfig.yamlsrc import Path_, json_path

NETPOL_DOCS = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"
NETPOL_API = "https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/"
CIS_K8S = "https://www.cisecurity.org/benchmark/kubernetes"
NIST_800_190 = "https://csrc.nist.gov/pubs/sp/800/190/final"

_cache: list[tuple[Document, Analysis]] = []


def analysis(doc: Document) -> Analysis:
    """The tree's evaluated policies, computed once however many checks ask."""
    if _cache and _cache[0][0] is doc:
        return _cache[0][1]
    result = analyze(tree_documents(doc))
    _cache[:] = [(doc, result)]
    return result


def _at(obj: K8sObject, keys: Path_, message: str, fix: str = "", extra: Iterable[tuple[str, str]] = ()) -> Violation:
    line = obj.line(*keys)
    return Violation(
        message=message,
        line=line,
        column=obj.column(*keys),
        snippet=obj.doc.source(line),
        fix=fix,
        json_path=json_path((*obj.path, *keys)),
        resource_kind=obj.kind,
        resource_namespace=obj.namespace,
        resource_name=obj.name,
        path=obj.doc.path,
        extra=tuple(extra),
    )


def _on_workload(w: Workload, message: str, fix: str, extra: Iterable[tuple[str, str]] = ()) -> Violation:
    return _at(w.obj, ("metadata", "name"), message, fix, (("workload", w.id), *extra))


def _ports(p: PortSet) -> str:
    return "every port of every protocol" if p.is_all else p.label()


def _refs(items: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(items))


def _public_ports(a: Analysis, i: int, egress: bool) -> tuple[PortSet, list[str]]:
    """Ports open to every public address (either IP version) and the IP versions concerned."""
    access = a.to_external(i) if egress else a.from_external(i)
    ports = PortSet()
    families = []
    for name, ranges in (("IPv4", PUBLIC_IPV4), ("IPv6", PUBLIC_IPV6)):
        p = access.ports_everywhere(ranges)
        if p:
            ports = ports | p
            families.append(name)
    return ports, families


def _overlaps(iv: Interval, ranges: Sequence[Interval]) -> bool:
    return any(iv[0] == f and iv[1] <= hi and lo <= iv[2] for f, lo, hi in ranges)


def _contributors(a: Analysis, entries: Sequence[ExternalEntry], ports: PortSet) -> list[str]:
    out = []
    for e in entries:
        if e.ports & ports and (_overlaps(e.interval, PUBLIC_IPV4) or _overlaps(e.interval, PUBLIC_IPV6)):
            out.append(rule_ref(a.policies[e.policy], e.rule))
    return out


@check(
    id="CH-K8S-NP-001",
    title="Workload admits connections from the whole internet",
    severity="medium",
    file_types=("kubernetes-tree",),
    description="""
A workload selected by an ingress NetworkPolicy still admits connections, on some port, from
every public IPv4 or IPv6 address: a rule without `from`, or an `ipBlock` such as `0.0.0.0/0`
(excepting only private ranges does not change that).
""",
    rationale="""
Policies exist to narrow who can reach a pod. One that admits the whole internet leaves the
workload exposed to scanning and exploitation from anywhere its Service, node port or load
balancer is reachable, and usually means a copy-pasted allow-all rule nobody meant to ship.
""",
    remediation="""
Admit only the address ranges that need the workload (a partner's CIDR, the load balancer's
or ingress controller's addresses) in the ipBlock, or admit the ingress controller's pods with a
podSelector/namespaceSelector peer instead of an ipBlock.
""",
    references=(NETPOL_DOCS, NETPOL_API, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.4.2", mitre_attack="T1190"),
)
def internet_ingress(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for i, w in enumerate(a.workloads):
        if not a.ingress_isolated(i):
            continue
        ports, families = _public_ports(a, i, egress=False)
        if not ports:
            continue
        refs = _refs(_contributors(a, a.in_external[i], ports))
        yield _on_workload(
            w,
            f"{w.id} admits {_ports(ports)} from every public {' and '.join(families)} address (via {refs})",
            f"Narrow the rules in {refs} to the addresses or pods that need {w.id}.",
            (("ports", ports.label()), ("policies", refs)),
        )


@check(
    id="CH-K8S-NP-002",
    title="Workload admits connections from pods in any namespace",
    severity="medium",
    file_types=("kubernetes-tree",),
    description="""
A workload selected by an ingress NetworkPolicy admits pods of every namespace, including
namespaces created later: a rule without `from`, or a peer whose `namespaceSelector` is empty or
matches a namespace that has no labels but its name. A `podSelector` next to such a
namespaceSelector does not narrow it much, since whoever can create pods in some namespace
chooses their labels.
""",
    rationale="""
Namespaces are the unit of tenancy and blast radius. A workload reachable from every namespace
can be reached by any compromised or malicious pod in the cluster, which turns one foothold into
lateral movement (service discovery, exploiting the workload's own vulnerabilities).
""",
    remediation="""
Select the namespaces that need access by a label only their owners can set, typically the
immutable `kubernetes.io/metadata.name` label (`namespaceSelector: {matchLabels:
{kubernetes.io/metadata.name: monitoring}}`), together with a podSelector for the client pods.
""",
    references=(NETPOL_DOCS, NETPOL_API, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.3.3", mitre_attack="T1046"),
)
def any_namespace_ingress(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for i, w in enumerate(a.workloads):
        if not a.ingress_isolated(i):
            continue
        ports, why = a.from_any_namespace(i)
        if not ports:
            continue
        refs = _refs(rule_ref(a.policies[pi], rule) for pi, rule, _peer in why)
        labelled = [p.pod_selector.describe() for _pi, _r, p in why if p is not None and p.pod_selector is not None]
        narrowed = [s for s in labelled if s != "(all)"]
        note = (
            f" (pods labelled {' or '.join(dict.fromkeys(narrowed))}, labels any pod's author can set)"
            if narrowed
            else ""
        )
        yield _on_workload(
            w,
            f"{w.id} admits {_ports(ports)} from pods in any namespace{note} (via {refs})",
            f"In {refs}, select the client namespaces by their kubernetes.io/metadata.name label.",
            (("ports", ports.label()), ("policies", refs)),
        )


@check(
    id="CH-K8S-NP-003",
    title="Workload may connect to the whole internet on every TCP port",
    severity="medium",
    file_types=("kubernetes-tree",),
    description="""
A workload selected by an egress NetworkPolicy may still open connections to every public IPv4
or IPv6 address on every TCP port: an egress rule without `to` and `ports`, or an `ipBlock` of
`0.0.0.0/0` (or `::/0`) without a port list.
""",
    rationale="""
Unrestricted egress is what turns a compromised pod into a foothold: it downloads tooling,
reaches a command-and-control server and exfiltrates data over any port. An egress policy that
allows all of it gives the appearance of control without any.
""",
    remediation="""
Allow egress only to what the workload calls: cluster DNS (UDP and TCP 53 to the kube-dns
pods), in-cluster services by podSelector/namespaceSelector, and the specific external CIDRs
and ports it needs (or an egress proxy).
""",
    references=(NETPOL_DOCS, NETPOL_API, NIST_800_190),
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.4.2", mitre_attack="T1041"),
)
def internet_egress(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for i, w in enumerate(a.workloads):
        if not a.egress_isolated(i):
            continue
        ports, families = _public_ports(a, i, egress=True)
        if not ports.covers(ALL_TCP):
            continue
        refs = _refs(_contributors(a, a.eg_external[i], ports))
        yield _on_workload(
            w,
            f"{w.id} may connect to every public {' and '.join(families)} address on {_ports(ports)} (via {refs})",
            f"Restrict the egress rules in {refs} to the destinations and ports {w.id} needs.",
            (("ports", ports.label()), ("policies", refs)),
        )


@check(
    id="CH-K8S-NP-004",
    title="NetworkPolicy selects no pod",
    severity="low",
    file_types=("kubernetes-tree",),
    description="""
The policy's `podSelector` matches none of the workloads this tree declares in the policy's
namespace, so the policy isolates nothing. Only reported when the namespace has workloads in the
scanned manifests (policies shipped apart from their workloads are not flagged).
""",
    rationale="""
A policy that selects nothing usually carries a typo in a label or sits in the wrong namespace
(a podSelector only ever selects pods of the policy's own namespace). The workloads it was
written for remain open while the policy's presence suggests they are protected.
""",
    remediation="""
Fix the podSelector labels to match the workload's pod template labels (not the Deployment's own
labels), or move the policy to the workload's namespace.
""",
    references=(NETPOL_DOCS, CIS_K8S),
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.3.3"),
)
def selects_nothing(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for pi, p in enumerate(a.policies):
        members = a.by_namespace.get(p.namespace, [])
        if not p.valid or a.selected.get(pi) or not members:
            continue
        names = ", ".join(a.workloads[i].id for i in members[:3]) + (", ..." if len(members) > 3 else "")
        keys: Path_ = ("spec", "podSelector") if p.obj.get("spec", "podSelector") is not None else ("metadata", "name")
        yield _at(
            p.obj,
            keys,
            f"{p.id} selects no pod: podSelector {p.pod_selector.describe()} matches none of the "
            f"{len(members)} workload(s) in namespace {p.namespace} ({names})",
        )


def _peer_findings(a: Analysis, pi: int, p: Policy) -> Iterator[Violation]:
    for message, keys in p.ignored:
        yield _at(p.obj, keys, f"{p.id}: {message}", "Add the direction to policyTypes, or delete the rules.")
    for direction in ("ingress", "egress"):
        for rule in p.rules(direction):
            for k, peer in enumerate(rule.peers or ()):
                if peer.ip_block is not None or a.peer_matches.get((pi, direction, rule.index, k)):
                    continue
                nss = peer.namespace_selector
                candidates = [p.namespace] if nss is None else a.namespaces_matching(nss)
                if not any(a.by_namespace.get(n) for n in candidates):
                    continue  # the peers may live in manifests that were not scanned
                yield _at(
                    p.obj,
                    peer.path,
                    f"{rule_ref(p, rule)}: peer ({peer.describe(p.namespace)}) matches no workload in "
                    f"namespace(s) {', '.join(candidates)}",
                    "Check the peer's labels against the pod template labels of the workloads it should match.",
                )


@check(
    id="CH-K8S-NP-005",
    title="NetworkPolicy rule or peer that matches nothing",
    severity="info",
    file_types=("kubernetes-tree",),
    description="""
Part of a policy has no effect: a `from`/`to` peer whose selectors match no workload in
namespaces this tree declares workloads for, or ingress/egress rules of a direction that is not
in the policy's `policyTypes` (an explicit `policyTypes: [Egress]` makes every ingress rule inert).
""",
    rationale="""
A peer that matches nothing is an allow rule that allows nothing: the traffic the author meant to
permit is blocked, which invites a broader rule as the "fix". Rules ignored because of
policyTypes are the opposite trap: the author believes a direction is restricted and it is not.
""",
    remediation="""
Compare the peer's podSelector and namespaceSelector with the pod template labels and namespace
labels; list both directions in policyTypes when the policy has rules for both.
""",
    references=(NETPOL_DOCS, NETPOL_API),
    frameworks=Framework(nist_800_190="4.3.3"),
)
def inert_parts(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for pi, p in enumerate(a.policies):
        if p.valid:
            yield from _peer_findings(a, pi, p)


@check(
    id="CH-K8S-NP-006",
    title="NetworkPolicy the API server would reject",
    severity="medium",
    file_types=("kubernetes-tree",),
    description="""
The policy breaks the API's validation rules (an invalid CIDR or an `except` outside its `cidr`,
`endPort` with a named port or below `port`, a protocol other than TCP/UDP/SCTP, a peer with no
selector, `ipBlock` combined with a selector, a malformed label selector...). Applying it fails,
so the connectivity matrix leaves it out.
""",
    rationale="""
A rejected policy does not exist in the cluster: whatever isolation it was written to provide is
missing, and in a pipeline that ignores apply errors nobody notices.
""",
    remediation="Fix the field named in the message; `kubectl apply --dry-run=server -f FILE` shows the API's verdict.",
    references=(NETPOL_API,),
    frameworks=Framework(cis_kubernetes="5.3.2", nist_800_190="4.3.3"),
)
def invalid_policy(doc: Document, options: Options) -> Iterator[Violation]:
    a = analysis(doc)
    for p in a.policies:
        for message, keys in p.errors:
            yield _at(p.obj, keys, f"{p.id}: {message}")
