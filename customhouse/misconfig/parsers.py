"""Parsers for the structured file types (YAML/JSON and TOML), with line lookup.

Dockerfiles have their own module (customhouse/misconfig/dockerfile.py). YAML and JSON go
through the located, bomb-safe loader; TOML has no position API in the standard library, so
key lines are recovered from the text (`[table]` headers and `key =` lines), which is exact for
the flat configuration files we read (containerd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from customhouse.misconfig.yamlsrc import LocatedDoc, YamlError, load_yaml_documents


def parse_yaml(text: str, path: str) -> list[LocatedDoc]:
    return load_yaml_documents(text, path)


@dataclass
class TomlDoc:
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)  # dotted key path -> line

    def line(self, path: tuple[str, ...]) -> int:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return 0


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*("[^"]*"|[A-Za-z0-9_.\-]+)\s*=')


def _split_key(raw: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|([^.\s"]+)', raw)
    return tuple(a or b for a, b in parts)


def parse_toml(text: str, path: str) -> TomlDoc:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else 0
        raise YamlError(f"{path}:{line}: invalid TOML: {exc}", line) from None
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for i, raw in enumerate(text.splitlines(), 1):
        m = _TABLE.match(raw)
        if m:
            table = _split_key(m.group(1))
            lines.setdefault(table, i)
            continue
        k = _KEY.match(raw)
        if k:
            lines.setdefault((*table, *_split_key(k.group(1))), i)
    return TomlDoc(data, lines)
