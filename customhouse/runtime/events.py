"""The event model every runtime source produces, and its JSON-lines form (replay/record files).

An `Event` is one thing that happened: a system call returning (`source="syscall"`) or one
Kubernetes API audit record (`source="k8s_audit"`). Sources fill it in; the rule engine only
reads it. The classes are plain `__slots__` objects, because a rule engine that evaluates
hundreds of thousands of events a second pays for every dictionary and property on the way:

- `Event`: source, `type` (syscall name: execve, openat, connect...), `ts` (ns since the epoch),
  `dir` ("<" exit, ">" enter), `res` (raw return value, negative errno on failure), `args`
  (syscall arguments by name, as the source decoded them), and the objects below;
- `Process`: the thread that made the call, after the call (for execve: the new program),
  with `ancestors` (parent first) for `proc.pname`, `proc.aname[N]`, `proc.pcmdline`...;
- `Fd`: the file descriptor the call used or returned (file path or socket endpoints);
- `Container`: the container the process runs in (`HOST` for host processes);
- `K8s`: the pod and namespace the container belongs to;
- `audit`: for k8s_audit events, the raw audit.k8s.io/v1 Event object.

Missing parts are shared, immutable sentinels (`NO_PROCESS`, `NO_FD`, `HOST`, `NO_K8S`) whose
attributes are all None, so extractors never test for None objects. A field whose value is
None is "not available" for the event, and every comparison on it is false (Falco's rule).

`event_from_dict` / `event_to_dict` convert to and from the JSON form documented in
docs/runtime-events.md; `read_events` and `EventWriter` read and write JSON-lines files.
"""

from __future__ import annotations

import errno as _errno
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from customhouse.errors import InputError

FORMAT_NAME = "customhouse-events"
FORMAT_VERSION = 1
SOURCES = ("syscall", "k8s_audit")

# Linux open(2) flags, rendered the way Falco renders evt.arg.flags ("O_WRONLY|O_CREAT|O_TRUNC").
_OPEN_FLAGS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
)
_ACCMODE = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}
FD_TYPECHARS = {
    "file": "f",
    "directory": "d",
    "ipv4": "4",
    "ipv6": "6",
    "unix": "u",
    "pipe": "p",
    "event": "e",
    "signalfd": "s",
    "eventpoll": "l",
    "inotify": "i",
    "timerfd": "t",
    "netlink": "n",
    "memfd": "m",
    "bpf": "b",
    "userfaultfd": "U",
    "io_uring": "r",
}
OPEN_TYPES = frozenset(("open", "openat", "openat2", "creat"))


class EventFormatError(InputError):
    """A replay file line that is not a valid event (exit 3); the message names file and line."""


def render_open_flags(value: int) -> str:
    """`0o1101` -> "O_WRONLY|O_CREAT|O_TRUNC" (Falco's rendering of open flags)."""
    parts = [_ACCMODE.get(value & 3, "O_RDWR")]
    parts += [name for bit, name in _OPEN_FLAGS if value & bit]
    return "|".join(parts)


def errno_name(res: int) -> str:
    """Falco's evt.res: "SUCCESS" for res >= 0, else the errno name ("ENOENT")."""
    if res >= 0:
        return "SUCCESS"
    return _errno.errorcode.get(-res, f"E{-res}")


