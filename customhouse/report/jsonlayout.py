"""The JSON layout of every document we write: the top pretty-printed, deeper values one line each.

Its own module because the findings JSON of `fs` and `config` needs only this, and the SBOM
module it used to live in costs the model's and the license tables' imports.
"""

from __future__ import annotations

import json
from typing import Any


class EncodedItems(list[str]):
    """A list whose items are JSON texts already (by `encode`), each written as it is on its
    line: a report's findings, encoded in the scan's worker processes. The strings themselves
    are not marked (a str subclass instance per item would copy each: four megabytes for the
    findings of 500 Dockerfiles). The layout must reach it (`_dump`): inside a value that is
    written whole below `inline_depth`, `json` would write its items as strings."""

    __slots__ = ()


def encode(value: Any) -> str:
    """A value as `dump_json` writes it at or below `inline_depth`: one line."""
    return json.dumps(value, separators=(", ", ": "))


def dump_json(doc: Any, inline_depth: int = 2) -> str:
    """Pretty-print the top of a document and write each deeper value on one line.

    `json.dumps(indent=...)` falls back to the pure-Python encoder, which costs ~40 ms on a
    500-package SBOM; compact encoding is C and five times faster. One package per line keeps
    the output readable and makes diffs between two SBOMs show one line per changed package.
    """
    out: list[str] = []
    _dump(doc, 0, inline_depth, out)
    out.append("\n")
    return "".join(out)


def _dump(value: Any, depth: int, inline_depth: int, out: list[str]) -> None:
    if depth >= inline_depth or not isinstance(value, dict | list) or not value:
        out.append("[" + ", ".join(value) + "]" if value.__class__ is EncodedItems else encode(value))
        return
    pad = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            out.append(("," if i else "") + pad + json.dumps(k) + ": ")
            _dump(v, depth + 1, inline_depth, out)
        out.append("\n" + "  " * depth + "}")
    elif value.__class__ is EncodedItems:
        out.append("[" + pad)
        out.append(("," + pad).join(value))
        out.append("\n" + "  " * depth + "]")
    else:
        out.append("[")
        for i, v in enumerate(value):
            out.append(("," if i else "") + pad)
            _dump(v, depth + 1, inline_depth, out)
        out.append("\n" + "  " * depth + "]")
