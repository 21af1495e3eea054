"""What a RUN instruction executes: its shell script split into simple commands and pipelines.

Dockerfile checks ask questions about commands ("is `apt-get install` followed by a cleanup in
the same RUN?", "is a download piped into a shell?"), never about substrings: `echo "curl x |
sh"` pipes nothing, `apt-get install` after `||` may not run, a `cd` inside `( ... )` does not
leak. So the script is parsed (bashlex, a port of bash's grammar) into simple commands with
their argv words unquoted and their offsets in the script, the pipelines they belong to, and the
commands nested in them (`$(...)`, `<(...)`, `sh -c '...'`, `eval`), which are listed too, with
a link to the command that holds them.

bashlex does not implement all of bash (arithmetic `$((...))`, `case`, `[[ ]]`, arrays,
`time`), and RUN scripts are sometimes not bash at all. When it gives up, a small POSIX lexer
(quotes, escapes, substitutions, comments) splits words and operators and recovers the same
structure well enough for the checks; neither path ever raises. Results are cached by script text because the
same RUN lines recur across the Dockerfiles of one repository.

Package-manager invocations (apt-get, apk, yum/dnf, zypper, pip, npm, gem ...) are decoded here
too, once per script, into `PackageOp`s: manager, action, options with their values and the
package words, so every check reads the same interpretation of the command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from customhouse import _native

MAX_BASHLEX_CHARS = 64 * 1024  # bashlex is pure Python; beyond this, the tokenizer is enough
MAX_NESTING = 4  # sh -c "sh -c '...'" depth we follow

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})
INTERPRETERS = frozenset({"python", "python2", "python3", "perl", "ruby", "node", "php"})
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c"})
_RESERVED = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "in", "esac", "function"}
)
_SKIP_REST = frozenset({"for", "case", "select"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_OPERATORS = (
    "<<<",
    "<<-",
    "&&",
    "||",
    ";;",
    ">>",
    "<<",
    "<(",
    ">(",
    "|&",
    ">&",
    "<&",
    "&>",
    ">|",
    "(",
    ")",
    ";",
    "|",
    "&",
    "<",
    ">",
    "\n",
)
_REDIRECTS = frozenset({"<<<", "<<-", ">>", "<<", ">&", "<&", "&>", ">|", "<", ">"})
_HEREDOC_MARK = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z0-9_.\-]+)\2")


@dataclass(frozen=True)
class Word:
    """One argv word: `text` with quotes removed; [start, end) is where it is in the script."""

    text: str
    start: int
    end: int

    def __init__(self, text: str, start: int, end: int) -> None:  # compiled by mypyc: see _native.py
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


@dataclass(frozen=True)
class SimpleCommand:
    """One command as the shell would run it (assignments and redirections apart from argv).

    `pipeline` and `pipe_pos` place it in `ShellScript.pipelines`. `parent` is the index of the
    command whose word contains this one (`$(...)`, `<(...)`, `sh -c`, `eval`), -1 at top level;
    `via` says how. `operator` is the list operator before its pipeline (`&&`, `||`, `;`, `&`,
    newline as "\\n", "" for the first). `subshell`: inside `( ... )`; `conditional`: inside an
    if/loop/function body or after `||`, so it may not run.
    """

    words: tuple[Word, ...]
    start: int
    end: int
    assignments: tuple[str, ...] = ()
    redirects: tuple[tuple[str, str], ...] = ()
    pipeline: int = -1
    pipe_pos: int = 0
    parent: int = -1
    via: str = ""
    operator: str = ""
    subshell: bool = False
    conditional: bool = False

    def __init__(
        self,
        words: tuple[Word, ...],
        start: int,
        end: int,
        assignments: tuple[str, ...] = (),
        redirects: tuple[tuple[str, str], ...] = (),
        pipeline: int = -1,
        pipe_pos: int = 0,
        parent: int = -1,
        via: str = "",
        operator: str = "",
        subshell: bool = False,
        conditional: bool = False,
    ) -> None:
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "assignments", assignments)
        object.__setattr__(self, "redirects", redirects)
        object.__setattr__(self, "pipeline", pipeline)
        object.__setattr__(self, "pipe_pos", pipe_pos)
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "via", via)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "subshell", subshell)
        object.__setattr__(self, "conditional", conditional)

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(w.text for w in self.words)

    @property
    def name(self) -> str:
        """The program's base name (`/usr/bin/curl` -> `curl`), "" for a bare assignment."""
        return self.words[0].text.rsplit("/", 1)[-1] if self.words else ""


@dataclass(frozen=True)
class Pipeline:
    """Commands connected by `|`, by index into `ShellScript.commands`, in pipe order."""

    commands: tuple[int, ...]
    negated: bool = False

    def __init__(self, commands: tuple[int, ...], negated: bool = False) -> None:
        object.__setattr__(self, "commands", commands)
        object.__setattr__(self, "negated", negated)

    @property
    def length(self) -> int:
        return len(self.commands)


@dataclass(frozen=True)
class PackageOp:
    """One package-manager invocation, decoded: what it does, with which options, to what.

    `action` is normalised across managers ("install", "remove", "update" = refresh the index,
    "upgrade" = upgrade installed packages, "clean", ...); `raw_action` is the word as written.
    `options` holds (name, value) pairs, short clusters split (`-yq` -> `-y`, `-q`). Word
    indexes point into `SimpleCommand.words` of `command`, so a fix can be placed exactly.
    """

    manager: str
    action: str
    raw_action: str
    options: tuple[tuple[str, str | None], ...]
    packages: tuple[Word, ...]
    command: int
    manager_word: int
    action_word: int

    def __init__(
        self,
        manager: str,
        action: str,
        raw_action: str,
        options: tuple[tuple[str, str | None], ...],
        packages: tuple[Word, ...],
        command: int,
        manager_word: int,
        action_word: int,
    ) -> None:
        object.__setattr__(self, "manager", manager)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "raw_action", raw_action)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "packages", packages)
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "manager_word", manager_word)
        object.__setattr__(self, "action_word", action_word)

    def has(self, *names: str) -> bool:
        return any(o in names for o, _ in self.options)

    def value(self, *names: str) -> str | None:
        for o, v in self.options:
            if o in names:
                return v
        return None

    def values(self, *names: str) -> list[str]:
        return [v for o, v in self.options if o in names and v is not None]


