"""Runtime rule engine benchmark: replay a few million recorded events through the default ruleset.

The events are synthetic but shaped like a busy Kubernetes node's: processes in ~60 containers
and on the host with real-looking ancestry, mostly file opens (libraries, configs, logs), execs,
connections (cluster services, DNS, some public endpoints), some listens, setuid calls, unrelated
syscalls no rule wants (close, read), and Kubernetes audit records (gets, lists, watches,
updates, a few creates and execs). About one event in a thousand is an attack the default
ruleset should flag. The file is generated once and cached under bench/results/.

Two numbers, on one core (the process is pinned):
- parse+evaluate: read each JSON line, decode it, build the Event, evaluate the rules;
- evaluate-only: the same events already in memory (decoded in chunks outside the timing).
Target: >= 200,000 events/s evaluate-only with the full default ruleset.

    .venv/bin/python -m bench.runtime_replay [--events 3000000] [--seed 7] [--regenerate]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import ROOT, precompile

RESULTS = ROOT / "bench" / "results"
TARGET_EPS = 200_000
BASE_TS = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z

IMAGES = [
    "docker.io/library/nginx",
    "docker.io/library/redis",
    "docker.io/library/postgres",
    "ghcr.io/example/api",
    "ghcr.io/example/worker",
    "quay.io/prometheus/node-exporter",
    "registry.k8s.io/coredns/coredns",
    "docker.io/library/python",
    "docker.io/library/node",
    "docker.io/grafana/grafana",
]
APP_PROCS = {
    "docker.io/library/nginx": ("nginx", "/usr/sbin/nginx", ["-g", "daemon off;"]),
    "docker.io/library/redis": ("redis-server", "/usr/local/bin/redis-server", ["*:6379"]),
    "docker.io/library/postgres": (
        "postgres",
        "/usr/lib/postgresql/16/bin/postgres",
        ["-D", "/var/lib/postgresql/data"],
    ),
    "ghcr.io/example/api": ("python3", "/usr/local/bin/python3", ["-m", "gunicorn", "app:app"]),
    "ghcr.io/example/worker": ("node", "/usr/local/bin/node", ["worker.js"]),
    "quay.io/prometheus/node-exporter": ("node_exporter", "/bin/node_exporter", ["--path.rootfs=/host"]),
    "registry.k8s.io/coredns/coredns": ("coredns", "/coredns", ["-conf", "/etc/coredns/Corefile"]),
    "docker.io/library/python": ("python3", "/usr/local/bin/python3", ["main.py"]),
    "docker.io/library/node": ("node", "/usr/local/bin/node", ["server.js"]),
    "docker.io/grafana/grafana": ("grafana", "/usr/share/grafana/bin/grafana", ["server"]),
}
READ_FILES = [
    "/etc/ld.so.cache",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libpthread.so.0",
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/usr/share/zoneinfo/UTC",
    "/proc/self/status",
    "/proc/meminfo",
    "/sys/fs/cgroup/memory.max",
    "/etc/ssl/certs/ca-certificates.crt",
    "/app/config.yaml",
    "/usr/local/lib/python3.12/site-packages/requests/__init__.py",
    "/usr/local/lib/node_modules/express/index.js",
    "/var/lib/postgresql/data/base/16384/2619",
]
WRITE_FILES = [
    "/tmp/tmpa81x2k",
    "/var/log/nginx/access.log",
    "/var/lib/postgresql/data/pg_wal/000000010000000000000001",
    "/app/cache/session.db",
    "/data/dump.rdb",
    "/var/lib/grafana/grafana.db",
    "/dev/null",
]
EXEC_CMDS = [
    ("sh", "/bin/sh", ["-c", "date"]),
    ("date", "/bin/date", []),
    ("ls", "/bin/ls", ["-la", "/app"]),
    ("cat", "/bin/cat", ["/proc/loadavg"]),
    ("grep", "/bin/grep", ["-q", "ready", "/tmp/status"]),
    ("curl", "/usr/bin/curl", ["-sf", "http://localhost:8080/healthz"]),
    ("pg_isready", "/usr/lib/postgresql/16/bin/pg_isready", ["-U", "postgres"]),
    ("redis-cli", "/usr/local/bin/redis-cli", ["ping"]),
    ("python3", "/usr/local/bin/python3", ["-c", "import sys; print(sys.version)"]),
    ("node", "/usr/local/bin/node", ["healthcheck.js"]),
    ("nginx", "/usr/sbin/nginx", ["-s", "reload"]),
    ("ps", "/bin/ps", ["aux"]),
]
SERVICE_IPS = [f"10.96.{i}.{j}" for i in range(0, 4) for j in (1, 10, 53, 100)]
POD_IPS = [f"10.244.{i}.{j}" for i in range(1, 6) for j in range(2, 40, 7)]
PUBLIC_IPS = ["140.82.112.3", "151.101.1.69", "104.16.132.229"]
K8S_USERS = [
    "system:serviceaccount:kube-system:coredns",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:node:worker-1",
    "system:serviceaccount:monitoring:prometheus",
    "system:serviceaccount:default:api",
]
K8S_RESOURCES = ["pods", "configmaps", "endpoints", "leases", "nodes", "services", "events", "deployments"]


class World:
    """Containers and their processes; events are drawn from them."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.containers: list[dict[str, Any]] = []
        for i in range(60):
            image = rnd.choice(IMAGES)
            cid = f"{rnd.getrandbits(48):012x}"
            self.containers.append(
                {
                    "container": {
                        "id": cid,
                        "name": f"{image.rsplit('/', 1)[-1]}-{i}",
                        "image": f"{image}:1.{i % 7}",
                        "start_ts": BASE_TS - 3_600_000_000_000,
                    },
                    "k8s": {
                        "pod_name": f"{image.rsplit('/', 1)[-1]}-{i}-{cid[:5]}",
                        "ns_name": rnd.choice(["default", "prod", "monitoring", "kube-system"]),
                    },
                    "app": APP_PROCS[image],
                    "pid": 1000 + i * 100,
                }
            )

    def proc(self, c: dict[str, Any] | None, name: str, exepath: str, args: list[str], pid: int) -> dict[str, Any]:
        if c is None:
            anc = [
                {"pid": 900, "name": "containerd", "exepath": "/usr/bin/containerd", "args": []},
                {"pid": 1, "name": "systemd", "exepath": "/usr/lib/systemd/systemd", "args": ["--system"]},
            ]
            return {
                "pid": pid,
                "name": name,
                "exe": name,
                "exepath": exepath,
                "args": args,
                "cwd": "/",
                "tty": 0,
                "uid": 0,
                "gid": 0,
                "user": "root",
                "group": "root",
                "loginuid": -1,
                "ancestors": anc,
            }
        app_name, app_exe, app_args = c["app"]
        anc = [
            {"pid": c["pid"], "name": app_name, "exe": app_name, "exepath": app_exe, "args": app_args},
            {"pid": c["pid"] - 5, "name": "containerd-shim", "exepath": "/usr/bin/containerd-shim-runc-v2", "args": []},
            {"pid": 1, "name": "systemd", "exepath": "/usr/lib/systemd/systemd", "args": []},
        ]
        if pid == c["pid"]:
            anc = anc[1:]
        uid = 0 if app_name in ("nginx", "coredns") else 1000
        return {
            "pid": pid,
            "name": name,
            "exe": name,
            "exepath": exepath,
            "args": args,
            "cwd": "/app",
            "tty": 0,
            "uid": uid,
            "gid": uid,
            "user": "root" if uid == 0 else "app",
            "loginuid": -1,
            "cap_permitted": "CAP_CHOWN CAP_NET_BIND_SERVICE",
            "ancestors": anc,
        }

    def where(self) -> dict[str, Any] | None:
        return None if self.rnd.random() < 0.25 else self.rnd.choice(self.containers)


