"""Pod Security Standards, evaluated the way the Kubernetes PodSecurity admission plugin does.

The standards are not a document but a registry of checks inside Kubernetes
(`k8s.io/pod-security-admission/policy`): each check has an upstream ID, a level (baseline or
restricted) and one implementation per policy version it changed in. Evaluating a pod for level L
at version V means: for every check of level L (restricted also runs the baseline checks), take
the newest implementation whose minimum version is at or below V; a restricted implementation
may *override* baseline checks (restricted seccomp replaces baseline seccomp, and so on), and
only from the version that implementation starts at. `latest` is the newest version any check
knows about. Reproducing this exactly is what makes a pinned `enforce-version: v1.25` namespace
and our `--pss-version v1.25` agree on which pods are admitted.

Two details users trip over in other tools are kept exact here:

- a pod-level `securityContext` setting satisfies the *requirements* that PSA accepts at either
  level (`runAsNonRoot: true`, a seccomp profile), so containers that do not repeat it are
  fine, while a container that overrides it with a bad value still fails;
- `null` means unset, as it does to the API server's decoder, so `securityContext: null` or
  `hostPath: null` never count as set; values of the wrong type (a string where a boolean
  belongs) never satisfy a requirement and never count as a forbidden `true` either, because
  the API server would reject such an object before admission.

The evaluator is pure and cheap: one pass builds a view of the pod (its security context, each
container's, host-namespace flags, Windows and user-namespace status), then each active check
reads that view. `evaluate` returns only failing checks, each with the offending fields as
paths relative to the pod template (`spec...` or `metadata...`), so callers can point at lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeGuard

from customhouse.errors import UsageError

Path_ = tuple[str | int, ...]

LEVELS = ("privileged", "baseline", "restricted")
LATEST_MINOR = 37  # the newest policy version any upstream check has an implementation for
DEFAULT_LEVEL = "restricted"
DEFAULT_VERSION = "latest"

BASELINE = "baseline"
RESTRICTED = "restricted"


# --------------------------------------------------------------------------------- versions


def parse_version(text: Any) -> int:
    """The minor number of a policy version: `v1.25` or `1.25` -> 25, `latest` -> LATEST_MINOR."""
    t = str(text).strip().lower()
    if t == "latest":
        return LATEST_MINOR
    m = re.fullmatch(r"v?1\.(\d{1,3})", t)
    if m is None or int(m.group(1)) > LATEST_MINOR:
        raise UsageError(
            f"--pss-version: {text!r} is not a Pod Security Standards version "
            f"(use v1.0 to v1.{LATEST_MINOR}, or latest)"
        )
    return int(m.group(1))


def format_version(minor: int) -> str:
    return f"v1.{minor}"


def parse_level(text: Any) -> str:
    t = str(text).strip().lower()
    if t not in LEVELS:
        raise UsageError(f"--pss-level: {text!r} is not a Pod Security Standards level (use {', '.join(LEVELS)})")
    return t


# --------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PssField:
    """One offending field. `path` is relative to the pod template: ("spec", ...) or ("metadata", ...)."""

    path: Path_
    message: str
    required: bool = False  # the field is missing (False: it is set to a forbidden value)
    value: str = ""  # the forbidden value as text
    set_to: str = ""  # a value that always satisfies the check here, as YAML text ("false", "RuntimeDefault")
    container: str = ""  # the container's name; "" for pod-level fields


@dataclass(frozen=True)
class PssResult:
    """A failing check: the upstream ID, its level, the implementation's minimum version, why."""

    check_id: str
    level: str
    min_version: int
    reason: str
    detail: str
    fields: tuple[PssField, ...]


# --------------------------------------------------------------------------------- the pod view


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # parsed manifests are plain dicts: skip the slower ABC check for them
    return type(value) is dict or isinstance(value, Mapping)


_EMPTY: Mapping[str, Any] = {}


