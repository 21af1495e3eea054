"""NetworkPolicy reachability: who may talk to whom, on which ports, computed from manifests.

A NetworkPolicy reads like an allow list, but what it means depends on every other policy in
the tree: a pod is isolated for a direction only once *some* policy of that type selects it,
rules of all such policies are unioned, and a connection needs both the sender's egress and
the receiver's ingress. Reviewers get this wrong in predictable ways (a `namespaceSelector` and
a `podSelector` in one peer versus two peers, a named port that resolves differently on every
destination, `policyTypes` defaulting), so this module evaluates the semantics exactly, the
way the API reference and the concept documentation define them, instead of pattern-matching
YAML. Choices where the documentation leaves behaviour to the network plugin are listed in
docs/kubernetes-netpol.md; the two that matter most:

- `ipBlock` peers match only addresses outside the cluster (the `external` node); they never
  match pods of the tree, since pod IPs are not known from manifests and the documentation
  says ipBlock "should be cluster-external IPs".
- A policy the API server would reject (invalid CIDR, `endPort` with a named port, ...) is
  left out of the model, as it would never exist in the cluster; it is reported instead.

Workloads are pod templates (Pods, controllers, CronJobs, custom resources by shape); a cell
W->W describes traffic between two replicas of W, since a pod can always reach itself.
Everything here is pure data in, data out, so checks, the `netpol` command and tests share it.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from customhouse.misconfig.engine import Document
from customhouse.misconfig.k8s.objects import K8sObject, PodTemplate, load_objects, pod_templates
from customhouse.misconfig.yamlsrc import Path_

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535
NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
NETPOL_API_VERSIONS = frozenset({"networking.k8s.io/v1", "extensions/v1beta1"})
# Policy kinds of other APIs (CNI plugins, the admin policy API): their semantics differ, so a
# tree that uses them gets a warning that the matrix does not include them.
OTHER_POLICY_KINDS = frozenset(
    {
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "GlobalNetworkPolicy",
        "AntreaNetworkPolicy",
        "ClusterNetworkPolicy",
    }
)
# A namespace name no real namespace can have (not a DNS label): a selector that matches it
# matches namespaces nobody has created yet, i.e. "any namespace".
UNKNOWN_NAMESPACE = "<any other namespace>"

_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


# --------------------------------------------------------------------------------------------
# ports


@dataclass(frozen=True)
class PortSet:
    """A set of (protocol, port) pairs as sorted, disjoint, non-adjacent ranges per protocol."""

    ranges: tuple[tuple[str, int, int], ...] = ()

    @staticmethod
    def of(items: Iterable[tuple[str, int, int]]) -> PortSet:
        by_proto: dict[str, list[tuple[int, int]]] = {}
        for proto, lo, hi in items:
            lo, hi = max(lo, MIN_PORT), min(hi, MAX_PORT)
            if lo <= hi:
                by_proto.setdefault(proto, []).append((lo, hi))
        out: list[tuple[str, int, int]] = []
        for proto in sorted(by_proto, key=_proto_rank):
            merged: list[list[int]] = []
            for lo, hi in sorted(by_proto[proto]):
                if merged and lo <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            out.extend((proto, lo, hi) for lo, hi in merged)
        return PortSet(tuple(out))

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __or__(self, other: PortSet) -> PortSet:
        if not other.ranges or other is self:
            return self
        if not self.ranges:
            return other
        return PortSet.of((*self.ranges, *other.ranges))

    def __and__(self, other: PortSet) -> PortSet:
        if not self.ranges or not other.ranges:
            return NO_PORTS
        if self is other or self == other:
            return self
        out: list[tuple[str, int, int]] = []
        for proto in PROTOCOLS:
            a = [(lo, hi) for p, lo, hi in self.ranges if p == proto]
            b = [(lo, hi) for p, lo, hi in other.ranges if p == proto]
            i = j = 0
            while i < len(a) and j < len(b):
                lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
                if lo <= hi:
                    out.append((proto, lo, hi))
                if a[i][1] < b[j][1]:
                    i += 1
                else:
                    j += 1
        return PortSet(tuple(out))

    def covers(self, other: PortSet) -> bool:
        return (self & other) == other

    @property
    def is_all(self) -> bool:
        return self == ALL_PORTS

    def label(self) -> str:
        """`all`, or e.g. `TCP:80,8000-8100 UDP:*` (`*` for every port of a protocol)."""
        if self.is_all:
            return "all"
        parts = []
        for proto in PROTOCOLS:
            rs = [(lo, hi) for p, lo, hi in self.ranges if p == proto]
            if not rs:
                continue
            if rs == [(MIN_PORT, MAX_PORT)]:
                parts.append(f"{proto}:*")
            else:
                parts.append(f"{proto}:" + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in rs))
        return " ".join(parts)

    def to_json(self) -> str | list[dict[str, Any]]:
        if self.is_all:
            return "all"
        return [{"protocol": p, "from": lo, "to": hi} for p, lo, hi in self.ranges]


def _proto_rank(proto: str) -> int:
    return PROTOCOLS.index(proto) if proto in PROTOCOLS else len(PROTOCOLS)


NO_PORTS = PortSet()
ALL_PORTS = PortSet.of((p, MIN_PORT, MAX_PORT) for p in PROTOCOLS)
ALL_TCP = PortSet.of([("TCP", MIN_PORT, MAX_PORT)])


# --------------------------------------------------------------------------------------------
# addresses outside the cluster

FAMILY_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
Interval = tuple[int, int, int]  # (IP version, first address, last address) as integers


def _net_interval(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Interval:
    return (net.version, int(net.network_address), int(net.broadcast_address))


def _subtract(base: Sequence[Interval], holes: Iterable[Interval]) -> list[Interval]:
    out = list(base)
    for fam, hlo, hhi in holes:
        nxt: list[Interval] = []
        for f, lo, hi in out:
            if f != fam or hhi < lo or hlo > hi:
                nxt.append((f, lo, hi))
                continue
            if lo < hlo:
                nxt.append((f, lo, hlo - 1))
            if hhi < hi:
                nxt.append((f, hhi + 1, hi))
        out = nxt
    return out


def _nets(cidrs: Iterable[str]) -> list[Interval]:
    return [_net_interval(ipaddress.ip_network(c)) for c in cidrs]


# The internet as the findings mean it: addresses a stranger can have. Private, shared,
# loopback, link-local, documentation, benchmark, multicast and reserved ranges are left out,
# so a policy that allows 0.0.0.0/0 "except 10.0.0.0/8" still counts as open to the internet.
PUBLIC_IPV4 = _subtract(
    [(4, 0, FAMILY_MAX[4])],
    _nets(
        [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        ]
    ),
)
PUBLIC_IPV6 = _subtract(_nets(["2000::/3"]), _nets(["2001:db8::/32"]))


@dataclass(frozen=True)
class ExternalAccess:
    """Which outside addresses may connect (or be connected to), on which ports.

    Disjoint address segments, sorted, each with the ports allowed for every address in it;
    neighbours with equal ports are merged, so two equal accesses are equal objects however
    the policies spelled them.
    """

    segments: tuple[tuple[int, int, int, PortSet], ...] = ()

    @staticmethod
    def build(entries: Iterable[tuple[Interval, PortSet]]) -> ExternalAccess:
        by_fam: dict[int, list[tuple[int, int, PortSet]]] = {}
        for (fam, lo, hi), ports in entries:
            if ports and lo <= hi:
                by_fam.setdefault(fam, []).append((lo, hi, ports))
        segs: list[tuple[int, int, int, PortSet]] = []
        for fam in sorted(by_fam):
            items = by_fam[fam]
            bounds = sorted({lo for lo, _h, _p in items} | {hi + 1 for _l, hi, _p in items})
            for a, b in itertools.pairwise(bounds):
                ports = NO_PORTS
                for lo, hi, p in items:
                    if lo <= a and b - 1 <= hi:
                        ports = ports | p
                if not ports:
                    continue
                if segs and segs[-1][0] == fam and segs[-1][2] + 1 == a and segs[-1][3] == ports:
                    segs[-1] = (fam, segs[-1][1], b - 1, ports)
                else:
                    segs.append((fam, a, b - 1, ports))
        return ExternalAccess(tuple(segs))

    def __bool__(self) -> bool:
        return bool(self.segments)

    @property
    def is_all(self) -> bool:
        return self == ALL_EXTERNAL

    def groups(self) -> list[tuple[list[Interval], PortSet]]:
        """(address ranges, ports) pairs: the addresses sharing one port set, in address order."""
        order: list[PortSet] = []
        ranges: dict[PortSet, list[Interval]] = {}
        for fam, lo, hi, ports in self.segments:
            if ports not in ranges:
                order.append(ports)
                ranges[ports] = []
            ranges[ports].append((fam, lo, hi))
        return [(ranges[p], p) for p in order]

    def ports_everywhere(self, ranges: Sequence[Interval]) -> PortSet:
        """The ports allowed for every single address of `ranges` (empty if one is left out)."""
        result = ALL_PORTS
        for fam, lo, hi in ranges:
            cursor = lo
            for f, slo, shi, ports in self.segments:
                if f != fam or shi < cursor or slo > hi:
                    continue
                if slo > cursor:
                    return NO_PORTS  # a gap: some address of the range gets nothing
                result = result & ports
                cursor = shi + 1
                if cursor > hi:
                    break
            if cursor <= hi:
                return NO_PORTS
        return result

    def label(self) -> str:
        if self.is_all:
            return "all"
        return "; ".join(f"{describe_addresses(r)}: {p.label()}" for r, p in self.groups())


def cidrs(ranges: Iterable[Interval]) -> list[str]:
    """The exact CIDR list of address ranges."""
    out: list[str] = []
    for fam, lo, hi in ranges:
        cls: Any = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
        out.extend(str(n) for n in ipaddress.summarize_address_range(cls(lo), cls(hi)))
    return out


def _covering(fam: int, lo: int, hi: int) -> Interval:
    """The smallest CIDR block holding [lo, hi]."""
    bits = 32 if fam == 4 else 128
    host = (lo ^ hi).bit_length()
    mask = ((1 << bits) - 1) ^ ((1 << host) - 1)
    return (fam, lo & mask, (lo & mask) | ((1 << host) - 1))


def describe_addresses(ranges: Sequence[Interval]) -> str:
    """Addresses as people write them in an ipBlock: `0.0.0.0/0 except 10.0.0.0/8` rather
    than the eight CIDRs that make up the same set, whichever is shorter, per IP version."""
    parts: list[str] = []
    for fam in (4, 6):
        mine = [r for r in ranges if r[0] == fam]
        if not mine:
            continue
        direct = cidrs(mine)
        block = _covering(fam, mine[0][1], mine[-1][2])
        holes = cidrs(_subtract([block], mine))
        if holes and len(holes) + 1 < len(direct):
            parts.append(f"{cidrs([block])[0]} except {', '.join(holes)}")
        else:
            parts.append(", ".join(direct))
    return ", ".join(parts)


ALL_ADDRESSES: tuple[Interval, ...] = ((4, 0, FAMILY_MAX[4]), (6, 0, FAMILY_MAX[6]))
ALL_EXTERNAL = ExternalAccess.build((iv, ALL_PORTS) for iv in ALL_ADDRESSES)
NO_EXTERNAL = ExternalAccess()


# --------------------------------------------------------------------------------------------
# label selectors


@dataclass(frozen=True)
class Selector:
    """A metav1.LabelSelector: matchLabels AND every matchExpressions requirement."""

    labels: tuple[tuple[str, str], ...] = ()
    exprs: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.labels and not self.exprs

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.labels:
            if labels.get(k) != v:
                return False
        for key, op, values in self.exprs:
            present = key in labels
            if op == "In":
                ok = present and labels[key] in values
            elif op == "NotIn":
                ok = not present or labels[key] not in values
            elif op == "Exists":
                ok = present
            else:  # DoesNotExist (parsing refuses anything else)
                ok = not present
            if not ok:
                return False
        return True

    def describe(self) -> str:
        """kubectl's selector syntax: `app=web,tier in (a,b),!legacy`; `(all)` when empty."""
        parts = [f"{k}={v}" for k, v in self.labels]
        for key, op, values in self.exprs:
            vals = ",".join(sorted(values))
            parts.append(
                {"In": f"{key} in ({vals})", "NotIn": f"{key} notin ({vals})", "Exists": key}.get(op, f"!{key}")
            )
        return ",".join(parts) if parts else "(all)"


