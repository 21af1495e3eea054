"""Checks for Compose files (the Compose Specification and the older v2/v3 file formats).

A compose file is where a container's isolation is decided for most teams that never write a
`docker run` line: `privileged`, host namespaces, capabilities, bind mounts and published ports
all live here. Each check reads `services.<name>` and points at the offending key, or at the
service's own line when the protective setting is missing, with the line to write instead.

Values are read as Compose reads them: long and short volume/port syntax, list and map forms of
`environment` and `sysctls`, `key:value` and `key=value` forms of `security_opt`. Port strings are
taken from the source text, because YAML 1.1 turns an unquoted `22:22` into the integer 1342.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from customhouse.misconfig.checks._hostconfig import (
    child_indent,
    falsy,
    insert_after,
    is_loopback,
    replace_value,
    truthy,
)
from customhouse.misconfig.checks._secretvalues import secret_reason
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.yamlsrc import LocatedDoc, json_path

COMPOSE_SPEC = "https://docs.docker.com/reference/compose-file/services/"
CIS_DOCKER = "https://www.cisecurity.org/benchmark/docker"
NIST_800_190 = "https://csrc.nist.gov/pubs/sp/800/190/final"
RUN_PRIVILEGES = "https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities"


# --------------------------------------------------------------------------------------------
# reading services


@dataclass
class _Service:
    doc: Document
    ld: LocatedDoc
    name: str
    data: dict[str, Any]
    key: Any  # the mapping key as parsed (YAML allows `123:` as a service name)

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("services", self.key)

    def line(self, *keys: str | int) -> int:
        return self.ld.line((*self.path, *keys))

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def at(self, message: str, *keys: str | int, fix: str = "", replacement: str = "", snippet: str = "") -> Violation:
        p = (*self.path, *keys)
        return Violation(
            message=message,
            line=self.ld.line(p),
            column=self.ld.column(p),
            snippet=snippet,
            fix=fix,
            replacement=replacement,
            json_path=json_path(p),
            resource_kind="service",
            resource_name=self.name,
        )

    def set_value(self, key: str, new_value: str) -> str:
        """The key's source line with its value replaced (for `privileged: false` style fixes)."""
        p = (*self.path, key)
        return replace_value(self.doc.source(self.ld.line(p)), new_value, self.ld.column(p))

    def missing(self, message: str, text: str, fix: str) -> Violation:
        """A violation on the service's line; with `text`, a replacement that adds it as a new key.

        Settings whose right value depends on the service (a user id, a memory size, a probe)
        get no replacement: a guessed value applied mechanically would break the service.
        """
        line = self.line()
        anchor = self.doc.source(line)
        snippet = replacement = ""
        if text and anchor.split("#", 1)[0].rstrip().endswith(":"):
            first = next(iter(self.data), None)
            col = self.ld.column((*self.path, first)) if first is not None else 0
            snippet, replacement = insert_after(self.doc, line, child_indent(anchor, col), text)
        return self.at(message, fix=fix, replacement=replacement, snippet=snippet)

    def raw(self, *keys: str | int) -> str:
        """The scalar as written in the source (quotes removed), for values YAML 1.1 mangles."""
        p = (*self.path, *keys)
        line, col = self.ld.line(p), self.ld.column(p)
        text = self.doc.source(line)
        if not text or col <= 0:
            return ""
        rest = text[col - 1 :]
        if isinstance(p[-1], str):  # a mapping key: the value follows `key:`
            m = re.match(r"(?:\"[^\"]*\"|'[^']*'|[^:\s]+)\s*:\s*", rest)
            rest = rest[m.end() :] if m else ""
        if rest[:1] in "\"'":
            q = rest[0]
            end = rest.find(q, 1)
            return rest[1:end] if end > 0 else rest[1:]
        m = re.match(r"[^\s,\]}#]+", rest)
        return m.group(0) if m else ""


def _services(doc: Document) -> Iterator[_Service]:
    docs = doc.data if isinstance(doc.data, list) else []
    for ld in docs:
        if not isinstance(ld, LocatedDoc) or not isinstance(ld.data, dict):
            continue
        services = ld.data.get("services")
        if not isinstance(services, dict):
            continue
        for name, svc in services.items():
            if isinstance(svc, dict):
                yield _Service(doc, ld, str(name), svc, name)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pairs(value: Any, sep: str = "=") -> Iterator[tuple[Any, str, Any]]:
    """(path key, name, value) of a map-or-list setting such as `environment` or `sysctls`.

    The list form `NAME=value` yields the item index as the path key; `NAME` alone (value taken
    from the shell) yields None as the value, the same as an empty map entry.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, str(k), v
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                name, eq, val = item.partition(sep)
                yield i, name.strip(), (val if eq else None)


# --------------------------------------------------------------------------------------------
# privileges and namespaces


@check(
    "CH-DC-001",
    "Privileged container",
    "critical",
    ["compose"],
    description="A service sets `privileged: true`.",
    rationale="""
A privileged container gets every capability, all host devices, and no seccomp, AppArmor or
SELinux confinement. Root in such a container is root on the host: mounting the host disk or
loading a kernel module is one command away.
""",
    remediation="Remove `privileged: true` (or set `privileged: false`) and grant only the specific "
    "capabilities or devices the service needs with `cap_add` / `devices`.",
    references=[RUN_PRIVILEGES, COMPOSE_SPEC + "#privileged", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.5", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def privileged(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        if truthy(s.data.get("privileged")):
            yield s.at(
                f"service {s.name!r} runs privileged",
                "privileged",
                fix="Set `privileged: false` and add only the capabilities the service needs.",
                replacement=s.set_value("privileged", "false"),
            )


def _host_namespace(doc: Document, key: str, what: str, fix: str) -> Iterator[Violation]:
    for s in _services(doc):
        if str(s.data.get(key, "")).strip().lower() == "host":
            yield s.at(f"service {s.name!r} shares the host's {what} (`{key}: host`)", key, fix=fix)


@check(
    "CH-DC-002",
    "Host network namespace shared",
    "high",
    ["compose"],
    description="A service sets `network_mode: host`.",
    rationale="""
