"""Rule files in Falco's format: read (with line numbers), merge (append/override), compile.

Loading happens in two stages, as in Falco: every file is read in order and its items are
merged into one set of lists, macros and rules (redefinitions replace, `append: true` and
`override:` modify what earlier items or files defined); then everything is compiled at once, so
an item may use a list or macro defined further down or in a later file.

Errors: a malformed file raises `RuleError` naming the file, the line and the item ("rule
'Write below etc'") with the reason; nothing is loaded. A rule that uses a field this engine does
not know (or not for the rule's source), or that is written for a source we do not have, is
skipped with a warning naming the field; the others still load. With `skip-if-unknown-filter:
true` such a rule is skipped silently, as the file asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import InputError
from customhouse.runtime.rules.compiler import CompileError, Compiler, compile_output
from customhouse.runtime.rules.engine import CompiledRule, Engine, Warn, priority_level
from customhouse.runtime.rules.fields import REGISTRY, UnknownFieldError
from customhouse.runtime.rules.parser import (
    And,
    Compare,
    Const,
    Node,
    Not,
    Or,
    ParseError,
    Value,
    parse_condition,
    parse_operand,
    to_text,
)
from customhouse.runtime.rules.regexes import DEFAULT_BUDGET_S, UnsafeRegexError

ENGINE_VERSION = (0, 60, 0)
SOURCES = ("syscall", "k8s_audit")
DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")
RULE_KEYS = frozenset(
    (
        "rule",
        "condition",
        "output",
        "desc",
        "priority",
        "tags",
        "enabled",
        "exceptions",
        "source",
        "append",
        "override",
        "warn_evttypes",
        "skip-if-unknown-filter",
    )
)
OVERRIDE_APPEND = {
    "rule": frozenset(("condition", "output", "desc", "tags", "exceptions")),
    "macro": frozenset(("condition",)),
    "list": frozenset(("items",)),
}
OVERRIDE_REPLACE = {
    "rule": frozenset(
        (
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
            "warn_evttypes",
            "skip-if-unknown-filter",
        )
    ),
    "macro": frozenset(("condition",)),
    "list": frozenset(("items",)),
}
EXCEPTION_COMPS = frozenset(
    (
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "in",
        "intersects",
        "pmatch",
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
        "bcontains",
        "bstartswith",
    )
)
LIST_COMPS = frozenset(("in", "intersects", "pmatch"))


class RuleError(InputError):
    """A malformed rule file (exit 3): `file:line: item: reason`."""

    def __init__(self, file: str, line: int, item: str, reason: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {item}: {reason}" if item else f"{where}: {reason}")
        self.file = file
        self.line = line
        self.item = item
        self.reason = reason


@dataclass(frozen=True)
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Part:
    """One piece of a condition (appends add pieces), with where it was written."""

    text: str
    loc: Loc


@dataclass
class ListDef:
    name: str
    items: list[str]
    loc: Loc


@dataclass
class MacroDef:
    name: str
    parts: list[Part]
    loc: Loc


@dataclass
class ExceptionDef:
    name: str
    fields: list[str] | str | None
    comps: list[str] | str | None
    values: list[Any]
    loc: Loc
    value_locs: list[Loc] = field(default_factory=list)  # where each value was written (appends)


@dataclass
class RuleDef:
    name: str
    parts: list[Part]
    output: str
    desc: str
    priority: str
    tags: list[str]
    source: str
    enabled: bool
    exceptions: list[ExceptionDef]
    skip_unknown: bool
    warn_evttypes: bool
    loc: Loc
    order: int


@dataclass
class Skipped:
    name: str
    where: str
    reason: str
    silent: bool = False


@dataclass
class RuleSet:
    """The result of loading: the engine plus what `rules check` reports."""

    engine: Engine
    compiler: Compiler
    skipped: list[Skipped] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lists: int = 0
    macros: int = 0

    @property
    def rules(self) -> list[CompiledRule]:
        return self.engine.rules


def parse_version(value: Any) -> tuple[int, int, int]:
    """`9` -> (0, 9, 0) (the old integer form); "0.31.0" -> (0, 31, 0)."""
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a version")
    if isinstance(value, int):
        return (0, value, 0)
    text = str(value).strip()
    parts = text.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"'{text}' is not a version (use MAJOR.MINOR.PATCH)")
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    if len(parts) == 1:
        return (0, nums[0], 0)
    return (nums[0], nums[1], nums[2])


def _scalar_text(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str | int | float):
        return str(v)
    return None


class Loader:
    """Collects items from rule files in order; `build()` compiles them into a RuleSet."""

    def __init__(self, engine_version: tuple[int, int, int] = ENGINE_VERSION) -> None:
        self.engine_version = engine_version
        self.lists: dict[str, ListDef] = {}
        self.macros: dict[str, MacroDef] = {}
        self.rules: dict[str, RuleDef] = {}
        self.files: list[str] = []
        self.warnings: list[str] = []
        self._order = 0

    # ------------------------------------------------------------ reading

    def load_file(self, path: Path | str, display: str | None = None) -> None:
        """Read one rules file; `display` is the name used in messages (default: the path)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RuleError(str(p), 0, "", "not UTF-8 text") from None
        except OSError as exc:
            raise InputError(f"{p}: cannot read rules: {exc.strerror or exc}") from None
        self.load_text(text, display or str(p))

    def load_text(self, text: str, name: str) -> None:
        from customhouse.misconfig.yamlsrc import YamlError, load_yaml_documents

        self.files.append(name)
        try:
            docs = load_yaml_documents(text, name)
        except YamlError as exc:
            raise RuleError(name, exc.line, "", exc.message.split(": ", 1)[-1] if exc.line else exc.message) from None
        for doc in docs:
            data = doc.data
            if data is None:
                continue
            if not isinstance(data, list):
                raise RuleError(name, doc.start_line, "", "a rules file is a YAML list of rule, macro and list items")
            for i, item in enumerate(data):
                line = doc.line((i,))
                self._item(item, name, line, lambda key, i=i, doc=doc: doc.line((i, key)))  # type: ignore[misc]

    def _item(self, item: Any, file: str, line: int, key_line: Any) -> None:
        if not isinstance(item, dict):
            raise RuleError(file, line, "", "an item must be a mapping (rule, macro, list or required_engine_version)")
        kinds = [
            k for k in ("rule", "macro", "list", "required_engine_version", "required_plugin_versions") if k in item
        ]
        if not kinds:
            keys = ", ".join(str(k) for k in item)
            raise RuleError(file, line, "", f"unknown item with keys {keys} (expected rule, macro or list)")
        if len(kinds) > 1:
            raise RuleError(file, line, "", f"an item cannot be both {kinds[0]} and {kinds[1]}")
        kind = kinds[0]
        if kind == "required_engine_version":
            self._engine_version(item[kind], file, key_line(kind))
            return
        if kind == "required_plugin_versions":
            return  # the k8s audit fields are built in; plugins do not exist here
        name = item[kind]
        if not isinstance(name, str) or not name.strip():
            raise RuleError(file, line, "", f"{kind} needs a non-empty name")
        what = f"{kind} '{name}'"
        loc = Loc(file, line)
        if "append" in item and "override" in item:
            raise RuleError(file, line, what, "append and override cannot be used together")
        append = item.get("append", False)
        if not isinstance(append, bool):
            raise RuleError(file, key_line("append"), what, "append must be true or false")
        override = item.get("override")
        if override is not None:
            override = self._override(override, kind, item, file, key_line("override"), what)
        if kind == "list":
            self._list(name, item, loc, append, override, what, key_line)
        elif kind == "macro":
            self._macro(name, item, loc, append, override, what, key_line)
        else:
            self._rule(name, item, loc, append, override, what, key_line)

    def _engine_version(self, value: Any, file: str, line: int) -> None:
        try:
            need = parse_version(value)
        except ValueError as exc:
            raise RuleError(file, line, "required_engine_version", str(exc)) from None
        if need > self.engine_version:
            have = ".".join(map(str, self.engine_version))
            raise RuleError(
                file,
                line,
                "required_engine_version",
                f"the file needs engine version {'.'.join(map(str, need))}, this engine is {have}",
            )

    def _override(self, ov: Any, kind: str, item: dict[str, Any], file: str, line: int, what: str) -> dict[str, str]:
        if not isinstance(ov, dict) or not ov:
            raise RuleError(file, line, what, "override must map keys to append or replace")
        out: dict[str, str] = {}
        for key, action in ov.items():
            if action not in ("append", "replace"):
                raise RuleError(file, line, what, f"override of '{key}' must be append or replace, not {action!r}")
            allowed = (OVERRIDE_APPEND if action == "append" else OVERRIDE_REPLACE)[kind]
            if key not in allowed:
                raise RuleError(
                    file,
                    line,
                    what,
                    f"'{key}' cannot be overridden with {action} (allowed: {', '.join(sorted(allowed))})",
                )
            if key not in item:
                raise RuleError(file, line, what, f"override names '{key}' but the item has no '{key}'")
            out[str(key)] = str(action)
        extra = [k for k in item if k not in (kind, "override") and k not in out]
        if extra:
            raise RuleError(file, line, what, f"key '{extra[0]}' is not listed in override")
        return out

    def _text(self, item: dict[str, Any], key: str, file: str, line: int, what: str) -> str:
        v = item.get(key)
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise RuleError(file, line, what, f"{key} must be a string")
        return str(v).strip()

    def _items(self, item: dict[str, Any], file: str, line: int, what: str) -> list[str]:
        raw = item.get("items")
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise RuleError(file, line, what, "items must be a list")
        out = []
        for v in raw:
            t = _scalar_text(v)
            if t is None:
                raise RuleError(file, line, what, f"list items must be strings or numbers, not {type(v).__name__}")
            out.append(t)
        return out

    def _list(
        self, name: str, item: dict[str, Any], loc: Loc, append: bool, ov: dict[str, str] | None, what: str, kl: Any
    ) -> None:
        if "items" not in item and not ov:
            raise RuleError(loc.file, loc.line, what, "a list needs items")
        items = self._items(item, loc.file, kl("items"), what)
        old = self.lists.get(name)
        if append or (ov and ov.get("items") == "append"):
            if old is None:
                raise RuleError(loc.file, loc.line, what, "appends to a list that is not defined")
            old.items.extend(items)
        elif ov:
            if old is None:
                raise RuleError(loc.file, loc.line, what, "overrides a list that is not defined")
            old.items = items
        else:
            self.lists[name] = ListDef(name, items, loc)

    def _macro(
        self, name: str, item: dict[str, Any], loc: Loc, append: bool, ov: dict[str, str] | None, what: str, kl: Any
    ) -> None:
        if "condition" not in item:
            raise RuleError(loc.file, loc.line, what, "a macro needs a condition")
        cline = kl("condition")
        part = Part(self._text(item, "condition", loc.file, cline, what), Loc(loc.file, cline))
        old = self.macros.get(name)
        if append or ov:
            if old is None:
                raise RuleError(
                    loc.file, loc.line, what, f"{'appends to' if append else 'overrides'} a macro that is not defined"
                )
            if append or (ov and ov["condition"] == "append"):
                old.parts.append(part)
            else:
                old.parts = [part]
            return
        self.macros[name] = MacroDef(name, [part], loc)

    def _exceptions(self, raw: Any, file: str, line: int, what: str) -> list[ExceptionDef]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise RuleError(file, line, what, "exceptions must be a list")
        out = []
        for ex in raw:
            if not isinstance(ex, dict) or not isinstance(ex.get("name"), str):
                raise RuleError(file, line, what, "each exception needs a name")
            ename = ex["name"]
            fields = ex.get("fields")
            comps = ex.get("comps")
            values = ex.get("values", [])
            if fields is not None and not (
                isinstance(fields, str) or (isinstance(fields, list) and all(isinstance(f, str) for f in fields))
            ):
                raise RuleError(file, line, what, f"exception '{ename}': fields must be a field or a list of fields")
            if comps is not None and not (
                isinstance(comps, str) or (isinstance(comps, list) and all(isinstance(c, str) for c in comps))
            ):
                raise RuleError(file, line, what, f"exception '{ename}': comps must be an operator or a list")
            if values is None:
                values = []
            if not isinstance(values, list):
                raise RuleError(file, line, what, f"exception '{ename}': values must be a list")
            unknown = [k for k in ex if k not in ("name", "fields", "comps", "values")]
            if unknown:
                raise RuleError(file, line, what, f"exception '{ename}': unknown key '{unknown[0]}'")
            loc = Loc(file, line)
            out.append(ExceptionDef(ename, fields, comps, list(values), loc, [loc] * len(values)))
        return out

    def _merge_exceptions(self, old: list[ExceptionDef], new: list[ExceptionDef], what: str) -> None:
        by_name = {e.name: e for e in old}
        for ex in new:
            cur = by_name.get(ex.name)
            if cur is None:
                if ex.fields is None:
                    raise RuleError(ex.loc.file, ex.loc.line, what, f"exception '{ex.name}' is new and needs fields")
                old.append(ex)
                by_name[ex.name] = ex
            else:
                cur.values.extend(ex.values)
                cur.value_locs.extend(ex.value_locs)

    def _rule(
        self, name: str, item: dict[str, Any], loc: Loc, append: bool, ov: dict[str, str] | None, what: str, kl: Any
    ) -> None:
        file = loc.file
        unknown = [k for k in item if k not in RULE_KEYS]
        for k in unknown:
            self.warnings.append(f"{file}:{kl(k)}: {what}: unknown key '{k}' ignored")
        old = self.rules.get(name)
        if append or ov:
            if old is None:
                raise RuleError(
                    file, loc.line, what, f"{'appends to' if append else 'overrides'} a rule that is not defined"
                )
            actions = ov or {k: "append" for k in item if k not in ("rule", "append") and k not in unknown}
            for key, action in actions.items():
                if append and key not in OVERRIDE_APPEND["rule"]:
                    raise RuleError(
                        file,
                        kl(key),
                        what,
                        f"cannot append to '{key}' (only condition, output, desc, tags, exceptions)",
                    )
                self._apply(old, key, action, item, file, kl(key), what)
            return
        if old is not None and set(item) <= {"rule", "enabled"} and "enabled" in item:
            self._apply(old, "enabled", "replace", item, file, kl("enabled"), what)
            return
        for key in ("condition", "output", "desc", "priority"):
            if key not in item:
                raise RuleError(file, loc.line, what, f"missing '{key}'")
        rule = RuleDef(
            name=name,
            parts=[],
            output="",
            desc="",
            priority="",
            tags=[],
            source="syscall",
            enabled=True,
            exceptions=[],
            skip_unknown=False,
            warn_evttypes=True,
            loc=loc,
            order=old.order if old is not None else self._next(),
        )
        for key in item:
            if key in ("rule", "append") or key in unknown:
                continue
            self._apply(rule, key, "replace", item, file, kl(key), what)
        self.rules[name] = rule

    def _next(self) -> int:
        self._order += 1
        return self._order

    def _apply(
        self, rule: RuleDef, key: str, action: str, item: dict[str, Any], file: str, line: int, what: str
    ) -> None:
        v = item[key]
        if key == "condition":
            part = Part(self._text(item, key, file, line, what), Loc(file, line))
            rule.parts = [*rule.parts, part] if action == "append" else [part]
        elif key in ("output", "desc"):
            text = self._text(item, key, file, line, what)
            cur = getattr(rule, key)
            setattr(rule, key, f"{cur} {text}".strip() if action == "append" else text)
        elif key == "priority":
            if not isinstance(v, str):
                raise RuleError(file, line, what, "priority must be a string")
            try:
                priority_level(v)
            except ValueError as exc:
                raise RuleError(file, line, what, str(exc)) from None
            rule.priority = v
        elif key == "tags":
            if not isinstance(v, list) or not all(isinstance(t, str | int) for t in v):
                raise RuleError(file, line, what, "tags must be a list of strings")
            tags = [str(t) for t in v]
            rule.tags = [*rule.tags, *tags] if action == "append" else tags
        elif key == "exceptions":
            new = self._exceptions(v, file, line, what)
            if action == "append":
                self._merge_exceptions(rule.exceptions, new, what)
            else:
                for ex in new:
                    if ex.fields is None:
                        raise RuleError(file, line, what, f"exception '{ex.name}' needs fields")
                rule.exceptions = new
        elif key in ("enabled", "warn_evttypes", "skip-if-unknown-filter"):
            if not isinstance(v, bool):
                raise RuleError(file, line, what, f"{key} must be true or false")
            if key == "enabled":
                rule.enabled = v
            elif key == "warn_evttypes":
                rule.warn_evttypes = v
            else:
                rule.skip_unknown = v
        elif key == "source":
            if not isinstance(v, str) or not v:
                raise RuleError(file, line, what, "source must be a string")
            rule.source = v
        elif key == "override":  # pragma: no cover - filtered by the caller
            pass

    # ------------------------------------------------------------ compiling

    def build(
        self,
        *,
        min_priority: str = "debug",
        rule_matching: str = "all",
        regex_budget: float = DEFAULT_BUDGET_S,
        warn: Warn | None = None,
    ) -> RuleSet:
        """Compile everything loaded into an Engine (RuleError for malformed items)."""
        try:
            floor = priority_level(min_priority)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        lists = self._resolve_lists()
        macros = self._parse_macros()
        compiler = Compiler(lists, macros, REGISTRY, regex_budget)
        skipped: list[Skipped] = []
        disabled: list[str] = []
        compiled: list[CompiledRule] = []
        warnings = list(self.warnings)
        for rd in sorted(self.rules.values(), key=lambda r: r.order):
            if not rd.enabled:
                disabled.append(rd.name)
                continue
            if priority_level(rd.priority) > floor:
                disabled.append(rd.name)
                continue
            if rd.source not in SOURCES:
                skipped.append(Skipped(rd.name, str(rd.loc), f"source '{rd.source}' is not supported here"))
                continue
            try:
                compiled.append(self._compile_rule(rd, compiler))
            except UnknownFieldError as exc:
                skipped.append(Skipped(rd.name, str(rd.loc), str(exc), silent=rd.skip_unknown))
            except UnsafeRegexError as exc:
                skipped.append(Skipped(rd.name, str(rd.loc), str(exc)))
        for s in skipped:
            if not s.silent:
                warnings.append(f"{s.where}: rule '{s.name}' skipped: {s.reason}")
        if warn is not None:
            for w in warnings:
                warn(w)
        engine = Engine(compiled, rule_matching=rule_matching, warn=warn, compiler=compiler)
        return RuleSet(
            engine,
            compiler,
            skipped=skipped,
            disabled=disabled,
            warnings=warnings,
            files=list(self.files),
            lists=len(self.lists),
            macros=len(self.macros),
        )

    def _resolve_lists(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}

        def resolve(name: str, stack: tuple[str, ...]) -> list[str]:
            if name in out:
                return out[name]
            ld = self.lists[name]
            items: list[str] = []
            for it in ld.items:
                if it in self.lists and it != name:
                    if it in stack:
                        raise RuleError(
                            ld.loc.file,
                            ld.loc.line,
                            f"list '{name}'",
                            f"lists include each other: {' -> '.join((*stack, it))}",
                        )
                    items.extend(resolve(it, (*stack, it)))
                else:
                    items.append(it)
            out[name] = items
            return items

        for name in self.lists:
            resolve(name, (name,))
        return out

    def _parse(self, parts: list[Part], what: str) -> Node:
        text = " ".join(p.text for p in parts)
        try:
            return parse_condition(text)
        except ParseError as exc:
            loc, snippet = self._locate(parts, exc.pos)
            raise RuleError(loc.file, loc.line, what, f"condition: {exc.message}{snippet}") from None

    @staticmethod
    def _locate(parts: list[Part], pos: int | None) -> tuple[Loc, str]:
        text = " ".join(p.text for p in parts)
        if pos is None or not parts:
            return (parts[0].loc if parts else Loc("?", 0)), ""
        start = 0
        loc = parts[0].loc
        for p in parts:
            if pos <= start + len(p.text):
                loc = p.loc
                break
            start += len(p.text) + 1
        else:
            loc = parts[-1].loc
        frag = text[max(0, pos - 25) : pos + 25].replace("\n", " ")
        return loc, f" (at '{frag}')" if frag.strip() else ""

    def _parse_macros(self) -> dict[str, Node]:
        return {name: self._parse(md.parts, f"macro '{name}'") for name, md in self.macros.items()}

    def _exception_node(self, ex: ExceptionDef, what: str) -> Node | None:
        loc = ex.loc
        name = f"exception '{ex.name}'"
        fields = ex.fields
        if fields is None:
            raise RuleError(loc.file, loc.line, what, f"{name} has no fields")
        if not ex.values:
            return None
        try:
            if isinstance(fields, str):
                comp = ex.comps if isinstance(ex.comps, str) else "in"
                if comp not in LIST_COMPS:
                    raise RuleError(loc.file, loc.line, what, f"{name}: a single field takes in, pmatch or intersects")
                vals = []
                for v in ex.values:
                    t = _scalar_text(v)
                    if t is None:
                        raise RuleError(loc.file, loc.line, what, f"{name}: values must be a list of strings")
                    vals.append(Value(t, False))
                return Compare(parse_operand(fields), comp, tuple(vals))
            comps = ex.comps if ex.comps is not None else ["="] * len(fields)
            if isinstance(comps, str):
                comps = [comps] * len(fields)
            if len(comps) != len(fields):
                raise RuleError(loc.file, loc.line, what, f"{name}: {len(fields)} fields but {len(comps)} comps")
            for c in comps:
                if c not in EXCEPTION_COMPS:
                    raise RuleError(loc.file, loc.line, what, f"{name}: unknown operator '{c}' in comps")
            operands = [parse_operand(f) for f in fields]
            alts: list[Node] = []
            for i, tup in enumerate(ex.values):
                vloc = ex.value_locs[i] if i < len(ex.value_locs) else loc
                if not isinstance(tup, list) or len(tup) != len(fields):
                    raise RuleError(
                        vloc.file,
                        vloc.line,
                        what,
                        f"{name}: each value must be a list of {len(fields)} items (one per field)",
                    )
                terms: list[Node] = []
                for operand, comp, v in zip(operands, comps, tup, strict=True):
                    rhs: Value | tuple[Value, ...]
                    if comp in LIST_COMPS:
                        items = v if isinstance(v, list) else [v]
                        texts = [_scalar_text(x) for x in items]
                        if any(t is None for t in texts):
                            raise RuleError(
                                loc.file, loc.line, what, f"{name}: values must be strings or lists of strings"
                            )
                        rhs = tuple(Value(t or "", False) for t in texts)
                    else:
                        t = _scalar_text(v)
                        if t is None:
                            raise RuleError(
                                loc.file, loc.line, what, f"{name}: operator '{comp}' takes one value, not a list"
                            )
                        rhs = Value(t, True)
                    terms.append(Compare(operand, comp, rhs))
                alts.append(terms[0] if len(terms) == 1 else And(tuple(terms)))
            return alts[0] if len(alts) == 1 else Or(tuple(alts))
        except ParseError as exc:
            raise RuleError(loc.file, loc.line, what, f"{name}: {exc.message}") from None

    def _compile_rule(self, rd: RuleDef, compiler: Compiler) -> CompiledRule:
        what = f"rule '{rd.name}'"
        node = self._parse(rd.parts, what)
        excs = [n for n in (self._exception_node(ex, what) for ex in rd.exceptions) if n is not None]
        if excs:
            node = And((node, Not(excs[0] if len(excs) == 1 else Or(tuple(excs)))))
        try:
            expanded = compiler.expand(node)  # refuses undefined and cyclic macros
            predicate = compiler.function(node, rd.source)
            evttypes = compiler.evttypes(node)
            by_type = {}
            for t in sorted(evttypes or ()):
                special = compiler.specialise(node, t)
                if not (isinstance(special, Const) and not special.value):
                    by_type[t] = compiler.function(special, rd.source, t)
            fields = tuple(dict.fromkeys(compiler.fields_of(expanded, rd.source)))
        except CompileError as exc:
            loc, snippet = self._locate(rd.parts, exc.pos) if exc.pos is not None else (rd.parts[0].loc, "")
            raise RuleError(loc.file, loc.line, what, f"condition: {exc.message}{snippet}") from None
        try:
            output = compile_output(rd.output, rd.source)
        except UnknownFieldError as exc:
            raise UnknownFieldError(exc.field, (exc.reason + "; " if exc.reason else "") + "in output") from None
        return CompiledRule(
            name=rd.name,
            desc=rd.desc,
            priority=priority_level(rd.priority),
            tags=tuple(rd.tags),
            source=rd.source,
            output=output,
            predicate=predicate,
            by_type=by_type,
            evttypes=evttypes,
            where=str(rd.loc),
            order=rd.order,
            condition=to_text(expanded),
            fields=fields,
            node=node,
        )


def load_rules(
    paths: Iterable[Path | str] = (),
    *,
    default: bool = True,
    texts: Iterable[tuple[str, str]] = (),
    min_priority: str = "debug",
    rule_matching: str = "all",
    regex_budget: float = DEFAULT_BUDGET_S,
    warn: Warn | None = None,
) -> RuleSet:
    """Load the default ruleset (unless `default=False`), then each file, then each (text, name)."""
    loader = Loader()
    if default:
        loader.load_file(DEFAULT_RULES, DEFAULT_RULES.name)
    for p in paths:
        loader.load_file(p)
    for text, name in texts:
        loader.load_text(text, name)
    return loader.build(min_priority=min_priority, rule_matching=rule_matching, regex_budget=regex_budget, warn=warn)


__all__ = ["DEFAULT_RULES", "ENGINE_VERSION", "Loader", "RuleError", "RuleSet", "load_rules"]