@dataclass(frozen=True)
class ShellScript:
    """A parsed script. `parameters` are the variables it reads; `errexit`/`pipefail` are set
    by `set -e` / `set -o pipefail` (or an `sh -e` interpreter) at the top level."""

    source: str
    commands: tuple[SimpleCommand, ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    parameters: frozenset[str] = frozenset()
    errexit: bool = False
    pipefail: bool = False
    parser: str = "bashlex"  # "bashlex", "fallback", "exec" (JSON-form argv), "none" (not a shell)
    packages: tuple[PackageOp, ...] = field(default=(), compare=False)

    def __init__(
        self,
        source: str,
        commands: tuple[SimpleCommand, ...] = (),
        pipelines: tuple[Pipeline, ...] = (),
        parameters: frozenset[str] = frozenset(),
        errexit: bool = False,
        pipefail: bool = False,
        parser: str = "bashlex",
        packages: tuple[PackageOp, ...] = (),
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "commands", commands)
        object.__setattr__(self, "pipelines", pipelines)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "errexit", errexit)
        object.__setattr__(self, "pipefail", pipefail)
        object.__setattr__(self, "parser", parser)
        object.__setattr__(self, "packages", packages)

    def top_level(self) -> Iterable[SimpleCommand]:
        return (c for c in self.commands if c.parent < 0)

    def line_count(self) -> int:
        return self.source.count("\n") + 1


# --------------------------------------------------------------------------- building


