"""Dockerfiles as a model the checks can reason about: stages, resolved variables, users, commands.

BuildKit's own parser (the `dockerfile` package wraps moby/buildkit's Go parser) splits the text
into instructions, so line continuations, heredocs, parser directives (`# syntax=`, `# escape=`)
and JSON versus shell form mean here exactly what they mean to `docker build`. What that parser
leaves to the build, and the checks need, is done here:

- build stages (`FROM image [AS name]`, `--platform`), which earlier stage a `FROM` or a
  `COPY --from` refers to (by name or index) and which references are external images, parsed
  into registry/repository/tag/digest with Docker Hub short names normalised to docker.io;
- variable substitution as BuildKit performs it: global `ARG`s (before the first `FROM`) are
  visible only to `FROM` lines unless a stage declares them again, `ENV` beats `ARG`, one `ENV`
  instruction sees the values from before it, and only the instructions BuildKit expands (FROM,
  ADD, COPY, ENV, ARG, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL) get `expanded` values;
  `${VAR:-default}`, `${VAR:+alt}`, `${VAR#pattern}` and friends included. A variable whose value
  is only known at build time (an `ARG` without default) is reported in `unresolved`, so checks
  can stay silent rather than guess;
- the effective `USER`, `WORKDIR`, `SHELL` and environment at every instruction, inherited
  through `FROM <earlier stage>`;
- what each `RUN` executes (shell form, JSON form, heredoc bodies and shells fed a heredoc),
  parsed once by customhouse.misconfig.shell, with a map from script offsets back to file
  lines so a finding can point into a heredoc and a fix can edit the exact word.

Input that `docker build` would reject before running anything (no instructions, an unknown
instruction, instructions before the first FROM, an unterminated heredoc, binary content) raises
`DocumentError` with the file and line, which the runner reports as a warning and moves on.
"""

from __future__ import annotations

import os
import posixpath
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from customhouse import _native
from customhouse.errors import DocumentError
from customhouse.misconfig import dfsyntax, shell
from customhouse.misconfig.imageref import ImageRef, parse_image_ref

T = TypeVar("T")

INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
# Instructions whose arguments BuildKit runs through variable substitution.
EXPANDS = frozenset({"ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})
# Set by BuildKit for every build; their values depend on the builder, so they are unknown here.
AUTOMATIC_ARGS = (
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
)
DEFAULT_SHELL = ("/bin/sh", "-c")
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*?)\s*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEREDOC_MARK = re.compile(r"<<(-?)[ \t]*(['\"]?)([^\s'\"<>|&;]+)\2")
_NON_POSIX_SHELLS = frozenset({"powershell", "powershell.exe", "pwsh", "pwsh.exe", "cmd", "cmd.exe"})

Vars = Mapping[str, str | None]  # None: declared, but the value is only known at build time


# --------------------------------------------------------------------------- variable substitution


@dataclass(frozen=True)
class Expanded:
    """A word after substitution; `unresolved` names variables that had no known value."""

    value: str
    unresolved: tuple[str, ...] = ()

    def __init__(self, value: str, unresolved: tuple[str, ...] = ()) -> None:  # compiled: _native.py
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "unresolved", unresolved)


class _Lexer:
    """BuildKit's word processing: quotes removed, escapes applied, `$VAR` forms substituted."""

    def __init__(self, text: str, variables: Vars, escape: str, quotes: bool) -> None:
        self.t = text
        self.n = len(text)
        self.i = 0
        self.vars = variables
        self.esc = escape
        self.quotes = quotes
        self.unresolved: list[str] = []

    def run(self, stops: str = "") -> str:
        out: list[str] = []
        t = self.t
        while self.i < self.n:
            ch = t[self.i]
            if ch in stops:
                break
            if ch == self.esc and self.quotes:
                if self.i + 1 < self.n:
                    out.append(t[self.i + 1])
                self.i += 2
                continue
            if self.quotes and ch == "'":
                j = t.find("'", self.i + 1)
                j = self.n if j < 0 else j
                out.append(t[self.i + 1 : j])
                self.i = j + 1
                continue
            if self.quotes and ch == '"':
                self.i += 1
                out.append(self._dquote())
                continue
            if ch == "$":
                out.append(self._dollar())
                continue
            out.append(ch)
            self.i += 1
        return "".join(out)

    def _dquote(self) -> str:
        out: list[str] = []
        t = self.t
        while self.i < self.n:
            ch = t[self.i]
            if ch == '"':
                self.i += 1
                break
            if ch == self.esc and self.i + 1 < self.n and t[self.i + 1] in ('"', "$", self.esc):
                out.append(t[self.i + 1])
                self.i += 2
                continue
            if ch == "$":
                out.append(self._dollar())
                continue
            out.append(ch)
            self.i += 1
        return "".join(out)

    def _lookup(self, name: str) -> str | None:
        value = self.vars.get(name)
        if value is None:
            self.unresolved.append(name)
        return value

    def _dollar(self) -> str:
        t = self.t
        self.i += 1
        if self.i >= self.n:
            return "$"
        if t[self.i] != "{":
            m = _NAME.match(t, self.i)
            if not m:
                return "$"
            self.i = m.end()
            return self._lookup(m.group(0)) or ""
        self.i += 1
        m = _NAME.match(t, self.i)
        if not m:  # `${#x}`, `${1}` and the like: not BuildKit syntax, keep the text
            j = t.find("}", self.i)
            j = self.n if j < 0 else j
            raw = t[self.i - 2 : j + 1]
            self.i = j + 1
            return raw
        name = m.group(0)
        self.i = m.end()
        if self.i >= self.n:
            return self._lookup(name) or ""
        op = t[self.i]
        if op == "}":
            self.i += 1
            return self._lookup(name) or ""
        colon = False
        if op == ":" and self.i + 1 < self.n and t[self.i + 1] in "-+?":
            colon = True
            self.i += 1
            op = t[self.i]
        value = self.vars.get(name)
        is_set = name in self.vars and value is not None
        if op in "-+?":
            self.i += 1
            word = self.run("}")
            self.i += 1
            present = is_set and (bool(value) or not colon)
            if op == "-":
                return value or "" if present else word
            if op == "+":
                return word if present else ""
            if not present:
                self.unresolved.append(name)
            return value or ""
        if op in "#%":
            longest = self.i + 1 < self.n and t[self.i + 1] == op
            self.i += 2 if longest else 1
            pattern = self.run("}")
            self.i += 1
            current = value if value is not None else (self._lookup(name) or "")
            return _trim(current, pattern, prefix=op == "#", longest=longest)
        if op == "/":
            every = self.i + 1 < self.n and t[self.i + 1] == "/"
            self.i += 2 if every else 1
            pattern = self.run("/}")
            repl = ""
            if self.i < self.n and t[self.i] == "/":
                self.i += 1
                repl = self.run("}")
            self.i += 1
            current = value if value is not None else (self._lookup(name) or "")
            return _substitute(current, pattern, repl, every)
        j = t.find("}", self.i)  # unknown modifier: BuildKit would fail; keep the text
        j = self.n if j < 0 else j
        self.i = j + 1
        return ""