class Process:
    """The calling thread's process. `ancestors[0]` is the parent, `[1]` the grandparent...

    `exe` is argv[0] as the program was invoked; `exepath` the resolved executable; `name` the
    process name (the executable's basename, as the kernel's comm). `tty` is the controlling
    terminal's device number (0: none). `loginuid` is the audit login uid (-1: unset).
    Capability sets are space-separated names ("CAP_CHOWN CAP_SYS_ADMIN").
    `exe_upper_layer` is true when the executable lives in the container's writable layer
    (written after the container started); `exe_mtime` its modification time (ns, 0 unknown).
    """

    __slots__ = (
        "_anc",
        "_anc_raw",
        "_cmdline",
        "args",
        "cap_effective",
        "cap_inheritable",
        "cap_permitted",
        "cwd",
        "exe",
        "exe_mtime",
        "exe_upper_layer",
        "exe_writable",
        "exepath",
        "gid",
        "group",
        "is_sgid_exe",
        "is_suid_exe",
        "loginname",
        "loginuid",
        "name",
        "pid",
        "ppid",
        "sid",
        "tty",
        "uid",
        "user",
    )

    pid: int | None
    ppid: int | None
    sid: int | None
    name: str | None
    exe: str | None
    exepath: str | None
    args: list[str]
    cwd: str | None
    tty: int | None
    uid: int | None
    gid: int | None
    user: str | None
    group: str | None
    loginuid: int | None
    loginname: str | None
    cap_permitted: str | None
    cap_effective: str | None
    cap_inheritable: str | None
    is_suid_exe: bool | None
    is_sgid_exe: bool | None
    exe_upper_layer: bool | None
    exe_writable: bool | None
    exe_mtime: int | None
    _anc: list[Process] | None
    _anc_raw: list[Any] | None
    _cmdline: str | None

    def __init__(
        self,
        pid: int | None = None,
        name: str | None = None,
        *,
        ppid: int | None = None,
        sid: int | None = None,
        exe: str | None = None,
        exepath: str | None = None,
        args: list[str] | None = None,
        cwd: str | None = None,
        tty: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        user: str | None = None,
        group: str | None = None,
        loginuid: int | None = None,
        loginname: str | None = None,
        cap_permitted: str | None = None,
        cap_effective: str | None = None,
        cap_inheritable: str | None = None,
        is_suid_exe: bool | None = None,
        is_sgid_exe: bool | None = None,
        exe_upper_layer: bool | None = None,
        exe_writable: bool | None = None,
        exe_mtime: int | None = None,
        ancestors: list[Process] | None = None,
    ) -> None:
        if name is None and exepath:
            name = exepath.rsplit("/", 1)[-1]
        self.pid = pid
        self.ppid = ppid if ppid is not None else (ancestors[0].pid if ancestors else None)
        self.sid = sid
        self.name = name
        self.exe = exe
        self.exepath = exepath
        self.args = args if args is not None else []
        self.cwd = cwd
        self.tty = tty
        self.uid = uid
        self.gid = gid
        self.user = user
        self.group = group
        self.loginuid = loginuid
        self.loginname = loginname
        self.cap_permitted = cap_permitted
        self.cap_effective = cap_effective
        self.cap_inheritable = cap_inheritable
        self.is_suid_exe = is_suid_exe
        self.is_sgid_exe = is_sgid_exe
        self.exe_upper_layer = exe_upper_layer
        self.exe_writable = exe_writable
        self.exe_mtime = exe_mtime
        self._anc = ancestors if ancestors is not None else []
        self._anc_raw = None
        self._cmdline = None

    @property
    def ancestors(self) -> list[Process]:
        """Parent first. Decoded from a replay file on first use (most events never need it)."""
        a = self._anc
        if a is None:
            raw = self._anc_raw or []
            a = self._anc = [process_from_dict(x, f"proc.ancestors[{i}]", 1) for i, x in enumerate(raw)]
            self._anc_raw = None
        return a

    @ancestors.setter
    def ancestors(self, value: list[Process]) -> None:
        self._anc = value
        self._anc_raw = None

    @property
    def cmdline(self) -> str | None:
        """Falco's proc.cmdline: the name followed by the arguments (argv[1:])."""
        c = self._cmdline
        if c is None:
            if self.name is None:
                return None
            c = self._cmdline = " ".join((self.name, *self.args)) if self.args else self.name
        return c

    def __repr__(self) -> str:
        return f"Process(pid={self.pid}, name={self.name!r})"