class _Builder:
    """Collects commands and pipelines from either parser into one flat, ordered list."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.commands: list[dict[str, Any]] = []
        self.pipelines: list[list[int]] = []
        self.negated: list[bool] = []
        self.params: set[str] = set()
        self.fallback = False

    def new_pipeline(self, negated: bool = False) -> int:
        self.pipelines.append([])
        self.negated.append(negated)
        return len(self.pipelines) - 1

    def add(self, cmd: dict[str, Any]) -> int:
        self.commands.append(cmd)
        idx = len(self.commands) - 1
        pl = cmd.get("pipeline", -1)
        if pl >= 0:
            self.pipelines[pl].append(idx)
        return idx

    def finish(self, parser: str) -> ShellScript:
        cmds = tuple(SimpleCommand(**c) for c in self.commands)
        pls = tuple(
            Pipeline(tuple(sorted(p, key=lambda i: cmds[i].pipe_pos)), self.negated[n])
            for n, p in enumerate(self.pipelines)
        )
        errexit, pipefail = _set_options(cmds)
        ops = []
        for n, c in enumerate(cmds):
            op = decode_package_op(c, n)
            if op is not None:
                ops.append(op)
        return ShellScript(self.source, cmds, pls, frozenset(self.params), errexit, pipefail, parser, tuple(ops))


def _set_options(cmds: Sequence[SimpleCommand]) -> tuple[bool, bool]:
    errexit = pipefail = False
    for c in cmds:
        if c.parent >= 0 or c.conditional or c.subshell or c.name != "set":
            continue
        args = c.argv[1:]
        i = 0
        while i < len(args):
            a = args[i]
            if a.startswith(("-", "+")) and not a.startswith(("--", "++")):
                on = a[0] == "-"
                flags = a[1:]
                if "e" in flags:
                    errexit = on
                if "o" in flags and i + 1 < len(args):
                    i += 1
                    if args[i] == "pipefail":
                        pipefail = on
                    elif args[i] == "errexit":
                        errexit = on
            i += 1
    return errexit, pipefail


def _param_names(text: str) -> Iterable[str]:
    """Variables a word reads: `$X`, `${X}`, `${X:-d}`, `${#X}` (not `$1`, `$@`)."""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "$" and i + 1 < n:
            j = i + 1
            if text[j] == "{":
                j += 1
                if j < n and text[j] in "#!":
                    j += 1
            m = _NAME.match(text, j)
            if m:
                yield m.group(0)
                i = m.end()
                continue
        i += 1


# --------------------------------------------------------------------------- bashlex


def _bashlex_parse(text: str) -> ShellScript | None:
    if len(text) > MAX_BASHLEX_CHARS:
        return None
    try:
        import bashlex
    except ImportError:  # pragma: no cover - a dependency of the package
        return None
    try:
        nodes = bashlex.parse(text)
        b = _Builder(text)
        walker = _BashlexWalker(b, text)
        for node in nodes:
            walker.walk(node, _Ctx())
        return b.finish("bashlex")
    except Exception:  # bashlex raises whatever its grammar trips on; the tokenizer takes over
        return None


@dataclass(frozen=True)
class _Ctx:
    pipeline: int = -1
    pipe_pos: int = 0
    parent: int = -1
    via: str = ""
    operator: str = ""
    subshell: bool = False
    conditional: bool = False
    depth: int = 0
    base: int = -1  # nested scripts: every offset maps to this position of the outer script
    base_end: int = -1

    def __init__(
        self,
        pipeline: int = -1,
        pipe_pos: int = 0,
        parent: int = -1,
        via: str = "",
        operator: str = "",
        subshell: bool = False,
        conditional: bool = False,
        depth: int = 0,
        base: int = -1,
        base_end: int = -1,
    ) -> None:
        object.__setattr__(self, "pipeline", pipeline)
        object.__setattr__(self, "pipe_pos", pipe_pos)
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "via", via)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "subshell", subshell)
        object.__setattr__(self, "conditional", conditional)
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "base_end", base_end)


class _BashlexWalker:
    def __init__(self, builder: _Builder, text: str) -> None:
        self.b = builder
        self.text = text

    def _pos(self, ctx: _Ctx, pos: tuple[int, int]) -> tuple[int, int]:
        if ctx.base >= 0:
            return ctx.base, ctx.base_end
        return pos

    def walk(self, node: Any, ctx: _Ctx) -> None:
        kind = node.kind
        if kind == "list":
            op = ctx.operator
            cond = ctx.conditional
            for part in node.parts:
                if part.kind == "operator":
                    op = "\n" if part.op == "\n" else part.op
                    cond = ctx.conditional or part.op == "||"
                    continue
                self.walk(part, _replace(ctx, operator=op, conditional=cond, pipeline=-1, pipe_pos=0))
        elif kind == "pipeline":
            negated = any(p.kind == "reservedword" and p.word == "!" for p in node.parts)
            pl = self.b.new_pipeline(negated)
            pos = 0
            for part in node.parts:
                if part.kind == "pipe":
                    pos += 1
                    continue
                if part.kind == "reservedword":
                    continue
                self.walk(part, _replace(ctx, pipeline=pl, pipe_pos=pos))
        elif kind == "command":
            self._command(node, ctx)
        elif kind == "compound":
            sub = bool(node.list) and node.list[0].kind == "reservedword" and node.list[0].word == "("
            for part in node.list:
                if part.kind != "reservedword":
                    self.walk(part, _replace(ctx, subshell=ctx.subshell or sub))
            for r in getattr(node, "redirects", []) or []:
                self._nested_in(r, ctx, -1)
        elif kind in ("if", "for", "while", "until", "function"):
            inner = _replace(ctx, conditional=True, pipeline=-1, pipe_pos=0)
            for part in node.parts:
                if part.kind == "word":
                    self._nested_in(part, inner, -1)
                elif part.kind not in ("reservedword", "operator", "pipe"):
                    self.walk(part, inner)
        elif kind in ("commandsubstitution", "processsubstitution"):
            self.walk(node.command, ctx)
        elif kind == "parameter":
            self._param(node.value)
        # reservedword, operator, pipe, tilde, heredoc: nothing to run

    def _param(self, value: str) -> None:
        m = _NAME.match(value.lstrip("#!"))
        if m:
            self.b.params.add(m.group(0))

    def _command(self, node: Any, ctx: _Ctx) -> None:
        words: list[Word] = []
        assigns: list[str] = []
        redirects: list[tuple[str, str]] = []
        for part in node.parts:
            if part.kind == "word":
                s, e = self._pos(ctx, part.pos)
                words.append(Word(part.word, s, e))
            elif part.kind == "assignment":
                assigns.append(part.word)
            elif part.kind == "redirect":
                out = part.output
                target = out.word if hasattr(out, "word") else str(out)
                redirects.append((str(part.type), target))
        s, e = self._pos(ctx, node.pos)
        pl = ctx.pipeline
        if pl < 0:
            pl = self.b.new_pipeline()
        idx = self.b.add(
            {
                "words": tuple(words),
                "start": s,
                "end": e,
                "assignments": tuple(assigns),
                "redirects": tuple(redirects),
                "pipeline": pl,
                "pipe_pos": ctx.pipe_pos if ctx.pipeline >= 0 else 0,
                "parent": ctx.parent,
                "via": ctx.via,
                "operator": ctx.operator,
                "subshell": ctx.subshell,
                "conditional": ctx.conditional,
            }
        )
        for part in node.parts:
            self._nested_in(part, ctx, idx)
        _nested_scripts(self.b, tuple(words), idx, ctx)

    def _nested_in(self, node: Any, ctx: _Ctx, holder: int) -> None:
        """Substitutions and parameters inside a word, assignment or redirection."""
        for part in getattr(node, "parts", []) or []:
            if part.kind == "parameter":
                self._param(part.value)
            elif part.kind in ("commandsubstitution", "processsubstitution"):
                via = "$()" if part.kind == "commandsubstitution" else "<()"
                inner = _Ctx(parent=holder, via=via, conditional=ctx.conditional, depth=ctx.depth, base=ctx.base)
                inner = _replace(inner, base_end=ctx.base_end)
                self.walk(part.command, inner)
            else:
                self._nested_in(part, ctx, holder)
        out = getattr(node, "output", None)
        if out is not None and hasattr(out, "kind"):
            self._nested_in(out, ctx, holder)


def _replace(ctx: _Ctx, **kw: Any) -> _Ctx:
    from dataclasses import replace

    return replace(ctx, **kw)


def _nested_scripts(b: _Builder, words: tuple[Word, ...], holder: int, ctx: _Ctx) -> None:
    """`sh -c 'script'`, `bash -lc "..."`, `eval "..."`, `su -c '...'`: parse the string too."""
    if ctx.depth >= MAX_NESTING or not words:
        return
    argv = [w.text for w in words]
    start = 0
    while start < len(argv) and argv[start].rsplit("/", 1)[-1] in _WRAPPERS:
        nxt = _skip_wrapper(argv, start)
        if nxt <= start:
            break
        start = nxt
    if start >= len(argv):
        return
    name = argv[start].rsplit("/", 1)[-1]
    script_word: Word | None = None
    via = "-c"
    if name in SHELLS or name == "su":
        for i in range(start + 1, len(argv)):
            a = argv[i]
            if a == "--":
                break
            if a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
                if i + 1 < len(argv):
                    script_word = words[i + 1]
                break
    elif name == "eval" and len(words) > start + 1:
        joined = " ".join(w.text for w in words[start + 1 :])
        script_word = Word(joined, words[start + 1].start, words[-1].end)
        via = "eval"
    if script_word is None or not script_word.text.strip():
        return
    body = script_word.text.strip()
    if (body.startswith("$(") and body.endswith(")")) or (body.startswith("`") and body.endswith("`")):
        return  # `sh -c "$(curl ...)"`: the substitution is already listed; its output is not known
    inner = parse_script(script_word.text)
    base = script_word.start if ctx.base < 0 else ctx.base
    base_end = script_word.end if ctx.base < 0 else ctx.base_end
    _graft(b, inner, holder, via, base, base_end, ctx.conditional)


def _graft(b: _Builder, inner: ShellScript, holder: int, via: str, base: int, base_end: int, cond: bool) -> None:
    """Copy a separately parsed script's commands in, re-linked and placed at [base, base_end)."""
    offset = len(b.commands)
    pl_map: dict[int, int] = {}
    b.params.update(inner.parameters)
    for c in inner.commands:
        if c.pipeline not in pl_map:
            pl_map[c.pipeline] = b.new_pipeline(inner.pipelines[c.pipeline].negated)
        b.add(
            {
                "words": tuple(Word(w.text, base, base_end) for w in c.words),
                "start": base,
                "end": base_end,
                "assignments": c.assignments,
                "redirects": c.redirects,
                "pipeline": pl_map[c.pipeline],
                "pipe_pos": c.pipe_pos,
                "parent": holder if c.parent < 0 else c.parent + offset,
                "via": via if c.parent < 0 else c.via,
                "operator": c.operator,
                "subshell": c.subshell,
                "conditional": cond or c.conditional,
            }
        )