With the host's network namespace the container sees every host interface, can bind any host
port, reach services listening only on localhost (the Docker API on tcp://127.0.0.1, the
kubelet, cloud metadata helpers) and, with NET_RAW, sniff host traffic. Published ports and
network isolation no longer apply.
""",
    remediation="Remove `network_mode: host`; publish the ports the service needs with `ports:` "
    "and connect services through a user-defined network.",
    references=[COMPOSE_SPEC + "#network_mode", "https://docs.docker.com/engine/network/drivers/host/", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.10", nist_800_190="4.4.2"),
)
def host_network(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _host_namespace(
        doc, "network_mode", "network namespace", "Remove `network_mode: host` and publish ports with `ports:`."
    )


@check(
    "CH-DC-003",
    "Host PID namespace shared",
    "high",
    ["compose"],
    description="A service sets `pid: host`.",
    rationale="""
In the host's PID namespace the container sees every process on the host with its command line
and environment, can signal them, and with CAP_SYS_PTRACE can attach to them; /proc/<pid>/root
then leads into other containers' and the host's file systems.
""",
    remediation="Remove `pid: host`. Debugging tools that need other processes should run as a "
    "one-off container, not as part of the deployed service.",
    references=[COMPOSE_SPEC + "#pid", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.16", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def host_pid(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _host_namespace(doc, "pid", "process namespace", "Remove `pid: host`.")


@check(
    "CH-DC-004",
    "Host IPC namespace shared",
    "medium",
    ["compose"],
    description="A service sets `ipc: host`.",
    rationale="""
The host's IPC namespace exposes the host's shared memory segments, semaphores and message queues
to the container, which can read or corrupt data that host processes exchange through them.
""",
    remediation="Remove `ipc: host`; to share memory between two services use `ipc: shareable` on "
    'one and `ipc: "service:<name>"` on the other.',
    references=[COMPOSE_SPEC + "#ipc", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.17", nist_800_190="4.4.3"),
)
def host_ipc(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _host_namespace(
        doc, "ipc", "IPC namespace", "Remove `ipc: host` (use `ipc: shareable` between services)."
    )


@check(
    "CH-DC-005",
    "Host user namespace shared",
    "medium",
    ["compose"],
    description="A service sets `userns_mode: host`.",
    rationale="""
When the daemon remaps users (`userns-remap`), root in a container is an unprivileged user on the
host. `userns_mode: host` opts the service out, so its root is the host's root again and a
breakout lands with full privileges.
""",
    remediation="Remove `userns_mode: host` so the service keeps the daemon's user namespace remapping.",
    references=[COMPOSE_SPEC + "#userns_mode", "https://docs.docker.com/engine/security/userns-remap/", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.31", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def host_userns(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _host_namespace(doc, "userns_mode", "user namespace", "Remove `userns_mode: host`.")


@check(
    "CH-DC-006",
    "Host UTS namespace shared",
    "low",
    ["compose"],
    description="A service sets `uts: host`.",
    rationale="""
In the host's UTS namespace a process with CAP_SYS_ADMIN can change the host's hostname, and the
container's identity in logs and metrics becomes the host's, which hides which workload acted.
""",
    remediation="Remove `uts: host`; set the container's name with `hostname:` if it matters.",
    references=[COMPOSE_SPEC + "#uts", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.21", nist_800_190="4.4.3"),
)
def host_uts(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _host_namespace(doc, "uts", "UTS namespace", "Remove `uts: host`.")


# Docker's default capability set: adding one of these back after `cap_drop: [ALL]` grants
# nothing a default container does not already have.
DEFAULT_CAPABILITIES = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)


def _cap(name: Any) -> str:
    c = str(name).strip().upper()
    return c[4:] if c.startswith("CAP_") else c


@check(
    "CH-DC-007",
    "Dangerous capability added",
    "high",
    ["compose"],
    description="`cap_add` grants `ALL` or a capability outside Docker's default set.",
    rationale="""
Capabilities beyond Docker's default set are the usual stepping stones out of a container:
SYS_ADMIN allows mounts and cgroup tricks, SYS_PTRACE attaching to processes, SYS_MODULE loading
kernel modules, DAC_READ_SEARCH reading any file by handle, NET_ADMIN reconfiguring networking.
`ALL` is equivalent to most of `privileged`.
""",
    remediation="Drop the capability, or if the service truly needs it, run that part in a separate, "
    "minimal container and document why.",
    references=[RUN_PRIVILEGES, COMPOSE_SPEC + "#cap_add", "https://man7.org/linux/man-pages/man7/capabilities.7.html"],
    frameworks=Framework(cis_docker="5.4", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def dangerous_caps(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for i, cap in enumerate(_as_list(s.data.get("cap_add"))):
            c = _cap(cap)
            if c == "ALL" or c not in DEFAULT_CAPABILITIES:
                what = "every capability" if c == "ALL" else f"CAP_{c}"
                yield s.at(
                    f"service {s.name!r} adds {what}",
                    "cap_add",
                    i,
                    fix=f"Remove `{cap}` from `cap_add`.",
                )


@check(
    "CH-DC-008",
    "Capabilities not dropped",
    "low",
    ["compose"],
    description="A service does not drop all capabilities with `cap_drop: [ALL]`.",
    rationale="""
