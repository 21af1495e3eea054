"""Output sinks against real receivers: an HTTP server, a UDP syslog socket, a Prometheus scrape."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from customhouse.runtime.sinks import (
    FanOut,
    FileSink,
    Metrics,
    MetricsServer,
    SyslogSink,
    WebhookSink,
    parse_exposition,
    parse_syslog_address,
    syslog_message,
)

DOC: dict[str, Any] = {
    "hostname": "node-1",
    "output": "12:00:00.123456789: Warning Shell spawned in container (user=root container=abc)",
    "output_fields": {"evt.time": 1714564800123456789, "proc.name": "sh", "container.id": "abc"},
    "priority": "Warning",
    "rule": "Terminal shell in container",
    "source": "syscall",
    "tags": ["container", "shell"],
    "time": "2024-05-01T12:00:00.123456789Z",
}


def _wait(pred: Any, deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


class Receiver:
    """An HTTP receiver that fails the first `fail_first` requests with 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[dict[str, Any]] = []
        self.calls = 0
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.calls += 1
                if rec.calls <= fail_first:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rec.got.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/falco"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_file_sink_appends_json_lines(tmp_path: Path) -> None:
    f = tmp_path / "alerts.jsonl"
    f.write_text('{"earlier": 1}\n')
    s = FileSink(f, metrics=Metrics())
    s.emit(DOC)
    s.emit(DOC)
    s.close()
    lines = f.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1]) == DOC


def test_webhook_posts_falco_json_with_retry() -> None:
    r = Receiver(fail_first=2)
    m = Metrics()
    s = WebhookSink(r.url, retries=3, backoff=0.01, metrics=m)
    try:
        s.emit(DOC)
        assert _wait(lambda: len(r.got) == 1)
        assert r.got[0] == DOC and r.calls == 3
    finally:
        s.close()
        r.close()


def test_webhook_never_blocks_and_counts_drops() -> None:
    """A receiver that is down: emit returns at once, the queue is bounded, drops are counted."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here
    m = Metrics()
    s = WebhookSink(f"http://127.0.0.1:{port}/", queue_size=5, retries=50, backoff=1.0, metrics=m)
    try:
        for _ in range(100):
            s.emit(DOC)
        assert m.get("customhouse_events_dropped_total", {"reason": "webhook_queue_full"}) >= 90
    finally:
        s.close(drain_timeout=0.5)


def test_webhook_rejects_non_http_url() -> None:
    from customhouse.errors import InputError

    with pytest.raises(InputError):
        WebhookSink("file:///etc/passwd")


def test_syslog_udp_rfc5424() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    addr = parse_syslog_address(f"udp://127.0.0.1:{rx.getsockname()[1]}")
    s = SyslogSink(addr, facility="local0", hostname="node-1", metrics=Metrics())
    try:
        s.emit(DOC)
        data, _ = rx.recvfrom(65536)
    finally:
        s.close()
        rx.close()
    m = re.match(
        rb"<(\d+)>1 (\S+) (\S+) (\S+) (\d+) (\S+) \[customhouse@32473 ([^\]]*)\] \xef\xbb\xbf(.*)$", data, re.S
    )
    assert m, data
    assert int(m.group(1)) == 16 * 8 + 4  # local0.warning
    assert m.group(2) == b"2024-05-01T12:00:00.123456Z"
    assert m.group(3) == b"node-1" and m.group(4) == b"customhouse" and m.group(6) == b"syscall"
    assert b'rule="Terminal shell in container"' in m.group(7)
    assert m.group(8).decode() == DOC["output"]


def test_syslog_escapes_structured_data() -> None:
    msg = syslog_message({**DOC, "rule": 'a"b]c\\'}, hostname="h")
    assert b'rule="a\\"b\\]c\\\\"' in msg


def test_syslog_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(5)
    s = SyslogSink(path, metrics=Metrics())
    try:
        s.emit(DOC)
        assert rx.recv(65536).startswith(b"<12>1 ")
    finally:
        s.close()
        rx.close()


def test_syslog_missing_socket_counts_error(tmp_path: Path) -> None:
    m = Metrics()
    s = SyslogSink(str(tmp_path / "nothing"), metrics=m)
    s.emit(DOC)
    s.close()
    assert m.get("customhouse_sink_errors_total", {"sink": "syslog"}) == 1


def test_fanout_isolates_failing_sink(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def emit(self, doc: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        def close(self) -> None:
            raise RuntimeError("boom")

    m = Metrics()
    f = FileSink(tmp_path / "a.jsonl", metrics=m)
    fo = FanOut([Broken(), f], metrics=m)
    fo.emit(DOC)
    fo.close()
    assert (tmp_path / "a.jsonl").read_text().count("\n") == 1
    assert m.get("customhouse_sink_errors_total", {"sink": "broken"}) == 1


def test_metrics_endpoint_scraped_and_parsed() -> None:
    m = Metrics()
    srv = MetricsServer(m, port=0).start()
    try:
        m.inc("customhouse_events_total", {"source": "syscall"}, 100)
        m.inc("customhouse_events_total", {"source": "k8s_audit"}, 3)
        m.inc("customhouse_rule_matches_total", {"rule": 'Shell "in" container', "priority": "Warning"})
        m.inc("customhouse_netlink_enobufs_total", {"socket": "proc_connector"})
        m.set("customhouse_audit_lost", 7)
        m.inc("customhouse_response_actions_total", {"action": "kill", "result": "ok"})
        url = f"http://127.0.0.1:{srv.port}/metrics"

        def scrape() -> tuple[str, dict[str, Any]]:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.headers["Content-Type"], parse_exposition(r.read().decode())

        ctype, first = scrape()
        assert ctype.startswith("text/plain; version=0.0.4")
        assert first["customhouse_events_total"][(("source", "syscall"),)] == 100
        assert first["customhouse_rule_matches_total"][(("priority", "Warning"), ("rule", 'Shell "in" container'))] == 1
        assert first["customhouse_audit_lost"][()] == 7
        assert first["customhouse_netlink_enobufs_total"][(("socket", "proc_connector"),)] == 1
        assert first["customhouse_response_actions_total"][(("action", "kill"), ("result", "ok"))] == 1
        assert first["customhouse_events_lost_total"][()] == 0  # counters are always exposed
        # the rate: more events after at least a second
        time.sleep(1.1)
        m.inc("customhouse_events_total", {"source": "syscall"}, 500)
        _, second = scrape()
        eps = second["customhouse_events_per_second"][(("source", "syscall"),)]
        assert eps > 0
    finally:
        srv.close()


def test_metrics_threadsafe() -> None:
    m = Metrics()

    def work() -> None:
        for _ in range(10_000):
            m.inc("customhouse_events_total", {"source": "syscall"})

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert m.get("customhouse_events_total", {"source": "syscall"}) == 40_000


def test_unknown_metric_name_fails() -> None:
    with pytest.raises(KeyError):
        Metrics().inc("customhouse_typo_total")
