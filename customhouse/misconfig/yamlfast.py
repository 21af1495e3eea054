"""A fast reader for the plain block YAML that tools write, with the positions findings need.

Most manifests on disk were written by `kubectl`, Helm or an editor in one narrow style: block
mappings and sequences, one-line plain or quoted scalars, `{}`/`[]`, comments, literal block
scalars. For those, PyYAML's composer builds a node (with two position marks) per value and
`yamlsrc` then walks the nodes again: most of the time `customhouse k8s` spends per file.
This module reads that style line by line instead and returns exactly what
`yamlsrc.load_yaml_documents` returns for it: the same values, of the same types (plain
scalars are resolved by PyYAML's own resolver and constructor), and the same key and item
positions.

Quoted scalars folded over several lines (what PyYAML's own dumper writes for long strings)
are covered too. It is a fast path, never a second opinion: anything outside that style
(anchors, tags, flow collections with content, multi-line plain scalars, escapes, folded or
indented block scalars, complex keys, tabs, odd characters, empty documents, whatever does not
parse) makes `load` return None, and the caller composes the text with PyYAML as before,
errors and all. tests/misconfig/test_yamlfast.py holds it to PyYAML on generated manifests, on
documents PyYAML's emitter wrote from random data, and on seeded mutations of both.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Positions = dict[tuple[Any, ...], tuple[int, int]]  # key/item path -> (line, column), 1-based

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"

# Characters PyYAML refuses or reads as line breaks (NEL, LS, PS), tabs, CR, a BOM, and
# directives or document-end markers at a line start: the caller's job. Most manifests are
# ASCII, checked with a small pattern; the full one (5 ms to compile) only when needed.
_ASCII_OUT_OF_STYLE = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
_OUT_OF_STYLE = "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"


def _out_of_style(text: str) -> bool:
    if text.startswith(("%", "...")) or "\n%" in text or "\n..." in text:
        return True
    if text.isascii():
        return _ASCII_OUT_OF_STYLE.search(text) is not None
    return re.search(_OUT_OF_STYLE, text) is not None


# A plain scalar may not start with an indicator; "-", "?" and ":" only when a space follows
# (or nothing: `-` alone is an entry, `key: -` an error).
_PLAIN_START_BAD = frozenset("[]{},#&*!|>'\"%@`")
_BLOCK_HEADER = re.compile(r":[ ]+\|(-?)[ ]*(?:#.*)?$")
_ANY_HEADER = re.compile(r"(?:^|[ :])[|>][-+0-9]*[ ]*(?:#.*)?$")


class _Fallback(Exception):
    """The text leaves the style this reader covers; PyYAML reads it instead."""


_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()
#: plain scalar text -> (is a string, value): manifests repeat a few hundred texts thousands of times
_PLAIN: dict[str, tuple[bool, Any]] = {}


def _plain_value(text: str) -> tuple[bool, Any]:
    got = _PLAIN.get(text)
    if got is not None:
        return got
    tag = _resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR:
        got = (True, text)
    elif tag == _MERGE:
        raise _Fallback
    else:
        try:
            got = (False, _constructor.construct_object(yaml.ScalarNode(tag, text), deep=True))
        except (yaml.YAMLError, ValueError, OverflowError):
            got = (False, text)  # as yamlsrc keeps an unparsable timestamp (2001-02-30): the text
        _constructor.constructed_objects.clear()
        _constructor.recursive_objects.clear()
    if len(_PLAIN) < 100_000:
        _PLAIN[text] = got
    return got


def _scalar(s: str) -> tuple[Any, str]:
    """The value of the scalar (or empty flow collection) at the start of `s`, and what follows it."""
    c = s[0]
    if c == "'":
        end = 1
        while True:
            q = s.find("'", end)
            if q < 0:
                raise _Fallback  # continues on the next line
            if s.startswith("''", q):
                end = q + 2
                continue
            return s[1:q].replace("''", "'"), s[q + 1 :]
    if c == '"':
        q = s.find('"', 1)
        if q < 0 or "\\" in s[1:q]:
            raise _Fallback  # continues on the next line, or holds escapes
        return s[1:q], s[q + 1 :]
    if c in "{[":
        if s.startswith("{}"):
            return {}, s[2:]
        if s.startswith("[]"):
            return [], s[2:]
        raise _Fallback
    raise _Fallback


def _value(s: str) -> Any:
    """The value of a one-line scalar `s` (a mapping value or sequence item, comment included)."""
    c = s[0]
    if c in "'\"{[":
        value, rest = _scalar(s)
        rest = rest.lstrip(" ")
        if rest and rest[0] != "#":
            raise _Fallback
        return value
    if c in _PLAIN_START_BAD or (c in "-?:" and (len(s) == 1 or s[1] == " ")):
        raise _Fallback
    h = s.find(" #")
    if h >= 0:
        s = s[:h]
    s = s.rstrip(" ")
    if ": " in s or s.endswith(":"):
        raise _Fallback
    return _plain_value(s)[1]


def _key(s: str) -> tuple[Any, str]:
    """A mapping entry `s` split into its key and the text after the `:` (stripped)."""
    c = s[0]
    if c in "'\"":
        key, rest = _scalar(s)
        rest = rest.lstrip(" ")
        if not rest.startswith(":") or (len(rest) > 1 and rest[1] != " ") or len(s) - len(rest) > 1000:
            raise _Fallback  # not a key, or longer than the 1,024 characters YAML allows a simple key
        return key, rest[1:].lstrip(" ")
    i = s.find(": ")
    if i < 0:
        if not s.endswith(":"):
            raise _Fallback  # a bare scalar where a key was expected
        i = len(s) - 1
    text = s[:i]
    if (
        c in _PLAIN_START_BAD
        or (c in "-?:" and (len(s) == 1 or s[1] == " "))
        or "#" in text
        or text.endswith(" ")
        or len(text) > 1000
    ):
        raise _Fallback
    is_str, key = _plain_value(text)
    if not is_str and isinstance(key, list | dict):
        raise _Fallback
    return key, s[i + 1 :].lstrip(" ")


#: content line text -> what it is; generated and hand-written manifests repeat most lines
#: (`protocol: TCP`, `- name: http`, label lines) across files. Entries: (0, key, kind, value)
#: with kind 0 (value on the next lines, or null), 1 (the scalar `value`), 2 (`{}`), 3 (`[]`);
#: sequence entries: (1, columns from the dash to the rest, kind of the rest: 0 nothing,
#: 1 a mapping entry, 2 a scalar, 3 `{}`, 4 `[]`, value).
_LINES: dict[str, tuple[Any, ...]] = {}


def _classify(text: str) -> tuple[Any, ...]:
    if text[0] == "-" and (len(text) == 1 or text[1] == " "):
        rest = text[1:].lstrip(" ")
        off = len(text) - len(rest)
        if not rest or rest[0] == "#":
            got: tuple[Any, ...] = (1, off, 0, None)
        else:
            c = rest[0]
            if c in "-?:" and (len(rest) == 1 or rest[1] == " "):
                raise _Fallback  # `- - x`, `- ? x`
            if _is_entry(rest):
                got = (1, off, 1, None)
            else:
                value = _value(rest)
                kind = 3 if isinstance(value, dict) else 4 if isinstance(value, list) else 2
                got = (1, off, kind, value)
    else:
        key, rest = _key(text)
        if not rest or rest[0] == "#":
            got = (0, key, 0, None)
        else:
            value = _value(rest)
            if isinstance(value, dict):
                got = (0, key, 2, None)
            elif isinstance(value, list):
                got = (0, key, 3, None)
            else:
                got = (0, key, 1, value)
    if len(_LINES) < 50_000:
        _LINES[text] = got
    return got


class _Reader:
    """One document's content lines: [line number, indent, text, block scalar value or None,
    whether the line is a sequence entry]."""

    __slots__ = ("lines", "positions")

    def __init__(self, lines: list[list[Any]]) -> None:
        self.lines = lines
        self.positions: Positions = {}

    def block(self, i: int, path: tuple[Any, ...]) -> tuple[Any, int]:
        line = self.lines[i]
        if line[4]:
            return self.sequence(i, line[1], path)
        return self.mapping(i, line[1], path)

    def mapping(self, i: int, indent: int, path: tuple[Any, ...]) -> tuple[dict[Any, Any], int]:
        lines, positions = self.lines, self.positions
        n = len(lines)
        out: dict[Any, Any] = {}
        get = _LINES.get
        while i < n:
            line = lines[i]
            at = line[1]
            if at != indent:
                if at < indent:
                    break
                raise _Fallback  # continuation lines, or indentation YAML refuses
            c = get(line[2]) or _classify(line[2])
            if c[0]:
                raise _Fallback  # a sequence entry among the keys
            key = c[1]
            p = (*path, key)
            if p not in positions:
                positions[p] = (line[0], at + 1)
            i += 1
            kind = c[2]
            if kind == 0:
                if line[3] is not None:
                    out[key] = line[3]
                    continue
                if i < n:
                    nxt = lines[i]
                    if nxt[1] > indent:
                        out[key], i = self.block(i, p)
                        continue
                    if nxt[1] == indent and nxt[4]:
                        out[key], i = self.sequence(i, indent, p)
                        continue
                out[key] = None
                continue
            out[key] = c[3] if kind == 1 else {} if kind == 2 else []
            if i < n and lines[i][1] > indent:
                raise _Fallback  # a multi-line plain scalar
        return out, i

    def sequence(self, i: int, indent: int, path: tuple[Any, ...]) -> tuple[list[Any], int]:
        lines, positions = self.lines, self.positions
        n = len(lines)
        out: list[Any] = []
        get = _LINES.get
        while i < n:
            line = lines[i]
            at = line[1]
            if at != indent:
                if at > indent:
                    raise _Fallback
                break
            if not line[4]:
                break  # the mapping this (indentless) sequence is a value of goes on
            c = get(line[2]) or _classify(line[2])
            p = (*path, len(out))
            kind = c[2]
            if kind == 0:
                if i + 1 < n and lines[i + 1][1] > indent:
                    nxt = lines[i + 1]
                    if p not in positions:
                        positions[p] = (nxt[0], nxt[1] + 1)
                    item, i = self.block(i + 1, p)
                    out.append(item)
                    continue
                raise _Fallback  # a null item
            col = at + c[1]
            if p not in positions:
                positions[p] = (line[0], col + 1)
            if kind == 1:
                # a mapping starting on the dash's line: its keys line up with this one
                line[1], line[2], line[4] = col, line[2][c[1] :], False
                item, i = self.mapping(i, col, p)
                out.append(item)
                continue
            out.append(c[3] if kind == 2 else {} if kind == 3 else [])
            i += 1
            if i < n and lines[i][1] > indent:
                raise _Fallback
        return out, i


def _is_entry(s: str) -> bool:
    """Whether `s` (the text after a `- `) is a mapping entry rather than a scalar."""
    c = s[0]
    if c in "'\"":
        try:
            _, rest = _scalar(s)
        except _Fallback:
            return False
        return rest.lstrip(" ").startswith(":")
    if c in "{[":
        return False
    h = s.find(" #")
    body = s if h < 0 else s[:h]
    return ": " in body or body.rstrip(" ").endswith(":")


def _literal(raw: list[str], j: int, parent: int, strip: bool, terminated: bool) -> tuple[str, int]:
    """A `|` or `|-` block scalar whose content starts at raw line `j`; its value and the next
    line. `terminated`: whether the last raw line ends with a line break (clipping keeps it)."""
    n = len(raw)
    k = j
    while k < n and raw[k] == "":
        k += 1
    if k < n:
        first = raw[k]
        indent = len(first) - len(first.lstrip(" "))
        if indent == len(first):
            raise _Fallback  # leading spaces-only lines decide the indentation
    else:
        indent = 0
    if indent <= parent:
        if any(raw[x] for x in range(j, k)):
            raise _Fallback
        return "", j  # empty: the next key follows at once
    body: list[str] = []
    e = j
    while e < n:
        s = raw[e]
        if s == "":
            body.append("")
        elif s.startswith(" " * indent):
            body.append(s[indent:])
        elif s.strip(" ") == "":
            raise _Fallback  # spaces-only lines shorter than the indent
        else:
            break
        e += 1
    last = len(body)
    while body and body[-1] == "":
        body.pop()
    text = "\n".join(body)
    if not strip and body and (terminated or len(body) < last or e < n):
        text += "\n"
    # trailing empty lines belong to the scalar (chomped); the next content line is e
    return text, e


def _documents(text: str) -> list[tuple[list[str], int]]:
    """The raw lines of each document and the 0-based number of its first line (the last line
    of the text ends with a line break unless `text` does not)."""
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    docs: list[tuple[list[str], int]] = []
    start = 0
    for no, s in enumerate(raw):
        if s.startswith("---"):
            tail = s[3:].lstrip(" ")
            if (len(s) > 3 and s[3] != " ") or (tail and tail[0] != "#"):
                raise _Fallback  # content after the marker, or a line starting with ---x
            docs.append((raw[start:no], start))
            start = no + 1
    docs.append((raw[start:], start))
    return docs


def _content_lines(raw: list[str], first: int, terminated: bool) -> list[list[Any]]:
    lines: list[list[Any]] = []
    j, n = 0, len(raw)
    while j < n:
        s = raw[j]
        t = s.lstrip(" ")
        if not t or t[0] == "#":
            j += 1
            continue
        indent = len(s) - len(t)
        if t[-1] == " ":
            t = t.rstrip(" ")
        dash = t[0] == "-" and (len(t) == 1 or t[1] == " ")
        if "|" in t or ">" in t:
            m = _BLOCK_HEADER.search(t)
            if m is not None:
                if dash:
                    raise _Fallback  # `- key: |`, `- |`: not covered
                head = t[: m.start()]
                if ": " in head:
                    raise _Fallback
                block, nxt = _literal(raw, j + 1, indent, m.group(1) == "-", terminated)
                lines.append([first + j + 1, indent, t[: m.start() + 1], block, False])
                j = nxt
                continue
            if _ANY_HEADER.search(t):
                raise _Fallback  # folded, keep (`|+`), indentation indicators, `- |`
        if not dash and ("'" in t or '"' in t):
            k = _open_quote(t)
            if k >= 0:
                value, nxt = _folded_quote(raw, j, indent, t, k)
                lines.append([first + j + 1, indent, t[: k - 1], value, False])
                j = nxt
                continue
        lines.append([first + j + 1, indent, t, None, dash])
        j += 1
    return lines


def _open_quote(t: str) -> int:
    """Where the quoted value of entry `t` starts when it does not end on this line, else -1."""
    k = t.find(": ") + 2
    if k < 2 or k >= len(t):
        return -1
    q = t[k]
    if q not in "'\"":
        return -1
    if _close(t, k + 1, q) >= 0:
        return -1
    head = t[: k - 2]
    if "'" in head or '"' in head or "#" in head:
        raise _Fallback  # a quoted key, or text that is not what it seems
    return k


def _close(s: str, start: int, q: str) -> int:
    """The index of the quote `q` closing a scalar whose text starts at `start`, or -1."""
    while True:
        e = s.find(q, start)
        if e < 0:
            return -1
        if q == "'" and s.startswith("''", e):
            start = e + 2
            continue
        return e


def _folded_quote(raw: list[str], j: int, indent: int, t: str, k: int) -> tuple[str, int]:
    """A quoted scalar starting at `t[k]` (raw line `j`) and closing on a later line: its value
    folded as YAML folds flow scalars (a line break between text is a space, each empty line a
    newline, spaces around breaks dropped) and the raw line after it."""
    q = t[k]
    parts = [t[k + 1 :].rstrip(" ")]
    empties = 0
    n = len(raw)
    e = j + 1
    while e < n:
        line = raw[e]
        body = line.lstrip(" ")
        if body and len(line) - len(body) <= indent:
            raise _Fallback  # continuation lines not indented under their key
        end = _close(body, 0, q)
        if end >= 0:
            tail = body[end + 1 :].lstrip(" ")
            if tail and tail[0] != "#":
                raise _Fallback
            parts.append("\n" * empties if empties else " ")
            parts.append(body[:end])
            text = "".join(parts)
            if q == "'":
                text = text.replace("''", "'")
            elif "\\" in text:
                raise _Fallback
            return text, e + 1
        body = body.rstrip(" ")
        if not body:
            empties += 1
        else:
            parts.append("\n" * empties if empties else " ")
            parts.append(body)
            empties = 0
        e += 1
    raise _Fallback


def load(text: str) -> list[tuple[Any, int, int, Positions]] | None:
    """(data, index, start line, positions) per document, as `yamlsrc.load_yaml_documents` makes
    them, or None when the text is not in the style this reader covers."""
    # Anchors, aliases and tags can only start a node, where `_PLAIN_START_BAD` refuses them.
    if _out_of_style(text):
        return None
    try:
        out: list[tuple[Any, int, int, Positions]] = []
        docs = _documents(text)
        for k, (raw, first) in enumerate(docs):
            lines = _content_lines(raw, first, k < len(docs) - 1 or text.endswith("\n"))
            if not lines:
                if k == 0 and len(docs) > 1:
                    continue  # comments before the first `---`
                if k == 0:
                    return []  # nothing but comments: no document at all
                return None  # an empty document: PyYAML's null and where it says it starts
            reader = _Reader(lines)
            data, i = reader.block(0, ())
            if i != len(lines):
                return None
            out.append((data, len(out), lines[0][0], reader.positions))
        return out
    except (_Fallback, RecursionError):
        return None
