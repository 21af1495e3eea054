"""Kubernetes API audit events: from an audit log file (tailed) and from the webhook backend.

Both produce `Event(source="k8s_audit")` whose `audit` is the `audit.k8s.io/v1` Event object,
which is what the `ka.*` and `jevt.*` fields of the rules read.

The log file is what `--audit-log-path` writes: one JSON Event a line. `AuditLogTailer` follows
it across rotation (the path now names another inode: the old file is read to its end first,
then the new one from its start) and truncation (the file shrank below our offset: start
again from 0). Lines longer than `max_line` are skipped and counted, so a corrupt file cannot
grow our memory; a line that is not an audit Event is skipped and counted, never raised.

The webhook is what `--audit-webhook-config-file` points the API server at: it POSTs an
`EventList` (`{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [...]}`).
`AuditWebhookServer` answers 200 when the list was accepted, 400 for a body that is not an
EventList, 411 without Content-Length, 413 when the body is over `max_body` (refused from the
header, before reading it), 503 when `max_inflight` requests are already being handled. Reads
time out, so a client that trickles bytes cannot hold a thread. The server keeps serving
after any of these: bad input costs one answer, never the agent.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from customhouse.runtime.events import Event, event_from_dict
from customhouse.runtime.sinks import METRICS, Metrics

SOURCE = "k8s_audit"
DEFAULT_MAX_BODY = 8 * 1024 * 1024  # the API server batches up to 400 events by default
DEFAULT_MAX_LINE = 1024 * 1024


def audit_to_event(obj: Any) -> Event | None:
    """An Event for one audit.k8s.io Event object, None when it is not one.

    `type` is the verb, which lets rules index k8s_audit events the way they index syscalls.
    """
    if not isinstance(obj, dict):
        return None
    if obj.get("kind", "Event") != "Event" or not isinstance(obj.get("verb", ""), str):
        return None
    if not str(obj.get("apiVersion", "audit.k8s.io/v1")).startswith("audit.k8s.io/"):
        return None
    try:
        e = event_from_dict({"source": SOURCE, "audit": obj})
    except (ValueError, TypeError):
        return None
    if not e.ts:
        e.ts = time.time_ns()
    if not e.type and isinstance(obj.get("verb"), str):
        e.type = obj["verb"]
    return e


def events_from_eventlist(doc: Any) -> list[Event] | None:
    """Events of an `audit.k8s.io/*` EventList (malformed items are skipped); None if not a list."""
    if not isinstance(doc, dict) or doc.get("kind") != "EventList":
        return None
    if not str(doc.get("apiVersion", "")).startswith("audit.k8s.io/"):
        return None
    items = doc.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        return None
    out = []
    for it in items:
        e = audit_to_event(it)
        if e is not None:
            out.append(e)
    return out


# ------------------------------------------------------------------ log file


class AuditLogTailer:
    """Follows an audit log file; `poll()` returns the events of the lines completed since.

    `from_start`: read what is already in the file (default: start at its end, as `tail -f`).
    A partial last line is kept until its newline arrives (bounded by `max_line`).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        from_start: bool = False,
        max_line: int = DEFAULT_MAX_LINE,
        metrics: Metrics | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_line = max_line
        self.metrics = metrics if metrics is not None else METRICS
        self.skipped = 0
        self._fh: IO[bytes] | None = None
        self._ino: tuple[int, int] | None = None
        self._buf = b""
        self._discarding = False
        self._open(from_start)

    def _open(self, from_start: bool) -> None:
        try:
            fh = open(self.path, "rb")
        except OSError:
            self._fh = None
            self._ino = None
            return
        st = os.fstat(fh.fileno())
        self._fh = fh
        self._ino = (st.st_dev, st.st_ino)
        self._buf = b""
        self._discarding = False
        if not from_start:
            fh.seek(0, os.SEEK_END)

    def _read_available(self, out: list[Event]) -> None:
        fh = self._fh
        if fh is None:
            return
        while True:
            chunk = fh.read(65536)
            if not chunk:
                return
            self._feed(chunk, out)

    def _feed(self, chunk: bytes, out: list[Event]) -> None:
        if self._discarding:
            nl = chunk.find(b"\n")
            if nl < 0:
                return  # still inside the oversize line
            chunk = chunk[nl + 1 :]
            self._discarding = False
        data = self._buf + chunk
        lines = data.split(b"\n")
        self._buf = lines.pop()
        for line in lines:
            self._line(line, out)
        if len(self._buf) > self.max_line:
            self._buf = b""
            self._discarding = True
            self._skip("line_too_long")

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        self.metrics.inc("customhouse_events_dropped_total", {"reason": f"k8s_audit_{reason}"})

    def _line(self, line: bytes, out: list[Event]) -> None:
        if not line.strip():
            return
        if len(line) > self.max_line:
            self._skip("line_too_long")
            return
        try:
            obj = json.loads(line)
        except ValueError:
            self._skip("malformed")
            return
        e = audit_to_event(obj)
        if e is None:
            self._skip("malformed")
            return
        self.metrics.inc("customhouse_events_total", {"source": SOURCE})
        out.append(e)

    def poll(self) -> list[Event]:
        out: list[Event] = []
        if self._fh is None:
            self._open(from_start=True)  # the file appeared (or reappeared after rotation)
            self._read_available(out)
            return out
        self._read_available(out)
        try:
            st = os.stat(self.path)
        except OSError:
            return out  # rotated away and not yet recreated: keep the old handle
        if (st.st_dev, st.st_ino) != self._ino:
            # Rotated: we have drained the old file above; the new one is read from its start.
            self._fh.close()
            self._open(from_start=True)
            self._read_available(out)
        elif st.st_size < self._fh.tell():
            # Truncated in place (copytruncate): start again from the beginning.
            self._fh.seek(0)
            self._buf = b""
            self._discarding = False
            self._read_available(out)
        return out

    def follow(self, stop: threading.Event, interval: float = 0.2) -> Iterator[Event]:
        """Events as they are written, until `stop` is set."""
        while not stop.is_set():
            yield from self.poll()
            stop.wait(interval)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ------------------------------------------------------------------ webhook