# --------------------------------------------------------------------------- fallback tokenizer


def _blank_heredocs(text: str) -> str:
    """Replace here-document bodies with spaces (same length, newlines kept): they are data."""
    if "<<" not in text:  # no here-document can start: most scripts, returned as they are
        return text
    lines = text.split("\n")
    out: list[str] = []
    pending: list[tuple[str, bool]] = []
    for line in lines:
        if pending:
            delim, strip = pending[0]
            check = line.lstrip("\t") if strip else line
            out.append(" " * len(line))
            if check.rstrip("\r") == delim:
                pending.pop(0)
            continue
        out.append(line)
        for m in _HEREDOC_MARK.finditer(line):
            if line[max(m.start() - 1, 0) : m.start() + 3] == "<<<":
                continue
            pending.append((m.group(3), m.group(1) == "-"))
    return "\n".join(out)


_OP_CHARS = "();<>|&\n"
_LONG_OPS = ("<<<", "<<-", "&&", "||", ";;", ">>", "<<", "|&", ">&", "<&", "&>", ">|")
_ARRAY_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=$")
# inside a word: characters that neither end it nor start a quote, escape or substitution
_PLAIN_RUN = re.compile(r"[^ \t\r();<>|&\n\\'\"$`]+")
# inside double quotes: characters other than the closing quote, an escape or a substitution
_QUOTED_RUN = re.compile(r"[^\"\\$`]+")

# (text with quotes removed, start, end, is operator, command substitutions in the word as (via, script))
_Token = tuple[str, int, int, bool, tuple[tuple[str, str], ...]]


def _skip_quoted(s: str, i: int) -> int:
    """Index after the quoted string or escape starting at `i` (`'...'`, `"..."`, `\\x`)."""
    ch = s[i]
    if ch == "\\":
        return i + 2
    if ch == "'":
        j = s.find("'", i + 1)
        return len(s) if j < 0 else j + 1
    j = i + 1
    while j < len(s) and s[j] != '"':
        j += 2 if s[j] == "\\" else 1
    return min(j + 1, len(s))


def _skip_group(s: str, i: int, opening: str, closing: str) -> int:
    """Index after the `closing` that balances the `opening` at `i`, quotes respected."""
    depth = 0
    j = i
    while j < len(s):
        ch = s[j]
        if ch in "'\"\\":
            j = _skip_quoted(s, j)
            continue
        if ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return len(s)


def _dollar(s: str, i: int, buf: list[str], subs: list[tuple[str, str]]) -> int:
    """`$(...)`, `$((...))`, `${...}` at `i`: kept verbatim in the word, substitutions recorded."""
    nxt = s[i + 1] if i + 1 < len(s) else ""
    if nxt == "(":
        j = _skip_group(s, i + 1, "(", ")")
        raw = s[i:j]
        buf.append(raw)
        if not raw.startswith("$(("):
            subs.append(("$()", raw[2:-1] if raw.endswith(")") else raw[2:]))
        return j
    if nxt == "{":
        j = _skip_group(s, i + 1, "{", "}")
        buf.append(s[i:j])
        return j
    buf.append("$")
    return i + 1


def _backquote(s: str, i: int, buf: list[str], subs: list[tuple[str, str]]) -> int:
    j = i + 1
    while j < len(s) and s[j] != "`":
        j += 2 if s[j] == "\\" else 1
    buf.append(s[i : j + 1])
    subs.append(("$()", s[i + 1 : j]))
    return min(j + 1, len(s))


def _double_quoted(s: str, i: int, buf: list[str], subs: list[tuple[str, str]]) -> int:
    """The body of `"..."` from `i` (after the quote) into `buf`; index after the closing quote."""
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < n:
            nxt = s[i + 1]
            buf.append(nxt if nxt in '$`"\\\n' else ch + nxt)
            i += 2
        elif ch == "$":
            i = _dollar(s, i, buf, subs)
        elif ch == "`":
            i = _backquote(s, i, buf, subs)
        else:
            m = _QUOTED_RUN.match(s, i)
            j = m.end() if m else i + 1
            buf.append(s[i:j])
            i = j
    return n