class Fd:
    """A file descriptor: a path (`type` file, directory...) or a socket.

    Sockets carry the client (`cip`, `cport`) and server (`sip`, `sport`) endpoints and
    `is_server`: true when this process is the server side (accept, listen, bind), which is how
    the local/remote fields (fd.lip, fd.rip, fd.lport, fd.rport) are derived, as in Falco.
    `sip_name` is the server's DNS name when the source knows it. IP addresses are in their
    canonical text form (`ipaddress.ip_address(x).compressed`).
    """

    __slots__ = (
        "_directory",
        "_filename",
        "cip",
        "cport",
        "is_server",
        "l4proto",
        "name",
        "num",
        "sip",
        "sip_name",
        "sport",
        "type",
        "typechar",
    )

    num: int | None
    type: str | None
    name: str | None
    l4proto: str | None
    cip: str | None
    cport: int | None
    sip: str | None
    sport: int | None
    is_server: bool | None
    sip_name: str | None
    typechar: str | None
    _directory: str | None
    _filename: str | None

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,
        *,
        num: int | None = None,
        l4proto: str | None = None,
        cip: str | None = None,
        cport: int | None = None,
        sip: str | None = None,
        sport: int | None = None,
        is_server: bool | None = None,
        sip_name: str | None = None,
    ) -> None:
        if type is None:
            type = _guess_fd_type(name, cip, sip)
        if name is None and type in ("ipv4", "ipv6") and (sip is not None or cip is not None):
            name = _socket_name(cip, cport, sip, sport)
        self.num = num
        self.type = type
        self.typechar = None if type is None else FD_TYPECHARS.get(type, "o")
        self.name = name
        self.l4proto = l4proto
        self.cip = cip
        self.cport = cport
        self.sip = sip
        self.sport = sport
        self.is_server = is_server
        self.sip_name = sip_name
        self._directory = None
        self._filename = None

    @property
    def directory(self) -> str | None:
        """fd.directory: the directory of a file (a directory fd's own path)."""
        d = self._directory
        if d is None:
            n = self.name
            if n is None or self.type not in ("file", "directory"):
                return None
            if self.type == "directory":
                d = n
            else:
                i = n.rfind("/")
                d = n[:i] if i > 0 else ("/" if i == 0 else "")
            self._directory = d
        return d

    @property
    def filename(self) -> str | None:
        """fd.filename: the last path component of a file."""
        f = self._filename
        if f is None:
            n = self.name
            if n is None or self.type != "file":
                return None
            f = self._filename = n[n.rfind("/") + 1 :]
        return f

    def __repr__(self) -> str:
        return f"Fd(type={self.type!r}, name={self.name!r})"


def _guess_fd_type(name: str | None, cip: str | None, sip: str | None) -> str | None:
    ip = sip or cip
    if ip is not None:
        return "ipv6" if ":" in ip else "ipv4"
    if name is not None and name.startswith("/"):
        return "file"
    return None


def _socket_name(cip: str | None, cport: int | None, sip: str | None, sport: int | None) -> str:
    def ep(ip: str | None, port: int | None) -> str:
        ip_s = "" if ip is None else (f"[{ip}]" if ":" in ip else ip)
        return f"{ip_s}:{'' if port is None else port}"

    return f"{ep(cip, cport)}->{ep(sip, sport)}"


class Mount:
    """One mount of a container: host `source`, container `dest`, `mode` ("rw", "ro", ...)."""

    __slots__ = ("dest", "mode", "propagation", "rw", "source")

    def __init__(self, source: str, dest: str, mode: str = "", rw: bool = True, propagation: str = "") -> None:
        self.source = source
        self.dest = dest
        self.mode = mode
        self.rw = rw
        self.propagation = propagation

    def __repr__(self) -> str:
        return f"Mount({self.source!r} -> {self.dest!r})"


