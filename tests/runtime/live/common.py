"""Shared by the live runtime tests: a runc container from the Alpine rootfs, the agent, the alerts.

Why a helper module: every live module needs the same bundle, the same "agent is ready" handshake
and the same way to wait for an alert, and each must clean up containers and audit rules even when
a test fails.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
ROOTFS_TGZ = REPO.parent / "shared/data/alpine/minirootfs"

KERNEL_LOCK = "/tmp/customhouse-live-audit.lock"


@contextmanager
def kernel_exclusive() -> Iterator[None]:
    """Hold the machine-wide lock of the tests that need the kernel to themselves: the live
    agent modules (one audit daemon per kernel) and the network-quarantine test (an agent
    auditing every syscall next to it has made its containers' connections fail)."""
    with open(KERNEL_LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


LIVE_MARKS = [
    pytest.mark.skipif(os.geteuid() != 0, reason="live runtime tests need root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
    pytest.mark.skipif(shutil.which("auditctl") is None, reason="auditctl (apt auditd) is not installed"),
]


def audit_state() -> tuple[list[str], str]:
    s = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout.splitlines()
    keep = [ln for ln in s if ln.split(" ")[0] in ("enabled", "failure", "pid", "rate_limit", "backlog_limit")]
    rules = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
    return keep, rules


def audit_lost() -> int:
    for ln in subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout.splitlines():
        if ln.startswith("lost "):
            return int(ln.split()[1])
    return 0


def alpine_rootfs() -> Path:
    tgzs = sorted(ROOTFS_TGZ.glob("alpine-minirootfs-3.20*.tar.gz")) or sorted(ROOTFS_TGZ.glob("*.tar.gz"))
    if not tgzs:
        pytest.skip(f"no Alpine root filesystem in {ROOTFS_TGZ}")
    return tgzs[-1]


def make_bundle(bundle: Path, edit: Callable[[dict[str, Any], Path], None] | None = None) -> Path:
    """An OCI bundle with the Alpine rootfs running `sleep 600`; `edit(config, rootfs)` adjusts both."""
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    with tarfile.open(alpine_rootfs()) as tf:
        tf.extractall(rootfs, filter="fully_trusted")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sleep", "600"]
    cfg["root"]["readonly"] = False
    if edit is not None:
        edit(cfg, rootfs)
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


@contextmanager
def runc_container(bundle: Path, prefix: str = "chlive") -> Iterator[str]:
    cid = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["runc", "run", "-d", cid], cwd=bundle, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield cid
    finally:
        subprocess.run(["runc", "delete", "-f", cid], check=False, capture_output=True)


def container_pid(cid: str) -> int:
    out = subprocess.run(["runc", "state", cid], check=True, capture_output=True, text=True).stdout
    return int(json.loads(out)["pid"])


class Alerts:
    """The agent's JSON-lines alert file, read incrementally (only complete lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.all: list[dict[str, Any]] = []
        self._pos = 0

    def poll(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return self.all
        with open(self.path, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self._pos += end
        self.all.extend(json.loads(x) for x in data[:end].splitlines() if x.strip())
        return self.all

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for a in self.poll():
                if pred(a):
                    return a
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)


@contextmanager
def watch_agent(out: Path, extra: list[str] | None = None, duration: float = 120) -> Iterator[subprocess.Popen[str]]:
    """`runtime watch` writing alerts to out/alerts.jsonl and events to out/events.jsonl, until the block ends.

    Always stopped with SIGTERM (killed if it does not stop, and its audit rules removed then).
    """
    cmd = [sys.executable, "-m", "customhouse.runtime.cli", "runtime", "watch", "-f", "json",
           "-o", str(out / "alerts.jsonl"), "--record", str(out / "events.jsonl"), "--duration", str(duration),
           *(extra or [])]  # fmt: skip
    agent = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stderr is not None
        line = agent.stderr.readline()
        assert "watching" in line, line + agent.stderr.read()
        yield agent
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
        try:
            _, err = agent.communicate(timeout=30)
            (out / "agent.stderr").write_text(err or "")
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
            subprocess.run(["auditctl", "-D", "-k", "customhouse"], check=False, capture_output=True)
