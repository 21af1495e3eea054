"""Builders for runtime events in their JSON form (the replay format), as a source would record them."""

from __future__ import annotations

from typing import Any

from customhouse.runtime.events import Event, event_from_dict

T0 = 1_714_564_800_123_456_789  # 2024-05-01T12:00:00.123456789Z
CONTAINER = {
    "id": "0123456789ab",
    "name": "web",
    "image": "docker.io/library/nginx:1.25",
    "start_ts": T0 - 3_600_000_000_000,
}
K8S = {"pod_name": "web-0", "ns_name": "prod"}
HOST: dict[str, Any] = {}


def proc(
    name: str = "sh",
    exepath: str | None = None,
    args: list[str] | None = None,
    *,
    parent: str = "nginx",
    grandparent: str = "containerd-shim",
    **kw: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "pid": 4242,
        "name": name,
        "exe": name,
        "exepath": exepath or f"/usr/bin/{name}",
        "args": args or [],
        "cwd": "/",
        "tty": 0,
        "uid": 1000,
        "gid": 1000,
        "user": "app",
        "loginuid": -1,
        "ancestors": [
            {"pid": 4200, "name": parent, "exepath": f"/usr/sbin/{parent}", "args": ["-g", "daemon off;"]},
            {"pid": 4100, "name": grandparent, "exepath": f"/usr/bin/{grandparent}", "args": []},
            {"pid": 1, "name": "systemd", "exepath": "/usr/lib/systemd/systemd", "args": []},
        ],
    }
    d.update(kw)
    return d


def syscall_dict(
    typ: str,
    p: dict[str, Any] | None = None,
    *,
    fd: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    res: int = 0,
    container: dict[str, Any] | None = CONTAINER,
    k8s: dict[str, Any] | None = K8S,
    ts: int = T0,
) -> dict[str, Any]:
    d: dict[str, Any] = {"source": "syscall", "time": ts, "type": typ, "res": res, "proc": p or proc()}
    if args:
        d["args"] = args
    if fd:
        d["fd"] = fd
    if container:
        d["container"] = container
        if k8s:
            d["k8s"] = k8s
    return d


def syscall(typ: str, p: dict[str, Any] | None = None, **kw: Any) -> Event:
    return event_from_dict(syscall_dict(typ, p, **kw), 1)


def execve(p: dict[str, Any], **kw: Any) -> Event:
    return syscall("execve", p, args={"filename": p.get("exepath")}, **kw)


def open_file(path: str, flags: str, p: dict[str, Any] | None = None, **kw: Any) -> Event:
    return syscall(
        "openat", p, args={"name": path, "flags": flags}, fd={"num": 5, "type": "file", "name": path}, res=5, **kw
    )


def connect(sip: str, sport: int, p: dict[str, Any] | None = None, proto: str = "tcp", **kw: Any) -> Event:
    kind = "ipv6" if ":" in sip else "ipv4"
    fd = {"num": 6, "type": kind, "l4proto": proto, "cip": "10.244.1.5", "cport": 40000, "sip": sip, "sport": sport}
    fd.update(kw.pop("fd_extra", {}))
    return syscall("connect", p, fd=fd, args={"addr": f"{sip}:{sport}"}, **kw)


def audit_dict(
    verb: str,
    resource: str,
    *,
    name: str = "web-0",
    namespace: str = "prod",
    subresource: str | None = None,
    user: str = "alice",
    groups: list[str] | None = None,
    stage: str = "ResponseComplete",
    code: int = 201,
    decision: str = "allow",
    uri: str | None = None,
    request_object: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"}
    if subresource:
        ref["subresource"] = subresource
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": "6d6f0a1c-0000-4000-8000-000000000001",
        "stage": stage,
        "requestURI": uri or f"/api/v1/namespaces/{namespace}/{resource}/{name}",
        "verb": verb,
        "user": {"username": user, "groups": groups or ["system:authenticated"]},
        "sourceIPs": ["192.0.2.10"],
        "userAgent": "kubectl/v1.30.0",
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
        "stageTimestamp": "2024-05-01T12:00:00.123456Z",
        "annotations": {"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": "RBAC"},
    }
    if request_object is not None:
        ev["requestObject"] = request_object
    return {"source": "k8s_audit", "audit": ev}


def audit(verb: str, resource: str, **kw: Any) -> Event:
    return event_from_dict(audit_dict(verb, resource, **kw), 1)


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers), **spec},
    }
