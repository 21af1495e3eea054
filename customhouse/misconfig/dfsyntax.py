"""BuildKit's Dockerfile syntax rules, redone in Python for the common case.

Why this exists: BuildKit's own parser (the `dockerfile` package, BuildKit v0.12 behind cgo)
costs about 30 us per instruction, a third of the whole per-file time of `customhouse config`
on a tree of real Dockerfiles. Compiled with the rest of the Dockerfile model
(`customhouse/_native.py`), this module gives the same instructions for a tenth of that.

It never decides anything BuildKit would decide differently: `parse` returns None, and the
caller asks BuildKit, for everything outside the subset it knows exactly: heredocs, ONBUILD,
unknown instructions, every input BuildKit rejects (so BuildKit's own error messages are
kept), non-ASCII builder flags and HEALTHCHECK arguments (which BuildKit reads byte by byte),
escaped code points in JSON arrays, lines near the Go scanner's 64 KiB limit, NUL bytes. The tests hold
it to BuildKit on every fixture, on the corpus of real Dockerfiles, and on generated files
that mix the awkward cases (tests/misconfig/test_dfsyntax.py).

The rules, as BuildKit applies them (the behaviour was read from its documentation and
source and is checked by those tests, not assumed):
- lines end at `\\n`; trailing `\\r`s are dropped; the first line of an instruction is
  stripped of leading white space, continuation lines are not;
- a line whose first non-blank character is `#` is a comment, also inside a continuation;
  blank lines inside a continuation are skipped;
- an instruction goes on when its line ends with the escape character (not itself escaped),
  then only blanks and tabs;
- parser directives (`# escape=`, `# syntax=`) count only before anything else;
- the first word is the instruction, kept as written; `--flags` come next; each instruction
  then has its own argument rules (JSON or not, words, name=value pairs).
"""

from __future__ import annotations

import json
import re
from typing import Final

# Go's unicode.IsSpace: Python's str.isspace() differs (it counts \x1c-\x1f as well).
_GO_SPACE: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_SPACE: Final = "\t\n\x0b\x0c\r "
_WS: Final = re.compile(r"[\t\x0b\x0c\r ]+")  # BuildKit's separator between words
_DIRECTIVE: Final = re.compile(
    r"#[\t\n\x0c\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\x0c\r ]*=[\t\n\x0c\r ]*(.+?)[\t\n\x0c\r ]*\Z"
)
# quotes, and the characters Python's split() takes for blanks and Go does not
_QUOTE_OR_ODD_BLANK: Final = re.compile("[\"'\x1c-\x1f]")
_MAX_LINE: Final = 16000  # characters: under 64 KiB of UTF-8 even at four bytes each
_JSON: Final = json.JSONDecoder()

_MAYBE_JSON: Final = frozenset(("cmd", "entrypoint", "run", "shell"))
_JSON_OR_LIST: Final = frozenset(("add", "copy", "volume"))
_SPLIT: Final = frozenset(("expose", "from"))
_STRING: Final = frozenset(("maintainer", "stopsignal", "user", "workdir"))
_HEREDOC_CMDS: Final = frozenset(("add", "copy", "run"))


class Command:
    """One instruction, with the attributes of the `dockerfile` package's Command tuple that
    the model reads (`customhouse.misconfig.dockerfile._Builder`)."""

    cmd: str
    sub_cmd: str | None
    json: bool
    original: str
    start_line: int
    end_line: int
    flags: tuple[str, ...]
    value: tuple[str, ...]
    heredocs: tuple[()]

    def __init__(
        self,
        cmd: str,
        json_: bool,
        original: str,
        start_line: int,
        end_line: int,
        flags: tuple[str, ...],
        value: tuple[str, ...],
    ) -> None:
        self.cmd = cmd
        self.sub_cmd = None
        self.json = json_
        self.original = original
        self.start_line = start_line
        self.end_line = end_line
        self.flags = flags
        self.value = value
        self.heredocs = ()


class _Unsure(Exception):
    """Raised inside the module where BuildKit must decide; `parse` turns it into None."""


def _lstrip(s: str) -> str:
    return s.lstrip(_GO_SPACE) if s and s[0] in _GO_SPACE else s


def _continued(token: str, escape: str) -> tuple[str, bool]:
    """The line without its continuation mark, and whether it had one."""
    body = token.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], True
    return token, False


