r"""The condition language: a hand-written scanner and recursive-descent parser producing an AST.

Grammar (Falco's, as documented; precedence: `not` > `and` > `or`):

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | compare | MACRO
    compare    := operand UNARY_OP | operand BINARY_OP rhs
    operand    := FIELD ["[" ARG "]"] | TRANSFORMER "(" operand ")"
    rhs        := "(" [value ("," value)*] ")" | "val" "(" operand ")" | TRANSFORMER "(" operand ")" | value
    value      := QUOTED | BARE

Values are scanned in context, as Falco does: after an operator, a bare value runs to the next
blank, comma or parenthesis, so `evt.dir = <` and `fd.name startswith /etc/` need no quotes.
Quoted strings take '...' or "..." with \\, \", \', \n, \t and \xHH escapes; any other backslash
is kept as is (so regexes keep their `\.`). Unquoted list items may name a list (expanded later).
"""

from __future__ import annotations

from dataclasses import dataclass

UNARY_OPS = frozenset(("exists",))
WORD_OPS = frozenset(
    (
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
        "pmatch",
        "in",
        "intersects",
        "exists",
    )
)
SYMBOL_OPS = ("==", "!=", "<=", ">=", "=", "<", ">")
LIST_OPS = frozenset(("in", "intersects", "pmatch"))
TRANSFORMERS = frozenset(("tolower", "toupper", "b64", "basename", "len"))
KEYWORDS = frozenset(("and", "or", "not"))
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789.")
_BARE_STOP = frozenset(" \t\r\n\f\v(),")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


