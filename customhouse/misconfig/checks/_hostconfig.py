"""Helpers shared by the compose, daemon.json, containerd and kubelet checks.

These four file types are edited by hand and fixed by hand, so a finding is most useful when it
carries the exact line to write instead. The helpers here rewrite one scalar on a source line
(keeping indentation, quoting style, trailing commas and comments), build "insert this child
key" replacements for settings that are missing, and answer the few questions every host
config check asks (is this value true? is this address only reachable from the host itself?).
The module name starts with an underscore so the engine's loader does not treat it as checks.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from customhouse.misconfig.engine import Document

_KEY_TOKEN = re.compile(r"\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s:=#\[\]{},\"']+)\s*")
_SCALAR = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,#\]}]+")
# `${VAR}`, `$VAR`, `${VAR:-}`, `${VAR-}`, `${VAR:?message}`, `${VAR?message}`: nothing literal
_INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}|\$[A-Za-z_][A-Za-z0-9_]*")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def truthy(value: Any) -> bool:
    """True for a boolean true, including the string spellings compose and JSON users write."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def falsy(value: Any) -> bool:
    """An explicit false (not merely "missing"): the distinction matters for defaults."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in _FALSE


def replace_value(line: str, new_value: str, column: int = 0) -> str:
    """`line` with the value of the key starting at `column` (1-based; 0: the first key) replaced.

    Works for YAML (`key: value`), JSON (`"key": value,`) and TOML (`key = value`) lines and
    leaves everything around the value alone, so the result can replace the source line as is.
    Returns "" when the line does not have that shape (a block scalar, a value on the next line).
    """
    start = max(column - 1, 0)
    m = _KEY_TOKEN.match(line, start)
    if not m:
        return ""
    pos = m.end()
    if pos >= len(line) or line[pos] not in ":=":
        return ""
    pos += 1
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    v = _SCALAR.match(line, pos)
    if not v:
        return ""
    return line[: v.start()] + new_value + line[v.end() :]


def child_indent(doc_line: str, child_column: int) -> str:
    """Indentation for a new key next to an existing child whose column we know."""
    if child_column > 0:
        return " " * (child_column - 1)
    return " " * (len(doc_line) - len(doc_line.lstrip()) + 2)


def insert_after(doc: Document, line: int, indent: str, text: str) -> tuple[str, str]:
    """(snippet, replacement) that adds `text` as a new line below `line`.

    The snippet is the anchor line itself, so applying the replacement keeps it and appends
    the new setting; nothing else in the file moves.
    """
    anchor = doc.source(line)
    if not anchor:
        return "", ""
    return anchor, f"{anchor}\n{indent}{text}"


def is_loopback(host: str) -> bool:
    """Whether `host` (an IP, `localhost`, or `[::1]`) is reachable only from the machine itself."""
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def split_host_port(address: str) -> tuple[str, str]:
    """("host", "port") of `host:port`, `[v6]:port`, a bare host, or a bare `:port`."""
    a = address.strip()
    if a.startswith("["):
        host, _, rest = a[1:].partition("]")
        return host, rest.lstrip(":")
    if a.count(":") == 1:
        host, _, port = a.partition(":")
        return host, port
    return a, ""


def is_interpolated(value: str) -> bool:
    """A compose value that is only a `${VAR}` / `$VAR` reference (its value comes from elsewhere)."""
    return _INTERPOLATION.fullmatch(value) is not None
