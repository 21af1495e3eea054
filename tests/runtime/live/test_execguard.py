"""Drift prevention for real: fanotify denies the exec of a binary copied into a running container.

Only our own container is guarded (`scan=False`): the machine is shared, and guarding every runc
container would refuse other people's freshly written binaries. The `runtime watch --block-drift`
test runs in dry-run, which never denies anything.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customhouse.runtime.events import parse_time
from customhouse.runtime.execguard import Decision, ExecGuard, ExecGuardError
from tests.runtime.live.common import LIVE_MARKS, container_pid, make_bundle, runc_container, watch_agent

pytestmark = LIVE_MARKS


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    bundle = make_bundle(tmp_path_factory.mktemp("guard") / "bundle")
    with runc_container(bundle, "chguard") as cid:
        state = json.loads(subprocess.run(["runc", "state", cid], check=True, capture_output=True).stdout)
        yield cid, container_pid(cid), parse_time(state["created"])


def _exec(cid: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runc", "exec", cid, "sh", "-c", script], check=False, capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def guard(container: tuple[str, int, int]) -> Iterator[tuple[ExecGuard, list[Decision]]]:
    seen: list[Decision] = []
    try:
        g = ExecGuard(seen.append).start(scan=False)
    except ExecGuardError as exc:
        pytest.skip(f"fanotify unavailable: {exc}")
    try:
        g.guard(*container)
        yield g, seen
    finally:
        g.close()


def test_copied_binary_is_denied_image_binary_runs(guard: tuple[ExecGuard, list[Decision]],
                                                   container: tuple[str, int, int]) -> None:  # fmt: skip
    g, seen = guard
    cid = container[0]
    ok = _exec(cid, "/bin/busybox true && echo image-ok")
    assert ok.returncode == 0 and "image-ok" in ok.stdout
    bad = _exec(cid, "cp /bin/busybox /root/dropped && /root/dropped true; echo rc=$?")
    assert "Operation not permitted" in bad.stderr  # EPERM from the fanotify answer
    assert "rc=126" in bad.stdout
    assert [(d.container_id, d.path, d.denied) for d in seen] == [(cid, "/root/dropped", True)]
    assert g.denied == 1 and g.allowed >= 2  # busybox and the musl loader were asked about and allowed


def test_host_execs_are_not_asked_about(guard: tuple[ExecGuard, list[Decision]], tmp_path: Path) -> None:
    g, seen = guard
    fresh = tmp_path / "fresh-true"
    fresh.write_bytes(Path("/bin/true").read_bytes())  # written just now, but on the host
    fresh.chmod(0o755)
    before = g.allowed + g.denied
    assert subprocess.run([str(fresh)], check=False).returncode == 0
    assert g.allowed + g.denied == before and not seen


def test_closed_guard_allows_everything(container: tuple[str, int, int]) -> None:
    g = ExecGuard().start(scan=False)
    g.guard(*container)
    g.close()
    r = _exec(container[0], "mkdir -p /root/c && cp /bin/busybox /root/c/true && /root/c/true && echo ran")
    assert r.returncode == 0 and "ran" in r.stdout


def test_watch_block_drift_dry_run_reports_without_denying(container: tuple[str, int, int], tmp_path: Path) -> None:
    cid = container[0]
    sink = tmp_path / "sink.jsonl"
    with watch_agent(tmp_path, ["--block-drift", "--dry-run", "--sink", f"file:{sink}"]):
        r = _exec(cid, "mkdir -p /root/d && cp /bin/busybox /root/d/true && /root/d/true && echo ran")
        assert r.returncode == 0 and "ran" in r.stdout
    docs: list[dict[str, Any]] = [json.loads(x) for x in sink.read_text().splitlines() if x.strip()]
    blocks = [d for d in docs if d["output_fields"].get("response.action") == "block_exec"]
    assert blocks and blocks[0]["output_fields"]["response.dry_run"] is True
    assert blocks[0]["output_fields"]["container.id"] == cid
    assert "would deny exec of /root/d/true" in blocks[0]["output"]


def test_block_exec_response_closes_the_container_to_new_binaries(container: tuple[str, int, int],
                                                                   tmp_path: Path) -> None:  # fmt: skip
    from customhouse.runtime.events import Container, Event, Process
    from customhouse.runtime.respond import Responder

    cid = container[0]
    responder = Responder(state_dir=tmp_path, dry_run=False)
    alerted = Event("execve", 1, proc=Process(4242, "dropped"), container=Container(cid, cid))
    try:
        r = responder.run_action("block_exec", alerted, "Executable not in image run in container")
        assert r.ok, r
        again = responder.run_action("block_exec", alerted, "Executable not in image run in container")
        assert again.ok  # a second alert for the same container is a no-op, not an error
        bad = _exec(cid, "mkdir -p /root/e && cp /bin/busybox /root/e/true && /root/e/true; echo rc=$?")
        assert "Operation not permitted" in bad.stderr and "rc=126" in bad.stdout
        assert _exec(cid, "/bin/busybox true && echo image-ok").stdout.strip() == "image-ok"
    finally:
        if responder._guard is not None:
            responder._guard.close()
    host = Event("execve", 1, proc=Process(4242, "x"), container=Container("host", "host"))
    refused = Responder(state_dir=tmp_path, dry_run=False).run_action("block_exec", host, "r")
    assert not refused.ok and refused.detail == "refused"
