"""`customhouse runtime watch`: live kernel events -> rules -> alerts (and responses).

One thread, one `select` loop over two netlink sockets: the process connector (keeps the process
tree and container attribution exact for short-lived processes) and audit (the syscalls the rules
are about). Why one thread: events of a process must be seen in order (fork before its exec,
exec before its opens), and Python threads would only add locking, not throughput.

Audit records become `Event`s (`AuditConverter`): SYSCALL gives the call, result, ids and tty;
EXECVE the exact argv; CWD and PATH the absolute file name; SOCKADDR the peer; PROCTITLE the
argv of a process that did not exec under our eyes. The process tree adds ancestors, and the
attributor the container and pod. Every event goes through the rule engine (the same one as
`runtime replay`), optionally to a recording (`--record`, the replay format), and each alert to
the output and, when `customhouse/runtime/respond.py` exists, to its `Responder`.

Shutdown: SIGTERM/SIGINT set a flag; the loop ends and `finally` removes our audit rules and
restores the audit status, also when the loop raised.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from customhouse.runtime.attribution import Attributor
from customhouse.runtime.events import HOST, NO_K8S, Event, Fd, Process
from customhouse.runtime.sinks import METRICS, Metrics
from customhouse.runtime.sources import audit as au
from customhouse.runtime.sources.proc_connector import ProcConnector, ProcessTree, ProcInfo

log = logging.getLogger("customhouse.runtime.agent")

AT_FDCWD = 0xFFFFFF9C
_TCP_STATES_LISTEN = "0A"


def _tty_nr(tty: str | None) -> int:
    """Audit's "pts3"/"tty1"/"(none)" as the kernel's tty_nr (what Falco's proc.tty shows)."""
    if not tty or tty == "(none)":
        return 0
    if tty.startswith("pts") and tty[3:].isdigit():
        major, minor = 136 + int(tty[3:]) // 256, int(tty[3:]) % 256
    elif tty.startswith("tty") and tty[3:].isdigit():
        major, minor = 4, int(tty[3:])
    else:
        return 1
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def _int(v: str | None, base: int = 10) -> int | None:
    if v is None:
        return None
    try:
        return int(v, base)
    except ValueError:
        return None


def _socket_inode(pid: int, fd: int) -> str | None:
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    return link[8:-1] if link.startswith("socket:[") else None


def _socket_endpoints(pid: int, inode: str) -> tuple[str, str, int, str, int, bool] | None:
    """(l4proto, local ip, local port, remote ip, remote port, listening) from /proc/PID/net."""
    import ipaddress

    for proto in ("tcp", "udp", "tcp6", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{proto}", encoding="ascii") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[9] != inode:
                continue

            def ep(s: str) -> tuple[str, int]:
                h, p = s.split(":")
                raw = bytes.fromhex(h)
                if len(raw) == 4:
                    return str(ipaddress.IPv4Address(raw[::-1])), int(p, 16)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                addr = ipaddress.IPv6Address(words)
                return (str(addr.ipv4_mapped) if addr.ipv4_mapped else addr.compressed), int(p, 16)

            lip, lport = ep(f[1])
            rip, rport = ep(f[2])
            return proto.rstrip("6"), lip, lport, rip, rport, f[3] == _TCP_STATES_LISTEN and proto.startswith("tcp")
    return None


@dataclass
class Stats:
    """Plain counters, bumped per event; published to the metrics registry at most once a second.

    Why not increment the registry per event: its label handling costs several microseconds, and
    at thousands of events per second that is CPU the watched workload would pay for.
    """

    events: int = 0
    alerts: int = 0
    bad_events: int = 0
    connector_events: int = 0
    k8s_audit_events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    rule_matches: dict[tuple[str, str], int] = field(default_factory=dict)
    audit_lost_start: int | None = None  # the kernel's audit `lost` counter when we started
    audit_lost: int | None = None  # ... as last read
    audit_backlog: int | None = None
    audit_enobufs: int = 0
    netlink_enobufs: int = 0
    audit_late_records: int = 0
    audit_timed_out: int = 0
    audit_evicted: int = 0
    audit_garbage: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "rule_matches"}
        d["rule_matches"] = [{"rule": r, "priority": p, "count": n} for (r, p), n in sorted(self.rule_matches.items())]
        lost = self.kernel_lost()
        d["audit_lost_during"] = lost
        return d

    def kernel_lost(self) -> int:
        """Audit records the kernel dropped while we ran (backlog full, rate limit, no reader)."""
        if self.audit_lost is None or self.audit_lost_start is None:
            return 0
        return max(0, self.audit_lost - self.audit_lost_start)


class AuditConverter:
    """Assembled audit records -> `Event`, with the process tree and container attribution."""

    def __init__(self, tree: ProcessTree, attributor: Attributor) -> None:
        self.tree = tree
        self.attributor = attributor
        self._users: dict[tuple[str | None, int], str | None] = {}
        self._anc_cache: dict[int, tuple[tuple[Any, ...], Process]] = {}

    def user_name(self, rootfs: str | None, uid: int | None) -> str | None:
        if uid is None:
            return None
        key = (rootfs, uid)
        if key not in self._users:
            name = None
            try:
                with open(os.path.join(rootfs or "/", "etc/passwd"), encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        p = line.split(":")
                        if len(p) > 2 and p[2] == str(uid):
                            name = p[0]
                            break
            except OSError:
                pass
            self._users[key] = name if name is not None else ("root" if uid == 0 else None)
        return self._users[key]

    def convert(self, ae: au.AuditEvent) -> Event | None:
        sc = ae.syscall
        if sc is None:
            return None
        f = sc.fields
        nr = _int(f.get("syscall"))
        name = au.SYSCALLS_X86_64.get(nr) if nr is not None else None
        if name is None or f.get("arch", "c000003e").lower() != "c000003e":
            return None
        pid = _int(f.get("pid")) or 0
        ppid = _int(f.get("ppid")) or 0
        res = _int(f.get("exit"))
        if res is None:
            res = 0 if f.get("success") == "yes" else -1
        a = [_int(f.get(f"a{i}"), 16) or 0 for i in range(4)]
        info = self.tree.procs.get(pid) or self.tree.ensure(pid, ppid)
        if info.ppid != ppid and ppid:
            info.ppid = ppid
        cwd = ae.cwd.fields.get("cwd") if ae.cwd else None
        exepath = f.get("exe") if f.get("exe") not in (None, "(null)") else info.exepath
        argv: list[str]
        if name in ("execve", "execveat") and ae.execve is not None:
            argv = au.execve_argv(ae.execve)
            if res >= 0:  # the tree now knows the exact program, even if /proc is gone
                # cgroup as of this exec (runc exec joins the cgroup before it). Only the cgroup:
                # the connector's exec event already read /proc, and the records carry argv and cwd.
                if not info.exited:
                    self.tree.refresh_cgroup(info)
                info.args = argv
                info.exepath = exepath
        elif info.args:  # exact, from the EXECVE record or /proc (PROCTITLE may be cut short by the kernel)
            argv = info.args
        elif ae.proctitle is not None:
            argv = [x for x in ae.proctitle.fields.get("proctitle", "").split("\0") if x]
        else:
            argv = []
        if cwd:
            info.cwd = cwd
        cinfo = self.attributor.lookup(info.cgroup)
        if cinfo is None and not info.exited and self.tree.refresh_cgroup(info):
            cinfo = self.attributor.lookup(info.cgroup)  # moved into a container after its fork
        if cinfo is None:
            moved = self._moved_cgroup(info)
            if moved is not None:
                info.cgroup = moved
                cinfo = self.attributor.lookup(moved)
        uid = _int(f.get("uid"))
        auid = _int(f.get("auid"))
        rootfs = cinfo.rootfs if cinfo else None
        anc = [self._ancestor(p) for p in self.tree.ancestors(pid)]
        proc = Process(
            pid,
            f.get("comm") or (exepath.rsplit("/", 1)[-1] if exepath else None),
            ppid=ppid,
            sid=None if f.get("ses") in (None, "4294967295") else _int(f.get("ses")),
            exe=argv[0] if argv else None,
            exepath=exepath,
            args=argv[1:],
            cwd=cwd or info.cwd,
            tty=_tty_nr(f.get("tty")),
            uid=uid,
            gid=_int(f.get("gid")),
            user=self.user_name(rootfs, uid),
            loginuid=-1 if auid in (None, 4294967295) else auid,
            ancestors=anc,
        )
        if name in ("execve", "execveat") and res >= 0:
            self._exe_facts(proc, ae, rootfs, exepath)
        args: dict[str, Any] = {}
        fd = self._fd(name, a, res, pid, ae, cwd or info.cwd, args)
        if fd is not None and fd.name and res >= 0 and name in ("open", "openat", "openat2", "creat"):
            self._note_cgroup_join(info, fd.name, args.get("flags"))
        if name in ("setuid", "setgid"):
            args["uid" if name == "setuid" else "gid"] = a[0]
        elif name in ("setresuid", "setreuid"):
            args.update(ruid=a[0], euid=a[1], **({"suid": a[2]} if name == "setresuid" else {}))
        elif name in ("unshare", "setns"):
            args["flags"] = a[1] if name == "setns" else a[0]
        return Event(
            name,
            ae.ts,
            res=res,
            args=args,
            proc=proc,
            fd=fd,
            container=cinfo.container if cinfo else HOST,
            k8s=cinfo.k8s if cinfo else NO_K8S,
        )

    @staticmethod
    def _exe_facts(proc: Process, ae: au.AuditEvent, rootfs: str | None, exepath: str | None) -> None:
        """Setuid/setgid bits and modification time of the program just executed.

        The bits come from the PATH record of the executable (its inode mode as the kernel saw it at
        exec), so they are exact even when the file is gone or changed by the time we look. The
        modification time needs a stat: through the container's rootfs on the host, because the
        audit `exe` path is as the container sees it. Drift detection compares it with the
        container's start; a failed stat leaves it unknown (the rule then does not fire).
        """
        items = [r for r in ae.paths if r.fields.get("nametype") not in ("PARENT", "DELETE")]
        mode = _int(items[0].fields.get("mode"), 8) if items else None
        if mode is not None:
            proc.is_suid_exe = bool(mode & 0o4000)
            proc.is_sgid_exe = bool(mode & 0o2000)
        if exepath and exepath.startswith("/"):
            host_path = os.path.join(rootfs, exepath.lstrip("/")) if rootfs else exepath
            try:
                st = os.stat(host_path)
            except OSError:
                return
            proc.exe_mtime = st.st_mtime_ns
            if mode is None:
                proc.is_suid_exe = bool(st.st_mode & 0o4000)
                proc.is_sgid_exe = bool(st.st_mode & 0o2000)

    def _note_cgroup_join(self, info: ProcInfo, path: str, flags: int | None) -> None:
        """A process opened a container cgroup's `cgroup.procs` to write: its children are joining it.

        This is how runtimes put `runc exec`'s process into the container (the parent, on the
        host, writes the child's pid there). No event reports the move, and the child often runs
        and exits (`sh -c 'cat /etc/shadow'`) before /proc can be read, so without this its
        syscalls would be the host's. The open comes before the write in the audit stream, so
        the child's later records see the note (`_moved_cgroup`).
        """
        if os.path.basename(path) not in ("cgroup.procs", "tasks") or (flags is not None and flags & 3 == 0):
            return
        rel = os.path.dirname(path.split("/sys/fs/cgroup/", 1)[-1].lstrip("/"))
        below = rel.partition("/")[2]  # without the v1/hybrid hierarchy directory
        for cand in ("/" + below, "/" + rel):
            if cand != "/" and self.attributor.lookup(cand) is not None:
                info.joins = (info.cgroup, cand)
                return

    def _moved_cgroup(self, info: ProcInfo) -> str | None:
        """The container cgroup a host-attributed process was moved into by an ancestor (see above)."""
        for anc in self.tree.ancestors(info.pid, limit=4):
            if anc.joins is not None and anc.joins[0] == info.cgroup:
                return anc.joins[1]  # still in the cgroup it inherited from the mover: it moved with the child
        return None

    def _ancestor(self, p: ProcInfo) -> Process:
        """The ancestor as an event `Process`, reused while the ancestor is unchanged.

        Every event carries its whole ancestry (8 or more processes deep under a runtime), and the
        ancestors rarely change between events: rebuilding them was a large share of the agent's
        time per event under an exec-heavy load. Events only read their ancestors, never change them.
        """
        key = (p.ppid, p.exepath, id(p.args), len(p.args), p.cwd)
        hit = self._anc_cache.get(p.pid)
        if hit is not None and hit[0] == key:
            return hit[1]
        proc = Process(p.pid, p.name, ppid=p.ppid, exe=p.args[0] if p.args else None, exepath=p.exepath,
                       args=p.args[1:], cwd=p.cwd)  # fmt: skip
        if len(self._anc_cache) >= 50_000:
            self._anc_cache.clear()
        self._anc_cache[p.pid] = (key, proc)
        return proc

    def _path(self, ae: au.AuditEvent, cwd: str | None, dirfd: int | None) -> str | None:
        """The call's file: the PATH item that is not the parent directory, made absolute."""
        cands = [r for r in ae.paths if r.fields.get("nametype") not in ("PARENT", "DELETE")] or ae.paths
        if not cands:
            return None
        path = cands[0].fields.get("name")
        if not path or path == "(null)":
            return None
        if not path.startswith("/") and cwd and (dirfd is None or dirfd == AT_FDCWD):
            path = os.path.normpath(os.path.join(cwd, path))
        return path

    def _fd(self, name: str, a: list[int], res: int, pid: int, ae: au.AuditEvent, cwd: str | None,
            args: dict[str, Any]) -> Fd | None:  # fmt: skip
        if name in ("open", "openat", "openat2", "creat"):
            dirfd = a[0] if name in ("openat", "openat2") else None
            path = self._path(ae, cwd, dirfd)
            if name == "open":
                flags: int | None = a[1]
            elif name == "openat":
                flags = a[2]
            elif name == "creat":
                flags = 0o1101
            else:
                flags = _openat2_flags(pid, res)
            args["name"] = path
            if flags is not None:
                args["flags"] = flags
            return Fd(path, "file", num=res if res >= 0 else None)
        if name in ("execve", "execveat"):
            return None
        if name in ("connect", "bind", "listen", "accept", "accept4"):
            sockfd = res if name.startswith("accept") else a[0]
            fam, addr, port = ("unknown", None, None)
            if ae.sockaddr is not None:
                fam, addr, port = au.parse_sockaddr(ae.sockaddr.raw.get("saddr", "").strip('"'))
            if fam == "unix":
                args["addr"] = addr
                return Fd(addr, "unix", num=sockfd)
            ino = _socket_inode(pid, sockfd) if sockfd >= 0 else None
            ends = _socket_endpoints(pid, ino) if ino else None
            proto = ends[0] if ends else None
            ftype = (
                fam if fam in ("ipv4", "ipv6") else (("ipv6" if ends and ":" in ends[1] else "ipv4") if ends else None)
            )
            if name == "connect":
                lip, lport = (ends[1], ends[2]) if ends else (None, None)
                return Fd(None, ftype, num=sockfd, l4proto=proto, cip=lip, cport=lport, sip=addr, sport=port,
                          is_server=False)  # fmt: skip
            if name == "bind":
                return Fd(None, ftype, num=sockfd, l4proto=proto, sip=addr, sport=port, is_server=True)
            if ends is None:
                return Fd(None, ftype, num=sockfd, is_server=True)
            if name == "listen":
                return Fd(None, ftype, num=sockfd, l4proto=proto, sip=ends[1], sport=ends[2], is_server=True)
            return Fd(None, ftype, num=sockfd, l4proto=proto, sip=ends[1], sport=ends[2], cip=ends[3], cport=ends[4],
                      is_server=True)  # fmt: skip
        path = self._path(ae, cwd, None)
        if path is not None:
            if name == "mount":
                args["dir"] = path
            else:
                args["path" if not name.startswith("rename") else "oldpath"] = path
            return Fd(path, "file")
        return None


def _openat2_flags(pid: int, res: int) -> int | None:
    """openat2 passes its flags in a struct we cannot read afterwards: use /proc/PID/fdinfo."""
    if res < 0:
        return None
    try:
        with open(f"/proc/{pid}/fdinfo/{res}", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None


class Agent:
    """The watch loop. `sink(alert, event)` is called per alert; `record(event)` per event."""

    def __init__(
        self,
        engine: Any,
        sink: Callable[[Any], None],
        record: Callable[[Event], None] | None = None,
        all_opens: bool = False,
        audit_groups: tuple[str, ...] = tuple(au.RULE_GROUPS),
        metrics: Metrics | None = None,
        status_interval: float = 2.0,
        batch_window: float = 0.02,
        k8s_sources: Sequence[Callable[[], list[Event]]] = (),
        kernel: bool = True,
    ) -> None:
        self.engine = engine
        # Kubernetes audit sources: each call returns the events that arrived since the last one
        # (a log tailer's poll, a webhook's queue drained); they share the loop with the kernel's.
        self.k8s_sources = tuple(k8s_sources)
        self.kernel = kernel
        self.sink = sink
        self.record = record
        self.all_opens = all_opens
        self.audit_groups = audit_groups
        self.stop = False
        self.stats = Stats()
        self.tree = ProcessTree()
        self.attributor = Attributor()
        self.converter = AuditConverter(self.tree, self.attributor)
        self.assembler = au.Assembler()
        self._audit_time = 0.0  # wall-clock time of the latest audit event seen
        self.metrics = metrics if metrics is not None else METRICS
        self.status_interval = status_interval
        self.batch_window = batch_window
        self._next_publish = 0.0
        self._next_status = 0.0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop = True

    def run(self, duration: float | None = None, ready: Callable[[], None] | None = None) -> Stats:
        if not self.kernel:
            return self._run_k8s_only(duration, ready)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        conn: ProcConnector | None = None
        session: au.AuditSession | None = None
        try:
            conn = ProcConnector()
            self.tree.seed()
            session = au.AuditSession(au.default_rules(os.getpid(), self.audit_groups, self.all_opens))
            if session.saved is not None:
                self.stats.audit_lost_start = self.stats.audit_lost = session.saved.lost
            if ready is not None:
                ready()
            deadline = time.monotonic() + duration if duration else None
            while not self.stop:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                r, _, _ = select.select([conn.fileno(), session.fileno()], [], [], 0.1)
                if r and self.batch_window > 0:
                    # Let a batch gather before reading it. The kernel sends every audit record as
                    # its own datagram (7 per exec) and every fork/exec/exit as another: woken per
                    # message, the agent's wake-ups and context switches cost an exec-heavy workload
                    # more than everything we do with the messages. The sockets' buffers hold far
                    # more than a window's worth; the price is up to `batch_window` of alert latency.
                    time.sleep(self.batch_window)
                # The connector goes first, and again before every audit datagram: its events are
                # handled while the process is (most likely) still alive, which is when /proc can
                # tell its program and cgroup. Audit lags behind (a burst of records per syscall,
                # each converted), and a process that lived a millisecond is gone by then.
                self._drain_connector(conn)
                caught_up = True
                for _ in range(256 if (session.fileno() in r or session.sock.pending) else 0):
                    self._drain_connector(conn)
                    msgs = session.read()
                    if not msgs:
                        break
                    for m in msgs:
                        for ae in self.assembler.feed(m.type, m.payload):
                            self._emit(ae)
                else:  # the bound was reached, or audit had nothing: behind unless it was idle
                    caught_up = session.fileno() not in r and not session.sock.pending
                for ae in self.assembler.flush():
                    self._emit(ae)
                self._poll_k8s()
                # Exited processes stay until audit has passed their exit (see ProcessTree).
                self.tree.expire(horizon=None if caught_up else self._audit_time)
                self._housekeeping(conn, session)
            # Records already queued describe what happened before the stop: read them (bounded),
            # so that a signal right after an action does not lose its alert.
            drain_until = time.monotonic() + 2.0
            while time.monotonic() < drain_until:
                self._drain_connector(conn)
                msgs = session.read()
                if not msgs:
                    break
                for m in msgs:
                    for ae in self.assembler.feed(m.type, m.payload):
                        self._emit(ae)
            for ae in self.assembler.flush(force=True):
                self._emit(ae)
            self._poll_k8s()
            self._housekeeping(conn, session, force=True)
        finally:
            try:
                if session is not None:
                    session.close()
            finally:
                if conn is not None:
                    conn.close()
                for s, h in old.items():
                    signal.signal(s, h)
        return self.stats

    def _housekeeping(self, conn: ProcConnector, session: au.AuditSession, force: bool = False) -> None:
        """Refresh the loss counters (the kernel's audit status every `status_interval` s) and publish."""
        now = time.monotonic()
        if not force and now < self._next_publish:
            return
        self._next_publish = now + 1.0
        st = self.stats
        st.netlink_enobufs, st.audit_enobufs = conn.lost, session.sock.lost
        a = self.assembler
        st.audit_late_records, st.audit_timed_out, st.audit_evicted, st.audit_garbage = (
            a.late, a.timed_out, a.evicted, a.garbage
        )  # fmt: skip
        if force or now >= self._next_status:
            self._next_status = now + self.status_interval
            try:
                status = session.status()
            except (OSError, au.AuditError) as exc:  # a status we cannot read costs a metric, not the agent
                log.debug("audit status: %s", exc)
            else:
                st.audit_lost, st.audit_backlog = status.lost, status.backlog
        self.publish()

    def publish(self) -> None:
        """Copy the counters into the metrics registry (served by `--metrics-port`)."""
        m, st = self.metrics, self.stats
        m.set("customhouse_events_total", st.events, {"source": "syscall"})
        m.set("customhouse_events_total", st.connector_events, {"source": "proc_connector"})
        # k8s_audit events are counted by their sources as they arrive
        for (rule, prio), n in st.rule_matches.items():
            m.set("customhouse_rule_matches_total", n, {"rule": rule, "priority": prio})
        m.set("customhouse_events_dropped_total", st.bad_events, {"reason": "audit_unconverted"})
        m.set("customhouse_events_dropped_total", st.audit_late_records, {"reason": "audit_late_record"})
        m.set("customhouse_events_dropped_total", st.audit_garbage, {"reason": "audit_garbage_record"})
        m.set("customhouse_events_lost_total", st.kernel_lost(), {"source": "audit"})
        if st.audit_lost is not None:
            m.set("customhouse_audit_lost", st.audit_lost)
        m.set("customhouse_netlink_enobufs_total", st.audit_enobufs, {"socket": "audit"})
        m.set("customhouse_netlink_enobufs_total", st.netlink_enobufs, {"socket": "proc_connector"})

    def _drain_connector(self, conn: ProcConnector, limit: int = 256) -> None:
        for _ in range(limit):
            pes = conn.read()
            if not pes:
                return
            self.stats.connector_events += len(pes)
            for pe in pes:
                self.tree.handle(pe)

    def _run_k8s_only(self, duration: float | None, ready: Callable[[], None] | None) -> Stats:
        """`--no-kernel`: only the Kubernetes audit sources (no root, nothing of the kernel's touched)."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if ready is not None:
                ready()
            deadline = time.monotonic() + duration if duration else None
            while not self.stop and (deadline is None or time.monotonic() < deadline):
                if not self._poll_k8s():
                    time.sleep(0.1)
                now = time.monotonic()
                if now >= self._next_publish:
                    self._next_publish = now + 1.0
                    self.publish()
            self._poll_k8s()
            self.publish()
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
        return self.stats

    def _poll_k8s(self) -> int:
        """Events of the Kubernetes audit sources since the last poll, through the rules."""
        n = 0
        for source in self.k8s_sources:
            try:
                events = source()
            except Exception as exc:  # a source failing must not stop the agent
                self.stats.bad_events += 1
                log.debug("k8s audit source: %s", exc)
                continue
            for e in events:
                n += 1
                self.stats.k8s_audit_events += 1
                self._handle(e)
        return n

    def _emit(self, ae: au.AuditEvent) -> None:
        self._audit_time = max(self._audit_time, ae.ts / 1e9)
        try:
            e = self.converter.convert(ae)
        except Exception as exc:  # bad records must not stop the agent
            self.stats.bad_events += 1
            log.debug("audit event %s not converted: %s", ae.serial, exc)
            return
        if e is None:
            return
        self.stats.events += 1
        self._handle(e)

    def _handle(self, e: Event) -> None:
        self.stats.by_type[e.type] = self.stats.by_type.get(e.type, 0) + 1
        if self.record is not None:
            self.record(e)
        for alert in self.engine.evaluate(e):
            self.stats.alerts += 1
            key = (alert.rule.name, alert.rule.priority_name)
            self.stats.rule_matches[key] = self.stats.rule_matches.get(key, 0) + 1
            self.sink(alert)
