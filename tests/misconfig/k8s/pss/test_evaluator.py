"""The Pod Security Standards evaluator against the standards, check by check and version by version.

Each case is written from the upstream definition of the check (kubernetes.io's Pod Security
Standards and the PodSecurity admission policy package): a failing pod, changed from a pod that
passes restricted at every version in exactly one way, and a passing near miss. A failing pod must
fail that check *and nothing else*, at the level and policy version the case names; a passing pod
must produce no result at all. Version boundaries are tested on both sides (v1.N-1 and v1.N).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from customhouse.errors import UsageError
from customhouse.misconfig.k8s import pss

from .util import BASE_CTR_SC, DROP, pod

Pod = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    check: str
    fail: Pod
    passing: Pod
    version: str = "latest"
    level: str = "restricted"
    note: str = ""

    def __str__(self) -> str:
        return f"{self.check}-{self.level}-{self.version}{'-' + self.note if self.note else ''}"


def hc(name: str, sc: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A restricted-clean extra container (init, ephemeral) with securityContext changes."""
    merged = {**BASE_CTR_SC, **(sc or {})}
    return {"name": name, "image": "x", "securityContext": {k: v for k, v in merged.items() if v is not DROP}, **fields}


WINDOWS = {"os": {"name": "windows"}}
USERNS = {"hostUsers": False}
BASELINE = "baseline"