def _glob_regex(pattern: str, greedy: bool) -> re.Pattern[str]:
    star = ".*" if greedy else ".*?"
    out = "".join(star if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(out, re.S)


def _trim(value: str, pattern: str, prefix: bool, longest: bool) -> str:
    rx = _glob_regex(pattern, True)
    sizes = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for k in sizes:
        part = value[:k] if prefix else value[len(value) - k :]
        if rx.fullmatch(part):
            return value[k:] if prefix else value[: len(value) - k]
    return value


def _substitute(value: str, pattern: str, repl: str, every: bool) -> str:
    if not pattern:
        return value
    rx = _glob_regex(pattern, True)
    return rx.sub(lambda _m: repl, value, count=0 if every else 1)


def expand(word: str, variables: Vars, escape: str = "\\", quotes: bool = True) -> Expanded:
    """Substitute variables in one word as BuildKit does (and remove quotes unless told not to)."""
    if "$" not in word and (not quotes or not any(c in word for c in ("'", '"', escape))):
        return Expanded(word)
    lx = _Lexer(word, variables, escape, quotes)
    value = lx.run()
    return Expanded(value, tuple(dict.fromkeys(lx.unresolved)))


# --------------------------------------------------------------------------- source positions


@dataclass(frozen=True)
class SourceMap:
    """Offsets in a derived text (a logical line, a script) -> (line, column) in the file."""

    offsets: tuple[int, ...]
    lines: tuple[int, ...]
    columns: tuple[int, ...]

    def __init__(self, offsets: tuple[int, ...], lines: tuple[int, ...], columns: tuple[int, ...]) -> None:
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "lines", lines)
        object.__setattr__(self, "columns", columns)

    def locate(self, offset: int) -> tuple[int, int]:
        if not self.offsets:
            return 0, 0
        k = max(bisect_right(self.offsets, offset) - 1, 0)
        return self.lines[k], self.columns[k] + max(offset - self.offsets[k], 0)

    def shifted(self, start: int) -> SourceMap:
        """The map of `text[start:]`."""
        if not self.offsets:
            return self
        k = max(bisect_right(self.offsets, start) - 1, 0)
        offs = [max(o - start, 0) for o in self.offsets[k:]]
        cols = list(self.columns[k:])
        cols[0] += max(start - self.offsets[k], 0)
        return SourceMap(tuple(offs), self.lines[k:], tuple(cols))


def _join_logical(lines: list[str], start: int, escape: str) -> tuple[str, SourceMap, int]:
    """The logical line starting at physical line `start` (1-based): continuations joined the
    way BuildKit joins them (escape + optional blanks at end of line; comment and blank lines
    inside a continuation dropped). Returns (text, map, last physical line)."""
    parts: list[str] = []
    offs: list[int] = []
    lns: list[int] = []
    cols: list[int] = []
    pos = 0
    n = start
    first = True
    while n <= len(lines):
        raw = lines[n - 1].rstrip("\r")
        if not first and (not raw.strip() or raw.lstrip().startswith("#")):
            n += 1
            continue
        col = 1
        if first:
            stripped = raw.lstrip()
            col += len(raw) - len(stripped)
            raw = stripped
        body = raw.rstrip(" \t")
        cont = bool(escape) and body.endswith(escape)  # the escape character, then only blanks: it goes on
        piece = body[: -len(escape)] if cont else raw
        parts.append(piece)
        offs.append(pos)
        lns.append(n)
        cols.append(col)
        pos += len(piece)
        first = False
        if not cont:
            break
        n += 1
    last = min(n, len(lines)) if lines else start
    return "".join(parts), SourceMap(tuple(offs), tuple(lns), tuple(cols)), max(last, start)