def _map(value: Any) -> Mapping[str, Any]:
    return value if _is_map(value) else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _text(value: Any) -> str:
    """A value as the API would read a string field: None is "", other scalars their spelling."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Container:
    path: Path_  # ("spec", "containers", 0)
    name: str
    data: Mapping[str, Any]
    sc: Mapping[str, Any]  # its securityContext ({} when unset or null)

    @property
    def label(self) -> str:
        return f'container "{self.name}"'

    def sc_path(self, *keys: str | int) -> Path_:
        return (*self.path, "securityContext", *keys)


@dataclass(frozen=True)
class PodView:
    """What the checks read, computed once per pod template."""

    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    sc: Mapping[str, Any]  # spec.securityContext
    containers: tuple[Container, ...]  # initContainers, containers, ephemeralContainers (PSA's order)
    windows: bool  # spec.os.name == "windows"
    user_namespace: bool  # spec.hostUsers == false

    @staticmethod
    def build(spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> PodView:
        containers = []
        for fld in ("initContainers", "containers", "ephemeralContainers"):
            for i, c in enumerate(_list(spec.get(fld))):
                if _is_map(c):
                    name = c.get("name")
                    label = name if isinstance(name, str) and name else f"{fld}[{i}]"
                    containers.append(Container(("spec", fld, i), label, c, _map(c.get("securityContext"))))
        annotations = {str(k): _text(v) for k, v in _map(metadata.get("annotations")).items()}
        return PodView(
            spec=spec,
            annotations=annotations,
            sc=_map(spec.get("securityContext")),
            containers=tuple(containers),
            windows=_map(spec.get("os")).get("name") == "windows",
            user_namespace=spec.get("hostUsers") is False,
        )


POD_SC: Path_ = ("spec", "securityContext")

CheckFn = Callable[[PodView], list[PssField]]


# --------------------------------------------------------------------------------- baseline checks


def _windows_host_process(p: PodView) -> list[PssField]:
    out = []
    if _map(p.sc.get("windowsOptions")).get("hostProcess") is True:
        out.append(
            PssField(
                (*POD_SC, "windowsOptions", "hostProcess"),
                "pod sets securityContext.windowsOptions.hostProcess: true",
                value="true",
                set_to="false",
            )
        )
    for c in p.containers:
        if _map(c.sc.get("windowsOptions")).get("hostProcess") is True:
            out.append(
                PssField(
                    c.sc_path("windowsOptions", "hostProcess"),
                    f"{c.label} sets securityContext.windowsOptions.hostProcess: true",
                    value="true",
                    set_to="false",
                    container=c.name,
                )
            )
    return out


def _host_namespaces(p: PodView) -> list[PssField]:
    return [
        PssField(("spec", key), f"pod sets {key}: true", value="true", set_to="false")
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if p.spec.get(key) is True
    ]


def _privileged(p: PodView) -> list[PssField]:
    return [
        PssField(
            c.sc_path("privileged"),
            f"{c.label} sets securityContext.privileged: true",
            value="true",
            set_to="false",
            container=c.name,
        )
        for c in p.containers
        if c.sc.get("privileged") is True
    ]


CAPABILITIES_BASELINE = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def _added_capabilities(c: Container) -> Iterator[tuple[int, str]]:
    for i, cap in enumerate(_list(_map(c.sc.get("capabilities")).get("add"))):
        yield i, _text(cap)


def _capabilities_baseline(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        for i, cap in _added_capabilities(c):
            if cap not in CAPABILITIES_BASELINE:
                out.append(
                    PssField(
                        c.sc_path("capabilities", "add", i),
                        f"{c.label} adds capability {cap} (baseline allows only the container runtime's defaults)",
                        value=cap,
                        container=c.name,
                    )
                )
    return out


def _volumes(p: PodView) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    for i, v in enumerate(_list(p.spec.get("volumes"))):
        if _is_map(v):
            name = v.get("name")
            yield i, (name if isinstance(name, str) and name else f"volumes[{i}]"), v


def _host_path_volumes(p: PodView) -> list[PssField]:
    return [
        PssField(
            ("spec", "volumes", i, "hostPath"),
            f'volume "{name}" is a hostPath volume ({_text(_map(v["hostPath"]).get("path")) or "no path"})',
            value=_text(_map(v["hostPath"]).get("path")),
        )
        for i, name, v in _volumes(p)
        if _is_map(v.get("hostPath"))
    ]


def _host_ports(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        for j, port in enumerate(_list(c.data.get("ports"))):
            hp = _map(port).get("hostPort")
            if isinstance(hp, int) and not isinstance(hp, bool) and hp != 0:
                out.append(
                    PssField(
                        (*c.path, "ports", j, "hostPort"),
                        f"{c.label} uses hostPort {hp}",
                        value=str(hp),
                        container=c.name,
                    )
                )
    return out


APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _apparmor_annotation_ok(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


def _app_armor_profile(p: PodView) -> list[PssField]:
    out = []
    sources: list[tuple[Path_, str, Mapping[str, Any], str]] = [(POD_SC, "pod", p.sc, "")]
    sources += [(c.sc_path(), c.label, c.sc, c.name) for c in p.containers]
    for base, who, sc, name in sources:
        profile = sc.get("appArmorProfile")
        if not _is_map(profile):
            continue
        t = _text(profile.get("type"))
        if t not in ("RuntimeDefault", "Localhost"):
            out.append(
                PssField(
                    (*base, "appArmorProfile", "type"),
                    f"{who} sets securityContext.appArmorProfile.type to {t or 'an empty value'!s}",
                    value=t,
                    set_to="RuntimeDefault" if "type" in profile else "",
                    container=name,
                )
            )
    for key in sorted(p.annotations):
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not _apparmor_annotation_ok(p.annotations[key]):
            out.append(
                PssField(
                    ("metadata", "annotations", key),
                    f"annotation {key}={p.annotations[key]} selects a forbidden AppArmor profile",
                    value=p.annotations[key],
                    set_to="runtime/default",
                    container=key[len(APPARMOR_ANNOTATION_PREFIX) :],
                )
            )
    return out


SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _se_linux(allowed: frozenset[str]) -> CheckFn:
    def run(p: PodView) -> list[PssField]:
        out = []
        sources: list[tuple[Path_, str, Mapping[str, Any], str]] = [(POD_SC, "pod", p.sc, "")]
        sources += [(c.sc_path(), c.label, c.sc, c.name) for c in p.containers]
        for base, who, sc, name in sources:
            opts = sc.get("seLinuxOptions")
            if not _is_map(opts):
                continue
            t = _text(opts.get("type"))
            if t not in allowed:
                out.append(
                    PssField(
                        (*base, "seLinuxOptions", "type"),
                        f"{who} sets securityContext.seLinuxOptions.type to {t}",
                        value=t,
                        container=name,
                    )
                )
            for key in ("user", "role"):
                v = _text(opts.get(key))
                if v:
                    out.append(
                        PssField(
                            (*base, "seLinuxOptions", key),
                            f"{who} sets securityContext.seLinuxOptions.{key} (must be empty)",
                            value=v,
                            container=name,
                        )
                    )
        return out

    return run


def _proc_mount_always(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        pm = c.sc.get("procMount")
        if pm is not None and pm != "Default":
            out.append(
                PssField(
                    c.sc_path("procMount"),
                    f"{c.label} sets securityContext.procMount to {_text(pm)}",
                    value=_text(pm),
                    set_to="Default",
                    container=c.name,
                )
            )
    return out


def _proc_mount_1_35(p: PodView) -> list[PssField]:
    # A pod in its own user namespace (hostUsers: false) may unmask /proc: the "root" it sees is
    # not root on the node. The API server still validates the value itself.
    return [] if p.user_namespace else _proc_mount_always(p)


SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def _seccomp_annotation_ok(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def _seccomp_baseline_1_0(p: PodView) -> list[PssField]:
    out = []
    if SECCOMP_POD_ANNOTATION in p.annotations and not _seccomp_annotation_ok(p.annotations[SECCOMP_POD_ANNOTATION]):
        v = p.annotations[SECCOMP_POD_ANNOTATION]
        out.append(
            PssField(
                ("metadata", "annotations", SECCOMP_POD_ANNOTATION),
                f"annotation {SECCOMP_POD_ANNOTATION}={v} selects a forbidden seccomp profile",
                value=v,
                set_to="runtime/default",
            )
        )
    for c in p.containers:  # only annotations naming a container of this pod count
        key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.name
        if key in p.annotations and not _seccomp_annotation_ok(p.annotations[key]):
            out.append(
                PssField(
                    ("metadata", "annotations", key),
                    f"annotation {key}={p.annotations[key]} selects a forbidden seccomp profile",
                    value=p.annotations[key],
                    set_to="runtime/default",
                    container=c.name,
                )
            )
    return out


_SECCOMP_OK = ("RuntimeDefault", "Localhost")


def _seccomp_bad(sc: Mapping[str, Any]) -> tuple[bool, str, bool]:
    """(profile set?, its type, type key present?) of a security context's seccompProfile."""
    profile = sc.get("seccompProfile")
    if not _is_map(profile):
        return False, "", False
    return True, _text(profile.get("type")), "type" in profile


