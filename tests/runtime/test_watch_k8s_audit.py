"""`runtime watch` with Kubernetes audit sources: the API server's log file and its webhook.

The agent runs as a user would start it next to an API server (`--no-kernel`: only these
sources, no root needed), and real `audit.k8s.io/v1` events go in the two ways the API server
sends them: lines appended to the audit log (with a rotation in between) and EventList POSTs to
the webhook. The default rules must alert on each, the webhook must answer a malformed body with
400 and keep serving, and the agent must stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_one_line_error, run_cli
from tests.runtime.test_k8s_audit import audit, eventlist

REPO = Path(__file__).resolve().parents[2]


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _wait_alerts(path: Path, rules: set[str], timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if path.exists():
            got = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if rules <= {a["rule"] for a in got}:
                break
        time.sleep(0.1)
    return got


def test_log_and_webhook_events_alert(tmp_path: Path) -> None:
    log, alerts, stats = tmp_path / "audit.log", tmp_path / "alerts.jsonl", tmp_path / "stats.json"
    log.write_text(json.dumps(audit(name="old-before-start")) + "\n")  # already there: not reported
    cmd = [sys.executable, "-m", "customhouse", "runtime", "watch", "--no-kernel", "-f", "json", "-o", str(alerts),
           "--k8s-audit-log", str(log), "--k8s-audit-webhook", "127.0.0.1:0", "--duration", "60",
           "--stats-file", str(stats)]  # fmt: skip
    agent = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stderr is not None
        line = agent.stderr.readline()
        assert "watching (k8s audit log" in line and "k8s audit webhook http://127.0.0.1:" in line, line
        url = line.rsplit("webhook ", 1)[1].strip(" )\n")

        # The log: a privileged pod created, then the file rotated and a cluster-admin binding.
        with log.open("a") as fh:
            fh.write(json.dumps(audit(name="priv-1")) + "\n")
        time.sleep(0.5)
        log.rename(tmp_path / "audit.log.1")
        binding = audit(
            "create",
            "clusterrolebindings",
            name="ops-admin",
            objectRef={"resource": "clusterrolebindings", "name": "ops-admin", "apiGroup": "rbac.authorization.k8s.io"},
            requestObject={
                "kind": "ClusterRoleBinding",
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": "ops-admin"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "name": "mallory"}],
            },
        )
        log.write_text(json.dumps(binding) + "\n")

        # The webhook: garbage first (400, and the server keeps serving), then an exec session.
        assert _post(url, b"{not json") == 400
        assert _post(url, json.dumps({"kind": "Pod"}).encode()) == 400
        exec_event = audit(
            "create",
            "pods",
            name="web-0",
            stage="ResponseStarted",
            requestURI="/api/v1/namespaces/prod/pods/web-0/exec?command=sh&container=app&stdin=true&tty=true",
            objectRef={"resource": "pods", "namespace": "prod", "name": "web-0", "subresource": "exec"},
            requestObject=None,
        )
        assert _post(url, json.dumps(eventlist(exec_event)).encode()) == 200

        want = {"Privileged pod created", "Binding to cluster-admin created", "Exec or attach into pod"}
        got = _wait_alerts(alerts, want)
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    assert agent.returncode == 0, err
    assert "response:" not in err  # log-only responses are the alert itself, not a warning line each
    rules = [a["rule"] for a in got]
    assert want <= set(rules), (rules, err)
    names = {a["output_fields"].get("ka.target.name") for a in got}
    assert "old-before-start" not in names  # the log is followed from its end, as `tail -f`
    ex = next(a for a in got if a["rule"] == "Exec or attach into pod")
    assert ex["source"] == "k8s_audit"
    assert ex["output_fields"]["ka.user.name"] == "alice" and ex["output_fields"]["ka.target.name"] == "web-0"
    counters = json.loads(stats.read_text())
    assert counters["k8s_audit_events"] >= 3 and counters["events"] == 0  # no kernel events with --no-kernel


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--no-kernel"], "--no-kernel needs a Kubernetes audit source"),
        (["--no-kernel", "--k8s-audit-webhook", "nohost"], "--k8s-audit-webhook nohost: use HOST:PORT"),
        (["--no-kernel", "--k8s-audit-webhook", "127.0.0.1:0", "--k8s-audit-tls-cert", "c.pem"], "go together"),
        (["--no-kernel", "--k8s-audit-log", "x.log", "--block-drift"], "--block-drift needs the kernel"),
    ],
)
def test_k8s_audit_usage_errors(args: list[str], needle: str) -> None:
    assert_one_line_error(run_cli("runtime", "watch", *args), 2, needle)
