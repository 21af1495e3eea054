"""Pod Security Standards checks (CH-K8S-PSS-*): one engine check per upstream PodSecurity check.

The standards themselves are evaluated by customhouse.misconfig.k8s.pss, exactly as the
PodSecurity admission plugin does (per-version implementations, restricted overriding baseline);
this module turns its results into findings. Each upstream check gets its own stable ID so it
can be skipped, ignored and gated like any other check, and each finding names the upstream
check (`extra.pss_check`), the level it belongs to, the policy version evaluated and the
implementation that failed, so a report can be compared line by line with what
`kubectl label ns ... pod-security.kubernetes.io/enforce=...` would say.

Which checks run is decided by `Options.extra["pss_level"]` (privileged, baseline or restricted;
default restricted) and `Options.extra["pss_version"]` (`v1.N` or latest; default latest): a check
that PSA would not run at that level and version (not yet introduced, or overridden by its
restricted counterpart) reports nothing. Every pod template is evaluated once per document; the
19 checks read the shared result.

Findings point at the offending field (or, for a missing one, at the object that should hold it),
with the line to write instead when one value always satisfies the check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from customhouse.misconfig.checks._hostconfig import replace_value
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.k8s import pss
from customhouse.misconfig.k8s.objects import K8sObject, PodTemplate, dig, load_objects, pod_templates
from customhouse.misconfig.yamlsrc import LocatedDoc, Path_, json_path
from customhouse.report.findings import Severity

PSS_DOC = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
PSA_DOC = "https://kubernetes.io/docs/concepts/security/pod-security-admission/"
SECURITY_CONTEXT_DOC = "https://kubernetes.io/docs/tasks/configure-pod-container/security-context/"
CIS_KUBERNETES = "https://www.cisecurity.org/benchmark/kubernetes"


# --------------------------------------------------------------------------------------------
# settings and locations (also used by the workload hardening checks)


_LAST_SETTINGS: tuple[Any, Any, tuple[str, int]] | None = None


def pss_settings(options: Options) -> tuple[str, int]:
    """(level, policy minor version) from Options.extra; bad values are usage errors (exit 2).

    Each of the 19 checks asks for every document: the last answer is kept for the same two
    values (compared, not trusted by the options object: its `extra` is a mutable mapping)."""
    global _LAST_SETTINGS
    extra = options.extra
    level, version = (extra.get("pss_level"), extra.get("pss_version")) if extra else (None, None)
    last = _LAST_SETTINGS
    if last is not None and last[0] == level and last[1] == version:
        return last[2]
    got = _pss_settings(options)
    _LAST_SETTINGS = (level, version, got)
    return got


def _pss_settings(options: Options) -> tuple[str, int]:
    extra = options.extra or {}
    level = extra.get("pss_level") or pss.DEFAULT_LEVEL
    version = extra.get("pss_version") or pss.DEFAULT_VERSION
    if isinstance(level, str) and isinstance(version, str):
        return _parsed_settings(level, version)
    return pss.parse_level(level), pss.parse_version(version)


@lru_cache(maxsize=64)
def _parsed_settings(level: str, version: str) -> tuple[str, int]:
    # each of the 19 checks asks for every document: parse the two strings once
    return pss.parse_level(level), pss.parse_version(version)


def metadata_path(t: PodTemplate) -> Path_:
    """Where the template's own metadata lives, relative to its owner (next to its `spec`)."""
    return (*t.spec_path[:-1], "metadata")


def full_path(t: PodTemplate, rel: Path_) -> Path_:
    """A template-relative path (("spec", ...) or ("metadata", ...)) as a path inside the document."""
    head, rest = rel[0], rel[1:]
    base = t.spec_path if head == "spec" else metadata_path(t)
    return (*t.owner.path, *base, *rest)


def nearest(ld: LocatedDoc, path: Path_) -> Path_:
    """The longest prefix of `path` that exists in the source (the field, or what should hold it)."""
    p = tuple(path)
    while p and p not in ld.positions:
        p = p[:-1]
    return p


def _is_json(doc: Document) -> bool:
    return doc.text.lstrip()[:1] in ("{", "[")


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).rstrip()