class _Errors:
    """API-server validation failures of one policy, with the key path of the offending field."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Path_]] = []

    def add(self, message: str, path: Path_) -> None:
        self.items.append((message, path))


def _parse_selector(value: Any, path: Path_, errors: _Errors) -> Selector:
    if value is None:
        return Selector()
    if not isinstance(value, Mapping):
        errors.add("a label selector must be an object", path)
        return Selector()
    labels: list[tuple[str, str]] = []
    ml = value.get("matchLabels")
    if ml is not None:
        if not isinstance(ml, Mapping):
            errors.add("matchLabels must be an object of strings", (*path, "matchLabels"))
        else:
            for k, v in ml.items():
                v = "" if v is None else v  # JSON null decodes to the empty string
                if not isinstance(v, str) or not isinstance(k, str):
                    errors.add(f"matchLabels value for {k!r} must be a string", (*path, "matchLabels", str(k)))
                    continue
                labels.append((k, v))
    exprs: list[tuple[str, str, frozenset[str]]] = []
    me = value.get("matchExpressions")
    if me is not None:
        if not isinstance(me, list):
            errors.add("matchExpressions must be a list", (*path, "matchExpressions"))
        else:
            for i, e in enumerate(me):
                ep: Path_ = (*path, "matchExpressions", i)
                if not isinstance(e, Mapping):
                    errors.add("a matchExpressions entry must be an object", ep)
                    continue
                key, op, vals = e.get("key"), e.get("operator"), e.get("values")
                if not isinstance(key, str) or not key:
                    errors.add("matchExpressions key is required", ep)
                    continue
                if op not in _OPERATORS:
                    errors.add(f"operator {op!r} is not one of In, NotIn, Exists, DoesNotExist", (*ep, "operator"))
                    continue
                if vals is not None and (not isinstance(vals, list) or not all(isinstance(x, str) for x in vals)):
                    errors.add("values must be a list of strings", (*ep, "values"))
                    continue
                values = frozenset(vals or ())
                if op in ("In", "NotIn") and not values:
                    errors.add(f"operator {op} needs at least one value", ep)
                    continue
                if op in ("Exists", "DoesNotExist") and values:
                    errors.add(f"operator {op} takes no values", (*ep, "values"))
                    continue
                exprs.append((key, str(op), values))
    return Selector(tuple(sorted(labels)), tuple(exprs))


# --------------------------------------------------------------------------------------------
# workloads and namespaces


@dataclass(frozen=True, eq=False)
class Workload:
    """One pod template: the unit the matrix has rows and columns for."""

    id: str  # Kind/namespace/name (with #N when an object holds several templates)
    template: PodTemplate
    labels: Mapping[str, str]
    named_ports: Mapping[tuple[str, str], tuple[int, ...]]  # (port name, protocol) -> containerPorts
    host_network: bool = False

    @property
    def obj(self) -> K8sObject:
        return self.template.owner

    @property
    def namespace(self) -> str:
        return self.template.namespace

    @property
    def path(self) -> str:
        return self.obj.doc.path

    @property
    def line(self) -> int:
        return self.obj.line("metadata", "name")


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str]
    obj: K8sObject | None = None  # None: only referenced, not declared in the tree


def _named_ports(t: PodTemplate) -> dict[tuple[str, str], tuple[int, ...]]:
    out: dict[tuple[str, str], list[int]] = {}
    for fld, _i, c in t.containers():
        if fld == "ephemeralContainers":
            continue  # ephemeral containers may not declare ports
        ports = c.get("ports")
        if not isinstance(ports, list):
            continue
        for p in ports:
            if not isinstance(p, Mapping):
                continue
            name, number, proto = p.get("name"), p.get("containerPort"), p.get("protocol") or "TCP"
            if isinstance(name, str) and name and _is_port(number) and isinstance(proto, str):
                out.setdefault((name, proto), []).append(number)
    return {k: tuple(sorted(set(v))) for k, v in out.items()}


def _is_port(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and MIN_PORT <= v <= MAX_PORT


def _valid_port_name(name: str) -> bool:
    """IANA service name, as the API validates named ports: at most 15 characters, lowercase
    letters, digits and single inner hyphens, at least one letter."""
    return (
        0 < len(name) <= 15
        and bool(_PORT_NAME.match(name))
        and "--" not in name
        and any("a" <= ch <= "z" for ch in name)
    )


# --------------------------------------------------------------------------------------------
# policies


@dataclass(frozen=True)
class PortSpec:
    """One `ports` entry: protocol (TCP by default), a number, a name, or a number range."""

    protocol: str
    port: int | str | None
    end_port: int | None = None

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def resolve(self, dest: Workload | None) -> PortSet:
        """The ports this entry allows towards `dest` (None: an address outside the cluster,
        where a named port names nothing)."""
        if self.port is None:
            return PortSet.of([(self.protocol, MIN_PORT, MAX_PORT)])
        if isinstance(self.port, int):
            return PortSet.of([(self.protocol, self.port, self.end_port or self.port)])
        if dest is None:
            return NO_PORTS
        numbers = dest.named_ports.get((self.port, self.protocol), ())
        return PortSet.of((self.protocol, n, n) for n in numbers)


@dataclass(frozen=True)
class IPBlock:
    cidr: str
    excepts: tuple[str, ...]
    intervals: tuple[Interval, ...]  # cidr minus excepts

    def describe(self) -> str:
        return self.cidr + (f" except {', '.join(self.excepts)}" if self.excepts else "")


@dataclass(frozen=True)
class Peer:
    """One `from`/`to` entry. Both selectors set: pods matching podSelector in namespaces
    matching namespaceSelector; only podSelector: pods of the policy's own namespace."""

    path: Path_  # key path inside the policy object
    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None

    def describe(self, policy_ns: str) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block.describe()}"
        pods = f"pods {self.pod_selector.describe()}" if self.pod_selector is not None else "all pods"
        if self.namespace_selector is None:
            return f"{pods} in namespace {policy_ns}"
        return f"{pods} in namespaces {self.namespace_selector.describe()}"