Docker's default set still includes NET_RAW (packet spoofing on the bridge), DAC_OVERRIDE,
SETUID/SETGID and MKNOD, which most services never use but an attacker in the container can.
Dropping everything and adding back the few a service needs keeps its privileges explicit.
""",
    remediation="Add `cap_drop: [ALL]` and list only the needed capabilities (for example "
    "NET_BIND_SERVICE) under `cap_add`.",
    references=[RUN_PRIVILEGES, COMPOSE_SPEC + "#cap_drop", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.4", nist_800_190="4.4.3"),
)
def caps_not_dropped(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        if truthy(s.data.get("privileged")):
            continue  # CH-DC-001 says it; cap_drop does not apply to privileged containers
        drops = _as_list(s.data.get("cap_drop"))
        if any(_cap(c) == "ALL" for c in drops):
            continue
        if s.has("cap_drop"):
            yield s.at(
                f"service {s.name!r} drops some capabilities but not ALL",
                "cap_drop",
                fix="Use `cap_drop: [ALL]` and add back only what the service needs.",
            )
        else:
            yield s.missing(
                f"service {s.name!r} keeps Docker's default capabilities",
                "cap_drop: [ALL]",
                "Add `cap_drop: [ALL]` to the service and re-add needed capabilities with `cap_add`.",
            )


# --------------------------------------------------------------------------------------------
# mounts


@dataclass(frozen=True)
class _Mount:
    key: tuple[str | int, ...]  # path below the service: ("volumes", i) or ("volumes", i, "source")
    source: str  # host path, normalised; "" for named/anonymous volumes
    target: str
    read_only: bool
    propagation: str


def _host_path(src: str) -> str:
    """The host path of a bind mount source, or "" when it is a named volume or unknown."""
    s = src.strip()
    if not s or s.startswith("$"):
        return ""
    if s.startswith("~"):
        s = "/home/~" + s[1:]  # a user's home: only the part below it matters to the checks
    elif s.startswith("."):
        return ""  # relative to the project directory: the service's own files
    if not s.startswith("/"):
        return ""
    return posixpath.normpath(s) if s != "/" else "/"


def _mounts(s: _Service) -> Iterator[_Mount]:
    for i, v in enumerate(_as_list(s.data.get("volumes"))):
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) < 2:
                continue  # anonymous volume at a container path
            src, target = parts[0], parts[1]
            modes = {m.strip().lower() for m in ":".join(parts[2:]).split(",") if m.strip()}
            prop = next((m for m in modes if m in {"shared", "rshared", "slave", "rslave", "private", "rprivate"}), "")
            yield _Mount(("volumes", i), _host_path(src), target, bool(modes & {"ro", "readonly"}), prop)
        elif isinstance(v, dict):
            kind = str(v.get("type", "bind" if str(v.get("source", "")).startswith("/") else "volume")).lower()
            if kind != "bind":
                continue
            bind = v.get("bind")
            bind = bind if isinstance(bind, dict) else {}
            yield _Mount(
                ("volumes", i, "source"),
                _host_path(str(v.get("source", ""))),
                str(v.get("target", "")),
                truthy(v.get("read_only")),
                str(bind.get("propagation", "")).lower(),
            )


SOCKET_NAMES = frozenset(
    {"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "cri-dockerd.sock", "buildkitd.sock"}
)
# directories whose whole purpose is to hold the runtime sockets above
SOCKET_DIRS = frozenset(
    {"/run", "/var/run", "/run/containerd", "/var/run/containerd", "/run/crio", "/var/run/crio", "/run/podman"}
)


def _socket(path: str) -> bool:
    return bool(path) and (posixpath.basename(path) in SOCKET_NAMES or path in SOCKET_DIRS)


@check(
    "CH-DC-009",
    "Container runtime socket mounted",
    "critical",
    ["compose"],
    description="A service bind-mounts the Docker, containerd, CRI-O or Podman API socket, or the "
    "directory holding it.",
    rationale="""
Whoever can talk to the runtime socket can start a privileged container that mounts the host's
root file system: it is root on the host, without authentication. A read-only mount does not
help, because connecting to a Unix socket is not a write to the file system.
""",
    remediation="Do not mount the socket. Tools that need the Docker API (reverse proxies, CI "
    "runners) should use a filtering socket proxy that allows only the calls they need, or a "
    "rootless daemon.",
    references=["https://docs.docker.com/engine/security/#docker-daemon-attack-surface", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.32", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def socket_mount(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for m in _mounts(s):
            if _socket(m.source):
                ro = " (read-only does not protect a socket)" if m.read_only else ""
                yield s.at(
                    f"service {s.name!r} mounts the container runtime socket {m.source}{ro}",
                    *m.key,
                    fix=f"Remove the {m.source} mount; give the service a filtering API proxy instead.",
                )


# Exactly these paths, or anything below them.
_SENSITIVE_TREES = (
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/etc/kubernetes",
    "/etc/docker",
    "/etc/containerd",
    "/etc/ssh",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/passwd",
    "/etc/pam.d",
    "/etc/systemd",
    "/etc/cron.d",
    "/etc/crontab",
    "/etc/ld.so.preload",
    "/lib/modules",
    "/usr/lib/modules",
    "/var/spool/cron",
)
# Exactly these paths (a subdirectory such as /home/me/project or /var/log/app is ordinary data).
_SENSITIVE_EXACT = frozenset(
    {"/", "/etc", "/home", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/var", "/var/lib", "/var/log"}
)
_CREDENTIAL_DIRS = (".ssh", ".aws", ".kube", ".docker", ".gnupg", ".azure", ".config/gcloud")
_HARMLESS = frozenset({"/dev/log", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"})


def sensitive_host_path(path: str) -> bool:
    """Whether a bind mount of host `path` exposes the host's kernel, devices, credentials or config."""
    if not path or path in _HARMLESS or _socket(path):
        return False
    if path in _SENSITIVE_EXACT or re.fullmatch(r"/home/[^/]+", path):
        return True  # a whole home directory carries its owner's keys and shell startup files
    if any(path == t or path.startswith(t + "/") for t in _SENSITIVE_TREES):
        return True
    return any(f"/{d}/" in path + "/" for d in _CREDENTIAL_DIRS)