def _seccomp_field(base: Path_, who: str, t: str, has_type: bool, name: str) -> PssField:
    return PssField(
        (*base, "seccompProfile", "type"),
        f"{who} sets securityContext.seccompProfile.type to {t or 'an empty value'}",
        value=t,
        set_to="RuntimeDefault" if has_type else "",
        container=name,
    )


def _seccomp_baseline_1_19(p: PodView) -> list[PssField]:
    out = []
    is_set, t, has_type = _seccomp_bad(p.sc)
    if is_set and t not in _SECCOMP_OK:
        out.append(_seccomp_field(POD_SC, "pod", t, has_type, ""))
    for c in p.containers:
        is_set, t, has_type = _seccomp_bad(c.sc)
        if is_set and t not in _SECCOMP_OK:
            out.append(_seccomp_field(c.sc_path(), c.label, t, has_type, c.name))
    return out


SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SYSCTLS_1_37 = SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def run(p: PodView) -> list[PssField]:
        out = []
        for i, item in enumerate(_list(p.sc.get("sysctls"))):
            if not _is_map(item):
                continue
            name = _text(item.get("name"))
            if name not in allowed:
                out.append(
                    PssField(
                        (*POD_SC, "sysctls", i, "name"),
                        f"pod sets sysctl {name or '(no name)'}, which is not in the safe set",
                        value=name,
                    )
                )
        return out

    return run


