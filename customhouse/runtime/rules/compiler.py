"""Conditions and outputs compiled once into Python closures.

`Compiler.expand` substitutes macros (recursively, cycles refused); `Compiler.predicate` turns
the expanded AST into one closure per node, specialised by operator, field type and
multiplicity so that evaluating `proc.name in (shell_binaries)` is one C-level attribute fetch
and one frozenset lookup. Lists are expanded into the values (lists inside lists included) and
constants are converted to the field's type at compile time, so a bad number or address is a
load error, not a surprise at run time.

Semantics follow Falco's documentation:
- a comparison whose field has no value for the event is false, whatever the operator;
- `=` compares numbers for numeric fields (`proc.pid = 01` is true for pid 1) and text for text
  fields (`proc.name = 01` is not);
- `in` is true when every value of the field is in the set (one value for ordinary fields),
  `intersects` when some value is; `pmatch` is a path-prefix match whose prefixes may hold
  globs; `glob` wildcards do not cross `/`; `regex` is a full match (RE2);
- `contains`/`startswith`/`endswith` are text operators; `icontains` and `iglob` ignore case;
  `bcontains`/`bstartswith` take hexadecimal bytes.

`evttypes(node)` computes the event types a condition can match (None: any), which is how the
engine indexes rules; `specialise` folds the `evt.type` tests away for one event type, so a rule
indexed under execve and execveat gets two closures, neither of which tests the type again.
"""

from __future__ import annotations

import base64
import binascii
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Any

from customhouse.runtime.events import Event
from customhouse.runtime.rules.fields import REGISTRY, Operand, Registry, UnknownFieldError
from customhouse.runtime.rules.parser import (
    And,
    Compare,
    Const,
    Field,
    FieldRef,
    MacroRef,
    Node,
    Not,
    OperandNode,
    Or,
    Value,
)
from customhouse.runtime.rules.regexes import (
    DEFAULT_BUDGET_S,
    RegexError,
    UnsafeRegexError,
    compile_fullmatch,
    compile_glob,
    component_matcher,
)

Pred = Callable[[Event], bool]
ScalarPred = Callable[[Any], bool]

NUMERIC = frozenset(("int",))
ORDER_OPS = frozenset(("<", "<=", ">", ">="))
STRING_OPS = frozenset(
    ("contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "pmatch")
)
SET_OPS = frozenset(("in", "intersects"))
ALLOWED_OPS = {
    "string": frozenset(("=", "==", "!=", "exists")) | ORDER_OPS | STRING_OPS | SET_OPS,
    "auto": frozenset(("=", "==", "!=", "exists")) | ORDER_OPS | STRING_OPS | SET_OPS,
    "int": frozenset(("=", "==", "!=", "exists")) | ORDER_OPS | SET_OPS,
    "bool": frozenset(("=", "==", "!=", "exists")) | SET_OPS,
    "ip": frozenset(("=", "==", "!=", "exists")) | SET_OPS,
    "net": frozenset(("=", "==", "!=", "exists")) | SET_OPS,
}


class CompileError(Exception):
    """A condition that parses but cannot be compiled (bad value, undefined macro, bad regex)."""

    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# ------------------------------------------------------------------ value conversion


def parse_int(text: str) -> int:
    t = text.strip()
    try:
        return int(t, 16) if t.lower().startswith(("0x", "-0x")) else int(t)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "false"):
        return t == "true"
    raise ValueError(f"'{text}' is not true or false")


def canonical_ip(text: str) -> str:
    try:
        return ip_address(text.strip()).compressed
    except ValueError:
        raise ValueError(f"'{text}' is not an IP address") from None


@dataclass(frozen=True)
class _Nets:
    v4: tuple[tuple[int, int], ...]
    v6: tuple[tuple[int, int], ...]

    def __call__(self, v: str) -> bool:
        if ":" not in v:
            try:
                x = int.from_bytes(socket.inet_aton(v), "big")
            except OSError:
                return False
            for n, m in self.v4:  # noqa: SIM110 - a plain loop is cheaper than any() and a generator
                if (x & m) == n:
                    return True
            return False
        try:
            a = ip_address(v)
        except ValueError:
            return False
        if a.version == 4:  # pragma: no cover - inet_aton took it
            return False
        x = int(a)
        mapped = a.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None and any((int(mapped) & m) == n for n, m in self.v4):
            return True
        return any((x & m) == n for n, m in self.v6)