def _display(path: str) -> str:
    return "~" + path[len("/home/~") :] if path.startswith("/home/~") else path


@check(
    "CH-DC-010",
    "Sensitive host path mounted writable",
    "high",
    ["compose"],
    description="A service bind-mounts a sensitive host path (/, /etc, /proc, /sys, /dev, /boot, /root, "
    "/var/lib/docker, credential directories...) without `:ro`.",
    rationale="""
A writable mount of host system directories lets the container change what the host runs: add a
cron job or systemd unit, replace a binary, edit /etc/shadow or sudoers, or write to
/proc/sys and /sys. It is a direct path from a compromised service to the host.
""",
    remediation="Remove the mount, mount only the specific file the service needs, or at least "
    "mount it read-only (`:ro` or `read_only: true`).",
    references=[COMPOSE_SPEC + "#volumes", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.6", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def sensitive_mount_rw(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for m in _mounts(s):
            if not m.read_only and sensitive_host_path(m.source):
                yield s.at(
                    f"service {s.name!r} mounts host path {_display(m.source)} writable",
                    *m.key,
                    fix=f"Remove the {_display(m.source)} mount or make it read-only.",
                )


@check(
    "CH-DC-011",
    "Sensitive host path mounted read-only",
    "medium",
    ["compose"],
    description="A service bind-mounts a sensitive host path read-only.",
    rationale="""
Even read-only, host system paths leak what an attacker needs next: /etc/shadow hashes, SSH and
cloud credentials under home directories, other containers' files under /var/lib/docker, the
host's process list and environment under /proc.
""",
    remediation="Mount only the specific files the service needs (for a monitoring agent, the "
    "narrowest paths it documents), never whole system directories.",
    references=[COMPOSE_SPEC + "#volumes", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.6", nist_800_190="4.4.3", mitre_attack="T1552.001"),
)
def sensitive_mount_ro(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for m in _mounts(s):
            if m.read_only and sensitive_host_path(m.source):
                yield s.at(
                    f"service {s.name!r} mounts host path {_display(m.source)} (read-only)",
                    *m.key,
                    fix=f"Mount only the files under {_display(m.source)} the service needs.",
                )


@check(
    "CH-DC-012",
    "Shared mount propagation",
    "medium",
    ["compose"],
    description="A bind mount uses `shared` or `rshared` propagation.",
    rationale="""
With shared propagation, mounts made inside the container propagate back to the host (and to
every other container sharing that mount), so a container with mount rights can change what the
host sees under that path.
""",
    remediation="Use the default `rprivate` propagation (remove the propagation option), or `rslave` "
    "if the container must see host mounts appear.",
    references=["https://docs.docker.com/engine/storage/bind-mounts/#configure-bind-propagation", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.20", nist_800_190="4.4.3"),
)
def shared_propagation(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for m in _mounts(s):
            if m.propagation in ("shared", "rshared"):
                key = (*m.key[:2], "bind", "propagation") if len(m.key) > 2 else m.key
                yield s.at(
                    f"service {s.name!r} mounts {m.target or 'a path'} with {m.propagation} propagation",
                    *key,
                    fix="Remove the propagation option (default rprivate) or use rslave.",
                )


# --------------------------------------------------------------------------------------------
# security options


def _security_opts(s: _Service) -> Iterator[tuple[int, str, str]]:
    """(index, option, value) of `security_opt`, accepting both `opt:value` and `opt=value`."""
    for i, item in enumerate(_as_list(s.data.get("security_opt"))):
        text = str(item).strip()
        m = re.match(r"([A-Za-z\-]+)\s*[:=]?\s*(.*)", text)
        if m:
            yield i, m.group(1).lower(), m.group(2).strip()


def _opt_disabled(doc: Document, option: str, value: str, what: str, fix: str) -> Iterator[Violation]:
    for s in _services(doc):
        for i, opt, val in _security_opts(s):
            if opt == option and val.lower() == value:
                yield s.at(f"service {s.name!r} disables {what} (`{opt}:{val}`)", "security_opt", i, fix=fix)


@check(
    "CH-DC-013",
    "Seccomp disabled",
    "high",
    ["compose"],
    description="`security_opt` contains `seccomp:unconfined`.",
    rationale="""
Docker's default seccomp profile blocks around 50 system calls that containers do not need and
that most kernel container escapes rely on (keyctl, unshare of new user namespaces, bpf,
open_by_handle_at, mount...). Unconfined, every kernel bug reachable by syscall is in reach.
""",
    remediation="Remove `seccomp:unconfined`; if one syscall is missing, use a custom profile "
    "(`seccomp:/path/profile.json`) derived from Docker's default that allows just that call.",
    references=["https://docs.docker.com/engine/security/seccomp/", COMPOSE_SPEC + "#security_opt", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.22", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def seccomp_unconfined(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _opt_disabled(
        doc, "seccomp", "unconfined", "seccomp", "Remove `seccomp:unconfined` (or use a custom profile)."
    )


@check(
    "CH-DC-014",
    "AppArmor disabled",
    "high",
    ["compose"],
    description="`security_opt` contains `apparmor:unconfined`.",
    rationale="""
On AppArmor hosts the `docker-default` profile denies writes to /proc and /sys, mounting, and
access to sensitive kernel interfaces. Unconfined, a process with capabilities in the container
can use them against the host's kernel interfaces.
""",
    remediation="Remove `apparmor:unconfined`, or write a dedicated profile and reference it with "
    "`apparmor:<profile>`.",
    references=["https://docs.docker.com/engine/security/apparmor/", COMPOSE_SPEC + "#security_opt", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.2", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def apparmor_unconfined(doc: Document, options: Options) -> Iterable[Violation]:
    yield from _opt_disabled(doc, "apparmor", "unconfined", "AppArmor", "Remove `apparmor:unconfined`.")


@check(
    "CH-DC-015",
    "SELinux labeling disabled",
    "medium",
    ["compose"],
    description="`security_opt` contains `label:disable`.",
    rationale="""
On SELinux hosts every container runs in its own MCS category so that it cannot read other
containers' or the host's files even as root. `label:disable` runs the container unconfined.
""",
    remediation="Remove `label:disable`; relabel bind mounts with the `:z`/`:Z` volume options "
    "instead of turning labeling off.",
    references=["https://docs.docker.com/reference/cli/docker/container/run/#security-opt", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.3", nist_800_190="4.4.3"),
)
def selinux_disabled(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for i, opt, val in _security_opts(s):
            if opt == "label" and val.lower() in ("disable", "disabled"):
                yield s.at(
                    f"service {s.name!r} disables SELinux labeling (`{opt}:{val}`)",
                    "security_opt",
                    i,
                    fix="Remove `label:disable`; use `:z`/`:Z` on bind mounts.",
                )


@check(
    "CH-DC-016",
    "Privilege escalation not blocked",
    "low",
    ["compose"],
    description="A service does not set `security_opt: [no-new-privileges:true]`.",
    rationale="""
Without no-new-privileges, a process in the container can gain privileges by executing a setuid
or setcap binary (su, ping, a planted helper). The flag makes execve never grant more privileges
than the caller had, which closes that path at no cost for ordinary services.
""",
    remediation="Add `no-new-privileges:true` to the service's `security_opt` (or set "
    '`"no-new-privileges": true` in daemon.json for every container).',
    references=[COMPOSE_SPEC + "#security_opt", "https://docs.kernel.org/userspace-api/no_new_privs.html", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.26", nist_800_190="4.4.3", mitre_attack="T1068"),
)
def no_new_privileges(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        opts = list(_security_opts(s))
        found = [(i, val) for i, opt, val in opts if opt == "no-new-privileges"]
        if any(val.lower() in ("", "true", "1") for _, val in found):
            continue
        if found:
            i = found[-1][0]
            yield s.at(
                f"service {s.name!r} sets no-new-privileges to {found[-1][1]}",
                "security_opt",
                i,
                fix="Use `no-new-privileges:true`.",
            )
        elif s.has("security_opt"):
            yield s.at(
                f"service {s.name!r} does not set no-new-privileges",
                "security_opt",
                fix="Add `- no-new-privileges:true` to `security_opt`.",
            )
        else:
            yield s.missing(
                f"service {s.name!r} does not set no-new-privileges",
                'security_opt: ["no-new-privileges:true"]',
                "Add `security_opt: [no-new-privileges:true]` to the service.",
            )


@check(
    "CH-DC-017",
    "Root file system writable",
    "low",
    ["compose"],
    description="A service does not set `read_only: true`.",
    rationale="""
A read-only root file system stops an intruder from dropping tools or persisting changes to the
image's files, and makes any write the service does need explicit (a `tmpfs` or a volume).
""",
    remediation="Set `read_only: true` and give the service `tmpfs:` entries or volumes for the "
    "paths it writes (/tmp, caches, PID files).",
    references=[COMPOSE_SPEC + "#read_only", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.13", nist_800_190="4.4.3", mitre_attack="T1525"),
)
def writable_rootfs(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        if truthy(s.data.get("read_only")):
            continue
        if s.has("read_only"):
            yield s.at(
                f"service {s.name!r} has a writable root file system",
                "read_only",
                fix="Set `read_only: true`.",
                replacement=s.set_value("read_only", "true"),
            )
        else:
            yield s.missing(
                f"service {s.name!r} has a writable root file system",
                "read_only: true",
                "Add `read_only: true` (with `tmpfs:` for paths the service writes).",
            )


# --------------------------------------------------------------------------------------------
# network exposure


@dataclass(frozen=True)
class _Port:
    index: int
    host_ip: str
    targets: tuple[int, int]  # inclusive range of container ports
    text: str


def _port_range(text: str) -> tuple[int, int] | None:
    lo, _, hi = text.strip().partition("-")
    try:
        a = int(lo)
        b = int(hi) if hi else a
    except ValueError:
        return None
    return (a, b) if 0 < a <= b <= 65535 else None


def parse_port(text: str) -> tuple[str, tuple[int, int]] | None:
    """(host IP, container port range) of a short-syntax `ports` entry.

    Forms: `3000`, `3000-3005`, `8000:8000`, `9090-9091:8080-8081`, `127.0.0.1:8001:8001`,
    `127.0.0.1::5000`, `[::1]:6001:6001`, each optionally with `/tcp` or `/udp`.
    """
    spec = text.strip().rsplit("/", 1)[0]
    ip = ""
    if spec.startswith("["):
        ip, _, spec = spec[1:].partition("]")
        spec = spec.lstrip(":")
        parts = spec.split(":")
        parts = ["", *parts] if len(parts) == 1 else parts
    else:
        parts = spec.split(":")
        if len(parts) > 3:  # unbracketed IPv6 address
            ip, parts = ":".join(parts[:-2]), parts[-2:]
        elif len(parts) == 3:
            ip, parts = parts[0], parts[1:]
    rng = _port_range(parts[-1])
    return (ip, rng) if rng else None


def _ports(s: _Service) -> Iterator[_Port]:
    for i, p in enumerate(_as_list(s.data.get("ports"))):
        if isinstance(p, dict):
            rng = _port_range(str(p.get("target", "")))
            if rng:
                yield _Port(i, str(p.get("host_ip", "") or ""), rng, f"target {p.get('target')}")
        else:
            raw = s.raw("ports", i) or str(p)
            parsed = parse_port(raw)
            if parsed:
                yield _Port(i, parsed[0], parsed[1], raw)


@check(
    "CH-DC-018",
    "Administrative port published beyond localhost",
    "high",
    ["compose"],
    description="A service publishes an administrative port (SSH, Telnet, Docker API, RDP, VNC, WinRM, "
    "Kubernetes API, kubelet; configurable) on all host interfaces or a non-loopback address.",
    rationale="""
Remote administration endpoints are the first thing scanners probe. Published on every interface
they are reachable from the network (Docker's port publishing also bypasses host firewall rules
in the INPUT chain), and an unauthenticated Docker API on 2375 is a remote root shell.
""",
    remediation="Do not publish administrative ports. If one is needed for local tooling bind it "
    'to loopback (`"127.0.0.1:2222:22"`); reach it remotely through a VPN or bastion.',
    references=[
        COMPOSE_SPEC + "#ports",
        "https://docs.docker.com/engine/network/packet-filtering-firewalls/",
        CIS_DOCKER,
    ],
    frameworks=Framework(cis_docker="5.14", nist_800_190="4.4.2", mitre_attack="T1133"),
)
def admin_ports(doc: Document, options: Options) -> Iterable[Violation]:
    admin = sorted(options.admin_ports)
    for s in _services(doc):
        for p in _ports(s):
            if p.host_ip and is_loopback(p.host_ip):
                continue
            hits = [a for a in admin if p.targets[0] <= a <= p.targets[1]]
            if not hits:
                continue
            where = "all interfaces" if p.host_ip in ("", "0.0.0.0", "::") else p.host_ip
            yield s.at(
                f"service {s.name!r} publishes administrative port {', '.join(map(str, hits))} on {where}",
                "ports",
                p.index,
                fix=f'Remove the mapping, or bind it to loopback ("127.0.0.1:<host port>:{hits[0]}").',
            )


# --------------------------------------------------------------------------------------------
# secrets


def _mask_line(line: str, value: str) -> str:
    """The source line with the secret value replaced, so reports do not carry the credential."""
    v = value.strip()
    if len(v) < 4 or v not in line:
        return line
    return line.replace(v, v[:2] + "*" * min(len(v) - 2, 12))


@check(
    "CH-DC-019",
    "Secret in plain environment",
    "high",
    ["compose"],
    description="An `environment` entry or build argument holds a literal credential: its name says "
    "it is a secret (PASSWORD, TOKEN, SECRET, API_KEY...) or its value looks like one (cloud keys, "
    "tokens, private keys, URLs with passwords). `${VAR}` interpolation is not reported.",
    rationale="""
A credential written into a compose file is in every clone of the repository and its history, in
CI logs that print the resolved configuration, and in `docker inspect` output for anyone with
access to the daemon. Build arguments are also recorded in the image's history.
""",
    remediation="Use Compose `secrets:` (mounted as files under /run/secrets), or interpolate the "
    "value from an untracked .env file or the deployment environment: `DB_PASSWORD: ${DB_PASSWORD}`. "
    "Rotate any credential that was committed.",
    references=[
        "https://docs.docker.com/compose/how-tos/use-secrets/",
        "https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/",
        NIST_800_190,
    ],
    frameworks=Framework(nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def env_secrets(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        sources: list[tuple[tuple[str, ...], Any, str]] = [(("environment",), s.data.get("environment"), "environment")]
        build = s.data.get("build")
        if isinstance(build, dict):
            sources.append((("build", "args"), build.get("args"), "build argument"))
        for prefix, value, what in sources:
            for key, name, val in _pairs(value):
                reason = secret_reason(name, val)
                if not reason:
                    continue
                line_text = doc.source(s.line(*prefix, key))
                secret = str(val).strip()
                replacement = ""
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and secret and line_text.count(secret) == 1:
                    replacement = line_text.replace(secret, f"${{{name}}}")
                yield s.at(
                    f"service {s.name!r}: {what} {name} is a plain-text secret ({reason})",
                    *prefix,
                    key,
                    snippet=_mask_line(line_text, secret),
                    fix=f"Move {name} to a Compose secret or interpolate it: `{name}: ${{{name}}}`; rotate it.",
                    replacement=replacement,
                )


# --------------------------------------------------------------------------------------------
# identity, devices, kernel parameters


def _is_root_user(user: str) -> bool:
    name = user.strip().split(":", 1)[0].strip()
    return name in ("root", "0")


@check(
    "CH-DC-020",
    "Service runs as root",
    "low",
    ["compose"],
    description="A service sets `user: root` / `user: 0`, or sets no `user` (the image's default user, "
    "which is root unless the image declares another).",
    rationale="""
A process running as root in the container owns every file the image ships and is root on the
host after any breakout (unless user namespaces are remapped). Running as an unprivileged user
removes that whole class of escalation.
""",
    remediation='Set `user: "<uid>:<gid>"` to a non-root user (for example `user: "10001:10001"`) '
    "and make the files it writes owned by that user.",
    references=[COMPOSE_SPEC + "#user", CIS_DOCKER],
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def root_user(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        if s.has("user"):
            user = s.raw("user") or str(s.data["user"])
            if _is_root_user(user):
                yield s.at(
                    f"service {s.name!r} runs as root (`user: {user}`)",
                    "user",
                    fix='Use a non-root user, e.g. `user: "10001:10001"`.',
                )
        else:
            yield s.missing(
                f"service {s.name!r} sets no user and runs as the image's default (root unless the image sets USER)",
                "",
                'Set `user: "<uid>:<gid>"` to a non-root user the image supports.',
            )


@check(
    "CH-DC-021",
    "Host device exposed",
    "medium",
    ["compose"],
    description="A service maps host devices with `devices`, or allows all devices with `device_cgroup_rules`.",
    rationale="""
A host device node gives the container direct access to hardware or kernel interfaces: a block
device exposes the host's disks below any file permission, /dev/mem or /dev/kmsg the kernel,
/dev/fuse and /dev/net/tun new mount and network surfaces.
""",
    remediation="Map only the device the service needs, with the narrowest permissions "
    "(`/dev/xyz:/dev/xyz:r`), and never an `a` (all devices) cgroup rule.",
    references=[COMPOSE_SPEC + "#devices", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.18", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def host_devices(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for i, d in enumerate(_as_list(s.data.get("devices"))):
            src = d.get("source", "") if isinstance(d, dict) else str(d).split(":", 1)[0]
            yield s.at(
                f"service {s.name!r} maps host device {src}",
                "devices",
                i,
                fix=f"Remove the {src} mapping unless the service cannot work without it.",
            )
        for i, rule in enumerate(_as_list(s.data.get("device_cgroup_rules"))):
            if str(rule).strip().startswith("a"):
                yield s.at(
                    f"service {s.name!r} allows access to all devices (`{rule}`)",
                    "device_cgroup_rules",
                    i,
                    fix="Allow only the specific major:minor device numbers the service needs.",
                )


_NAMESPACED_SYSCTLS = ("kernel.shm", "kernel.msg", "fs.mqueue.", "net.")


def unsafe_sysctl(name: str, value: Any) -> str:
    """Why setting sysctl `name` in a container is unsafe, or "" when it stays inside its namespaces."""
    n = name.strip().replace("/", ".")
    if n == "kernel.sem" or n.startswith(_NAMESPACED_SYSCTLS):
        if re.fullmatch(r"net\.ipv4\.conf\.[^.]+\.route_localnet", n) and str(value).strip() not in ("0", ""):
            return "route_localnet lets traffic from outside reach services bound to 127.0.0.1"
        return ""
    return "it is not namespaced, so it would change the host kernel for every container"


@check(
    "CH-DC-022",
    "Unsafe sysctl",
    "medium",
    ["compose"],
    description="A service sets a kernel parameter that is not isolated to the container "
    "(outside kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*), or one of the namespaced "
    "parameters known to weaken isolation (net.ipv4.conf.*.route_localnet).",
    rationale="""
Only IPC and network sysctls are per-container; anything else is a host-wide kernel setting and
writing it from a container changes the host for every workload (the kernel.core_pattern escape
is the classic example). route_localnet, though namespaced, exposes loopback-only services.
""",
    remediation="Remove the sysctl; set host-wide kernel parameters on the host, through its own "
    "configuration management.",
    references=[
        COMPOSE_SPEC + "#sysctls",
        "https://docs.docker.com/reference/cli/docker/container/run/#sysctl",
        "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/",
    ],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1611"),
)
def sysctls(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        for key, name, val in _pairs(s.data.get("sysctls")):
            why = unsafe_sysctl(name, val)
            if why:
                yield s.at(
                    f"service {s.name!r} sets sysctl {name}: {why}",
                    "sysctls",
                    key,
                    fix=f"Remove the {name} sysctl from the service.",
                )


# --------------------------------------------------------------------------------------------
# image, health, restarts, resources


def image_tag(ref: str) -> str | None:
    """The tag of an image reference, "" when there is none, None when it is pinned by digest."""
    if "@" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


@check(
    "CH-DC-023",
    "Image not pinned",
    "medium",
    ["compose"],
    description="A service's `image` has no tag or the `latest` tag (and the service is not built "
    "from a local `build:` context).",
    rationale="""
`latest` and untagged references resolve to whatever the registry serves at pull time: a
redeploy can silently bring a different, possibly compromised or breaking, image, and what runs
cannot be traced back to what was reviewed and scanned.
""",
    remediation="Pin a specific version tag, or better a digest: `image: nginx:1.27.3@sha256:<digest>`.",
    references=[COMPOSE_SPEC + "#image", NIST_800_190],
    frameworks=Framework(nist_800_190="4.2.2", mitre_attack="T1525"),
)
def unpinned_image(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        img = s.data.get("image")
        if not isinstance(img, str) or not img.strip() or "$" in img or s.has("build"):
            continue
        tag = image_tag(img.strip())
        if tag is None or (tag and tag != "latest"):
            continue
        what = "the latest tag" if tag else "no tag (implicitly latest)"
        yield s.at(
            f"service {s.name!r} uses image {img} with {what}",
            "image",
            fix="Pin a version tag and digest, e.g. `image: name:1.2.3@sha256:...`.",
        )


@check(
    "CH-DC-024",
    "No healthcheck",
    "low",
    ["compose"],
    description="A service has no `healthcheck`, or disables it.",
    rationale="""
Without a health check the engine only knows that the process exists: a hung or half-started
service keeps receiving traffic, dependants start too early, and an attack that wedges the
service goes unnoticed. (An image's own HEALTHCHECK also counts; it is not visible here.)
""",
    remediation="Add a `healthcheck:` with a `test` that exercises the service (an HTTP probe, a "
    "client ping), or rely on the image's HEALTHCHECK and do not disable it.",
    references=[COMPOSE_SPEC + "#healthcheck", CIS_DOCKER],
    frameworks=Framework(cis_docker="5.27", nist_800_190="4.4.3"),
)
def no_healthcheck(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        hc = s.data.get("healthcheck")
        if isinstance(hc, dict):
            test = hc.get("test")
            disabled = truthy(hc.get("disable")) or (isinstance(test, list) and test[:1] == ["NONE"])
            if disabled:
                yield s.at(
                    f"service {s.name!r} disables its health check",
                    "healthcheck",
                    fix="Remove `disable: true` / `test: [NONE]` and give the check a real test.",
                )
        elif not s.has("healthcheck"):
            yield s.missing(
                f"service {s.name!r} has no health check (unless its image defines one)",
                "",
                "Add a `healthcheck:` whose `test` probes the service.",
            )


@check(
    "CH-DC-025",
    "Restart policy without a retry limit",
    "low",
    ["compose"],
    description="`restart: always`, `unless-stopped` or `on-failure` without a count, or a "
    "`deploy.restart_policy` without `max_attempts`.",
    rationale="""
A service that crashes on start (or is crashed on purpose) is restarted forever, burning CPU and
filling logs, and an exploit gets unlimited retries. A bounded on-failure policy stops the loop
and surfaces the failure.
""",
    remediation="Use `restart: on-failure:5` (or `deploy.restart_policy` with `condition: on-failure` "
    "and `max_attempts: 5`); let the orchestrator or an alert handle persistent failures.",
    references=[
        COMPOSE_SPEC + "#restart",
        "https://docs.docker.com/reference/compose-file/deploy/#restart_policy",
        CIS_DOCKER,
    ],
    frameworks=Framework(cis_docker="5.15", nist_800_190="4.4.3", mitre_attack="T1499"),
)
def unbounded_restart(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        r = str(s.data.get("restart", "")).strip().lower()
        if r in ("always", "unless-stopped", "on-failure"):
            yield s.at(
                f"service {s.name!r} restarts without limit (`restart: {r}`)",
                "restart",
                fix="Use `restart: on-failure:5`.",
                replacement=s.set_value("restart", '"on-failure:5"'),
            )
        deploy = s.data.get("deploy")
        pol = deploy.get("restart_policy") if isinstance(deploy, dict) else None
        if isinstance(pol, dict):
            cond = str(pol.get("condition", "any")).lower()
            if cond != "none" and pol.get("max_attempts") in (None, 0):
                yield s.at(
                    f"service {s.name!r} has a restart_policy ({cond}) without max_attempts",
                    "deploy",
                    "restart_policy",
                    fix="Add `max_attempts: 5` to `deploy.restart_policy`.",
                )


def _limits(s: _Service) -> dict[str, Any]:
    deploy = s.data.get("deploy")
    res = deploy.get("resources") if isinstance(deploy, dict) else None
    lim = res.get("limits") if isinstance(res, dict) else None
    return lim if isinstance(lim, dict) else {}


def _set(value: Any) -> bool:
    return value is not None and value != "" and not falsy(value) and str(value) not in ("-1", "0.0")


@check(
    "CH-DC-026",
    "No memory or CPU limit",
    "low",
    ["compose"],
    description="A service sets no memory limit (`mem_limit` / `deploy.resources.limits.memory`) or no "
    "CPU limit (`cpus`, `cpu_quota`, `cpu_shares` / `deploy.resources.limits.cpus`).",
    rationale="""
Without limits one service (a leak, a fork bomb, a cryptominer after compromise) can take all of
the host's memory or CPU, starving every other container and the daemon itself; the kernel's OOM
killer then picks victims at random.
""",
    remediation='Set `deploy.resources.limits` (`memory: 512M`, `cpus: "1.0"`) or `mem_limit` / '
    "`cpus` sized for the service.",
    references=[
        "https://docs.docker.com/reference/compose-file/deploy/#resources",
        "https://docs.docker.com/engine/containers/resource_constraints/",
        CIS_DOCKER,
    ],
    frameworks=Framework(cis_docker="5.11, 5.12", nist_800_190="4.4.3", mitre_attack="T1496"),
)
def no_limits(doc: Document, options: Options) -> Iterable[Violation]:
    for s in _services(doc):
        lim = _limits(s)
        mem = _set(s.data.get("mem_limit")) or _set(lim.get("memory"))
        cpu = any(_set(s.data.get(k)) for k in ("cpus", "cpu_quota", "cpu_shares", "cpu_count")) or _set(
            lim.get("cpus")
        )
        missing = [w for w, ok in (("memory", mem), ("CPU", cpu)) if not ok]
        if not missing:
            continue
        msg = f"service {s.name!r} has no {' or '.join(missing)} limit"
        if "deploy" in s.data:
            yield s.at(msg, "deploy", fix='Add `resources: {limits: {memory: 512M, cpus: "1.0"}}` under `deploy`.')
        else:
            yield s.missing(
                msg,
                "",
                "Add `deploy.resources.limits` with `memory` and `cpus` sized for the service.",
            )
