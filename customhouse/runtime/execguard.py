"""Drift prevention: deny the exec of files that were not in the container's image (fanotify).

Detection (the "Executable not in image" rule) tells you after the fact; this stops the program
from starting. fanotify's FAN_OPEN_EXEC_PERM makes the kernel ask us before a file is opened for
execution (execve, and the dynamic loader mapping the interpreter), and wait for our answer.

What "not in the image" means here: the file's inode changed (ctime) after the container started.
Everything the image brought was unpacked before the start; a file written, copied, renamed into
place or chmod'ed afterwards has a newer ctime, and ctime cannot be set back from user space (unlike
mtime, `touch -d`). Files unpacked by the runtime after `created` would be refused too; runtimes
do not do that.

Scope: each container's root mount only (FAN_MARK_MOUNT on /proc/<init pid>/root, which names the
mount in the container's mount namespace), so the host and other containers are never asked
about. The event's file is mapped back to its container by the mount id of its descriptor
(/proc/self/fdinfo `mnt_id`). Fail-open: anything unexpected (unknown mount, fstat failure) answers
allow, and closing the fanotify descriptor (also when the agent dies) makes the kernel allow every
pending and future exec: a broken guard must not take the node down with it.

Needs CAP_SYS_ADMIN and a kernel with CONFIG_FANOTIFY_ACCESS_PERMISSIONS (5.0+ for
FAN_OPEN_EXEC_PERM). x86_64 and other LP64 Linux only (struct layouts below).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("customhouse.runtime.execguard")

FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_MARK_MOUNT = 0x10
FAN_OPEN_EXEC_PERM = 0x40000
FAN_ALLOW = 0x1
FAN_DENY = 0x2
AT_FDCWD = -100
# struct fanotify_event_metadata: event_len u32, vers u8, reserved u8, metadata_len u16, mask u64,
# fd s32, pid s32; struct fanotify_response: fd s32, response u32.
EVENT = struct.Struct("=IBBHQii")
RESPONSE = struct.Struct("=iI")
STATE_GLOBS = ("/run/runc/*/state.json", "/run/containerd/runc/*/*/state.json", "/run/crun/*/state.json")


class ExecGuardError(Exception):
    """fanotify is unavailable or refused (the message says which call and why)."""


@dataclass(frozen=True)
class Guarded:
    container_id: str
    pid: int
    start_ns: int
    mnt_id: int


@dataclass(frozen=True)
class Decision:
    container_id: str
    path: str
    pid: int
    denied: bool
    dry_run: bool
    ts: int


def _libc() -> Any:
    lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    lib.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    lib.fanotify_init.restype = ctypes.c_int
    lib.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
    lib.fanotify_mark.restype = ctypes.c_int
    return lib


def mount_id(fd: int) -> int | None:
    """The mount id of an open descriptor (fdinfo `mnt_id`, Linux 3.15+)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def runc_states() -> list[tuple[str, int, int]]:
    """(container id, init pid, created ns) of the running containers runtimes know about."""
    from customhouse.runtime.events import parse_time

    out = []
    for path in (p for g in STATE_GLOBS for p in glob.glob(g)):
        try:
            with open(path, encoding="utf-8") as fh:
                st = json.load(fh)
            cid, pid, created = str(st["id"]), int(st["init_process_pid"]), parse_time(str(st["created"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid > 0:
            out.append((cid, pid, created))
    return out


class ExecGuard:
    """Answers the kernel's exec permission questions for the containers it guards, on its own thread.

    Its own thread, not the agent's loop: the process that execs is frozen until we answer, so
    the answer must not wait behind a burst of audit records. `on_decision` is called for every
    denial (and, in dry-run, every would-be denial), from that thread.
    """

    def __init__(self, on_decision: Callable[[Decision], None] | None = None, dry_run: bool = False,
                 rescan_interval: float = 1.0) -> None:  # fmt: skip
        self.lib = _libc()
        fd = self.lib.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE)
        if fd < 0:
            err = ctypes.get_errno()
            raise ExecGuardError(f"fanotify_init: {os.strerror(err)}")
        self.fd = fd
        self.on_decision = on_decision
        self.dry_run = dry_run
        self.rescan_interval = rescan_interval
        self.by_mnt: dict[int, Guarded] = {}
        self.by_cid: dict[str, Guarded] = {}
        self.allowed = self.denied = self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def guard(self, container_id: str, pid: int, start_ns: int) -> Guarded:
        """Ask the kernel about every exec on the root mount of the container whose init is `pid`."""
        root = f"/proc/{pid}/root"
        try:
            rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        except OSError as exc:
            raise ExecGuardError(f"{root}: {exc.strerror}") from None
        try:
            mnt = mount_id(rfd)
        finally:
            os.close(rfd)
        if mnt is None:
            raise ExecGuardError(f"{root}: no mount id in fdinfo")
        if self.lib.fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM, AT_FDCWD,
                                  root.encode()) < 0:  # fmt: skip
            err = ctypes.get_errno()
            raise ExecGuardError(f"fanotify_mark({root}, FAN_OPEN_EXEC_PERM): {os.strerror(err)}")
        g = Guarded(container_id, pid, start_ns, mnt)
        with self._lock:
            self.by_mnt[mnt] = g
            self.by_cid[container_id] = g
        return g

    def scan(self) -> None:
        """Guard running containers not guarded yet (a container that died is simply never asked about)."""
        for cid, pid, created in runc_states():
            old = self.by_cid.get(cid)
            if old is not None and old.pid == pid:
                continue
            try:
                self.guard(cid, pid, created)
            except ExecGuardError as exc:
                log.debug("not guarding %s: %s", cid, exc)

    def start(self, scan: bool = True) -> ExecGuard:
        self._scan_enabled = scan
        if scan:
            self.scan()
        self._thread = threading.Thread(target=self._loop, name="execguard", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        next_scan = time.monotonic() + self.rescan_interval
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
            except (OSError, ValueError):
                return
            if r:
                self.handle_pending()
            if getattr(self, "_scan_enabled", False) and time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.rescan_interval
                self.scan()

    def handle_pending(self) -> None:
        """Read the queued events and answer each one (always: an unanswered exec hangs)."""
        try:
            buf = os.read(self.fd, 64 * EVENT.size)
        except BlockingIOError:
            return
        except OSError as exc:
            log.debug("fanotify read: %s", exc)
            return
        off = 0
        while off + EVENT.size <= len(buf):
            ln, _vers, _res, _mlen, mask, efd, epid = EVENT.unpack_from(buf, off)
            off += max(ln, EVENT.size)
            if efd < 0:  # queue overflow notice: nothing to answer
                continue
            allow = True
            try:
                if mask & FAN_OPEN_EXEC_PERM:
                    allow = self._decide(efd, epid)
            except Exception as exc:  # fail open, never leave the exec waiting
                self.errors += 1
                log.debug("exec guard: %s", exc)
            finally:
                try:
                    os.write(self.fd, RESPONSE.pack(efd, FAN_ALLOW if allow else FAN_DENY))
                except OSError as exc:
                    log.debug("fanotify answer: %s", exc)
                os.close(efd)

    def _decide(self, efd: int, epid: int) -> bool:
        mnt = mount_id(efd)
        g = self.by_mnt.get(mnt) if mnt is not None else None
        if g is None:
            self.allowed += 1
            return True
        st = os.fstat(efd)
        drift = st.st_ctime_ns > g.start_ns
        if not drift:
            self.allowed += 1
            return True
        try:
            path = os.readlink(f"/proc/self/fd/{efd}")  # as the container sees it: the mark is its mount
        except OSError:
            path = "?"
        deny = not self.dry_run
        if deny:
            self.denied += 1
        else:
            self.allowed += 1
        if self.on_decision is not None:
            try:
                self.on_decision(Decision(g.container_id, path, epid, deny, self.dry_run, time.time_ns()))
            except Exception as exc:  # reporting must not change the answer
                log.debug("exec guard report: %s", exc)
        return not deny

    def close(self) -> None:
        """Stop answering; the kernel then allows everything (closing the group releases pending events)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            os.close(self.fd)
        except OSError:
            pass
