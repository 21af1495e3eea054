"""The engine: compiled rules indexed by (source, event type); events in, alerts out.

Each event meets only the rules whose condition can be true for its type: the rules indexed
under that type plus those that do not constrain `evt.type` (one catch-all bucket per source),
merged once, in load order. A rule indexed under several types has one closure per type, with its
`evt.type` tests folded into constants.

A rule that raises while evaluating (a bug, or data no source should produce) is reported once
and counts as not matching; a rule whose regex exceeds its time budget is disabled with a
warning naming it, and the other rules go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from customhouse.runtime.events import Event
from customhouse.runtime.rules.compiler import Compiler, Pred, Template
from customhouse.runtime.rules.parser import Node
from customhouse.runtime.rules.regexes import RegexBudgetExceeded

PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
PRIORITY_ALIASES = {
    "info": "informational",
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "emerg": "emergency",
}
PRIORITY_DISPLAY = {p: p.capitalize() for p in PRIORITIES}


def priority_level(name: str) -> int:
    """0 (emergency) ... 7 (debug); ValueError for an unknown name (case-insensitive)."""
    p = name.strip().lower()
    p = PRIORITY_ALIASES.get(p, p)
    try:
        return PRIORITIES.index(p)
    except ValueError:
        raise ValueError(f"unknown priority '{name}' (use {', '.join(PRIORITIES)})") from None


@dataclass(eq=False)
class CompiledRule:
    name: str
    desc: str
    priority: int  # index in PRIORITIES: 0 is the most severe
    tags: tuple[str, ...]
    source: str
    output: Template
    predicate: Pred  # the whole condition (with exceptions)
    by_type: dict[str, Pred]  # the same, specialised per event type it is indexed under
    evttypes: frozenset[str] | None
    where: str  # "file:line"
    order: int
    condition: str  # the expanded condition, as canonical text
    fields: tuple[str, ...] = ()
    matches: int = 0
    disabled_reason: str = ""
    node: Node | None = None  # the condition (with exceptions), for compiling buckets

    @property
    def priority_name(self) -> str:
        return PRIORITY_DISPLAY[PRIORITIES[self.priority]]

    def __repr__(self) -> str:
        return f"CompiledRule({self.name!r}, {self.priority_name}, {self.where})"


@dataclass(slots=True)
class Alert:
    rule: CompiledRule
    event: Event

    @property
    def output(self) -> str:
        """The rule's output with the event's fields filled in."""
        return self.rule.output.render(self.event)


Warn = Callable[[str], None]
BucketFn = Callable[[Event], "list[int] | None"]
_NONE: list[Alert] = []  # returned (never modified) when an event raises no alert


Bucket = tuple[tuple[Pred, "CompiledRule"], ...]


@dataclass
class Engine:
    rules: list[CompiledRule]
    rule_matching: str = "all"  # "all": every matching rule alerts; "first": only the first (Falco's default)
    warn: Warn | None = None
    warnings: list[str] = field(default_factory=list)
    events: int = 0
    errors: int = 0
    compiler: Compiler | None = None  # when given, each bucket is compiled into one closure

    def __post_init__(self) -> None:
        if self.rule_matching not in ("all", "first"):
            raise ValueError("rule_matching must be 'all' or 'first'")
        self._errored: set[str] = set()
        self._build_index()

    # --- index

    def _build_index(self) -> None:
        active = [r for r in self.rules if not r.disabled_reason]
        self._index: dict[str, dict[str, Bucket]] = {}
        self._catch: dict[str, Bucket] = {}
        self._fast: dict[tuple[str, str | None], tuple[BucketFn, tuple[CompiledRule, ...]]] = {}
        for source in {r.source for r in active} | {"syscall", "k8s_audit"}:
            mine = [r for r in active if r.source == source]
            catch = [r for r in mine if r.evttypes is None]
            types: set[str] = set()
            for r in mine:
                types |= r.evttypes or set()
            self._catch[source] = tuple((r.predicate, r) for r in catch)
            buckets = {}
            for t in sorted(types):
                rs = [r for r in mine if t in r.by_type]
                merged = sorted([*rs, *catch], key=lambda r: r.order)
                buckets[t] = tuple((r.by_type[t] if r.evttypes is not None else r.predicate, r) for r in merged)
            self._index[source] = buckets
        if self.compiler is not None:
            for source, buckets in self._index.items():
                keyed: list[tuple[str | None, Bucket]] = [*buckets.items(), (None, self._catch[source])]
                for evttype, bucket in keyed:
                    fast = self._compile_bucket(source, evttype, bucket)
                    if fast is not None:
                        self._fast[(source, evttype)] = fast

    def _compile_bucket(
        self, source: str, evttype: str | None, bucket: Bucket
    ) -> tuple[BucketFn, tuple[CompiledRule, ...]] | None:
        from customhouse.runtime.rules.codegen import generate_bucket

        rules = tuple(r for _, r in bucket)
        if not rules or any(r.node is None for r in rules) or self.compiler is None:
            return None
        entries = [(r.node, evttype if r.evttypes is not None else None) for r in rules]
        try:
            fn = generate_bucket(self.compiler, source, entries, self.rule_matching == "first")  # type: ignore[arg-type]
        except (SyntaxError, RecursionError, MemoryError):
            return None  # the rule-by-rule closures still work
        return fn, rules

    def rules_for(self, source: str, evttype: str) -> list[CompiledRule]:
        """The rules an event of this source and type meets, in evaluation order."""
        by = self._index.get(source, {})
        bucket = by.get(evttype, self._catch.get(source, ()))
        return [r for _, r in bucket]

    # --- evaluation

    def evaluate(self, e: Event) -> list[Alert]:
        """The alerts `e` raises (in rule order; only the first with rule_matching="first").

        The list returned for an event without alerts is shared: do not modify it."""
        self.events += 1
        e._c = None
        fast = self._fast.get((e.source, e.type)) or self._fast.get((e.source, None))
        if fast is not None:
            try:
                hits = fast[0](e)
            except Exception:  # find the rule, report or disable it, evaluate the others
                return self._evaluate_rules(e)
            if hits is None:
                return _NONE
            rules = fast[1]
            alerts = []
            for i in hits:
                r = rules[i]
                r.matches += 1
                alerts.append(Alert(r, e))
            return alerts
        return self._evaluate_rules(e)

    def _evaluate_rules(self, e: Event) -> list[Alert]:
        """Rule by rule, each guarded: the reference path, and the fallback when a bucket raised."""
        e._c = None
        by = self._index.get(e.source)
        if by is None:
            return []
        bucket = by.get(e.type)
        if bucket is None:
            bucket = self._catch[e.source]
        out: list[Alert] = _NONE
        for fn, r in bucket:
            try:
                if fn(e):
                    r.matches += 1
                    if out is _NONE:
                        out = []
                    out.append(Alert(r, e))
                    if self.rule_matching == "first":
                        break
            except RegexBudgetExceeded as exc:
                self._disable(r, str(exc))
            except Exception as exc:  # a rule must never stop the engine
                self._rule_error(r, e, exc)
        return out

    def run(self, events: Iterable[Event]) -> Iterator[Alert]:
        for e in events:
            yield from self.evaluate(e)

    def _say(self, msg: str) -> None:
        self.warnings.append(msg)
        if self.warn is not None:
            self.warn(msg)

    def _disable(self, r: CompiledRule, why: str) -> None:
        if r.disabled_reason:
            return
        r.disabled_reason = why
        self._say(f"rule '{r.name}' disabled: {why} (time budget exceeded)")
        self._build_index()

    def _rule_error(self, r: CompiledRule, e: Event, exc: Exception) -> None:
        self.errors += 1
        if r.name in self._errored:
            return
        self._errored.add(r.name)
        self._say(f"rule '{r.name}' failed on event {e.num or '?'} ({type(exc).__name__}: {exc}); counted as no match")