@dataclass(frozen=True, eq=False)
class Rule:
    direction: str  # "ingress" or "egress"
    index: int
    path: Path_
    peers: tuple[Peer, ...] | None  # None: `from`/`to` empty or absent, every peer
    ports: tuple[PortSpec, ...] | None  # None: `ports` empty or absent, every port
    _static: PortSet | None = field(default=None, compare=False)

    @property
    def has_named(self) -> bool:
        return self.ports is not None and any(p.named for p in self.ports)

    def port_set(self, dest: Workload | None) -> PortSet:
        if self.ports is None:
            return ALL_PORTS
        if not self.has_named and self._static is not None:
            return self._static
        out = NO_PORTS
        for p in self.ports:
            out = out | p.resolve(dest)
        if not self.has_named:
            object.__setattr__(self, "_static", out)
        return out


@dataclass(eq=False)
class Policy:
    obj: K8sObject
    pod_selector: Selector
    types: frozenset[str]  # after defaulting: "Ingress" always unless given, "Egress" with egress rules
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    errors: list[tuple[str, Path_]] = field(default_factory=list)
    ignored: list[tuple[str, Path_]] = field(default_factory=list)  # rules of a direction not in policyTypes

    @property
    def id(self) -> str:
        return self.obj.ref

    @property
    def namespace(self) -> str:
        return self.obj.namespace

    @property
    def valid(self) -> bool:
        return not self.errors

    def rules(self, direction: str) -> tuple[Rule, ...]:
        if direction == "ingress":
            return self.ingress if "Ingress" in self.types else ()
        return self.egress if "Egress" in self.types else ()