def _tokens(text: str) -> list[_Token]:
    """Words (quotes removed, substitutions kept verbatim and listed) and operators.

    A small POSIX lexer: single and double quotes, `$'...'`, backslash escapes, `$(...)`,
    `$((...))`, `${...}`, backquotes, comments, `name=(array)` assignments. Here-document bodies
    are blanked first; offsets are those of `text`. Unbalanced quotes run to the end of the
    text. Never raises.
    """
    s = _blank_heredocs(text).replace("\\\r\n", "   ").replace("\\\n", "  ")
    n = len(s)
    out: list[_Token] = []
    i = 0
    while i < n:
        ch = s[i]
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#":
            while i < n and s[i] != "\n":
                i += 1
            continue
        if ch in "<>" and s.startswith("(", i + 1):
            out.append((ch + "(", i, i + 2, True, ()))
            i += 2
            continue
        if ch in _OP_CHARS:
            op = next((o for o in _LONG_OPS if s.startswith(o, i)), ch)
            out.append((op, i, i + len(op), True, ()))
            i += len(op)
            continue
        start = i
        buf: list[str] = []
        subs: list[tuple[str, str]] = []
        while i < n:
            ch = s[i]
            if ch in " \t\r" or ch in _OP_CHARS:
                if ch == "(" and _ARRAY_ASSIGNMENT.match("".join(buf)):
                    j = _skip_group(s, i, "(", ")")
                    buf.append(s[i:j])
                    i = j
                    continue
                break
            if ch == "\\":
                if i + 1 < n:
                    buf.append(s[i + 1])
                i += 2
            elif ch == "'":
                j = s.find("'", i + 1)
                j = n if j < 0 else j
                buf.append(s[i + 1 : j])
                i = j + 1
            elif ch == '"':
                i = _double_quoted(s, i + 1, buf, subs)
            elif ch == "$" and s.startswith("'", i + 1):
                j = i + 2
                while j < n and s[j] != "'":
                    j += 2 if s[j] == "\\" else 1
                buf.append(s[i + 2 : j])
                i = j + 1
            elif ch == "$":
                i = _dollar(s, i, buf, subs)
            elif ch == "`":
                i = _backquote(s, i, buf, subs)
            else:  # a run of characters with no meaning to the shell, in one step
                m = _PLAIN_RUN.match(s, i)
                j = m.end() if m else i + 1
                buf.append(s[i:j])
                i = j
        i = min(i, n)
        out.append(("".join(buf), start, i, False, tuple(subs)))
    return out


def _fallback_parse(text: str) -> ShellScript:
    b = _Builder(text)
    b.fallback = True
    try:
        _fallback_into(b, text, _Ctx())
    except Exception:  # the last line of defence: an empty script rather than a crash
        b = _Builder(text)
    return b.finish("fallback")