class ParseError(Exception):
    """A syntax error at character `pos` of the condition."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# ------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Field:
    name: str
    arg: str | None = None
    pos: int = 0

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}[{self.arg}]"


@dataclass(frozen=True)
class Transform:
    func: str
    inner: Field | Transform
    pos: int = 0

    def __str__(self) -> str:
        return f"{self.func}({self.inner})"


OperandNode = Field | Transform


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False
    pos: int = 0


@dataclass(frozen=True)
class FieldRef:
    """val(field) or transformer(field) on the right-hand side: compare with another field."""

    operand: OperandNode
    pos: int = 0


@dataclass(frozen=True)
class Compare:
    lhs: OperandNode
    op: str
    rhs: Value | tuple[Value, ...] | FieldRef | None
    pos: int = 0


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class MacroRef:
    name: str
    pos: int = 0


@dataclass(frozen=True)
class Const:
    """A condition known in advance (an empty exception list, for instance)."""

    value: bool


Node = And | Or | Not | Compare | MacroRef | Const


def to_text(n: Node) -> str:
    """A canonical text of the AST (tests and `rules check --verbose`)."""
    if isinstance(n, And):
        return "(" + " and ".join(to_text(c) for c in n.children) + ")"
    if isinstance(n, Or):
        return "(" + " or ".join(to_text(c) for c in n.children) + ")"
    if isinstance(n, Not):
        return f"not {to_text(n.child)}"
    if isinstance(n, MacroRef):
        return n.name
    if isinstance(n, Const):
        return "true" if n.value else "false"
    rhs = n.rhs
    if rhs is None:
        return f"{n.lhs} {n.op}"
    if isinstance(rhs, tuple):
        return f"{n.lhs} {n.op} ({', '.join(_quote(v) for v in rhs)})"
    if isinstance(rhs, FieldRef):
        return f"{n.lhs} {n.op} val({rhs.operand})"
    return f"{n.lhs} {n.op} {_quote(rhs)}"


def _quote(v: Value) -> str:
    if not v.quoted and v.text and not any(c in _BARE_STOP or c in "'\"" for c in v.text):
        return v.text
    return '"' + v.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ parser


class Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)
        self.depth = 0

    # --- scanning

    def ws(self) -> None:
        s, i, n = self.s, self.i, self.n
        while i < n and s[i] in " \t\r\n\f\v":
            i += 1
        self.i = i

    def peek(self) -> str:
        self.ws()
        return self.s[self.i] if self.i < self.n else ""

    def keyword(self, word: str) -> bool:
        self.ws()
        j = self.i + len(word)
        if self.s.startswith(word, self.i) and (j >= self.n or self.s[j] not in _IDENT_CHARS):
            self.i = j
            return True
        return False

    def ident(self) -> str:
        self.ws()
        s, i, n = self.s, self.i, self.n
        if i >= n or s[i] not in _IDENT_START:
            return ""
        j = i + 1
        while j < n and s[j] in _IDENT_CHARS:
            j += 1
        self.i = j
        return s[i:j]

    def error(self, message: str, pos: int | None = None) -> ParseError:
        return ParseError(message, self.i if pos is None else pos)

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            got = self.s[self.i] if self.i < self.n else "end of condition"
            raise self.error(f"expected '{ch}', found '{got}'" if got != "end of condition" else f"expected '{ch}'")
        self.i += 1

    # --- grammar

    def parse(self) -> Node:
        self.ws()
        if self.i >= self.n:
            raise self.error("empty condition")
        node = self.or_expr()
        self.ws()
        if self.i < self.n:
            if self.s[self.i] == ")":
                raise self.error("unbalanced parentheses: unexpected ')'")
            raise self.error(f"unexpected '{self._word_at()}'")
        return node

    def _word_at(self) -> str:
        j = self.i
        while j < self.n and self.s[j] not in " \t\r\n":
            j += 1
        return self.s[self.i : j][:40]

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.keyword("and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.keyword("not"):
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        c = self.peek()
        start = self.i
        if c == "(":
            self.depth += 1
            if self.depth > 200:
                raise self.error("condition nests too deeply")
            self.i += 1
            node = self.or_expr()
            if self.peek() != ")":
                raise self.error("unbalanced parentheses: missing ')'", start)
            self.i += 1
            self.depth -= 1
            return node
        if not c:
            raise self.error("unexpected end of condition: expected a comparison, a macro or '('")
        name = self.ident()
        if not name:
            raise self.error(f"unexpected '{self._word_at()}': expected a comparison, a macro or '('")
        if name in KEYWORDS:
            raise self.error(f"unexpected '{name}'", start)
        nxt = self.s[self.i] if self.i < self.n else ""
        if name in TRANSFORMERS and self.peek() == "(":
            lhs: OperandNode = self.transformer(name, start)
        elif nxt == "[":
            lhs = self.field_arg(name, start)
        elif "." not in name and not self._operator_follows():
            return MacroRef(name, start)
        else:
            lhs = Field(name, None, start)
        return self.comparison(lhs, start)

    def _operator_follows(self) -> bool:
        save = self.i
        try:
            return self.operator(peek_only=True) is not None
        finally:
            self.i = save

    def field_arg(self, name: str, start: int) -> Field:
        self.i += 1  # '['
        j = self.s.find("]", self.i)
        if j == -1:
            raise self.error(f"missing ']' after {name}[", start)
        arg = self.s[self.i : j].strip()
        self.i = j + 1
        if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
            arg = arg[1:-1]
        return Field(name, arg, start)

    def transformer(self, func: str, start: int) -> Transform:
        self.expect("(")
        inner_start = self.i
        name = self.ident()
        if not name:
            raise self.error(f"{func}() takes a field")
        if name in TRANSFORMERS and self.peek() == "(":
            inner: OperandNode = self.transformer(name, inner_start)
        elif self.i < self.n and self.s[self.i] == "[":
            inner = self.field_arg(name, inner_start)
        else:
            inner = Field(name, None, inner_start)
        self.expect(")")
        return Transform(func, inner, start)

    def operator(self, peek_only: bool = False) -> str | None:
        self.ws()
        s, i = self.s, self.i
        for op in SYMBOL_OPS:
            if s.startswith(op, i):
                self.i = i + len(op)
                return op
        j = i
        while j < self.n and (s[j].isalpha() or s[j] == "_"):
            j += 1
        word = s[i:j]
        if word in WORD_OPS:
            self.i = j
            return word
        if peek_only:
            return None
        if not word:
            raise self.error(
                f"expected an operator, found '{self._word_at()}'" if i < self.n else "expected an operator"
            )
        raise self.error(f"unknown operator '{word}'")

    def comparison(self, lhs: OperandNode, start: int) -> Compare:
        self.ws()
        op_pos = self.i
        op = self.operator()
        assert op is not None
        if op in UNARY_OPS:
            return Compare(lhs, op, None, start)
        c = self.peek()
        if not c:
            raise self.error(f"expected a value after '{op}'", op_pos)
        if c == "(":
            return Compare(lhs, op, self.value_list(), start)
        save = self.i
        name = self.ident()
        if name and self.i < self.n and self.s[self.i] == "(" and (name == "val" or name in TRANSFORMERS):
            ref_pos = save
            if name == "val":
                self.i += 1
                inner_name = self.ident()
                if not inner_name:
                    raise self.error("val() takes a field")
                inner: OperandNode
                if self.i < self.n and self.s[self.i] == "[":
                    inner = self.field_arg(inner_name, ref_pos)
                else:
                    inner = Field(inner_name, None, ref_pos)
                self.expect(")")
            else:
                inner = self.transformer(name, ref_pos)
            return Compare(lhs, op, FieldRef(inner, ref_pos), start)
        self.i = save
        return Compare(lhs, op, self.value(), start)

    def value_list(self) -> tuple[Value, ...]:
        start = self.i
        self.i += 1  # '('
        items: list[Value] = []
        if self.peek() == ")":
            self.i += 1
            return ()
        while True:
            c = self.peek()
            if not c:
                raise self.error("unbalanced parentheses: missing ')' to close the list", start)
            if c in ",)":
                raise self.error("empty item in list")
            items.append(self.value())
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == ")":
                self.i += 1
                return tuple(items)
            if not c:
                raise self.error("unbalanced parentheses: missing ')' to close the list", start)
            raise self.error(f"expected ',' or ')' in list, found '{c}'")

    def value(self) -> Value:
        self.ws()
        s, i, n = self.s, self.i, self.n
        if i >= n:
            raise self.error("expected a value")
        q = s[i]
        if q in "'\"":
            out: list[str] = []
            j = i + 1
            while j < n:
                ch = s[j]
                if ch == q:
                    self.i = j + 1
                    return Value("".join(out), True, i)
                if ch == "\\" and j + 1 < n:
                    nx = s[j + 1]
                    if nx in _ESCAPES:
                        out.append(_ESCAPES[nx])
                        j += 2
                        continue
                    if nx == "x" and j + 3 < n and all(h in "0123456789abcdefABCDEF" for h in s[j + 2 : j + 4]):
                        out.append(chr(int(s[j + 2 : j + 4], 16)))
                        j += 4
                        continue
                out.append(ch)
                j += 1
            raise self.error("unterminated quoted string", i)
        j = i
        while j < n and s[j] not in _BARE_STOP:
            j += 1
        if j == i:
            raise self.error(f"expected a value, found '{s[i]}'")
        self.i = j
        return Value(s[i:j], False, i)


def parse_condition(text: str) -> Node:
    """Parse a condition; ParseError(message, pos) on a syntax error."""
    return Parser(text).parse()


def parse_operand(text: str) -> OperandNode:
    """Parse a lone field (with index or transformers), as in exception `fields`."""
    p = Parser(text)
    name = p.ident()
    if not name:
        raise ParseError(f"'{text}' is not a field", 0)
    if name in TRANSFORMERS and p.peek() == "(":
        node: OperandNode = p.transformer(name, 0)
    elif p.i < p.n and p.s[p.i] == "[":
        node = p.field_arg(name, 0)
    else:
        node = Field(name, None, 0)
    p.ws()
    if p.i < p.n:
        raise ParseError(f"'{text}' is not a field", p.i)
    return node