def _lines_map(first_line: int, text: str, column: int = 1) -> SourceMap:
    offs, lns, cols = [0], [first_line], [column]
    pos = 0
    for k, line in enumerate(text.split("\n")[:-1]):
        pos += len(line) + 1
        offs.append(pos)
        lns.append(first_line + k + 1)
        cols.append(1)
    return SourceMap(tuple(offs), tuple(lns), tuple(cols))


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Heredoc:
    """A here-document body. `expand`: the delimiter was unquoted, so `$VAR`s in it expand."""

    name: str
    content: str
    line: int  # first body line (the terminator's line when the body is empty)
    end_line: int  # the terminator's line
    expand: bool = True
    chomp: bool = False  # `<<-`: leading tabs stripped


@dataclass(frozen=True)
class KeyValue:
    """One `key=value` of ENV, LABEL or ARG: as written and after substitution (None: no value)."""

    key: str
    raw: str | None
    value: str | None
    unresolved: tuple[str, ...] = ()

    def __init__(self, key: str, raw: str | None, value: str | None, unresolved: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "unresolved", unresolved)


@dataclass(frozen=True)
class RunScript:
    """One shell script a RUN executes and where its text lives in the file.

    `origin`: "shell" (shell form, heredocs included for the shell to read), "exec" (JSON form),
    "heredoc" (the body of `RUN <<EOF`, or of a heredoc fed to `sh`/`bash`).
    """

    script: shell.ShellScript
    origin: str
    source_map: SourceMap
    heredoc: Heredoc | None = None

    def __init__(
        self, script: shell.ShellScript, origin: str, source_map: SourceMap, heredoc: Heredoc | None = None
    ) -> None:
        object.__setattr__(self, "script", script)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "source_map", source_map)
        object.__setattr__(self, "heredoc", heredoc)

    def position(self, offset: int) -> tuple[int, int]:
        return self.source_map.locate(offset)

    def line_of(self, cmd: shell.SimpleCommand) -> int:
        return self.source_map.locate(cmd.start)[0]


@dataclass(frozen=True)
class CopyFrom:
    """Where `COPY --from=X` takes files from: an earlier stage, or an image (or neither)."""

    raw: str
    value: str
    stage: int | None = None
    image: ImageRef | None = None
    unresolved: tuple[str, ...] = ()


