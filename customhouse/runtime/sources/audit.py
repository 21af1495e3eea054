"""Linux audit over NETLINK_AUDIT: we register as the audit daemon, add our own rules, read records.

Why audit and not a kernel module or eBPF: it is in every distribution kernel, needs nothing
installed, and its records carry what the rules need (argv, cwd, paths, socket addresses, the
result). Why our own client and not auditd: no daemon to install or reconfigure, and the agent
must leave the machine exactly as it found it.

Lifecycle (`AuditSession`): read the current status (AUDIT_GET), set ourselves as the audit pid,
enable auditing and raise the backlog limit (AUDIT_SET), add our rules (AUDIT_ADD_RULE with
`struct audit_rule_data`, keyed "customhouse"); on close delete exactly the rules we added (a rule
that already existed answers EEXIST and is not ours to delete) and restore enabled, pid and
backlog limit. `close()` is idempotent; the agent calls it from `finally` and from its SIGTERM
handler path. Only SIGKILL can leave our rules behind (`auditctl -D -k customhouse` removes them).

Records (`Assembler`): the kernel sends one netlink message per record, "audit(SEC.MSEC:SERIAL):
key=value ...". All records of one syscall share the serial and end with EOE; they are gathered
per serial and released at EOE, or after `timeout` seconds when EOE never comes. Records of a
serial already released are counted as late and dropped; the number of open serials is bounded.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from customhouse.runtime.sources import netlink

NETLINK_AUDIT = 9
AUDIT_GET = 1000
AUDIT_SET = 1001
AUDIT_LIST_RULES = 1013
AUDIT_ADD_RULE = 1011
AUDIT_DEL_RULE = 1012
AUDIT_FIRST_RECORD = 1100  # below this: replies to requests (AUDIT_GET, rule lists), framed normally
AUDIT_SYSCALL = 1300
AUDIT_PATH = 1302
AUDIT_SOCKADDR = 1306
AUDIT_CWD = 1307
AUDIT_EXECVE = 1309
AUDIT_EOE = 1320
AUDIT_PROCTITLE = 1327
RECORD_NAMES = {
    AUDIT_SYSCALL: "SYSCALL",
    AUDIT_PATH: "PATH",
    AUDIT_SOCKADDR: "SOCKADDR",
    AUDIT_CWD: "CWD",
    AUDIT_EXECVE: "EXECVE",
    AUDIT_EOE: "EOE",
    AUDIT_PROCTITLE: "PROCTITLE",
}

# struct audit_status (uapi/linux/audit.h): mask, enabled, failure, pid, rate_limit, backlog_limit,
# lost, backlog, version/feature_bitmap, backlog_wait_time, backlog_wait_time_actual.
STATUS = struct.Struct("=11I")
STATUS_ENABLED = 0x1
STATUS_PID = 0x4
STATUS_BACKLOG_LIMIT = 0x10

# struct audit_rule_data: flags, action, field_count, mask[64], fields[64], values[64],
# fieldflags[64], buflen, buf[].
AUDIT_BITMASK_SIZE = 64
AUDIT_MAX_FIELDS = 64
RULE_HDR = struct.Struct(f"=III{AUDIT_BITMASK_SIZE}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}II")
AUDIT_FILTER_EXIT = 0x04
AUDIT_ALWAYS = 2
AUDIT_PID = 0
AUDIT_ARCH = 11
AUDIT_FILTERKEY = 210
AUDIT_ARG1 = 201
AUDIT_ARG2 = 202
AUDIT_EQUAL = 0x40000000
AUDIT_NOT_EQUAL = 0x30000000
AUDIT_BIT_MASK = 0x08000000
AUDIT_ARCH_X86_64 = 0xC000003E
RULE_KEY = "customhouse"

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
SYSCALLS_X86_64 = {
    2: "open", 42: "connect", 43: "accept", 49: "bind", 50: "listen", 59: "execve", 82: "rename",
    85: "creat", 87: "unlink", 90: "chmod", 91: "fchmod", 92: "chown", 93: "fchown", 94: "lchown",
    101: "ptrace", 105: "setuid", 106: "setgid", 113: "setreuid", 114: "setregid", 117: "setresuid",
    119: "setresgid", 165: "mount", 166: "umount2", 175: "init_module", 257: "openat", 260: "fchownat",
    263: "unlinkat", 264: "renameat", 268: "fchmodat", 272: "unshare", 288: "accept4", 308: "setns",
    313: "finit_module", 316: "renameat2", 321: "bpf", 322: "execveat", 437: "openat2",
}  # fmt: skip
SYSCALL_NUMBERS = {v: k for k, v in SYSCALLS_X86_64.items()}
O_WRITE_BITS = 0o1 | 0o2 | 0o100 | 0o1000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC

# The rule groups; "opens" (every open, for sensitive reads) is off by default: it is the noisy one.
RULE_GROUPS: dict[str, tuple[str, ...]] = {
    "exec": ("execve", "execveat"),
    "network": ("connect", "bind", "listen", "accept", "accept4"),
    "files": ("rename", "renameat", "renameat2", "unlink", "unlinkat", "chmod", "fchmod", "fchmodat",
              "chown", "fchown", "lchown", "fchownat", "creat"),
    "privilege": ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "ptrace"),
    "escape": ("mount", "umount2", "init_module", "finit_module", "bpf", "unshare", "setns"),
}  # fmt: skip


class AuditError(Exception):
    """The kernel refused a request (errno) or audit is unavailable."""

    def __init__(self, what: str, err: int, message: str = "") -> None:
        super().__init__(message or f"audit {what}: {os.strerror(err)}")
        self.errno = err


@dataclass(frozen=True)
class AuditStatus:
    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int

    @classmethod
    def unpack(cls, payload: bytes) -> AuditStatus:
        vals = list(struct.unpack_from(f"={min(len(payload) // 4, 11)}I", payload, 0)) + [0] * 11
        return cls(vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7])


@dataclass(frozen=True)
class AuditRule:
    """One exit-filter rule: syscalls, then (field, op, value) conditions, then our key."""

    syscalls: tuple[str, ...]
    fields: tuple[tuple[int, int, int], ...] = ()
    key: str = RULE_KEY

    def pack(self) -> bytes:
        mask = [0] * AUDIT_BITMASK_SIZE
        for name in self.syscalls:
            nr = SYSCALL_NUMBERS[name]
            mask[nr // 32] |= 1 << (nr % 32)
        flds = [(AUDIT_ARCH, AUDIT_EQUAL, AUDIT_ARCH_X86_64), *self.fields]
        buf = self.key.encode()
        f = [x[0] for x in flds] + [AUDIT_FILTERKEY]
        ops = [x[1] for x in flds] + [AUDIT_EQUAL]
        v = [x[2] for x in flds] + [len(buf)]
        pad = AUDIT_MAX_FIELDS - len(f)
        return (
            RULE_HDR.pack(
                AUDIT_FILTER_EXIT, AUDIT_ALWAYS, len(f), *mask, *(f + [0] * pad), *(v + [0] * pad),
                *(ops + [0] * pad), len(buf),
            )
            + buf
        )  # fmt: skip


def default_rules(exclude_pid: int, groups: Iterable[str] = ("exec", "network", "files", "privilege", "escape"),
                  all_opens: bool = False) -> list[AuditRule]:  # fmt: skip
    """Our rule set; `exclude_pid` (the agent) is left out so its own /proc reads make no records."""
    own = ((AUDIT_PID, AUDIT_NOT_EQUAL, exclude_pid),)
    rules = [AuditRule(RULE_GROUPS[g], own) for g in groups]
    if all_opens:
        rules.append(AuditRule(("open", "openat", "openat2"), own))
    else:
        # Opens for writing only: flags are a1 for open, a2 for openat (openat2 passes a struct).
        rules.append(AuditRule(("open",), (*own, (AUDIT_ARG1, AUDIT_BIT_MASK, O_WRITE_BITS))))
        rules.append(AuditRule(("openat",), (*own, (AUDIT_ARG2, AUDIT_BIT_MASK, O_WRITE_BITS))))
        rules.append(AuditRule(("openat2",), own))
    return rules


class AuditSocket:
    """Requests with acknowledgement on a NETLINK_AUDIT socket; records arrive on the same socket."""

    def __init__(self, rcvbuf: int = 32 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        netlink.set_rcvbuf(self.sock, rcvbuf)
        self.sock.bind((0, 0))
        self.seq = 0
        self.lost = 0  # ENOBUFS on receive
        self.pending: list[netlink.NlMsg] = []  # records read while waiting for an ACK

    def fileno(self) -> int:
        return self.sock.fileno()

    def request(self, mtype: int, payload: bytes, want: int | None = None) -> list[netlink.NlMsg]:
        """Send, wait for the ACK (or error); return the replies of type `want` seen meanwhile."""
        self.seq += 1
        seq = self.seq
        self.sock.send(netlink.pack(mtype, payload, netlink.NLM_F_REQUEST | netlink.NLM_F_ACK, seq))
        replies: list[netlink.NlMsg] = []
        deadline = time.monotonic() + 5
        acked = False
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                buf = self.sock.recv(1 << 16)
            except TimeoutError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.lost += 1
                    continue
                raise
            finally:
                self.sock.settimeout(None)
            for m in split_datagram(buf):
                if m.seq == seq and m.type == netlink.NLMSG_ERROR:
                    err = netlink.error_code(m.payload)
                    if err:
                        raise AuditError(f"request {mtype}", err)
                    acked = True
                elif m.seq == seq and want is not None and m.type == want:
                    replies.append(m)
                elif m.seq != seq or m.type >= AUDIT_SYSCALL:
                    self.pending.append(m)
            if acked and (want is None or replies):
                return replies
        if not acked:
            raise AuditError(f"request {mtype}", errno.ETIMEDOUT)
        return replies

    def get_status(self) -> AuditStatus:
        replies = self.request(AUDIT_GET, b"", want=AUDIT_GET)
        if not replies:
            raise AuditError("get status", errno.EPROTO)
        return AuditStatus.unpack(replies[0].payload)

    def set_status(self, mask: int, enabled: int = 0, pid: int = 0, backlog_limit: int = 0) -> None:
        self.request(AUDIT_SET, STATUS.pack(mask, enabled, 0, pid, 0, backlog_limit, 0, 0, 0, 0, 0))

    def read(self) -> list[netlink.NlMsg]:
        """The messages of one datagram (non-blocking), plus any kept while waiting for ACKs."""
        out, self.pending = self.pending, []
        try:
            buf = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.lost += 1
                return out
            raise
        out.extend(split_datagram(buf))
        return out

    def close(self) -> None:
        self.sock.close()


def split_datagram(buf: bytes) -> list[netlink.NlMsg]:
    """The messages of one audit datagram, allowing for the kernel's record-length quirk.

    kauditd sends each record alone in a datagram whose nlmsg_len counts the payload only, not
    the 16-byte header (kernel/audit.c, audit_log_end: `nlmsg_len = skb->len - NLMSG_HDRLEN`).
    Framed by the netlink rule, every record would lose its last 16 bytes: argv and cwd values
    cut short. A datagram that is exactly one header plus nlmsg_len bytes is such a record;
    anything else (ACKs, replies to our requests) is framed normally.
    """
    if len(buf) >= netlink.NLMSG_HDR.size:
        length, mtype, flags, seq, pid = netlink.NLMSG_HDR.unpack_from(buf, 0)
        if length + netlink.NLMSG_HDR.size == len(buf) and mtype >= AUDIT_FIRST_RECORD:
            return [netlink.NlMsg(mtype, flags, seq, pid, bytes(buf[netlink.NLMSG_HDR.size :]))]
    return list(netlink.iter_messages(buf))


class AuditSession:
    """Become the audit daemon with our rules; `close()` puts everything back as it was."""

    def __init__(self, rules: list[AuditRule], backlog_limit: int = 8192) -> None:
        self.sock = AuditSocket()
        self.saved: AuditStatus | None = None
        self.added: list[AuditRule] = []
        self.closed = False
        self.registered = False  # only what we changed is put back
        try:
            self.saved = self.sock.get_status()
            mask = STATUS_PID | STATUS_ENABLED
            limit = max(backlog_limit, self.saved.backlog_limit)
            if limit != self.saved.backlog_limit:
                mask |= STATUS_BACKLOG_LIMIT
            try:
                self.sock.set_status(mask, 1, os.getpid(), limit)
            except AuditError as exc:
                if exc.errno == errno.EEXIST:  # the kernel keeps one audit daemon, alive and registered
                    raise AuditError(
                        "registration",
                        exc.errno,
                        f"audit: another process (pid {self.saved.pid}) is the audit daemon; "
                        "stop it (e.g. `systemctl stop auditd`) or the other agent first",
                    ) from None
                raise
            self.registered = True
            for r in rules:
                try:
                    self.sock.request(AUDIT_ADD_RULE, r.pack())
                except AuditError as exc:
                    if exc.errno != errno.EEXIST:  # an identical rule that was there before stays
                        raise
                    continue
                self.added.append(r)
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[netlink.NlMsg]:
        return self.sock.read()

    def status(self) -> AuditStatus:
        return self.sock.get_status()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            for r in reversed(self.added):
                try:
                    self.sock.request(AUDIT_DEL_RULE, r.pack())
                except AuditError:
                    pass
            self.added = []
            if self.saved is not None and self.registered:
                s = self.saved
                try:
                    self.sock.set_status(STATUS_BACKLOG_LIMIT | STATUS_ENABLED, s.enabled, 0, s.backlog_limit)
                finally:
                    self.sock.set_status(STATUS_PID, 0, s.pid)
        finally:
            self.sock.close()


# ---------------------------------------------------------------------------- record parsing

_HEADER = re.compile(rb"audit\((\d+)\.(\d+):(\d+)\):\s?")
_TOKEN = re.compile(r'([A-Za-z0-9_\[\]]+)=("[^"]*"|\S*)')
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
# Fields the kernel logs with audit_log_untrustedstring: quoted when clean, else hex.
_ENCODED = frozenset(("comm", "exe", "name", "cwd", "proctitle", "key", "saddr"))
_ARG = re.compile(r"^a(\d+)(?:\[(\d+)\])?$")


@dataclass(slots=True)
class Record:
    type: int
    ts: int  # ns
    serial: int
    fields: dict[str, str]
    raw: dict[str, str] = field(default_factory=dict)


def decode_value(key: str, value: str, encoded: bool) -> str:
    """Strip quotes, or decode the hex form of an untrusted string; "(null)" stays as is."""
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return value[1:-1]
    if encoded and _HEX.match(value):
        return bytes.fromhex(value).decode("utf-8", "surrogateescape")
    return value


def parse_record(mtype: int, payload: bytes) -> Record | None:
    """One record; None when the header is missing or malformed (garbage is not fatal)."""
    m = _HEADER.match(payload)
    if m is None:
        return None
    sec, msec, serial = int(m.group(1)), int(m.group(2)), int(m.group(3))
    text = payload[m.end() :].rstrip(b"\0").decode("utf-8", "surrogateescape")
    fields: dict[str, str] = {}
    raw: dict[str, str] = {}
    # decode_value inlined: this loop runs for every field of every record (tens per exec), and
    # the call overhead was the largest single cost of the agent under an exec-heavy load.
    first_wins = mtype != AUDIT_SYSCALL
    execve = mtype == AUDIT_EXECVE
    hexmatch = _HEX.match
    for k, v in _TOKEN.findall(text):
        if first_wins and k in fields:
            continue
        raw[k] = v
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            fields[k] = v[1:-1]
        elif (k in _ENCODED or (execve and _ARG.match(k) is not None)) and hexmatch(v):
            fields[k] = bytes.fromhex(v).decode("utf-8", "surrogateescape")
        else:
            fields[k] = v
    return Record(mtype, sec * 1_000_000_000 + msec * 1_000_000, serial, fields, raw)


def execve_argv(rec: Record) -> list[str]:
    """argv from an EXECVE record: a0, a1... or, for long arguments, aN_len and aN[0], aN[1]..."""
    f = rec.fields
    try:
        argc = int(f.get("argc", "0"))
    except ValueError:
        argc = 0
    argc = min(argc, 4096)
    out: list[str] = []
    for i in range(argc):
        k = f"a{i}"
        if k in f:
            out.append(f[k])
            continue
        parts = []
        j = 0
        while f"{k}[{j}]" in f:
            parts.append(f[f"{k}[{j}]"])
            j += 1
        if not parts:
            break
        out.append("".join(parts))
    return out


def parse_sockaddr(hexstr: str) -> tuple[str, str | None, int | None]:
    """(family, address, port) of a SOCKADDR record's saddr (hex of struct sockaddr)."""
    try:
        b = bytes.fromhex(hexstr)
    except ValueError:
        return "unknown", None, None
    if len(b) < 2:
        return "unknown", None, None
    (fam,) = struct.unpack_from("=H", b, 0)
    if fam == socket.AF_INET and len(b) >= 8:
        return "ipv4", str(ipaddress.IPv4Address(b[4:8])), struct.unpack_from("!H", b, 2)[0]
    if fam == socket.AF_INET6 and len(b) >= 24:
        return "ipv6", ipaddress.IPv6Address(b[8:24]).compressed, struct.unpack_from("!H", b, 2)[0]
    if fam == socket.AF_UNIX:
        path = b[2:].split(b"\0", 1)[0] if b[2:3] != b"\0" else b"@" + b[3:].rstrip(b"\0")
        return "unix", path.decode("utf-8", "surrogateescape"), None
    return f"family{fam}", None, None


