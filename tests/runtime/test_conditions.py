"""The condition language: syntax, precedence, every operator with matching and non-matching cases,
Falco's typed comparisons, lists, indexed fields and transformers.

Each condition is compiled every way the engine may run it (closure tree, one generated closure,
the same specialised to the event's type, and inside a generated bucket of rules) and all must
agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.runtime.events import Event
from customhouse.runtime.rules.codegen import generate_bucket
from customhouse.runtime.rules.compiler import CompileError, Compiler
from customhouse.runtime.rules.fields import UnknownFieldError
from customhouse.runtime.rules.parser import ParseError, parse_condition, to_text
from tests.runtime.evts import audit, connect, execve, open_file, pod, proc, syscall

LISTS = {
    "shells": ["sh", "bash"],
    "more_shells": ["zsh", "fish", "sh", "bash"],  # as the loader resolves [zsh, fish, shells]
    "etc_dirs": ["/etc"],
    "web_ports": ["80", "443"],
}


def evaluate(cond: str, e: Event, macros: dict[str, str] | None = None) -> bool:
    c = Compiler(LISTS, {k: parse_condition(v) for k, v in (macros or {}).items()})
    node = parse_condition(cond)
    tree = c.predicate(node, e.source)(e)
    e._c = None
    gen = c.function(node, e.source)(e)
    assert tree == gen, f"closure tree says {tree}, generated closure says {gen}: {cond}"
    bucket = generate_bucket(c, e.source, [(node, None)], False)(e)
    assert (bucket == [0]) is tree, f"bucket closure disagrees: {cond}"
    types = c.evttypes(node)
    if types is not None and e.type in types:
        e._c = None
        spec = c.function(c.specialise(node, e.type), e.source, e.type)(e)
        assert spec == tree, cond
        typed = generate_bucket(c, e.source, [(node, e.type), (node, e.type)], True)(e)
        assert (typed == [0]) is tree, f"typed bucket closure disagrees: {cond}"
    if types is not None and e.type not in types:
        assert tree is False, f"indexed under {sorted(types)} but true for {e.type}: {cond}"
    e._c = None
    return tree


BASH = execve(
    proc(
        "bash",
        "/bin/bash",
        ["-c", "echo hi"],
        pid=1234,
        tty=34816,
        uid=0,
        user="root",
        parent="sshd",
        grandparent="systemd",
    )
)
BASH.proc.ancestors[0].pid = 100
PASSWD = open_file("/etc/passwd", "O_RDONLY|O_CLOEXEC")
NAMED_007 = execve(proc("007", pid=7))
CONN = connect("140.82.112.3", 443, res=-115)
POD = audit(
    "create",
    "pods",
    groups=["devs", "system:authenticated"],
    request_object=pod(
        {"name": "a", "image": "busybox:1.36"},
        {"name": "b", "image": "docker.io/library/alpine:3.20", "securityContext": {"privileged": True}},
    ),
)
MOUNTED = syscall(
    "openat",
    args={"name": "/x", "flags": 0o1101, "data": "aGVsbG8="},
    fd={"type": "file", "name": "/x"},
    container={
        "id": "abc",
        "image": "nginx",
        "mounts": [
            {"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock", "mode": "rw"},
            {"source": "/srv/data", "dest": "/data", "mode": "ro", "rw": False},
        ],
    },
)

TABLE: list[tuple[str, Event, bool]] = [
    # equality: text fields compare text, numeric fields numbers (Falco's typed comparison)
    ("proc.name = bash", BASH, True),
    ("proc.name == bash", BASH, True),
    ("proc.name = zsh", BASH, False),
    ("proc.pid = 1234", BASH, True),
    ("proc.pid = 01234", BASH, True),
    ("proc.pid = 0x4d2", BASH, True),
    ("proc.name = 007", NAMED_007, True),
    ("proc.name = 7", NAMED_007, False),
    ("proc.pid = 007", NAMED_007, True),
    ("proc.name = '007'", NAMED_007, True),
    ("user.uid = 0", BASH, True),
    ("proc.args = '-c echo hi'", BASH, True),
    ("proc.cmdline = 'bash -c echo hi'", BASH, True),
    # inequality; a field without a value makes every comparison false
    ("proc.name != zsh", BASH, True),
    ("proc.name != bash", BASH, False),
    ("fd.name != /etc/passwd", BASH, False),
    ("not fd.name = /etc/passwd", BASH, True),
    ("fd.name = /etc/passwd", BASH, False),
    # ordering: numbers for numeric fields, text otherwise
    ("proc.pid > 1000", BASH, True),
    ("proc.pid < 1000", BASH, False),
    ("proc.pid >= 1234", BASH, True),
    ("proc.pid <= 1233", BASH, False),
    ("proc.name < c", BASH, True),
    ("proc.name > c", BASH, False),
    ("proc.tty != 0", BASH, True),
    # text operators
    ("proc.cmdline contains echo", BASH, True),
    ("proc.cmdline contains ECHO", BASH, False),
    ("proc.cmdline icontains ECHO", BASH, True),
    ("proc.cmdline contains 'echo hi'", BASH, True),
    ("proc.exepath startswith /bin/", BASH, True),
    ("proc.exepath startswith /usr/", BASH, False),
    ("proc.exepath endswith /bash", BASH, True),
    ("proc.exepath endswith sh/", BASH, False),
    ("proc.name bcontains 6173", BASH, True),
    ("proc.name bcontains 7a7a", BASH, False),
    ("proc.name bstartswith 6261", BASH, True),
    ("proc.name bstartswith 6173", BASH, False),
    # glob: * and ? do not cross '/'
    ("fd.name glob /etc/*", PASSWD, True),
    ("fd.name glob '/*'", PASSWD, False),
    ("fd.name glob /etc/pass??", PASSWD, True),
    ("fd.name glob /etc/[op]asswd", PASSWD, True),
    ("fd.name glob /etc/[!p]asswd", PASSWD, False),
    ("fd.name glob /ETC/*", PASSWD, False),
    ("fd.name iglob /ETC/*", PASSWD, True),
    # regex: RE2, full match
    ("proc.cmdline regex 'bash -c .*'", BASH, True),
    ("proc.cmdline regex echo", BASH, False),
    ("proc.cmdline regex '.*ec[h]o.*'", BASH, True),
    ("fd.name regex '/etc/(passwd|shadow)'", PASSWD, True),
    ("fd.name regex '/etc/\\w+'", PASSWD, True),
    # in / intersects with values, lists and lists inside lists
    ("proc.name in (sh, bash)", BASH, True),
    ("proc.name in (sh, zsh)", BASH, False),
    ("proc.name in (shells)", BASH, True),
    ("proc.name in (more_shells)", BASH, True),
    ("proc.name in (zsh, shells)", BASH, True),
    ("proc.name in ('shells')", BASH, False),
    ("proc.name in ()", BASH, False),
    ("proc.name in (bash)", BASH, True),
    ("proc.name intersects (bash)", BASH, True),
    ("fd.sport in (web_ports)", CONN, True),
    ("fd.sport in (22, 8443)", CONN, False),
    # pmatch: path prefixes (whole components), globs allowed
    ("fd.name pmatch (/etc)", PASSWD, True),
    ("fd.name pmatch (/et)", PASSWD, False),
    ("fd.name pmatch (/etc/passwd)", PASSWD, True),
    ("fd.name pmatch (/etc/passwd/x)", PASSWD, False),
    ("fd.name pmatch (/usr, /etc/)", PASSWD, True),
    ("fd.name pmatch (etc_dirs)", PASSWD, True),
    ("fd.name pmatch (/e*)", PASSWD, True),
    ("fd.name pmatch (/e?c/*)", PASSWD, True),
    ("fd.name pmatch (/)", PASSWD, True),
    ("fd.name pmatch (/var/*)", PASSWD, False),
    # exists
    ("fd.name exists", PASSWD, True),
    ("fd.name exists", BASH, False),
    ("proc.name exists", BASH, True),
    ("k8s.pod.name exists", BASH, True),
    ("container.id exists", BASH, True),
    # precedence: not > and > or; parentheses
    ("not proc.name = zsh and proc.name = bash", BASH, True),
    ("proc.name = zsh or proc.name = bash and proc.pid = 1", BASH, False),
    ("(proc.name = zsh or proc.name = bash) and proc.pid = 1234", BASH, True),
    ("not (proc.name = zsh or proc.name = bash)", BASH, False),
    ("not not proc.name = bash", BASH, True),
    ("proc.name=bash and(proc.pid=1234)", BASH, True),
    # transformers and val()
    ("tolower(proc.name) = bash", execve(proc("BaSh")), True),
    ("toupper(proc.name) = BASH", BASH, True),
    ("basename(proc.exepath) = bash", BASH, True),
    ("len(proc.name) = 4", BASH, True),
    ("len(proc.name) > 4", BASH, False),
    ("len(ka.req.pod.containers.image) = 2", POD, True),
    ("b64(evt.arg.data) = hello", MOUNTED, True),
    ("tolower(toupper(proc.name)) = bash", BASH, True),
    ("proc.name = val(proc.pname)", BASH, False),
    ("proc.pname = val(proc.aname[1])", BASH, True),
    ("proc.pid < val(proc.ppid)", BASH, True),
    ("tolower(proc.name) = tolower(proc.name)", BASH, True),
    # indexed fields
    ("proc.aname[0] = bash", BASH, True),
    ("proc.aname[1] = sshd", BASH, True),
    ("proc.aname[2] = systemd", BASH, True),
    ("proc.aname[3] = systemd", BASH, True),
    ("proc.aname[4] exists", BASH, False),
    ("proc.aname = systemd", BASH, True),
    ("proc.aname = bash", BASH, False),
    ("proc.aname in (sshd, login)", BASH, True),
    ("proc.apid[1] = 100", BASH, True),
    ("proc.pname = sshd", BASH, True),
    ("proc.pcmdline = 'sshd -g daemon off;'", BASH, True),
    ("evt.arg.filename = /bin/bash", BASH, True),
    ("evt.arg[filename] = /bin/bash", BASH, True),
    ("evt.arg[0] = /bin/bash", BASH, True),
    ("evt.arg.flags contains O_TRUNC", MOUNTED, True),
    ("evt.arg.flags = O_WRONLY|O_CREAT|O_TRUNC", MOUNTED, True),
    ("evt.is_open_write = true", MOUNTED, True),
    ("evt.is_open_read = true", MOUNTED, False),
    ("evt.is_open_read = true", PASSWD, True),
    ("container.mount.dest[/var/run/docker.sock] = /var/run/docker.sock", MOUNTED, True),
    ("container.mount.dest[1] = /data", MOUNTED, True),
    ("container.mount.dest intersects (/data)", MOUNTED, True),
    ("container.mount.dest in (/data)", MOUNTED, False),
    ("container.mount.source[/data] = /srv/data", MOUNTED, True),
    ("jevt.value[/verb] = create", POD, True),
    ("jevt.value[/responseStatus/code] >= 200", POD, True),
    ("jevt.value[/responseStatus/code] = 201", POD, True),
    ("jevt.value[/requestObject/spec/containers/1/securityContext/privileged] = true", POD, True),
    ("jevt.value[/nothing/here] exists", POD, False),
    # list fields: in = every value in the set, intersects = some value
    ("ka.req.pod.containers.image in (busybox:1.36, docker.io/library/alpine:3.20)", POD, True),
    ("ka.req.pod.containers.image in (busybox:1.36)", POD, False),
    ("ka.req.pod.containers.image intersects (busybox:1.36)", POD, True),
    ("ka.req.pod.containers.image[1] = docker.io/library/alpine:3.20", POD, True),
    ("ka.req.pod.containers.image.repository intersects (docker.io/library/alpine)", POD, True),
    ("ka.req.pod.containers.privileged intersects (true)", POD, True),
    ("ka.req.pod.containers.privileged in (false)", POD, False),
    ("ka.user.groups intersects (devs)", POD, True),
    ("ka.user.groups = devs", POD, True),
    ("ka.req.pod.containers.image contains alpine", POD, True),
    ("ka.req.pod.containers.image exists", POD, True),
    ("ka.response.code = 201", POD, True),
    ("ka.target.resource = pods and ka.verb = create", POD, True),
    # addresses and networks
    ("fd.sip = 140.82.112.3", CONN, True),
    ("fd.rip = 140.82.112.3", CONN, True),
    ("fd.lip = 10.244.1.5", CONN, True),
    ("fd.rport = 443 and fd.lport = 40000", CONN, True),
    ("fd.snet = 140.82.112.0/20", CONN, True),
    ("fd.rnet in (10.0.0.0/8, 192.168.0.0/16)", CONN, False),
    ("fd.cnet in (10.0.0.0/8, 192.168.0.0/16)", CONN, True),
    ("fd.net = 10.244.0.0/16", CONN, True),
    ("fd.ip = 140.82.112.3", CONN, True),
    ("fd.port = 40000", CONN, True),
    ("fd.typechar = 4 and fd.sockfamily = ip", CONN, True),
    # results
    ("evt.res = EINPROGRESS", CONN, True),
    ("evt.rawres = -115", CONN, True),
    ("evt.failed = true", CONN, True),
    ("evt.res = SUCCESS", BASH, True),
    # event types
    ("evt.type = execve", BASH, True),
    ("evt.type in (open, openat)", PASSWD, True),
    ("evt.type != execve", BASH, False),
    ("evt.type = execve and evt.dir = <", BASH, True),
    ("evt.type startswith exec", BASH, True),
]


@pytest.mark.parametrize(("cond", "event", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_operator_semantics(cond: str, event: Event, expected: bool) -> None:
    assert evaluate(cond, event) is expected


def test_macros_nest_and_expand_once() -> None:
    macros = {"shell": "proc.name in (shells)", "interactive": "shell and proc.tty != 0", "root": "user.uid = 0"}
    assert evaluate("interactive and root", BASH, macros) is True
    assert evaluate("interactive and not root", BASH, macros) is False


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("(proc.name = bash", "unbalanced parentheses"),
        ("proc.name = bash)", "unbalanced parentheses"),
        ("proc.name in (a, b", "unbalanced parentheses"),
        ("proc.name equals bash", "unknown operator 'equals'"),
        ("proc.name =", "expected a value"),
        ("proc.name = 'bash", "unterminated quoted string"),
        ("", "empty condition"),
        ("proc.name = bash and", "unexpected end"),
        ("proc.name = bash bash", "unexpected 'bash'"),
        ("and proc.name = bash", "unexpected 'and'"),
        ("proc.name in (a,,b)", "empty item"),
        ("proc.aname[2 = x", "missing ']'"),
    ],
)
def test_syntax_errors(cond: str, message: str) -> None:
    with pytest.raises(ParseError) as exc:
        parse_condition(cond)
    assert message in exc.value.message


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("proc.pid = abc", "'abc' is not a number"),
        ("proc.pid contains 1", "does not apply to proc.pid (int)"),
        ("fd.sip = 999.1.1.1", "not an IP address"),
        ("fd.rnet in (10.0.0.0/33)", "not an IP network"),
        ("proc.name regex '(a'", "invalid regex"),
        ("proc.name regex '(a)\\1'", "invalid regex"),
        ("proc.name = (a, b)", "takes one value"),
        ("len(proc.pid) = 1", "len() takes"),
        ("tolower(proc.pid) = 1", "tolower() takes a text field"),
        ("proc.name in (val(proc.pname))", "expected ',' or ')'"),
        ("nosuchmacro", "undefined macro 'nosuchmacro'"),
        ("shells", "list 'shells' used as a condition"),
        ("proc.is_exe_writable = maybe", "not true or false"),
    ],
)
def test_compile_errors(cond: str, message: str) -> None:
    c = Compiler(LISTS, {})
    with pytest.raises((CompileError, ParseError)) as exc:
        node = c.expand(parse_condition(cond))
        c.predicate(node, "syscall")
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("cond", "field"),
    [
        ("proc.nosuch = x", "proc.nosuch"),
        ("ka.verb = get", "ka.verb"),  # a k8s_audit field in a syscall condition
        ("proc.aname[x] = y", "proc.aname[x]"),
        ("k8s.pod.label = x", "k8s.pod.label"),
        ("jevt.value[nopointer] = x", "jevt.value[nopointer]"),
    ],
)
def test_unknown_fields(cond: str, field: str) -> None:
    with pytest.raises(UnknownFieldError) as exc:
        Compiler().predicate(parse_condition(cond), "syscall")
    assert exc.value.field == field


def test_macro_cycle_is_an_error() -> None:
    c = Compiler({}, {"a": parse_condition("b"), "b": parse_condition("a")})
    with pytest.raises(CompileError, match="macro cycle: a -> b -> a"):
        c.expand(parse_condition("a"))


def test_evttype_index_analysis() -> None:
    c = Compiler(LISTS, {"spawned": parse_condition("evt.type in (execve, execveat) and evt.dir = <")})

    def types(cond: str) -> set[str] | None:
        t = c.evttypes(parse_condition(cond))
        return None if t is None else set(t)

    assert types("spawned and proc.name = bash") == {"execve", "execveat"}
    assert types("evt.type = open or evt.type = openat") == {"open", "openat"}
    assert types("evt.type in (open, openat) and evt.type = openat") == {"openat"}
    assert types("evt.type = open or proc.name = bash") is None
    assert types("not evt.type = open") is None
    assert types("proc.name = bash") is None
    # constant folding for one type
    node = c.specialise(parse_condition("spawned and (evt.type = execve or proc.name = x)"), "execve")
    assert to_text(node) == "spawned"


def test_quoted_values_and_escapes() -> None:
    e = execve(proc("a b", args=['say "hi"', "C:\\dir"]))
    assert evaluate("proc.name = 'a b'", e)
    assert evaluate('proc.cmdline contains "say \\"hi\\""', e)
    assert evaluate("proc.cmdline endswith 'C:\\\\dir'", e)
    assert evaluate("proc.cmdline contains '\\x22hi'", e)


# --- differential fuzzing: the generated closure and the closure tree never disagree

_FIELDS: list[tuple[str, list[str]]] = [
    ("proc.name", ["bash", "sh", "x", "'a b'"]),
    ("proc.pid", ["0", "1234", "7"]),
    ("proc.tty", ["0", "34816"]),
    ("fd.name", ["/etc/passwd", "/etc", "/x"]),
    ("proc.aname", ["sshd", "systemd"]),
    ("evt.type", ["execve", "openat", "connect"]),
    ("fd.sport", ["443", "80"]),
    ("container.id", ["host", "abc"]),
]
_OPS = ["=", "!=", "in", "exists", "startswith", "pmatch", "<", ">="]
_NUMERIC = {"proc.pid", "proc.tty", "fd.sport"}


@st.composite
def _comparison(draw: Any) -> str:
    field, values = draw(st.sampled_from(_FIELDS))
    op = draw(st.sampled_from(_OPS))
    if field in _NUMERIC and op in ("startswith", "pmatch"):
        op = "="
    if field not in _NUMERIC and op in ("<", ">="):
        op = "!="
    if op == "exists":
        return f"{field} exists"
    if op in ("in", "pmatch"):
        vals = draw(st.lists(st.sampled_from(values), min_size=0, max_size=3))
        return f"{field} {op} ({', '.join(vals)})"
    return f"{field} {op} {draw(st.sampled_from(values))}"


_conditions = st.recursive(
    _comparison(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]} and {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} or {t[1]})"),
        inner.map(lambda c: f"not {c}"),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=_conditions, event=st.sampled_from([BASH, PASSWD, CONN, MOUNTED, NAMED_007]))
def test_generated_closures_agree_with_the_tree(cond: str, event: Event) -> None:
    evaluate(cond, event)