@dataclass(eq=False)
class Instruction:
    """One instruction. Lines are 1-based; `header_end` is its last line before heredoc bodies."""

    cmd: str
    line: int
    end_line: int
    column: int
    original: str
    args: tuple[str, ...]
    json: bool = False
    flags: tuple[tuple[str, str | None], ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    stage: int = -1
    index: int = 0
    header_end: int = 0
    expanded: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    pairs: tuple[KeyValue, ...] = ()
    trigger: Instruction | None = None  # ONBUILD's instruction
    scripts: tuple[RunScript, ...] = ()
    copy_from: CopyFrom | None = None
    mounts: tuple[dict[str, str], ...] = ()
    user: str | None = None  # effective USER when it runs (None: the base image's default)
    workdir: str = ""  # effective WORKDIR when it runs ("": never set in this Dockerfile)
    vars: Vars = field(default_factory=dict, repr=False)
    keyword_line: str = field(default="", repr=False)

    def __init__(
        self,
        cmd: str,
        line: int,
        end_line: int,
        column: int,
        original: str,
        args: tuple[str, ...],
        json: bool = False,
        flags: tuple[tuple[str, str | None], ...] = (),
        heredocs: tuple[Heredoc, ...] = (),
        stage: int = -1,
        index: int = 0,
        header_end: int = 0,
        expanded: tuple[str, ...] = (),
        unresolved: tuple[str, ...] = (),
        pairs: tuple[KeyValue, ...] = (),
        trigger: Instruction | None = None,
        scripts: tuple[RunScript, ...] = (),
        copy_from: CopyFrom | None = None,
        mounts: tuple[dict[str, str], ...] = (),
        user: str | None = None,
        workdir: str = "",
        vars: Vars | None = None,
        keyword_line: str = "",
    ) -> None:  # written out so that mypyc compiles it (customhouse/_native.py)
        self.cmd = cmd
        self.line = line
        self.end_line = end_line
        self.column = column
        self.original = original
        self.args = args
        self.json = json
        self.flags = flags
        self.heredocs = heredocs
        self.stage = stage
        self.index = index
        self.header_end = header_end
        self.expanded = expanded
        self.unresolved = unresolved
        self.pairs = pairs
        self.trigger = trigger
        self.scripts = scripts
        self.copy_from = copy_from
        self.mounts = mounts
        self.user = user
        self.workdir = workdir
        self.vars = {} if vars is None else vars
        self.keyword_line = keyword_line

    def flag(self, name: str) -> str | None:
        """The last value of `--name` ("" for a bare `--name`), None when absent."""
        out: str | None = None
        for k, v in self.flags:
            if k == name:
                out = "" if v is None else v
        return out

    def flag_values(self, name: str) -> list[str]:
        return [v or "" for k, v in self.flags if k == name]

    def commands(self) -> Iterator[tuple[RunScript, int, shell.SimpleCommand]]:
        """Every simple command this RUN executes: (script, index in the script, command)."""
        for rs in self.scripts:
            for i, c in enumerate(rs.script.commands):
                yield rs, i, c

    def package_ops(self) -> Iterator[tuple[RunScript, shell.PackageOp]]:
        for rs in self.scripts:
            for op in rs.script.packages:
                yield rs, op

    @property
    def reads(self) -> frozenset[str]:
        """Variables the RUN's scripts read."""
        out: set[str] = set()
        for rs in self.scripts:
            out |= rs.script.parameters
        return frozenset(out)

    def secret_mount_envs(self) -> frozenset[str]:
        return frozenset(m["env"] for m in self.mounts if m.get("type") == "secret" and m.get("env"))

    def mount_targets(self, kind: str) -> list[str]:
        return [m.get("target", m.get("dst", m.get("destination", ""))) for m in self.mounts if m.get("type") == kind]


@dataclass(eq=False)
class Stage:
    """A build stage. `user`/`env`/`workdir`/`shell` are the values at its end, inherited through
    `FROM <earlier stage>`; `user` None means the base image's own default (often root)."""

    index: int
    name: str
    base: str  # FROM reference after substitution of global ARGs
    base_raw: str
    platform: str
    line: int
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)
    base_stage: int | None = None
    image: ImageRef | None = None
    base_unresolved: tuple[str, ...] = ()
    scratch: bool = False
    user: str | None = None
    user_instruction: Instruction | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)
    workdir: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    windows: bool = False

    def __init__(
        self,
        index: int,
        name: str,
        base: str,
        base_raw: str,
        platform: str,
        line: int,
        from_instruction: Instruction,
        instructions: list[Instruction] | None = None,
        base_stage: int | None = None,
        image: ImageRef | None = None,
        base_unresolved: tuple[str, ...] = (),
        scratch: bool = False,
        user: str | None = None,
        user_instruction: Instruction | None = None,
        env: dict[str, str | None] | None = None,
        args: dict[str, str | None] | None = None,
        workdir: str = "",
        shell: tuple[str, ...] = DEFAULT_SHELL,
        windows: bool = False,
    ) -> None:  # written out so that mypyc compiles it (customhouse/_native.py)
        self.index = index
        self.name = name
        self.base = base
        self.base_raw = base_raw
        self.platform = platform
        self.line = line
        self.from_instruction = from_instruction
        self.instructions = [] if instructions is None else instructions
        self.base_stage = base_stage
        self.image = image
        self.base_unresolved = base_unresolved
        self.scratch = scratch
        self.user = user
        self.user_instruction = user_instruction
        self.env = {} if env is None else env
        self.args = {} if args is None else args
        self.workdir = workdir
        self.shell = shell
        self.windows = windows

    @property
    def label(self) -> str:
        return f"stage {self.name!r}" if self.name else f"stage {self.index}"

    def of(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]


