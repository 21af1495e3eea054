"""YAML (and JSON) documents with line numbers, bounded against alias bombs.

Findings must point at a line, so documents are composed into PyYAML nodes (C loader, safe
tags only) and converted to plain Python values while recording where every mapping key and
sequence item starts. Aliases are shared, not copied, and the *expanded* size of the document
(what a consumer walking it would visit) is computed before conversion: a "billion laughs"
file is refused in linear time instead of being expanded. Merge keys (`<<`), common in compose
files, are applied as YAML 1.1 defines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from customhouse.errors import DocumentError
from customhouse.misconfig import yamlfast

MAX_EXPANDED_NODES = 2_000_000
Path_ = tuple[str | int, ...]


class YamlError(DocumentError):
    """A YAML (or TOML) document that cannot be read; `line` is 1-based (0 when unknown)."""


@dataclass
class LocatedDoc:
    """One document: `data` as plain Python, `positions` from key/item path to (line, column)."""

    data: Any
    index: int  # 0-based position in a multi-document stream
    start_line: int
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest located ancestor."""
        p = tuple(path)
        while p:
            pos = self.positions.get(p)
            if pos is not None:
                return pos[0]
            p = p[:-1]
        return self.start_line

    def column(self, path: Path_) -> int:
        pos = self.positions.get(tuple(path))
        return pos[1] if pos else 0


def json_path(path: Path_) -> str:
    out = "$"
    for p in path:
        if p.__class__ is str:
            seg = _SEGMENTS.get(p)
            if seg is None:
                seg = _segment(p)
                if len(_SEGMENTS) < 10_000:
                    _SEGMENTS[p] = seg
            out += seg
        else:
            out += _segment(p)
    return out


_SEGMENTS: dict[str, str] = {}  # manifests use the same few hundred keys


def _segment(p: str | int) -> str:
    if isinstance(p, int):
        return f"[{p}]"
    return f".{p}" if str(p).replace("_", "").replace("-", "").isalnum() else f"[{p!r}]"


_STR = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):  # type: ignore[valid-type,misc]
    """The C safe loader with the type of plain scalars remembered by their text.

    Resolving a plain scalar's type (int, bool, null, timestamp, str...) runs a list of regexes
    in Python for each one; manifests repeat the same few hundred values (`true`, `100m`, `TCP`,
    label values) thousands of times, and with only the safe implicit resolvers (no path
    resolvers) the type depends on the text alone."""

    _plain: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # The C composer asks once per node. Without path resolvers (this class has none) a
        # quoted scalar is a str and a collection gets its default tag, whatever the text.
        if kind is _SCALAR:
            if not implicit[0]:
                return _STR
            tag = self._plain.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._plain) < 100_000:
                    self._plain[value] = tag
            return tag
        if kind is _MAPPING:
            return _MAP_TAG
        return super().resolve(kind, value, implicit)


def _loader() -> type:
    return _Loader


def _sizes(node: yaml.Node, memo: dict[int, int], limit: int, stack: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in stack:  # recursive alias: refuse rather than loop
        raise YamlError(f"recursive alias at line {node.start_mark.line + 1}", node.start_mark.line + 1)
    stack.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _sizes(k, memo, limit, stack) + _sizes(v, memo, limit, stack)
            if total > limit:
                break
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            total += _sizes(v, memo, limit, stack)
            if total > limit:
                break
    stack.discard(key)
    if total > limit:
        raise YamlError(
            f"document expands to more than {limit} nodes (alias bomb?) at line {node.start_mark.line + 1}",
            node.start_mark.line + 1,
        )
    memo[key] = total
    return total


class _Converter:
    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.positions: dict[Path_, tuple[int, int]] = {}

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR:  # most values: the text is the value
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            # an unparsable value (a timestamp like 2001-02-30 raises ValueError): keep the text
            return node.value

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        # Exact classes (the composer makes no subclasses) and locals: this runs once per node.
        cls = node.__class__
        if cls is _SCALAR:
            return node.value if node.tag == _STR else self.scalar(node)  # type: ignore[arg-type]
        positions = self.positions
        if cls is _SEQUENCE:
            out_list = []
            for i, item in enumerate(node.value):
                p = (*path, i)
                if p not in positions:
                    mark = item.start_mark
                    positions[p] = (mark.line + 1, mark.column + 1)
                out_list.append(self.convert(item, p))
            return out_list
        if cls is _MAPPING:
            out: dict[Any, Any] = {}
            merges: list[yaml.Node] = []
            for k, v in node.value:
                if k.__class__ is _SCALAR and k.tag == _STR:
                    key: Any = k.value
                elif k.tag == "tag:yaml.org,2002:merge":
                    merges.extend(v.value if isinstance(v, yaml.SequenceNode) else [v])
                    continue
                else:
                    key = self.scalar(k) if isinstance(k, yaml.ScalarNode) else str(k.start_mark)
                    if isinstance(key, list | dict):
                        key = str(key)
                p = (*path, key)
                if p not in positions:
                    mark = k.start_mark
                    positions[p] = (mark.line + 1, mark.column + 1)
                out[key] = self.convert(v, p)
            for m in merges:  # explicit keys win over merged ones; earlier merges win over later
                if isinstance(m, yaml.MappingNode):
                    merged = self.convert(m, path)
                    if isinstance(merged, dict):
                        for mk, mv in merged.items():
                            out.setdefault(mk, mv)
            return out
        return None


_SCALAR, _SEQUENCE, _MAPPING = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode


def load_yaml_documents(text: str, where: str, limit: int = MAX_EXPANDED_NODES) -> list[LocatedDoc]:
    """All documents of a YAML (or JSON) stream; raises YamlError naming `where` and the line.

    Text in the plain block style tools write is read by `yamlfast` (same result, a third of
    the time); anything else, and every error, by PyYAML (`compose_documents`)."""
    if len(text) <= limit:  # without aliases a document has fewer nodes than characters
        fast = yamlfast.load(text)
        if fast is not None:
            return [LocatedDoc(data, i, start, positions) for data, i, start, positions in fast]
    return compose_documents(text, where, limit)


def compose_documents(text: str, where: str, limit: int = MAX_EXPANDED_NODES) -> list[LocatedDoc]:
    """`load_yaml_documents` through PyYAML's composer alone (the reference `yamlfast` is held to)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_loader()))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlError(f"{where}:{line}: invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{where}: invalid YAML: {exc}") from None
    out = []
    for i, node in enumerate(nodes):
        if node is None:
            continue
        try:
            # Without an anchor nothing is shared, so the expanded size is at most the number
            # of nodes, and a node takes at least one character of the text.
            if "&" in text or len(text) > limit:
                _sizes(node, {}, limit, set())
        except YamlError as exc:
            raise YamlError(f"{where}:{exc.line}: {exc.message}", exc.line) from None
        except RecursionError:
            raise YamlError(f"{where}: document nests too deeply") from None
        conv = _Converter()
        try:
            data = conv.convert(node, ())
        except RecursionError:
            raise YamlError(f"{where}: document nests too deeply") from None
        out.append(LocatedDoc(data, i, node.start_mark.line + 1, conv.positions))
    return out