def _syscall(ts: int, typ: str, proc: dict[str, Any], c: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"source": "syscall", "time": ts, "type": typ}
    d.update(kw)
    d["proc"] = proc
    if c is not None:
        d["container"] = c["container"]
        d["k8s"] = c["k8s"]
    return d


def benign(w: World, ts: int) -> dict[str, Any]:
    rnd = w.rnd
    c = w.where()
    x = rnd.random()
    if c is not None:
        app_name, app_exe, app_args = c["app"]
        main = w.proc(c, app_name, app_exe, app_args, c["pid"])
    else:
        main = w.proc(None, "kubelet", "/usr/bin/kubelet", ["--config=/var/lib/kubelet/config.yaml"], 700)
    if x < 0.36:
        path = rnd.choice(READ_FILES)
        return _syscall(
            ts,
            "openat",
            main,
            c,
            res=7,
            args={"name": path, "flags": "O_RDONLY|O_CLOEXEC"},
            fd={"num": 7, "type": "file", "name": path},
        )
    if x < 0.46:
        path = rnd.choice(WRITE_FILES)
        return _syscall(
            ts,
            "openat",
            main,
            c,
            res=8,
            args={"name": path, "flags": "O_WRONLY|O_CREAT|O_APPEND"},
            fd={"num": 8, "type": "file", "name": path},
        )
    if x < 0.64:
        name, exe, args = rnd.choice(EXEC_CMDS)
        p = w.proc(c, name, exe, args, (c["pid"] if c else 700) + rnd.randrange(1, 90))
        return _syscall(ts, "execve", p, c, args={"filename": exe})
    if x < 0.76:
        r = rnd.random()
        if r < 0.6:
            sip, port, proto = rnd.choice(SERVICE_IPS), rnd.choice([80, 443, 5432, 6379, 8080]), "tcp"
        elif r < 0.9:
            sip, port, proto = rnd.choice(POD_IPS), rnd.choice([8080, 9090, 9100]), "tcp"
        elif r < 0.97:
            sip, port, proto = "10.96.0.10", 53, "udp"
        else:
            sip, port, proto = rnd.choice(PUBLIC_IPS), 443, "tcp"
        cip = rnd.choice(POD_IPS)
        return _syscall(
            ts,
            "connect",
            main,
            c,
            res=rnd.choice([0, -115]),
            args={"addr": f"{sip}:{port}"},
            fd={
                "num": 9,
                "type": "ipv4",
                "l4proto": proto,
                "cip": cip,
                "cport": rnd.randrange(32768, 60999),
                "sip": sip,
                "sport": port,
            },
        )
    if x < 0.80:
        cip = rnd.choice(POD_IPS)
        return _syscall(
            ts,
            "accept4",
            main,
            c,
            res=10,
            fd={
                "num": 10,
                "type": "ipv4",
                "l4proto": "tcp",
                "cip": cip,
                "cport": rnd.randrange(32768, 60999),
                "sip": "10.244.1.9",
                "sport": 8080,
                "is_server": True,
            },
        )
    if x < 0.81:
        port = rnd.choice([80, 8080, 9090, 443])
        return _syscall(
            ts,
            "listen",
            main,
            c,
            args={"backlog": 511},
            fd={"num": 6, "type": "ipv4", "l4proto": "tcp", "sip": "0.0.0.0", "sport": port, "is_server": True},
        )
    if x < 0.815:
        p = w.proc(c, "su", "/bin/su", ["-", "postgres"], 4242)
        p["uid"] = 0
        return _syscall(ts, "setuid", p, c, args={"uid": 999})
    if x < 0.89:
        return _syscall(
            ts,
            rnd.choice(["close", "read", "write", "fstat"]),
            main,
            c,
            res=0,
            fd={"num": 7, "type": "file", "name": rnd.choice(READ_FILES)},
        )
    return audit(w, ts)


