"""Where alerts go besides stdout: a file, an HTTP webhook, syslog; and Prometheus metrics.

Every sink takes the alert as Falco's JSON object (`customhouse.runtime.output.alert_json`, or a
response record from `customhouse.runtime.respond`) through `emit(doc)`, and must never block
the agent's event loop: the file sink writes a line, the webhook sink only puts the document on
a bounded queue that a worker thread drains (a full queue drops and counts), and the syslog sink
sends one datagram without waiting. A sink that fails counts the failure in the metrics and
carries on: losing an alert to a broken receiver is bad, stopping detection is worse.

`METRICS` is the process-wide counter registry other modules increment (sources count events,
lost and ENOBUFS, the engine rule matches, the responder actions); `MetricsServer` exposes it in
the Prometheus text exposition format (version 0.0.4). The metric names are listed in
docs/runtime-responses.md.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Protocol

from customhouse.errors import InputError

# ------------------------------------------------------------------ metrics

Labels = tuple[tuple[str, str], ...]

# name -> (type, help). Only these names may be incremented, so a typo fails loudly in tests
# instead of silently creating a metric nobody scrapes.
METRIC_DEFS: dict[str, tuple[str, str]] = {
    "customhouse_events_total": ("counter", "Events received, by source."),
    "customhouse_events_per_second": ("gauge", "Events per second by source, over the last scrape interval."),
    "customhouse_rule_matches_total": ("counter", "Alerts raised, by rule and priority."),
    "customhouse_events_dropped_total": (
        "counter",
        "Events or alerts dropped by us (queue full, bad input), by reason.",
    ),
    "customhouse_events_lost_total": ("counter", "Events the kernel or a sender reported lost, by source."),
    "customhouse_audit_lost": ("gauge", "The kernel audit 'lost' counter (auditctl -s) as last read."),
    "customhouse_netlink_enobufs_total": (
        "counter",
        "ENOBUFS on a netlink socket (kernel dropped messages), by socket.",
    ),
    "customhouse_response_actions_total": ("counter", "Response actions taken, by action and result."),
    "customhouse_sink_errors_total": ("counter", "Alerts a sink failed to deliver, by sink."),
}


def _labels(labels: dict[str, Any] | None) -> Labels:
    if not labels:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_value(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class Metrics:
    """A small thread-safe registry of counters and gauges with labels.

    One lock for everything: increments are a dictionary update, far cheaper than the events
    they count, and scrapes are rare. `events_per_second` is derived at scrape time from
    `customhouse_events_total`, so sources only ever increment one counter.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {name: {} for name in METRIC_DEFS}
        # (monotonic time, {labels: events_total}) samples for the rate, newest last
        self._samples: deque[tuple[float, dict[Labels, float]]] = deque(maxlen=120)

    def inc(self, name: str, labels: dict[str, Any] | None = None, n: float = 1) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + n

    def set(self, name: str, value: float, labels: dict[str, Any] | None = None) -> None:
        key = _labels(labels)
        with self._lock:
            self._values[name][key] = value

    def get(self, name: str, labels: dict[str, Any] | None = None) -> float:
        with self._lock:
            return self._values[name].get(_labels(labels), 0)

    def reset(self) -> None:
        """Forget every value (tests)."""
        with self._lock:
            for series in self._values.values():
                series.clear()
            self._samples.clear()

    def _rates(self, now: float) -> dict[Labels, float]:
        """Events per second per source since the newest sample at least one second old."""
        totals = dict(self._values["customhouse_events_total"])
        base = None
        for t, snap in reversed(self._samples):
            if now - t >= 1.0:
                base = (t, snap)
                break
        if not self._samples or now - self._samples[-1][0] >= 1.0:
            self._samples.append((now, totals))
        if base is None:
            return {k: 0.0 for k in totals}
        dt = now - base[0]
        return {k: max(0.0, (v - base[1].get(k, 0)) / dt) for k, v in totals.items()}

    def render(self) -> str:
        """The registry in Prometheus text exposition format 0.0.4."""
        with self._lock:
            self._values["customhouse_events_per_second"] = self._rates(time.monotonic())
            snapshot = {name: dict(series) for name, series in self._values.items()}
        lines: list[str] = []
        for name, (kind, help_text) in METRIC_DEFS.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            series = snapshot[name]
            if (not series and kind == "counter") or (not series and name == "customhouse_audit_lost"):
                series = {(): 0}
            for key in sorted(series):
                lab = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                lines.append(
                    f"{name}{{{lab}}} {_fmt_value(series[key])}" if lab else f"{name} {_fmt_value(series[key])}"
                )
        return "\n".join(lines) + "\n"


