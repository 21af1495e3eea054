"""Automatic responses to alerts: kill the process, pause, stop or quarantine the container.

The agent calls `Responder.handle(alert, event)` for every alert. Which actions run is set per
rule name or per tag in a YAML file (`load_response_config`, format in
docs/runtime-responses.md); rules not listed get `default` (log only unless configured).

Safety comes first, because a response acts on what an event *says*, and events can be wrong
or crafted: container ids are checked against a strict pattern before they touch a path or a
command line; a process is only killed when it is still inside the container the event names
(checked through a pidfd, so the pid cannot be recycled between check and kill), never pid 1
of the host and never ourselves; a network quarantine refuses the host's network namespace.
Every action returns an `ActionResult` and is emitted as a record of its own (`result_doc`),
so the response is as visible as the alert that caused it. In dry-run mode the checks run but
nothing is changed, and the results say what would have been done.

Quarantine adds an nftables table `inet customhouse_quarantine` inside the container's network
namespace (`nsenter --net=... nft -f -`) and writes a state file
`<state_dir>/quarantine/<id>.json` recording the namespace (path, device and inode) so that
`release` removes exactly that table from exactly that namespace, even after a restart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import InputError
from customhouse.runtime.events import Event, format_time_iso
from customhouse.runtime.sinks import METRICS, Metrics

ACTIONS = ("log", "kill", "pause", "stop", "quarantine", "block_exec")
QUARANTINE_TABLE = "customhouse_quarantine"
QUARANTINE_FAMILY = "inet"
# Container ids reach paths (/run/runc/<id>) and argv: allow only what runtimes generate.
_CID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CMD_TIMEOUT = 15.0

# Drop everything in and out of the namespace except loopback. Loopback stays open because it
# never leaves the namespace, and cutting it tends to hang the workload (and in-container
# forensics) rather than contain it. Priority -300 runs before any table the container has.
QUARANTINE_RULESET = f"""table {QUARANTINE_FAMILY} {QUARANTINE_TABLE} {{
    chain input {{
        type filter hook input priority -300; policy drop;
        iif "lo" accept
    }}
    chain output {{
        type filter hook output priority -300; policy drop;
        oif "lo" accept
    }}
    chain forward {{
        type filter hook forward priority -300; policy drop;
    }}
}}
"""


@dataclass(frozen=True)
class ActionResult:
    """What one action did (or would have done). `ok` false means it failed or was refused."""

    action: str
    ok: bool
    rule: str = ""
    container_id: str = ""
    pid: int | None = None
    dry_run: bool = False
    detail: str = ""
    error: str = ""
    ts: int = field(default_factory=time.time_ns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def result_doc(r: ActionResult, hostname: str = "") -> dict[str, Any]:
    """The result as a Falco-shaped record (source "response"), for the same sinks as alerts."""
    state = "would " + r.action if r.dry_run else (r.action + (" done" if r.ok else " failed"))
    what = f"container={r.container_id or '-'} pid={r.pid if r.pid is not None else '-'}"
    msg = r.detail if r.ok else (r.error or r.detail)
    return {
        "hostname": hostname,
        "output": f"Response {state} for rule '{r.rule}' ({what}): {msg}",
        "output_fields": {
            "container.id": r.container_id or None,
            "evt.time": r.ts,
            "proc.pid": r.pid,
            "response.action": r.action,
            "response.detail": r.detail,
            "response.dry_run": r.dry_run,
            "response.error": r.error or None,
            "response.ok": r.ok,
            "response.rule": r.rule,
        },
        "priority": "Notice" if r.ok else "Error",
        "rule": f"customhouse response: {r.action}",
        "source": "response",
        "tags": sorted(("response", r.action)),
        "time": format_time_iso(r.ts),
    }


# ------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class ResponseConfig:
    """Actions per rule name and per tag; `default` for alerts matching neither."""

    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default: tuple[str, ...] = ("log",)
    dry_run: bool = False

    def actions_for(self, rule: str, tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """A rule's own entry wins; else every matching tag's actions, in file order; else default."""
        if rule in self.rules:
            return self.rules[rule]
        out: list[str] = []
        tagset = set(tags)
        for tag, acts in self.tags.items():
            if tag in tagset:
                out += [a for a in acts if a not in out]
        return tuple(out) if out else self.default


def _actions(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ValueError(f"{where}: expected an action or a list of actions")
    for a in value:
        if a not in ACTIONS:
            raise ValueError(f"{where}: unknown action {a!r} (use {', '.join(ACTIONS)})")
    return tuple(dict.fromkeys(value))


def parse_response_config(doc: Any) -> ResponseConfig:
    """ResponseConfig from the parsed YAML document; ValueError names the bad key."""
    if doc is None:
        return ResponseConfig()
    if not isinstance(doc, dict):
        raise ValueError("expected a mapping with rules, tags, default, dry_run")
    unknown = set(doc) - {"rules", "tags", "default", "dry_run"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (expected rules, tags, default, dry_run)")
    maps: dict[str, dict[str, tuple[str, ...]]] = {}
    for key in ("rules", "tags"):
        m = doc.get(key) or {}
        if not isinstance(m, dict):
            raise ValueError(f"{key}: expected a mapping of {key[:-1]} -> actions")
        maps[key] = {str(k): _actions(v, f"{key}.{k}") for k, v in m.items()}
    dry = doc.get("dry_run", False)
    if not isinstance(dry, bool):
        raise ValueError("dry_run: expected true or false")
    default = _actions(doc["default"], "default") if "default" in doc else ("log",)
    return ResponseConfig(maps["rules"], maps["tags"], default, dry)


def load_response_config(path: Path | str) -> ResponseConfig:
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read response config: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML: {exc}") from None
    try:
        return parse_response_config(doc)
    except ValueError as exc:
        raise InputError(f"{p}: {exc}") from None


# ------------------------------------------------------------------ helpers


class _Refused(Exception):
    """An action that must not run (unsafe target, missing container): reported, not raised."""


def valid_container_id(cid: str | None) -> bool:
    return bool(cid) and cid not in ("host",) and _CID_RE.match(cid or "") is not None


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=_CMD_TIMEOUT, check=False)


def _cgroup_lines(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []


def _in_container_cgroup(pid: int, cid: str) -> bool:
    """True when some cgroup path component of `pid` names container `cid`.

    Component match, not substring: "t1" must not match "/t10". Runtimes name the component the
    id itself (runc), "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>", "libpod-<id>".
    """
    pat = re.compile(rf"(?:^|[-:]){re.escape(cid)}(?:\.scope)?$")
    for line in _cgroup_lines(pid):
        path = line.split(":", 2)[-1]
        if any(pat.search(comp) for comp in path.split("/") if comp):
            return True
    return False


def _ns_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _host_net_keys() -> set[tuple[int, int]]:
    """Network namespaces that must never be quarantined: pid 1's (when visible) and ours."""
    keys = set()
    for p in ("/proc/1/ns/net", "/proc/self/ns/net"):
        try:
            keys.add(_ns_key(p))
        except OSError:
            continue  # /proc/1 can be hidden from us (hardened /proc); ours always resolves
    return keys