class AuditWebhookServer:
    """Receives EventLists from the API server's audit webhook backend; see the module docstring.

    `on_event` is called for every event, on the request's thread: it must be quick (the agent
    passes a bounded queue's `put_nowait`); if it raises, the event is dropped and counted.
    `certfile`/`keyfile` turn on HTTPS (the API server requires it outside tests).
    """

    def __init__(
        self,
        on_event: Callable[[Event], None],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        max_inflight: int = 8,
        read_timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.on_event = on_event
        self.max_body = max_body
        self.metrics = metrics if metrics is not None else METRICS
        self.accepted = 0
        self.rejected = 0
        slots = threading.BoundedSemaphore(max_inflight)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = read_timeout

            def _answer(self, code: int, message: str, close: bool = False) -> None:
                body = (json.dumps({"code": code, "message": message}) + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)
                if code >= 400:
                    server.rejected += 1

            def do_POST(self) -> None:
                if not slots.acquire(blocking=False):
                    self._answer(503, "too many concurrent requests", close=True)
                    return
                try:
                    self._post()
                finally:
                    slots.release()

            def _post(self) -> None:
                if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
                    self._answer(411, "Content-Length required (chunked bodies are not accepted)", close=True)
                    return
                raw_len = self.headers.get("Content-Length")
                if raw_len is None or not raw_len.strip().isdigit():
                    self._answer(411, "Content-Length required", close=True)
                    return
                n = int(raw_len)
                if n > server.max_body:
                    # Refuse before reading; closing the connection discards the unread body.
                    server.metrics.inc("customhouse_events_dropped_total", {"reason": "k8s_audit_oversize"})
                    self._answer(413, f"body of {n} bytes exceeds the limit of {server.max_body}", close=True)
                    return
                try:
                    body = self.rfile.read(n)
                except OSError:
                    self.close_connection = True
                    return
                if len(body) < n:
                    self._answer(400, "body shorter than Content-Length", close=True)
                    return
                try:
                    doc = json.loads(body)
                except (ValueError, RecursionError):
                    server.metrics.inc("customhouse_events_dropped_total", {"reason": "k8s_audit_malformed"})
                    self._answer(400, "body is not JSON")
                    return
                events = events_from_eventlist(doc)
                if events is None:
                    server.metrics.inc("customhouse_events_dropped_total", {"reason": "k8s_audit_malformed"})
                    self._answer(400, "body is not an audit.k8s.io EventList")
                    return
                for e in events:
                    try:
                        server.on_event(e)
                    except Exception:
                        server.metrics.inc("customhouse_events_dropped_total", {"reason": "k8s_audit_consumer"})
                        continue
                    server.metrics.inc("customhouse_events_total", {"source": SOURCE})
                server.accepted += len(events)
                self._answer(200, f"accepted {len(events)} events")

            def do_GET(self) -> None:
                if self.path in ("/healthz", "/readyz"):
                    self._answer(200, "ok")
                else:
                    self._answer(405, "POST an audit.k8s.io/v1 EventList")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        # Requests wait in the listen backlog rather than each getting a thread at once.
        self._server.request_queue_size = 64
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(certfile, keyfile)
            # Handshake on the handler's thread (first read), not in accept(): a client that stalls
            # the handshake must not stall the accept loop.
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.tls = bool(certfile)
        addr = self._server.server_address
        self.host: str = addr[0] if isinstance(addr[0], str) else addr[0].decode()
        self.port: int = int(addr[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="k8s-audit-webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"

    def start(self) -> AuditWebhookServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
