"""One closure a rule: the condition tree flattened into a single Python expression.

The closure tree of `Compiler.predicate` costs a Python call per node, and a rule of ten tests
makes ten calls for every event it meets. Here the same condition becomes the body of one
closure: boolean operators are Python's own, fields stored on the event are read inline
(`e.proc.name`), and the common comparisons (`=`, `!=`, `in`, ordering, `startswith`,
`endswith`, `contains`, `pmatch` with a C-level prefix test first, `exists`) are inline
expressions. Everything else (regex, glob, networks, lists, transformers, val()) calls the leaf
closure `Compiler.compare` builds, so semantics live in one place.

Safety: the generated source contains only names we make (`k0`, `v1`, ...), operators and
method names from a fixed set. Every constant, set, getter and leaf closure from a rule file is
passed as an argument of the factory and so bound as a closure variable; no text from a rule
file is ever placed in the source. Builtins are not available to the generated code.

Small macros are inlined. Larger ones are, for one rule, their own closure whose result is
remembered for the event (see `compiler._remembered`); and in `generate_bucket`, which compiles
all the rules an event type meets into one closure, local variables computed on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from customhouse.runtime.events import Event
from customhouse.runtime.rules.fields import Operand
from customhouse.runtime.rules.parser import And, Compare, Const, FieldRef, MacroRef, Node, Not, Or

if TYPE_CHECKING:
    from customhouse.runtime.rules.compiler import Compiler

Pred = Callable[[Event], bool]
_PLAIN = frozenset(("string", "int", "bool", "ip"))
INLINE_MACRO_MAX = 3  # comparisons; larger macros are shared and remembered per event


class _Gen:
    def __init__(
        self,
        compiler: Compiler,
        source: str,
        evttype: str | None,
        stack: tuple[str, ...],
        local_macros: dict[tuple[str, str | None], str] | None = None,
    ) -> None:
        self.c = compiler
        self.source = source
        self.evttype = evttype
        self.stack = stack
        self.values: list[Any] = []
        self.temps = 0
        # bucket mode: a shared macro is a local variable of the generated function, computed
        # on first use (None: not yet)
        self.local_macros = local_macros

    def bind(self, value: Any) -> str:
        self.values.append(value)
        return f"k{len(self.values) - 1}"

    def temp(self) -> str:
        self.temps += 1
        return f"v{self.temps}"

    def read(self, op: Operand) -> str:
        if op.attr:
            return "e." + op.attr  # a path of identifiers from the registry, never rule text
        return f"{self.bind(op.getter)}(e)"

    # --- nodes

    def expr(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " and ".join(self.expr(c) for c in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.or_parts(node)) + ")"
        if isinstance(node, Not):
            return f"(not {self.expr(node.child)})"
        if isinstance(node, Const):
            return "True" if node.value else "False"
        if isinstance(node, MacroRef):
            return self.macro(node)
        return self.compare(node)

    def or_parts(self, node: Or) -> list[str]:
        groups: dict[tuple[Any, str], list[Compare]] = {}
        order: list[Node | tuple[Any, str]] = []
        for child in node.children:
            key = self.c._mergeable(child, self.source)
            if key is None:
                order.append(child)
                continue
            if key not in groups:
                groups[key] = []
                order.append(key)
            assert isinstance(child, Compare)
            groups[key].append(child)
        out = []
        for item in order:
            if isinstance(item, tuple):
                cmps = groups[item]
                if len(cmps) == 1:
                    out.append(self.compare(cmps[0]))
                else:
                    out.append(self.merged(item, cmps))
            else:
                out.append(self.expr(item))
        return out

    def merged(self, key: tuple[Any, str], cmps: list[Compare]) -> str:
        operand = self.c.operand(cmps[0].lhs, self.source)
        op = key[1]
        consts: list[str] = []
        for cmp in cmps:
            assert cmp.rhs is not None and not isinstance(cmp.rhs, FieldRef)
            consts.extend(self.c.values(cmp.rhs))
        x = self.read(operand)
        if op == "in":
            return f"({x} in {self.bind(frozenset(consts))})"
        if op in ("startswith", "endswith"):
            t = self.temp()
            return f"(({t} := {x}) is not None and {t}.{op}({self.bind(tuple(consts))}))"
        return f"{self.bind(self.c._merged(key, cmps, self.source))}(e)"

    def macro(self, ref: MacroRef) -> str:
        body = self.c.macros.get(ref.name)
        if body is None or ref.name in self.stack:
            self.c.expand(ref, self.stack)  # raises the undefined-macro or cycle error
        assert body is not None
        if self.evttype is not None:
            body = self.c.specialise(body, self.evttype)
        if _size(body) <= INLINE_MACRO_MAX or self.local_macros is not None:
            saved = self.stack
            self.stack = (*saved, ref.name)
            try:
                inner = self.expr(body)
            finally:
                self.stack = saved
            if self.local_macros is None or _size(body) <= INLINE_MACRO_MAX:
                return inner
            key = (ref.name, self.evttype)
            var = self.local_macros.get(key)
            if var is None:
                var = self.local_macros[key] = f"m{len(self.local_macros)}"
            return f"({var} if {var} is not None else ({var} := {inner}))"
        return f"{self.bind(self.c._macro(ref, self.source, self.evttype, self.stack))}(e)"

    def compare(self, node: Compare) -> str:
        c = self.c
        lhs = c.operand(node.lhs, self.source)
        op = "=" if node.op == "==" else node.op
        rhs = node.rhs
        if lhs.multi or lhs.type not in _PLAIN or isinstance(rhs, FieldRef):
            return f"{self.bind(c.compare(node, self.source))}(e)"
        if op == "exists":
            return f"({self.read(lhs)} is not None)"
        assert rhs is not None
        if isinstance(rhs, tuple) and op not in ("in", "intersects", "pmatch"):
            return f"{self.bind(c.compare(node, self.source))}(e)"  # raises the right error
        consts = c._convert(lhs, op, c.values(rhs), node.pos)
        x = self.read(lhs)
        if op in ("in", "intersects"):
            return f"({x} in {self.bind(frozenset(consts))})" if consts else "False"
        if op == "=":
            return f"({x} == {self.bind(consts[0])})"
        t = self.temp()
        if op == "!=":
            return f"(({t} := {x}) is not None and {t} != {self.bind(consts[0])})"
        if op in ("<", "<=", ">", ">=") and lhs.type == "int":
            return f"(({t} := {x}) is not None and {t} {op} {self.bind(consts[0])})"
        if lhs.type == "string":
            if op in ("startswith", "endswith"):
                return f"(({t} := {x}) is not None and {t}.{op}({self.bind(consts[0])}))"
            if op == "contains":
                return f"(({t} := {x}) is not None and {self.bind(consts[0])} in {t})"
            if op == "pmatch":
                from customhouse.runtime.rules.compiler import PathPrefixes

                pm = PathPrefixes(consts)
                check = f"{self.bind(pm)}({t})"
                if pm.starts and not pm.root and not pm.globs:
                    check = f"{t}.startswith({self.bind(pm.starts)}) and {check}"
                return f"(({t} := {x}) is not None and {check})"
        self.temps -= 1
        return f"{self.bind(c.compare(node, self.source))}(e)"


def _size(node: Node) -> int:
    """Comparisons in `node`, macros counted as large (they are shared, not inlined)."""
    if isinstance(node, And | Or):
        return sum(_size(c) for c in node.children)
    if isinstance(node, Not):
        return _size(node.child)
    if isinstance(node, MacroRef):
        return INLINE_MACRO_MAX + 1
    if isinstance(node, Const):
        return 0
    return 1


def generate(compiler: Compiler, node: Node, source: str, evttype: str | None, stack: tuple[str, ...] = ()) -> Pred:
    """One closure for `node` (already specialised to `evttype` when given)."""
    g = _Gen(compiler, source, evttype, stack)
    body = g.expr(node)
    params = ", ".join(f"k{i}" for i in range(len(g.values)))
    src = f"def make({params}):\n    def rule(e):\n        return {body}\n    return rule\n"
    namespace: dict[str, Any] = {}
    code = compile(src, "<customhouse rule>", "exec")
    exec(code, {"__builtins__": {}}, namespace)
    fn: Pred = namespace["make"](*g.values)
    return fn


def generate_bucket(
    compiler: Compiler, source: str, entries: list[tuple[Node, str | None]], first: bool
) -> Callable[[Event], list[int] | None]:
    """One closure for all the rules an event of one type meets: it returns the positions (in
    `entries`) of the rules that match, or None. `entries` holds each rule's condition and the
    event type to specialise it to (None for rules not indexed by type). With `first`, it stops
    at the first match. Macros shared by the rules are local variables, computed at most once."""
    local_macros: dict[tuple[str, str | None], str] = {}
    g = _Gen(compiler, source, None, (), local_macros)
    lines: list[str] = []
    for i, (node, evttype) in enumerate(entries):
        g.evttype = evttype
        if evttype is not None:
            node = compiler.specialise(node, evttype)
        expr = g.expr(node)
        if first:
            lines += [f"        if {expr}:", f"            return [{i}]"]
        else:
            lines += [f"        if {expr}:", "            if out is None:", f"                out = [{i}]"]
            lines += ["            else:", f"                out.append({i})"]
    params = ", ".join(f"k{i}" for i in range(len(g.values)))
    head = ["    def bucket(e):"]
    if local_macros:
        head.append("        " + " = ".join(local_macros.values()) + " = None")
    head.append("        out = None")
    src = "\n".join([f"def make({params}):", *head, *lines, "        return out", "    return bucket", ""])
    namespace: dict[str, Any] = {}
    # our own source, no rule text in it (see the module docstring); no builtins
    exec(compile(src, "<customhouse rules>", "exec"), {"__builtins__": {}}, namespace)
    fn: Callable[[Event], list[int] | None] = namespace["make"](*g.values)
    return fn


__all__ = ["generate", "generate_bucket"]