@dataclass(slots=True)
class AuditEvent:
    """The records of one syscall, by type (PATH records in item order)."""

    serial: int
    ts: int
    syscall: Record | None = None
    execve: Record | None = None
    cwd: Record | None = None
    sockaddr: Record | None = None
    proctitle: Record | None = None
    paths: list[Record] = field(default_factory=list)
    complete: bool = False  # EOE seen


class Assembler:
    """Records in, one `AuditEvent` per serial out (at EOE, or `timeout` s after its first record)."""

    def __init__(self, timeout: float = 0.5, max_open: int = 20_000, clock: object = time.monotonic) -> None:
        self.timeout = timeout
        self.max_open = max_open
        self.clock = clock
        self.open: OrderedDict[int, tuple[float, AuditEvent]] = OrderedDict()
        self.done: OrderedDict[int, None] = OrderedDict()  # recently released serials
        self.late = 0
        self.timed_out = 0
        self.garbage = 0
        self.evicted = 0

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator,no-any-return]

    def feed(self, mtype: int, payload: bytes) -> list[AuditEvent]:
        if mtype < AUDIT_SYSCALL or mtype >= 1400:  # not a syscall-class record (e.g. USER_*, AVC, CONFIG)
            return []
        rec = parse_record(mtype, payload)
        if rec is None:
            self.garbage += 1
            return []
        if rec.serial in self.done:
            self.late += 1
            return []
        out: list[AuditEvent] = []
        entry = self.open.get(rec.serial)
        if entry is None:
            if len(self.open) >= self.max_open:
                _, (_, old) = self.open.popitem(last=False)
                self.evicted += 1
                self._mark_done(old.serial)
                out.append(old)
            entry = (self._now(), AuditEvent(rec.serial, rec.ts))
            self.open[rec.serial] = entry
        ev = entry[1]
        if mtype == AUDIT_EOE:
            ev.complete = True
            del self.open[rec.serial]
            self._mark_done(rec.serial)
            out.append(ev)
        elif mtype == AUDIT_SYSCALL:
            ev.syscall = rec
        elif mtype == AUDIT_EXECVE:
            ev.execve = rec
        elif mtype == AUDIT_CWD:
            ev.cwd = rec
        elif mtype == AUDIT_PATH:
            ev.paths.append(rec)
        elif mtype == AUDIT_SOCKADDR:
            ev.sockaddr = rec
        elif mtype == AUDIT_PROCTITLE:
            ev.proctitle = rec
        return out

    def _mark_done(self, serial: int) -> None:
        self.done[serial] = None
        while len(self.done) > 100_000:
            self.done.popitem(last=False)

    def flush(self, force: bool = False) -> list[AuditEvent]:
        """Release serials whose EOE is overdue (all of them when `force`)."""
        now = self._now()
        out = []
        while self.open:
            serial, (t0, ev) = next(iter(self.open.items()))
            if not force and now - t0 < self.timeout:
                break
            del self.open[serial]
            self._mark_done(serial)
            self.timed_out += 1
            out.append(ev)
        return out
