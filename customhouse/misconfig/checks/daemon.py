"""Checks for the Docker daemon's configuration file, daemon.json (CIS Docker Benchmark section 2).

daemon.json sets the defaults every container on the host inherits (inter-container traffic,
user namespaces, no-new-privileges, logging) and decides who can reach the Docker API at all.
A setting that is absent takes dockerd's built-in default, which for most of these is the less
safe choice, so "missing" is reported as well as "wrong", pointing at the opening brace of the
object; values given on the command line (`dockerd --icc=false`) override the file and are not
visible here, which the messages say.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from customhouse.misconfig.checks._hostconfig import falsy, insert_after, is_loopback, replace_value, truthy
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.yamlsrc import LocatedDoc, json_path

DOCKERD = "https://docs.docker.com/reference/cli/dockerd/"
DAEMON_FILE = DOCKERD + "#daemon-configuration-file"
CIS_DOCKER = "https://www.cisecurity.org/benchmark/docker"
NOT_VISIBLE = " (unless set on the dockerd command line)"


@dataclass
class _Config:
    doc: Document
    ld: LocatedDoc
    data: dict[str, Any]

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def at(self, message: str, *keys: str | int, fix: str = "", replacement: str = "", snippet: str = "") -> Violation:
        p = tuple(keys)
        return Violation(
            message=message,
            line=self.ld.line(p) if p else self.ld.start_line,
            column=self.ld.column(p) if p else 0,
            snippet=snippet,
            fix=fix,
            replacement=replacement,
            json_path=json_path(p),
        )

    def set_value(self, key: str, value: str) -> str:
        return replace_value(self.doc.source(self.ld.line((key,))), value, self.ld.column((key,)))

    def missing(self, message: str, key: str, value: str, fix: str) -> Violation:
        """A violation on the object's opening line that adds `"key": value` as its first member."""
        snippet = replacement = ""
        anchor = self.doc.source(self.ld.start_line)
        if anchor.strip() == "{" and self.data:
            first = self.doc.source(self.ld.line((next(iter(self.data)),)))
            indent = first[: len(first) - len(first.lstrip())] or "  "  # tabs stay tabs
            snippet, replacement = insert_after(self.doc, self.ld.start_line, indent, f'"{key}": {value},')
        return self.at(message + NOT_VISIBLE, fix=fix, replacement=replacement, snippet=snippet)


def _configs(doc: Document) -> Iterator[_Config]:
    for ld in doc.data if isinstance(doc.data, list) else []:
        if isinstance(ld, LocatedDoc) and isinstance(ld.data, dict):
            yield _Config(doc, ld, ld.data)


def _require(doc: Document, key: str, good: bool, what: str, fix: str) -> Iterator[Violation]:
    """Settings that must be explicitly `good` (true or false): absent means dockerd's unsafe default."""
    want = "true" if good else "false"
    for c in _configs(doc):
        value = c.data.get(key)
        ok = truthy(value) if good else falsy(value)
        if ok:
            continue
        if c.has(key):
            yield c.at(f'"{key}" is {_show(value)}: {what}', key, fix=fix, replacement=c.set_value(key, want))
        else:
            yield c.missing(f'"{key}" is not set, so dockerd defaults to {_default(good)}: {what}', key, want, fix)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _default(good: bool) -> str:
    return "false" if good else "true"


