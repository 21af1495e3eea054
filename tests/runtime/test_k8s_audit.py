"""Kubernetes audit sources: log tailing across rotation/truncation, the webhook under bad input."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from customhouse.runtime.events import Event
from customhouse.runtime.sinks import Metrics
from customhouse.runtime.sources.k8s_audit import (
    AuditLogTailer,
    AuditWebhookServer,
    audit_to_event,
    events_from_eventlist,
)


def audit(verb: str = "create", resource: str = "pods", name: str = "web-0", **extra: Any) -> dict[str, Any]:
    """A realistic audit.k8s.io/v1 Event (as kube-apiserver writes at RequestResponse level)."""
    d: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": "6f1c2c3e-8e34-4d8a-9d0f-3c1b2a0e9f11",
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/prod/{resource}",
        "verb": verb,
        "user": {"username": "alice", "uid": "1234", "groups": ["system:authenticated", "dev"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "objectRef": {"resource": resource, "namespace": "prod", "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {
                "hostNetwork": True,
                "containers": [
                    {"name": "app", "image": "nginx:1.25", "securityContext": {"privileged": True}},
                ],
                "volumes": [{"name": "root", "hostPath": {"path": "/", "type": ""}}],
            },
        },
        "requestReceivedTimestamp": "2024-05-01T12:00:00.123456Z",
        "stageTimestamp": "2024-05-01T12:00:00.150000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }
    d.update(extra)
    return d


def eventlist(*items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": list(items)}


def test_conversion_feeds_rules() -> None:
    e = audit_to_event(audit())
    assert e is not None and e.source == "k8s_audit" and e.type == "create"
    assert e.ts == 1714564800150000000
    from customhouse.runtime.rules import load_rules

    rs = load_rules([], default=True)
    names = {a.rule.name for a in rs.engine.evaluate(e)}
    assert any("rivileged" in n or "ostPath" in n or "hostpath" in n.lower() for n in names), names


def test_ka_fields_read_converted_event(tmp_path: Path) -> None:
    from customhouse.runtime.rules import load_rules

    f = tmp_path / "r.yaml"
    f.write_text(
        "- rule: probe\n  desc: d\n  source: k8s_audit\n  priority: WARNING\n"
        "  output: '%ka.user.name %ka.target.name'\n"
        "  condition: ka.verb=create and ka.target.resource=pods and ka.target.namespace=prod and"
        " ka.req.pod.host_network=true and ka.response.code=201 and ka.req.pod.volumes.hostpath intersects (/)\n"
    )
    rs = load_rules([f], default=False)
    e = audit_to_event(audit())
    assert e is not None
    alerts = rs.engine.evaluate(e)
    assert [a.output for a in alerts] == ["alice web-0"]


@pytest.mark.parametrize("bad", [None, [], "x", {"kind": "Pod"}, {"kind": "Event", "apiVersion": "v1"}])
def test_not_audit_events(bad: Any) -> None:
    assert audit_to_event(bad) is None


def test_eventlist_skips_bad_items() -> None:
    evs = events_from_eventlist(eventlist(audit(), {"kind": "Nope"}, audit(verb="get", resource="secrets")))
    assert evs is not None and [e.type for e in evs] == ["create", "get"]
    assert events_from_eventlist({"kind": "EventList", "apiVersion": "v1", "items": []}) is None
    assert events_from_eventlist({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": 3}) is None


# ------------------------------------------------------------------ log file


def _w(path: Path, *objs: Any, mode: str = "a") -> None:
    with open(path, mode) as f:
        for o in objs:
            f.write((o if isinstance(o, str) else json.dumps(o)) + "\n")


def test_tail_follows_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    _w(log, audit(name="old"), mode="w")
    m = Metrics()
    t = AuditLogTailer(log, metrics=m)  # starts at the end: "old" is not reported
    assert t.poll() == []
    _w(log, audit(name="a1"), "garbage line", audit(name="a2"))
    assert [e.audit["objectRef"]["name"] for e in t.poll()] == ["a1", "a2"]  # type: ignore[index]
    # a partial line waits for its newline
    with open(log, "a") as f:
        f.write(json.dumps(audit(name="half"))[:40])
    assert t.poll() == []
    with open(log, "a") as f:
        f.write(json.dumps(audit(name="half"))[40:] + "\n")
    assert [e.audit["objectRef"]["name"] for e in t.poll()] == ["half"]  # type: ignore[index]
    # rotation: lines written to the old file after the rename are still read, then the new file
    os.rename(log, tmp_path / "audit.log.1")
    _w(tmp_path / "audit.log.1", audit(name="late"))
    _w(log, audit(name="b1"), mode="w")
    assert [e.audit["objectRef"]["name"] for e in t.poll()] == ["late", "b1"]  # type: ignore[index]
    # truncation in place (copytruncate): noticed when the file is shorter than our offset
    log.write_text("")
    assert t.poll() == []
    _w(log, audit(name="c1"))
    assert [e.audit["objectRef"]["name"] for e in t.poll()] == ["c1"]  # type: ignore[index]
    assert t.skipped == 1
    assert m.get("customhouse_events_total", {"source": "k8s_audit"}) == 6
    t.close()


def test_tail_bounds_long_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    t = AuditLogTailer(log, max_line=10_000, metrics=Metrics())
    _w(log, "x" * 200_000, audit(name="after"))
    assert [e.audit["objectRef"]["name"] for e in t.poll()] == ["after"]  # type: ignore[index]
    assert t.skipped == 1


def test_tail_file_appears_later(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    t = AuditLogTailer(log, metrics=Metrics())
    assert t.poll() == []
    _w(log, audit(name="first"))
    assert len(t.poll()) == 1


# ------------------------------------------------------------------ webhook


@pytest.fixture
def server() -> Any:
    got: list[Event] = []
    lock = threading.Lock()

    def on_event(e: Event) -> None:
        with lock:
            got.append(e)

    s = AuditWebhookServer(on_event, max_body=64 * 1024, metrics=Metrics()).start()
    s.got = got  # type: ignore[attr-defined]
    yield s
    s.close()


def _post(s: AuditWebhookServer, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    c = http.client.HTTPConnection(s.host, s.port, timeout=10)
    try:
        try:
            c.request("POST", "/k8s-audit", body=body, headers={"Content-Type": "application/json", **(headers or {})})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) and closed before the whole body was sent: read its answer
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_webhook_accepts_eventlist(server: Any) -> None:
    body = json.dumps(eventlist(audit(), audit(verb="get", resource="secrets", name="db"))).encode()
    code, resp = _post(server, body)
    assert code == 200, resp
    assert [e.type for e in server.got] == ["create", "get"]
    assert server.got[1].audit["objectRef"]["name"] == "db"


def test_webhook_rejects_bad_bodies_and_keeps_serving(server: Any) -> None:
    assert _post(server, b"{not json")[0] == 400
    assert _post(server, json.dumps({"kind": "Pod"}).encode())[0] == 400
    assert _post(server, b"[" * 50_000)[0] == 400  # deep nesting: no crash
    big = json.dumps(eventlist(*[audit(name="n" * 1000) for _ in range(200)])).encode()
    assert len(big) > 64 * 1024
    assert _post(server, big)[0] == 413
    # a lying Content-Length far over the limit is refused from the header alone
    s = socket.create_connection((server.host, server.port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
    assert b" 413 " in s.recv(4096)
    s.close()
    # no Content-Length
    s = socket.create_connection((server.host, server.port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert b" 411 " in s.recv(4096)
    s.close()
    # still serving
    assert _post(server, json.dumps(eventlist(audit())).encode())[0] == 200
    assert len(server.got) == 1


def test_webhook_flood_of_bad_bodies(server: Any) -> None:
    codes: list[int] = []

    def hammer() -> None:
        for i in range(20):
            body = b"\x00\xff" * 100 if i % 2 else json.dumps({"kind": "EventList", "items": "no"}).encode()
            codes.append(_post(server, body)[0])

    ts = [threading.Thread(target=hammer) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert set(codes) <= {400, 503} and 400 in codes
    assert _post(server, json.dumps(eventlist(audit())).encode())[0] == 200


def test_webhook_https(tmp_path: Path) -> None:
    """HTTPS with a self-signed certificate, as the API server's webhook kubeconfig would trust."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    got: list[Event] = []
    s = AuditWebhookServer(
        got.append, certfile=str(tmp_path / "c.pem"), keyfile=str(tmp_path / "k.pem"), metrics=Metrics()
    ).start()
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        c = http.client.HTTPSConnection("localhost", s.port, context=ctx, timeout=10)
        c.request("POST", "/", body=json.dumps(eventlist(audit())).encode())
        assert c.getresponse().status == 200
        c.close()
        assert len(got) == 1 and s.url.startswith("https://")
    finally:
        s.close()