METRICS = Metrics()


class MetricsServer:
    """Serves `GET /metrics` from a registry on its own thread (`port=0`: pick a free port)."""

    def __init__(self, registry: Metrics | None = None, host: str = "127.0.0.1", port: int = 9376) -> None:
        reg = registry if registry is not None else METRICS

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = reg.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # scrapes are not news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        addr = self._server.server_address
        self.host: str = addr[0] if isinstance(addr[0], str) else addr[0].decode()
        self.port: int = int(addr[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def parse_exposition(text: str) -> dict[str, dict[Labels, float]]:
    """Parse the text format we render (for tests and `--check`): name -> labels -> value."""
    out: dict[str, dict[Labels, float]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            labels: list[tuple[str, str]] = []
            body = rest[:-1]
            i = 0
            while i < len(body):
                eq = body.index("=", i)
                key = body[i:eq]
                j = eq + 2
                val = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        val.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        val.append(body[j])
                    j += 1
                labels.append((key, "".join(val)))
                i = j + 2 if j + 1 < len(body) and body[j + 1] == "," else j + 1
            out.setdefault(name, {})[tuple(sorted(labels))] = float(value)
        else:
            out.setdefault(head, {})[()] = float(value)
    return out


# ------------------------------------------------------------------ sinks


class Sink(Protocol):
    name: str

    def emit(self, doc: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


class FileSink:
    """Appends one JSON line per alert to a file (created if missing, never truncated).

    Appending rather than replacing: the agent runs for days and the file is usually collected
    by a log shipper that follows it, which a rename would confuse. Line-buffered so a crash
    loses at most the line being written.
    """

    name = "file"

    def __init__(self, path: Path | str, metrics: Metrics | None = None) -> None:
        self.path = Path(path)
        self.metrics = metrics if metrics is not None else METRICS
        try:
            self._fh: IO[str] = open(self.path, "a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open alert file: {exc.strerror or exc}") from None
        self._lock = threading.Lock()

    def emit(self, doc: dict[str, Any]) -> None:
        try:
            with self._lock:
                self._fh.write(_line(doc) + "\n")
        except (OSError, ValueError):
            self.metrics.inc("customhouse_sink_errors_total", {"sink": self.name})

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


class WebhookSink:
    """POSTs each alert as Falco's JSON object to a URL, from a worker thread.

    `emit` only enqueues (bounded: `queue_size`); when the receiver is slow or down the queue
    fills and new alerts are dropped and counted (`customhouse_events_dropped_total{reason=
    "webhook_queue_full"}`) rather than growing memory or stalling the event loop. Each alert
    is tried `retries + 1` times with exponential backoff from `backoff` seconds; a 2xx answer
    is delivery, a 4xx other than 408/429 is not retried (the receiver rejects the document).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 1000,
        retries: int = 3,
        backoff: float = 0.2,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"{url}: webhook URL must be http:// or https://")
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.metrics = metrics if metrics is not None else METRICS
        self.sent = 0
        self.failed = 0
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-sink", daemon=True)
        self._thread.start()

    def emit(self, doc: dict[str, Any]) -> None:
        try:
            self._q.put_nowait(doc)
        except queue.Full:
            self.metrics.inc("customhouse_events_dropped_total", {"reason": "webhook_queue_full"})

    def _post(self, body: bytes) -> bool:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            if attempt:
                if self._stop.wait(delay):
                    return False
                delay *= 2
            req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read(65536)
                    if 200 <= resp.status < 300:
                        return True
            except urllib.error.HTTPError as exc:
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    return False
            except (OSError, ValueError):
                pass
        return False

    def _run(self) -> None:
        while True:
            doc = self._q.get()
            if doc is None:
                return
            if self._post(_line(doc).encode()):
                self.sent += 1
            else:
                self.failed += 1
                self.metrics.inc("customhouse_sink_errors_total", {"sink": self.name})

    def close(self, drain_timeout: float = 5.0) -> None:
        """Deliver what is queued (up to `drain_timeout` seconds), then stop the worker."""
        try:
            self._q.put(None, timeout=drain_timeout)
        except queue.Full:
            self._stop.set()
        self._thread.join(drain_timeout)
        self._stop.set()


# RFC 5424 severities (section 6.2.1) for Falco's priorities.
_SYSLOG_SEVERITY = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "informational": 6,
    "info": 6,
    "debug": 7,
}
_FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "authpriv": 10, "local0": 16, "local7": 23}


def _sd_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(v: str, limit: int) -> str:
    """RFC 5424 header fields: printable US-ASCII without spaces, bounded, '-' when empty."""
    s = "".join(c for c in v if 33 <= ord(c) <= 126)[:limit]
    return s or "-"


def syslog_message(
    doc: dict[str, Any], *, facility: int = 1, hostname: str = "", app_name: str = "customhouse"
) -> bytes:
    """One RFC 5424 message for an alert: the rule as structured data, the output as MSG.

    `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [customhouse@32473 rule=".." priority=".."
    source=".."] BOM output`. 32473 is the IANA example enterprise number (RFC 5612), which is
    what an SD-ID of a project without its own number should use.
    """
    sev = _SYSLOG_SEVERITY.get(str(doc.get("priority", "")).lower(), 5)
    ts = doc.get("time") or datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    ts_s = str(ts)
    # RFC 5424 allows at most 6 fractional digits; Falco's time has 9.
    if "." in ts_s and ts_s.endswith("Z"):
        head, frac = ts_s[:-1].split(".", 1)
        ts_s = f"{head}.{frac[:6]}Z"
    sd_params = " ".join(
        f'{k}="{_sd_escape(str(doc.get(k, "")))}"' for k in ("rule", "priority", "source") if doc.get(k) is not None
    )
    header = (
        f"<{facility * 8 + sev}>1 {ts_s} {_printable(hostname or socket.gethostname(), 255)} "
        f"{_printable(app_name, 48)} {os.getpid()} {_printable(str(doc.get('source', 'alert')), 32)}"
    )
    return f"{header} [customhouse@32473 {sd_params}] ".encode() + b"\xef\xbb\xbf" + str(doc.get("output", "")).encode()


class SyslogSink:
    """Sends alerts as RFC 5424 datagrams to a local socket (/dev/log) or a UDP host:port.

    Datagrams, non-blocking: a full socket buffer or an absent syslog daemon drops the message
    and counts it instead of stalling the agent. Messages longer than `max_len` are cut (UDP
    syslog receivers commonly accept 2048 octets, RFC 5426 section 3.2 asks for at least 2048).
    """

    name = "syslog"

    def __init__(
        self,
        address: str | tuple[str, int] = "/dev/log",
        *,
        facility: str = "user",
        app_name: str = "customhouse",
        hostname: str = "",
        max_len: int = 8192,
        metrics: Metrics | None = None,
    ) -> None:
        if facility not in _FACILITIES:
            raise InputError(f"syslog facility {facility!r}: use one of {', '.join(_FACILITIES)}")
        self.facility = _FACILITIES[facility]
        self.app_name = app_name
        self.hostname = hostname or socket.gethostname()
        self.max_len = max_len
        self.metrics = metrics if metrics is not None else METRICS
        self.address = address
        if isinstance(address, tuple):
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
        else:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def emit(self, doc: dict[str, Any]) -> None:
        msg = syslog_message(doc, facility=self.facility, hostname=self.hostname, app_name=self.app_name)
        try:
            self._sock.sendto(msg[: self.max_len], self.address)
        except OSError:
            self.metrics.inc("customhouse_sink_errors_total", {"sink": self.name})

    def close(self) -> None:
        self._sock.close()


class FanOut:
    """Emits to several sinks; one sink raising never keeps the alert from the others."""

    name = "fanout"

    def __init__(self, sinks: Iterable[Sink], metrics: Metrics | None = None) -> None:
        self.sinks = list(sinks)
        self.metrics = metrics if metrics is not None else METRICS

    def emit(self, doc: dict[str, Any]) -> None:
        for s in self.sinks:
            try:
                s.emit(doc)
            except Exception:
                self.metrics.inc("customhouse_sink_errors_total", {"sink": s.name})

    def close(self) -> None:
        for s in self.sinks:
            try:
                s.close()
            except Exception:
                pass


def parse_syslog_address(spec: str) -> str | tuple[str, int]:
    """`/dev/log` (a path) or `udp://host:port` / `host:port`."""
    if spec.startswith("/"):
        return spec
    s = spec.removeprefix("udp://")
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"{spec}: syslog address must be a socket path or host:port")
    return host.strip("[]") or "127.0.0.1", int(port)