def _fallback_into(b: _Builder, text: str, ctx: _Ctx) -> None:
    toks = _tokens(text)
    i = 0
    subshell_depth = 0
    cond_depth = 0
    operator = ctx.operator
    pipeline = -1
    pipe_pos = 0
    case_depth = 0
    words: list[Word] = []
    assigns: list[Word] = []
    redirects: list[tuple[str, str]] = []
    nested: list[tuple[str, str, int, int]] = []  # (via, inner text, start, end)
    skip_rest = False
    braces: list[bool] = []  # open `{` groups: True for a function body (runs only when called)
    function_pending = False

    def flush() -> None:
        nonlocal words, assigns, redirects, nested, pipeline, skip_rest
        if words or assigns:
            if pipeline < 0:
                pipeline = b.new_pipeline()
            placed = words or assigns
            cstart, cend = placed[0].start, placed[-1].end
            if ctx.base >= 0:
                cstart, cend = ctx.base, ctx.base_end
                ws = tuple(Word(w.text, ctx.base, ctx.base_end) for w in words)
            else:
                ws = tuple(words)
            idx = b.add(
                {
                    "words": ws,
                    "start": cstart,
                    "end": cend,
                    "assignments": tuple(a.text for a in assigns),
                    "redirects": tuple(redirects),
                    "pipeline": pipeline,
                    "pipe_pos": pipe_pos,
                    "parent": ctx.parent,
                    "via": ctx.via,
                    "operator": operator,
                    "subshell": ctx.subshell or subshell_depth > 0,
                    "conditional": ctx.conditional or cond_depth > 0 or operator == "||",
                }
            )
            for w in words:
                if "$" in w.text:  # most words read no variable: skip the character walk
                    b.params.update(_param_names(w.text))
            for a in assigns:
                if "$" in a.text:
                    b.params.update(_param_names(a.text.split("=", 1)[1]))
            for via, inner, s, e in nested:
                if ctx.depth < MAX_NESTING:
                    sub = _Ctx(
                        parent=idx,
                        via=via,
                        conditional=ctx.conditional,
                        depth=ctx.depth + 1,
                        base=ctx.base if ctx.base >= 0 else s,
                        base_end=ctx.base_end if ctx.base >= 0 else e,
                    )
                    _fallback_into(b, inner, sub)
            _nested_scripts(b, ws, idx, ctx)
        words, assigns, redirects, nested = [], [], [], []
        skip_rest = False

    while i < len(toks):
        tok, s, e, is_op, subs = toks[i]
        if is_op:
            if tok in ("<(", ">("):
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    if toks[j][3] and toks[j][0] in ("(", "<(", ">("):
                        depth += 1
                    elif toks[j][3] and toks[j][0] == ")":
                        depth -= 1
                    j += 1
                inner = text[toks[i][2] : toks[j - 1][1]] if j - 1 > i else ""
                nested.append(("<()", inner, s, toks[j - 1][2] if j - 1 > i else e))
                words.append(Word(tok + inner + ")", s, toks[j - 1][2] if j - 1 > i else e))
                i = j
                continue
            if tok in _REDIRECTS:
                if words and words[-1].text.isdigit() and words[-1].end == s:
                    words.pop()
                target = toks[i + 1][0] if i + 1 < len(toks) and not toks[i + 1][3] else ""
                redirects.append((tok, target))
                i += 2 if target else 1
                continue
            if tok == "(":
                nxt = toks[i + 1] if i + 1 < len(toks) else None
                if len(words) == 1 and not assigns and nxt is not None and nxt[3] and nxt[0] == ")":
                    words = []  # `name() { ...; }`: a function definition, its body runs when called
                    function_pending = True
                    i += 2
                    continue
                flush()
                subshell_depth += 1
                i += 1
                continue
            if tok == ")":
                if case_depth and not subshell_depth:
                    words, assigns = [], []  # a `case` pattern, not a command
                    skip_rest = False
                    i += 1
                    continue
                flush()
                subshell_depth = max(subshell_depth - 1, 0)
                i += 1
                continue
            if tok in ("|", "|&"):
                if pipeline < 0:
                    pipeline = b.new_pipeline()
                flush()
                pipe_pos += 1
                i += 1
                continue
            # list operators end the pipeline
            flush()
            pipeline, pipe_pos = -1, 0
            operator = tok
            i += 1
            continue
        if skip_rest:
            i += 1
            continue
        nested.extend((via, inner, s, e) for via, inner in subs)
        if not words and not assigns:
            if tok == "function" and i + 1 < len(toks) and not toks[i + 1][3]:
                function_pending = True
                i += 2
                if i + 1 < len(toks) and toks[i][0] == "(" and toks[i + 1][0] == ")":
                    i += 2
                continue
            if tok == "{":
                braces.append(function_pending)
                cond_depth += 1 if function_pending else 0
                function_pending = False
                i += 1
                continue
            if tok == "}" and braces:
                if braces.pop() and cond_depth:
                    cond_depth -= 1
                i += 1
                continue
            if tok in _RESERVED:
                if tok in ("if", "while", "until"):
                    cond_depth += 1
                elif tok in ("fi", "done", "esac") and cond_depth:
                    cond_depth -= 1
                    if tok == "esac" and case_depth:
                        case_depth -= 1
                i += 1
                continue
            if tok in _SKIP_REST:
                skip_rest = True  # `for x in ...`, `case x in`: the header runs nothing
                cond_depth += 1
                if tok == "case":
                    case_depth += 1
                i += 1
                continue
        if not words and _ASSIGNMENT.match(tok):
            assigns.append(Word(tok, s, e))
            i += 1
            continue
        words.append(Word(tok, s, e))
        i += 1
    flush()


# --------------------------------------------------------------------------- entry points


@lru_cache(maxsize=4096)
def parse_script(text: str) -> ShellScript:
    """Parse a POSIX shell script (a RUN's shell form or heredoc body). Never raises.

    The scripts go through our own lexer (`parser == "fallback"`), not bashlex: on the 1,188
    RUN scripts of the benchmark corpus (bench/config.py) the two agree on every command the
    checks look at except a handful where bashlex itself is wrong, and the lexer is 5.5x faster
    while bashlex also spends 0.4 s building its parse tables in every process. bashlex stays
    available through `parse_script_with` so the tests keep the two in step.
    """
    return parse_script_with(text, "fallback")


def parse_script_with(text: str, parser: str) -> ShellScript:
    """`parse_script` with the parser chosen: "fallback" (the lexer) or "bashlex" (falling back
    to the lexer where bashlex gives up: `[[ ]]`, `case`, arithmetic, arrays)."""
    if not text.strip():
        return ShellScript(source=text, parser=parser)
    plain = _unquote_heredoc_marks(text)
    script = _bashlex_parse(plain) if parser == "bashlex" else None
    if script is None:
        script = _fallback_parse(plain)
    if plain is not text:
        from dataclasses import replace

        script = replace(script, source=text)
    return script


_QUOTED_HEREDOC = re.compile(r"(?<!<)<<(-?)([ \t]*)(['\"])([A-Za-z0-9_.\-]+)\3")


def _unquote_heredoc_marks(text: str) -> str:
    """`<<'EOF'` spelled `<< EOF ` (same length, so every offset stays valid).

    bashlex keeps the quotes of a quoted here-document delimiter and then waits for a line
    reading `'EOF'`, so the most common way of writing a literal heredoc (`cat <<'EOF' > f`)
    made it fail and the whole script fall back to the tokenizer, which splits `<<'` apart.
    The quotes only switch off expansion inside the body, which is data to every check.
    """
    if "<<" not in text:
        return text

    def plain(m: re.Match[str]) -> str:
        terminator = re.compile(r"(?m)^\t*" + re.escape(m.group(4)) + r"\r?$")
        if not terminator.search(text, m.end()):
            return m.group(0)  # no body follows: quoted text such as `echo "<<'EOF'"`
        return f"<<{m.group(1)}{m.group(2)} {m.group(4)} "

    out = _QUOTED_HEREDOC.sub(plain, text)
    return text if out == text else out


def parse_argv(argv: Sequence[str]) -> ShellScript:
    """A JSON-form RUN: one command with exactly these words (no shell), plus `sh -c` bodies."""
    b = _Builder("")
    words = tuple(Word(a, 0, 0) for a in argv)
    if words:
        pl = b.new_pipeline()
        idx = b.add({"words": words, "start": 0, "end": 0, "pipeline": pl})
        _nested_scripts(b, words, idx, _Ctx(base=0, base_end=0))
    return b.finish("exec")


