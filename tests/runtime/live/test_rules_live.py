"""Every default syscall rule, performed for real inside a runc container under `runtime watch`.

One container and one agent serve the module (audit rules are global, and starting them per test
would make the module slow). The agent runs without `--audit-all-opens`: every open on a busy
shared host would be audited then, and the sensitive-read rule (the only one that needs it) has its
own module, test_watch.py, with the same 2 s check. The fixture performs each rule's attack for real, waiting up to 2 s
for its alert (that wait is the specification: alert within 2 s), then a similar benign action per
rule; after the agent stopped, each test checks its own rule: the alert arrived in time with the
container id and the right fields, and the benign look-alike raised nothing of that rule.

The container is set up so that the attacks can succeed where the rule needs a successful call:
/proc/sys and the cgroup filesystem writable (a "privileged-ish" container), extra addresses on its
loopback (a public one, a private one, the cloud metadata address) with listeners, and a few
binaries put into the image before start (a setuid copy of busybox, a compiled helper for
setresuid, finit_module and unix sockets).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from customhouse.runtime.sinks import parse_exposition
from tests.runtime.live.common import (
    LIVE_MARKS,
    Alerts,
    audit_lost,
    container_pid,
    make_bundle,
    runc_container,
    watch_agent,
)

pytestmark = LIVE_MARKS

HELPER_C = Path(__file__).with_name("chhelper.c")
ALERT_WAIT = 2.0  # the specification: an alert within 2 s of the action
PUBLIC_IP, PRIVATE_IP, METADATA_IP = "198.51.100.7", "10.99.0.7", "169.254.169.254"
CG_RELEASE = "/sys/fs/cgroup/memory/notify_on_release"


@dataclass
class Case:
    """One rule's attack and its benign look-alike.

    `fields` must all appear in the alert's output fields (this is also how the attack's alert is
    told apart from the same rule firing for another action); `benign` picks out alerts of the
    rule that the benign action would have caused.
    """

    rule: str
    attack: list[str]
    fields: dict[str, Any]
    benign_cmd: list[str]
    benign: Callable[[dict[str, Any]], bool]
    attack_user: str | None = None
    benign_user: str | None = None
    check: Callable[[dict[str, Any]], bool] = field(default=lambda _of: True)


def _cmd(of: dict[str, Any]) -> str:
    return str(of.get("proc.cmdline") or "")


CASES: dict[str, Case] = {
    "terminal_shell": Case(
        "Terminal shell in container",
        ["@tty", "sh", "-c", "true tty-positive"],
        {"proc.name": "sh", "proc.cmdline": "sh -c true tty-positive"},
        ["sh", "-c", "true tty-negative"],
        lambda of: "tty-negative" in _cmd(of),
        check=lambda of: of["proc.tty"] != 0,
    ),
    "package_manager": Case(
        "Package manager run in container",
        ["apk", "info", "-e", "busybox"],
        {"proc.cmdline": "apk info -e busybox"},
        ["cat", "/etc/apk/world"],
        lambda of: "apk/world" in _cmd(of),
    ),
    "write_bin_dir": Case(
        "Write below binary directory",
        ["sh", "-c", "echo x > /usr/local/bin/planted"],
        {"fd.name": "/usr/local/bin/planted"},
        ["sh", "-c", "echo x > /srv/notbin; cat /usr/local/bin/chhelper > /dev/null"],
        lambda of: of.get("fd.name") in ("/srv/notbin", "/usr/local/bin/chhelper"),
    ),
    "write_etc": Case(
        "Write below etc in container",
        ["sh", "-c", "echo evil >> /etc/motd"],
        {"fd.name": "/etc/motd"},
        ["sh", "-c", "cat /etc/motd > /dev/null"],
        lambda of: "cat" in _cmd(of),
    ),
    "outbound": Case(
        "Outbound connection to unexpected destination",
        ["sh", "-c", f"sleep 1 | nc {PUBLIC_IP} 8080"],
        {"fd.rip": PUBLIC_IP, "fd.rport": 8080, "proc.cmdline": f"nc {PUBLIC_IP} 8080"},
        ["sh", "-c", f"sleep 1 | nc {PRIVATE_IP} 8080"],
        lambda of: PRIVATE_IP in _cmd(of),
    ),
    "cloud_metadata": Case(
        "Cloud metadata service contacted from container",
        ["sh", "-c", f"sleep 1 | nc {METADATA_IP} 80"],
        {"proc.cmdline": f"nc {METADATA_IP} 80"},
        ["sh", "-c", f"sleep 1 | nc {PRIVATE_IP} 8081"],
        lambda of: PRIVATE_IP in _cmd(of),
    ),
    "listen": Case(
        "Unexpected listening port in container",
        ["@detach", "nc", "-l", "-p", "4444"],
        {"fd.lport": 4444, "proc.cmdline": "nc -l -p 4444"},
        # the listeners on allowed ports started by the fixture, and a unix socket (no port at all)
        ["/usr/local/bin/chhelper", "unix", "/tmp/listen.sock"],
        lambda of: of.get("fd.lport") in (80, 8080, 8081, 9090) or _cmd(of).startswith("chhelper unix"),
    ),
    "setuid_exec": Case(
        "Setuid binary executed in container",
        ["/usr/local/bin/suidbox", "true"],
        {"proc.exepath": "/usr/local/bin/suidbox", "user.uid": 1000},
        ["/bin/busybox", "true"],
        lambda of: of.get("proc.exepath") == "/bin/busybox",
        attack_user="1000:1000",
        benign_user="1000:1000",
    ),
    "privilege_change": Case(
        "Privilege change to root",
        ["/usr/local/bin/chpriv", "privup"],
        {"evt.type": "setresuid", "user.uid": 1000, "proc.cmdline": "chpriv privup"},
        ["/usr/local/bin/chhelper", "privup"],  # no setuid bit: the same call fails with EPERM
        lambda of: _cmd(of).startswith("chhelper"),
        attack_user="1000:1000",
        benign_user="1000:1000",
    ),
    "drift": Case(
        "Executable not in image run in container",
        ["sh", "-c", "cp /bin/busybox /root/dropped && /root/dropped true"],
        {"proc.exepath": "/root/dropped"},
        ["sh", "-c", "/bin/busybox true && /usr/local/bin/chhelper"],
        lambda of: of.get("proc.exepath") in ("/bin/busybox", "/usr/local/bin/chhelper"),
    ),
    "tmp_exec": Case(
        "Execution from temporary or memory-backed location",
        ["sh", "-c", "cp /bin/busybox /tmp/tmpbox && /tmp/tmpbox true"],
        {"proc.exepath": "/tmp/tmpbox"},
        ["sh", "-c", "cp /bin/busybox /srv/srvbox && /srv/srvbox true"],
        lambda of: of.get("proc.exepath") == "/srv/srvbox",
    ),
    "miner_process": Case(
        "Crypto miner process",
        ["/bin/echo", "stratum+tcp://pool.example.net:3333"],
        {"proc.cmdline": "echo stratum+tcp://pool.example.net:3333"},
        ["/bin/echo", "tcp://pool.example.net:3333"],
        lambda of: _cmd(of) == "echo tcp://pool.example.net:3333",
    ),
    "mining_pool": Case(
        "Connection to mining pool",
        ["sh", "-c", "sleep 1 | nc 127.0.0.1 3333"],
        {"fd.rport": 3333, "proc.cmdline": "nc 127.0.0.1 3333"},
        ["sh", "-c", "sleep 1 | nc 127.0.0.1 9090"],
        lambda of: of.get("fd.rport") == 9090,
    ),
    "mount": Case(
        "Mount in container",
        ["mount", "-t", "tmpfs", "none", "/mnt"],
        {"proc.cmdline": "mount -t tmpfs none /mnt"},
        ["cat", "/proc/self/mounts"],
        lambda of: "mounts" in _cmd(of),
    ),
    "nsenter": Case(
        "Namespace change in container",
        ["nsenter", "-t", "1", "-n", "true"],
        {"proc.cmdline": "nsenter -t 1 -n true"},
        ["ls", "/proc/self/ns"],
        lambda of: _cmd(of).startswith("ls"),
    ),
    "unshare": Case(
        "Namespace change in container",
        ["unshare", "-n", "true"],
        {"proc.cmdline": "unshare -n true"},
        ["readlink", "/proc/self/ns/net"],
        lambda of: _cmd(of).startswith("readlink"),
    ),
    "kernel_params": Case(
        "Kernel parameters written from container",
        ["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"],
        {"fd.name": "/proc/sys/net/ipv4/ip_forward"},
        ["cat", "/proc/sys/net/ipv4/ip_forward"],
        lambda of: _cmd(of).startswith("cat"),
    ),
    "release_agent": Case(
        "Cgroup release agent modified",
        ["sh", "-c", f"echo 0 > {CG_RELEASE}"],
        {"fd.name": CG_RELEASE},
        ["sh", "-c", f"cat {CG_RELEASE} > /dev/null; echo x > /tmp/release_notes"],
        lambda of: of.get("fd.name") == "/tmp/release_notes" or _cmd(of).startswith("cat"),
    ),
    "insmod": Case(
        "Kernel module loaded from container",
        ["insmod", "/tmp/none.ko"],
        {"proc.cmdline": "insmod /tmp/none.ko"},
        ["cat", "/proc/self/status"],
        lambda of: _cmd(of).startswith("cat"),
    ),
    "finit_module": Case(
        "Kernel module loaded from container",
        ["/usr/local/bin/chhelper", "finit"],
        {"evt.type": "finit_module", "proc.cmdline": "chhelper finit"},
        ["/usr/local/bin/chhelper", "unix", "/tmp/app.sock"],  # a helper run that loads nothing
        lambda of: "unix" in _cmd(of),
    ),
    "runtime_socket": Case(
        "Container runtime socket accessed from container",
        ["/usr/local/bin/chhelper", "unix", "/var/run/docker.sock"],
        {"fd.name": "/var/run/docker.sock"},
        ["/usr/local/bin/chhelper", "unix", "/tmp/app.sock"],
        lambda of: of.get("fd.name") == "/tmp/app.sock",
    ),
}


def _edit(helper: Path) -> Callable[[dict[str, Any], Path], None]:
    def edit(cfg: dict[str, Any], rootfs: Path) -> None:
        cfg["process"]["noNewPrivileges"] = False  # else the kernel ignores setuid bits (runc's default)
        cfg["linux"]["readonlyPaths"] = [p for p in cfg["linux"].get("readonlyPaths", []) if p != "/proc/sys"]
        for m in cfg["mounts"]:
            if m["type"] == "cgroup":
                m["options"] = [o for o in m.get("options", []) if o != "ro"] + ["rw"]
        cfg["annotations"] = {"io.kubernetes.cri.sandbox-name": "rules-0", "io.kubernetes.cri.sandbox-namespace": "qa"}
        bin_ = rootfs / "usr/local/bin"
        shutil.copy(helper, bin_ / "chhelper")
        shutil.copy(helper, bin_ / "chpriv")
        (bin_ / "chpriv").chmod(0o4755)
        shutil.copy(rootfs / "bin/busybox", bin_ / "suidbox")
        (bin_ / "suidbox").chmod(0o4755)

    return edit


def _listening(pid: int, ports: set[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = set()
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A":
                seen.add(int(f[1].split(":")[1], 16))
        if ports <= seen:
            return True
        time.sleep(0.05)
    return False


@dataclass
class Outcome:
    alert: dict[str, Any] | None
    latency: float
    attack_rc: int


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the test helper")
    if shutil.which("script") is None or shutil.which("ip") is None:
        pytest.skip("script (util-linux) and ip (iproute2) are needed")
    work = tmp_path_factory.mktemp("rules")
    helper = work / "chhelper"
    subprocess.run([cc, "-static", "-O2", "-o", str(helper), str(HELPER_C)], check=True, capture_output=True)
    bundle = make_bundle(work / "bundle", _edit(helper))
    with runc_container(bundle, "chrules") as cid:
        pid = container_pid(cid)
        for args in (["link", "set", "lo", "up"], *(["addr", "add", f"{ip}/32", "dev", "lo"]
                     for ip in (PUBLIC_IP, PRIVATE_IP, METADATA_IP))):  # fmt: skip
            subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", *args], check=True, capture_output=True)

        def runc(argv: list[str], user: str | None = None) -> int:
            if argv[:1] == ["@none"]:
                return 0
            opts = ["--user", user] if user else []
            if argv[:1] == ["@tty"]:  # a terminal for runc exec -t: script(1) gives it a pty
                inner = " ".join(["runc", "exec", "-t", *opts, cid, *(f"'{a}'" for a in argv[1:])])
                cmd = ["script", "-qec", inner, "/dev/null"]
            elif argv[:1] == ["@detach"]:
                cmd = ["runc", "exec", "-d", *opts, cid, *argv[1:]]
            else:
                cmd = ["runc", "exec", *opts, cid, *argv]
            # a detached process keeps whatever it inherited open: pipes here would never reach EOF
            return subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=20).returncode  # fmt: skip

        out = work / "watch"
        out.mkdir()
        alerts = Alerts(out / "alerts.jsonl")
        outcomes: dict[str, Outcome] = {}
        with socket.socket() as s:  # a free port for the metrics endpoint
            s.bind(("127.0.0.1", 0))
            mport = s.getsockname()[1]
        extra = ["--sink", f"file:{out / 'sink.jsonl'}", "--metrics-port", str(mport),
                 "--stats-file", str(out / "stats.json")]  # fmt: skip
        lost_before = audit_lost()
        with watch_agent(out, extra) as agent:
            for port, ip in ((8080, PUBLIC_IP), (8080, PRIVATE_IP), (8081, PRIVATE_IP), (80, METADATA_IP),
                             (3333, "127.0.0.1"), (9090, "127.0.0.1")):  # fmt: skip
                runc(["@detach", "nc", "-l", "-p", str(port), "-s", ip])
            assert _listening(pid, {80, 3333, 8080, 8081, 9090})
            for name, case in CASES.items():
                t0 = time.monotonic()
                rc = runc(case.attack, case.attack_user)

                def hit(a: dict[str, Any], case: Case = case) -> bool:
                    of = a["output_fields"]
                    return (a["rule"] == case.rule and of.get("container.id") == cid
                            and all(of.get(k) == v for k, v in case.fields.items()))  # fmt: skip

                a = alerts.wait(hit, ALERT_WAIT)
                outcomes[name] = Outcome(a, time.monotonic() - t0, rc)
            for case in CASES.values():
                runc(case.benign_cmd, case.benign_user)
            time.sleep(1.5)  # let the benign actions' records arrive (and a metrics publish) before the stop
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as resp:
                metrics = parse_exposition(resp.read().decode())
        rc = agent.wait()
        yield {"cid": cid, "outcomes": outcomes, "alerts": alerts.poll(), "rc": rc, "metrics": metrics,
               "sink": [json.loads(x) for x in (out / "sink.jsonl").read_text().splitlines() if x.strip()],
               "stats": json.loads((out / "stats.json").read_text()), "kernel_lost": audit_lost() - lost_before,
               "stderr": (out / "agent.stderr").read_text() if (out / "agent.stderr").exists() else ""}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_attack_alerts_within_2s(live: dict[str, Any], name: str) -> None:
    case, got = CASES[name], live["outcomes"][name]
    seen = sorted({(a["rule"], a["output_fields"].get("proc.cmdline")) for a in live["alerts"]})
    assert got.alert is not None, f"no {case.rule!r} alert within {ALERT_WAIT} s; alerts: {seen}"
    of = got.alert["output_fields"]
    assert of["container.id"] == live["cid"]
    assert case.check(of), of
    assert got.latency <= ALERT_WAIT + 0.5


@pytest.mark.parametrize("name", list(CASES))
def test_benign_lookalike_raises_nothing(live: dict[str, Any], name: str) -> None:
    case = CASES[name]
    bad = [a for a in live["alerts"] if a["rule"] == case.rule and case.benign(a["output_fields"])]
    assert not bad


def test_pod_metadata_on_alerts(live: dict[str, Any]) -> None:
    a = live["outcomes"]["write_etc"].alert
    assert a is not None
    assert a["output_fields"]["k8s.pod.name"] == "rules-0" and a["output_fields"]["k8s.ns.name"] == "qa"


def test_agent_stopped_cleanly(live: dict[str, Any]) -> None:
    assert live["rc"] == 0, live["stderr"]


def test_sink_gets_every_alert_and_the_responses(live: dict[str, Any]) -> None:
    assert [d for d in live["sink"] if d["source"] != "response"] == live["alerts"]
    responses = [d for d in live["sink"] if d["source"] == "response"]
    assert {d["output_fields"]["response.rule"] for d in responses} == {a["rule"] for a in live["alerts"]}


def test_metrics_and_stats_count_what_happened(live: dict[str, Any]) -> None:
    m, st = live["metrics"], live["stats"]
    matches = {dict(k)["rule"]: v for k, v in m["customhouse_rule_matches_total"].items()}
    assert matches.get("Write below etc in container", 0) >= 1 and matches.get("Crypto miner process", 0) >= 1
    assert dict(m["customhouse_events_total"])[(("source", "syscall"),)] > 0
    assert dict(m["customhouse_events_total"])[(("source", "proc_connector"),)] > 0
    # The stats file is written at exit: every alert the agent raised is counted there.
    assert sum(r["count"] for r in st["rule_matches"]) == st["alerts"] == len(live["alerts"])
    assert st["events"] >= sum(v for k, v in m["customhouse_events_total"].items() if k == (("source", "syscall"),))
    # Nothing lost on this light load, and the agent's view of the kernel counter agrees with auditctl.
    assert st["audit_lost_during"] == live["kernel_lost"] == 0
    assert st["audit_enobufs"] == st["netlink_enobufs"] == 0
