"""Every default rule: a replayed attack event fires it with the expected output fields, and a
similar benign event does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from customhouse.runtime.events import Event
from customhouse.runtime.output import output_fields
from customhouse.runtime.rules import Engine, load_rules
from tests.runtime.evts import (
    HOST,
    audit,
    connect,
    execve,
    open_file,
    pod,
    proc,
    syscall,
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    rs = load_rules()
    assert not rs.skipped and not rs.warnings
    return rs.engine


def _fired(engine: Engine, e: Event) -> dict[str, Any]:
    fast = {a.rule.name: a for a in engine.evaluate(e)}
    slow = {a.rule.name: a for a in engine._evaluate_rules(e)}  # rule by rule: the reference path
    assert fast.keys() == slow.keys()
    return fast


def _suid(name: str) -> dict[str, Any]:
    return proc(name, is_suid_exe=True)


def _tty_shell(parent: str = "runc") -> dict[str, Any]:
    return proc("bash", "/bin/bash", tty=34816, parent=parent)


CASES: list[tuple[str, Callable[[], Event], Callable[[], Event], dict[str, Any]]] = [
    (
        "Terminal shell in container",
        lambda: execve(_tty_shell()),
        lambda: execve(proc("bash", "/bin/bash", tty=0, parent="runc")),
        {"proc.name": "bash", "proc.tty": 34816, "container.id": "0123456789ab", "k8s.pod.name": "web-0"},
    ),
    (
        "Terminal shell in container",
        lambda: execve(_tty_shell()),
        lambda: execve(_tty_shell(parent="bash")),  # a subshell of an alerted session
        {"proc.pname": "runc"},
    ),
    (
        "Package manager run in container",
        lambda: execve(proc("apt-get", args=["install", "-y", "nmap"])),
        lambda: execve(proc("apt-get", args=["install", "-y", "nmap"]), container=HOST),
        {"proc.cmdline": "apt-get install -y nmap", "container.image.repository": "docker.io/library/nginx"},
    ),
    (
        "Package manager run in container",
        lambda: execve(proc("pip", args=["install", "requests"])),
        lambda: execve(proc("dpkg", args=["-i", "x.deb"], parent="apt-get")),
        {"proc.cmdline": "pip install requests"},
    ),
    (
        "Write below binary directory",
        lambda: open_file("/usr/bin/ls", "O_WRONLY|O_TRUNC", proc("sh", args=["-c", "cp x /usr/bin/ls"])),
        lambda: open_file("/usr/bin/ls", "O_RDONLY", proc("sh")),
        {"fd.name": "/usr/bin/ls", "proc.cmdline": "sh -c cp x /usr/bin/ls"},
    ),
    (
        "Write below binary directory",
        lambda: open_file("/usr/local/bin/kubectl", "O_RDWR|O_CREAT", container=HOST),
        lambda: open_file("/usr/bin/ls", "O_WRONLY|O_TRUNC", proc("dpkg")),
        {"fd.name": "/usr/local/bin/kubectl"},
    ),
    (
        "Write below etc in container",
        lambda: open_file("/etc/passwd", "O_WRONLY|O_APPEND", proc("sh")),
        lambda: open_file("/etc/passwd", "O_WRONLY|O_APPEND", proc("sh"), container=HOST),
        {"fd.name": "/etc/passwd", "k8s.ns.name": "prod"},
    ),
    (
        "Write below etc in container",
        lambda: open_file("/etc/cron.d/backdoor", "O_WRONLY|O_CREAT", proc("python3")),
        lambda: open_file("/etc/ssl/certs/ca.pem", "O_WRONLY|O_CREAT", proc("update-ca-certificates")),
        {"fd.name": "/etc/cron.d/backdoor"},
    ),
    (
        "Read sensitive file",
        lambda: open_file("/etc/shadow", "O_RDONLY", proc("cat", args=["/etc/shadow"])),
        lambda: open_file("/etc/shadow", "O_RDONLY", proc("sshd")),
        {"fd.name": "/etc/shadow", "proc.cmdline": "cat /etc/shadow", "proc.aname[2]": "containerd-shim"},
    ),
    (
        "Read sensitive file",
        lambda: open_file("/home/dev/.ssh/id_ed25519", "O_RDONLY", proc("python3"), container=HOST),
        lambda: open_file("/home/dev/.ssh/known_hosts", "O_RDONLY", proc("python3"), container=HOST),
        {"fd.name": "/home/dev/.ssh/id_ed25519", "container.id": "host"},
    ),
    (
        "Outbound connection to unexpected destination",
        lambda: connect("140.82.112.3", 443, proc("curl")),
        lambda: connect("10.96.0.1", 443, proc("curl")),
        {"fd.rip": "140.82.112.3", "fd.rport": 443, "fd.name": "10.244.1.5:40000->140.82.112.3:443"},
    ),
    (
        "Outbound connection to unexpected destination",
        lambda: connect("140.82.112.3", 443, proc("curl"), res=-115),  # EINPROGRESS: non-blocking connect
        lambda: connect("140.82.112.3", 443, proc("curl"), res=-111),  # ECONNREFUSED
        {"fd.rport": 443},
    ),
    (
        "Cloud metadata service contacted from container",
        lambda: connect("169.254.169.254", 80, proc("curl")),
        lambda: connect("169.254.169.254", 80, proc("curl"), container=HOST),
        {"fd.name": "10.244.1.5:40000->169.254.169.254:80"},
    ),
    (
        "Unexpected listening port in container",
        lambda: syscall(
            "listen",
            proc("nc", args=["-lvp", "4444"]),
            fd={"type": "ipv4", "l4proto": "tcp", "sip": "0.0.0.0", "sport": 4444, "is_server": True},
        ),
        lambda: syscall(
            "listen",
            proc("nginx"),
            fd={"type": "ipv4", "l4proto": "tcp", "sip": "0.0.0.0", "sport": 8080, "is_server": True},
        ),
        {"fd.lport": 4444, "fd.l4proto": "tcp"},
    ),
    (
        "Unexpected listening port in container",
        lambda: syscall(
            "listen",
            proc("nc", args=["-lvp", "4444"]),
            fd={"type": "ipv4", "l4proto": "tcp", "sip": "0.0.0.0", "sport": 4444, "is_server": True},
        ),
        lambda: syscall("listen", proc("app"), fd={"type": "unix", "name": "/tmp/app.sock"}),  # no port at all
        {"fd.lport": 4444},
    ),
    (
        "Setuid binary executed in container",
        lambda: execve(_suid("chsh")),
        lambda: execve(proc("chsh")),
        {"proc.exepath": "/usr/bin/chsh", "user.uid": 1000},
    ),
    (
        "Privilege change to root",
        lambda: syscall("setuid", proc("python3"), args={"uid": 0}),
        lambda: syscall("setuid", proc("su"), args={"uid": 0}),
        {"evt.type": "setuid", "user.uid": 1000},
    ),
    (
        "Privilege change to root",
        lambda: syscall("setresuid", proc("exploit"), args={"ruid": 0, "euid": 0, "suid": 0}),
        lambda: syscall("setresuid", proc("exploit"), args={"ruid": 0, "euid": 0, "suid": 0}, res=-1),
        {"proc.cmdline": "exploit"},
    ),
    (
        "Executable not in image run in container",
        lambda: execve(proc("payload", "/app/payload", exe_upper_layer=True)),
        lambda: execve(proc("payload", "/app/payload", exe_upper_layer=False)),
        {"proc.exepath": "/app/payload"},
    ),
    (
        "Executable not in image run in container",
        lambda: execve(proc("tool", "/opt/tool", exe_mtime=1_714_564_800_000_000_001)),
        lambda: execve(proc("tool", "/opt/tool", exe_mtime=1_714_500_000_000_000_000)),
        {"proc.exepath": "/opt/tool"},
    ),
    (
        "Execution from temporary or memory-backed location",
        lambda: execve(proc("x", "/dev/shm/x")),
        lambda: execve(proc("x", "/usr/local/bin/x")),
        {"proc.exepath": "/dev/shm/x"},
    ),
    (
        "Execution from temporary or memory-backed location",
        lambda: execve(proc("3", "/memfd:payload (deleted)"), container=HOST),
        lambda: execve(proc("tmpfiles", "/usr/bin/tmpfiles"), container=HOST),
        {"proc.exepath": "/memfd:payload (deleted)"},
    ),
    (
        "Crypto miner process",
        lambda: execve(proc("xmrig", "/tmp/.x/xmrig")),
        lambda: execve(proc("python3", args=["app.py"])),
        {"proc.exepath": "/tmp/.x/xmrig"},
    ),
    (
        "Crypto miner process",
        lambda: execve(proc("svc", args=["-o", "Stratum+TCP://pool.example:4444", "-u", "wallet"])),
        lambda: execve(proc("svc", args=["-o", "tcp://db.internal:4444"])),
        {"proc.cmdline": "svc -o Stratum+TCP://pool.example:4444 -u wallet"},
    ),
    (
        "Connection to mining pool",
        lambda: connect("10.1.2.3", 3333, proc("svc")),
        lambda: connect("10.1.2.3", 443, proc("svc")),
        {"fd.rport": 3333},
    ),
    (
        "Connection to mining pool",
        lambda: connect("198.51.100.7", 443, proc("svc"), fd_extra={"sip_name": "xmr-eu1.nanopool.org"}),
        lambda: connect("198.51.100.7", 443, proc("svc"), fd_extra={"sip_name": "api.github.com"}),
        {"fd.sip.name": "xmr-eu1.nanopool.org"},
    ),
    (
        "Mount in container",
        lambda: syscall("mount", proc("sh"), args={"dev": "/dev/sda1", "dir": "/mnt", "type": "ext4"}),
        lambda: syscall("mount", proc("sh"), args={"dev": "/dev/sda1", "dir": "/mnt"}, container=HOST),
        {"evt.arg.dev": "/dev/sda1", "evt.arg.dir": "/mnt"},
    ),
    (
        "Mount in container",
        lambda: execve(proc("mount", args=["/dev/sda1", "/mnt"])),
        lambda: execve(proc("mountpoint", args=["/mnt"])),
        {"proc.cmdline": "mount /dev/sda1 /mnt"},
    ),
    (
        "Namespace change in container",
        lambda: execve(proc("nsenter", args=["-t", "1", "-m", "-u", "-n", "-i", "sh"])),
        lambda: execve(proc("nsenter", args=["-t", "1", "-m", "sh"]), container=HOST),
        {"proc.cmdline": "nsenter -t 1 -m -u -n -i sh"},
    ),
    (
        "Namespace change in container",
        lambda: syscall("setns", proc("exploit"), args={"fd": 3, "nstype": "CLONE_NEWNS"}),
        lambda: syscall("setns", proc("runc"), args={"fd": 3, "nstype": "CLONE_NEWNS"}),
        {"evt.type": "setns"},
    ),
    (
        "Kernel parameters written from container",
        lambda: open_file("/proc/sys/kernel/core_pattern", "O_WRONLY|O_TRUNC", proc("sh")),
        lambda: open_file("/proc/sys/kernel/core_pattern", "O_RDONLY", proc("sh")),
        {"fd.name": "/proc/sys/kernel/core_pattern"},
    ),
    (
        "Cgroup release agent modified",
        lambda: open_file("/sys/fs/cgroup/rdma/release_agent", "O_WRONLY", proc("sh")),
        lambda: open_file("/sys/fs/cgroup/rdma/release_agent", "O_RDONLY", proc("sh")),
        {"fd.name": "/sys/fs/cgroup/rdma/release_agent"},
    ),
    (
        "Kernel module loaded from container",
        lambda: syscall("finit_module", proc("insmod"), args={"fd": 3}),
        lambda: syscall("finit_module", proc("modprobe"), args={"fd": 3}, container=HOST),
        {"evt.type": "finit_module"},
    ),
    (
        "Container runtime socket accessed from container",
        lambda: syscall("connect", proc("docker"), fd={"type": "unix", "name": "/var/run/docker.sock"}),
        lambda: syscall("connect", proc("app"), fd={"type": "unix", "name": "/tmp/app.sock"}),
        {"fd.name": "/var/run/docker.sock"},
    ),
    (
        "Exec or attach into pod",
        lambda: audit(
            "create",
            "pods",
            subresource="exec",
            stage="ResponseStarted",
            uri="/api/v1/namespaces/prod/pods/web-0/exec?command=sh&container=app&stdin=true&tty=true",
        ),
        lambda: audit("get", "pods", subresource="log", stage="ResponseStarted"),
        {"ka.user.name": "alice", "ka.target.name": "web-0", "ka.uri.param[command]": "sh"},
    ),
    (
        "Privileged pod created",
        lambda: audit(
            "create",
            "pods",
            request_object=pod(
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "alpine", "securityContext": {"privileged": True}},
            ),
        ),
        lambda: audit("create", "pods", request_object=pod({"name": "a", "image": "busybox"})),
        {"ka.req.pod.containers.image": ["busybox", "alpine"], "ka.target.namespace": "prod"},
    ),
    (
        "Privileged pod created",
        lambda: audit(
            "create",
            "deployments",
            request_object={
                "kind": "Deployment",
                "spec": {
                    "template": {"spec": {"containers": [{"image": "x", "securityContext": {"privileged": True}}]}}
                },
            },
        ),
        lambda: audit(
            "create",
            "pods",
            code=403,
            request_object=pod({"name": "b", "image": "alpine", "securityContext": {"privileged": True}}),
        ),
        {"ka.target.resource": "deployments"},
    ),
    (
        "Pod with host namespaces created",
        lambda: audit("create", "pods", request_object=pod({"image": "x"}, hostNetwork=True)),
        lambda: audit("create", "pods", request_object=pod({"image": "x"}, hostNetwork=False)),
        {"ka.req.pod.host_network": True, "ka.req.pod.host_pid": False},
    ),
    (
        "Pod with sensitive hostPath mount created",
        lambda: audit(
            "create",
            "pods",
            request_object=pod({"image": "x"}, volumes=[{"name": "s", "hostPath": {"path": "/var/run/docker.sock"}}]),
        ),
        lambda: audit(
            "create", "pods", request_object=pod({"image": "x"}, volumes=[{"name": "d", "hostPath": {"path": "/data"}}])
        ),
        {"ka.req.pod.volumes.hostpath": ["/var/run/docker.sock"]},
    ),
    (
        "Pod with sensitive hostPath mount created",
        lambda: audit(
            "patch",
            "daemonsets",
            request_object={
                "kind": "DaemonSet",
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"image": "x"}],
                            "volumes": [{"hostPath": {"path": "/etc/kubernetes/pki"}}],
                        }
                    }
                },
            },
        ),
        lambda: audit(
            "patch",
            "daemonsets",
            request_object={"kind": "DaemonSet", "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
        ),
        {"ka.req.pod.volumes.hostpath": ["/etc/kubernetes/pki"]},
    ),
    (
        "Binding to cluster-admin created",
        lambda: audit(
            "create",
            "clusterrolebindings",
            name="pwn",
            request_object={
                "kind": "ClusterRoleBinding",
                "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "prod"}],
            },
        ),
        lambda: audit(
            "create",
            "clusterrolebindings",
            name="ok",
            request_object={"kind": "ClusterRoleBinding", "roleRef": {"name": "view"}, "subjects": [{"name": "dev"}]},
        ),
        {"ka.req.binding.subjects": ["default"], "ka.target.name": "pwn"},
    ),
    (
        "Secret read by unexpected user",
        lambda: audit("get", "secrets", name="db-password", code=200),
        lambda: audit("get", "secrets", name="db-password", code=200, user="system:kube-controller-manager"),
        {"ka.target.name": "db-password", "ka.user.groups": ["system:authenticated"]},
    ),
    (
        "Secret read by unexpected user",
        lambda: audit("list", "secrets", user="system:serviceaccount:prod:api", code=200),
        lambda: audit("list", "secrets", user="system:serviceaccount:prod:api", code=403, decision="forbid"),
        {"ka.user.name": "system:serviceaccount:prod:api"},
    ),
    (
        "Anonymous request allowed",
        lambda: audit("list", "namespaces", user="system:anonymous", code=200, uri="/api/v1/namespaces"),
        lambda: audit("get", "", user="system:anonymous", code=200, uri="/healthz?verbose"),
        {"ka.uri": "/api/v1/namespaces", "ka.auth.reason": "RBAC"},
    ),
]


@pytest.mark.parametrize(
    ("rule", "positive", "negative", "fields"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_default_rule(
    engine: Engine,
    rule: str,
    positive: Callable[[], Event],
    negative: Callable[[], Event],
    fields: dict[str, Any],
) -> None:
    fired = _fired(engine, positive())
    assert rule in fired, f"{rule} did not fire; fired: {sorted(fired)}"
    out = output_fields(fired[rule])
    for k, v in fields.items():
        assert out[k] == v, (k, out[k])
    assert rule not in _fired(engine, negative())


def test_every_default_rule_has_a_case(engine: Engine) -> None:
    covered = {c[0] for c in CASES}
    assert {r.name for r in engine.rules} == covered


def test_default_rules_have_mitre_tags_and_priorities(engine: Engine) -> None:
    for r in engine.rules:
        assert any(t.startswith("T1") for t in r.tags), r.name
        assert r.desc and r.output.parts


def test_benign_background_raises_nothing(engine: Engine) -> None:
    benign = [
        execve(proc("nginx", "/usr/sbin/nginx", ["-s", "reload"])),
        open_file("/etc/nginx/nginx.conf", "O_RDONLY|O_CLOEXEC", proc("nginx")),
        open_file("/var/log/nginx/access.log", "O_WRONLY|O_APPEND|O_CREAT", proc("nginx")),
        connect("10.96.0.10", 53, proc("nginx"), proto="udp"),
        syscall("close", proc("nginx"), fd={"type": "file", "name": "/etc/hosts"}),
        audit("watch", "configmaps", user="system:serviceaccount:kube-system:coredns", code=200),
    ]
    for e in benign:
        assert engine.evaluate(e) == [], e