def audit(w: World, ts: int) -> dict[str, Any]:
    rnd = w.rnd
    verb = rnd.choices(["get", "list", "watch", "update", "patch", "create"], [30, 25, 20, 12, 8, 5])[0]
    res = rnd.choice(K8S_RESOURCES)
    user = rnd.choice(K8S_USERS)
    ns = rnd.choice(["default", "prod", "kube-system", "monitoring"])
    name = f"{res[:-1]}-{rnd.randrange(100)}"
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Request",
        "auditID": f"{rnd.getrandbits(64):016x}",
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/{ns}/{res}/{name}",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": [rnd.choice(POD_IPS)],
        "userAgent": "kube-controller-manager/v1.30.0",
        "objectRef": {"resource": res, "namespace": ns, "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC"},
    }
    if verb == "create" and res in ("pods", "deployments"):
        spec = {
            "containers": [
                {"name": "app", "image": "ghcr.io/example/api:1.2", "securityContext": {"runAsNonRoot": True}}
            ]
        }
        ev["requestObject"] = (
            {"kind": "Pod", "spec": spec}
            if res == "pods"
            else {"kind": "Deployment", "spec": {"template": {"spec": spec}}}
        )
    return {"source": "k8s_audit", "time": ts, "audit": ev}


def attack(w: World, ts: int) -> dict[str, Any]:
    rnd = w.rnd
    c = rnd.choice(w.containers)
    kind = rnd.randrange(8)
    if kind == 0:
        p = w.proc(c, "bash", "/bin/bash", [], c["pid"] + 500)
        p["tty"] = 34816
        p["ancestors"][0] = {"pid": c["pid"] - 5, "name": "runc", "exepath": "/usr/bin/runc", "args": []}
        return _syscall(ts, "execve", p, c, args={"filename": "/bin/bash"})
    if kind == 1:
        p = w.proc(c, "apt-get", "/usr/bin/apt-get", ["install", "-y", "nmap"], c["pid"] + 501)
        return _syscall(ts, "execve", p, c)
    if kind == 2:
        p = w.proc(c, "cat", "/bin/cat", ["/etc/shadow"], c["pid"] + 502)
        return _syscall(
            ts,
            "openat",
            p,
            c,
            res=3,
            args={"name": "/etc/shadow", "flags": "O_RDONLY"},
            fd={"num": 3, "type": "file", "name": "/etc/shadow"},
        )
    if kind == 3:
        p = w.proc(c, "xmrig", "/tmp/xmrig", ["-o", "stratum+tcp://pool.supportxmr.com:3333"], c["pid"] + 503)
        p["exe_upper_layer"] = True
        return _syscall(ts, "execve", p, c)
    if kind == 4:
        return _syscall(
            ts,
            "connect",
            w.proc(c, "curl", "/usr/bin/curl", ["http://169.254.169.254/"], c["pid"] + 504),
            c,
            fd={
                "type": "ipv4",
                "l4proto": "tcp",
                "cip": "10.244.1.5",
                "cport": 40000,
                "sip": "169.254.169.254",
                "sport": 80,
            },
        )
    if kind == 5:
        return _syscall(
            ts,
            "openat",
            w.proc(c, "sh", "/bin/sh", ["-c", "echo x > /usr/bin/ls"], c["pid"] + 505),
            c,
            res=4,
            args={"name": "/usr/bin/ls", "flags": "O_WRONLY|O_TRUNC"},
            fd={"num": 4, "type": "file", "name": "/usr/bin/ls"},
        )
    if kind == 6:
        return _syscall(
            ts, "execve", w.proc(c, "nsenter", "/usr/bin/nsenter", ["-t", "1", "-m", "sh"], c["pid"] + 506), c
        )
    ev = audit(w, ts)
    a = ev["audit"]
    a["verb"], a["objectRef"] = (
        "create",
        {"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "api-0"},
    )
    a["stage"] = "ResponseStarted"
    a["requestURI"] = "/api/v1/namespaces/prod/pods/api-0/exec?command=sh&container=app&stdin=true&tty=true"
    return ev


def generate(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    w = World(rnd)
    tmp = path.with_name(path.name + ".tmp")
    ts = BASE_TS
    with open(tmp, "w") as fh:
        fh.write(json.dumps({"format": "customhouse-events", "version": 1}) + "\n")
        for _ in range(n):
            ts += rnd.randrange(1_000, 200_000)
            d = attack(w, ts) if rnd.random() < 0.001 else benign(w, ts)
            fh.write(json.dumps(d, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def events_file(n: int, seed: int, regenerate: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"runtime-events-{n}-{seed}.jsonl"
    if regenerate or not path.is_file():
        t = time.perf_counter()
        print(f"generating {n:,} events into {path} ...", file=sys.stderr)
        generate(path, n, seed)
        print(f"  {time.perf_counter() - t:.0f} s, {path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return path


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def parse_and_evaluate(path: Path, engine: Any) -> tuple[int, int, float, float]:
    """Events, alerts, wall seconds, CPU seconds for reading, decoding and evaluating the file."""
    from customhouse.runtime.events import read_events

    n = alerts = 0
    evaluate = engine.evaluate
    w, c = _clock()
    for e in read_events(path):
        n += 1
        alerts += len(evaluate(e))
    w2, c2 = _clock()
    return n, alerts, w2 - w, c2 - c


def evaluate_only(path: Path, engine: Any, chunk: int = 250_000) -> tuple[int, int, float, float]:
    """The same, timing only the evaluation of events already decoded (in chunks, to bound memory)."""
    from customhouse.runtime.events import read_events

    n = alerts = 0
    wall = cpu = 0.0
    evaluate = engine.evaluate
    batch: list[Any] = []

    def run(batch: list[Any]) -> tuple[int, float, float]:
        found = 0
        gc.disable()
        w, c = _clock()
        for e in batch:
            found += len(evaluate(e))
        w2, c2 = _clock()
        gc.enable()
        return found, w2 - w, c2 - c

    for e in read_events(path):
        batch.append(e)
        if len(batch) >= chunk:
            found, dw, dc = run(batch)
            n, alerts, wall, cpu = n + len(batch), alerts + found, wall + dw, cpu + dc
            batch = []
    if batch:
        found, dw, dc = run(batch)
        n, alerts, wall, cpu = n + len(batch), alerts + found, wall + dw, cpu + dc
    return n, alerts, wall, cpu


def calibrate() -> float:
    """CPU seconds for a fixed pure-Python loop: compares machines (and a busy machine with itself)."""
    c = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--cpu", type=int, default=0, help="core to pin to (default 0)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    precompile()
    path = events_file(args.events, args.seed, args.regenerate)
    from customhouse.runtime.rules import load_rules

    t = time.perf_counter()
    ruleset = load_rules()
    load_s = time.perf_counter() - t
    engine = ruleset.engine
    gc.freeze()  # as `customhouse runtime replay` does once the rules are loaded
    cal = calibrate()
    n1, a1, w1, c1 = parse_and_evaluate(path, engine)
    for r in engine.rules:
        r.matches = 0
    n2, a2, w2, c2 = evaluate_only(path, engine)
    per_rule = Counter({r.name: r.matches for r in engine.rules if r.matches})
    print(
        f"events: {n1:,} ({path.name}), default ruleset: {len(engine.rules)} rules (loaded in {load_s * 1000:.0f} ms)"
    )
    print(f"calibration loop: {cal:.3f} s CPU (machine speed reference; lower is faster)")
    print("events/s on one core, by CPU time (by wall time, which other processes on the machine inflate):")
    print(f"  parse+evaluate: {n1 / c1:>10,.0f}  ({n1 / w1:,.0f} wall; {c1:.1f} s CPU, {a1:,} alerts)")
    print(f"  evaluate-only:  {n2 / c2:>10,.0f}  ({n2 / w2:,.0f} wall; {c2:.1f} s CPU, {a2:,} alerts)")
    print(f"  target (evaluate-only): >= {TARGET_EPS:,}")
    print("alerts by rule: " + ", ".join(f"{k}: {v}" for k, v in per_rule.most_common()))
    t2 = c2
    if n2 / t2 < TARGET_EPS:
        print("BELOW TARGET", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
