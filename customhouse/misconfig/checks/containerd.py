"""Checks for containerd's config.toml, in the version 1, 2 (containerd 1.x) and 3 (2.x) layouts.

containerd is the runtime under Kubernetes nodes and under Docker. Its CRI plugin decides whether
pods get AppArmor/SELinux confinement, how images are pulled (TLS or not), and where the exec/
attach streaming server and the gRPC API listen. The same setting lives in a different table per
config version, so every check first resolves the tables for the file's `version`:

- version 1: `[plugins.cri]` holds everything;
- version 2: `[plugins."io.containerd.grpc.v1.cri"]` holds everything;
- version 3: runtime options in `[plugins.'io.containerd.cri.v1.runtime']`, image and registry
  options in `[plugins.'io.containerd.cri.v1.images']`, the streaming server in
  `[plugins.'io.containerd.grpc.v1.cri']`.

Docker's own containerd ships with the CRI plugin disabled (`disabled_plugins = ["cri"]`); the
CRI checks are skipped then, since those settings have no effect.

Lines come from our own index of the TOML text: containerd 2.x documentation writes table names
with single-quoted keys (`'io.containerd.cri.v1.runtime'`), which the shared TOML line table does
not split correctly yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from customhouse.misconfig.checks._hostconfig import is_loopback, replace_value, split_host_port, truthy
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.yamlsrc import json_path

CRI_CONFIG = "https://github.com/containerd/containerd/blob/main/docs/cri/config.md"
HOSTS_DOC = "https://github.com/containerd/containerd/blob/main/docs/hosts.md"
OPS_DOC = "https://github.com/containerd/containerd/blob/main/docs/ops.md"
NIST_800_190 = "https://csrc.nist.gov/pubs/sp/800/190/final"

Key = tuple[str, ...]

_KEY_PART = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([A-Za-z0-9_\-]+))\s*")
_TABLE = re.compile(r"^\s*\[\[?(.+?)\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(
    r"^\s*((?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="
)


def _split(raw: str) -> Key | None:
    """Dotted TOML key into its parts (bare, "basic" and 'literal' quoting), None if malformed."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_PART.match(raw, pos)
        if not m or m.end() == pos:
            return None
        parts.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
        if pos >= len(raw):
            return tuple(parts)
        if raw[pos] != ".":
            return None
        pos += 1