_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HOOKS = ("postStart", "preStop")


def _host_probes_and_lifecycle(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        handlers: list[tuple[Path_, str, Any]] = [((*c.path, probe), probe, c.data.get(probe)) for probe in _PROBES]
        lifecycle = _map(c.data.get("lifecycle"))
        handlers += [((*c.path, "lifecycle", hook), f"lifecycle.{hook}", lifecycle.get(hook)) for hook in _HOOKS]
        for base, what, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = _map(_map(handler).get(action)).get("host")
                if _text(host):
                    out.append(
                        PssField(
                            (*base, action, "host"),
                            f"{c.label} {what}.{action} targets host {_text(host)}",
                            value=_text(host),
                            container=c.name,
                        )
                    )
    return out


# --------------------------------------------------------------------------------- restricted checks

RESTRICTED_VOLUME_TYPES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# Every other volume source of the core API; a volume with none of the sources at all is
# defaulted to emptyDir by the API server before admission sees it.
OTHER_VOLUME_TYPES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def _restricted_volumes(p: PodView) -> list[PssField]:
    out = []
    for i, name, v in _volumes(p):
        if any(_is_map(v.get(t)) for t in RESTRICTED_VOLUME_TYPES):
            continue
        bad = next((t for t in OTHER_VOLUME_TYPES if _is_map(v.get(t))), None)
        if bad is not None:
            out.append(
                PssField(
                    ("spec", "volumes", i, bad),
                    f'volume "{name}" has type {bad}, which restricted does not allow',
                    value=bad,
                )
            )
    return out


def _allow_privilege_escalation_1_8(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        v = c.sc.get("allowPrivilegeEscalation")
        if v is False:
            continue
        out.append(
            PssField(
                c.sc_path("allowPrivilegeEscalation"),
                f"{c.label} must set securityContext.allowPrivilegeEscalation: false"
                + ("" if v is None else f" (it is {_text(v)})"),
                required=v is None,
                value="" if v is None else _text(v),
                set_to="false",
                container=c.name,
            )
        )
    return out


def _allow_privilege_escalation_1_25(p: PodView) -> list[PssField]:
    # Windows has no setuid binaries or no_new_privs: the API rejects the field for Windows pods.
    return [] if p.windows else _allow_privilege_escalation_1_8(p)


def _run_as_non_root_1_0(p: PodView) -> list[PssField]:
    out = []
    pod_value = p.sc.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        out.append(
            PssField(
                (*POD_SC, "runAsNonRoot"),
                f"pod sets securityContext.runAsNonRoot: {_text(pod_value)}",
                value=_text(pod_value),
                set_to="true",
            )
        )
    for c in p.containers:
        v = c.sc.get("runAsNonRoot")
        if v is None:
            # unset inherits the pod's value: when that is an explicit bad value, the pod-level
            # finding already covers this container (and fixing it fixes both)
            if pod_value is None:
                out.append(
                    PssField(
                        c.sc_path("runAsNonRoot"),
                        f"pod or {c.label} must set securityContext.runAsNonRoot: true",
                        required=True,
                        set_to="true",
                        container=c.name,
                    )
                )
        elif v is not True:
            out.append(
                PssField(
                    c.sc_path("runAsNonRoot"),
                    f"{c.label} sets securityContext.runAsNonRoot: {_text(v)}",
                    value=_text(v),
                    set_to="true",
                    container=c.name,
                )
            )
    return out


def _run_as_non_root_1_35(p: PodView) -> list[PssField]:
    # In a user namespace UID 0 inside the pod maps to an unprivileged UID on the node.
    return [] if p.user_namespace else _run_as_non_root_1_0(p)


def _is_zero(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def _run_as_user_1_23(p: PodView) -> list[PssField]:
    out = []
    if _is_zero(p.sc.get("runAsUser")):
        out.append(PssField((*POD_SC, "runAsUser"), "pod sets securityContext.runAsUser: 0", value="0"))
    out += [
        PssField(c.sc_path("runAsUser"), f"{c.label} sets securityContext.runAsUser: 0", value="0", container=c.name)
        for c in p.containers
        if _is_zero(c.sc.get("runAsUser"))
    ]
    return out


def _run_as_user_1_35(p: PodView) -> list[PssField]:
    return [] if p.user_namespace else _run_as_user_1_23(p)


def _seccomp_restricted_1_19(p: PodView) -> list[PssField]:
    out = []
    pod_set, t, has_type = _seccomp_bad(p.sc)
    pod_ok = pod_set and t in _SECCOMP_OK
    if pod_set and not pod_ok:
        out.append(_seccomp_field(POD_SC, "pod", t, has_type, ""))
    for c in p.containers:
        is_set, t, has_type = _seccomp_bad(c.sc)
        if is_set:
            if t not in _SECCOMP_OK:
                out.append(_seccomp_field(c.sc_path(), c.label, t, has_type, c.name))
        elif not pod_set:  # a bad pod-level profile is reported once, for the pod
            out.append(
                PssField(
                    c.sc_path("seccompProfile", "type"),
                    f"pod or {c.label} must set securityContext.seccompProfile.type to RuntimeDefault or Localhost",
                    required=True,
                    set_to="RuntimeDefault",
                    container=c.name,
                )
            )
    return out


def _seccomp_restricted_1_25(p: PodView) -> list[PssField]:
    return [] if p.windows else _seccomp_restricted_1_19(p)


def _capabilities_restricted_1_22(p: PodView) -> list[PssField]:
    out = []
    for c in p.containers:
        caps = c.sc.get("capabilities")
        drop = _map(caps).get("drop")
        if not any(_text(d) == "ALL" for d in _list(drop)):
            missing = drop is None
            out.append(
                PssField(
                    c.sc_path("capabilities", "drop"),
                    f'{c.label} must set securityContext.capabilities.drop: ["ALL"]',
                    required=missing,
                    value="" if missing else _text(drop),
                    set_to='["ALL"]' if missing else "",
                    container=c.name,
                )
            )
        for i, cap in _added_capabilities(c):
            if cap != "NET_BIND_SERVICE":
                out.append(
                    PssField(
                        c.sc_path("capabilities", "add", i),
                        f"{c.label} adds capability {cap} (restricted allows only NET_BIND_SERVICE)",
                        value=cap,
                        container=c.name,
                    )
                )
    return out


def _capabilities_restricted_1_25(p: PodView) -> list[PssField]:
    return [] if p.windows else _capabilities_restricted_1_22(p)


# --------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Implementation:
    min_version: int
    run: CheckFn
    overrides: tuple[str, ...] = ()  # baseline check IDs this (restricted) implementation replaces


@dataclass(frozen=True)
class PssCheck:
    id: str
    level: str
    reason: str
    implementations: tuple[Implementation, ...] = field(default_factory=tuple)

    def at(self, minor: int) -> Implementation | None:
        """The newest implementation at or below policy version 1.`minor`."""
        best = None
        for impl in self.implementations:
            if impl.min_version <= minor:
                best = impl
        return best

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(i.min_version for i in self.implementations)


def _impl(min_version: int, run: CheckFn, *overrides: str) -> Implementation:
    return Implementation(min_version, run, overrides)


CHECKS: tuple[PssCheck, ...] = (
    PssCheck("windowsHostProcess", BASELINE, "hostProcess", (_impl(0, _windows_host_process),)),
    PssCheck("hostNamespaces", BASELINE, "host namespaces", (_impl(0, _host_namespaces),)),
    PssCheck("privileged", BASELINE, "privileged", (_impl(0, _privileged),)),
    PssCheck("capabilities_baseline", BASELINE, "non-default capabilities", (_impl(0, _capabilities_baseline),)),
    PssCheck("hostPathVolumes", BASELINE, "hostPath volumes", (_impl(0, _host_path_volumes),)),
    PssCheck("hostPorts", BASELINE, "hostPort", (_impl(0, _host_ports),)),
    PssCheck("appArmorProfile", BASELINE, "forbidden AppArmor profile", (_impl(0, _app_armor_profile),)),
    PssCheck(
        "seLinuxOptions",
        BASELINE,
        "seLinuxOptions",
        (_impl(0, _se_linux(SELINUX_TYPES_1_0)), _impl(31, _se_linux(SELINUX_TYPES_1_31))),
    ),
    PssCheck("procMount", BASELINE, "procMount", (_impl(0, _proc_mount_always), _impl(35, _proc_mount_1_35))),
    PssCheck(
        "seccompProfile_baseline",
        BASELINE,
        "seccompProfile",
        (_impl(0, _seccomp_baseline_1_0), _impl(19, _seccomp_baseline_1_19)),
    ),
    PssCheck(
        "sysctls",
        BASELINE,
        "forbidden sysctls",
        (
            _impl(0, _sysctls(SYSCTLS_1_0)),
            _impl(27, _sysctls(SYSCTLS_1_27)),
            _impl(29, _sysctls(SYSCTLS_1_29)),
            _impl(32, _sysctls(SYSCTLS_1_32)),
            _impl(37, _sysctls(SYSCTLS_1_37)),
        ),
    ),
    PssCheck(
        "hostProbesAndHostLifecycle", BASELINE, "probe or lifecycle host", (_impl(34, _host_probes_and_lifecycle),)
    ),
    PssCheck(
        "restrictedVolumes", RESTRICTED, "restricted volume types", (_impl(0, _restricted_volumes, "hostPathVolumes"),)
    ),
    PssCheck(
        "allowPrivilegeEscalation",
        RESTRICTED,
        "allowPrivilegeEscalation != false",
        (_impl(8, _allow_privilege_escalation_1_8), _impl(25, _allow_privilege_escalation_1_25)),
    ),
    PssCheck(
        "runAsNonRoot",
        RESTRICTED,
        "runAsNonRoot != true",
        (_impl(0, _run_as_non_root_1_0), _impl(35, _run_as_non_root_1_35)),
    ),
    PssCheck("runAsUser", RESTRICTED, "runAsUser=0", (_impl(23, _run_as_user_1_23), _impl(35, _run_as_user_1_35))),
    PssCheck(
        "seccompProfile_restricted",
        RESTRICTED,
        "seccompProfile",
        (
            _impl(19, _seccomp_restricted_1_19, "seccompProfile_baseline"),
            _impl(25, _seccomp_restricted_1_25, "seccompProfile_baseline"),
        ),
    ),
    PssCheck(
        "capabilities_restricted",
        RESTRICTED,
        "unrestricted capabilities",
        (
            _impl(22, _capabilities_restricted_1_22, "capabilities_baseline"),
            _impl(25, _capabilities_restricted_1_25, "capabilities_baseline"),
        ),
    ),
    PssCheck("procMount_restricted", RESTRICTED, "procMount", (_impl(35, _proc_mount_always, "procMount"),)),
)
CHECK_IDS = tuple(c.id for c in CHECKS)
_BY_ID = {c.id: c for c in CHECKS}


def get(check_id: str) -> PssCheck:
    return _BY_ID[check_id]


@lru_cache(maxsize=256)
def active_checks(level: str, minor: int) -> tuple[tuple[PssCheck, Implementation], ...]:
    """The (check, implementation) pairs PSA runs for `level` at policy version 1.`minor`.

    Baseline checks come first; at restricted, a baseline check is dropped when an active
    restricted implementation overrides it at that version (and only then: below v1.19 there is
    no restricted seccomp check, so the baseline annotation check still runs).
    """
    if level == "privileged":
        return ()
    chosen = [(c, impl) for c in CHECKS if (impl := c.at(minor)) is not None]
    baseline = [(c, i) for c, i in chosen if c.level == BASELINE]
    if level == BASELINE:
        return tuple(baseline)
    restricted = [(c, i) for c, i in chosen if c.level == RESTRICTED]
    overridden = {o for _, i in restricted for o in i.overrides}
    return tuple([(c, i) for c, i in baseline if c.id not in overridden] + restricted)


def evaluate(
    spec: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    level: str = DEFAULT_LEVEL,
    version: int | str = DEFAULT_VERSION,
) -> list[PssResult]:
    """The checks a pod (its spec and metadata) fails at `level` and policy `version`."""
    minor = version if isinstance(version, int) else parse_version(version)
    lvl = parse_level(level)
    if not isinstance(spec, Mapping):
        return []
    view = PodView.build(spec, metadata if isinstance(metadata, Mapping) else {})
    out = []
    for c, impl in active_checks(lvl, minor):
        fields = impl.run(view)
        if fields:
            detail = "; ".join(f.message for f in fields)
            out.append(PssResult(c.id, c.level, impl.min_version, c.reason, detail, tuple(fields)))
    return out


def admitted(
    spec: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    level: str = DEFAULT_LEVEL,
    version: int | str = DEFAULT_VERSION,
) -> bool:
    """Whether PodSecurity admission at `level`/`version` would admit this pod."""
    return not evaluate(spec, metadata, level, version)
