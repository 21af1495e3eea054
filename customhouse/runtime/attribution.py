"""Which container a process belongs to, and what is known about that container.

The container id comes from the process's cgroup path, because that is the one thing every
runtime sets and every process inherits across fork (the process tree carries it on for
processes that are gone from /proc). Recognised forms (`container_id_from_cgroup`):

| runtime | cgroup path (v2 unified, or the v1 line) |
|---|---|
| Docker (cgroupfs) | `/docker/<64 hex>` |
| Docker (systemd) | `/system.slice/docker-<64 hex>.scope` |
| containerd / CRI | `/kubepods/besteffort/pod<uid>/<64 hex>`, `.../cri-containerd-<64 hex>.scope` |
| CRI-O | `.../crio-<64 hex>.scope`, `/kubepods/.../crio-<64 hex>` |
| Podman | `/machine.slice/libpod-<64 hex>.scope` (and `.../libpod-<64 hex>/container`) |
| runc (systemd driver) | `/system.slice/runc-<id>.scope` or `<slice>/<prefix>-<id>.scope` |
| runc (cgroupfs, any id) | whatever `cgroupsPath` was: matched against `/run/runc/*/state.json` |

64-hex ids are shortened to 12 characters, as Falco and `docker ps` show them; other ids (runc
lets the user choose) are kept whole. Metadata comes from the runtime's state
(`<root>/<id>/state.json`: bundle, rootfs, annotations — runc stores them as `key=value` labels)
and the bundle's OCI `config.json` (mounts, annotations). Kubernetes pod name and namespace are
read from the CRI annotations (containerd `io.kubernetes.cri.sandbox-*`, CRI-O
`io.kubernetes.pod.*`).
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from customhouse.runtime.events import HOST, NO_K8S, Container, K8s, Mount

STATE_ROOTS = ("/run/runc", "/run/containerd/runc/*", "/run/crun")

_HEX64 = r"[0-9a-f]{64}"
# (regex over one path component, group with the id) — tried on the components from the end.
CGROUP_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(rf"^docker-({_HEX64})\.scope$")),
    ("containerd", re.compile(rf"^cri-containerd-({_HEX64})\.scope$")),
    ("cri-o", re.compile(rf"^crio-({_HEX64})(?:\.scope)?$")),
    ("podman", re.compile(rf"^libpod-({_HEX64})(?:\.scope)?$")),
    ("runc", re.compile(r"^runc-([A-Za-z0-9][A-Za-z0-9_.+-]*)\.scope$")),
    ("generic", re.compile(rf"^({_HEX64})$")),
)
_NOT_CONTAINERS = re.compile(r"^(?:libpod-conmon-|crio-conmon-)")


def short_id(cid: str) -> str:
    return cid[:12] if re.fullmatch(_HEX64, cid) else cid


def container_id_from_cgroup(path: str | None) -> tuple[str, str] | None:
    """(id, runtime hint) from a cgroup path, or None for a host cgroup."""
    if not path:
        return None
    parts = [p for p in path.split("/") if p]
    for comp in reversed(parts[-3:]):
        if _NOT_CONTAINERS.match(comp):
            return None
        for runtime, rx in CGROUP_PATTERNS:
            m = rx.match(comp)
            if m:
                if runtime == "generic":
                    runtime = (
                        "docker" if "docker" in parts else ("kubernetes" if parts[0].startswith("kubepods") else "oci")
                    )
                return short_id(m.group(1)), runtime
    return None


@dataclass
class ContainerInfo:
    id: str
    full_id: str
    runtime: str
    bundle: str | None = None
    rootfs: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    created: int = 0
    container: Container = HOST
    k8s: K8s = NO_K8S


def _parse_created(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    from customhouse.runtime.events import parse_time

    try:
        return parse_time(value)
    except Exception:
        return 0


def load_state(state_path: str) -> ContainerInfo | None:
    """A container from a runtime's state.json (and its bundle's config.json when readable)."""
    try:
        with open(state_path, encoding="utf-8") as fh:
            st = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(st, dict):
        return None
    cid = str(st.get("id") or os.path.basename(os.path.dirname(state_path)))
    cfg = st.get("config") if isinstance(st.get("config"), dict) else {}
    assert isinstance(cfg, dict)
    annotations: dict[str, str] = {}
    bundle = None
    for label in cfg.get("labels") or []:
        if isinstance(label, str) and "=" in label:
            k, v = label.split("=", 1)
            if k == "bundle":
                bundle = v
            else:
                annotations[k] = v
    rootfs = cfg.get("rootfs") if isinstance(cfg.get("rootfs"), str) else None
    mounts: list[Mount] = []
    if bundle:
        try:
            with open(os.path.join(bundle, "config.json"), encoding="utf-8") as fh:
                spec = json.load(fh)
            if isinstance(spec, dict):
                for k, v in (spec.get("annotations") or {}).items():
                    annotations.setdefault(str(k), str(v))
                for m in spec.get("mounts") or []:
                    if isinstance(m, dict) and isinstance(m.get("destination"), str):
                        opts = [str(o) for o in m.get("options") or []]
                        mounts.append(
                            Mount(
                                str(m.get("source", "")),
                                m["destination"],
                                "ro" if "ro" in opts else "rw",
                                "ro" not in opts,
                            )
                        )
        except (OSError, ValueError, AttributeError):
            pass
    info = ContainerInfo(
        short_id(cid), cid, "runc", bundle, rootfs, annotations, mounts, _parse_created(st.get("created"))
    )
    finish(info)
    return info


def finish(info: ContainerInfo) -> None:
    """Build the event-model objects (Container, K8s) from what is known."""
    a = info.annotations
    name = a.get("io.kubernetes.cri.container-name") or a.get("io.kubernetes.container.name") or info.id
    image = (
        a.get("io.kubernetes.cri.image-name")
        or a.get("io.kubernetes.cri-o.ImageName")
        or a.get("org.opencontainers.image.ref.name")
        or a.get("customhouse.image")
    )
    info.container = Container(
        info.id, name, image=image, runtime=info.runtime, start_ts=info.created or None, mounts=info.mounts
    )
    pod = a.get("io.kubernetes.cri.sandbox-name") or a.get("io.kubernetes.pod.name")
    ns = a.get("io.kubernetes.cri.sandbox-namespace") or a.get("io.kubernetes.pod.namespace")
    uid = a.get("io.kubernetes.cri.sandbox-uid") or a.get("io.kubernetes.pod.uid")
    info.k8s = K8s(pod, ns, uid) if (pod or ns) else NO_K8S


class Attributor:
    """cgroup path -> ContainerInfo (None for the host), cached; runtime state rescanned on a miss.

    The cache must follow the runtimes' state, not outlive it: a container id can be deleted and
    created again (a new bundle, new annotations, new cgroup), and a cgroup can be seen before
    its runtime has written state.json (runc moves its init into the cgroup first). So a scan
    reloads state files that changed, drops containers whose state is gone (and every cached
    cgroup that pointed at them), and a "host" answer is only trusted for `rescan_interval`.
    """

    def __init__(self, roots: tuple[str, ...] = STATE_ROOTS, rescan_interval: float = 0.5) -> None:
        self.roots = roots
        self.rescan_interval = rescan_interval
        self._by_cgroup: dict[str, ContainerInfo | None] = {}
        self._host_seen: dict[str, float] = {}  # cgroup -> when it was last resolved to the host
        self._by_id: dict[str, ContainerInfo] = {}
        self._cg_to_id: dict[str, str] = {}
        self._state_sig: dict[str, tuple[str, int, int]] = {}  # state.json path -> (id, mtime_ns, inode)
        self._last_scan = -1e9

    def _scan(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_scan < self.rescan_interval:
            return
        self._last_scan = now
        present: set[str] = set()
        for root in self.roots:
            for state in glob.glob(os.path.join(root, "*", "state.json")):
                present.add(state)
                try:
                    stt = os.stat(state)
                except OSError:
                    continue
                old = self._state_sig.get(state)
                if old is not None and old[1:] == (stt.st_mtime_ns, stt.st_ino):
                    continue
                if old is not None:
                    self.forget(old[0])
                info = load_state(state)
                if info is None:
                    continue
                self.forget(info.id)  # the same id under another root, or created again
                self._by_id[info.id] = info
                self._state_sig[state] = (info.id, stt.st_mtime_ns, stt.st_ino)
                for cand in _state_cgroups(state):
                    self._cg_to_id[cand] = info.id
        for state in [s for s in self._state_sig if s not in present]:
            self.forget(self._state_sig.pop(state)[0])
        # Host answers may have been given before the state existed: resolve them again.
        self._by_cgroup = {k: v for k, v in self._by_cgroup.items() if v is not None}
        self._host_seen.clear()

    def lookup(self, cgroup: str | None) -> ContainerInfo | None:
        if not cgroup:
            return None
        if cgroup in self._by_cgroup:
            hit = self._by_cgroup[cgroup]
            if hit is not None or time.monotonic() - self._host_seen.get(cgroup, -1e9) < self.rescan_interval:
                return hit
        info = self._resolve(cgroup)
        if info is None or info.id not in self._by_id:
            self._scan()
            info = self._resolve(cgroup)
        self._by_cgroup[cgroup] = info
        if info is None:
            self._host_seen[cgroup] = time.monotonic()
        return info

    def _resolve(self, cgroup: str) -> ContainerInfo | None:
        cg = cgroup.rstrip("/") or "/"
        # runc with cgroupfs: the cgroup (or its parent, for sub-cgroups) is one runc made.
        probe = cg
        while probe and probe != "/":
            if probe in self._cg_to_id:
                return self._by_id.get(self._cg_to_id[probe])
            probe = probe.rsplit("/", 1)[0]
        hit = container_id_from_cgroup(cg)
        if hit is None:
            return None
        cid, runtime = hit
        known = self._by_id.get(cid)
        if known is not None:
            return known
        info = ContainerInfo(cid, cid, runtime)
        finish(info)
        return info

    def forget(self, cid: str) -> None:
        """Drop everything known about a container (its state is gone or was replaced)."""
        self._by_id.pop(cid, None)
        self._cg_to_id = {k: v for k, v in self._cg_to_id.items() if v != cid}
        self._by_cgroup = {k: v for k, v in self._by_cgroup.items() if v is None or v.id != cid}


_V1_HIERARCHIES = frozenset(
    ("unified", "systemd", "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls",
     "net_prio", "perf_event", "hugetlb", "rdma", "misc")
)  # fmt: skip


def _state_cgroups(state: str) -> list[str]:
    """The cgroup paths (as /proc/PID/cgroup shows them) a runtime's state.json records."""
    out: list[str] = []
    try:
        with open(state, encoding="utf-8") as fh:
            st = json.load(fh)
        for p in (st.get("cgroup_paths") or {}).values():
            if isinstance(p, str):
                # v2: /sys/fs/cgroup/<path>; v1/hybrid: /sys/fs/cgroup/<controller>/<path>
                rel = p.split("/sys/fs/cgroup", 1)[-1].rstrip("/")
                hier, _, below = rel.lstrip("/").partition("/")
                # Strip the hierarchy's directory only when it is one (a pure v2 path has none).
                cands = [rel, "/" + below] if hier in _V1_HIERARCHIES or "," in hier else [rel]
                out.extend(c for c in cands if c not in ("", "/"))
    except (OSError, ValueError, AttributeError):
        pass
    return out
