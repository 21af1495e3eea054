"""Regular expressions that cannot stop the engine: RE2, with a time budget as a second guard.

Falco evaluates `regex` with Google RE2, whose matching time is linear in the input: no pattern
backtracks catastrophically. We use the same engine (the `google-re2` package), so patterns mean
what they mean in Falco (full match, RE2 syntax: no backreferences or lookarounds) and a pattern
such as `(a+)+$` costs microseconds on any input.

Two more guards, for what linear time does not cover:
- every evaluation is timed; one that takes longer than the budget raises
  `RegexBudgetExceeded`, and the engine disables that rule with a warning naming it;
- should RE2 be unavailable, Python's `re` is used only for patterns without nested or
  repeated unbounded quantifiers (the shapes that backtrack exponentially or polynomially);
  other patterns are refused at load, which skips their rule with a warning.

Globs are matched component by component (`*` and `?` do not cross `/`, as in Falco) with
fnmatch's translation, which Python matches without catastrophic backtracking.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from time import perf_counter
from typing import Any

DEFAULT_BUDGET_S = 0.05
FALLBACK_MAX_INPUT = 4096

Matcher = Callable[[str], bool]


class RegexError(ValueError):
    """A pattern that does not compile (or is refused as unsafe without RE2)."""


class UnsafeRegexError(RegexError):
    """A pattern refused because, without RE2, it could backtrack without end (the rule is skipped)."""


class RegexBudgetExceeded(Exception):
    """One evaluation took longer than the budget; the engine disables the rule."""

    def __init__(self, pattern: str, seconds: float) -> None:
        super().__init__(f"regex '{pattern}' took {seconds * 1000:.1f} ms on one value")
        self.pattern = pattern
        self.seconds = seconds


def _re2_backend() -> Any:
    try:
        import re2
        from re2 import _re2
    except ImportError:
        return None
    if not hasattr(_re2, "RE2") or not hasattr(re2, "Options"):
        return None
    return re2


_backend: list[Any] = []


def backend() -> Any:
    """The re2 module, or None when unavailable (tests may force None)."""
    if not _backend:
        _backend.append(_re2_backend())
    return _backend[0]


def force_backend(mod: Any) -> None:
    """Tests: pretend RE2 is (un)available."""
    _backend[:] = [mod]


def _compile_re2(re2: Any, pattern: str, ignore_case: bool) -> Callable[[str], bool]:
    from re2 import _re2

    opts = re2.Options()
    opts.log_errors = False
    opts.never_capture = True
    opts.case_sensitive = not ignore_case
    opts.max_mem = 64 << 20
    rx = _re2.RE2(pattern.encode("utf-8", "surrogatepass"), opts)
    if not rx.ok():
        err = rx.error()
        raise RegexError(err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err))
    match = rx.Match
    both = re2._Anchor.ANCHOR_BOTH
    null = (-1, -1)

    def full(v: str) -> bool:
        b = v.encode("utf-8", "replace")
        return bool(match(both, b, 0, len(b))[0] != null)

    return full


def _unsafe_for_backtracking(pattern: str) -> str:
    """Why `pattern` may backtrack badly in Python's re ("" when it looks safe)."""
    try:
        from re import _parser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        return "cannot analyse the pattern"
    try:
        tree = _parser.parse(pattern)
    except re.error as exc:
        raise RegexError(str(exc)) from None
    repeats = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
    unbounded = 0
    reason = ""

    def walk(items: Any, inside_repeat: bool) -> None:
        nonlocal unbounded, reason
        for op, av in items:
            name = str(op)
            if name in repeats:
                _lo, hi, sub = av
                if inside_repeat:
                    reason = "nested quantifiers"
                if hi == _parser.MAXREPEAT or hi > 64:
                    unbounded += 1
                walk(sub, True)
            elif name == "SUBPATTERN":
                walk(av[-1], inside_repeat)
            elif name == "BRANCH":
                if inside_repeat:
                    reason = "a quantified alternation"
                for alt in av[1]:
                    walk(alt, inside_repeat)
            elif name in ("GROUPREF", "GROUPREF_EXISTS"):
                reason = "a backreference"
            elif name in ("ASSERT", "ASSERT_NOT"):
                walk(av[1], inside_repeat)

    walk(tree, False)
    if not reason and unbounded > 1:
        reason = "several unbounded quantifiers"
    return reason


def _compile_fallback(pattern: str, ignore_case: bool) -> Callable[[str], bool]:
    why = _unsafe_for_backtracking(pattern)
    if why:
        raise UnsafeRegexError(f"regex '{pattern}' refused without RE2: {why} may backtrack without end")
    try:
        rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RegexError(str(exc)) from None
    fm = rx.fullmatch

    def full(v: str) -> bool:
        return len(v) <= FALLBACK_MAX_INPUT and fm(v) is not None

    return full


def compile_fullmatch(pattern: str, ignore_case: bool = False, budget: float = DEFAULT_BUDGET_S) -> Matcher:
    """A predicate: does the whole value match `pattern`? Raises RegexError for a bad pattern."""
    re2 = backend()
    full = _compile_fallback(pattern, ignore_case) if re2 is None else _compile_re2(re2, pattern, ignore_case)

    def timed(v: str) -> bool:
        t = perf_counter()
        r = full(v)
        dt = perf_counter() - t
        if dt > budget:
            raise RegexBudgetExceeded(pattern, dt)
        return r

    return timed


_GLOB_CHARS = frozenset("*?[")


def component_matcher(part: str, ignore_case: bool = False) -> Matcher:
    """One path component's glob (no `/` inside): fnmatch's translation, which Python compiles
    without catastrophic backtracking (a star is matched atomically); a literal is compared."""
    if ignore_case:
        part = part.lower()
    if not any(c in _GLOB_CHARS for c in part):
        return part.__eq__
    try:
        fm = re.compile(fnmatch.translate(part)).fullmatch
    except re.error as exc:
        raise RegexError(f"bad glob '{part}': {exc}") from None
    return lambda v: fm(v) is not None


def compile_glob(glob: str, ignore_case: bool = False) -> Matcher:
    """Falco's glob: `*`, `?` and `[...]` never cross `/`, so the path and the pattern are
    compared component by component."""
    parts = [component_matcher(p, ignore_case) for p in glob.split("/")]
    n = len(parts)

    def match(v: str) -> bool:
        if ignore_case:
            v = v.lower()
        comps = v.split("/")
        if len(comps) != n:
            return False
        return all(m(c) for m, c in zip(parts, comps, strict=True))

    return match