def _parse_port(value: Any, path: Path_, errors: _Errors) -> PortSpec | None:
    if not isinstance(value, Mapping):
        errors.add("a ports entry must be an object", path)
        return None
    proto = value.get("protocol")
    if proto is None:
        proto = "TCP"
    if proto not in PROTOCOLS:
        errors.add(f"protocol {proto!r} is not TCP, UDP or SCTP", (*path, "protocol"))
        return None
    port, end = value.get("port"), value.get("endPort")
    if end is not None and not _is_port(end):
        errors.add(f"endPort {end!r} is not a port number (1-65535)", (*path, "endPort"))
        return None
    if port is None:
        if end is not None:
            errors.add("endPort may not be set without port", (*path, "endPort"))
            return None
        return PortSpec(str(proto), None)
    if isinstance(port, str):
        if end is not None:
            errors.add("endPort may not be set when port is a name", (*path, "endPort"))
            return None
        if not _valid_port_name(port):
            errors.add(f"port {port!r} is neither a number nor a valid port name", (*path, "port"))
            return None
        return PortSpec(str(proto), port)
    if not _is_port(port):
        errors.add(f"port {port!r} is not a port number (1-65535)", (*path, "port"))
        return None
    if end is not None and end < port:
        errors.add(f"endPort {end} is lower than port {port}", (*path, "endPort"))
        return None
    return PortSpec(str(proto), port, end)