class Container:
    """The container a process runs in. `id` is "host" for processes outside any container.

    `image` is the full reference ("docker.io/library/nginx:1.25"); `image_repository` and
    `image_tag` its parts; `start_ts` when the container started (ns, 0 unknown).
    """

    __slots__ = (
        "id",
        "image",
        "image_digest",
        "image_repository",
        "image_tag",
        "mounts",
        "name",
        "privileged",
        "runtime",
        "start_ts",
    )

    id: str | None
    name: str | None
    image: str | None
    image_repository: str | None
    image_tag: str | None
    image_digest: str | None
    privileged: bool | None
    runtime: str | None
    start_ts: int | None
    mounts: list[Mount] | None

    def __init__(
        self,
        id: str | None = None,
        name: str | None = None,
        *,
        image: str | None = None,
        image_repository: str | None = None,
        image_tag: str | None = None,
        image_digest: str | None = None,
        privileged: bool | None = None,
        runtime: str | None = None,
        start_ts: int | None = None,
        mounts: list[Mount] | None = None,
    ) -> None:
        if image and (image_repository is None or image_tag is None):
            repo, tag, digest = split_image(image)
            image_repository = image_repository if image_repository is not None else repo
            image_tag = image_tag if image_tag is not None else tag
            image_digest = image_digest if image_digest is not None else digest
        self.id = id
        self.name = name
        self.image = image
        self.image_repository = image_repository
        self.image_tag = image_tag
        self.image_digest = image_digest
        self.privileged = privileged
        self.runtime = runtime
        self.start_ts = start_ts
        self.mounts = mounts

    def __repr__(self) -> str:
        return f"Container(id={self.id!r}, image={self.image!r})"


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """ "nginx:1.25@sha256:..." -> ("nginx", "1.25", "sha256:..."); a port is not a tag."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    return ref, tag, digest


class K8s:
    """The pod a container belongs to: `pod_name`, `pod_uid`, `ns_name`, `pod_labels`."""

    __slots__ = ("ns_name", "pod_labels", "pod_name", "pod_uid")

    def __init__(
        self,
        pod_name: str | None = None,
        ns_name: str | None = None,
        pod_uid: str | None = None,
        pod_labels: dict[str, str] | None = None,
    ) -> None:
        self.pod_name = pod_name
        self.ns_name = ns_name
        self.pod_uid = pod_uid
        self.pod_labels = pod_labels

    def __repr__(self) -> str:
        return f"K8s({self.ns_name}/{self.pod_name})"


NO_PROCESS = Process()
NO_FD = Fd()
HOST = Container("host", "host")
NO_CONTAINER = Container()
NO_K8S = K8s()


class Event:
    """One event. See the module docstring and docs/runtime-events.md for every attribute.

    `num` is the event's sequence number in its stream (line number in a replay file).
    `_c` is a per-event cache for derived values that several rules read (filled lazily by
    the field extractors, never serialized).
    """

    __slots__ = (
        "_c",
        "args",
        "audit",
        "container",
        "dir",
        "fd",
        "k8s",
        "num",
        "proc",
        "res",
        "source",
        "ts",
        "type",
    )

    source: str
    type: str
    ts: int
    dir: str
    res: int
    args: dict[str, Any]
    proc: Process
    fd: Fd
    container: Container
    k8s: K8s
    audit: dict[str, Any] | None
    num: int
    _c: dict[str, Any] | None

    def __init__(
        self,
        type: str = "",
        ts: int = 0,
        *,
        source: str = "syscall",
        dir: str = "<",
        res: int = 0,
        args: dict[str, Any] | None = None,
        proc: Process | None = None,
        fd: Fd | None = None,
        container: Container | None = None,
        k8s: K8s | None = None,
        audit: dict[str, Any] | None = None,
        num: int = 0,
    ) -> None:
        self.source = source
        self.type = type
        self.ts = ts
        self.dir = dir
        self.res = res
        self.args = args if args is not None else {}
        self.proc = proc if proc is not None else NO_PROCESS
        self.fd = fd if fd is not None else NO_FD
        if container is None:
            container = HOST if source == "syscall" else NO_CONTAINER
        self.container = container
        self.k8s = k8s if k8s is not None else NO_K8S
        self.audit = audit
        self.num = num
        self._c = None

    def __repr__(self) -> str:
        return f"Event({self.source}:{self.type or '-'} ts={self.ts} proc={self.proc.name!r})"


# ------------------------------------------------------------------ JSON form


def parse_time(value: Any, what: str = "time") -> int:
    """Nanoseconds since the epoch from an integer or an RFC 3339 string (nanosecond precision)."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        frac = 0
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        dot = s.find(".")
        if dot != -1:
            end = dot + 1
            while end < len(s) and s[end].isdigit():
                end += 1
            digits = s[dot + 1 : end]
            frac = int((digits + "000000000")[:9]) if digits else 0
            s = s[:dot] + s[end:]
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise ValueError(f"{what}: not an RFC 3339 time: {value!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp()) * 1_000_000_000 + frac
    raise ValueError(f"{what}: expected nanoseconds or an RFC 3339 string, got {type(value).__name__}")


def format_time_iso(ts: int) -> str:
    """ns since the epoch -> "2024-05-01T12:00:00.123456789Z" (Falco's JSON `time`)."""
    sec, ns = divmod(ts, 1_000_000_000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def format_time_of_day(ts: int) -> str:
    """ns since the epoch -> "12:00:00.123456789" (Falco's evt.time, in UTC here)."""
    sec, ns = divmod(ts, 1_000_000_000)
    s = sec % 86400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{ns:09d}"


def _int(v: Any, what: str) -> int | None:
    if v is None or type(v) is int:
        return v  # type: ignore[no-any-return]
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"{what}: expected an integer, got {type(v).__name__}")
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{what}: expected an integer, got {v!r}") from None


def _str(v: Any, what: str) -> str | None:
    if v is None or type(v) is str:
        return v  # type: ignore[no-any-return]
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"{what}: expected a string, got {type(v).__name__}")