def opaque(text: str) -> ShellScript:
    """A script we do not interpret (PowerShell, cmd.exe): no commands, never a finding."""
    return ShellScript(source=text, parser="none")


# --------------------------------------------------------------------------- wrappers


_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "exec", "nice", "nohup", "time", "timeout", "stdbuf", "gosu", "su-exec", "xargs"}
)
_WRAPPER_VALUE_OPTS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S", "--unset", "--chdir"}),
    "exec": frozenset({"-a"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "timeout": frozenset({"-k", "-s", "--kill-after", "--signal"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "xargs": frozenset({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter", "--max-args"}),
}


def _skip_wrapper(argv: Sequence[str], i: int) -> int:
    """Index of the wrapped command's first word after the wrapper at `i` (and its options)."""
    name = argv[i].rsplit("/", 1)[-1]
    vals = _WRAPPER_VALUE_OPTS.get(name, frozenset())
    j = i + 1
    while j < len(argv):
        a = argv[j]
        if a == "--":
            j += 1
            break
        if name == "env" and _ASSIGNMENT.match(a):
            j += 1
            continue
        if a.startswith("-") and len(a) > 1:
            if a in vals or (a[:2] in vals and len(a) == 2):
                j += 2
            else:
                j += 1
            continue
        break
    if name in ("gosu", "su-exec") and j < len(argv):
        j += 1  # the user
    if name == "timeout" and j < len(argv):
        j += 1  # the duration
    return j


def unwrap(cmd: SimpleCommand) -> int:
    """Index in `cmd.words` of the program that really runs (`sudo -E env A=1 apt-get` -> 3)."""
    words = cmd.words
    if not words or words[0].text.rsplit("/", 1)[-1] not in _WRAPPERS:  # nearly always: no argv to build
        return 0
    argv = cmd.argv
    i = 0
    while i < len(argv) and argv[i].rsplit("/", 1)[-1] in _WRAPPERS:
        nxt = _skip_wrapper(argv, i)
        if nxt <= i:
            break
        i = nxt
    return i


def program(cmd: SimpleCommand) -> str:
    """Base name of the program that really runs, after wrappers; "" when none."""
    i = unwrap(cmd)
    return cmd.words[i].text.rsplit("/", 1)[-1] if i < len(cmd.words) else ""


# --------------------------------------------------------------------------- package managers


@dataclass(frozen=True)
class _Grammar:
    value_opts: frozenset[str]  # options that take the next word as value
    actions: dict[str, str]  # raw action -> normalised action


_APT = _Grammar(
    frozenset({"-o", "-c", "-t", "--option", "--config-file", "--target-release", "--default-release"}),
    {
        "install": "install",
        "reinstall": "install",
        "remove": "remove",
        "purge": "remove",
        "autoremove": "remove",
        "update": "update",
        "upgrade": "upgrade",
        "dist-upgrade": "upgrade",
        "full-upgrade": "upgrade",
        "clean": "clean",
        "autoclean": "clean",
        "build-dep": "install",
        "source": "source",
        "download": "download",
    },
)
_APK = _Grammar(
    frozenset(
        {
            "-X",
            "--repository",
            "-t",
            "--virtual",
            "-p",
            "--root",
            "--arch",
            "--keys-dir",
            "--cache-dir",
            "--repositories-file",
        }
    ),
    {
        "add": "install",
        "del": "remove",
        "update": "update",
        "upgrade": "upgrade",
        "cache": "cache",
        "fix": "fix",
        "info": "info",
    },
)
_YUM = _Grammar(
    frozenset(
        {
            "-c",
            "--config",
            "--installroot",
            "--releasever",
            "-x",
            "--exclude",
            "--repo",
            "--repoid",
            "--enablerepo",
            "--disablerepo",
            "--setopt",
            "--repofrompath",
            "-d",
            "-e",
            "--debuglevel",
            "--errorlevel",
        }
    ),
    {
        "install": "install",
        "localinstall": "install",
        "groupinstall": "install",
        "reinstall": "install",
        "remove": "remove",
        "erase": "remove",
        "autoremove": "remove",
        "update": "upgrade",
        "upgrade": "upgrade",
        "distro-sync": "upgrade",
        "update-minimal": "upgrade",
        "upgrade-minimal": "upgrade",
        "clean": "clean",
        "makecache": "update",
        "module": "module",
        "group": "group",
    },
)
_ZYPPER = _Grammar(
    frozenset({"-r", "--repo", "-t", "--type", "--from", "-R", "--root", "-D", "--reposd-dir", "-C", "--cache-dir"}),
    {
        "install": "install",
        "in": "install",
        "remove": "remove",
        "rm": "remove",
        "update": "upgrade",
        "up": "upgrade",
        "dist-upgrade": "upgrade",
        "dup": "upgrade",
        "patch": "upgrade",
        "refresh": "update",
        "ref": "update",
        "clean": "clean",
        "cc": "clean",
        "addrepo": "addrepo",
        "ar": "addrepo",
    },
)
_PIP = _Grammar(
    frozenset(
        {
            "-r",
            "--requirement",
            "-c",
            "--constraint",
            "-e",
            "--editable",
            "-i",
            "--index-url",
            "--extra-index-url",
            "-f",
            "--find-links",
            "-t",
            "--target",
            "--prefix",
            "--root",
            "--trusted-host",
            "--cache-dir",
            "--platform",
            "--python-version",
            "--implementation",
            "--abi",
            "--src",
            "--upgrade-strategy",
            "--progress-bar",
            "--log",
            "--proxy",
            "--retries",
            "--timeout",
            "--exists-action",
            "--cert",
            "--client-cert",
            "--global-option",
            "-C",
            "--config-settings",
            "--only-binary",
            "--no-binary",
            "--report",
            "--python",
        }
    ),
    {"install": "install", "uninstall": "remove", "download": "download", "wheel": "wheel"},
)
_NPM = _Grammar(
    frozenset(
        {"--prefix", "-w", "--workspace", "--omit", "--include", "--tag", "--registry", "--cache", "-C", "--dir"}
    ),
    {
        "install": "install",
        "i": "install",
        "in": "install",
        "ins": "install",
        "inst": "install",
        "insta": "install",
        "instal": "install",
        "isnt": "install",
        "isnta": "install",
        "isntal": "install",
        "isntall": "install",
        "add": "install",
        "ci": "ci",
        "clean-install": "ci",
        "uninstall": "remove",
        "remove": "remove",
        "rm": "remove",
        "update": "upgrade",
        "upgrade": "upgrade",
        "up": "upgrade",
        "cache": "cache",
        "config": "config",
        "set": "config",
        "global": "global",
    },
)
_GEM = _Grammar(
    frozenset(
        {
            "-v",
            "--version",
            "-i",
            "--install-dir",
            "-n",
            "--bindir",
            "-s",
            "--source",
            "--platform",
            "-P",
            "--trust-policy",
        }
    ),
    {"install": "install", "i": "install", "update": "upgrade", "uninstall": "remove", "sources": "sources"},
)
_MANAGERS: dict[str, tuple[str, _Grammar]] = {
    "apt-get": ("apt-get", _APT),
    "apt": ("apt", _APT),
    "aptitude": ("aptitude", _APT),
    "apk": ("apk", _APK),
    "yum": ("yum", _YUM),
    "dnf": ("dnf", _YUM),
    "dnf5": ("dnf", _YUM),
    "microdnf": ("microdnf", _YUM),
    "tdnf": ("tdnf", _YUM),
    "zypper": ("zypper", _ZYPPER),
    "pip": ("pip", _PIP),
    "npm": ("npm", _NPM),
    "yarn": ("yarn", _NPM),
    "pnpm": ("pnpm", _NPM),
    "gem": ("gem", _GEM),
}
_PIP_NAME = re.compile(r"^pip(\d+(\.\d+)?)?$")
_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


def _split_options(
    words: Sequence[Word], start: int, grammar: _Grammar, stop_at_action: bool
) -> tuple[list[tuple[str, str | None]], list[int], int]:
    """Options (name, value) and positional word indexes from `start`; the action's index."""
    opts: list[tuple[str, str | None]] = []
    positionals: list[int] = []
    action_idx = -1
    i = start
    while i < len(words):
        a = words[i].text
        if a == "--":
            positionals.extend(range(i + 1, len(words)))
            break
        if a.startswith("--") and len(a) > 2:
            if "=" in a:
                name, val = a.split("=", 1)
                opts.append((name, val))
            elif a in grammar.value_opts and i + 1 < len(words):
                opts.append((a, words[i + 1].text))
                i += 1
            else:
                opts.append((a, None))
        elif a.startswith("-") and len(a) > 1 and not a[1].isdigit():
            cluster = a[1:]
            k = 0
            while k < len(cluster):
                name = "-" + cluster[k]
                if name in grammar.value_opts:
                    rest = cluster[k + 1 :]
                    if rest.startswith("="):
                        rest = rest[1:]
                    if rest:
                        opts.append((name, rest))
                    elif i + 1 < len(words):
                        opts.append((name, words[i + 1].text))
                        i += 1
                    else:
                        opts.append((name, None))
                    break
                if name == "-q" and cluster[k + 1 : k + 2] == "=":
                    opts.append(("-q", cluster[k + 2 :]))
                    break
                opts.append((name, None))
                k += 1
        elif action_idx < 0 and stop_at_action:
            action_idx = i
        else:
            positionals.append(i)
        i += 1
    return opts, positionals, action_idx


def decode_package_op(cmd: SimpleCommand, index: int) -> PackageOp | None:
    """Decode one command if it runs a package manager we know, else None."""
    words = cmd.words
    i = unwrap(cmd)
    if i >= len(words):
        return None
    name = words[i].text.rsplit("/", 1)[-1]
    first = i
    if _PYTHON_NAME.match(name) and i + 2 < len(words) and words[i + 1].text == "-m" and words[i + 2].text == "pip":
        name, i = "pip", i + 2
    elif name == "uv" and i + 1 < len(words) and words[i + 1].text == "pip":
        name, i = "pip", i + 1
    elif _PIP_NAME.match(name):
        name = "pip"
    entry = _MANAGERS.get(name)
    if entry is None:
        return None
    manager, grammar = entry
    if manager in ("yarn", "pnpm", "npm") and i + 1 < len(words) and words[i + 1].text == "global":
        i += 1  # `yarn global add x`
    opts, positionals, action_idx = _split_options(words, i + 1, grammar, True)
    raw = words[action_idx].text if action_idx >= 0 else ""
    action = grammar.actions.get(raw, raw)
    if manager == "yarn" and action == "" and not positionals:
        action = "ci"  # bare `yarn` installs from the lockfile
    packages = tuple(words[p] for p in positionals)
    if manager in ("apt-get", "apt", "aptitude") and action == "update":
        packages = ()
    return PackageOp(
        manager=manager,
        action=action,
        raw_action=raw,
        options=tuple(opts),
        packages=packages,
        command=index,
        manager_word=first,
        action_word=action_idx,
    )


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py)
_native.picklable(Word, SimpleCommand, Pipeline, PackageOp, ShellScript, _Ctx, _Grammar)