def _parse_ipblock(value: Any, path: Path_, errors: _Errors) -> IPBlock | None:
    if not isinstance(value, Mapping):
        errors.add("ipBlock must be an object", path)
        return None
    cidr = value.get("cidr")
    if not isinstance(cidr, str) or not cidr:
        errors.add("ipBlock.cidr is required", (*path, "cidr"))
        return None
    net = _parse_cidr(cidr)
    if net is None:
        errors.add(f"{cidr!r} is not a valid CIDR", (*path, "cidr"))
        return None
    raw = value.get("except")
    if raw is not None and not isinstance(raw, list):
        errors.add("except must be a list of CIDRs", (*path, "except"))
        return None
    holes = []
    for i, ex in enumerate(raw or ()):
        ex_net = _parse_cidr(ex) if isinstance(ex, str) else None
        if ex_net is None:
            errors.add(f"{ex!r} is not a valid CIDR", (*path, "except", i))
            return None
        # The API server insists on a strict subset (a longer prefix inside cidr).
        if ex_net.version != net.version or not ex_net.subnet_of(net) or ex_net.prefixlen <= net.prefixlen:  # type: ignore[arg-type]
            errors.add(f"except {ex} is not a strict subset of {cidr}", (*path, "except", i))
            return None
        holes.append(ex_net)
    intervals = _subtract([_net_interval(net)], (_net_interval(h) for h in holes))
    return IPBlock(cidr, tuple(str(x) for x in raw or ()), tuple(intervals))


def _parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as the API reads it: prefix length required; address bits past it are ignored
    (older API servers accept `10.0.0.1/8` and treat it as 10.0.0.0/8)."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _parse_peer(value: Any, path: Path_, errors: _Errors) -> Peer | None:
    if not isinstance(value, Mapping):
        errors.add("a peer must be an object", path)
        return None
    ps, ns, ipb = value.get("podSelector"), value.get("namespaceSelector"), value.get("ipBlock")
    given = sum(x is not None for x in (ps, ns, ipb))
    if given == 0:
        errors.add("a peer must set podSelector, namespaceSelector or ipBlock", path)
        return None
    if ipb is not None and given > 1:
        errors.add("ipBlock may not be combined with podSelector or namespaceSelector", path)
        return None
    if ipb is not None:
        block = _parse_ipblock(ipb, (*path, "ipBlock"), errors)
        return Peer(path, ip_block=block) if block is not None else None
    pod = _parse_selector(ps, (*path, "podSelector"), errors) if ps is not None else None
    nss = _parse_selector(ns, (*path, "namespaceSelector"), errors) if ns is not None else None
    return Peer(path, pod_selector=pod, namespace_selector=nss)


def _parse_rules(spec: Mapping[str, Any], direction: str, errors: _Errors) -> tuple[Rule, ...]:
    raw = spec.get(direction)
    base: Path_ = ("spec", direction)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add(f"{direction} must be a list of rules", base)
        return ()
    peer_key = "from" if direction == "ingress" else "to"
    rules = []
    for i, r in enumerate(raw):
        rp: Path_ = (*base, i)
        if not isinstance(r, Mapping):
            errors.add(f"an {direction} rule must be an object", rp)
            continue
        peers: tuple[Peer, ...] | None = None
        rp_peers = r.get(peer_key)
        if rp_peers is not None and not isinstance(rp_peers, list):
            errors.add(f"{peer_key} must be a list of peers", (*rp, peer_key))
        elif rp_peers:
            parsed = [_parse_peer(p, (*rp, peer_key, j), errors) for j, p in enumerate(rp_peers)]
            peers = tuple(p for p in parsed if p is not None)
        ports: tuple[PortSpec, ...] | None = None
        rp_ports = r.get("ports")
        if rp_ports is not None and not isinstance(rp_ports, list):
            errors.add("ports must be a list", (*rp, "ports"))
        elif rp_ports:
            parsed_ports = [_parse_port(p, (*rp, "ports", j), errors) for j, p in enumerate(rp_ports)]
            ports = tuple(p for p in parsed_ports if p is not None)
        rules.append(Rule(direction, i, rp, peers, ports))
    return tuple(rules)


def parse_policy(obj: K8sObject) -> Policy:
    """The policy as the API server would store it (defaults applied), or with `errors` set
    when it would refuse it."""
    errors = _Errors()
    spec = obj.get("spec")
    if spec is None:
        spec = {}  # an absent spec is the zero spec: select every pod, deny all ingress
    if not isinstance(spec, Mapping):
        errors.add("spec must be an object", ("spec",))
        spec = {}
    selector = _parse_selector(spec.get("podSelector"), ("spec", "podSelector"), errors)
    ingress = _parse_rules(spec, "ingress", errors)
    egress = _parse_rules(spec, "egress", errors)
    raw_types = spec.get("policyTypes")
    types: set[str] = set()
    if raw_types is not None and not isinstance(raw_types, list):
        errors.add("policyTypes must be a list", ("spec", "policyTypes"))
    elif raw_types:
        if len(raw_types) > 2:
            errors.add("policyTypes may list at most two types", ("spec", "policyTypes"))
        for i, t in enumerate(raw_types):
            if t not in ("Ingress", "Egress"):
                errors.add(f"policy type {t!r} is not Ingress or Egress", ("spec", "policyTypes", i))
            else:
                types.add(t)
    if not raw_types:  # defaulting: Ingress always, Egress when there are egress rules
        types = {"Ingress"}
        if isinstance(spec.get("egress"), list) and spec["egress"]:
            types.add("Egress")
    policy = Policy(obj, selector, frozenset(types), ingress, egress, errors.items)
    for direction, ptype in (("ingress", "Ingress"), ("egress", "Egress")):
        raw = spec.get(direction)
        if ptype not in types and isinstance(raw, list) and raw:
            policy.ignored.append(
                (f"the {direction} rules have no effect: policyTypes does not include {ptype}", ("spec", direction))
            )
    return policy


# --------------------------------------------------------------------------------------------
# the evaluator