def _quoted_like(line: str, column: int, value: str) -> str:
    """`value` quoted the way the scalar after the key at `column` is quoted in `line`."""
    rest = line[max(column - 1, 0) :]
    m = re.match(r"(?:\"[^\"]*\"|'[^']*'|[^:\s]+)\s*:\s*(\S)", rest)
    q = m.group(1) if m else ""
    if q == '"':
        return json.dumps(value)
    if q == "'":
        return f"'{value}'"
    return value


def fix_at(doc: Document, ld: LocatedDoc, path: Path_, value: str) -> tuple[str, str]:
    """(snippet, replacement) that makes the field at `path` hold `value` (YAML text), or ("", "").

    An existing scalar is rewritten in place (quoting and comments kept). A missing field is
    added below the nearest existing block mapping that should hold it, creating intermediate
    mappings (`securityContext:`) as needed; nothing is offered for flow-style or JSON parents,
    where an inserted line would not parse.
    """
    if not value:
        return "", ""
    if path in ld.positions:
        if isinstance(dig(ld.data, path), Mapping | list):
            return "", ""
        line, col = ld.positions[path]
        text = doc.source(line)
        new = replace_value(text, _quoted_like(text, col, value), col)
        return (text, new) if new and new != text else ("", "")
    if _is_json(doc):
        return "", ""
    anchor_path = nearest(ld, path)
    missing = path[len(anchor_path) :]
    if not anchor_path or not missing or not all(isinstance(k, str) for k in missing):
        return "", ""
    parent = dig(ld.data, anchor_path)
    line, col = ld.positions[anchor_path]
    anchor = doc.source(line)
    code = _strip_comment(anchor)
    if isinstance(anchor_path[-1], int):
        # a list item whose first key is on the dash line: a sibling key goes at that key's column,
        # which is only safe when that first key's value is complete on the same line
        if not isinstance(parent, Mapping) or code.endswith((":", "|", ">", "|-", ">-")) or ":" not in code:
            return "", ""
        indent = " " * (col - 1)
    else:
        if not isinstance(parent, Mapping) or not parent or not code.endswith(":"):
            return "", ""
        child_cols = [ld.positions[(*anchor_path, k)][1] for k in parent if (*anchor_path, k) in ld.positions]
        if not child_cols:
            return "", ""
        indent = " " * (min(child_cols) - 1)
    lines = []
    for depth, key in enumerate(missing):
        pad = indent + "  " * depth
        lines.append(f"{pad}{key}: {value}" if depth == len(missing) - 1 else f"{pad}{key}:")
    return anchor, anchor + "\n" + "\n".join(lines)


def at_object(
    doc: Document,
    obj: K8sObject,
    path: Path_,
    message: str,
    fix: str = "",
    set_to: str = "",
    extra: tuple[tuple[str, str], ...] = (),
    snippet: str = "",
) -> Violation:
    """A violation about `obj` at document path `path` (or the nearest part of it that exists)."""
    ld = obj.located
    where = nearest(ld, path)
    line = ld.line(path)
    column = ld.column(where) if where else 0
    snip, replacement = fix_at(doc, ld, path, set_to) if set_to else ("", "")
    return Violation(
        message=message,
        line=line,
        column=column,
        snippet=snip or snippet,
        fix=fix,
        replacement=replacement,
        json_path=json_path(path),
        resource_kind=obj.kind,
        resource_namespace=obj.namespace,
        resource_name=obj.name,
        extra=extra,
    )


# --------------------------------------------------------------------------------------------
# one evaluation per document, shared by the 19 checks

_LAST: tuple[Document, str, int, dict[str, list[tuple[PodTemplate, pss.PssResult]]]] | None = None
_LAST_OBJECTS: tuple[Document, list[K8sObject], list[PodTemplate]] | None = None