CASES = [
    # ---------------------------------------------------------------- windowsHostProcess
    Case(
        "windowsHostProcess",
        pod(pod_sc={"windowsOptions": {"hostProcess": True}}),
        pod(pod_sc={"windowsOptions": {"hostProcess": False}}),
        note="pod",
    ),
    Case(
        "windowsHostProcess",
        pod(ctr_sc={"windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}}),
        pod(ctr_sc={"windowsOptions": {"runAsUserName": "ContainerUser"}}),
        version="v1.0",
        level=BASELINE,
        note="container",
    ),
    # ---------------------------------------------------------------- hostNamespaces
    Case("hostNamespaces", pod(hostNetwork=True), pod(hostNetwork=False), note="network"),
    Case("hostNamespaces", pod(hostPID=True), pod(hostPID=False), level=BASELINE, note="pid"),
    Case("hostNamespaces", pod(hostIPC=True), pod(shareProcessNamespace=True), version="v1.0", note="ipc"),
    # ---------------------------------------------------------------- privileged
    Case("privileged", pod(ctr_sc={"privileged": True}), pod(ctr_sc={"privileged": False})),
    Case(
        "privileged",
        pod(initContainers=[{"name": "init", "image": "x", "securityContext": {"privileged": True}}]),
        pod(initContainers=[{"name": "init", "image": "x", "securityContext": {"privileged": False}}]),
        level=BASELINE,
        note="init-container",
    ),
    Case(
        "privileged",
        pod(ephemeralContainers=[{"name": "debug", "image": "x", "securityContext": {"privileged": True}}]),
        pod(ephemeralContainers=[{"name": "debug", "image": "x", "securityContext": None}]),
        level=BASELINE,
        note="ephemeral-container",
    ),
    # ---------------------------------------------------------------- capabilities_baseline
    Case(
        "capabilities_baseline",
        pod(ctr_sc={"capabilities": {"add": ["SYS_ADMIN"]}}),
        pod(ctr_sc={"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN", "KILL", "SYS_CHROOT", "AUDIT_WRITE"]}}),
        level=BASELINE,
    ),
    Case(
        "capabilities_baseline",
        pod(ctr_sc={"capabilities": {"add": ["chown"]}}),
        pod(ctr_sc={"capabilities": {"add": ["CHOWN"]}}),
        level=BASELINE,
        note="names-compared-exactly",
    ),
    Case(
        "capabilities_baseline",
        pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}),
        pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        version="v1.21",
        note="restricted-before-1.22-runs-baseline",
    ),
    # ---------------------------------------------------------------- hostPathVolumes
    Case(
        "hostPathVolumes",
        pod(volumes=[{"name": "etc", "hostPath": {"path": "/etc"}}]),
        pod(volumes=[{"name": "etc", "hostPath": None}, {"name": "tmp", "emptyDir": {}}]),
        level=BASELINE,
    ),
    # ---------------------------------------------------------------- hostPorts
    Case(
        "hostPorts",
        pod(ctr={"ports": [{"containerPort": 80, "hostPort": 8080}]}),
        pod(ctr={"ports": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81}]}),
    ),
    Case(
        "hostPorts",
        pod(initContainers=[{"name": "i", "image": "x", "ports": [{"containerPort": 1, "hostPort": 1}]}]),
        pod(initContainers=[{"name": "i", "image": "x", "ports": [{"containerPort": 1}]}]),
        level=BASELINE,
        note="init",
    ),
    # ---------------------------------------------------------------- appArmorProfile
    Case(
        "appArmorProfile",
        pod(pod_sc={"appArmorProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-apparmor-example"}}),
        note="pod-field",
    ),
    Case(
        "appArmorProfile",
        pod(ctr_sc={"appArmorProfile": {"type": "Unconfined"}}),
        pod(ctr_sc={"appArmorProfile": {"type": "RuntimeDefault"}}),
        version="v1.0",
        level=BASELINE,
        note="container-field-checked-at-every-version",
    ),
    Case(
        "appArmorProfile",
        pod(annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
        pod(
            annotations={
                "container.apparmor.security.beta.kubernetes.io/app": "localhost/custom",
                "container.apparmor.security.beta.kubernetes.io/side": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/other": "",
            }
        ),
        note="annotation",
    ),
    # ---------------------------------------------------------------- seLinuxOptions
    Case(
        "seLinuxOptions",
        pod(pod_sc={"seLinuxOptions": {"type": "spc_t"}}),
        pod(pod_sc={"seLinuxOptions": {"type": "container_init_t", "level": "s0:c123,c456"}}),
        note="type",
    ),
    Case(
        "seLinuxOptions",
        pod(ctr_sc={"seLinuxOptions": {"user": "system_u"}}),
        pod(ctr_sc={"seLinuxOptions": {"type": "container_kvm_t", "user": ""}}),
        level=BASELINE,
        note="user",
    ),
    Case(
        "seLinuxOptions",
        pod(ctr_sc={"seLinuxOptions": {"role": "sysadm_r"}}),
        pod(ctr_sc={"seLinuxOptions": {"type": "container_t"}}),
        version="v1.0",
        note="role",
    ),
    Case(
        "seLinuxOptions",
        pod(pod_sc={"seLinuxOptions": {"type": "container_engine_t"}}),
        pod(pod_sc={"seLinuxOptions": {"type": "container_t"}}),
        version="v1.30",
        note="engine-type-before-1.31",
    ),
    # ---------------------------------------------------------------- procMount
    Case(
        "procMount",
        pod(ctr_sc={"procMount": "Unmasked"}),
        pod(ctr_sc={"procMount": "Default"}),
        level=BASELINE,
    ),
    Case(
        "procMount",
        pod(ctr_sc={"procMount": "Unmasked"}, **USERNS),
        pod(ctr_sc={"procMount": "Default"}, **USERNS),
        version="v1.34",
        level=BASELINE,
        note="user-namespace-before-1.35",
    ),
    Case(
        "procMount",
        pod(ctr_sc={"procMount": "Unmasked"}, **USERNS),
        pod(**USERNS),
        version="v1.34",
        note="restricted-before-1.35-runs-baseline",
    ),
    # ---------------------------------------------------------------- seccompProfile_baseline
    Case(
        "seccompProfile_baseline",
        pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "docker/default"}),
        version="v1.18",
        level=BASELINE,
        note="pod-annotation",
    ),
    Case(
        "seccompProfile_baseline",
        pod(annotations={"container.seccomp.security.alpha.kubernetes.io/app": "unconfined"}),
        pod(
            annotations={
                "container.seccomp.security.alpha.kubernetes.io/app": "localhost/profiles/app.json",
                "container.seccomp.security.alpha.kubernetes.io/not-a-container": "unconfined",
                "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
            }
        ),
        version="v1.0",
        note="container-annotation-restricted-before-1.19",
    ),
    Case(
        "seccompProfile_baseline",
        pod(pod_sc={"seccompProfile": {"type": "Unconfined"}}),
        pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        version="v1.19",
        level=BASELINE,
        note="field-from-1.19-annotations-ignored",
    ),
    Case(
        "seccompProfile_baseline",
        pod(ctr_sc={"seccompProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"seccompProfile": DROP}),
        level=BASELINE,
        note="container-field",
    ),
    Case(
        "seccompProfile_baseline",
        pod(pod_sc={"seccompProfile": {}}),
        pod(pod_sc={"seccompProfile": None}),
        level=BASELINE,
        note="profile-without-type",
    ),
    # ---------------------------------------------------------------- sysctls
    Case(
        "sysctls",
        pod(pod_sc={"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}),
        pod(
            pod_sc={
                "sysctls": [
                    {"name": "kernel.shm_rmid_forced", "value": "1"},
                    {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"},
                    {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                    {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"},
                    {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
                ]
            }
        ),
        version="v1.0",
        note="1.0-set",
    ),
    *[
        Case(
            "sysctls",
            pod(pod_sc={"sysctls": [{"name": name, "value": "1"}]}),
            pod(pod_sc={"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]}),
            version=f"v1.{since - 1}",
            level=BASELINE,
            note=f"{name}-before-1.{since}",
        )
        for name, since in (
            ("net.ipv4.ip_local_reserved_ports", 27),
            ("net.ipv4.tcp_keepalive_time", 29),
            ("net.ipv4.tcp_fin_timeout", 29),
            ("net.ipv4.tcp_keepalive_intvl", 29),
            ("net.ipv4.tcp_keepalive_probes", 29),
            ("net.ipv4.tcp_rmem", 32),
            ("net.ipv4.tcp_wmem", 32),
            ("net.ipv4.tcp_slow_start_after_idle", 37),
            ("net.ipv4.tcp_notsent_lowat", 37),
        )
    ],
    # ---------------------------------------------------------------- hostProbesAndHostLifecycle
    Case(
        "hostProbesAndHostLifecycle",
        pod(ctr={"livenessProbe": {"httpGet": {"host": "169.254.169.254", "path": "/", "port": 80}}}),
        pod(ctr={"livenessProbe": {"httpGet": {"host": "", "path": "/", "port": 80}}}),
        version="v1.34",
        level=BASELINE,
        note="probe-httpGet",
    ),
    Case(
        "hostProbesAndHostLifecycle",
        pod(ctr={"readinessProbe": {"tcpSocket": {"host": "10.0.0.1", "port": 5432}}}),
        pod(ctr={"readinessProbe": {"tcpSocket": {"port": 5432}}}),
        note="probe-tcpSocket",
    ),
    Case(
        "hostProbesAndHostLifecycle",
        pod(ctr={"lifecycle": {"preStop": {"httpGet": {"host": "kubernetes.default", "port": 443}}}}),
        pod(ctr={"lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5"]}}}}),
        note="lifecycle",
    ),
    Case(
        "hostProbesAndHostLifecycle",
        pod(initContainers=[hc("i", startupProbe={"httpGet": {"host": "metadata", "port": 80}})]),
        pod(initContainers=[hc("i", startupProbe={"httpGet": {"port": 80}})]),
        note="init-startupProbe",
    ),
    # ---------------------------------------------------------------- restrictedVolumes
    Case(
        "restrictedVolumes",
        pod(volumes=[{"name": "data", "nfs": {"server": "nfs.example.com", "path": "/srv"}}]),
        pod(
            volumes=[
                {"name": "a", "configMap": {"name": "c"}},
                {"name": "b", "secret": {"secretName": "s"}},
                {"name": "c", "projected": {"sources": []}},
                {"name": "d", "downwardAPI": {"items": []}},
                {"name": "e", "emptyDir": {}},
                {"name": "f", "persistentVolumeClaim": {"claimName": "p"}},
                {"name": "g", "csi": {"driver": "csi.example.com"}},
                {"name": "h", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "i", "image": {"reference": "registry.example.com/data:1"}},
                {"name": "j"},
            ]
        ),
    ),
    Case(
        "restrictedVolumes",
        pod(volumes=[{"name": "etc", "hostPath": {"path": "/etc"}}]),
        pod(volumes=[{"name": "etc", "emptyDir": {"medium": "Memory"}}]),
        version="v1.0",
        note="overrides-hostPathVolumes",
    ),
    Case(
        "restrictedVolumes",
        pod(volumes=[{"name": "repo", "gitRepo": {"repository": "https://example.com/r.git"}}]),
        pod(volumes=[{"name": "repo", "gitRepo": None}]),
        note="gitRepo",
    ),
    # ---------------------------------------------------------------- allowPrivilegeEscalation
    Case(
        "allowPrivilegeEscalation",
        pod(ctr_sc={"allowPrivilegeEscalation": True}),
        pod(),
        version="v1.8",
        note="true",
    ),
    Case(
        "allowPrivilegeEscalation",
        pod(ctr_sc={"allowPrivilegeEscalation": DROP}),
        pod(ctr_sc={"allowPrivilegeEscalation": DROP}, **WINDOWS),
        version="v1.25",
        note="unset-windows-exempt",
    ),
    Case(
        "allowPrivilegeEscalation",
        pod(ctr_sc={"allowPrivilegeEscalation": DROP}, **WINDOWS),
        pod(ctr_sc={"allowPrivilegeEscalation": False}, **WINDOWS),
        version="v1.24",
        note="windows-before-1.25",
    ),
    Case(
        "allowPrivilegeEscalation",
        pod(ephemeralContainers=[hc("debug", {"allowPrivilegeEscalation": DROP})]),
        pod(ephemeralContainers=[hc("debug")]),
        note="ephemeral",
    ),
    # ---------------------------------------------------------------- runAsNonRoot
    Case(
        "runAsNonRoot",
        pod(pod_sc={"runAsNonRoot": DROP}),
        pod(pod_sc={"runAsNonRoot": DROP}, ctr_sc={"runAsNonRoot": True}),
        version="v1.0",
        note="container-may-set-it",
    ),
    Case(
        "runAsNonRoot",
        pod(ctr_sc={"runAsNonRoot": False}),
        pod(ctr_sc={"runAsNonRoot": True}),
        note="container-false-overrides-pod-true",
    ),
    Case(
        "runAsNonRoot",
        pod(pod_sc={"runAsNonRoot": False}, ctr_sc={"runAsNonRoot": True}),
        pod(pod_sc={"runAsNonRoot": DROP}, ctr_sc={"runAsNonRoot": True}),
        note="pod-false-fails-even-if-containers-are-true",
    ),
    Case(
        "runAsNonRoot",
        pod(initContainers=[hc("i", {"runAsNonRoot": False})]),
        pod(initContainers=[hc("i")]),
        note="init-container",
    ),
    Case(
        "runAsNonRoot",
        pod(pod_sc={"runAsNonRoot": DROP}, **USERNS),
        pod(pod_sc={"runAsNonRoot": True}, **USERNS),
        version="v1.34",
        note="user-namespace-before-1.35",
    ),
    # ---------------------------------------------------------------- runAsUser
    Case(
        "runAsUser",
        pod(ctr_sc={"runAsUser": 0}),
        pod(ctr_sc={"runAsUser": 1000}),
        version="v1.23",
        note="container",
    ),
    Case(
        "runAsUser",
        pod(pod_sc={"runAsUser": 0}, ctr_sc={"runAsUser": 1000}),
        pod(pod_sc={"runAsUser": 1000}, ctr_sc={"runAsUser": 1001}),
        note="pod-zero-fails-even-if-containers-override",
    ),
    Case(
        "runAsUser",
        pod(pod_sc={"runAsUser": 0}, **USERNS),
        pod(pod_sc={"runAsUser": 1000}, **USERNS),
        version="v1.34",
        note="user-namespace-before-1.35",
    ),
    # ---------------------------------------------------------------- seccompProfile_restricted
    Case(
        "seccompProfile_restricted",
        pod(pod_sc={"seccompProfile": DROP}),
        pod(pod_sc={"seccompProfile": DROP}, ctr_sc={"seccompProfile": {"type": "RuntimeDefault"}}),
        version="v1.19",
        note="container-may-set-it",
    ),
    Case(
        "seccompProfile_restricted",
        pod(ctr_sc={"seccompProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}),
        note="container-overrides-pod",
    ),
    Case(
        "seccompProfile_restricted",
        pod(pod_sc={"seccompProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"seccompProfile": DROP}, ctr_sc={"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}),
        version="v1.19",
        note="overrides-baseline",
    ),
    Case(
        "seccompProfile_restricted",
        pod(pod_sc={"seccompProfile": DROP}, **WINDOWS),
        pod(pod_sc={"seccompProfile": {"type": "RuntimeDefault"}}, **WINDOWS),
        version="v1.24",
        note="windows-before-1.25",
    ),
    # ---------------------------------------------------------------- capabilities_restricted
    Case(
        "capabilities_restricted",
        pod(ctr_sc={"capabilities": DROP}),
        pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        version="v1.22",
        note="drop-missing",
    ),
    Case(
        "capabilities_restricted",
        pod(ctr_sc={"capabilities": {"drop": ["all"]}}),
        pod(ctr_sc={"capabilities": {"drop": ["NET_RAW", "ALL"]}}),
        note="ALL-is-case-sensitive",
    ),
    Case(
        "capabilities_restricted",
        pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}),
        pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        note="baseline-allowed-add-is-not-enough",
    ),
    Case(
        "capabilities_restricted",
        pod(ctr_sc={"capabilities": DROP}, **WINDOWS),
        pod(ctr_sc={"capabilities": {"drop": ["ALL"]}}, **WINDOWS),
        version="v1.24",
        note="windows-before-1.25",
    ),
    # ---------------------------------------------------------------- procMount_restricted
    Case(
        "procMount_restricted",
        pod(ctr_sc={"procMount": "Unmasked"}, **USERNS),
        pod(ctr_sc={"procMount": "Default"}, **USERNS),
        version="v1.35",
        note="user-namespace-does-not-relax-restricted",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_pod_fails_exactly_this_check(case: Case) -> None:
    results = pss.evaluate(*case.fail, level=case.level, version=case.version)
    assert [r.check_id for r in results] == [case.check]
    (r,) = results
    assert r.fields and r.detail
    for f in r.fields:  # a forbidden value's parent exists in the pod (the field is there, or its type is)
        assert f.path[0] in ("spec", "metadata")
        if not f.required:
            node: Any = {"spec": case.fail[0], "metadata": case.fail[1]}
            for key in f.path[:-1]:
                node = node[key]
            assert isinstance(node, dict | list)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_near_miss_passes(case: Case) -> None:
    assert pss.evaluate(*case.passing, level=case.level, version=case.version) == []


def test_every_check_has_cases() -> None:
    assert {c.check for c in CASES} == set(pss.CHECK_IDS)


# ------------------------------------------------------------------ versions: relaxations and checks that start


@pytest.mark.parametrize(
    ("check", "pod_", "level", "before", "since"),
    [
        ("seLinuxOptions", pod(pod_sc={"seLinuxOptions": {"type": "container_engine_t"}}), BASELINE, 30, 31),
        ("procMount", pod(ctr_sc={"procMount": "Unmasked"}, **USERNS), BASELINE, 34, 35),
        ("runAsNonRoot", pod(pod_sc={"runAsNonRoot": DROP}, **USERNS), "restricted", 34, 35),
        ("runAsUser", pod(ctr_sc={"runAsUser": 0}, **USERNS), "restricted", 34, 35),
        ("allowPrivilegeEscalation", pod(ctr_sc={"allowPrivilegeEscalation": DROP}, **WINDOWS), "restricted", 24, 25),
        ("seccompProfile_restricted", pod(pod_sc={"seccompProfile": DROP}, **WINDOWS), "restricted", 24, 25),
        ("capabilities_restricted", pod(ctr_sc={"capabilities": DROP}, **WINDOWS), "restricted", 24, 25),
        (
            "seccompProfile_baseline",
            pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "x"}),
            BASELINE,
            18,
            19,
        ),
        *[
            ("sysctls", pod(pod_sc={"sysctls": [{"name": n, "value": "1"}]}), BASELINE, s - 1, s)
            for n, s in (
                ("net.ipv4.ip_local_reserved_ports", 27),
                ("net.ipv4.tcp_keepalive_probes", 29),
                ("net.ipv4.tcp_wmem", 32),
                ("net.ipv4.tcp_notsent_lowat", 37),
            )
        ],
    ],
)
def test_allowed_from_version(check: str, pod_: Pod, level: str, before: int, since: int) -> None:
    """What v1.N-1 refuses, v1.N admits (a relaxation or a newly safe value)."""
    assert [r.check_id for r in pss.evaluate(*pod_, level=level, version=f"v1.{before}")] == [check]
    assert pss.evaluate(*pod_, level=level, version=f"v1.{since}") == []
    assert pss.evaluate(*pod_, level=level, version="latest") == []


@pytest.mark.parametrize(
    ("check", "pod_", "level", "before", "since"),
    [
        ("allowPrivilegeEscalation", pod(ctr_sc={"allowPrivilegeEscalation": True}), "restricted", 7, 8),
        ("runAsUser", pod(pod_sc={"runAsUser": 0}), "restricted", 22, 23),
        ("seccompProfile_restricted", pod(pod_sc={"seccompProfile": DROP}), "restricted", 18, 19),
        ("seccompProfile_baseline", pod(pod_sc={"seccompProfile": {"type": "Unconfined"}}), BASELINE, 18, 19),
        ("capabilities_restricted", pod(ctr_sc={"capabilities": {"drop": ["NET_RAW"]}}), "restricted", 21, 22),
        (
            "hostProbesAndHostLifecycle",
            pod(ctr={"livenessProbe": {"tcpSocket": {"host": "db", "port": 5432}}}),
            BASELINE,
            33,
            34,
        ),
    ],
)
def test_refused_from_version(check: str, pod_: Pod, level: str, before: int, since: int) -> None:
    """A check (or a field it reads) that starts at v1.N: v1.N-1 admits, v1.N refuses."""
    assert pss.evaluate(*pod_, level=level, version=f"v1.{before}") == []
    assert [r.check_id for r in pss.evaluate(*pod_, level=level, version=f"v1.{since}")] == [check]


@pytest.mark.parametrize(
    ("pod_", "version", "expected"),
    [
        # restricted overrides its baseline counterpart only from the version the override starts at
        (pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}), "v1.21", ["capabilities_baseline"]),
        (pod(ctr_sc={"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}), "v1.22", ["capabilities_restricted"]),
        (pod(ctr_sc={"procMount": "Unmasked"}), "v1.34", ["procMount"]),
        (pod(ctr_sc={"procMount": "Unmasked"}), "v1.35", ["procMount_restricted"]),
        (pod(pod_sc={"seccompProfile": {"type": "Unconfined"}}), "v1.18", []),
        (pod(pod_sc={"seccompProfile": {"type": "Unconfined"}}), "v1.19", ["seccompProfile_restricted"]),
        (pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "v1.0", ["restrictedVolumes"]),
    ],
)
def test_restricted_overrides_baseline_per_version(pod_: Pod, version: str, expected: list[str]) -> None:
    assert [r.check_id for r in pss.evaluate(*pod_, level="restricted", version=version)] == expected


def test_windows_pod_at_1_25_is_exempt_from_the_linux_only_checks_together() -> None:
    spec, meta = pod(pod_sc={"seccompProfile": DROP}, ctr_sc={"allowPrivilegeEscalation": DROP, "capabilities": DROP})
    linux_spec = {**spec, "os": {"name": "linux"}}
    expected = ["allowPrivilegeEscalation", "seccompProfile_restricted", "capabilities_restricted"]
    assert [r.check_id for r in pss.evaluate(linux_spec, meta, "restricted", "v1.25")] == expected
    assert pss.evaluate({**spec, **WINDOWS}, meta, "restricted", "v1.25") == []
    assert [r.check_id for r in pss.evaluate({**spec, **WINDOWS}, meta, "restricted", "v1.24")] == expected


# ------------------------------------------------------------------ levels, versions, results


def test_active_checks_per_level_and_version() -> None:
    ids = lambda level, v: [c.id for c, _ in pss.active_checks(level, v)]  # noqa: E731
    assert ids("privileged", 37) == []
    assert ids("baseline", 0) == [c for c in pss.CHECK_IDS[:11]]
    assert ids("baseline", 37) == list(pss.CHECK_IDS[:12])
    assert ids("restricted", 0) == [
        *(c for c in pss.CHECK_IDS[:11] if c != "hostPathVolumes"),
        "restrictedVolumes",
        "runAsNonRoot",
    ]
    latest = ids("restricted", 37)
    assert len(latest) == 15
    assert not {"hostPathVolumes", "capabilities_baseline", "seccompProfile_baseline", "procMount"} & set(latest)
    # the implementation chosen is the newest at or below the version
    impls = {c.id: i.min_version for c, i in pss.active_checks("restricted", 30)}
    assert impls["sysctls"] == 29 and impls["seLinuxOptions"] == 0 and impls["allowPrivilegeEscalation"] == 25
    assert impls["runAsNonRoot"] == 0 and impls["runAsUser"] == 23


def test_latest_is_the_newest_policy_version() -> None:
    assert pss.parse_version("latest") == pss.LATEST_MINOR == 37
    assert max(v for c in pss.CHECKS for v in c.versions) == pss.LATEST_MINOR
    p = pod(pod_sc={"sysctls": [{"name": "net.ipv4.tcp_notsent_lowat", "value": "1"}], "runAsNonRoot": DROP})
    assert pss.evaluate(*p, version="latest") == pss.evaluate(*p, version="v1.37")


@pytest.mark.parametrize(("text", "minor"), [("v1.0", 0), ("1.25", 25), ("V1.37", 37), (" latest ", 37), ("v1.9", 9)])
def test_parse_version(text: str, minor: int) -> None:
    assert pss.parse_version(text) == minor


@pytest.mark.parametrize("text", ["v1.38", "v2.0", "1", "v1.x", "", "1.25.3", "v1.-1", "newest"])
def test_bad_version_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"--pss-version: .* \(use v1\.0 to v1\.37, or latest\)"):
        pss.parse_version(text)


@pytest.mark.parametrize("text", ["Baseline", "restricted", "PRIVILEGED"])
def test_parse_level(text: str) -> None:
    assert pss.parse_level(text) == text.lower()


def test_bad_level_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--pss-level: 'strict'"):
        pss.evaluate(pod()[0], level="strict")


def test_results_carry_paths_values_and_the_implementation_version() -> None:
    spec, meta = pod(
        ctr_sc={"privileged": True, "allowPrivilegeEscalation": DROP},
        initContainers=[hc("init", {"allowPrivilegeEscalation": True})],
    )
    results = {r.check_id: r for r in pss.evaluate(spec, meta, "restricted", "v1.30")}
    assert set(results) == {"privileged", "allowPrivilegeEscalation"}
    ape = results["allowPrivilegeEscalation"]
    assert (ape.level, ape.min_version) == ("restricted", 25)
    assert [(f.path, f.required, f.value, f.container, f.set_to) for f in ape.fields] == [
        (("spec", "initContainers", 0, "securityContext", "allowPrivilegeEscalation"), False, "true", "init", "false"),
        (("spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"), True, "", "app", "false"),
    ]
    priv = results["privileged"]
    assert (priv.level, priv.min_version) == ("baseline", 0)
    assert priv.fields[0].path == ("spec", "containers", 0, "securityContext", "privileged")
    assert 'container "app"' in priv.detail


# ------------------------------------------------------------------ input the API server would not accept


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"containers": 5},
        {"containers": [None, 3, "x", {"securityContext": None}]},
        {"containers": [{"name": "a", "securityContext": "privileged"}]},
        {"securityContext": [], "volumes": {"a": 1}, "containers": [{"name": "a", "ports": "80"}]},
        {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": "SYS_ADMIN", "drop": "ALL"}}}]},
        {"containers": [{"name": "a", "livenessProbe": "yes", "lifecycle": {"preStop": 1}}], "hostUsers": "false"},
        {"securityContext": {"sysctls": [None, {"name": None}], "seLinuxOptions": "spc_t"}, "containers": []},
    ],
)
def test_malformed_pods_never_crash(spec: dict[str, Any]) -> None:
    for version in ("v1.0", "v1.18", "v1.25", "latest"):
        for level in pss.LEVELS:
            results = pss.evaluate(spec, {"annotations": None}, level, version)
            assert all(r.fields for r in results)


def test_wrong_types_never_count_as_true_or_as_satisfying() -> None:
    # `"true"` is not a boolean: the API server would reject the pod, PSA never sees it; we neither
    # call it privileged nor let a string satisfy a requirement.
    spec, meta = pod(hostNetwork="true", ctr_sc={"privileged": "true", "allowPrivilegeEscalation": "false"})
    assert [r.check_id for r in pss.evaluate(spec, meta, "restricted", "latest")] == ["allowPrivilegeEscalation"]
    assert pss.evaluate(spec, meta, "baseline", "latest") == []


def test_unnamed_containers_get_a_positional_label() -> None:
    spec = {"containers": [{"image": "x", "securityContext": {"privileged": True}}]}
    (r,) = pss.evaluate(spec, {}, "baseline")
    assert r.fields[0].container == "containers[0]"


def test_a_bad_pod_level_value_is_reported_once_not_per_inheriting_container() -> None:
    spec, meta = pod(
        pod_sc={"runAsNonRoot": False, "seccompProfile": {"type": "Unconfined"}},
        initContainers=[hc("init")],
    )
    results = {r.check_id: r for r in pss.evaluate(spec, meta, "restricted", "latest")}
    assert [f.path for f in results["runAsNonRoot"].fields] == [("spec", "securityContext", "runAsNonRoot")]
    assert [f.path for f in results["seccompProfile_restricted"].fields] == [
        ("spec", "securityContext", "seccompProfile", "type")
    ]
    # with the pod level unset, every container that does not opt in is named
    spec, meta = pod(pod_sc={"runAsNonRoot": DROP}, initContainers=[hc("init", {"runAsNonRoot": True})])
    (r,) = pss.evaluate(spec, meta, "restricted", "latest")
    assert [(f.container, f.required) for f in r.fields] == [("app", True)]