def _bool(v: Any, what: str) -> bool | None:
    if v is None or type(v) is bool:
        return v  # type: ignore[no-any-return]
    if v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise ValueError(f"{what}: expected true or false, got {v!r}")


def _strlist(v: Any, what: str) -> list[str]:
    if v is None:
        return []
    if type(v) is list and all(type(x) is str for x in v):
        return v
    if isinstance(v, list):
        return [_str(x, what) or "" for x in v]
    raise ValueError(f"{what}: expected a list of strings, got {type(v).__name__}")


def _caps(v: Any, what: str) -> str | None:
    if v is None or type(v) is str:
        return v  # type: ignore[no-any-return]
    if isinstance(v, list):
        return " ".join(_str(x, what) or "" for x in v)
    raise ValueError(f"{what}: expected a list of capability names, got {type(v).__name__}")


def _obj(v: Any, what: str) -> dict[str, Any]:
    if type(v) is dict:
        return v
    raise ValueError(f"{what}: expected an object, got {type(v).__name__}")


# The scalar fields of a Process as they appear in JSON (ancestors are encoded separately).
_PROC_SCALARS = (
    "pid",
    "ppid",
    "sid",
    "name",
    "exe",
    "exepath",
    "args",
    "cwd",
    "tty",
    "uid",
    "gid",
    "user",
    "group",
    "loginuid",
    "loginname",
    "cap_permitted",
    "cap_effective",
    "cap_inheritable",
    "is_suid_exe",
    "is_sgid_exe",
    "exe_upper_layer",
    "exe_writable",
    "exe_mtime",
)
_PROC_KEYS = frozenset((*_PROC_SCALARS, "ancestors"))


def process_from_dict(d: Any, what: str = "proc", depth: int = 0) -> Process:
    """A Process from its JSON form. Written for speed: the common, well-typed case costs one
    dictionary lookup and one type test a field; anything else goes through the converters,
    which raise ValueError naming the field. Ancestors are decoded when first used."""
    if type(d) is not dict:
        raise ValueError(f"{what}: expected an object, got {type(d).__name__}")
    g = d.get
    p = Process.__new__(Process)
    p.pid = v if type(v := g("pid")) is int or v is None else _int(v, what + ".pid")
    p.sid = v if type(v := g("sid")) is int or v is None else _int(v, what + ".sid")
    p.exe = v if type(v := g("exe")) is str or v is None else _str(v, what + ".exe")
    p.exepath = v if type(v := g("exepath")) is str or v is None else _str(v, what + ".exepath")
    name = v if type(v := g("name")) is str or v is None else _str(v, what + ".name")
    if name is None and p.exepath:
        name = p.exepath.rsplit("/", 1)[-1]
    p.name = name
    args = g("args")
    p.args = args if type(args) is list and _all_str(args) else _strlist(args, what + ".args")
    p.cwd = v if type(v := g("cwd")) is str or v is None else _str(v, what + ".cwd")
    p.tty = v if type(v := g("tty")) is int or v is None else _int(v, what + ".tty")
    p.uid = v if type(v := g("uid")) is int or v is None else _int(v, what + ".uid")
    p.gid = v if type(v := g("gid")) is int or v is None else _int(v, what + ".gid")
    p.user = v if type(v := g("user")) is str or v is None else _str(v, what + ".user")
    p.group = v if type(v := g("group")) is str or v is None else _str(v, what + ".group")
    p.loginuid = v if type(v := g("loginuid")) is int or v is None else _int(v, what + ".loginuid")
    p.loginname = v if type(v := g("loginname")) is str or v is None else _str(v, what + ".loginname")
    p.cap_permitted = v if type(v := g("cap_permitted")) is str or v is None else _caps(v, what + ".cap_permitted")
    p.cap_effective = v if type(v := g("cap_effective")) is str or v is None else _caps(v, what + ".cap_effective")
    p.cap_inheritable = (
        v if type(v := g("cap_inheritable")) is str or v is None else _caps(v, what + ".cap_inheritable")
    )
    p.is_suid_exe = v if type(v := g("is_suid_exe")) is bool or v is None else _bool(v, what + ".is_suid_exe")
    p.is_sgid_exe = v if type(v := g("is_sgid_exe")) is bool or v is None else _bool(v, what + ".is_sgid_exe")
    p.exe_upper_layer = (
        v if type(v := g("exe_upper_layer")) is bool or v is None else _bool(v, what + ".exe_upper_layer")
    )
    p.exe_writable = v if type(v := g("exe_writable")) is bool or v is None else _bool(v, what + ".exe_writable")
    p.exe_mtime = v if type(v := g("exe_mtime")) is int or v is None else _int(v, what + ".exe_mtime")
    anc = g("ancestors")
    ppid = v if type(v := g("ppid")) is int or v is None else _int(v, what + ".ppid")
    if anc:
        if type(anc) is not list:
            raise ValueError(f"{what}.ancestors: expected a list")
        if depth > 0:
            raise ValueError(f"{what}.ancestors: an ancestor cannot have ancestors")
        first = anc[0]
        if type(first) is not dict or not all(type(a) is dict for a in anc):
            raise ValueError(f"{what}.ancestors: expected a list of objects")
        p._anc = None
        p._anc_raw = anc
        if ppid is None:
            ppid = _int(first.get("pid"), what + ".ancestors[0].pid")
    else:
        p._anc = []
        p._anc_raw = None
    p.ppid = ppid
    p._cmdline = None
    return p