def _escape(lines: list[str]) -> str:
    """The escape character from the parser directives at the top of the file."""
    escape = "\\"
    seen: set[str] = set()
    for raw in lines:
        if "#" not in raw:
            break
        m = _DIRECTIVE.match(_lstrip(raw.rstrip("\r")))
        if m is None:
            break
        key = m.group(1).lower()
        if key not in {"escape", "syntax"}:
            break
        if key in seen:
            raise _Unsure  # BuildKit's error: a directive given twice
        seen.add(key)
        if key == "escape":
            escape = m.group(2)
            if escape not in {"\\", "`"}:
                raise _Unsure  # BuildKit's error: not an escape character it allows
    return escape


def _flags(line: str) -> tuple[str, tuple[str, ...]]:
    """The `--name=value` words at the start of an instruction's arguments, and the rest.

    BuildKit reads these byte by byte (a non-ASCII character would come out as Latin-1), so
    any non-ASCII character inside a flag is left to it."""
    if not line.startswith("--"):
        return line, ()
    words: list[str] = []
    word = ""
    phase = 0  # 0 between words, 1 in a word, 2 in quotes
    quote = ""
    blank_ok = False
    pos = 0
    end = len(line)
    while pos <= end:
        ch = line[pos] if pos < end else ""
        if phase == 0:
            if pos == end:
                break
            if ch in _ASCII_SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == end or line[pos + 1] != "-":
                return line[pos:], tuple(words)
            phase = 1
        if pos == end:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if ch > "\x7f":
            raise _Unsure
        if phase == 1:
            if ch in _ASCII_SPACE:
                phase = 0
                if word == "--":
                    return line[pos:], tuple(words)
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
            elif ch in {"'", '"'}:
                quote = ch
                blank_ok = True
                phase = 2
            elif ch == "\\" and pos + 1 == end:
                pass  # a backslash at the very end is dropped
            else:
                if ch == "\\":
                    pos += 1
                    ch = line[pos]
                    if ch > "\x7f":
                        raise _Unsure
                word += ch
        elif ch == quote or (ch == "\\" and pos + 1 == end):
            phase = 1
        else:
            if ch == "\\":
                pos += 1
                ch = line[pos]
                if ch > "\x7f":
                    raise _Unsure
            word += ch
        pos += 1
    return "", tuple(words)


def _words(rest: str, escape: str) -> list[str]:
    """Words separated by white space; quotes and escapes are kept in the words (ARG, ENV,
    LABEL), only used to tell which blanks separate words."""
    if not rest:
        return []
    if rest.isascii() and not _QUOTE_OR_ODD_BLANK.search(rest) and escape not in rest:
        return rest.split()
    words: list[str] = []
    word = ""
    phase = 0  # 0 between words, 1 in a word, 2 in quotes
    quote = ""
    blank_ok = False
    pos = 0
    end = len(rest)
    while pos <= end:
        ch = rest[pos] if pos < end else ""
        if phase == 0:
            if pos == end:
                break
            if ch in _GO_SPACE:
                pos += 1
                continue
            phase = 1
        if pos == end:
            if blank_ok or word:
                words.append(word)
            break
        if phase == 1:
            if ch in _GO_SPACE:
                phase = 0
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in {"'", '"'}:
                quote = ch
                blank_ok = True
                phase = 2
            if ch == escape:
                if pos + 1 == end:
                    pos += 1
                    continue  # an escape character at the very end is dropped
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
        else:
            if ch == quote:
                phase = 1
            if ch == escape and quote != "'":
                if pos + 1 == end:
                    phase = 1
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
        pos += 1
    return words


def _json_array(rest: str) -> tuple[str, ...] | None:
    """The strings of a JSON array at the start of `rest` (BuildKit ignores what follows it),
    or None when `rest` does not start with one."""
    text = _lstrip(rest)
    if not text.startswith("["):
        return None
    try:
        got = _JSON.raw_decode(text)[0]
    except ValueError:
        return None
    except RecursionError:
        raise _Unsure from None  # Go stops at a depth of its own
    if not isinstance(got, list):
        return None
    out: list[str] = []
    for item in got:
        if not isinstance(item, str):
            raise _Unsure  # BuildKit's error: arrays must hold strings only
        out.append(item)
    if "\\u" in text:
        raise _Unsure  # escaped code points: Go and Python differ on lone surrogates
    return tuple(out)