def make_nets(texts: Iterable[str]) -> _Nets:
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for t in texts:
        try:
            net = ip_network(t.strip(), strict=False)
        except ValueError:
            raise ValueError(f"'{t}' is not an IP network") from None
        (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.netmask)))
    return _Nets(tuple(v4), tuple(v6))


class PathPrefixes:
    """`pmatch`: is the path one of the prefixes or below one? Prefixes may contain globs,
    matched per component (wildcards do not cross `/`)."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.globs: list[list[Callable[[str], bool]]] = []
        self.root = False
        self.starts: tuple[str, ...] = ()
        for p in prefixes:
            p = p.rstrip("/") if p != "/" else p
            if p in ("/", ""):
                self.root = self.root or p == "/"
                continue
            if any(c in p for c in "*?["):
                self.globs.append([component_matcher(c) for c in p.split("/")])
            else:
                self.exact.add(p)
        self.starts = tuple(self.exact)

    def __call__(self, path: str) -> bool:
        if self.root and path.startswith("/"):
            return True
        exact = self.exact
        if exact and path.startswith(self.starts):  # a plain prefix first: one C call rules most paths out
            if path in exact:
                return True
            i = path.find("/", 1)
            while i != -1:
                if path[:i] in exact:
                    return True
                i = path.find("/", i + 1)
        if self.globs:
            comps = path.split("/")
            for g in self.globs:
                if len(g) <= len(comps) and all(m(c) for m, c in zip(g, comps, strict=False)):
                    return True
        return False


# ------------------------------------------------------------------ transformers


def _map(multi: str, fn: Callable[[Any], Any], inner: Callable[[Event], Any]) -> Callable[[Event], Any]:
    if multi:

        def many(e: Event) -> Any:
            vs = inner(e)
            if vs is None:
                return None
            out = [fn(v) for v in vs]
            return [v for v in out if v is not None]

        return many

    def one(e: Event) -> Any:
        v = inner(e)
        return None if v is None else fn(v)

    return one


def _b64(v: Any) -> str | None:
    try:
        return base64.b64decode(str(v), validate=False).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return None


def _basename(v: Any) -> str:
    s = str(v)
    return s[s.rfind("/") + 1 :]


def _length(multi: str, inner: Callable[[Event], Any]) -> Callable[[Event], Any]:
    def g(e: Event) -> int | None:
        v = inner(e)
        if v is None:
            return None
        return len(v) if isinstance(v, list | str) else len(str(v))

    return g


# ------------------------------------------------------------------ closures


def _remembered(key: str, f: Pred) -> Pred:
    """`f`, computed at most once per evaluation of an event (the engine resets `Event._c`)."""

    def g(e: Event) -> bool:
        c = e._c
        if c is None:
            v = f(e)
            e._c = {key: v}
            return v
        known: bool | None = c.get(key)
        if known is None:
            known = c[key] = f(e)
        return known

    return g


def all_of(preds: Sequence[Pred]) -> Pred:
    if not preds:
        return lambda e: True
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) and b(e)
    if len(preds) == 3:
        a, b, c = preds
        return lambda e: a(e) and b(e) and c(e)
    if len(preds) == 4:
        a, b, c, d = preds
        return lambda e: a(e) and b(e) and c(e) and d(e)
    head, tail = all_of(preds[:4]), all_of(preds[4:])
    return lambda e: head(e) and tail(e)


def any_of(preds: Sequence[Pred]) -> Pred:
    if not preds:
        return lambda e: False
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) or b(e)
    if len(preds) == 3:
        a, b, c = preds
        return lambda e: a(e) or b(e) or c(e)
    if len(preds) == 4:
        a, b, c, d = preds
        return lambda e: a(e) or b(e) or c(e) or d(e)
    head, tail = any_of(preds[:4]), any_of(preds[4:])
    return lambda e: head(e) or tail(e)


def _scalar_pred(op: str, typ: str, consts: list[Any], budget: float) -> ScalarPred:
    """A test on one non-None value."""
    c: Any = consts[0] if consts else None
    if op in ("=", "=="):
        if typ == "net":
            return make_nets([c])
        if typ == "auto":
            return _auto_eq(c)
        return c.__eq__  # type: ignore[no-any-return]
    if op == "!=":
        if typ == "net":
            nets = make_nets([c])
            return lambda v: not nets(v)
        if typ == "auto":
            eq = _auto_eq(c)
            return lambda v: not eq(v)
        return c.__ne__  # type: ignore[no-any-return]
    if op in ORDER_OPS:
        if typ == "auto":
            return _auto_order(op, c)
        return {"<": c.__gt__, "<=": c.__ge__, ">": c.__lt__, ">=": c.__le__}[op]  # type: ignore[no-any-return]
    if op in SET_OPS:
        if typ == "net":
            return make_nets(consts)
        if typ == "auto":
            preds = [_auto_eq(x) for x in consts]
            return lambda v: any(p(v) for p in preds)
        s = frozenset(consts)
        return s.__contains__
    # text operators (string and auto fields: auto values are compared as text)
    conv: Callable[[Any], str] = (lambda v: v if type(v) is str else str(v)) if typ == "auto" else (lambda v: v)
    if op == "contains":
        return lambda v: c in conv(v)
    if op == "icontains":
        lc = c.lower()
        return lambda v: lc in conv(v).lower()
    if op == "startswith":
        return lambda v: conv(v).startswith(c)
    if op == "endswith":
        return lambda v: conv(v).endswith(c)
    if op in ("bcontains", "bstartswith"):
        try:
            raw = bytes.fromhex(c)
        except ValueError:
            raise ValueError(f"'{c}' is not hexadecimal bytes") from None
        if op == "bcontains":
            return lambda v: raw in conv(v).encode("utf-8", "surrogateescape")
        return lambda v: conv(v).encode("utf-8", "surrogateescape").startswith(raw)
    if op in ("glob", "iglob"):
        m = compile_glob(c, op == "iglob")
        return lambda v: m(conv(v))
    if op == "regex":
        m = compile_fullmatch(c, budget=budget)
        return lambda v: m(conv(v))
    if op == "pmatch":
        pm = PathPrefixes(consts)
        return lambda v: pm(conv(v))
    raise ValueError(f"unsupported operator '{op}'")  # pragma: no cover - screened by ALLOWED_OPS


def _num(text: str) -> int | float | None:
    try:
        return parse_int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _auto_eq(c: str) -> ScalarPred:
    n = _num(c)

    def eq(v: Any) -> bool:
        if n is not None and type(v) in (int, float):
            return bool(v == n)
        return (v if type(v) is str else str(v)) == c

    return eq


def _auto_order(op: str, c: str) -> ScalarPred:
    n = _num(c)
    import operator as _op

    fn = {"<": _op.lt, "<=": _op.le, ">": _op.gt, ">=": _op.ge}[op]

    def order(v: Any) -> bool:
        if type(v) in (int, float) and n is not None:
            return bool(fn(v, n))
        if type(v) is str and n is not None:
            vn = _num(v)
            if vn is not None:
                return bool(fn(vn, n))
        return bool(fn(str(v), c))

    return order


_PLAIN_TYPES = frozenset(("string", "int", "bool", "ip"))


def _fast_closure(op: str, typ: str, get: Callable[[Event], Any], consts: list[Any]) -> Pred | None:
    """Closures without a scalar predicate call, for the common shapes on single-valued fields."""
    if typ not in _PLAIN_TYPES:
        return None
    if op == "=":
        c = consts[0]
        return lambda e: get(e) == c
    if op == "!=":
        c = consts[0]

        def ne(e: Event) -> bool:
            v = get(e)
            return v is not None and v != c

        return ne
    if op in SET_OPS:
        s = frozenset(consts)
        return lambda e: get(e) in s
    if op in ORDER_OPS and typ == "int":
        return _order_closure(op, get, consts[0])
    if typ != "string":
        return None
    if op == "pmatch":
        pm = PathPrefixes(consts)

        def pmatch(e: Event) -> bool:
            v = get(e)
            return v is not None and pm(v)

        return pmatch
    if op == "startswith":
        c = consts[0]

        def sw(e: Event) -> bool:
            v = get(e)
            return v is not None and v.startswith(c)

        return sw
    if op == "endswith":
        c = consts[0]

        def ew(e: Event) -> bool:
            v = get(e)
            return v is not None and v.endswith(c)

        return ew
    if op == "contains":
        c = consts[0]

        def ct(e: Event) -> bool:
            v = get(e)
            return v is not None and c in v

        return ct
    return None


def _order_closure(op: str, get: Callable[[Event], Any], c: int) -> Pred:
    if op == ">=":

        def ge(e: Event) -> bool:
            v = get(e)
            return v is not None and v >= c

        return ge
    if op == ">":

        def gt(e: Event) -> bool:
            v = get(e)
            return v is not None and v > c

        return gt
    if op == "<=":

        def le(e: Event) -> bool:
            v = get(e)
            return v is not None and v <= c

        return le

    def lt(e: Event) -> bool:
        v = get(e)
        return v is not None and v < c

    return lt


def _scalar_closure(get: Callable[[Event], Any], p: ScalarPred) -> Pred:
    def generic(e: Event) -> bool:
        v = get(e)
        return v is not None and p(v)

    return generic


def _list_closure(op: str, multi: str, typ: str, get: Callable[[Event], Any], p: ScalarPred, consts: list[Any]) -> Pred:
    if op == "exists":
        return lambda e: bool(get(e))
    if multi == "list" and op == "in":
        if typ in _PLAIN_TYPES:
            s = frozenset(consts)

            def subset(e: Event) -> bool:
                vs = get(e)
                return bool(vs) and s.issuperset(vs)

            return subset

        def every(e: Event) -> bool:
            vs = get(e)
            return bool(vs) and all(p(v) for v in vs)

        return every

    def some(e: Event) -> bool:
        vs = get(e)
        return bool(vs) and any(v is not None and p(v) for v in vs)

    return some


# ------------------------------------------------------------------ compiler


class Compiler:
    """Compiles conditions and outputs against one set of lists and macros."""

    def __init__(
        self,
        lists: dict[str, list[str]] | None = None,
        macros: dict[str, Node] | None = None,
        registry: Registry = REGISTRY,
        regex_budget: float = DEFAULT_BUDGET_S,
    ) -> None:
        self.lists = lists or {}
        self.macros = macros or {}
        self.registry = registry
        self.regex_budget = regex_budget
        self._macro_preds: dict[tuple[str, str, str | None], Pred] = {}
        self._specialised: dict[tuple[str, str], Node] = {}

    # --- macros and lists

    def expand(self, node: Node, stack: tuple[str, ...] = ()) -> Node:
        """Substitute every macro reference; CompileError for undefined or cyclic macros."""
        if isinstance(node, MacroRef):
            if node.name in stack:
                raise CompileError(f"macro cycle: {' -> '.join((*stack, node.name))}", node.pos)
            body = self.macros.get(node.name)
            if body is None:
                if node.name in self.lists:
                    raise CompileError(f"list '{node.name}' used as a condition", node.pos)
                raise CompileError(f"undefined macro '{node.name}'", node.pos)
            return self.expand(body, (*stack, node.name))
        if isinstance(node, And):
            return And(tuple(self.expand(c, stack) for c in node.children))
        if isinstance(node, Or):
            return Or(tuple(self.expand(c, stack) for c in node.children))
        if isinstance(node, Not):
            return Not(self.expand(node.child, stack))
        return node

    def values(self, rhs: Value | tuple[Value, ...]) -> list[str]:
        """The constant texts of a right-hand side, with unquoted list names expanded."""
        items = rhs if isinstance(rhs, tuple) else (rhs,)
        out: list[str] = []
        for v in items:
            if not v.quoted and v.text in self.lists:
                out.extend(self.lists[v.text])
            else:
                out.append(v.text)
        return out

    # --- operands

    def operand(self, node: OperandNode, source: str) -> Operand:
        if isinstance(node, Field):
            return self.registry.resolve(node.name, node.arg, source)
        inner = self.operand(node.inner, source)
        fn = node.func
        if fn == "len":
            if inner.type not in ("string", "auto") and not inner.multi:
                raise CompileError(f"len() takes a text or list field, not {inner.name} ({inner.type})", node.pos)
            return Operand(f"len({inner.name})", "int", _length(inner.multi, inner.getter))
        if inner.type not in ("string", "auto"):
            raise CompileError(f"{fn}() takes a text field, not {inner.name} ({inner.type})", node.pos)
        func: Callable[[Any], Any] = {
            "tolower": lambda v: str(v).lower(),
            "toupper": lambda v: str(v).upper(),
            "b64": _b64,
            "basename": _basename,
        }[fn]
        return Operand(f"{fn}({inner.name})", "string", _map(inner.multi, func, inner.getter), inner.multi)

    # --- conditions

    def predicate(self, node: Node, source: str, evttype: str | None = None, stack: tuple[str, ...] = ()) -> Pred:
        """The closure for an AST (specialised to `evttype` when given, see `specialise`).

        A macro compiles once per source and event type into a shared closure whose result is
        remembered for the event being evaluated, so `open_write`, used by five rules, is
        computed once per event."""
        if isinstance(node, And):
            return all_of([self.predicate(c, source, evttype, stack) for c in node.children])
        if isinstance(node, Or):
            return any_of(self._or_children(node, source, evttype, stack))
        if isinstance(node, Not):
            f = self.predicate(node.child, source, evttype, stack)
            return lambda e: not f(e)
        if isinstance(node, Const):
            value = node.value
            return lambda e: value
        if isinstance(node, MacroRef):
            return self._macro(node, source, evttype, stack)
        return self.compare(node, source)

    def function(self, node: Node, source: str, evttype: str | None = None, stack: tuple[str, ...] = ()) -> Pred:
        """Like `predicate`, as one generated closure (codegen.py); the closure tree is the
        fallback for conditions Python cannot compile (nested past its parser's limits)."""
        from customhouse.runtime.rules.codegen import generate

        try:
            return generate(self, node, source, evttype, stack)
        except (SyntaxError, RecursionError, MemoryError):
            return self.predicate(node, source, evttype, stack)

    def _or_children(self, node: Or, source: str, evttype: str | None, stack: tuple[str, ...]) -> list[Pred]:
        """Alternatives, with tests of one text field by the same kind of operator merged into
        one closure: `f startswith a or f startswith b` reads `f` once and makes one C call."""
        groups: dict[tuple[str, str], list[Compare]] = {}
        order: list[Node | tuple[str, str]] = []
        for c in node.children:
            key = self._mergeable(c, source)
            if key is None:
                order.append(c)
                continue
            if key not in groups:
                groups[key] = []
                order.append(key)
            assert isinstance(c, Compare)
            groups[key].append(c)
        out: list[Pred] = []
        for item in order:
            if isinstance(item, tuple):
                cmps = groups[item]
                out.append(self.compare(cmps[0], source) if len(cmps) == 1 else self._merged(item, cmps, source))
            else:
                out.append(self.predicate(item, source, evttype, stack))
        return out

    _MERGEABLE = frozenset(("startswith", "endswith", "contains", "icontains", "=", "==", "in"))

    def _mergeable(self, node: Node, source: str) -> tuple[str, str] | None:
        if not isinstance(node, Compare) or node.op not in self._MERGEABLE or isinstance(node.rhs, FieldRef):
            return None
        try:
            lhs = self.operand(node.lhs, source)
        except (UnknownFieldError, CompileError):
            return None  # reported when compiled on its own
        if lhs.multi or lhs.type != "string":
            return None
        op = "in" if node.op in ("=", "==", "in") else node.op
        return (str(node.lhs), op)

    def _merged(self, key: tuple[str, str], cmps: list[Compare], source: str) -> Pred:
        get = self.operand(cmps[0].lhs, source).getter
        op = key[1]
        consts: list[str] = []
        for c in cmps:
            assert c.rhs is not None and not isinstance(c.rhs, FieldRef)
            consts.extend(self.values(c.rhs))
        if op == "in":
            s = frozenset(consts)
            return lambda e: get(e) in s
        if op in ("startswith", "endswith"):
            tup = tuple(consts)
            if op == "startswith":

                def sw(e: Event) -> bool:
                    v = get(e)
                    return v is not None and v.startswith(tup)

                return sw

            def ew(e: Event) -> bool:
                v = get(e)
                return v is not None and v.endswith(tup)

            return ew
        if op == "icontains":
            lowered = tuple(c.lower() for c in consts)

            def icont(e: Event) -> bool:
                v = get(e)
                if v is None:
                    return False
                lv = v.lower()
                for c in lowered:  # noqa: SIM110 - cheaper than any() and a generator
                    if c in lv:
                        return True
                return False

            return icont
        texts = tuple(consts)

        def cont(e: Event) -> bool:
            v = get(e)
            if v is None:
                return False
            for c in texts:  # noqa: SIM110 - cheaper than any() and a generator
                if c in v:
                    return True
            return False

        return cont

    def _macro(self, ref: MacroRef, source: str, evttype: str | None, stack: tuple[str, ...]) -> Pred:
        key = (ref.name, source, evttype)
        cached = self._macro_preds.get(key)
        if cached is not None:
            return cached
        if ref.name in stack:
            raise CompileError(f"macro cycle: {' -> '.join((*stack, ref.name))}", ref.pos)
        body = self.macros.get(ref.name)
        if body is None:
            self.expand(ref)  # raises the right error
            raise CompileError(f"undefined macro '{ref.name}'", ref.pos)  # pragma: no cover
        if evttype is not None:
            body = self.specialise(body, evttype)
        inner = self.function(body, source, evttype, (*stack, ref.name))
        pred = inner if isinstance(body, Compare | Const) else _remembered(f"m:{ref.name}", inner)
        self._macro_preds[key] = pred
        return pred

    def compare(self, node: Compare, source: str) -> Pred:
        lhs = self.operand(node.lhs, source)
        op = "=" if node.op == "==" else node.op
        if op not in ALLOWED_OPS[lhs.type]:
            raise CompileError(f"operator '{op}' does not apply to {lhs.name} ({lhs.type})", node.pos)
        get = lhs.getter
        if op == "exists":
            if lhs.multi:
                return _list_closure(op, lhs.multi, lhs.type, get, lambda v: True, [])
            return lambda e: get(e) is not None
        rhs = node.rhs
        if isinstance(rhs, FieldRef):
            return self._field_compare(lhs, op, self.operand(rhs.operand, source), node.pos)
        assert rhs is not None
        texts = self.values(rhs)
        if isinstance(rhs, tuple) and op not in ("in", "intersects", "pmatch"):
            raise CompileError(f"operator '{op}' takes one value, not a list", node.pos)
        consts = self._convert(lhs, op, texts, node.pos)
        if op in SET_OPS and not consts:
            return lambda e: False
        if not lhs.multi:
            fast = _fast_closure(op, lhs.type, get, consts)
            if fast is not None:
                return fast
        try:
            p = _scalar_pred(op, lhs.type, consts, self.regex_budget)
        except UnsafeRegexError:
            raise
        except RegexError as exc:
            raise CompileError(f"invalid regex or glob: {exc}", node.pos) from None
        except ValueError as exc:
            raise CompileError(str(exc), node.pos) from None
        if lhs.multi:
            return _list_closure(op, lhs.multi, lhs.type, get, p, consts)
        return _scalar_closure(get, p)

    def _convert(self, lhs: Operand, op: str, texts: list[str], pos: int) -> list[Any]:
        typ = lhs.type
        try:
            if op in STRING_OPS or typ in ("string", "auto", "net"):
                if typ == "net" and op not in STRING_OPS:
                    make_nets(texts)  # validate now
                return texts
            if typ == "int":
                return [parse_int(t) for t in texts]
            if typ == "bool":
                return [parse_bool(t) for t in texts]
            if typ == "ip":
                return [canonical_ip(t) for t in texts]
        except ValueError as exc:
            raise CompileError(f"{exc} ({lhs.name} is {'a number' if typ == 'int' else typ})", pos) from None
        return texts  # pragma: no cover

    def _field_compare(self, lhs: Operand, op: str, rhs: Operand, pos: int) -> Pred:
        if op in SET_OPS or op in ("pmatch", "glob", "iglob", "regex", "bcontains", "bstartswith"):
            raise CompileError(f"operator '{op}' cannot compare with another field", pos)
        if lhs.multi or rhs.multi:
            raise CompileError("val() compares single-valued fields only", pos)
        numeric = lhs.type in NUMERIC and rhs.type in NUMERIC
        import operator as _op

        fns: dict[str, Callable[[Any, Any], Any]] = {
            "=": _op.eq,
            "!=": _op.ne,
            "<": _op.lt,
            "<=": _op.le,
            ">": _op.gt,
            ">=": _op.ge,
            "contains": lambda a, b: b in a,
            "icontains": lambda a, b: b.lower() in a.lower(),
            "startswith": lambda a, b: a.startswith(b),
            "endswith": lambda a, b: a.endswith(b),
        }
        fn = fns[op]
        lget, rget = lhs.getter, rhs.getter

        def cmp(e: Event) -> bool:
            a = lget(e)
            b = rget(e)
            if a is None or b is None:
                return False
            if not numeric:
                a, b = (a if type(a) is str else str(a)), (b if type(b) is str else str(b))
            return bool(fn(a, b))

        return cmp

    def fields_of(self, node: Node, source: str) -> list[str]:
        """Every field an expanded condition reads (resolution errors propagate)."""
        out: list[str] = []

        def walk(n: Node) -> None:
            if isinstance(n, And | Or):
                for c in n.children:
                    walk(c)
            elif isinstance(n, Not):
                walk(n.child)
            elif isinstance(n, Compare):
                out.append(self.operand(n.lhs, source).name)
                if isinstance(n.rhs, FieldRef):
                    out.append(self.operand(n.rhs.operand, source).name)

        walk(node)
        return out

    # --- event types

    def evttypes(self, node: Node) -> frozenset[str] | None:
        """The event types `node` can be true for; None when it is not constrained."""
        if isinstance(node, Compare):
            if isinstance(node.lhs, Field) and node.lhs.name == "evt.type" and node.lhs.arg is None:
                if node.op in ("=", "==") and isinstance(node.rhs, Value):
                    return frozenset(self.values(node.rhs))
                if node.op in ("in", "intersects") and node.rhs is not None and not isinstance(node.rhs, FieldRef):
                    return frozenset(self.values(node.rhs))
            return None
        if isinstance(node, And):
            acc: frozenset[str] | None = None
            for c in node.children:
                t = self.evttypes(c)
                if t is not None:
                    acc = t if acc is None else acc & t
            return acc
        if isinstance(node, Or):
            union: set[str] = set()
            for c in node.children:
                t = self.evttypes(c)
                if t is None:
                    return None
                union |= t
            return frozenset(union)
        if isinstance(node, Const) and not node.value:
            return frozenset()
        if isinstance(node, MacroRef) and node.name in self.macros:
            return self.evttypes(self.macros[node.name])  # cycles were refused by expand()
        return None

    def specialise(self, node: Node, evttype: str) -> Node:
        """`node` for events of type `evttype` only: every `evt.type` test becomes a constant and
        the constants fold away (inside macros too, which stay references, see `predicate`).
        Sound because the engine calls this version only for events of that type."""
        if isinstance(node, Compare):
            if isinstance(node.lhs, Field) and node.lhs.name == "evt.type" and node.lhs.arg is None:
                rhs = node.rhs
                if node.op in ("=", "==", "!=") and isinstance(rhs, Value):
                    hit = evttype == rhs.text
                    return Const(hit if node.op != "!=" else not hit)
                if node.op in ("in", "intersects") and rhs is not None and not isinstance(rhs, FieldRef):
                    return Const(evttype in self.values(rhs))
            return node
        if isinstance(node, And):
            kept: list[Node] = []
            for c in node.children:
                sc = self.specialise(c, evttype)
                if isinstance(sc, Const):
                    if not sc.value:
                        return sc
                    continue
                kept.append(sc)
            return Const(True) if not kept else kept[0] if len(kept) == 1 else And(tuple(kept))
        if isinstance(node, Or):
            alts: list[Node] = []
            for c in node.children:
                sc = self.specialise(c, evttype)
                if isinstance(sc, Const):
                    if sc.value:
                        return sc
                    continue
                alts.append(sc)
            return Const(False) if not alts else alts[0] if len(alts) == 1 else Or(tuple(alts))
        if isinstance(node, Not):
            sc = self.specialise(node.child, evttype)
            return Const(not sc.value) if isinstance(sc, Const) else Not(sc)
        if isinstance(node, MacroRef) and node.name in self.macros:
            key = (node.name, evttype)
            body = self._specialised.get(key)
            if body is None:
                body = self._specialised[key] = self.specialise(self.macros[node.name], evttype)
            return body if isinstance(body, Const) else node
        return node


def _flatten_and(node: Node) -> list[Node]:
    if isinstance(node, And):
        out: list[Node] = []
        for c in node.children:
            out.extend(_flatten_and(c))
        return out
    return [node]


# ------------------------------------------------------------------ output templates


@dataclass(frozen=True)
class Template:
    """A parsed output: literal text and fields, in order."""

    parts: tuple[str | Operand, ...]

    @property
    def fields(self) -> list[Operand]:
        seen: dict[str, Operand] = {}
        for p in self.parts:
            if isinstance(p, Operand):
                seen.setdefault(p.name, p)
        return list(seen.values())

    def render(self, e: Event) -> str:
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            else:
                out.append(render_value(p.getter(e)))
        return "".join(out)


def render_value(v: Any) -> str:
    if v is None:
        return "<NA>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, list):
        return "(" + ",".join(render_value(x) for x in v) + ")"
    return v if type(v) is str else str(v)


_FIELD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_FIELD_CHARS = _FIELD_START | frozenset("0123456789.")


def compile_output(text: str, source: str, registry: Registry = REGISTRY) -> Template:
    """`"shell %proc.name (%proc.aname[2])"` -> a Template; UnknownFieldError for unknown fields.

    `%%` is a literal percent sign; a `%` not followed by a field name is kept as text; trailing
    dots are sentence punctuation, not part of the field name."""
    parts: list[str | Operand] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "%":
            buf.append(c)
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "%":
            buf.append("%")
            i += 2
            continue
        j = i + 1
        if j >= n or text[j] not in _FIELD_START:
            buf.append("%")
            i += 1
            continue
        while j < n and text[j] in _FIELD_CHARS:
            j += 1
        name = text[i + 1 : j]
        while name.endswith("."):
            name = name[:-1]
            j -= 1
        arg = None
        if j < n and text[j] == "[":
            k = text.find("]", j)
            if k != -1:
                arg = text[j + 1 : k]
                j = k + 1
        operand = registry.resolve(name, arg, source)
        if buf:
            parts.append("".join(buf))
            buf = []
        parts.append(operand)
        i = j
    if buf:
        parts.append("".join(buf))
    return Template(tuple(parts))


__all__ = [
    "CompileError",
    "Compiler",
    "Pred",
    "Template",
    "UnknownFieldError",
    "compile_output",
    "render_value",
]