def _objects_and_templates(doc: Document) -> tuple[list[K8sObject], list[PodTemplate]]:
    """The document's objects and pod templates, kept for the document the checks are on now.

    The runner runs every check of a document before the next document, so remembering the last
    one spares each of the ~30 Kubernetes checks from finding the same objects again.
    """
    global _LAST_OBJECTS
    cached = _LAST_OBJECTS
    if cached is not None and cached[0] is doc:
        return cached[1], cached[2]
    objects = load_objects([doc])
    templates = [t for obj in objects for t in pod_templates(obj)]
    _LAST_OBJECTS = (doc, objects, templates)
    return objects, templates


def document_objects(doc: Document) -> list[K8sObject]:
    return _objects_and_templates(doc)[0]


def document_templates(doc: Document) -> list[PodTemplate]:
    return _objects_and_templates(doc)[1]


def _results(doc: Document, options: Options) -> tuple[str, int, dict[str, list[tuple[PodTemplate, pss.PssResult]]]]:
    global _LAST
    level, minor = pss_settings(options)
    cached = _LAST
    if cached is not None and cached[0] is doc and cached[1] == level and cached[2] == minor:
        return level, minor, cached[3]
    out: dict[str, list[tuple[PodTemplate, pss.PssResult]]] = {}
    if level != "privileged":
        for t in document_templates(doc):
            for r in pss.evaluate(t.spec, t.metadata, level, minor):
                out.setdefault(r.check_id, []).append((t, r))
    _LAST = (doc, level, minor, out)
    return level, minor, out


def _fix_text(f: pss.PssField) -> str:
    if not f.set_to:
        return ""
    if f.path[0] == "metadata":
        return f"Set the annotation {f.path[-1]} to `{f.set_to}`."
    return f"Set `{f.path[-1]}: {f.set_to}` at {json_path(f.path)[2:]}."


def _violations(doc: Document, options: Options, check_id: str) -> Iterator[Violation]:
    level, minor, results = _results(doc, options)
    for t, r in results.get(check_id, ()):
        for f in r.fields:
            path = full_path(t, f.path)
            extra: tuple[tuple[str, str], ...] = (
                ("pss_check", r.check_id),
                ("pss_level", r.level),
                ("pss_version", pss.format_version(minor)),
                ("pss_check_version", pss.format_version(r.min_version)),
                ("pss_profile", level),
                ("pss_detail", r.detail),
            )
            if f.container:
                extra += (("container", f.container),)
            yield at_object(
                doc,
                t.owner,
                path,
                f"{t.owner.ref}: {f.message}",
                fix=_fix_text(f),
                set_to=f.set_to,
                extra=extra,
            )


# --------------------------------------------------------------------------------------------
# the checks


def _register(
    number: int,
    pss_id: str,
    title: str,
    severity: Severity,
    description: str,
    rationale: str,
    remediation: str,
    cis: str = "",
    nist: str = "4.4.3",
    mitre: str = "T1611",
    anchor: str = "",
) -> None:
    c = pss.get(pss_id)
    since = min(c.versions)
    versions = ", ".join(pss.format_version(v) for v in c.versions)
    label = f"{c.level}: {pss_id}" + (f" (since {pss.format_version(since)})" if since else "")

    def run(doc: Document, options: Options) -> Iterable[Violation]:
        return _violations(doc, options, pss_id)

    run.__name__ = f"pss_{pss_id}"
    check(
        f"CH-K8S-PSS-{number:03d}",
        title,
        severity,
        ["kubernetes"],
        description=f"{description} Pod Security Standards {c.level} check `{pss_id}` "
        f"(implementations: {versions}); runs when --pss-level includes {c.level}.",
        rationale=rationale,
        remediation=remediation,
        references=[PSS_DOC + (f"#{anchor}" if anchor else ""), PSA_DOC, SECURITY_CONTEXT_DOC],
        frameworks=Framework(cis_kubernetes=cis, pss=label, nist_800_190=nist, mitre_attack=mitre),
        options=("pss_level", "pss_version"),
    )(run)