def _maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    arr = _json_array(rest)
    if arr is not None:
        return arr, True
    return (rest,), False


def _name_values(rest: str, escape: str) -> tuple[str, ...]:
    """ENV and LABEL: `name value` (the old form) or `name=value ...`."""
    words = _words(rest, escape)
    if not words:
        return ()
    if "=" not in words[0]:
        parts = _WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Unsure  # BuildKit's error: needs two arguments
        return (parts[0], parts[1])
    out: list[str] = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq:
            raise _Unsure  # BuildKit's error: no `=` in a word
        out.append(name)
        out.append(value)
    return tuple(out)


def _healthcheck(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    if not rest.isascii():
        raise _Unsure  # BuildKit reads the type byte by byte
    sep = 0
    while sep < len(rest) and rest[sep] not in _ASCII_SPACE:
        sep += 1
    nxt = sep
    while nxt < len(rest) and rest[nxt] in _ASCII_SPACE:
        nxt += 1
    value, is_json = _maybe_json(rest[nxt:])
    return (rest[:sep], *value), is_json


def _command(line: str, escape: str, start: int, end: int) -> Command:
    text = line.strip(_GO_SPACE)
    parts = _WS.split(text, maxsplit=1)
    word = parts[0]
    if not word.isascii():
        raise _Unsure  # Go's and Python's case mappings differ outside ASCII
    cmd = word.lower()
    args = ""
    flags: tuple[str, ...] = ()
    if len(parts) == 2:
        args, flags = _flags(parts[1])
        args = args.strip(_GO_SPACE)
    is_json = False
    if cmd in _MAYBE_JSON:
        value, is_json = _maybe_json(args)
        if is_json is False and cmd == "run" and "<<" in line:
            raise _Unsure  # a heredoc, maybe
    elif cmd in _JSON_OR_LIST:
        arr = _json_array(args)
        if arr is not None:
            value, is_json = arr, True
        else:
            if "<<" in line and cmd in _HEREDOC_CMDS:
                raise _Unsure  # a heredoc, maybe
            value = tuple(_WS.split(args)) if args else ()
    elif cmd in _SPLIT:
        value = tuple(_WS.split(args)) if args else ()
    elif cmd in _STRING:
        value = (args,) if args else ()
    elif cmd == "arg":
        value = tuple(_words(args, escape))
    elif cmd in {"env", "label"}:
        value = _name_values(args, escape)
    elif cmd == "healthcheck":
        value, is_json = _healthcheck(args)
    else:
        raise _Unsure  # ONBUILD (an instruction inside), or one BuildKit does not know
    return Command(word, is_json, line, start, end, flags, value)


def parse(text: str, split: list[str] | None = None) -> tuple[Command, ...] | None:
    """The instructions of a Dockerfile (byte-order mark already removed) as BuildKit's parser
    gives them, or None where only BuildKit may say (see the module's docstring). `split` is
    `text.split("\n")` when the caller has it already (it is not changed)."""
    if "\x00" in text:
        return None  # the text goes to Go as a C string: BuildKit sees it cut at the NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None  # lone surrogates: not something BuildKit can be given
    lines = text.split("\n") if split is None else split
    if lines[-1] == "":
        lines = lines[:-1]  # text ending with a newline: no line after it
    if lines and max(map(len, lines)) > _MAX_LINE:
        return None
    try:
        escape = _escape(lines) if lines and lines[0].lstrip(_GO_SPACE).startswith("#") else "\\"
        out: list[Command] = []
        n = len(lines)
        i = 0
        while i < n:
            token = lines[i]
            i += 1
            if token.endswith("\r"):
                token = token.rstrip("\r")
            token = _lstrip(token)
            if not token or token[0] == "#":
                continue
            start = i
            line, more = _continued(token, escape)
            while more and i < n:
                token = lines[i]
                i += 1
                if token.endswith("\r"):
                    token = token.rstrip("\r")
                bare = _lstrip(token)
                if not bare or bare[0] == "#":
                    continue  # comment or blank line inside a continuation: skipped
                piece, more = _continued(token, escape)
                line += piece
            if not line.strip(_GO_SPACE):
                raise _Unsure
            out.append(_command(line, escape, start, i))
    except _Unsure:
        return None
    if not out:
        return None  # BuildKit's error: no instructions
    return tuple(out)