@dataclass(frozen=True)
class ExternalEntry:
    """One rule's contribution to a workload's access from/to outside addresses."""

    policy: int
    rule: Rule
    peer: Peer | None  # None: the rule has no peers (every address)
    interval: Interval
    ports: PortSet


@dataclass(frozen=True)
class Connection:
    """One allowed direction: `src` may open connections to `dst` on `ports`."""

    src: str  # workload id, or "external"
    dst: str
    ports: PortSet
    addresses: tuple[Interval, ...] = ()  # the outside end's address ranges (external connections only)


EXTERNAL = "external"


class Analysis:
    """Every workload, namespace and policy of a tree, and what the policies allow."""

    def __init__(
        self,
        workloads: list[Workload],
        namespaces: dict[str, Namespace],
        policies: list[Policy],
        warnings: list[str],
        skipped: int = 0,
    ) -> None:
        self.workloads = workloads
        self.namespaces = namespaces
        self.policies = policies
        self.warnings = warnings
        self.skipped = skipped  # objects that are neither workloads, namespaces nor policies
        n = len(workloads)
        self.by_namespace: dict[str, list[int]] = {}
        for i, w in enumerate(workloads):
            self.by_namespace.setdefault(w.namespace, []).append(i)
        self._ns_match: dict[Selector, list[str]] = {}
        self.selected: dict[int, list[int]] = {}
        self.peer_matches: dict[tuple[int, str, int, int], list[int]] = {}
        self.in_policies: list[list[int]] = [[] for _ in range(n)]
        self.eg_policies: list[list[int]] = [[] for _ in range(n)]
        self._in_all = [NO_PORTS] * n
        self._in_from: list[dict[int, PortSet]] = [{} for _ in range(n)]
        self.in_external: list[list[ExternalEntry]] = [[] for _ in range(n)]
        self._eg_all: list[list[Rule]] = [[] for _ in range(n)]
        self._eg_from: list[dict[int, PortSet]] = [{} for _ in range(n)]
        self.eg_external: list[list[ExternalEntry]] = [[] for _ in range(n)]
        self._evaluate()

    # -- selection

    def namespaces_matching(self, selector: Selector) -> list[str]:
        hit = self._ns_match.get(selector)
        if hit is None:
            hit = [name for name, ns in sorted(self.namespaces.items()) if selector.matches(ns.labels)]
            self._ns_match[selector] = hit
        return hit

    def peer_workloads(self, policy: Policy, peer: Peer) -> list[int]:
        if peer.ip_block is not None:
            return []
        names = (
            [policy.namespace] if peer.namespace_selector is None else self.namespaces_matching(peer.namespace_selector)
        )
        sel = peer.pod_selector
        out: list[int] = []
        for name in names:
            for i in self.by_namespace.get(name, ()):
                if sel is None or sel.matches(self.workloads[i].labels):
                    out.append(i)
        return sorted(out)

    def _evaluate(self) -> None:
        for pi, p in enumerate(self.policies):
            if not p.valid:
                continue
            sel = [
                i for i in self.by_namespace.get(p.namespace, ()) if p.pod_selector.matches(self.workloads[i].labels)
            ]
            self.selected[pi] = sel
            for direction in ("ingress", "egress"):
                for rule in p.rules(direction):
                    for k, peer in enumerate(rule.peers or ()):
                        self.peer_matches[(pi, direction, rule.index, k)] = self.peer_workloads(p, peer)
            for b in sel:
                if "Ingress" in p.types:
                    self.in_policies[b].append(pi)
                    self._add_ingress(pi, p, b)
                if "Egress" in p.types:
                    self.eg_policies[b].append(pi)
                    self._add_egress(pi, p, b)

    def _add_ingress(self, pi: int, p: Policy, b: int) -> None:
        dest = self.workloads[b]
        for rule in p.ingress:
            ports = rule.port_set(dest)
            if not ports:
                continue
            if rule.peers is None:
                self._in_all[b] = self._in_all[b] | ports
                for iv in ALL_ADDRESSES:
                    self.in_external[b].append(ExternalEntry(pi, rule, None, iv, ports))
                continue
            frm = self._in_from[b]
            for k, peer in enumerate(rule.peers):
                if peer.ip_block is not None:
                    for iv in peer.ip_block.intervals:
                        self.in_external[b].append(ExternalEntry(pi, rule, peer, iv, ports))
                    continue
                for a in self.peer_matches[(pi, "ingress", rule.index, k)]:
                    frm[a] = frm.get(a, NO_PORTS) | ports

    def _add_egress(self, pi: int, p: Policy, a: int) -> None:
        for rule in p.egress:
            outside = rule.port_set(None)  # named ports name nothing outside the cluster
            if rule.peers is None:
                self._eg_all[a].append(rule)
                if outside:
                    for iv in ALL_ADDRESSES:
                        self.eg_external[a].append(ExternalEntry(pi, rule, None, iv, outside))
                continue
            to = self._eg_from[a]
            for k, peer in enumerate(rule.peers):
                if peer.ip_block is not None:
                    if outside:
                        for iv in peer.ip_block.intervals:
                            self.eg_external[a].append(ExternalEntry(pi, rule, peer, iv, outside))
                    continue
                for b in self.peer_matches[(pi, "egress", rule.index, k)]:
                    ports = rule.port_set(self.workloads[b])
                    if ports:
                        to[b] = to.get(b, NO_PORTS) | ports

    # -- answers

    def ingress_isolated(self, i: int) -> bool:
        return bool(self.in_policies[i])

    def egress_isolated(self, i: int) -> bool:
        return bool(self.eg_policies[i])

    def ingress_ports(self, a: int, b: int) -> PortSet:
        """What b's ingress side admits from a (everything when b is not ingress-isolated)."""
        if not self.in_policies[b]:
            return ALL_PORTS
        return self._in_all[b] | self._in_from[b].get(a, NO_PORTS)

    def egress_ports(self, a: int, b: int) -> PortSet:
        """What a's egress side lets out towards b (everything when a is not egress-isolated)."""
        if not self.eg_policies[a]:
            return ALL_PORTS
        dest = self.workloads[b]
        out = self._eg_from[a].get(b, NO_PORTS)
        for rule in self._eg_all[a]:
            out = out | rule.port_set(dest)
        return out

    def allowed(self, a: int, b: int) -> PortSet:
        """Ports on which a pod of workload a may connect to a pod of workload b."""
        ing = self.ingress_ports(a, b)
        if not ing:
            return NO_PORTS
        return ing & self.egress_ports(a, b)

    def from_external(self, b: int) -> ExternalAccess:
        if not self.in_policies[b]:
            return ALL_EXTERNAL
        return ExternalAccess.build((e.interval, e.ports) for e in self.in_external[b])

    def to_external(self, a: int) -> ExternalAccess:
        if not self.eg_policies[a]:
            return ALL_EXTERNAL
        return ExternalAccess.build((e.interval, e.ports) for e in self.eg_external[a])

    def from_any_namespace(self, b: int) -> tuple[PortSet, list[tuple[int, Rule, Peer | None]]]:
        """Ports b admits from pods of a namespace not in the tree, and the rules that admit them.

        A namespaceSelector matching a namespace that has nothing but its automatic name label
        matches namespaces that anyone able to create one will get; a podSelector next to it
        narrows by pod labels, which whoever creates pods there chooses, so it does not count.
        """
        if not self.in_policies[b]:
            return ALL_PORTS, []
        unknown = {NAME_LABEL: UNKNOWN_NAMESPACE}
        dest = self.workloads[b]
        ports = NO_PORTS
        why: list[tuple[int, Rule, Peer | None]] = []
        for pi in self.in_policies[b]:
            for rule in self.policies[pi].ingress:
                rp = rule.port_set(dest)
                if not rp:
                    continue
                if rule.peers is None:
                    ports = ports | rp
                    why.append((pi, rule, None))
                    continue
                for peer in rule.peers:
                    if peer.namespace_selector is not None and peer.namespace_selector.matches(unknown):
                        ports = ports | rp
                        why.append((pi, rule, peer))
                        break
        return ports, why

    def connections(self) -> list[Connection]:
        """Every allowed pair, in workload order, then outside->workload and workload->outside.

        Workloads with the same namespace, labels and named ports are indistinguishable to every
        policy, so each pair of such classes is evaluated once.
        """
        cls: dict[tuple[Any, ...], int] = {}
        rep: list[int] = []
        for i, w in enumerate(self.workloads):
            key = (w.namespace, tuple(sorted(w.labels.items())), tuple(sorted(w.named_ports.items())))
            rep.append(cls.setdefault(key, i))
        cache: dict[tuple[int, int], PortSet] = {}
        cells: list[tuple[int, int, PortSet]] = []
        everyone = range(len(self.workloads))
        for b in everyone:
            # An isolated destination admits only the sources its rules name: no need to try others.
            isolated_only_named = bool(self.in_policies[b]) and not self._in_all[b]
            for a in sorted(self._in_from[b]) if isolated_only_named else everyone:
                key2 = (rep[a], rep[b])
                ports = cache.get(key2)
                if ports is None:
                    ports = self.allowed(*key2)
                    cache[key2] = ports
                if ports:
                    cells.append((a, b, ports))
        cells.sort(key=lambda c: (c[0], c[1]))
        ws = self.workloads
        out = [Connection(ws[a].id, ws[b].id, ports) for a, b, ports in cells]
        for b, wb in enumerate(self.workloads):
            for ranges, ports in self.from_external(b).groups():
                out.append(Connection(EXTERNAL, wb.id, ports, tuple(ranges)))
        for a, wa in enumerate(self.workloads):
            for ranges, ports in self.to_external(a).groups():
                out.append(Connection(wa.id, EXTERNAL, ports, tuple(ranges)))
        return out