def _all_str(items: list[Any]) -> bool:
    try:
        "".join(items)  # C speed; fails on the first non-string
    except TypeError:
        return False
    return True


def fd_from_dict(d: Any) -> Fd:
    if type(d) is not dict:
        raise ValueError(f"fd: expected an object, got {type(d).__name__}")
    g = d.get
    name = v if type(v := g("name")) is str or v is None else _str(v, "fd.name")
    typ = v if type(v := g("type")) is str or v is None else _str(v, "fd.type")
    cip = v if type(v := g("cip")) is str or v is None else _str(v, "fd.cip")
    sip = v if type(v := g("sip")) is str or v is None else _str(v, "fd.sip")
    cport = v if type(v := g("cport")) is int or v is None else _int(v, "fd.cport")
    sport = v if type(v := g("sport")) is int or v is None else _int(v, "fd.sport")
    if typ is None:
        typ = _guess_fd_type(name, cip, sip)
    if name is None and typ in ("ipv4", "ipv6") and (sip is not None or cip is not None):
        name = _socket_name(cip, cport, sip, sport)
    f = Fd.__new__(Fd)
    f.num = v if type(v := g("num")) is int or v is None else _int(v, "fd.num")
    f.type = typ
    f.typechar = None if typ is None else FD_TYPECHARS.get(typ, "o")
    f.name = name
    f.l4proto = v if type(v := g("l4proto")) is str or v is None else _str(v, "fd.l4proto")
    f.cip = cip
    f.cport = cport
    f.sip = sip
    f.sport = sport
    f.is_server = v if type(v := g("is_server")) is bool or v is None else _bool(v, "fd.is_server")
    f.sip_name = v if type(v := g("sip_name")) is str or v is None else _str(v, "fd.sip_name")
    f._directory = None
    f._filename = None
    return f


def container_from_dict(d: Any) -> Container:
    d = _obj(d, "container")
    g = d.get
    mounts = None
    raw = g("mounts")
    if raw is not None:
        if not isinstance(raw, list):
            raise ValueError("container.mounts: expected a list")
        mounts = []
        for i, m in enumerate(raw):
            m = _obj(m, f"container.mounts[{i}]")
            mounts.append(
                Mount(
                    _str(m.get("source"), "mount.source") or "",
                    _str(m.get("dest"), "mount.dest") or "",
                    _str(m.get("mode"), "mount.mode") or "",
                    bool(_bool(m.get("rw", True), "mount.rw")),
                    _str(m.get("propagation"), "mount.propagation") or "",
                )
            )
    return Container(
        _str(g("id"), "container.id"),
        _str(g("name"), "container.name"),
        image=_str(g("image"), "container.image"),
        image_repository=_str(g("image_repository"), "container.image_repository"),
        image_tag=_str(g("image_tag"), "container.image_tag"),
        image_digest=_str(g("image_digest"), "container.image_digest"),
        privileged=_bool(g("privileged"), "container.privileged"),
        runtime=_str(g("runtime"), "container.runtime"),
        start_ts=_int(g("start_ts"), "container.start_ts"),
        mounts=mounts,
    )