@lru_cache(maxsize=16)
def _line_index(text: str) -> dict[Key, int]:
    """Line of every table header and `key = value` line, keyed by full dotted path."""
    out: dict[Key, int] = {}
    table: Key = ()
    in_multiline = ""
    for n, line in enumerate(text.splitlines(), 1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = ""
            continue
        t = _TABLE.match(line)
        if t and "=" not in line.split("]", 1)[0]:
            key = _split(t.group(1))
            if key is not None:
                table = key
                out.setdefault(table, n)
            continue
        a = _ASSIGN.match(line)
        if a:
            key = _split(a.group(1))
            if key is not None:
                out.setdefault((*table, *key), n)
            rest = line[a.end() :]
            for q in ('"""', "'''"):
                if rest.count(q) == 1:
                    in_multiline = q
    return out


@dataclass
class _Config:
    doc: Document
    data: dict[str, Any]

    def line(self, path: Key) -> int:
        index = _line_index(self.doc.text)
        p = path
        while p:
            if p in index:
                return index[p]
            p = p[:-1]
        return 0

    def get(self, path: Key) -> Any:
        cur: Any = self.data
        for part in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(part)
        return cur

    def at(self, message: str, path: Key, fix: str = "", replacement: str = "") -> Violation:
        return Violation(
            message=message, line=self.line(path), fix=fix, replacement=replacement, json_path=json_path(path)
        )

    def set_value(self, path: Key, value: str) -> str:
        """The key's line with the value replaced, when the key is written on a line of its own."""
        index = _line_index(self.doc.text)
        if path not in index:
            return ""
        line = self.doc.source(index[path])
        m = re.match(r"\s*", line)
        start = m.end() if m else 0
        return replace_value(line, value, start + 1)

    @property
    def version(self) -> int:
        v = self.data.get("version", 1)
        return v if isinstance(v, int) else 1

    def _cri_disabled(self) -> bool:
        disabled = self.data.get("disabled_plugins")
        names = {str(x) for x in disabled} if isinstance(disabled, list) else set()
        return bool(names & {"cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime"})

    def _table(self, v1: str, v2: str, v3: str) -> Key | None:
        if self._cri_disabled():
            return None
        name = {1: v1, 2: v2}.get(self.version, v3)
        return ("plugins", name)

    @property
    def runtime(self) -> Key | None:
        """The table holding CRI runtime options (AppArmor, SELinux, runtimes)."""
        return self._table("cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime")

    @property
    def images(self) -> Key | None:
        """The table holding CRI image options (registry)."""
        return self._table("cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images")

    @property
    def server(self) -> Key | None:
        """The table holding the CRI streaming server options."""
        return self._table("cri", "io.containerd.grpc.v1.cri", "io.containerd.grpc.v1.cri")


def _configs(doc: Document) -> Iterator[_Config]:
    data = getattr(doc.data, "data", None)
    if isinstance(data, dict):
        yield _Config(doc, data)


@check(
    "CH-CD-001",
    "AppArmor disabled in containerd",
    "high",
    ["containerd"],
    description="The CRI plugin sets `disable_apparmor = true`.",
    rationale="""
With AppArmor support disabled, containerd applies no AppArmor profile to any pod, even pods that
ask for `runtime/default`: the profile that blocks writes to /proc and /sys and mounting inside
containers is silently gone on every node using this file.
""",
    remediation="Set `disable_apparmor = false` (the default). The option exists for daemons "
    "without permission to load profiles (rootless, nested), not for production nodes.",
    references=[CRI_CONFIG, "https://kubernetes.io/docs/tutorials/security/apparmor/"],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1611"),
)
def apparmor_disabled(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if c.runtime is None:
            continue
        key = (*c.runtime, "disable_apparmor")
        if truthy(c.get(key)):
            yield c.at(
                "AppArmor is disabled for every container run through CRI",
                key,
                fix="Set disable_apparmor = false.",
                replacement=c.set_value(key, "false"),
            )


@check(
    "CH-CD-002",
    "SELinux support disabled in containerd",
    "medium",
    ["containerd"],
    description="The CRI plugin does not set `enable_selinux = true`. Off by default: enable it for "
    "SELinux-enforcing hosts (RHEL, Fedora, CentOS Stream...), where it applies.",
    rationale="""
On an SELinux host containerd labels each pod with its own MCS category only when enable_selinux
is true; otherwise containers run with the runtime's generic label and are not separated from
each other by SELinux, losing the main isolation layer those distributions rely on.
""",
    remediation="Set `enable_selinux = true` in the CRI runtime table on SELinux-enforcing nodes.",
    references=[CRI_CONFIG, "https://kubernetes.io/docs/tasks/configure-pod-container/security-context/"],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1611"),
    enabled_by_default=False,
)
def selinux_disabled(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if c.runtime is None:
            continue
        key = (*c.runtime, "enable_selinux")
        if truthy(c.get(key)):
            continue
        yield c.at(
            "SELinux labeling of containers is not enabled",
            key,
            fix="Set enable_selinux = true on SELinux-enforcing nodes.",
            replacement=c.set_value(key, "true"),
        )


def _registry(c: _Config) -> Key | None:
    return (*c.images, "registry") if c.images is not None else None


@check(
    "CH-CD-003",
    "Registry TLS verification disabled",
    "high",
    ["containerd"],
    description="A registry configuration sets `insecure_skip_verify = true`.",
    rationale="""
Skipping certificate verification lets anyone on the network path impersonate the registry:
they can serve any image for a trusted name and tag and capture pull credentials, and nodes run
whatever they are given.
""",
    remediation="Remove `insecure_skip_verify` and trust the registry's CA instead (`ca_file` in the "
    "registry config, or `ca` in a hosts.toml under `config_path`).",
    references=[HOSTS_DOC, CRI_CONFIG],
    frameworks=Framework(nist_800_190="4.2.1", mitre_attack="T1525"),
)
def skip_verify(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        reg = _registry(c)
        configs = c.get((*reg, "configs")) if reg else None
        if not isinstance(configs, dict) or reg is None:
            continue
        for host in configs:
            key = (*reg, "configs", str(host), "tls", "insecure_skip_verify")
            if truthy(c.get(key)):
                yield c.at(
                    f"TLS certificates of registry {host} are not verified",
                    key,
                    fix=f"Remove insecure_skip_verify for {host} and configure its CA certificate.",
                    replacement=c.set_value(key, "false"),
                )


@check(
    "CH-CD-004",
    "Registry mirror over plain HTTP",
    "high",
    ["containerd"],
    description="A registry mirror `endpoint` uses `http://` (to a host other than loopback).",
    rationale="""
Images pulled over plain HTTP can be replaced in transit by anyone on the network path, and
registry credentials are sent in clear text. Content digests only help when the pod pins one.
""",
    remediation="Serve the mirror over HTTPS and use an `https://` endpoint (with the mirror's CA "
    "configured if it is private).",
    references=[HOSTS_DOC, CRI_CONFIG],
    frameworks=Framework(nist_800_190="4.2.1", mitre_attack="T1525"),
)
def http_mirror(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        reg = _registry(c)
        mirrors = c.get((*reg, "mirrors")) if reg else None
        if not isinstance(mirrors, dict) or reg is None:
            continue
        for host in mirrors:
            key = (*reg, "mirrors", str(host), "endpoint")
            endpoints = c.get(key)
            for ep in endpoints if isinstance(endpoints, list) else []:
                url = str(ep).strip()
                if not url.lower().startswith("http://"):
                    continue
                hostport = url[len("http://") :].split("/", 1)[0]
                if is_loopback(split_host_port(hostport)[0]):
                    continue
                yield c.at(
                    f"images for {host} are pulled from {url} over plain HTTP",
                    key,
                    fix=f"Use an https:// endpoint for the {host} mirror.",
                )


@check(
    "CH-CD-005",
    "runc not using the systemd cgroup driver",
    "low",
    ["containerd"],
    description="A runc runtime sets `SystemdCgroup = false` or leaves it unset (the cgroupfs driver).",
    rationale="""
On systemd hosts (and with cgroup v2) Kubernetes and containerd recommend the systemd driver; a
kubelet using `cgroupDriver: systemd` (the kubeadm default) with containerd on cgroupfs leaves
two managers writing the same cgroup tree, which under memory pressure shows up as pods and
nodes becoming unstable. This is a reliability finding: limits still apply.
""",
    remediation="Set `SystemdCgroup = true` in the runc runtime's options table, matching the "
    "kubelet's `cgroupDriver: systemd` (or set the kubelet to cgroupfs on non-systemd hosts).",
    references=[
        CRI_CONFIG + "#cgroup-driver",
        "https://kubernetes.io/docs/setup/production-environment/container-runtimes/",
    ],
    frameworks=Framework(nist_800_190="4.4.3"),
)
def systemd_cgroup(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if c.runtime is None:
            continue
        runtimes = c.get((*c.runtime, "containerd", "runtimes"))
        if not isinstance(runtimes, dict):
            continue
        for name, rt in runtimes.items():
            if not isinstance(rt, dict):
                continue
            rtype = str(rt.get("runtime_type", "io.containerd.runc.v2"))
            if not rtype.startswith("io.containerd.runc."):
                continue
            base = (*c.runtime, "containerd", "runtimes", str(name))
            key = (*base, "options", "SystemdCgroup")
            value = c.get(key)
            if truthy(value):
                continue
            state = "false" if value is not None else "not set"
            yield c.at(
                f"runtime {name} uses the cgroupfs driver (SystemdCgroup {state})",
                key if value is not None else base,
                fix="Set SystemdCgroup = true to match a kubelet using cgroupDriver: systemd.",
                replacement=c.set_value(key, "true") if value is not None else "",
            )


@check(
    "CH-CD-006",
    "containerd debug logging",
    "low",
    ["containerd"],
    description='`[debug] level` is "debug" or "trace".',
    rationale="""
Debug and trace logging record every API request (including image references and registry
interactions) at a volume nobody reviews and slow the daemon down; production nodes log at info.
""",
    remediation='Set `level = "info"` in the `[debug]` table (or remove it).',
    references=[OPS_DOC],
    frameworks=Framework(nist_800_190="4.4.3"),
)
def debug_level(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        key = ("debug", "level")
        level = str(c.get(key) or "").strip().lower()
        if level in ("debug", "trace"):
            yield c.at(
                f"containerd logs at {level} level",
                key,
                fix='Set level = "info".',
                replacement=c.set_value(key, '"info"'),
            )


@check(
    "CH-CD-007",
    "CRI streaming server not bound to localhost",
    "medium",
    ["containerd"],
    description="`stream_server_address` is set to an address other than loopback (an empty value "
    "binds the node's primary address).",
    rationale="""
The streaming server carries `kubectl exec`, `attach` and `port-forward` sessions. The kubelet
reaches it on localhost; exposed on a node address (and, by default, without TLS) the one-time
session URLs can be intercepted and sessions hijacked from the network.
""",
    remediation='Keep `stream_server_address = "127.0.0.1"` (the default). If it must listen on the '
    "network, set `enable_tls_streaming = true` with a certificate in `x509_key_pair_streaming`.",
    references=[CRI_CONFIG],
    frameworks=Framework(nist_800_190="4.3.3", mitre_attack="T1609"),
)
def stream_server(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if c.server is None:
            continue
        key = (*c.server, "stream_server_address")
        addr = c.get(key)
        if addr is None:
            continue
        a = str(addr).strip()
        if a and is_loopback(a):
            continue
        tls = truthy(c.get((*c.server, "enable_tls_streaming")))
        where = a or "the node's primary address"
        yield c.at(
            f"the exec/attach streaming server listens on {where} {'with' if tls else 'without'} TLS",
            key,
            fix='Set stream_server_address = "127.0.0.1".',
            replacement=c.set_value(key, '"127.0.0.1"'),
        )


@check(
    "CH-CD-008",
    "containerd API exposed over TCP without TLS client verification",
    "critical",
    ["containerd"],
    description="`[grpc] tcp_address` is set without `tcp_tls_cert`/`tcp_tls_key` and `tcp_tls_ca`.",
    rationale="""
The containerd API has no authorization: a client that can connect can create containers with any
mounts and privileges, which is root on the node. The Unix socket is protected by file
permissions; a TCP listener without mutual TLS is open to anyone who can reach it.
""",
    remediation="Remove `tcp_address`. If remote access is unavoidable, set `tcp_tls_cert`, "
    "`tcp_tls_key` and `tcp_tls_ca` so only clients with certificates from that CA can connect.",
    references=[OPS_DOC],
    frameworks=Framework(nist_800_190="4.3.1", mitre_attack="T1133"),
)
def grpc_tcp(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        key = ("grpc", "tcp_address")
        addr = str(c.get(key) or "").strip()
        if not addr:
            continue
        cert = str(c.get(("grpc", "tcp_tls_cert")) or "").strip() and str(c.get(("grpc", "tcp_tls_key")) or "")
        ca = str(c.get(("grpc", "tcp_tls_ca")) or "").strip()
        if cert and ca:
            continue
        how = "with TLS but without client certificate verification" if cert else "without TLS"
        yield c.at(
            f"the containerd API listens on tcp {addr} {how}: anyone who can connect is root on the node",
            key,
            fix="Remove tcp_address, or set tcp_tls_cert, tcp_tls_key and tcp_tls_ca.",
            replacement=c.set_value(key, '""'),
        )