def _workload_id(t: PodTemplate, index: int, count: int) -> str:
    base = t.owner.ref
    return f"{base}#{index + 1}" if count > 1 else base


def analyze(docs: Iterable[Document]) -> Analysis:
    """Build the model from `kubernetes` documents and evaluate every policy once."""
    objects = load_objects(d for d in docs if d.file_type == "kubernetes")
    workloads: list[Workload] = []
    declared: dict[str, Namespace] = {}
    policies: list[Policy] = []
    warnings: list[str] = []
    seen_ids: set[str] = set()
    skipped = 0
    for obj in objects:
        kind = obj.kind
        if kind == "Namespace" and obj.api_version == "v1":
            name = obj.name
            if not name:
                warnings.append(f"{obj.doc.path}:{obj.line()}: Namespace without a name, ignored")
                continue
            if name in declared:
                warnings.append(f"{obj.doc.path}:{obj.line()}: Namespace {name} declared twice; the first one is used")
                continue
            declared[name] = Namespace(name, {**obj.labels, NAME_LABEL: name}, obj)
            continue
        if kind == "NetworkPolicy":
            if obj.api_version in NETPOL_API_VERSIONS:
                policies.append(parse_policy(obj))
            else:
                warnings.append(
                    f"{obj.doc.path}:{obj.line()}: {obj.api_version or '(no apiVersion)'} NetworkPolicy "
                    f"{obj.name} is not a Kubernetes NetworkPolicy; the matrix does not include it"
                )
            continue
        if kind in OTHER_POLICY_KINDS:
            warnings.append(
                f"{obj.doc.path}:{obj.line()}: {kind} {obj.name} is not modelled; the matrix does not include it"
            )
            continue
        templates = pod_templates(obj)
        if not templates:
            skipped += 1
            continue
        for i, t in enumerate(templates):
            wid = _workload_id(t, i, len(templates))
            if wid in seen_ids:
                wid = f"{wid}@{obj.doc.path}:{obj.line()}"
            seen_ids.add(wid)
            workloads.append(Workload(wid, t, dict(t.labels), _named_ports(t), t.spec.get("hostNetwork") is True))
    namespaces = dict(declared)
    for name in sorted({w.namespace for w in workloads} | {p.namespace for p in policies}):
        if name not in namespaces:
            namespaces[name] = Namespace(name, {NAME_LABEL: name})
    return Analysis(workloads, dict(sorted(namespaces.items())), policies, warnings, skipped)