def k8s_from_dict(d: Any) -> K8s:
    d = _obj(d, "k8s")
    labels = d.get("pod_labels")
    if labels is not None:
        labels = {str(k): str(v) for k, v in _obj(labels, "k8s.pod_labels").items()}
    return K8s(
        _str(d.get("pod_name"), "k8s.pod_name"),
        _str(d.get("ns_name"), "k8s.ns_name"),
        _str(d.get("pod_uid"), "k8s.pod_uid"),
        labels,
    )


def event_from_dict(d: Any, num: int = 0) -> Event:
    """One event from its JSON form (docs/runtime-events.md); ValueError names the bad key."""
    d = _obj(d, "event")
    g = d.get
    e = Event.__new__(Event)
    source = g("source", "syscall")
    if source not in SOURCES:
        raise ValueError(f"source: unknown event source {source!r} (expected syscall or k8s_audit)")
    e.source = source
    e.num = num
    e._c = None
    if source == "k8s_audit":
        audit = _obj(g("audit"), "audit")
        e.audit = audit
        t = g("time")
        if t is None:
            t = audit.get("stageTimestamp") or audit.get("requestReceivedTimestamp") or 0
        e.ts = parse_time(t)
        e.type = _str(g("type"), "type") or ""
        e.dir = "<"
        e.res = 0
        e.args = {}
        e.proc = NO_PROCESS
        e.fd = NO_FD
        e.container = NO_CONTAINER
        e.k8s = NO_K8S
        return e
    e.audit = None
    t = g("time", 0)
    e.ts = t if type(t) is int else parse_time(t)
    typ = g("type")
    if type(typ) is not str or not typ:
        raise ValueError("type: a syscall event needs its type (execve, openat, connect...)")
    e.type = typ
    dr = g("dir", "<")
    if dr not in ("<", ">"):
        raise ValueError(f"dir: expected '<' or '>', got {dr!r}")
    e.dir = dr
    res = g("res", 0)
    e.res = res if type(res) is int else (_int(res, "res") or 0)
    args = g("args")
    e.args = {} if args is None else _obj(args, "args")
    p = g("proc")
    e.proc = NO_PROCESS if p is None else process_from_dict(p)
    f = g("fd")
    e.fd = NO_FD if f is None else fd_from_dict(f)
    c = g("container")
    e.container = HOST if c is None else _interned(c, _CONTAINERS, container_from_dict)
    k = g("k8s")
    e.k8s = NO_K8S if k is None else _interned(k, _PODS, k8s_from_dict)
    return e


# Consecutive events of one container carry the same container and pod objects: decoding them
# once and sharing the result (checked by dictionary equality, which is C-speed) saves most of
# their cost. Bounded, and the objects are never modified by the engine.
_CONTAINERS: dict[Any, tuple[dict[str, Any], Any]] = {}
_PODS: dict[Any, tuple[dict[str, Any], Any]] = {}
_INTERN_MAX = 4096


def _interned(d: Any, cache: dict[Any, tuple[dict[str, Any], Any]], build: Any) -> Any:
    if type(d) is not dict:
        return build(d)
    key = d.get("id") or d.get("pod_uid") or d.get("pod_name")
    if type(key) is not str:
        return build(d)
    hit = cache.get(key)
    if hit is not None and hit[0] == d:
        return hit[1]
    obj = build(d)
    if len(cache) >= _INTERN_MAX:
        cache.clear()
    cache[key] = (d, obj)
    return obj


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value not in ([], {}):
        out[key] = value


def process_to_dict(p: Process) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _PROC_SCALARS:
        _put(out, key, getattr(p, key))
    if p.ancestors:
        out["ancestors"] = [process_to_dict(a) for a in p.ancestors]
    return out


