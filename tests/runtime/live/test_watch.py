"""`runtime watch` against a real runc container: real actions inside, alerts with the container id.

One agent run serves the module (audit rules are global, so the tests run it once): it starts,
the container does the bad and the benign things, the agent is stopped with SIGTERM, and the
audit status and rule list must be exactly as before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.live.common import LIVE_MARKS, REPO, Alerts, make_bundle, runc_container
from tests.runtime.live.common import audit_state as _audit_state

ALERT_WAIT = 2.0

pytestmark = LIVE_MARKS


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    def pod(cfg: dict[str, Any], _rootfs: Path) -> None:
        cfg["annotations"] = {"io.kubernetes.cri.sandbox-name": "web-0", "io.kubernetes.cri.sandbox-namespace": "prod"}

    bundle = make_bundle(tmp_path_factory.mktemp("bundle") / "b", pod)
    with runc_container(bundle) as cid:
        yield cid


@pytest.fixture(scope="module")
def run(container: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    before = _audit_state()
    out = tmp_path_factory.mktemp("watch")
    alerts, record = out / "alerts.jsonl", out / "events.jsonl"
    cmd = [sys.executable, "-m", "customhouse.runtime.cli", "runtime", "watch", "-f", "json", "-o", str(alerts),
           "--record", str(record), "--duration", "60", "--audit-all-opens"]  # fmt: skip
    agent = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stderr is not None
        line = agent.stderr.readline()
        assert "watching" in line, line
        during = _audit_state()
        # A second agent while this one is the audit daemon: refused in one line, nothing undone.
        second = subprocess.run(
            [sys.executable, "-m", "customhouse.runtime.cli", "runtime", "watch", "--duration", "1"],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        during_after_second = _audit_state()

        def ex(*argv: str) -> None:
            subprocess.run(["runc", "exec", container, *argv], check=False, capture_output=True, timeout=20)

        # Each attack, then up to 2 s for its alert (the specification: alert within 2 s).
        alerts_seen = Alerts(alerts)
        latency: dict[str, float | None] = {}
        for rule, argv in (
            ("Read sensitive file", ("sh", "-c", "cat /etc/shadow > /dev/null")),
            ("Write below etc in container", ("sh", "-c", "echo evil > /etc/evil.conf")),
            ("Mount in container", ("mount", "-t", "tmpfs", "none", "/mnt")),
            ("Namespace change in container", ("unshare", "-n", "true")),
        ):
            t0 = time.monotonic()
            ex(*argv)
            hit = alerts_seen.wait(
                lambda a, r=rule: a["rule"] == r and a["output_fields"].get("container.id") == container, ALERT_WAIT
            )
            latency[rule] = time.monotonic() - t0 if hit is not None else None
        # benign look-alikes: reading a harmless file, writing below /tmp
        ex("sh", "-c", "cat /etc/hostname > /dev/null")
        ex("sh", "-c", "echo fine > /tmp/fine.txt")
        deadline = time.time() + 10
        want = {"Read sensitive file", "Write below etc in container", "Mount in container",
                "Namespace change in container"}  # fmt: skip
        got: list[dict[str, Any]] = []
        while time.time() < deadline:
            if alerts.exists():
                got = [json.loads(x) for x in alerts.read_text().splitlines() if x.strip()]
                if want <= {a["rule"] for a in got}:
                    break
            time.sleep(0.2)
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
        (out / "agent.stderr").write_text(err)  # kept with the recording, for diagnosis
        got = [json.loads(x) for x in alerts.read_text().splitlines() if x.strip()]
        yield {"alerts": got, "rc": agent.returncode, "stderr": err, "before": before, "during": during,
               "second": second, "during_after_second": during_after_second,
               "after": _audit_state(), "record": record, "latency": latency}  # fmt: skip
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
            subprocess.run(["auditctl", "-D", "-k", "customhouse"], check=False, capture_output=True)


def _for(run: dict[str, Any], rule: str, cid: str) -> list[dict[str, Any]]:
    return [a for a in run["alerts"] if a["rule"] == rule and a["output_fields"].get("container.id") == cid]


def test_audit_state_restored_after_sigterm(run: dict[str, Any]) -> None:
    assert run["rc"] == 0, run["stderr"]
    assert run["during"][1] != run["before"][1]  # our rules were really there
    assert run["after"] == run["before"]


def test_read_sensitive_file(run: dict[str, Any], container: str) -> None:
    hits = _for(run, "Read sensitive file", container)
    assert hits and hits[0]["output_fields"]["fd.name"] == "/etc/shadow"
    assert hits[0]["output_fields"]["proc.cmdline"] == "cat /etc/shadow"


def test_write_below_etc(run: dict[str, Any], container: str) -> None:
    hits = _for(run, "Write below etc in container", container)
    assert [h["output_fields"]["fd.name"] for h in hits] == ["/etc/evil.conf"]
    assert hits[0]["output_fields"]["k8s.pod.name"] == "web-0" and hits[0]["output_fields"]["k8s.ns.name"] == "prod"


def test_mount_in_container(run: dict[str, Any], container: str) -> None:
    assert _for(run, "Mount in container", container)


def test_unshare_in_container(run: dict[str, Any], container: str) -> None:
    hits = _for(run, "Namespace change in container", container)
    assert hits and hits[0]["output_fields"]["proc.cmdline"].startswith("unshare")


def test_benign_actions_raise_nothing(run: dict[str, Any]) -> None:
    text = json.dumps(run["alerts"])
    assert "/etc/hostname" not in text and "/tmp/fine.txt" not in text


def test_recording_replays_to_the_same_alerts(run: dict[str, Any], container: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "customhouse.runtime.cli", "runtime", "replay", str(run["record"]),
                           "-f", "json", "-q"], cwd=REPO, check=False, capture_output=True, text=True)  # fmt: skip
    replayed = {(a["rule"], a["output_fields"].get("container.id")) for a in map(json.loads, proc.stdout.splitlines())}
    live = {(a["rule"], a["output_fields"].get("container.id")) for a in run["alerts"]}
    assert live <= replayed


def test_each_alert_within_2s(run: dict[str, Any]) -> None:
    late = {rule: t for rule, t in run["latency"].items() if t is None or t > ALERT_WAIT + 0.5}
    assert not late, late


def test_second_agent_is_refused_and_changes_nothing(run: dict[str, Any]) -> None:
    """The kernel has one audit daemon: a second `runtime watch` says so in one line (exit 6,
    no traceback, no crash log) and leaves the running agent's registration and rules alone."""
    second = run["second"]
    lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert second.returncode == 6, second.stderr
    assert len(lines) == 1 and "another process (pid" in lines[0] and "audit daemon" in lines[0], lines
    assert "Traceback" not in second.stderr and "crash" not in second.stderr
    assert run["during_after_second"] == run["during"]