@check(
    "CH-DD-001",
    "Inter-container communication not restricted",
    "medium",
    ["docker-daemon"],
    description='daemon.json does not set `"icc": false`.',
    rationale="""
By default every container on the default bridge network can reach every other container on any
port. One compromised container can then probe and attack the others (databases, admin
interfaces) that were never meant to be reachable from it.
""",
    remediation='Set `"icc": false` and connect containers that must talk through user-defined '
    "networks or explicit links.",
    references=[DAEMON_FILE, "https://docs.docker.com/engine/network/drivers/bridge/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.2", nist_800_190="4.4.2"),
)
def icc(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _require(doc, "icc", False, "containers on the default bridge can reach each other", 'Set "icc": false.')


@check(
    "CH-DD-002",
    "User namespace remapping disabled",
    "medium",
    ["docker-daemon"],
    description="daemon.json does not set `userns-remap`.",
    rationale="""
Without user namespace remapping, uid 0 in a container is uid 0 on the host. Any container escape
(a kernel bug, a mount mistake, a runtime CVE) then lands as host root; with remapping it lands
as an unprivileged subordinate uid.
""",
    remediation='Set `"userns-remap": "default"` (Docker creates the dockremap user and its '
    "subordinate id ranges), after checking that volumes and images work with remapped ids.",
    references=["https://docs.docker.com/engine/security/userns-remap/", DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.9", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def userns_remap(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        value = c.data.get("userns-remap")
        if isinstance(value, str) and value.strip():
            continue
        if c.has("userns-remap"):
            yield c.at(
                '"userns-remap" is empty: container root is host root',
                "userns-remap",
                fix='Set "userns-remap": "default".',
                replacement=c.set_value("userns-remap", '"default"'),
            )
        else:
            yield c.missing(
                '"userns-remap" is not set: container root is host root',
                "userns-remap",
                '"default"',
                'Set "userns-remap": "default".',
            )


@check(
    "CH-DD-003",
    "Live restore disabled",
    "low",
    ["docker-daemon"],
    description='daemon.json does not set `"live-restore": true`.',
    rationale="""
Without live restore, stopping or upgrading dockerd stops every container. Operators then delay
daemon security updates to avoid the outage; live restore keeps containers running while the
daemon is patched.
""",
    remediation='Set `"live-restore": true` (not supported together with swarm mode).',
    references=["https://docs.docker.com/engine/daemon/live-restore/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.15", nist_800_190="4.4.1"),
)
def live_restore(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _require(
        doc, "live-restore", True, "restarting dockerd stops every container", 'Set "live-restore": true.'
    )


@check(
    "CH-DD-004",
    "no-new-privileges not the default",
    "medium",
    ["docker-daemon"],
    description='daemon.json does not set `"no-new-privileges": true`.',
    rationale="""
With no-new-privileges as the daemon default, no process in any container can gain privileges
through setuid or file-capability binaries, whether or not each compose file or `docker run`
remembered `--security-opt no-new-privileges`.
""",
    remediation='Set `"no-new-privileges": true`; the rare container that needs setuid binaries can '
    "opt out with `--security-opt no-new-privileges=false`.",
    references=[DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.14", nist_800_190="4.4.3", mitre_attack="T1068"),
)
def no_new_privileges(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _require(
        doc,
        "no-new-privileges",
        True,
        "containers can gain privileges through setuid binaries",
        'Set "no-new-privileges": true.',
    )


@check(
    "CH-DD-005",
    "Userland proxy enabled",
    "low",
    ["docker-daemon"],
    description='daemon.json does not set `"userland-proxy": false`.',
    rationale="""
The userland proxy is a docker-proxy process per published port, listening on the host. With
hairpin NAT available it is unnecessary, and each instance is extra attack surface that also
hides the real client address from the container.
""",
    remediation='Set `"userland-proxy": false` (iptables/nftables NAT handles published ports).',
    references=["https://docs.docker.com/engine/network/packet-filtering-firewalls/", DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.16", nist_800_190="4.5.1"),
)
def userland_proxy(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _require(
        doc,
        "userland-proxy",
        False,
        "a docker-proxy process listens for every published port",
        'Set "userland-proxy": false.',
    )


def _loopback_registry(entry: str) -> bool:
    e = entry.strip()
    try:
        return ipaddress.ip_network(e, strict=False).is_loopback
    except ValueError:
        pass
    host = e.split("/", 1)[0]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    return is_loopback(host)


@check(
    "CH-DD-006",
    "Insecure registry allowed",
    "high",
    ["docker-daemon"],
    description="daemon.json lists registries in `insecure-registries` (other than loopback ones, "
    "which dockerd treats as insecure anyway).",
    rationale="""
For an insecure registry Docker accepts plain HTTP or any TLS certificate. Anyone on the network
path can then serve a different image for the same name and tag, and pull credentials are sent
in clear text.
""",
    remediation="Remove the entry and give the registry a certificate; for a private CA, install it "
    "under /etc/docker/certs.d/<registry>/ca.crt instead of disabling verification.",
    references=[DOCKERD + "#insecure-registries", "https://docs.docker.com/engine/security/certificates/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.5", nist_800_190="4.2.1", mitre_attack="T1525"),
)
def insecure_registries(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        regs = c.data.get("insecure-registries")
        for i, reg in enumerate(regs if isinstance(regs, list) else []):
            if isinstance(reg, str) and reg.strip() and not _loopback_registry(reg):
                yield c.at(
                    f"registry {reg} is allowed without TLS verification",
                    "insecure-registries",
                    i,
                    fix=f"Remove {reg} from insecure-registries and trust its CA in /etc/docker/certs.d.",
                )


def _tcp_host(h: str) -> bool:
    s = h.strip().lower()
    if s.startswith("tcp://"):
        return True
    return "://" not in s and re.fullmatch(r"[\w.\-\[\]:]*:\d+", s) is not None


@check(
    "CH-DD-007",
    "Docker API exposed over TCP without TLS client verification",
    "critical",
    ["docker-daemon"],
    description="`hosts` contains a `tcp://` address while `tlsverify` is not true.",
    rationale="""
The Docker API has no authorization of its own: anyone who can connect can start a privileged
container that mounts the host's root file system. Over TCP without TLS client certificates, that
is anyone who can reach the port (including any local user or container for 127.0.0.1); `tls`
alone encrypts but still accepts every client.
""",
    remediation="Prefer the Unix socket (or SSH: `DOCKER_HOST=ssh://host`). If TCP is required, set "
    '`"tlsverify": true` with `tlscacert`, `tlscert` and `tlskey`, listen on port 2376 and issue client '
    "certificates only to administrators.",
    references=[
        "https://docs.docker.com/engine/security/protect-access/",
        DOCKERD + "#bind-docker-to-another-hostport-or-a-unix-socket",
        CIS_DOCKER,
    ],
    frameworks=Framework(cis_docker="2.7", nist_800_190="4.3.1", mitre_attack="T1133"),
)
def tcp_without_tls(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if truthy(c.data.get("tlsverify")):
            continue
        hosts = c.data.get("hosts")
        how = "with TLS but without client certificate verification" if truthy(c.data.get("tls")) else "without TLS"
        for i, h in enumerate(hosts if isinstance(hosts, list) else []):
            if isinstance(h, str) and _tcp_host(h):
                yield c.at(
                    f"the Docker API listens on {h} {how}: anyone who can connect is root on the host",
                    "hosts",
                    i,
                    fix='Remove the TCP listener, or set "tlsverify": true with tlscacert/tlscert/tlskey.',
                )


@check(
    "CH-DD-008",
    "Container logging disabled",
    "medium",
    ["docker-daemon"],
    description='daemon.json sets `"log-driver": "none"`.',
    rationale="""
With the `none` driver containers' output is discarded: an incident leaves no trace of what a
compromised service printed, and `docker logs` shows nothing.
""",
    remediation='Use a driver that keeps or ships logs: `"log-driver": "local"`, or a central one '
    "(syslog, journald, fluentd, gelf, awslogs...).",
    references=["https://docs.docker.com/engine/logging/configure/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.13", nist_800_190="4.4.3", mitre_attack="T1562.001"),
)
def log_driver_none(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if str(c.data.get("log-driver", "")).strip().lower() == "none":
            yield c.at(
                'the "none" log driver discards all container output',
                "log-driver",
                fix='Use "log-driver": "local" or a central logging driver.',
                replacement=c.set_value("log-driver", '"local"'),
            )


@check(
    "CH-DD-009",
    "Container logs kept locally without rotation",
    "low",
    ["docker-daemon"],
    description="The log driver is the default `json-file` and `log-opts` sets no `max-size`.",
    rationale="""
The default json-file driver keeps every line a container prints, on the host only, forever: a
noisy or malicious container can fill the disk that the daemon and other containers need, and the
logs are lost with the host rather than shipped somewhere an attacker cannot edit them.
""",
    remediation='Ship logs to a central driver, or at least rotate: `"log-driver": "local"` or '
    '`"log-opts": {"max-size": "10m", "max-file": "3"}`.',
    references=[
        "https://docs.docker.com/engine/logging/drivers/json-file/",
        "https://docs.docker.com/engine/logging/configure/",
        CIS_DOCKER,
    ],
    frameworks=Framework(cis_docker="2.13", nist_800_190="4.4.3", mitre_attack="T1499"),
)
def log_rotation(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        driver = str(c.data.get("log-driver", "") or "json-file").strip().lower()
        if driver != "json-file":
            continue
        opts = c.data.get("log-opts")
        if isinstance(opts, dict) and str(opts.get("max-size", "")).strip() not in ("", "-1"):
            continue
        msg = "container logs are written to json-file without max-size, so they grow without bound"
        fix = 'Add "log-opts": {"max-size": "10m", "max-file": "3"} or use a central log driver.'
        if c.has("log-opts"):
            yield c.at(msg, "log-opts", fix=fix)
        elif c.has("log-driver"):
            yield c.at(msg, "log-driver", fix=fix)
        else:
            yield c.missing(msg, "log-opts", '{"max-size": "10m", "max-file": "3"}', fix)


@check(
    "CH-DD-010",
    "Default ulimits not set",
    "low",
    ["docker-daemon"],
    description="daemon.json has no `default-ulimits`.",
    rationale="""
Without daemon-wide ulimits containers inherit the daemon's limits, which are typically very high
for open files and processes: a fork bomb or descriptor leak in one container exhausts the host.
""",
    remediation='Set `"default-ulimits"`, for example `{"nofile": {"Name": "nofile", "Hard": 65536, '
    '"Soft": 65536}, "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}}`, sized for the workloads.',
    references=[DOCKERD + "#default-ulimit", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.8", nist_800_190="4.4.3", mitre_attack="T1499"),
)
def default_ulimits(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        ul = c.data.get("default-ulimits")
        if isinstance(ul, dict) and ul:
            continue
        msg = "no default ulimits: containers inherit the daemon's process and file limits"
        fix = 'Set "default-ulimits" with nofile and nproc limits.'
        if c.has("default-ulimits"):
            yield c.at(msg, "default-ulimits", fix=fix)
        else:
            yield c.at(msg + NOT_VISIBLE, fix=fix)


@check(
    "CH-DD-011",
    "Experimental features enabled",
    "low",
    ["docker-daemon"],
    description='daemon.json sets `"experimental": true`.',
    rationale="""
Experimental features are unfinished and exempt from the stability and security review that
released features get; they should not run on production hosts.
""",
    remediation='Remove `"experimental": true` (or set it to false).',
    references=[DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.18", nist_800_190="4.4.1"),
)
def experimental(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if truthy(c.data.get("experimental")):
            yield c.at(
                "experimental daemon features are enabled",
                "experimental",
                fix='Set "experimental": false.',
                replacement=c.set_value("experimental", "false"),
            )


@check(
    "CH-DD-012",
    "No authorization plugin",
    "low",
    ["docker-daemon"],
    description="daemon.json configures no `authorization-plugins`.",
    rationale="""
Without an authorization plugin every user who can reach the Docker socket can do everything,
including starting privileged containers. A plugin can restrict what each client may do (no
privileged containers, no host mounts) instead of all-or-nothing access.
""",
    remediation="Install an authorization plugin that enforces the host's policy and list it in "
    '`"authorization-plugins"`; at minimum keep the socket restricted to administrators.',
    references=["https://docs.docker.com/engine/extend/plugins_authorization/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.12", nist_800_190="4.3.1"),
)
def authorization_plugins(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        plugins = c.data.get("authorization-plugins")
        if isinstance(plugins, list) and any(str(p).strip() for p in plugins):
            continue
        msg = "no authorization plugin: anyone with access to the Docker API has full control"
        if c.has("authorization-plugins"):
            yield c.at(msg, "authorization-plugins", fix="List an authorization plugin.")
        else:
            yield c.at(msg + NOT_VISIBLE, fix='Add "authorization-plugins": ["<plugin>"].')


@check(
    "CH-DD-013",
    "Seccomp disabled for all containers",
    "high",
    ["docker-daemon"],
    description='daemon.json sets `"seccomp-profile": "unconfined"`.',
    rationale="""
This turns off Docker's default seccomp filter for every container that does not bring its own
profile, exposing the full system call interface, and with it most kernel escape techniques, to
all of them.
""",
    remediation='Remove `"seccomp-profile"` (the built-in default profile applies) or point it at a '
    "custom profile file derived from the default.",
    references=["https://docs.docker.com/engine/security/seccomp/", DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.17", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def seccomp_unconfined(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if str(c.data.get("seccomp-profile", "")).strip().lower() == "unconfined":
            yield c.at(
                "seccomp is disabled for every container",
                "seccomp-profile",
                fix='Remove "seccomp-profile" or set it to "builtin" or a custom profile path.',
                replacement=c.set_value("seccomp-profile", '"builtin"'),
            )


@check(
    "CH-DD-014",
    "Docker not allowed to manage iptables",
    "medium",
    ["docker-daemon"],
    description='daemon.json sets `"iptables": false`.',
    rationale="""
With iptables management off, Docker no longer installs the rules that isolate networks from each
other and that `icc: false` relies on; hand-written rules rarely keep up with containers coming
and going, leaving published ports and inter-network traffic unfiltered.
""",
    remediation='Remove `"iptables": false` and add host policy in the DOCKER-USER chain instead.',
    references=["https://docs.docker.com/engine/network/packet-filtering-firewalls/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.4", nist_800_190="4.4.2"),
)
def iptables_disabled(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if falsy(c.data.get("iptables")):
            yield c.at(
                "Docker does not manage iptables, so container network isolation rules are missing",
                "iptables",
                fix='Set "iptables": true and put custom rules in the DOCKER-USER chain.',
                replacement=c.set_value("iptables", "true"),
            )


@check(
    "CH-DD-015",
    "Debug logging enabled",
    "low",
    ["docker-daemon"],
    description='daemon.json sets `"debug": true` or `"log-level": "debug"`.',
    rationale="""
Debug logging records request details (including image pull and registry interactions) at a
volume nobody reviews, and has leaked credentials in the past; production daemons should log at
info.
""",
    remediation='Remove `"debug": true` and set `"log-level": "info"`.',
    references=[DAEMON_FILE, CIS_DOCKER],
    frameworks=Framework(cis_docker="2.3", nist_800_190="4.4.3"),
)
def debug_logging(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if truthy(c.data.get("debug")):
            yield c.at(
                "the daemon runs with debug logging",
                "debug",
                fix='Set "debug": false.',
                replacement=c.set_value("debug", "false"),
            )
        if str(c.data.get("log-level", "")).strip().lower() in ("debug", "trace"):
            yield c.at(
                f"the daemon log level is {c.data['log-level']}",
                "log-level",
                fix='Set "log-level": "info".',
                replacement=c.set_value("log-level", '"info"'),
            )


@check(
    "CH-DD-016",
    "aufs storage driver",
    "low",
    ["docker-daemon"],
    description='daemon.json sets `"storage-driver": "aufs"`.',
    rationale="""
aufs is an out-of-tree, unmaintained file system that has had kernel crash and privilege bugs and
is no longer supported by current Docker releases; overlay2 is the supported driver.
""",
    remediation='Use `"storage-driver": "overlay2"` (images must be re-pulled after the change).',
    references=["https://docs.docker.com/engine/storage/drivers/select-storage-driver/", CIS_DOCKER],
    frameworks=Framework(cis_docker="2.6", nist_800_190="4.5.3"),
)
def aufs(doc: Document, options: Options) -> Iterable[Violation]:
    for c in _configs(doc):
        if str(c.data.get("storage-driver", "")).strip().lower() == "aufs":
            yield c.at(
                "the aufs storage driver is deprecated and unmaintained",
                "storage-driver",
                fix='Use "storage-driver": "overlay2".',
                replacement=c.set_value("storage-driver", '"overlay2"'),
            )
