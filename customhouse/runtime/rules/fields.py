"""The field registry: every `class.field` a condition or output may name, with its type and extractor.

A field resolves to an `Operand`: a getter `(Event) -> value | None`, the value's type and its
multiplicity. None means "not available for this event", and every comparison on it is false.

Types: `string`, `int`, `bool`, `ip` (canonical text), `net` (an IP compared against CIDR
networks), `auto` (number when both sides are numbers, text otherwise: jevt.value, evt.rawarg).
Multiplicity: `""` one value; `"list"` a list with Falco's list semantics (`in`: every element is
in the set, `intersects`: some element is; other operators: some element satisfies them);
`"any"` several candidate values of which any may satisfy every operator (proc.aname without an
index, fd.ip, fd.port, fd.net).

Getters are chosen for speed: `operator.attrgetter` on the event's slots where the value is
stored, small functions where it is derived. They are built once, at rule compile time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any
from urllib.parse import parse_qs, urlsplit

from customhouse.runtime.events import (
    OPEN_TYPES,
    Event,
    errno_name,
    format_time_iso,
    format_time_of_day,
    render_open_flags,
    split_image,
)

Getter = Callable[[Event], Any]
SYSCALL = frozenset(("syscall",))
K8S_AUDIT = frozenset(("k8s_audit",))
ALL_SOURCES = SYSCALL | K8S_AUDIT


class UnknownFieldError(Exception):
    """A field the registry does not know (or not for this source, or with a bad argument)."""

    def __init__(self, field_name: str, reason: str = "") -> None:
        super().__init__(f"unknown field '{field_name}'" + (f" ({reason})" if reason else ""))
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Operand:
    """A resolved field (or transformer over one): what a comparison or output reads."""

    name: str
    type: str
    getter: Getter
    multi: str = ""
    plain_field: str = ""  # the bare field name when no transformer is applied (evt.type indexing)
    attr: str = ""  # "proc.name" when the value is the event's attribute path (read inline by codegen)


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    desc: str
    sources: frozenset[str]
    getter: Getter | None = None  # the form without an argument (None: an argument is required)
    multi: str = ""  # multiplicity of the no-argument form
    arg: str = "none"  # "none" | "optional" | "required": whether name[ARG] is accepted
    arg_desc: str = ""
    make: Callable[[str], Getter] | None = None  # getter for name[ARG]; ValueError for a bad ARG
    arg_multi: str = ""


@dataclass
class Registry:
    fields: dict[str, FieldDef] = field(default_factory=dict)
    # dynamic families "evt.arg.NAME": prefix -> the FieldDef whose make() takes NAME
    families: dict[str, FieldDef] = field(default_factory=dict)

    def add(self, f: FieldDef) -> None:
        self.fields[f.name] = f

    def resolve(self, name: str, arg: str | None, source: str) -> Operand:
        """`proc.aname` + "2" -> an Operand; UnknownFieldError when it cannot be."""
        display = name if arg is None else f"{name}[{arg}]"
        f = self.fields.get(name)
        if f is None:
            for prefix, fam in self.families.items():
                if name.startswith(prefix) and len(name) > len(prefix) and arg is None:
                    f, arg = fam, name[len(prefix) :]
                    break
            else:
                raise UnknownFieldError(display)
        if source not in f.sources:
            raise UnknownFieldError(display, f"not available for source {source}")
        if arg is None:
            if f.getter is None:
                raise UnknownFieldError(display, f"{name} needs an argument: {name}[{f.arg_desc}]")
            return Operand(display, f.type, f.getter, f.multi, name, _attr_path(f.getter))
        if f.arg == "none" or f.make is None:
            raise UnknownFieldError(display, f"{name} takes no argument")
        try:
            getter = f.make(arg)
        except ValueError as exc:
            raise UnknownFieldError(display, str(exc)) from None
        return Operand(display, f.type, getter, f.arg_multi, "")


_ATTRGETTER_REPR = re.compile(r"operator\.attrgetter\('([a-z_]+(?:\.[a-z_]+)*)'\)")


def _attr_path(getter: Getter) -> str:
    """The dotted attribute path of an `attrgetter` from this registry ("" for other getters)."""
    if not isinstance(getter, attrgetter):
        return ""
    m = _ATTRGETTER_REPR.fullmatch(repr(getter))
    return m.group(1) if m else ""


# ------------------------------------------------------------------ extractors


def _index(arg: str) -> int:
    try:
        n = int(arg)
    except ValueError:
        raise ValueError(f"'{arg}' is not an index") from None
    if n < 0:
        raise ValueError(f"'{arg}' is not an index")
    return n


def _arg_str(v: Any, key: str) -> str | None:
    if v is None:
        return None
    if type(v) is str:
        return v
    if key == "flags" and type(v) is int:
        return render_open_flags(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | dict):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _evt_arg(name: str) -> Getter:
    if not name:
        raise ValueError("empty argument name")

    def g(e: Event) -> str | None:
        return _arg_str(e.args.get(name), name)

    return g


def _evt_arg_indexed(arg: str) -> Getter:
    if arg.isdigit():
        n = int(arg)

        def g(e: Event) -> str | None:
            vals = list(e.args)
            return _arg_str(e.args[vals[n]], vals[n]) if n < len(vals) else None

        return g
    return _evt_arg(arg)


def _evt_rawarg(name: str) -> Getter:
    if not name:
        raise ValueError("empty argument name")

    def g(e: Event) -> Any:
        v = e.args.get(name)
        return v if v is None or type(v) in (int, str, float) else _arg_str(v, "")

    return g


def _flags(e: Event) -> str | None:
    if e.type not in OPEN_TYPES:
        return None
    f = e.args.get("flags")
    if type(f) is str:
        return f
    if type(f) is int:
        return render_open_flags(f)
    return "O_WRONLY|O_CREAT|O_TRUNC" if e.type == "creat" else ""


def _is_open_read(e: Event) -> bool | None:
    if e.type not in OPEN_TYPES:
        return None
    f = e.args.get("flags")
    if type(f) is not str:
        f = _flags(e) or ""
    return "O_WRONLY" not in f


def _is_open_write(e: Event) -> bool | None:
    if e.type not in OPEN_TYPES:
        return None
    f = e.args.get("flags")
    if type(f) is not str:
        f = _flags(e) or ""
    return "O_WRONLY" in f or "O_RDWR" in f


def _is_open_create(e: Event) -> bool | None:
    f = _flags(e)
    return None if f is None else ("O_CREAT" in f)


def _proc_args(e: Event) -> str | None:
    p = e.proc
    return None if p.name is None else " ".join(p.args)


def _anc_attr(attr: str, n: int) -> Getter:
    if n == 0:
        return attrgetter("proc." + attr)

    def g(e: Event) -> Any:
        a = e.proc.ancestors
        return getattr(a[n - 1], attr) if len(a) >= n else None

    return g


def _anc_list(attr: str) -> Getter:
    def g(e: Event) -> list[Any]:
        return [v for v in (getattr(a, attr) for a in e.proc.ancestors) if v is not None]

    return g


def _parent_cmdline(e: Event) -> str | None:
    a = e.proc.ancestors
    return a[0].cmdline if a else None


def _sockfamily(e: Event) -> str | None:
    t = e.fd.type
    return "ip" if t in ("ipv4", "ipv6") else ("unix" if t == "unix" else None)


def _local(attr_server: str, attr_client: str) -> Getter:
    def g(e: Event) -> Any:
        fd = e.fd
        if fd.is_server:
            return getattr(fd, attr_server)
        return getattr(fd, attr_client)

    return g


def _both(a: str, b: str) -> Getter:
    def g(e: Event) -> list[Any]:
        fd = e.fd
        return [v for v in (getattr(fd, a), getattr(fd, b)) if v is not None]

    return g


def _rip_name(e: Event) -> str | None:
    fd = e.fd
    return None if fd.is_server else fd.sip_name


def _mounts(e: Event) -> str | None:
    ms = e.container.mounts
    if ms is None:
        return None
    return ",".join(f"{m.source}:{m.dest}:{m.mode}:{'true' if m.rw else 'false'}:{m.propagation}" for m in ms)


def _mount_attr(attr: str, key_attr: str) -> Callable[[str], Getter]:
    """container.mount.dest[N] (Nth mount) or container.mount.dest[/src] (by the other end)."""

    def make(arg: str) -> Getter:
        if arg.isdigit():
            n = int(arg)

            def by_index(e: Event) -> Any:
                ms = e.container.mounts
                return getattr(ms[n], attr) if ms is not None and n < len(ms) else None

            return by_index

        def by_key(e: Event) -> Any:
            for m in e.container.mounts or ():
                if getattr(m, key_attr) == arg:
                    return getattr(m, attr)
            return None

        return by_key

    return make


def _mount_list(attr: str) -> Getter:
    def g(e: Event) -> list[Any]:
        return [getattr(m, attr) for m in e.container.mounts or ()]

    return g


def _pod_label(arg: str) -> Getter:
    def g(e: Event) -> str | None:
        labels = e.k8s.pod_labels
        return None if labels is None else labels.get(arg)

    return g


def _evt_time(e: Event) -> str:
    return format_time_of_day(e.ts)


def _evt_iso(e: Event) -> str:
    return format_time_iso(e.ts)


def _evt_res(e: Event) -> str | None:
    return None if e.source != "syscall" else errno_name(e.res)


def _evt_failed(e: Event) -> bool | None:
    return None if e.source != "syscall" else e.res < 0


# --- k8s audit


def _ka(*keys: str, want: type | tuple[type, ...] = str) -> Getter:
    def g(e: Event) -> Any:
        v: Any = e.audit
        for k in keys:
            if type(v) is not dict:
                return None
            v = v.get(k)
        if v is None or (isinstance(v, bool) and want is not bool):
            return None
        return v if isinstance(v, want) else None

    return g


def _annotation(key: str) -> Getter:
    def g(e: Event) -> str | None:
        a = e.audit
        ann = a.get("annotations") if a else None
        v = ann.get(key) if type(ann) is dict else None
        return v if type(v) is str else None

    return g


def pod_spec(obj: Any) -> dict[str, Any] | None:
    """The pod spec of a Pod, a workload's template, or a CronJob's job template."""
    if type(obj) is not dict:
        return None
    spec = obj.get("spec")
    if type(spec) is not dict:
        return None
    kind = obj.get("kind")
    if kind == "Pod" or "containers" in spec:
        return spec
    if kind == "CronJob":
        jt = spec.get("jobTemplate")
        spec = jt.get("spec") if type(jt) is dict else None
        if type(spec) is not dict:
            return None
    tpl = spec.get("template")
    if type(tpl) is dict and type(tpl.get("spec")) is dict:
        s: dict[str, Any] = tpl["spec"]
        return s
    return None


def _req_pod(e: Event) -> dict[str, Any] | None:
    a = e.audit
    return pod_spec(a.get("requestObject")) if a else None


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        cs = spec.get(key)
        if type(cs) is list:
            out.extend(c for c in cs if type(c) is dict)
    return out


def _pod_containers(fn: Callable[[dict[str, Any]], Any]) -> Getter:
    def g(e: Event) -> list[Any] | None:
        spec = _req_pod(e)
        if spec is None:
            return None
        return [fn(c) for c in _containers(spec)]

    return g


def _pod_containers_index(fn: Callable[[dict[str, Any]], Any]) -> Callable[[str], Getter]:
    def make(arg: str) -> Getter:
        n = _index(arg)
        whole = _pod_containers(fn)

        def g(e: Event) -> Any:
            vals = whole(e)
            return vals[n] if vals is not None and n < len(vals) else None

        return g

    return make


def _sc(c: dict[str, Any], key: str, default: Any) -> Any:
    sc = c.get("securityContext")
    v = sc.get(key) if type(sc) is dict else None
    return default if v is None else v


def _image(c: dict[str, Any]) -> str:
    v = c.get("image")
    return v if type(v) is str else ""


def _image_repo(c: dict[str, Any]) -> str:
    return split_image(_image(c))[0]


def _add_caps(e: Event) -> list[str] | None:
    spec = _req_pod(e)
    if spec is None:
        return None
    out: list[str] = []
    for c in _containers(spec):
        caps = _sc(c, "capabilities", {})
        add = caps.get("add") if type(caps) is dict else None
        if type(add) is list:
            out.extend(str(x) for x in add)
    return out


def _host_ports(e: Event) -> list[int] | None:
    spec = _req_pod(e)
    if spec is None:
        return None
    out: list[int] = []
    for c in _containers(spec):
        for p in c.get("ports") or ():
            if type(p) is dict and type(p.get("hostPort")) is int:
                out.append(p["hostPort"])
    return out


def _pod_bool(key: str) -> Getter:
    def g(e: Event) -> bool | None:
        spec = _req_pod(e)
        if spec is None:
            return None
        return spec.get(key) is True

    return g


def _pod_run_as_user(e: Event) -> int | None:
    spec = _req_pod(e)
    if spec is None:
        return None
    sc = spec.get("securityContext")
    v = sc.get("runAsUser") if type(sc) is dict else None
    return v if type(v) is int else None


def _hostpaths(e: Event) -> list[str] | None:
    spec = _req_pod(e)
    if spec is None:
        return None
    out = []
    for v in spec.get("volumes") or ():
        hp = v.get("hostPath") if type(v) is dict else None
        if type(hp) is dict and type(hp.get("path")) is str:
            out.append(hp["path"])
    return out


def _binding_subjects(e: Event) -> list[str] | None:
    a = e.audit
    ro = a.get("requestObject") if a else None
    subj = ro.get("subjects") if type(ro) is dict else None
    if type(subj) is not list:
        return None
    return [s["name"] for s in subj if type(s) is dict and type(s.get("name")) is str]


def _role_rules(key: str) -> Getter:
    def g(e: Event) -> list[str] | None:
        a = e.audit
        ro = a.get("requestObject") if a else None
        rules = ro.get("rules") if type(ro) is dict else None
        if type(rules) is not list:
            return None
        out: list[str] = []
        for r in rules:
            vals = r.get(key) if type(r) is dict else None
            if type(vals) is list:
                out.extend(str(v) for v in vals)
        return out

    return g


def _str_list(*keys: str) -> Getter:
    def g(e: Event) -> list[str] | None:
        v: Any = e.audit
        for k in keys:
            if type(v) is not dict:
                return None
            v = v.get(k)
        if type(v) is not list:
            return None
        return [str(x) for x in v]

    return g


def _uri_param(arg: str) -> Getter:
    def g(e: Event) -> str | None:
        a = e.audit
        uri = a.get("requestURI") if a else None
        if type(uri) is not str:
            return None
        vals = parse_qs(urlsplit(uri).query).get(arg)
        return vals[0] if vals else None

    return g


def json_pointer(doc: Any, ptr: str) -> Any:
    """RFC 6901 lookup; None when any step is missing."""
    if ptr in ("", "/"):
        return doc
    if not ptr.startswith("/"):
        raise ValueError(f"'{ptr}' is not a JSON pointer")
    v = doc
    for raw in ptr[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if type(v) is dict:
            v = v.get(key)
        elif type(v) is list and key.isdigit():
            i = int(key)
            v = v[i] if i < len(v) else None
        else:
            return None
        if v is None:
            return None
    return v


def _jevt_value(arg: str) -> Getter:
    json_pointer({}, arg)  # validates the pointer's syntax

    def g(e: Event) -> Any:
        v = json_pointer(e.audit, arg)
        if v is None or type(v) in (str, int, float):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v, separators=(",", ":"))

    return g


def _jevt_obj(e: Event) -> str | None:
    return None if e.audit is None else json.dumps(e.audit, separators=(",", ":"))


# ------------------------------------------------------------------ the registry


def _build() -> Registry:
    r = Registry()
    S, K, A = SYSCALL, K8S_AUDIT, ALL_SOURCES

    def f(name: str, typ: str, desc: str, getter: Getter | None, src: frozenset[str] = S, **kw: Any) -> None:
        r.add(FieldDef(name, typ, desc, src, getter, **kw))

    # evt
    f("evt.type", "string", "event type: the syscall name (execve, openat, connect...)", attrgetter("type"), A)
    f("evt.source", "string", "event source: syscall or k8s_audit", attrgetter("source"), A)
    f("evt.num", "int", "event number in its stream (line number when replayed)", attrgetter("num"), A)
    f("evt.time", "string", "event time of day, HH:MM:SS.nnnnnnnnn (UTC)", _evt_time, A)
    f("evt.time.iso8601", "string", "event time, RFC 3339 with nanoseconds", _evt_iso, A)
    f("evt.datetime", "string", "event time, RFC 3339 with nanoseconds", _evt_iso, A)
    f("evt.rawtime", "int", "event time in ns since the epoch", attrgetter("ts"), A)
    f("evt.dir", "string", "direction: < exit, > enter", attrgetter("dir"))
    f("evt.res", "string", "SUCCESS, or the errno name of a failed call (ENOENT)", _evt_res)
    f("evt.rawres", "int", "raw return value (negative errno on failure)", attrgetter("res"))
    f("evt.failed", "bool", "true when the call failed", _evt_failed)
    f("evt.is_open_read", "bool", "open* call with read access", _is_open_read)
    f("evt.is_open_write", "bool", "open* call with write access", _is_open_write)
    f("evt.is_open_create", "bool", "open* call with O_CREAT", _is_open_create)
    arg_def = FieldDef(
        "evt.arg",
        "string",
        "argument by name (evt.arg.path, evt.arg[path]) or position (evt.arg[0]), as text",
        S,
        None,
        arg="required",
        arg_desc="NAME|N",
        make=_evt_arg_indexed,
    )
    r.add(arg_def)
    r.families["evt.arg."] = FieldDef("evt.arg", "string", arg_def.desc, S, None, arg="required", make=_evt_arg)
    raw_def = FieldDef(
        "evt.rawarg", "auto", "argument by name, as recorded (numbers stay numbers)", S, None, arg="required",
        arg_desc="NAME", make=_evt_rawarg,
    )  # fmt: skip
    r.add(raw_def)
    r.families["evt.rawarg."] = raw_def
    # proc / thread / user / group
    f("proc.pid", "int", "process id", attrgetter("proc.pid"))
    f("proc.ppid", "int", "parent process id", attrgetter("proc.ppid"))
    f("proc.sid", "int", "session id", attrgetter("proc.sid"))
    f("proc.name", "string", "process name (executable basename)", attrgetter("proc.name"))
    f("proc.exe", "string", "argv[0] as the program was invoked", attrgetter("proc.exe"))
    f("proc.exepath", "string", "full path of the executable", attrgetter("proc.exepath"))
    f("proc.args", "string", "arguments (argv[1:]) joined by spaces", _proc_args)
    f("proc.cmdline", "string", "name and arguments", attrgetter("proc.cmdline"))
    f("proc.cwd", "string", "working directory", attrgetter("proc.cwd"))
    f("proc.tty", "int", "controlling terminal device number, 0 for none", attrgetter("proc.tty"))
    f("proc.pname", "string", "parent's name", _anc_attr("name", 1))
    f("proc.pexe", "string", "parent's argv[0]", _anc_attr("exe", 1))
    f("proc.pexepath", "string", "parent's executable path", _anc_attr("exepath", 1))
    f("proc.pcmdline", "string", "parent's command line", _parent_cmdline)
    f(
        "proc.aname", "string", "ancestor name: [0] self, [1] parent...; without index: any ancestor",
        _anc_list("name"), multi="any", arg="optional", arg_desc="N",
        make=lambda a: _anc_attr("name", _index(a)),
    )  # fmt: skip
    f(
        "proc.apid", "int", "ancestor pid: [0] self, [1] parent...; without index: any ancestor",
        _anc_list("pid"), multi="any", arg="optional", arg_desc="N",
        make=lambda a: _anc_attr("pid", _index(a)),
    )  # fmt: skip
    f(
        "proc.is_exe_upper_layer",
        "bool",
        "executable is in the container's writable layer",
        attrgetter("proc.exe_upper_layer"),
    )
    f("proc.is_exe_writable", "bool", "executable is writable by the process's user", attrgetter("proc.exe_writable"))
    f("proc.exe_ino.mtime", "int", "executable's modification time (ns)", attrgetter("proc.exe_mtime"))
    f("proc.is_suid_exe", "bool", "executable has the setuid bit (customhouse)", attrgetter("proc.is_suid_exe"))
    f("proc.is_sgid_exe", "bool", "executable has the setgid bit (customhouse)", attrgetter("proc.is_sgid_exe"))
    f("thread.cap_permitted", "string", "permitted capabilities, space separated", attrgetter("proc.cap_permitted"))
    f("thread.cap_effective", "string", "effective capabilities, space separated", attrgetter("proc.cap_effective"))
    f("thread.cap_inheritable", "string", "inheritable capabilities", attrgetter("proc.cap_inheritable"))
    f("user.uid", "int", "user id", attrgetter("proc.uid"))
    f("user.name", "string", "user name", attrgetter("proc.user"))
    f("user.loginuid", "int", "audit login uid (-1: unset)", attrgetter("proc.loginuid"))
    f("user.loginname", "string", "audit login user name", attrgetter("proc.loginname"))
    f("group.gid", "int", "group id", attrgetter("proc.gid"))
    f("group.name", "string", "group name", attrgetter("proc.group"))
    # fd
    f("fd.num", "int", "file descriptor number", attrgetter("fd.num"))
    f("fd.type", "string", "file, directory, ipv4, ipv6, unix, pipe, event, signalfd, ...", attrgetter("fd.type"))
    f("fd.typechar", "string", "fd type as one character: f, d, 4, 6, u, p, ...", attrgetter("fd.typechar"))
    f("fd.name", "string", "file path, or client:port->server:port for sockets", attrgetter("fd.name"))
    f("fd.directory", "string", "directory of a file", attrgetter("fd.directory"))
    f("fd.filename", "string", "file name without its directory", attrgetter("fd.filename"))
    f("fd.l4proto", "string", "tcp, udp, icmp, raw", attrgetter("fd.l4proto"))
    f("fd.sockfamily", "string", "ip or unix", _sockfamily)
    f("fd.is_server", "bool", "this process is the server side of the socket", attrgetter("fd.is_server"))
    f("fd.cip", "ip", "client IP address", attrgetter("fd.cip"))
    f("fd.sip", "ip", "server IP address", attrgetter("fd.sip"))
    f("fd.lip", "ip", "local IP address", _local("sip", "cip"))
    f("fd.rip", "ip", "remote IP address", _local("cip", "sip"))
    f("fd.cport", "int", "client port", attrgetter("fd.cport"))
    f("fd.sport", "int", "server port", attrgetter("fd.sport"))
    f("fd.lport", "int", "local port", _local("sport", "cport"))
    f("fd.rport", "int", "remote port", _local("cport", "sport"))
    f("fd.cnet", "net", "client IP, compared with CIDR networks", attrgetter("fd.cip"))
    f("fd.snet", "net", "server IP, compared with CIDR networks", attrgetter("fd.sip"))
    f("fd.lnet", "net", "local IP, compared with CIDR networks", _local("sip", "cip"))
    f("fd.rnet", "net", "remote IP, compared with CIDR networks", _local("cip", "sip"))
    f("fd.ip", "ip", "client or server IP (either matches)", _both("cip", "sip"), multi="any")
    f("fd.port", "int", "client or server port (either matches)", _both("cport", "sport"), multi="any")
    f("fd.net", "net", "client or server IP against CIDR networks (either matches)", _both("cip", "sip"), multi="any")
    f("fd.sip.name", "string", "server's DNS name, when the source knows it", attrgetter("fd.sip_name"))
    f("fd.rip.name", "string", "remote side's DNS name (client connections)", _rip_name)
    # container / k8s
    f("container.id", "string", "container id (host for host processes)", attrgetter("container.id"))
    f("container.name", "string", "container name", attrgetter("container.name"))
    f("container.image", "string", "image reference", attrgetter("container.image"))
    f("container.image.repository", "string", "image repository", attrgetter("container.image_repository"))
    f("container.image.tag", "string", "image tag", attrgetter("container.image_tag"))
    f("container.image.digest", "string", "image digest", attrgetter("container.image_digest"))
    f("container.privileged", "bool", "container runs privileged", attrgetter("container.privileged"))
    f("container.type", "string", "container runtime (docker, containerd, cri-o)", attrgetter("container.runtime"))
    f("container.start_ts", "int", "container start time, ns (customhouse)", attrgetter("container.start_ts"))
    f("container.mounts", "string", "mounts as source:dest:mode:rw:propagation, comma separated", _mounts)
    f(
        "container.mount.dest", "string", "mount destination: [N] Nth mount, [SOURCE] by source; no index: every one",
        _mount_list("dest"), multi="list", arg="optional", arg_desc="N|SOURCE", make=_mount_attr("dest", "source"),
    )  # fmt: skip
    f(
        "container.mount.source", "string", "mount source: [N] Nth mount, [DEST] by destination; no index: every one",
        _mount_list("source"), multi="list", arg="optional", arg_desc="N|DEST", make=_mount_attr("source", "dest"),
    )  # fmt: skip
    f("k8s.pod.name", "string", "pod name", attrgetter("k8s.pod_name"))
    f("k8s.pod.uid", "string", "pod uid", attrgetter("k8s.pod_uid"))
    f("k8s.ns.name", "string", "namespace name", attrgetter("k8s.ns_name"))
    f("k8s.pod.label", "string", "pod label value", None, arg="required", arg_desc="KEY", make=_pod_label)
    # k8s audit
    f("ka.auditid", "string", "audit event id", _ka("auditID"), K)
    f("ka.stage", "string", "audit stage (ResponseComplete...)", _ka("stage"), K)
    f(
        "ka.auth.decision",
        "string",
        "authorization decision (allow, forbid)",
        _annotation("authorization.k8s.io/decision"),
        K,
    )
    f("ka.auth.reason", "string", "authorization reason", _annotation("authorization.k8s.io/reason"), K)
    f("ka.user.name", "string", "user name", _ka("user", "username"), K)
    f("ka.user.groups", "string", "user groups", _str_list("user", "groups"), K, multi="list")
    f("ka.impuser.name", "string", "impersonated user name", _ka("impersonatedUser", "username"), K)
    f("ka.verb", "string", "verb (create, get, list, patch...)", _ka("verb"), K)
    f("ka.uri", "string", "request URI", _ka("requestURI"), K)
    f(
        "ka.uri.param",
        "string",
        "request URI query parameter",
        None,
        K,
        arg="required",
        arg_desc="NAME",
        make=_uri_param,
    )
    f("ka.target.name", "string", "target object name", _ka("objectRef", "name"), K)
    f("ka.target.namespace", "string", "target object namespace", _ka("objectRef", "namespace"), K)
    f("ka.target.resource", "string", "target resource (pods, secrets...)", _ka("objectRef", "resource"), K)
    f(
        "ka.target.subresource",
        "string",
        "target subresource (exec, attach, log...)",
        _ka("objectRef", "subresource"),
        K,
    )
    f("ka.req.binding.subjects", "string", "role binding subject names", _binding_subjects, K, multi="list")
    f("ka.req.binding.role", "string", "role binding's role name", _ka("requestObject", "roleRef", "name"), K)
    f(
        "ka.req.pod.containers.image", "string", "container images of the requested pod (or workload template)",
        _pod_containers(_image), K, multi="list", arg="optional", arg_desc="N", make=_pod_containers_index(_image),
    )  # fmt: skip
    f(
        "ka.req.pod.containers.image.repository", "string", "container image repositories of the requested pod",
        _pod_containers(_image_repo), K, multi="list", arg="optional", arg_desc="N",
        make=_pod_containers_index(_image_repo),
    )  # fmt: skip
    priv: Callable[[dict[str, Any]], Any] = lambda c: _sc(c, "privileged", False) is True  # noqa: E731
    f(
        "ka.req.pod.containers.privileged", "bool", "privileged flag of each container of the requested pod",
        _pod_containers(priv), K, multi="list", arg="optional", arg_desc="N", make=_pod_containers_index(priv),
    )  # fmt: skip
    ape: Callable[[dict[str, Any]], Any] = lambda c: _sc(c, "allowPrivilegeEscalation", True) is True  # noqa: E731
    f(
        "ka.req.pod.containers.allow_privilege_escalation", "bool", "allowPrivilegeEscalation of each container",
        _pod_containers(ape), K, multi="list",
    )  # fmt: skip
    ro: Callable[[dict[str, Any]], Any] = lambda c: _sc(c, "readOnlyRootFilesystem", False) is True  # noqa: E731
    f(
        "ka.req.pod.containers.read_only_fs",
        "bool",
        "readOnlyRootFilesystem of each container",
        _pod_containers(ro),
        K,
        multi="list",
    )
    f(
        "ka.req.pod.containers.add_capabilities",
        "string",
        "capabilities added by any container",
        _add_caps,
        K,
        multi="list",
    )
    f("ka.req.pod.containers.host_port", "int", "host ports of the requested pod", _host_ports, K, multi="list")
    f("ka.req.pod.host_network", "bool", "requested pod uses the host network", _pod_bool("hostNetwork"), K)
    f("ka.req.pod.host_pid", "bool", "requested pod uses the host PID namespace", _pod_bool("hostPID"), K)
    f("ka.req.pod.host_ipc", "bool", "requested pod uses the host IPC namespace", _pod_bool("hostIPC"), K)
    f("ka.req.pod.run_as_user", "int", "pod-level runAsUser", _pod_run_as_user, K)
    f(
        "ka.req.pod.volumes.hostpath",
        "string",
        "hostPath volume paths of the requested pod",
        _hostpaths,
        K,
        multi="list",
    )
    f("ka.req.role.rules.verbs", "string", "verbs of the requested role's rules", _role_rules("verbs"), K, multi="list")
    f(
        "ka.req.role.rules.resources",
        "string",
        "resources of the requested role's rules",
        _role_rules("resources"),
        K,
        multi="list",
    )
    f(
        "ka.req.role.rules.apigroups",
        "string",
        "API groups of the requested role's rules",
        _role_rules("apiGroups"),
        K,
        multi="list",
    )
    f("ka.req.service.type", "string", "requested service's type", _ka("requestObject", "spec", "type"), K)
    f("ka.resp.name", "string", "response object's name", _ka("responseObject", "metadata", "name"), K)
    f("ka.response.code", "int", "response HTTP status code", _ka("responseStatus", "code", want=int), K)
    f("ka.response.reason", "string", "response reason", _ka("responseStatus", "reason"), K)
    f("ka.useragent", "string", "client user agent", _ka("userAgent"), K)
    f("ka.sourceips", "string", "client IP addresses", _str_list("sourceIPs"), K, multi="list")
    f(
        "jevt.value",
        "auto",
        "value at a JSON pointer in the audit event",
        None,
        K,
        arg="required",
        arg_desc="/POINTER",
        make=_jevt_value,
    )
    f("jevt.obj", "string", "the whole audit event as JSON", _jevt_obj, K)
    f("jevt.time", "string", "event time of day", _evt_time, K)
    f("jevt.rawtime", "int", "event time, ns", attrgetter("ts"), K)
    return r


REGISTRY = _build()