def event_to_dict(e: Event) -> dict[str, Any]:
    """The JSON form of `e`: only what is set, so recordings stay small."""
    out: dict[str, Any] = {"source": e.source, "time": e.ts}
    if e.type:
        out["type"] = e.type
    if e.source == "k8s_audit":
        out["audit"] = e.audit or {}
        return out
    if e.dir != "<":
        out["dir"] = e.dir
    if e.res:
        out["res"] = e.res
    _put(out, "args", e.args)
    if e.proc is not NO_PROCESS:
        _put(out, "proc", process_to_dict(e.proc))
    f = e.fd
    if f is not NO_FD:
        fd: dict[str, Any] = {}
        for key in ("num", "type", "name", "l4proto", "cip", "cport", "sip", "sport", "is_server", "sip_name"):
            _put(fd, key, getattr(f, key))
        _put(out, "fd", fd)
    c = e.container
    if c is not HOST and c is not NO_CONTAINER:
        co: dict[str, Any] = {}
        for key in (
            "id",
            "name",
            "image",
            "image_repository",
            "image_tag",
            "image_digest",
            "privileged",
            "runtime",
            "start_ts",
        ):
            _put(co, key, getattr(c, key))
        if c.mounts:
            co["mounts"] = [
                {"source": m.source, "dest": m.dest, "mode": m.mode, "rw": m.rw, "propagation": m.propagation}
                for m in c.mounts
            ]
        _put(out, "container", co)
    k = e.k8s
    if k is not NO_K8S:
        kd: dict[str, Any] = {}
        for key in ("pod_name", "ns_name", "pod_uid", "pod_labels"):
            _put(kd, key, getattr(k, key))
        _put(out, "k8s", kd)
    return out


# ------------------------------------------------------------------ JSON-lines files


def _loads() -> Any:
    """The fastest JSON decoder available (orjson when installed; both give the same objects)."""
    try:
        import orjson

        return orjson.loads
    except ImportError:  # pragma: no cover - orjson is a dependency
        return json.loads


def is_header(d: Any) -> bool:
    return isinstance(d, dict) and d.get("format") == FORMAT_NAME and "source" not in d


def read_events(path: Path | str, *, strict_tail: bool = False) -> Iterator[Event]:
    """Events of a JSON-lines file, in file order; `-` reads standard input.

    A line that is not a valid event raises EventFormatError naming the file and line (exit 3),
    except an unterminated last line (a recording cut short), which is dropped unless
    `strict_tail`. Blank lines and an optional header line (`{"format": "customhouse-events",
    "version": 1}`) are skipped. Event numbers (`Event.num`) are line numbers.
    """
    import sys

    name = str(path)
    loads = _loads()
    fh: IO[bytes]
    fh = sys.stdin.buffer if name == "-" else open(path, "rb")
    try:
        lineno = 0
        for raw in fh:
            lineno += 1
            if not raw.strip():
                continue
            try:
                d = loads(raw)
            except ValueError as exc:
                if not raw.endswith(b"\n") and not strict_tail:
                    return  # a recording cut short mid-line
                raise EventFormatError(f"{name}:{lineno}: not a JSON event: {exc}") from None
            if lineno == 1 and is_header(d):
                v = d.get("version")
                if v != FORMAT_VERSION:
                    raise EventFormatError(f"{name}:1: unsupported {FORMAT_NAME} version {v!r}")
                continue
            try:
                yield event_from_dict(d, lineno)
            except (ValueError, TypeError) as exc:
                raise EventFormatError(f"{name}:{lineno}: invalid event: {exc}") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read events: {exc.strerror or exc}") from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


class EventWriter:
    """Records events as JSON lines (the replay format), with a header line.

    Usable as a context manager; `write` takes an Event. Lines are flushed in batches; `close`
    flushes the rest. A recording interrupted mid-line replays up to its last whole line.
    """

    def __init__(self, path: Path | str, header: bool = True) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[str] = open(self.path, "w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot record events: {exc.strerror or exc}") from None
        self.count = 0
        if header:
            self._fh.write(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}) + "\n")

    def write(self, e: Event) -> None:
        self._fh.write(json.dumps(event_to_dict(e), separators=(",", ":"), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