@dataclass(eq=False)
class DockerfileModel:
    """A parsed Dockerfile. `instructions` lists every instruction in file order (global ARGs
    included, stage -1); `stages[-1]` is the stage `docker build` produces by default."""

    path: str
    directives: dict[str, str]
    escape: str
    instructions: list[Instruction]
    stages: list[Stage]
    global_vars: dict[str, str | None]
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def __init__(
        self,
        path: str,
        directives: dict[str, str],
        escape: str,
        instructions: list[Instruction],
        stages: list[Stage],
        global_vars: dict[str, str | None],
        _memo: dict[str, Any] | None = None,
    ) -> None:  # written out so that mypyc compiles it (customhouse/_native.py)
        self.path = path
        self.directives = directives
        self.escape = escape
        self.instructions = instructions
        self.stages = stages
        self.global_vars = global_vars
        self._memo = {} if _memo is None else _memo

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def global_args(self) -> list[Instruction]:
        return [i for i in self.instructions if i.stage < 0]

    def stage_named(self, name: str) -> Stage | None:
        low = name.lower()
        for s in self.stages:
            if s.name == low:
                return s
        return None

    def base_chain(self, stage: Stage) -> list[Stage]:
        """`stage` and the earlier stages it is built on, nearest first."""
        out = [stage]
        seen = {stage.index}
        while out[-1].base_stage is not None and out[-1].base_stage not in seen:
            nxt = self.stages[out[-1].base_stage]
            seen.add(nxt.index)
            out.append(nxt)
        return out

    def shipped(self) -> list[Stage]:
        """Stages whose layers end up in the final image: the final stage and its base stages."""
        return self.memo("shipped", lambda: self.base_chain(self.final))

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Per-document analysis shared by several checks, computed once."""
        if key not in self._memo:
            self._memo[key] = compute()
        value: T = self._memo[key]
        return value

    def to_input(self) -> dict[str, Any]:
        """The policy (Rego) view: plain JSON with stages, instructions and RUN commands."""
        stages = []
        for s in self.stages:
            stages.append(
                {
                    "index": s.index,
                    "name": s.name,
                    "line": s.line,
                    "base": s.base,
                    "base_stage": s.base_stage,
                    "platform": s.platform,
                    "scratch": s.scratch,
                    "image": None
                    if s.image is None
                    else {
                        "registry": s.image.registry,
                        "repository": s.image.repository,
                        "tag": s.image.tag,
                        "digest": s.image.digest,
                    },
                    "user": s.user,
                    "workdir": s.workdir,
                    "shell": list(s.shell),
                }
            )
        instructions = []
        for ins in self.instructions:
            item: dict[str, Any] = {
                "cmd": ins.cmd,
                "line": ins.line,
                "end_line": ins.end_line,
                "stage": ins.stage,
                "json": ins.json,
                "args": list(ins.args),
                "expanded": list(ins.expanded),
                "flags": {k: (v if v is not None else True) for k, v in ins.flags},
                "original": ins.original,
            }
            if ins.pairs:
                item["pairs"] = [{"key": p.key, "value": p.value} for p in ins.pairs]
            if ins.heredocs:
                item["heredocs"] = [{"name": h.name, "content": h.content, "line": h.line} for h in ins.heredocs]
            if ins.scripts:
                item["commands"] = [
                    {"argv": list(c.argv), "line": rs.line_of(c), "pipeline": c.pipeline, "pipe_pos": c.pipe_pos}
                    for rs, _i, c in ins.commands()
                ]
            if ins.trigger is not None:
                item["trigger"] = {"cmd": ins.trigger.cmd, "args": list(ins.trigger.args)}
            instructions.append(item)
        return {
            "directives": dict(self.directives),
            "stages": stages,
            "instructions": instructions,
            "final_stage": len(self.stages) - 1,
        }


# --------------------------------------------------------------------------- parsing


def _directives(lines: list[str]) -> dict[str, str]:
    """Parser directives: `# key=value` lines at the very top, before anything else."""
    out: dict[str, str] = {}
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        key = m.group(1).lower()
        if key in out:
            break
        out[key] = m.group(2)
    return out


def _fail(path: str, line: int, reason: str) -> DocumentError:
    where = f"{path}:{line}" if line > 0 else path
    return DocumentError(f"{where}: {reason}", line)


def _go_error_line(message: str, lines: list[str]) -> int:
    m = re.search(r"line (\d+)", message)
    if m:
        return int(m.group(1))
    if "heredoc" in message:
        for n in range(len(lines), 0, -1):
            if "<<" in lines[n - 1]:
                return n
    return 1 if lines else 0


def _first_failing_line(message: str, lines: list[str], escape: str) -> int:
    """The line a line-less parser error belongs to (`ENV must have two arguments`).

    The Go parser names no line for errors found while splitting an instruction's arguments, so
    the shortest prefix of the file that fails with the same message is searched for; only
    files that are already broken pay for the few extra parses.
    """
    import dockerfile

    def fails(k: int) -> bool:
        try:
            dockerfile.parse_string("\n".join(lines[:k]))
        except Exception as exc:
            return str(exc) == message
        return False

    lo, hi = 1, len(lines)
    if not lines or not fails(hi):
        return 1 if lines else 0
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    while lo > 1 and lines[lo - 2].rstrip().endswith(escape):  # back to the instruction's first line
        lo -= 1
    return lo


def _parse_flags(raw: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for f in raw:
        body = f[2:] if f.startswith("--") else f
        name, eq, value = body.partition("=")
        out.append((name.lower(), value if eq else None))
    return tuple(out)


def _parse_mount(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if k:
            out[k] = v.strip().strip("\"'") if eq else "true"
    out.setdefault("type", "bind")
    return out


def _is_windows_image(ref: str) -> bool:
    low = ref.lower()
    return low.startswith("mcr.microsoft.com/windows") or "nanoserver" in low or "servercore" in low


class _Builder:
    def __init__(self, text: str, path: str, lines: list[str] | None = None) -> None:
        self.text = text
        self.path = path
        self.lines = text.split("\n") if lines is None else lines
        self.directives = _directives(self.lines)
        self.escape = self.directives.get("escape", "\\") or "\\"
        self.instructions: list[Instruction] = []
        self.stages: list[Stage] = []
        self.global_vars: dict[str, str | None] = {}

    # -- helpers
    def _expand(self, word: str, variables: Vars, quotes: bool = True) -> Expanded:
        return expand(word, variables, self.escape, quotes)

    def _stage_vars(self, st: Stage) -> dict[str, str | None]:
        merged = dict(st.args)
        merged.update(st.env)
        return merged

    # -- main loop
    def build(self, cmds: tuple[Any, ...]) -> DockerfileModel:
        for n, c in enumerate(cmds):
            keyword = str(c.cmd).upper()
            if keyword not in INSTRUCTIONS:
                raise _fail(self.path, c.start_line, f"unknown instruction {str(c.cmd)!r}")
            if not self.stages and keyword not in ("ARG", "FROM"):
                raise _fail(self.path, c.start_line, f"{keyword} before the first FROM (only ARG may come first)")
            ins = self._instruction(c, keyword, n)
            if keyword == "FROM":
                self._from(ins)
            elif not self.stages:
                self._global_arg(ins)
            else:
                self._in_stage(ins, self.stages[-1])
            self.instructions.append(ins)
        if not self.stages:
            last = self.instructions[-1].line if self.instructions else 1
            raise _fail(self.path, last, "no FROM instruction")
        return DockerfileModel(
            path=self.path,
            directives=self.directives,
            escape=self.escape,
            instructions=self.instructions,
            stages=self.stages,
            global_vars=self.global_vars,
        )

    def _instruction(self, c: Any, keyword: str, index: int) -> Instruction:
        start = int(c.start_line)
        end = int(c.end_line)
        first_line = self.lines[start - 1] if 0 < start <= len(self.lines) else ""
        column = len(first_line) - len(first_line.lstrip()) + 1
        # a one-line instruction (most of them) ends where it starts: no need to join lines
        header_end = _join_logical(self.lines, start, self.escape)[2] if end > start or c.heredocs else start
        heredocs = self._heredocs(c, header_end, end)
        ins = Instruction(
            cmd=keyword,
            line=start,
            end_line=max(end, start),
            column=column,
            original=str(c.original),
            args=tuple(str(v) for v in c.value),
            json=bool(c.json),
            flags=_parse_flags(tuple(c.flags)),
            heredocs=heredocs,
            index=index,
            header_end=min(header_end, max(end, start)),
            keyword_line=first_line,
        )
        if keyword == "ONBUILD" and c.sub_cmd:
            ins.trigger = self._trigger(ins, str(c.sub_cmd).upper())
        return ins

    def _heredocs(self, c: Any, header_end: int, end: int) -> tuple[Heredoc, ...]:
        if not c.heredocs:
            return ()
        header = " ".join(str(v) for v in c.value)
        marks = {m.group(3): (m.group(1) == "-", m.group(2) == "") for m in _HEREDOC_MARK.finditer(header)}
        out: list[Heredoc] = []
        line = header_end + 1
        for h in c.heredocs:
            chomp, expand_ = marks.get(str(h.name), (False, True))
            content = str(h.content)
            if chomp:
                content = "\n".join(x.lstrip("\t") for x in content.split("\n"))
            count = content.count("\n")
            out.append(Heredoc(str(h.name), content, line, line + count, expand_, chomp))
            line += count + 1
        if out and out[-1].end_line != end:  # trust the parser's end line; place bodies backwards
            fixed: list[Heredoc] = []
            term = end
            for h in reversed(out):
                count = h.content.count("\n")
                fixed.append(Heredoc(h.name, h.content, term - count, term, h.expand, h.chomp))
                term -= count + 1
            out = list(reversed(fixed))
        return tuple(out)

    def _trigger(self, ins: Instruction, sub: str) -> Instruction | None:
        """ONBUILD's instruction, parsed again on its own so its flags are kept."""
        import dockerfile

        text = ins.original
        m = re.match(r"\s*onbuild\s+", text, re.I)
        body = text[m.end() :] if m else text
        try:
            parsed = dockerfile.parse_string(f"# escape={self.escape}\nFROM scratch\n{body}\n")
        except Exception:
            return None
        if len(parsed) < 2:
            return None
        c = parsed[1]
        trig = Instruction(
            cmd=str(c.cmd).upper(),
            line=ins.line,
            end_line=ins.end_line,
            column=ins.column,
            original=body,
            args=tuple(str(v) for v in c.value),
            json=bool(c.json),
            flags=_parse_flags(tuple(c.flags)),
            index=ins.index,
            header_end=ins.header_end,
            keyword_line=ins.keyword_line,
        )
        if trig.cmd == "RUN":
            trig.mounts = tuple(_parse_mount(v) for v in trig.flag_values("mount"))
            trig.scripts = (self._exec_or_shell(trig, self._shell_text(trig), None),)
        return trig

    # -- FROM and stages
    def _from(self, ins: Instruction) -> None:
        args = ins.args
        if len(args) not in (1, 3) or (len(args) == 3 and args[1].lower() != "as"):
            raise _fail(self.path, ins.line, "FROM takes an image and optionally `AS name`")
        gvars: dict[str, str | None] = {a: None for a in AUTOMATIC_ARGS}
        gvars.update(self.global_vars)
        exp = self._expand(args[0], gvars)
        name = args[2].lower() if len(args) == 3 else ""
        platform_raw = ins.flag("platform") or ""
        ins.expanded = (exp.value, *args[1:])
        ins.unresolved = exp.unresolved
        ins.stage = len(self.stages)
        base = exp.value
        st = Stage(
            index=len(self.stages),
            name=name,
            base=base,
            base_raw=args[0],
            platform=platform_raw,
            line=ins.line,
            from_instruction=ins,
            base_unresolved=exp.unresolved,
        )
        parent = None
        if base and not exp.unresolved:
            for prev in self.stages:
                if prev.name and prev.name == base.lower():
                    parent = prev
        if parent is not None:
            st.base_stage = parent.index
            st.user = parent.user
            st.user_instruction = parent.user_instruction
            st.env = dict(parent.env)
            st.workdir = parent.workdir
            st.shell = parent.shell
            st.windows = parent.windows
            st.scratch = parent.scratch
        elif base.lower() == "scratch":
            st.scratch = True
        else:
            st.image = parse_image_ref(base) if base else None
            st.windows = _is_windows_image(base) or self.escape == "`"
            if st.windows:
                st.shell = ("cmd", "/S", "/C")
        ins.user, ins.workdir, ins.vars = st.user, st.workdir, self._stage_vars(st)
        self.stages.append(st)

    def _global_arg(self, ins: Instruction) -> None:
        pairs = []
        for word in ins.args:
            key, eq, raw = word.partition("=")
            if eq:
                exp = self._expand(raw, self.global_vars)
                self.global_vars[key] = exp.value
                pairs.append(KeyValue(key, raw, exp.value, exp.unresolved))
            else:
                self.global_vars.setdefault(key, None)
                pairs.append(KeyValue(key, None, None))
        ins.pairs = tuple(pairs)
        ins.expanded = tuple(f"{p.key}={p.value}" if p.value is not None else p.key for p in pairs)
        ins.vars = dict(self.global_vars)

    def _in_stage(self, ins: Instruction, st: Stage) -> None:
        ins.stage = st.index
        ins.user = st.user
        ins.workdir = st.workdir
        variables = self._stage_vars(st)
        ins.vars = variables
        st.instructions.append(ins)
        kw = ins.cmd
        if kw == "ARG":
            pairs = []
            for word in ins.args:
                key, eq, raw = word.partition("=")
                if eq:
                    exp = self._expand(raw, variables)
                    st.args[key] = exp.value
                    pairs.append(KeyValue(key, raw, exp.value, exp.unresolved))
                else:
                    st.args[key] = self.global_vars.get(key)
                    pairs.append(KeyValue(key, None, st.args[key]))
            ins.pairs = tuple(pairs)
            ins.expanded = tuple(f"{p.key}={p.value}" if p.value is not None else p.key for p in pairs)
        elif kw in ("ENV", "LABEL"):
            pairs = []
            unresolved: list[str] = []
            vals = ins.args
            for k in range(0, len(vals) - 1, 2):
                key = self._expand(vals[k], variables).value if kw == "LABEL" else vals[k]
                exp = self._expand(vals[k + 1], variables)
                unresolved.extend(exp.unresolved)
                pairs.append(KeyValue(key, vals[k + 1], exp.value, exp.unresolved))
            ins.pairs = tuple(pairs)
            ins.expanded = tuple(f"{p.key}={p.value}" for p in pairs)
            ins.unresolved = tuple(dict.fromkeys(unresolved))
            if kw == "ENV":
                for p in pairs:
                    st.env[p.key] = p.value
        elif kw in EXPANDS:
            words = [self._expand(a, variables) for a in ins.args] if not ins.json else None
            if words is None:  # JSON form: values are literal strings, variables still expand
                words = [self._expand(a, variables, quotes=False) for a in ins.args]
            ins.expanded = tuple(w.value for w in words)
            ins.unresolved = tuple(dict.fromkeys(n for w in words for n in w.unresolved))
            if kw == "USER" and ins.expanded:
                st.user = ins.expanded[0].strip()
                st.user_instruction = ins
            elif kw == "WORKDIR" and ins.expanded:
                target = ins.expanded[0]
                if _absolute(target):
                    st.workdir = posixpath.normpath(target) if target.startswith("/") else target
                else:
                    st.workdir = posixpath.join(st.workdir or "/", target)
            elif kw in ("COPY", "ADD"):
                self._copy_from(ins, st, variables)
        elif kw == "SHELL":
            if ins.json and ins.args:
                st.shell = ins.args
        elif kw == "RUN":
            ins.mounts = tuple(_parse_mount(v) for v in ins.flag_values("mount"))
            if not self._posix(st):
                ins.scripts = (
                    RunScript(shell.opaque(" ".join(ins.args)), "shell", SourceMap((0,), (ins.line,), (1,))),
                )
            else:
                ins.scripts = self._run_scripts(ins)
        elif kw == "ONBUILD" and ins.trigger is not None:
            ins.trigger.stage = st.index
            ins.trigger.vars = variables
            if not self._posix(st) and ins.trigger.cmd == "RUN":
                ins.trigger.scripts = ()

    def _posix(self, st: Stage) -> bool:
        prog = st.shell[0].replace("\\", "/").rsplit("/", 1)[-1].lower() if st.shell else "sh"
        return prog not in _NON_POSIX_SHELLS and not (st.windows and st.shell[:1] == ("cmd",))

    def _copy_from(self, ins: Instruction, st: Stage, variables: Vars) -> None:
        raw = ins.flag("from")
        if raw is None:
            return
        exp = self._expand(raw, variables)
        value = exp.value
        cf = CopyFrom(raw=raw, value=value, unresolved=exp.unresolved)
        if exp.unresolved or not value:
            ins.copy_from = cf
            return
        if value.isdigit():
            idx = int(value)
            ins.copy_from = CopyFrom(raw, value, stage=idx if idx < st.index else None, unresolved=())
            return
        for prev in self.stages[: st.index]:
            if prev.name and prev.name == value.lower():
                ins.copy_from = CopyFrom(raw, value, stage=prev.index)
                return
        ins.copy_from = CopyFrom(raw, value, image=parse_image_ref(value))

    # -- RUN
    def _shell_text(self, ins: Instruction) -> tuple[str, SourceMap]:
        """The RUN's shell-form command text (after flags) and its map to the file."""
        logical, smap, _end = _join_logical(self.lines, ins.line, self.escape)
        cmd = ins.args[0] if ins.args else ""
        at = logical.rfind(cmd) if cmd else -1
        if at < 0:
            return cmd, SourceMap((0,), (ins.line,), (ins.column,))
        return cmd, smap.shifted(at)

    def _exec_or_shell(self, ins: Instruction, text_map: tuple[str, SourceMap], _h: Heredoc | None) -> RunScript:
        if ins.json:
            return RunScript(shell.parse_argv(ins.args), "exec", SourceMap((0,), (ins.line,), (ins.column,)))
        text, smap = text_map
        return RunScript(shell.parse_script(text), "shell", smap)

    def _heredoc_map(self, h: Heredoc) -> SourceMap:
        """Body offsets -> file positions; `<<-` bodies lost their leading tabs, so each line's
        column starts after the tabs that were stripped from it."""
        if not h.chomp:
            return _lines_map(h.line, h.content)
        offs, lns, cols = [], [], []
        pos = 0
        for k, part in enumerate(h.content.split("\n")):
            n = h.line + k
            raw = self.lines[n - 1] if 0 < n <= len(self.lines) else ""
            offs.append(pos)
            lns.append(n)
            cols.append(1 + len(raw) - len(raw.lstrip("\t")))
            pos += len(part) + 1
        return SourceMap(tuple(offs), tuple(lns), tuple(cols))

    def _run_scripts(self, ins: Instruction) -> tuple[RunScript, ...]:
        if ins.json or not ins.heredocs:
            return (self._exec_or_shell(ins, self._shell_text(ins), None),)
        header, hmap = self._shell_text(ins)
        stripped = _HEREDOC_MARK.sub("", header).strip()
        first = ins.heredocs[0]
        if not stripped:
            # `RUN <<EOF`: the body is the script (unless a shebang names another interpreter)
            body = first.content
            if body.startswith("#!"):
                interp = body.split("\n", 1)[0][2:].strip().split()
                prog = (interp[-1] if interp and interp[0].endswith("/env") else (interp or [""])[0]).rsplit("/", 1)[-1]
                if prog not in shell.SHELLS:
                    return (RunScript(shell.opaque(body), "heredoc", self._heredoc_map(first), first),)
            return (RunScript(shell.parse_script(body), "heredoc", self._heredoc_map(first), first),)
        # the shell reads the whole text, heredoc bodies included (`cat <<EOF > file`)
        body_first = ins.heredocs[0].line
        tail = "\n".join(self.lines[body_first - 1 : ins.end_line])
        full = header + "\n" + tail
        offs = list(hmap.offsets)
        lns = list(hmap.lines)
        cols = list(hmap.columns)
        base = len(header) + 1
        tmap = _lines_map(body_first, tail)
        for o, ln, col in zip(tmap.offsets, tmap.lines, tmap.columns, strict=True):
            offs.append(base + o)
            lns.append(ln)
            cols.append(col)
        scripts = [RunScript(shell.parse_script(full), "shell", SourceMap(tuple(offs), tuple(lns), tuple(cols)))]
        # a heredoc fed to a shell's stdin is a script as well
        hs = {h.name: h for h in ins.heredocs}
        for c in scripts[0].script.commands:
            if c.name not in shell.SHELLS or any(w.text == "-c" or w.text.startswith("-c") for w in c.words[1:]):
                continue
            for op, target in c.redirects:
                if op in ("<<", "<<-") and target.strip("'\"") in hs:
                    h = hs[target.strip("'\"")]
                    scripts.append(RunScript(shell.parse_script(h.content), "heredoc", self._heredoc_map(h), h))
        return tuple(scripts)


