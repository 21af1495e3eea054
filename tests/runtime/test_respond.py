"""Responses for real: runc containers (busybox-static) are killed, paused, stopped, quarantined.

Each test builds an OCI bundle whose rootfs is the host's static busybox, runs it with its own
`runc --root` (so nothing touches other containers), and cleans up containers, network
namespaces, veth pairs, nft tables and cgroups in finalizers, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customhouse.runtime.events import Container, Event, Process
from customhouse.runtime.respond import (
    QUARANTINE_TABLE,
    ActionResult,
    Responder,
    ResponseConfig,
    load_response_config,
    parse_response_config,
    quarantined,
    result_doc,
    state_file,
)
from customhouse.runtime.sinks import Metrics

BUSYBOX = shutil.which("busybox")
RUNC = shutil.which("runc")
NFT = shutil.which("nft")

needs_runc = pytest.mark.skipif(
    os.geteuid() != 0 or RUNC is None or BUSYBOX is None,
    reason="needs root, runc and busybox-static (apt-get install runc busybox-static)",
)
needs_nft = pytest.mark.skipif(NFT is None or shutil.which("ip") is None, reason="needs nft and ip (apt nftables)")


class FakeRule:
    def __init__(self, name: str, tags: tuple[str, ...] = ()) -> None:
        self.name = name
        self.tags = tags


class FakeAlert:
    def __init__(self, rule: FakeRule, event: Event) -> None:
        self.rule = rule
        self.event = event


def _run(*argv: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=check, **kw)


class Runc:
    """Containers under a private runc root; everything started is removed in `cleanup`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "runc-root"
        self.root.mkdir()
        self.ids: list[str] = []

    def cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert RUNC is not None
        return _run(RUNC, "--root", str(self.root), *args, check=check)

    def start(self, args: list[str] | None = None, netns: str | None = None) -> str:
        assert RUNC is not None
        cid = "chq" + uuid.uuid4().hex[:10]
        bundle = self.base / cid
        rootfs = bundle / "rootfs"
        for d in ("bin", "proc", "dev", "sys", "tmp"):
            (rootfs / d).mkdir(parents=True)
        assert BUSYBOX is not None
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "sleep", "nc", "echo", "cat"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        _run(RUNC, "spec", cwd=bundle)
        cfg = json.loads((bundle / "config.json").read_text())
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args or ["sleep", "3600"]
        cfg["root"]["readonly"] = False
        if netns is not None:
            for ns in cfg["linux"]["namespaces"]:
                if ns["type"] == "network":
                    ns["path"] = netns
        (bundle / "config.json").write_text(json.dumps(cfg))
        self.ids.append(cid)
        log = open(bundle / "out.log", "w")
        subprocess.run(
            [RUNC, "--root", str(self.root), "run", "-d", "--bundle", str(bundle), cid],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=30, check=True,
        )  # fmt: skip
        log.close()
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        return dict(json.loads(self.cmd("state", cid).stdout))

    def exec(self, cid: str, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
        assert RUNC is not None
        return subprocess.run(
            [RUNC, "--root", str(self.root), "exec", cid, *argv],
            capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def cleanup(self) -> None:
        for cid in self.ids:
            st = self.cmd("state", cid, check=False)
            if st.returncode == 0 and '"paused"' in st.stdout:
                self.cmd("resume", cid, check=False)
            self.cmd("kill", cid, "KILL", check=False)
            for _ in range(50):
                st = self.cmd("state", cid, check=False)
                if st.returncode != 0 or '"stopped"' in st.stdout:
                    break
                time.sleep(0.1)
            self.cmd("delete", "-f", cid, check=False)


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    r = Runc(tmp_path)
    try:
        yield r
    finally:
        r.cleanup()


def _event(cid: str, pid: int) -> Event:
    return Event("execve", time.time_ns(), proc=Process(pid, "sleep"), container=Container(cid))


def _responder(runc: Runc, tmp_path: Path, **kw: Any) -> tuple[Responder, list[dict[str, Any]], Metrics]:
    docs: list[dict[str, Any]] = []
    m = Metrics()
    r = Responder(state_dir=tmp_path / "state", runc_root=runc.root, emit=docs.append, metrics=m, **kw)
    return r, docs, m


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(pred: Any, deadline: float = 5.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


def _child_pid(runc: Runc, cid: str) -> int:
    """Start `sleep 1000` in the container; return its host pid."""
    init = runc.state(cid)["pid"]
    assert runc is not None and RUNC is not None
    subprocess.Popen(
        [RUNC, "--root", str(runc.root), "exec", "-d", cid, "sleep", "1000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ).wait(30)  # fmt: skip
    found: list[int] = []

    def look() -> bool:
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == init:
                continue
            try:
                if cid in (p / "cgroup").read_text() and (p / "cmdline").read_bytes().startswith(b"sleep\x001000"):
                    found.append(int(p.name))
                    return True
            except OSError:
                continue
        return False

    assert _wait(look), "exec'd process not found"
    return found[0]


# ------------------------------------------------------------------ config


def test_config_rule_wins_over_tags_and_default(tmp_path: Path) -> None:
    f = tmp_path / "responses.yaml"
    f.write_text(
        "dry_run: true\ndefault: log\nrules:\n  Terminal shell in container: [kill, pause]\n"
        "tags:\n  mitre_execution: [log, stop]\n  network: quarantine\n"
    )
    cfg = load_response_config(f)
    assert cfg.dry_run is True
    assert cfg.actions_for("Terminal shell in container", ("mitre_execution",)) == ("kill", "pause")
    assert cfg.actions_for("Other", ("network", "mitre_execution")) == ("log", "stop", "quarantine")
    assert cfg.actions_for("Other", ("x",)) == ("log",)


@pytest.mark.parametrize(
    "doc",
    [{"rules": {"r": ["explode"]}}, {"rules": ["r"]}, {"dry_run": "yes"}, {"whatever": 1}, [1]],
)
def test_config_errors(doc: Any) -> None:
    with pytest.raises(ValueError):
        parse_response_config(doc)


def test_bad_file_names_file(tmp_path: Path) -> None:
    from customhouse.errors import InputError

    f = tmp_path / "r.yaml"
    f.write_text("rules: {a: [nuke]}\n")
    with pytest.raises(InputError, match=r"r\.yaml"):
        load_response_config(f)


def test_refusals_never_touch_host(tmp_path: Path) -> None:
    """Host processes, pid 1, ourselves and crafted ids are refused, and the refusal is emitted."""
    docs: list[dict[str, Any]] = []
    r = Responder(
        ResponseConfig(default=("kill", "pause", "stop", "quarantine")),
        state_dir=tmp_path,
        runc_root=tmp_path / "none",
        emit=docs.append,
        metrics=Metrics(),
    )
    for cid, pid in (("host", os.getpid()), ("abc", 1), ("abc", os.getpid()), ("../../etc", 123), ("", 5)):
        ev = _event(cid, pid)
        res = r.handle(FakeAlert(FakeRule("x"), ev), ev)
        kill = res[0]
        assert kill.action == "kill" and not kill.ok, kill
    assert len(docs) == 20
    assert all(d["source"] == "response" and d["priority"] == "Error" for d in docs)


def test_result_doc_shape() -> None:
    r = ActionResult("kill", True, "Terminal shell in container", "abc", 42, False, "sent SIGKILL")
    d = result_doc(r, "node-1")
    assert set(d) == {"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}
    assert d["output_fields"]["response.action"] == "kill"
    assert d["output_fields"]["container.id"] == "abc"
    assert d["rule"] == "customhouse response: kill"


# ------------------------------------------------------------------ real containers


@needs_runc
def test_kill_process_in_container(runc: Runc, tmp_path: Path) -> None:
    cid = runc.start()
    pid = _child_pid(runc, cid)
    r, docs, m = _responder(runc, tmp_path, config=ResponseConfig(rules={"Shell": ("log", "kill")}))
    ev = _event(cid, pid)
    res = r.handle(FakeAlert(FakeRule("Shell"), ev), ev)
    assert [x.action for x in res] == ["log", "kill"]
    assert res[1].ok, res[1]
    assert _wait(lambda: not _pid_alive(pid)), "process survived the kill"
    assert runc.state(cid)["status"] == "running"  # only the process, not the container
    assert docs[1]["output_fields"]["response.ok"] is True
    assert m.get("customhouse_response_actions_total", {"action": "kill", "result": "ok"}) == 1


@needs_runc
def test_kill_refuses_pid_of_another_container(runc: Runc, tmp_path: Path) -> None:
    a = runc.start()
    b = runc.start()
    pid_b = _child_pid(runc, b)
    r, _, _ = _responder(runc, tmp_path)
    res = r.run_action("kill", _event(a, pid_b), "x")  # the event lies about the container
    assert not res.ok and "not in container" in res.error
    assert _pid_alive(pid_b)


@needs_runc
def test_pause_freezes_cgroup_then_thaw(runc: Runc, tmp_path: Path) -> None:
    cid = runc.start()
    st = json.loads((runc.root / cid / "state.json").read_text())
    r, _, _ = _responder(runc, tmp_path)
    res = r.run_action("pause", _event(cid, st["init_process_pid"]), "x")
    assert res.ok, res
    assert runc.state(cid)["status"] == "paused"
    paths = st["cgroup_paths"]
    if paths.get("freezer"):
        assert Path(paths["freezer"], "freezer.state").read_text().strip() == "FROZEN"
    else:
        assert "frozen 1" in Path(paths[""], "cgroup.events").read_text()
    runc.cmd("resume", cid)
    assert runc.state(cid)["status"] == "running"


@needs_runc
def test_stop_container(runc: Runc, tmp_path: Path) -> None:
    cid = runc.start()
    r, _, _ = _responder(runc, tmp_path)
    res = r.run_action("stop", _event(cid, runc.state(cid)["pid"]), "x")
    assert res.ok, res
    assert _wait(lambda: runc.state(cid)["status"] == "stopped")


@needs_runc
def test_dry_run_changes_nothing(runc: Runc, tmp_path: Path) -> None:
    cid = runc.start()
    pid = _child_pid(runc, cid)
    r, docs, m = _responder(
        runc, tmp_path, config=ResponseConfig(default=("kill", "pause", "stop", "quarantine"), dry_run=True)
    )
    ev = _event(cid, pid)
    res = r.handle(FakeAlert(FakeRule("x"), ev), ev)
    assert [x.action for x in res] == ["kill", "pause", "stop", "quarantine"]
    assert all(x.ok and x.dry_run and x.detail.startswith("would") for x in res), res
    assert _pid_alive(pid)
    assert runc.state(cid)["status"] == "running"
    assert quarantined(tmp_path / "state") == []
    init = runc.state(cid)["pid"]
    assert (
        NFT is None
        or QUARANTINE_TABLE not in _run("nsenter", f"--net=/proc/{init}/ns/net", NFT, "list", "tables").stdout
    )
    assert all(d["output"].startswith("Response would") for d in docs)
    assert m.get("customhouse_response_actions_total", {"action": "stop", "result": "dry_run"}) == 1


# ------------------------------------------------------------------ quarantine


class Net:
    """Named netns + veth pairs to the host, torn down in `cleanup`."""

    def __init__(self) -> None:
        self.netns: list[str] = []
        self.links: list[str] = []

    def add(self, idx: int) -> tuple[str, str, str]:
        """A netns with a veth to the host: (netns path, host ip, ns ip), a /30 per index."""
        tag = uuid.uuid4().hex[:6]
        name = f"chq{tag}"
        host_if, ns_if = f"chqh{tag}", f"chqn{tag}"
        host_ip, ns_ip = f"10.231.{idx}.1", f"10.231.{idx}.2"
        _run("ip", "netns", "add", name)
        self.netns.append(name)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        self.links.append(host_if)
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "-n", name, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _run("ip", "-n", name, "link", "set", ns_if, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        return f"/run/netns/{name}", host_ip, ns_ip

    def cleanup(self) -> None:
        for link in self.links:
            _run("ip", "link", "del", link, check=False)
        for name in self.netns:
            _run("ip", "netns", "del", name, check=False)


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net()
    try:
        yield n
    finally:
        n.cleanup()


class Listener:
    """TCP server on the host side answering "pong" to each connection."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.sendall(b"pong\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def quiet_kernel() -> Iterator[None]:
    """Not side by side with the live agent tests (tests/runtime/live/common.kernel_exclusive)."""
    from tests.runtime.live.common import kernel_exclusive

    with kernel_exclusive():
        yield


def _reaches(runc: Runc, cid: str, ip: str, port: int, tries: int = 1) -> bool:
    """Whether the container gets the listener's answer; `tries` (a second apart) for the checks
    that expect it to, so a slow moment of the machine (other tests auditing every syscall, a
    veth that comes up late under load; one CI run saw a fresh neighbour fail three quick tries)
    is not taken for a cut network."""
    for i in range(tries):
        if "pong" in runc.exec(cid, "nc", "-w", "2", ip, str(port)).stdout:
            return True
        if i + 1 < tries:
            time.sleep(1.0)
    return False


def _net_state(*netns: str) -> str:
    """What a failed reachability check is read against: the host's and each namespace's
    addresses, links and nftables rules (one CI run saw the neighbour fail three tries once)."""
    out = []
    for label, prefix in [("host", [])] + [(ns, ["nsenter", f"--net={ns}"]) for ns in netns]:
        for cmd in (["ip", "-br", "addr"], ["nft", "list", "ruleset"]):
            p = _run(*prefix, *cmd, check=False)
            out.append(f"== {label}: {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return "\n".join(out)


@needs_runc
@needs_nft
def test_quarantine_cuts_network_and_release_restores(quiet_kernel: None, runc: Runc, net: Net, tmp_path: Path) -> None:
    ns_a, host_a, _ = net.add(1)
    ns_b, host_b, _ = net.add(2)
    la, lb = Listener(host_a), Listener(host_b)
    a = runc.start(netns=ns_a)
    b = runc.start(netns=ns_b)  # the neighbour
    table_present = False
    try:
        assert _reaches(runc, a, host_a, la.port, tries=5)
        assert _reaches(runc, b, host_b, lb.port, tries=5)
        r, docs, _ = _responder(runc, tmp_path, config=ResponseConfig(tags={"network": ("quarantine",)}))
        ev = _event(a, runc.state(a)["pid"])
        res = r.handle(FakeAlert(FakeRule("Outbound to miner", ("network",)), ev), ev)
        assert res[0].ok, res[0]
        table_present = True
        assert not _reaches(runc, a, host_a, la.port), "quarantined container still reaches the host"
        assert _reaches(runc, b, host_b, lb.port, tries=5), "neighbour lost its network\n" + _net_state(ns_a, ns_b)
        # The record names the namespace; the CLI undoes it exactly.
        rec = json.loads(state_file(tmp_path / "state", a).read_text())
        assert rec["netns_path"] == ns_a and rec["table"] == QUARANTINE_TABLE
        assert quarantined(tmp_path / "state") == [a]
        import argparse

        from customhouse.runtime.respond_cli import add_release_command

        parser = argparse.ArgumentParser()
        add_release_command(parser.add_subparsers())
        args = parser.parse_args(["release", a, "--state-dir", str(tmp_path / "state")])
        assert args.func(args) == 0
        table_present = False
        assert _reaches(runc, a, host_a, la.port, tries=5), "release did not restore the network\n" + _net_state(ns_a)
        assert quarantined(tmp_path / "state") == []
        assert (
            QUARANTINE_TABLE not in _run("ip", "netns", "exec", ns_a.rsplit("/", 1)[1], "nft", "list", "tables").stdout
        )
        assert docs[0]["output_fields"]["response.action"] == "quarantine"
    finally:
        if table_present:
            _run("nsenter", f"--net={ns_a}", "nft", "delete", "table", "inet", QUARANTINE_TABLE, check=False)
        la.close()
        lb.close()


@needs_runc
@needs_nft
def test_quarantine_refuses_host_netns(tmp_path: Path) -> None:
    """A container sharing the host's network namespace is not quarantined (it would cut the host)."""
    r = Responder(state_dir=tmp_path, runc_root=tmp_path / "root", metrics=Metrics())
    (tmp_path / "root" / "fake").mkdir(parents=True)
    (tmp_path / "root" / "fake" / "state.json").write_text(json.dumps({"init_process_pid": os.getpid()}))
    res = r.run_action("quarantine", _event("fake", os.getpid()), "x")
    assert not res.ok and "host network namespace" in res.error
    assert QUARANTINE_TABLE not in _run("nft", "list", "tables").stdout


def test_release_without_record_fails(tmp_path: Path) -> None:
    r = Responder(state_dir=tmp_path, metrics=Metrics())
    res = r.release("abc")
    assert not res.ok and "no quarantine recorded" in res.error