_register(
    1,
    "windowsHostProcess",
    "Windows HostProcess container",
    "critical",
    "The pod or a container sets `securityContext.windowsOptions.hostProcess: true`.",
    """
A HostProcess container runs directly on the Windows node, as a node account, with the node's
network and file system: it is the Windows equivalent of a privileged container with every host
namespace, and a compromise of it is a compromise of the node.
""",
    "Remove `windowsOptions.hostProcess` (or set it to false); node agents that truly need it belong "
    "in a separate namespace with the privileged level.",
    cis="5.2.11",
    anchor="baseline",
)
_register(
    2,
    "hostNamespaces",
    "Host namespaces shared",
    "high",
    "The pod sets `hostNetwork`, `hostPID` or `hostIPC` to true.",
    """
Sharing the node's network namespace exposes every host interface and localhost-only service
(the kubelet, cloud metadata helpers); the PID namespace lets the pod see and signal every process
on the node and read their environments; the IPC namespace exposes host shared memory.
""",
    "Remove `hostNetwork`, `hostPID` and `hostIPC` (or set them to false); expose network services "
    "through a Service instead.",
    cis="5.2.3, 5.2.4, 5.2.5",
    anchor="baseline",
)
_register(
    3,
    "privileged",
    "Privileged container",
    "critical",
    "A container sets `securityContext.privileged: true`.",
    """
A privileged container gets every capability, every host device and no seccomp, AppArmor or
SELinux confinement: root in it is root on the node (mounting the node's disk or loading a kernel
module is one command away).
""",
    "Set `privileged: false` and add only the specific capabilities the workload needs.",
    cis="5.2.2",
    anchor="baseline",
)
_register(
    4,
    "capabilities_baseline",
    "Capability beyond the default set added",
    "high",
    "A container adds a capability outside the container runtime's default set (AUDIT_WRITE, CHOWN, "
    "DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, "
    "SYS_CHROOT); names must be written exactly as PSA compares them (no CAP_ prefix, upper case).",
    """
Capabilities such as SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN or NET_RAW give a container root
powers over the kernel or the network that are classic container escape and lateral movement
paths.
""",
    "Remove the capability from `securityContext.capabilities.add`; if the workload needs it, run it "
    "in a namespace that allows the privileged level and document why.",
    cis="5.2.8, 5.2.9",
    anchor="baseline",
)
_register(
    5,
    "hostPathVolumes",
    "hostPath volume",
    "high",
    "The pod declares a `hostPath` volume. At the restricted level this check is replaced by "
    "`restrictedVolumes` (CH-K8S-PSS-013), which reports the same volume.",
    """
A hostPath volume puts part of the node's file system into the container: kubelet credentials,
other pods' data, the container runtime socket or /etc are a write away, and a writable hostPath
is a direct path to node compromise.
""",
    "Use a persistentVolumeClaim, configMap, secret, emptyDir or CSI volume instead of hostPath.",
    cis="5.2.12",
    anchor="baseline",
)
_register(
    6,
    "hostPorts",
    "hostPort used",
    "medium",
    "A container's `ports[].hostPort` is set to a non-zero port.",
    """
A hostPort binds the port on the node's own address: it bypasses Service-level controls and
NetworkPolicies applied to the pod network, exposes the pod on every address of the node and
limits scheduling to one such pod per node.
""",
    "Remove `hostPort` and expose the port through a Service (ClusterIP, or NodePort/LoadBalancer "
    "if it must be reachable from outside).",
    cis="5.2.13",
    nist="4.4.2",
    mitre="",
    anchor="baseline",
)
_register(
    7,
    "appArmorProfile",
    "AppArmor profile overridden",
    "medium",
    "`securityContext.appArmorProfile.type` (pod or container) is not RuntimeDefault or Localhost, or a "
    "`container.apparmor.security.beta.kubernetes.io/*` annotation is not empty, runtime/default or "
    "localhost/*.",
    """
The runtime's default AppArmor profile blocks mounts, raw access to /proc and /sys and other
escape primitives; `Unconfined` removes that layer of defence.
""",
    "Use `appArmorProfile: {type: RuntimeDefault}` (or a Localhost profile), or remove the override.",
    cis="5.7.3",
    anchor="baseline",
)
_register(
    8,
    "seLinuxOptions",
    "SELinux options overridden",
    "medium",
    "`securityContext.seLinuxOptions` (pod or container) sets a type other than container_t, "
    "container_init_t, container_kvm_t (and container_engine_t from v1.31), or sets a user or role.",
    """
SELinux confinement is what keeps a container process from the node's files when everything else
fails; a custom type (spc_t, unconfined_t) or user/role lifts that confinement.
""",
    "Remove `seLinuxOptions.type`, `user` and `role`, or use one of the container types.",
    cis="5.7.3",
    anchor="baseline",
)
_register(
    9,
    "procMount",
    "Unmasked /proc",
    "medium",
    "A container sets `securityContext.procMount` to something other than Default. From v1.35 a pod "
    "with `hostUsers: false` (its own user namespace) may do so at the baseline level.",
    """
The default /proc mount masks and makes read-only the kernel interfaces (/proc/sys, /proc/kcore,
/proc/sysrq-trigger) a container must not reach; `Unmasked` exposes them.
""",
    "Remove `procMount` or set it to `Default`.",
    cis="5.7.3",
    anchor="baseline",
)
_register(
    10,
    "seccompProfile_baseline",
    "Seccomp profile disabled",
    "medium",
    "Below v1.19: a `seccomp.security.alpha.kubernetes.io/pod` or "
    "`container.seccomp.security.alpha.kubernetes.io/<container>` annotation is not runtime/default, "
    "docker/default or localhost/*. From v1.19: `securityContext.seccompProfile.type` (pod or container) "
    "is set to something other than RuntimeDefault or Localhost. At the restricted level this check is "
    "replaced by `seccompProfile_restricted` (CH-K8S-PSS-017) from v1.19.",
    """
Seccomp filters the system calls a container can make; the runtime's default profile blocks the
rarely needed ones behind many kernel privilege escalations. `Unconfined` turns that off.
""",
    "Set `seccompProfile: {type: RuntimeDefault}` (or a Localhost profile) instead of Unconfined.",
    cis="5.7.2",
    anchor="baseline",
)
_register(
    11,
    "sysctls",
    "Unsafe sysctl",
    "medium",
    "`spec.securityContext.sysctls` sets a sysctl outside the safe set of the evaluated version "
    "(5 names at v1.0; ip_local_reserved_ports from v1.27; tcp_keepalive_time/intvl/probes and "
    "tcp_fin_timeout from v1.29; tcp_rmem and tcp_wmem from v1.32; tcp_slow_start_after_idle and "
    "tcp_notsent_lowat from v1.37).",
    """
Only namespaced sysctls that cannot affect other pods or the node are safe; the others change
kernel behaviour for the whole node or weaken isolation between pods.
""",
    "Remove the sysctl, or set it on dedicated nodes through the kubelet's --allowed-unsafe-sysctls "
    "with a namespace at the privileged level.",
    cis="5.7.3",
    anchor="baseline",
)
_register(
    12,
    "hostProbesAndHostLifecycle",
    "Probe or lifecycle hook targets another host",
    "medium",
    "A probe (liveness, readiness, startup) or lifecycle hook (postStart, preStop) sets "
    "`httpGet.host` or `tcpSocket.host` (v1.34+).",
    """
Probes and hooks are requests made by the kubelet from the node: a `host` lets a pod author make
the node connect to any address it can reach (cloud metadata, the kubelet's neighbours, internal
services), a server-side request forgery from the node's network position.
""",
    "Remove `host` so the probe targets the pod's own IP; probe other services from inside the pod.",
    nist="4.4.2",
    mitre="T1090",
    anchor="baseline",
)
_register(
    13,
    "restrictedVolumes",
    "Volume type not allowed by restricted",
    "medium",
    "A volume is not configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, "
    "projected or secret (hostPath, nfs, iscsi, gitRepo, cloud disks...).",
    """
Volume types other than the allowed ones either reach into the node (hostPath), bypass the
storage access controls of PersistentVolumeClaims (direct nfs, iscsi, cloud disks), or run
commands on the node (gitRepo).
""",
    "Use a persistentVolumeClaim (backed by a StorageClass for the same storage), or a configMap, "
    "secret, emptyDir, projected or CSI volume.",
    cis="5.2.12",
    anchor="restricted",
)
_register(
    14,
    "allowPrivilegeEscalation",
    "Privilege escalation not disabled",
    "medium",
    "A container does not set `securityContext.allowPrivilegeEscalation: false` (v1.8+; from v1.25 "
    "pods with `spec.os.name: windows` are exempt).",
    """
Unless it is false, a process can gain privileges through setuid binaries or file capabilities
(no_new_privs is not set): a compromised non-root process can become root inside the container.
""",
    "Set `allowPrivilegeEscalation: false` in every container's securityContext.",
    cis="5.2.6",
    mitre="T1548.001",
    anchor="restricted",
)
_register(
    15,
    "runAsNonRoot",
    "Not required to run as non-root",
    "medium",
    "Neither the pod nor the container sets `securityContext.runAsNonRoot: true`, or either sets it to "
    "false. A pod-level true covers containers that do not set it. From v1.35 pods with "
    "`hostUsers: false` are exempt.",
    """
Without runAsNonRoot the kubelet starts the container as whatever user the image says, which is
root for most images; root in a container is one kernel bug or misconfiguration away from root on
the node.
""",
    "Set `runAsNonRoot: true` in the pod's securityContext (and a non-zero `runAsUser` if the image "
    "has no numeric non-root USER).",
    cis="5.2.7",
    anchor="restricted",
)
_register(
    16,
    "runAsUser",
    "Runs as UID 0",
    "high",
    "The pod or a container sets `securityContext.runAsUser: 0` (v1.23+; from v1.35 pods with "
    "`hostUsers: false` are exempt). A pod-level 0 fails even when every container overrides it, as "
    "in PSA.",
    """
runAsUser: 0 explicitly runs the container as root, defeating runAsNonRoot and every control that
assumes an unprivileged process.
""",
    "Set `runAsUser` to a non-zero UID the image can run as (or remove it and rely on a non-root "
    "USER in the image with runAsNonRoot: true).",
    cis="5.2.7",
    anchor="restricted",
)
_register(
    17,
    "seccompProfile_restricted",
    "Seccomp profile not set",
    "low",
    "Neither the pod nor every container sets `securityContext.seccompProfile.type` to RuntimeDefault or "
    "Localhost, or one sets another type (v1.19+; from v1.25 pods with `spec.os.name: windows` are "
    "exempt). A pod-level profile covers containers that do not set one.",
    """
Unless the kubelet runs with SeccompDefault, a container without a profile runs Unconfined: every
system call is available, including the ones behind many kernel privilege escalations.
""",
    "Set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext.",
    cis="5.7.2",
    anchor="restricted",
)
_register(
    18,
    "capabilities_restricted",
    "Capabilities not dropped",
    "medium",
    'A container does not set `securityContext.capabilities.drop: ["ALL"]`, or adds a capability other '
    "than NET_BIND_SERVICE (v1.22+; from v1.25 pods with `spec.os.name: windows` are exempt).",
    """
The runtime's default capability set (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, NET_RAW in some runtimes...)
is more than almost any application needs; each one left is a privilege an attacker inherits.
""",
    'Set `capabilities: {drop: ["ALL"]}` and add back only NET_BIND_SERVICE if the process binds a port below 1024.',
    cis="5.2.8, 5.2.9, 5.2.10",
    anchor="restricted",
)
_register(
    19,
    "procMount_restricted",
    "Unmasked /proc (restricted)",
    "medium",
    "A container sets `securityContext.procMount` to something other than Default, whatever `hostUsers` "
    "says (v1.35+, replacing the relaxed baseline procMount check at the restricted level).",
    """
At the restricted level an unmasked /proc is refused even inside a user namespace: the masked
paths expose kernel interfaces that a user namespace does not fully protect.
""",
    "Remove `procMount` or set it to `Default`.",
    cis="5.7.3",
    anchor="restricted",
)


def pss_check_ids() -> dict[str, str]:
    """Upstream PSS check ID -> our check ID."""
    return {pid: f"CH-K8S-PSS-{i:03d}" for i, pid in enumerate(pss.CHECK_IDS, 1)}