def _absolute(path: str) -> bool:
    return path.startswith("/") or bool(re.match(r"^[A-Za-z]:[\\/]", path)) or path.startswith("\\")


#: `CUSTOMHOUSE_BUILDKIT_ONLY=1`: BuildKit's parser reads every Dockerfile, for whoever wants its
#: own answer on each file rather than our pass that is held to it (the reports are the same).
BUILDKIT_ONLY: Final = os.environ.get("CUSTOMHOUSE_BUILDKIT_ONLY", "") == "1"


def parse(text: str, path: str) -> DockerfileModel:
    """Parse a Dockerfile; `path` is only used in error messages (`path:line: reason`).

    Instructions come from our own pass over BuildKit's syntax (`dfsyntax`, a tenth of the
    cost) and from BuildKit's parser wherever that pass leaves the answer to it (or everywhere,
    with `BUILDKIT_ONLY`)."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _fail(path, line, "binary content (NUL byte), not a Dockerfile")
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.split("\n")
    if not any(ln.strip() and not ln.lstrip().startswith("#") for ln in lines):
        raise _fail(path, 0, "no instructions (empty, or only comments)")
    cmds: tuple[Any, ...] | None = None if BUILDKIT_ONLY else dfsyntax.parse(body, lines)
    if cmds is not None:
        return _Builder(body, path, lines).build(cmds)
    import dockerfile

    try:
        cmds = tuple(dockerfile.parse_string(body))
    except Exception as exc:  # GoParseError and friends: the Go parser's reason, one line
        reason = " ".join(str(exc).split()) or type(exc).__name__
        line = _go_error_line(reason, lines)
        if line <= 1 and not re.search(r"line \d+|heredoc", reason):
            line = _first_failing_line(str(exc), lines, _directives(lines).get("escape", "\\") or "\\")
        raise _fail(path, line, reason) from None
    if not cmds:
        raise _fail(path, 0, "no instructions (empty, or only comments)")
    return _Builder(body, path, lines).build(cmds)


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py): frozen, or
# with a compiled `__init__` that pickle's empty construction would call without arguments
_native.picklable(Expanded, SourceMap, Heredoc, KeyValue, RunScript, CopyFrom, Instruction, Stage, DockerfileModel)