def tree_documents(tree: Document) -> list[Document]:
    """The per-file documents of a `kubernetes-tree` document."""
    data = tree.data if isinstance(tree.data, list) else []
    return [d for d in data if isinstance(d, Document)]


# --------------------------------------------------------------------------------------------
# renderings that need no third-party module: JSON data and Graphviz


MATRIX_SCHEMA_VERSION = "1.0"


def matrix_dict(a: Analysis, root: str = "") -> dict[str, Any]:
    """The connectivity report as plain data (schema: docs/kubernetes-netpol.md)."""
    workloads = []
    for i, w in enumerate(a.workloads):
        workloads.append(
            {
                "id": w.id,
                "kind": w.obj.kind,
                "namespace": w.namespace,
                "name": w.obj.name,
                "labels": dict(sorted(w.labels.items())),
                "file": w.path,
                "line": w.line,
                "host_network": w.host_network,
                "named_ports": [
                    {"name": n, "protocol": p, "port": port}
                    for (n, p), ports in sorted(w.named_ports.items())
                    for port in ports
                ],
                "ingress_isolated": a.ingress_isolated(i),
                "egress_isolated": a.egress_isolated(i),
                "ingress_policies": [a.policies[pi].id for pi in a.in_policies[i]],
                "egress_policies": [a.policies[pi].id for pi in a.eg_policies[i]],
            }
        )
    policies = []
    for pi, p in enumerate(a.policies):
        policies.append(
            {
                "id": p.id,
                "namespace": p.namespace,
                "name": p.obj.name,
                "file": p.obj.doc.path,
                "line": p.obj.line(),
                "valid": p.valid,
                "errors": [m for m, _path in p.errors],
                "policy_types": sorted(p.types),
                "pod_selector": p.pod_selector.describe(),
                "selects": [a.workloads[i].id for i in a.selected.get(pi, [])],
            }
        )
    connections = []
    for c in a.connections():
        item: dict[str, Any] = {"from": c.src, "to": c.dst, "ports": c.ports.to_json()}
        if c.addresses:
            item["addresses"] = cidrs(c.addresses)
            item["address_summary"] = describe_addresses(c.addresses)
        connections.append(item)
    return {
        "schema_version": MATRIX_SCHEMA_VERSION,
        "root": root,
        "summary": {
            "workloads": len(a.workloads),
            "namespaces": len(a.namespaces),
            "policies": len(a.policies),
            "invalid_policies": sum(not p.valid for p in a.policies),
            "other_objects": a.skipped,
            "connections": len(connections),
        },
        "namespaces": [
            {
                "name": ns.name,
                "labels": dict(sorted(ns.labels.items())),
                "declared": ns.obj is not None,
                "file": ns.obj.doc.path if ns.obj is not None else "",
            }
            for ns in a.namespaces.values()
        ],
        "workloads": workloads,
        "policies": policies,
        "connections": connections,
        "warnings": list(a.warnings),
    }


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "") + '"'


def to_dot(a: Analysis) -> str:
    """A Graphviz digraph: one cluster per namespace, an `external` node, labelled edges."""
    node = {w.id: f"w{i}" for i, w in enumerate(a.workloads)}
    node[EXTERNAL] = EXTERNAL
    lines = [
        "digraph netpol {",
        "  graph [rankdir=LR, fontname=Helvetica];",
        "  node [shape=box, fontname=Helvetica];",
        "  edge [fontname=Helvetica, fontsize=10];",
        f"  {EXTERNAL} [label={_dot_str('external (outside the cluster)')}, shape=ellipse];",
    ]
    for k, name in enumerate(a.namespaces):
        members = a.by_namespace.get(name, [])
        if not members:
            continue
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f"    label={_dot_str('namespace ' + name)};")
        for i in members:
            w = a.workloads[i]
            lines.append(f"    {node[w.id]} [label={_dot_str(f'{w.obj.kind}/{w.obj.name}')}];")
        lines.append("  }")
    for c in a.connections():
        label = c.ports.label()
        if c.addresses:
            label = f"{describe_addresses(c.addresses)}\n{label}"
        lines.append(f"  {node[c.src]} -> {node[c.dst]} [label={_dot_str(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def rule_ref(policy: Policy, rule: Rule) -> str:
    return f"{policy.id} {rule.direction}[{rule.index}]"