class Responder:
    """Runs the configured actions for alerts. See the module docstring for the guarantees.

    `runc` is the runc binary and `runc_root` its `--root` (None: runc's default, /run/runc),
    where the container's state is read from. `emit` receives each result's record
    (`result_doc`); `metrics` counts `customhouse_response_actions_total{action,result}`.
    """

    def __init__(
        self,
        config: ResponseConfig | None = None,
        *,
        state_dir: Path | None = None,
        runc: str = "runc",
        runc_root: Path | str | None = None,
        emit: Callable[[dict[str, Any]], None] | None = None,
        metrics: Metrics | None = None,
        hostname: str = "",
        dry_run: bool | None = None,
    ) -> None:
        self.config = config if config is not None else ResponseConfig()
        self.dry_run = self.config.dry_run if dry_run is None else dry_run
        self.state_dir = state_dir if state_dir is not None else default_state_dir()
        self.runc = runc
        self.runc_root = Path(runc_root) if runc_root is not None else None
        self.emit = emit
        self.metrics = metrics if metrics is not None else METRICS
        self.hostname = hostname
        self._guard: Any = None  # ExecGuard, created by the first block_exec

    # -------------------------------------------------------------- entry point

    def handle(self, alert: Any, event: Event | None = None) -> list[ActionResult]:
        """Run the actions configured for `alert`'s rule against `event` (default: alert.event)."""
        e = event if event is not None else alert.event
        rule = alert.rule
        results: list[ActionResult] = []
        for action in self.config.actions_for(rule.name, tuple(rule.tags)):
            r = self.run_action(action, e, rule.name)
            results.append(r)
        return results

    def run_action(self, action: str, e: Event, rule: str = "") -> ActionResult:
        cid = e.container.id or ""
        pid = e.proc.pid
        try:
            fn = getattr(self, "_do_" + action)
            ok_detail: str = fn(e, cid, pid)
            r = ActionResult(action, True, rule, cid, pid, self.dry_run, ok_detail)
        except _Refused as exc:
            r = ActionResult(action, False, rule, cid, pid, self.dry_run, "refused", str(exc))
        except (OSError, subprocess.SubprocessError) as exc:
            r = ActionResult(action, False, rule, cid, pid, self.dry_run, "error", str(exc))
        except Exception as exc:
            r = ActionResult(action, False, rule, cid, pid, self.dry_run, "internal error", repr(exc))
        self._record(r)
        return r

    def _record(self, r: ActionResult) -> None:
        result = "dry_run" if r.dry_run else ("ok" if r.ok else "failed")
        self.metrics.inc("customhouse_response_actions_total", {"action": r.action, "result": result})
        if self.emit is not None:
            try:
                self.emit(result_doc(r, self.hostname))
            except Exception:
                self.metrics.inc("customhouse_sink_errors_total", {"sink": "response"})

    # -------------------------------------------------------------- runc

    def _runc(self, *args: str) -> list[str]:
        base = [self.runc]
        if self.runc_root is not None:
            base += ["--root", str(self.runc_root)]
        return base + list(args)

    def runc_state(self, cid: str) -> dict[str, Any] | None:
        """runc's own state file for `cid` (init pid, cgroup and namespace paths), or None."""
        root = self.runc_root if self.runc_root is not None else Path("/run/runc")
        try:
            doc = json.loads((root / cid / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def _container(self, cid: str) -> str:
        if not valid_container_id(cid):
            raise _Refused(f"not a container: {cid or 'no container id'}")
        return cid

    # -------------------------------------------------------------- actions

    def _do_log(self, e: Event, cid: str, pid: int | None) -> str:
        return "alert logged"

    def _do_block_exec(self, e: Event, cid: str, pid: int | None) -> str:
        """From now on, deny the exec of files changed after the container started (fanotify).

        The alert that triggers this comes after an exec, so it cannot stop that one; it closes the
        container to the next dropped binary. The guard lives as long as the responder's process
        (docs/runtime-agent.md, "Drift prevention"); an already guarded container is a no-op.
        """
        from customhouse.runtime.events import parse_time
        from customhouse.runtime.execguard import ExecGuard, ExecGuardError

        self._container(cid)
        st = self.runc_state(cid)
        if st is None:
            raise _Refused(f"no runc state for container {cid}")
        try:
            init_pid, created = int(st["init_process_pid"]), parse_time(str(st["created"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise _Refused(f"runc state of {cid} unreadable: {exc}") from None
        what = f"exec of files changed after the container started ({st['created']})"
        if self.dry_run:
            return f"would deny {what} in container {cid}"
        try:
            if self._guard is None:
                self._guard = ExecGuard().start(scan=False)
            g = self._guard.by_cid.get(cid)
            if g is None or g.pid != init_pid:
                self._guard.guard(cid, init_pid, created)
        except ExecGuardError as exc:
            raise _Refused(str(exc)) from None
        return f"denying {what} in container {cid}"

    def _do_kill(self, e: Event, cid: str, pid: int | None) -> str:
        self._container(cid)
        if type(pid) is not int or pid <= 1:
            raise _Refused(f"refusing to kill pid {pid}")
        if pid == os.getpid():
            raise _Refused("refusing to kill the agent itself")
        use_pidfd = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")
        fd = -1
        if use_pidfd:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                raise _Refused(f"process {pid} is gone") from None
            except OSError:
                fd = -1  # kernel without pidfd: fall back to kill(2)
        try:
            # Checked after the pidfd is held: the pid now cannot be reused by another process.
            if not _in_container_cgroup(pid, cid):
                raise _Refused(f"process {pid} is not in container {cid}")
            if self.dry_run:
                return f"would send SIGKILL to pid {pid} in container {cid}"
            if fd >= 0:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                how = "pidfd"
            else:
                os.kill(pid, signal.SIGKILL)
                how = "kill"
        except ProcessLookupError:
            raise _Refused(f"process {pid} is gone") from None
        finally:
            if fd >= 0:
                os.close(fd)
        return f"sent SIGKILL to pid {pid} in container {cid} ({how})"

    def _do_pause(self, e: Event, cid: str, pid: int | None) -> str:
        self._container(cid)
        if self.dry_run:
            return f"would pause container {cid}"
        p = _run(self._runc("pause", cid))
        if p.returncode == 0:
            return f"paused container {cid} (runc pause)"
        # Not a runc container we can see (or runc refused): freeze its cgroup directly.
        cg = self._freezer_file(cid, pid)
        if cg is None:
            raise _Refused(f"cannot pause {cid}: runc pause failed ({p.stderr.strip()}) and no freezer cgroup found")
        path, value = cg
        path.write_text(value)
        return f"paused container {cid} ({path} = {value})"

    def _freezer_file(self, cid: str, pid: int | None) -> tuple[Path, str] | None:
        """The cgroup v2 `cgroup.freeze` or v1 `freezer.state` of the container's cgroup."""
        state = self.runc_state(cid)
        if state is not None:
            paths = state.get("cgroup_paths") or {}
            v1 = paths.get("freezer")
            if v1 and Path(v1, "freezer.state").exists():
                return Path(v1, "freezer.state"), "FROZEN"
            v2 = paths.get("")
            if v2 and Path(v2, "cgroup.freeze").exists():
                return Path(v2, "cgroup.freeze"), "1"
        if type(pid) is int and pid > 1 and _in_container_cgroup(pid, cid):
            for line in _cgroup_lines(pid):
                hid, ctrl, path = line.split(":", 2)
                if path in ("", "/"):
                    continue
                if ctrl == "freezer":
                    f = Path("/sys/fs/cgroup/freezer" + path, "freezer.state")
                    if f.exists():
                        return f, "FROZEN"
                if hid == "0":
                    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                        f = Path(base + path, "cgroup.freeze")
                        if f.exists():
                            return f, "1"
        return None

    def _do_stop(self, e: Event, cid: str, pid: int | None) -> str:
        self._container(cid)
        if self.dry_run:
            return f"would stop container {cid} (runc kill {cid} KILL)"
        p = _run(self._runc("kill", cid, "KILL"))
        if p.returncode != 0:
            raise _Refused(f"runc kill {cid} KILL failed: {p.stderr.strip() or p.returncode}")
        return f"stopped container {cid} (runc kill KILL)"

    def _netns_of(self, cid: str, pid: int | None) -> tuple[str, str, int | None]:
        """(path to enter now, persistent path or "", init pid) of the container's network namespace."""
        state = self.runc_state(cid)
        persistent = ""
        init_pid: int | None = None
        if state is not None:
            ip = state.get("init_process_pid")
            init_pid = ip if type(ip) is int and ip > 1 else None
            for ns in (state.get("config") or {}).get("namespaces") or []:
                if isinstance(ns, dict) and ns.get("type") in ("NEWNET", "network") and ns.get("path"):
                    persistent = str(ns["path"])
        if init_pid is None and type(pid) is int and pid > 1 and _in_container_cgroup(pid, cid):
            init_pid = pid
        if init_pid is None and not persistent:
            raise _Refused(f"cannot find the network namespace of container {cid}")
        now = f"/proc/{init_pid}/ns/net" if init_pid is not None else persistent
        if _ns_key(now) in _host_net_keys():
            raise _Refused(f"container {cid} shares the host network namespace: refusing to quarantine it")
        return now, persistent, init_pid

    def _do_quarantine(self, e: Event, cid: str, pid: int | None) -> str:
        self._container(cid)
        path, persistent, init_pid = self._netns_of(cid, pid)
        dev, ino = _ns_key(path)
        if self.dry_run:
            return f"would add nftables table {QUARANTINE_FAMILY} {QUARANTINE_TABLE} in netns {path} (inode {ino})"
        exists = _run(["nsenter", f"--net={path}", "nft", "list", "table", QUARANTINE_FAMILY, QUARANTINE_TABLE])
        if exists.returncode == 0:
            return f"container {cid} already quarantined (table present in netns inode {ino})"
        p = _run(["nsenter", f"--net={path}", "nft", "-f", "-"], stdin=QUARANTINE_RULESET)
        if p.returncode != 0:
            raise _Refused(f"nft failed in netns {path}: {p.stderr.strip() or p.returncode}")
        record = {
            "container_id": cid,
            "netns_path": persistent,
            "pid": init_pid,
            "netns_dev": dev,
            "netns_inode": ino,
            "family": QUARANTINE_FAMILY,
            "table": QUARANTINE_TABLE,
            "runc_root": str(self.runc_root) if self.runc_root is not None else "",
            "created": format_time_iso(time.time_ns()),
        }
        _write_state(self.state_dir, cid, record)
        return f"quarantined container {cid}: table {QUARANTINE_FAMILY} {QUARANTINE_TABLE} in netns inode {ino}"

    # -------------------------------------------------------------- release

    def release(self, cid: str) -> ActionResult:
        """Undo a quarantine recorded in the state dir; the result is recorded like any action."""
        try:
            detail = self._release(cid)
            r = ActionResult("release", True, "", cid, None, self.dry_run, detail)
        except _Refused as exc:
            r = ActionResult("release", False, "", cid, None, self.dry_run, "refused", str(exc))
        except (OSError, subprocess.SubprocessError) as exc:
            r = ActionResult("release", False, "", cid, None, self.dry_run, "error", str(exc))
        self._record(r)
        return r

    def _release(self, cid: str) -> str:
        self._container(cid)
        f = state_file(self.state_dir, cid)
        try:
            rec = json.loads(f.read_text())
        except OSError:
            raise _Refused(f"no quarantine recorded for {cid} in {f.parent}") from None
        except ValueError:
            raise _Refused(f"{f}: corrupt quarantine record") from None
        want = (rec.get("netns_dev"), rec.get("netns_inode"))
        candidates: list[str] = []
        if rec.get("netns_path"):
            candidates.append(str(rec["netns_path"]))
        state = self.runc_state(cid)
        if state is not None and type(state.get("init_process_pid")) is int:
            candidates.append(f"/proc/{state['init_process_pid']}/ns/net")
        if type(rec.get("pid")) is int:
            candidates.append(f"/proc/{rec['pid']}/ns/net")
        path = None
        for c in candidates:
            try:
                if _ns_key(c) == want:
                    path = c
                    break
            except OSError:
                continue
        if path is None:
            if not self.dry_run:
                f.unlink(missing_ok=True)
            return f"network namespace of {cid} no longer exists: nothing to undo, record removed"
        if self.dry_run:
            return f"would delete table {rec['family']} {rec['table']} in netns {path}"
        p = _run(["nsenter", f"--net={path}", "nft", "delete", "table", str(rec["family"]), str(rec["table"])])
        if p.returncode != 0 and "No such file" not in p.stderr:
            raise _Refused(f"nft delete table failed in netns {path}: {p.stderr.strip() or p.returncode}")
        f.unlink(missing_ok=True)
        return f"released container {cid}: table {rec['family']} {rec['table']} deleted in netns {path}"


def default_state_dir() -> Path:
    """`$CUSTOMHOUSE_STATE_DIR`, else `<cache dir>/runtime/state`: where quarantine records live."""
    env = os.environ.get("CUSTOMHOUSE_STATE_DIR")
    if env:
        return Path(env)
    from customhouse.cachedir import default_cache_dir

    return default_cache_dir() / "runtime" / "state"


def state_file(state_dir: Path, cid: str) -> Path:
    return state_dir / "quarantine" / f"{cid}.json"


def _write_state(state_dir: Path, cid: str, record: dict[str, Any]) -> None:
    f = state_file(state_dir, cid)
    f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = f.with_name(f.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, f)


def quarantined(state_dir: Path | None = None) -> list[str]:
    """Container ids with a quarantine record."""
    d = (state_dir if state_dir is not None else default_state_dir()) / "quarantine"
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []
