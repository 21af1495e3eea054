"""The netlink process connector (fork, exec, exit, uid/gid) and the process tree built from it.

Why the connector: /proc is a snapshot, and a process that forks, execs and exits within a few
milliseconds is gone before anyone reads it. The connector reports every fork and exec as it
happens, so the tree knows each process's parent and container even when /proc is already empty:
a child inherits its parent's exe, cmdline and container at fork, and at exec the new program's
details are read from /proc when it is still there (or filled in later by the audit EXECVE record,
which carries the exact argv).

Layouts (uapi/linux/connector.h, uapi/linux/cn_proc.h): a netlink header, `struct cn_msg`
(id.idx, id.val, seq, ack, len, flags), then `struct proc_event` (what, cpu, timestamp_ns, and
a union per event). ENOBUFS on receive means the kernel dropped events for us: it is counted in
`lost` and the socket is kept.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from customhouse.runtime.sources import netlink

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

CN_MSG = struct.Struct("=IIIIHH")  # id.idx, id.val, seq, ack, len, flags
PROC_EVENT_HDR = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_UID = 0x00000004
PROC_EVENT_GID = 0x00000040
PROC_EVENT_EXIT = 0x80000000
_FORK = struct.Struct("=iiii")  # parent_pid, parent_tgid, child_pid, child_tgid
_EXEC = struct.Struct("=ii")  # process_pid, process_tgid
_ID = struct.Struct("=iiII")  # process_pid, process_tgid, r (ruid/rgid), e (euid/egid)
_EXIT = struct.Struct("=iiII")  # process_pid, process_tgid, exit_code, exit_signal


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One decoded connector event; `pid`/`ppid` are process (thread group) ids."""

    what: str  # fork, exec, exit, uid, gid
    ts: int  # kernel monotonic ns
    pid: int
    ppid: int = 0  # fork: the parent
    tid: int = 0  # the thread that did it (fork: the child thread)
    ruid: int = -1  # uid/gid events: real and effective ids
    euid: int = -1
    exit_code: int = 0


def parse_cn_message(payload: bytes) -> ProcEvent | None:
    """Decode one netlink payload (cn_msg + proc_event); None for anything short, foreign or unknown."""
    if len(payload) < CN_MSG.size + PROC_EVENT_HDR.size:
        return None
    idx, val, _seq, _ack, length, _flags = CN_MSG.unpack_from(payload, 0)
    if idx != CN_IDX_PROC or val != CN_VAL_PROC:
        return None
    data = payload[CN_MSG.size : CN_MSG.size + length]
    if len(data) < PROC_EVENT_HDR.size:
        return None
    what, _cpu, ts = PROC_EVENT_HDR.unpack_from(data, 0)
    body = data[PROC_EVENT_HDR.size :]
    try:
        if what == PROC_EVENT_FORK:
            _ppid, ptgid, cpid, ctgid = _FORK.unpack_from(body, 0)
            if cpid != ctgid:
                return ProcEvent("clone_thread", ts, ctgid, ptgid, cpid)
            return ProcEvent("fork", ts, ctgid, ptgid, cpid)
        if what == PROC_EVENT_EXEC:
            pid, tgid = _EXEC.unpack_from(body, 0)
            return ProcEvent("exec", ts, tgid, tid=pid)
        if what in (PROC_EVENT_UID, PROC_EVENT_GID):
            pid, tgid, r, e = _ID.unpack_from(body, 0)
            return ProcEvent("uid" if what == PROC_EVENT_UID else "gid", ts, tgid, tid=pid, ruid=r, euid=e)
        if what == PROC_EVENT_EXIT:
            pid, tgid, code, _sig = _EXIT.unpack_from(body, 0)
            return ProcEvent("exit" if pid == tgid else "thread_exit", ts, tgid, tid=pid, exit_code=code)
    except struct.error:
        return None
    return None


def parse_datagram(buf: bytes) -> tuple[list[ProcEvent], int]:
    """All events in a datagram and the number of messages or bytes that were garbage."""
    msgs, rest = netlink.parse(buf)
    out: list[ProcEvent] = []
    bad = 1 if rest else 0
    for m in msgs:
        if m.type in (netlink.NLMSG_DONE, 0):
            ev = parse_cn_message(m.payload)
            if ev is None:
                bad += 1
            else:
                out.append(ev)
    return out, bad


@dataclass(slots=True)
class ProcInfo:
    """What the tree knows of one process. `cgroup` is the unified (v2) cgroup path."""

    pid: int
    ppid: int
    exepath: str | None = None
    args: list[str] = field(default_factory=list)  # full argv, argv[0] first
    cwd: str | None = None
    cgroup: str | None = None
    uid: int | None = None
    exited: float = 0.0  # wall-clock time of exit, 0 while alive
    joins: tuple[str | None, str] | None = None  # (own cgroup, container cgroup) it moves children into

    @property
    def name(self) -> str | None:
        # argv[0]'s basename is what the kernel's comm shows after exec ("sh" for busybox's sh).
        if self.args and self.args[0]:
            return self.args[0].rsplit("/", 1)[-1][:15]
        return self.exepath.rsplit("/", 1)[-1] if self.exepath else None


def read_cgroup(pid: int, proc: str = "/proc") -> str | None:
    """The unified-hierarchy cgroup path of a process ("0::/path"), or the first v1 line's path."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    first = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            return parts[2]
        if first is None:
            first = parts[2]
    return first


def read_proc(pid: int, proc: str = "/proc") -> tuple[str | None, list[str], str | None, int | None]:
    """(exe, argv, cwd, ppid) from /proc, each None/empty when the process is gone or hidden."""
    base = f"{proc}/{pid}"
    exe = cwd = None
    args: list[str] = []
    ppid = None
    try:
        exe = os.readlink(f"{base}/exe")
    except OSError:
        pass
    try:
        with open(f"{base}/cmdline", "rb") as fh:
            raw = fh.read(65536)
        args = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]] if raw else []
    except OSError:
        pass
    try:
        cwd = os.readlink(f"{base}/cwd")
    except OSError:
        pass
    try:
        with open(f"{base}/stat", "rb") as fh:
            stat = fh.read()
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return exe, args, cwd, ppid


class ProcessTree:
    """pid -> ProcInfo, kept from connector events; exited processes linger until audit has caught up.

    Lingering matters because audit records for a process's last syscalls can arrive after its
    exit event; they must still find its parent and container. How late they arrive depends on
    load (audit is read and converted far slower than the connector), so an exited process is
    dropped once the audit stream has passed its exit by `grace` seconds (`expire(horizon=...)`:
    the time of the latest audit record), never by the wall clock alone; `max_linger` only bounds
    memory when audit stalls.
    """

    def __init__(
        self, proc: str = "/proc", grace: float = 2.0, max_size: int = 200_000, max_linger: float = 300.0
    ) -> None:
        self.proc = proc
        self.grace = grace
        self.max_linger = max_linger
        self.max_size = max_size
        self.procs: dict[int, ProcInfo] = {}
        self._dead: deque[tuple[float, int]] = deque()

    def seed(self) -> None:
        """Load the processes alive now (start-up), so existing containers are attributed."""
        try:
            names = os.listdir(self.proc)
        except OSError:
            return
        for n in names:
            if n.isdigit():
                self.ensure(int(n))

    def ensure(self, pid: int, ppid: int | None = None) -> ProcInfo:
        """The known process, or one built from /proc (parent `ppid` when /proc has nothing)."""
        info = self.procs.get(pid)
        if info is not None:
            return info
        exe, args, cwd, real_ppid = read_proc(pid, self.proc)
        parent_pid = real_ppid if real_ppid is not None else (ppid or 0)
        info = ProcInfo(pid, parent_pid, exe, args, cwd, read_cgroup(pid, self.proc))
        if info.cgroup is None and parent_pid in self.procs:
            info.cgroup = self.procs[parent_pid].cgroup
        self._put(info)
        return info

    def _put(self, info: ProcInfo) -> None:
        if len(self.procs) >= self.max_size:
            self.expire(force=True)
        self.procs[info.pid] = info

    def on_fork(self, pid: int, ppid: int) -> ProcInfo:
        parent = self.procs.get(ppid) or self.ensure(ppid)
        info = ProcInfo(pid, ppid, parent.exepath, list(parent.args), parent.cwd, parent.cgroup, parent.uid)
        self._put(info)
        return info

    def on_exec(self, pid: int) -> ProcInfo:
        """Refresh from /proc; anything /proc no longer has stays as inherited from the parent."""
        info = self.procs.get(pid) or self.ensure(pid)
        exe, args, cwd, _ = read_proc(pid, self.proc)
        if exe is not None:
            info.exepath = exe
        if args:
            info.args = args
        if cwd is not None:
            info.cwd = cwd
        self.refresh_cgroup(info)
        return info

    def refresh_cgroup(self, info: ProcInfo) -> bool:
        """Re-read the process's cgroup while it is alive; True when it changed.

        A child inherits its parent's cgroup at fork, but a runtime moves it afterwards
        (`runc exec`: the child of runc on the host is written into the container's cgroup and
        only then sets its ids and execs). No event reports the move, so every later sign of
        life (uid/gid change, exec, a syscall) is a chance to see it before the process is gone.
        """
        cg = read_cgroup(info.pid, self.proc)
        if cg is None or cg == info.cgroup:
            return False
        info.cgroup = cg
        return True

    def on_exit(self, pid: int) -> None:
        info = self.procs.get(pid)
        if info is not None and not info.exited:
            info.exited = time.time()  # wall clock, comparable with audit record times
            self._dead.append((info.exited, pid))

    def handle(self, ev: ProcEvent) -> None:
        if ev.what == "fork":
            self.on_fork(ev.pid, ev.ppid)
        elif ev.what == "exec":
            self.on_exec(ev.pid)
        elif ev.what == "exit":
            self.on_exit(ev.pid)
        elif ev.what in ("uid", "gid") and ev.pid in self.procs:
            info = self.procs[ev.pid]
            if ev.what == "uid":
                info.uid = ev.euid
            self.refresh_cgroup(info)  # runtimes set the ids after moving the process (see refresh_cgroup)

    def expire(self, force: bool = False, horizon: float | None = None) -> None:
        """Drop exited processes that audit has passed by `grace` (horizon: audit's time; None: now)."""
        now = time.time()
        upto = now if horizon is None else horizon
        while self._dead and (
            force or upto - self._dead[0][0] > self.grace or now - self._dead[0][0] > self.max_linger
        ):
            t, pid = self._dead.popleft()
            info = self.procs.get(pid)
            if info is not None and info.exited == t:
                del self.procs[pid]
            force = False

    def ancestors(self, pid: int, limit: int = 16) -> list[ProcInfo]:
        """Parent first; stops at pid 0/1's parent, a loop, or an unknown pid."""
        out: list[ProcInfo] = []
        seen = {pid}
        info = self.procs.get(pid)
        while info is not None and len(out) < limit and info.ppid > 0 and info.ppid not in seen:
            seen.add(info.ppid)
            info = self.procs.get(info.ppid)
            if info is None:
                break
            out.append(info)
        return out


class ProcConnector:
    """The multicast subscription; `read()` returns the events of one datagram."""

    def __init__(self, rcvbuf: int = 4 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        self.lost = 0  # ENOBUFS: the kernel dropped events for us
        self.garbage = 0
        netlink.set_rcvbuf(self.sock, rcvbuf)
        self.sock.bind((os.getpid(), CN_IDX_PROC))
        self._send(PROC_CN_MCAST_LISTEN)

    def _send(self, op: int) -> None:
        data = struct.pack("=I", op)
        cn = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(data), 0) + data
        self.sock.send(netlink.pack(netlink.NLMSG_DONE, cn, flags=0, pid=os.getpid()))

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[ProcEvent]:
        try:
            buf = self.sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.lost += 1
                return []
            raise
        events, bad = parse_datagram(buf)
        self.garbage += bad
        return events

    def close(self) -> None:
        try:
            self._send(PROC_CN_MCAST_IGNORE)
        except OSError:
            pass
        self.sock.close()
