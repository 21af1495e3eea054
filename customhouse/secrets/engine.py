"""The secret matching engine: every rule over a file's bytes in one pass, in bounded time.

Two backends give the same findings for the same input (tests/secrets runs every rule's test
strings, and a corpus of all of them, through both):

- **hyperscan** (default when the `hyperscan` module loads): all rules are compiled once into
  ONE block-mode database (kept in `SecretConfig.cache_dir` between runs) and each file
  buffer is scanned once. Hyperscan only *finds candidates*: a rule and the end offset of a
  possible match. Each candidate is confirmed with the rule's own Python regex on a bounded
  window around it (every rule has a bounded width, checked when the rules load), so capture
  groups, lookarounds and the exact semantics of `re` apply, and no regex runs over a whole
  large file. What Hyperscan gets is a superset of the rule (`hyperscan_expression`): wide
  repeats unbounded, edge lookarounds as consumed characters, any other lookaround in
  prefilter mode; an expression Hyperscan refuses is replaced by the rule's keywords.
  Rules limited to named files (`paths`: .pgpass, master.key, ...) are not in the database:
  they run as `re` on the few files they apply to.
- **re** (fallback when Hyperscan cannot load, or forced with `SecretConfig(backend="re")` or
  `CUSTOMHOUSE_SECRETS_BACKEND=re`): the keyword prefilter finds each keyword's occurrences
  in the lower-cased buffer, and a rule's regex runs only on windows around them (or over
  the whole buffer when the windows would cover it anyway). Rules have bounded widths and are
  tested against adversarial input built from their own character classes
  (tests/secrets/test_backtracking.py), so this is linear in practice, at a few MB/s.

A buffer that makes Hyperscan report more than `MAX_HITS` candidates (only crafted input
does) stops the scan; a second database with the same expressions in single-match mode then
says which rules match at all, and only those go through the `re` path, so the Python
callback cannot be made to run millions of times.

Before matching, a file is skipped when its path is allowlisted (`SecretConfig.allow_paths`),
when it is larger than `max_file_bytes`, or when it looks binary (a NUL byte or mostly control
characters in its first 8 KiB; archives are the analyzers' business, they hand us the text
inside).

After matching, a candidate is dropped when its match contains none of the rule's keywords,
when the secret contains a stopword (`SecretConfig.stopwords`, and the rule's own), looks like
a placeholder (`${VAR}`, `<password>`, `changeme`, see entropy.is_placeholder), matches one of
the rule's allowlist regexes, or is below the rule's entropy threshold. A rule's validator
(validators.py) then marks it `validated`. Where two findings cover the same bytes, a generic
detector's (category `generic`) or a superseded rule's finding gives way to the specific one.
At most `max_matches_per_file` findings are kept per file (the first ones; each rule's
matches are consumed lazily and stop at that number too).

Secrets are never printed: `SecretMatch`'s `str()`/`repr()` and `to_dict()` show `redact()`ed
values (at most the first 4 characters and a short hash) and the stable `fingerprint`, which is
what goes in the ignore file (`.customhouseignore.yaml`, key `fingerprint`).
"""

from __future__ import annotations

import json
import os
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.errors import UsageError
from customhouse.secrets.entropy import effective_threshold, is_placeholder, shannon_entropy
from customhouse.secrets.rules import MAX_RULE_WIDTH, Rule, cache_key, load_rules, write_cache_file
from customhouse.secrets.validators import VALIDATORS

ENV_BACKEND = "CUSTOMHOUSE_SECRETS_BACKEND"
BACKENDS = ("auto", "hyperscan", "re")
DEFAULT_MAX_FILE_BYTES = 32 << 20
SNIFF_BYTES = 8192
MARGIN = 64  # bytes of context kept at window edges for \b, lookarounds and anchors
MAX_HITS = 250_000  # Hyperscan candidates per buffer before falling back to the re path

# Third-party code and test fixtures: where secrets are overwhelmingly sample data shipped by
# a package, not credentials of the image. `allow_paths=()` scans everything.
DEFAULT_ALLOW_PATHS: tuple[str, ...] = (
    "**/node_modules/**",
    "**/bower_components/**",
    "**/vendor/**",
    "**/site-packages/**/tests/**",
    "**/site-packages/**/test/**",
    "**/dist-packages/**/tests/**",
    "**/dist-packages/**/test/**",
    "**/go/pkg/mod/**",
    "**/.cargo/registry/**",
    "**/gems/*/test/**",
    "**/gems/*/spec/**",
    "**/lib/python*/test/**",
    "**/*_test.go",
    "**/*.dist-info/METADATA",
    "**/*.egg-info/PKG-INFO",
    "**/testdata/**",
    "**/test/fixtures/**",
    "**/tests/fixtures/**",
    "**/spec/fixtures/**",
    "**/__fixtures__/**",
    "**/__tests__/**",
    "usr/share/doc/**",
    "usr/share/man/**",
    "usr/share/info/**",
    "usr/share/locale/**",
    # Compiled system data in its own binary formats (terminal descriptions, time zones): no
    # secret is ever there, and a Debian root has ~900 terminfo files to open and sniff.
    "usr/share/terminfo/**",
    "usr/lib/terminfo/**",
    "lib/terminfo/**",
    "etc/terminfo/**",
    "usr/share/zoneinfo/**",
)
# Names of compiled, compressed and media formats: in a tree (`fs`) or an image layer, a file so
# named is skipped as binary without being opened (its content would fail the binary sniff
# anyway, and a Debian root filesystem has ~400 shared objects). Only files are judged by name:
# `Scanner.scan` and `skip_reason` look at the content, so a Kubernetes Secret value whose key
# is `cred.o` is still scanned. Java archives are not here: their text members are scanned.
BINARY_NAME = re.compile(
    r"\.(?:so(?:\.\d+)*|o|a|pyc|pyo|class|mo|png|jpe?g|gif|ico|webp|ttf|otf|woff2?|gz|xz|bz2|zst|lz4)$",
    re.IGNORECASE,
)

# A secret containing one of these (case-insensitive) is documentation, not a credential.
DEFAULT_STOPWORDS: tuple[str, ...] = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "replace_me",
    "replaceme",
    "your_",
    "your-",
    "notreal",
    "not_real",
    "redacted",
    "xxxxxx",
    "000000000000",
)


@dataclass(frozen=True)
class SecretConfig:
    """What the scanner reads and what it ignores. Immutable; `Scanner.create` compiles it."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    allow_paths: tuple[str, ...] = DEFAULT_ALLOW_PATHS  # globs; `**` spans directories, `*` does not
    stopwords: tuple[str, ...] = DEFAULT_STOPWORDS
    disabled_rules: tuple[str, ...] = ()
    extra_rules_file: str | Path | None = None
    backend: str = "auto"  # "auto" | "hyperscan" | "re"; "auto" honours $CUSTOMHOUSE_SECRETS_BACKEND
    max_matches_per_file: int = 1000
    cache_dir: str | Path | None = None  # where the compiled Hyperscan database is kept between runs


def fingerprint(rule_id: str, secret: str | bytes) -> str:
    """Stable identity of "this secret, found by this rule": what goes in the ignore file.

    `sha256:` and the first 32 hex digits of SHA-256 over a domain tag, the rule id and the
    secret's bytes. It does not depend on the file, line or layer, so an accepted secret stays
    accepted when it moves; narrow an ignore entry with `path` to accept it in one place only.
    A hash of a weak password can be brute-forced, which is why only high-entropy values are
    reported by the generic detectors and why reports must still be treated as sensitive.
    """
    import hashlib  # here: a scan without findings never needs it (see rules.cache_key)

    raw = secret.encode("utf-8", "surrogateescape") if isinstance(secret, str) else secret
    h = hashlib.sha256(b"customhouse-secret-v1\x00" + rule_id.encode() + b"\x00" + raw)
    return "sha256:" + h.hexdigest()[:32]


def redact(secret: str) -> str:
    """At most the first 4 characters (a quarter of a short secret), `…` and an 8-hex hash."""
    import hashlib

    shown = secret[: min(4, len(secret) // 4)]
    short = hashlib.sha256(b"customhouse-redact-v1\x00" + secret.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{shown}…{short}"


@dataclass(frozen=True, repr=False)
class SecretMatch:
    """One secret found in one file. Lines and columns are 1-based; `end_column` is exclusive.

    Columns count characters (UTF-8 code points) from the start of the line; `start`/`end`
    (the secret) and `match_start`/`match_end` (the whole match) are byte offsets in the
    scanned buffer; `secret_offset` is where the secret starts in `match`, in characters.
    `secret` and `match` hold the raw text: never print them, use `redacted`, `redacted_match`,
    `str()` or `to_dict()`. `fingerprint` is `fingerprint(rule_id, <the secret's bytes>)`.
    """

    rule_id: str
    title: str
    severity: str
    category: str
    provider: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int
    match_start: int
    match_end: int
    secret: str
    match: str
    validated: bool | None
    entropy: float
    fingerprint: str
    secret_offset: int = 0

    @property
    def redacted(self) -> str:
        return redact(self.secret)

    @property
    def redacted_match(self) -> str:
        """The match with the secret replaced by its redaction (context only, never the secret)."""
        i = self.secret_offset
        if self.match[i : i + len(self.secret)] != self.secret:
            return self.redacted
        return self.match[:i] + self.redacted + self.match[i + len(self.secret) :]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "category": self.category,
            "provider": self.provider,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "start": self.start,
            "end": self.end,
            "secret": self.redacted,
            "match": self.redacted_match,
            "validated": self.validated,
            "entropy": round(self.entropy, 3),
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        return (
            f"SecretMatch(rule_id={self.rule_id!r}, path={self.path!r}, line={self.line}, column={self.column}, "
            f"secret={self.redacted!r}, validated={self.validated!r}, fingerprint={self.fingerprint!r})"
        )

    __str__ = __repr__


# ---------------------------------------------------------------------------- helpers


def normalize_path(path: str) -> str:
    if not path.startswith(("./", "/")) and "\\" not in path:
        return path  # the usual case, called for every file
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p.lstrip("/")


def glob_to_regex(glob: str) -> str:
    """`**/` any directories (or none), `/**` anything below, `*` and `?` within one segment."""
    g = normalize_path(glob)
    out: list[str] = []
    i = 0
    while i < len(g):
        if g.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif g.startswith("/**", i) and i + 3 == len(g):
            out.append("(?:/.*)?")
            i += 3
        elif g.startswith("**", i):
            out.append(".*")
            i += 2
        elif g[i] == "*":
            out.append("[^/]*")
            i += 1
        elif g[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(g[i]))
            i += 1
    return "".join(out)


def compile_dir_globs(globs: Iterable[str]) -> re.Pattern[str] | None:
    """Directories whose whole content the globs match: the part before a final `/**`.

    `P/**` matches a path when the path or one of its directories matches `P`, so a tree walk
    that meets a directory matching `P` can skip it without listing it: exactly the files
    below it would be skipped one by one."""
    return compile_globs(g[:-3] for g in (normalize_path(x) for x in globs) if g.endswith("/**") and len(g) > 3)


def compile_globs(globs: Iterable[str]) -> re.Pattern[str] | None:
    """One regex (for `fullmatch`) matching what any of the globs matches.

    The globs that start with `**/` share that prefix in the regex: `(?:.*/)?(?:a|b|...)`
    backtracks over the path once, where `(?:(?:.*/)?a)|(?:(?:.*/)?b)|...` did it once per
    glob, and this runs for every file of a tree."""
    anywhere: list[str] = []
    rooted: list[str] = []
    for g in globs:
        if not g.strip():
            continue
        n = normalize_path(g)
        if n.startswith("**/"):
            anywhere.append(glob_to_regex(n[3:]))
        else:
            rooted.append(glob_to_regex(n))
    parts = [f"(?:{p})" for p in rooted]
    if anywhere:
        parts.append("(?:.*/)?(?:" + "|".join(f"(?:{p})" for p in anywhere) + ")")
    if not parts:
        return None
    return re.compile("|".join(parts), re.DOTALL)


# Bytes that make a file look binary when frequent: C0 controls other than \t \n \f \r and ESC.
_CONTROL = bytes([*range(0, 8), 11, *range(14, 27), *range(28, 32), 127])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b < 0xC0)


def is_binary(data: bytes) -> bool:
    """NUL in the first 8 KiB, or more than 10% control characters there."""
    head = data[:SNIFF_BYTES]
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _NOT_CONTROL))
    return controls * 10 > len(head)


def _chars(data: bytes, start: int, end: int) -> int:
    """UTF-8 code points in data[start:end] (continuation bytes do not start a character)."""
    if end <= start:
        return 0
    seg = data[start:end]
    return len(seg) - len(seg.translate(None, _NOT_CONTINUATION))


# ---------------------------------------------------------------------------- hyperscan


def _hyperscan() -> Any:
    """The hyperscan module, or None when it cannot be imported or loaded on this machine."""
    try:
        import hyperscan
    except Exception:  # ImportError, or the shared library failing to load (OSError, ...)
        return None
    return hyperscan


_BOUNDED = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")
_CLASS = r"\[(?!\^)(?:\\.|[^\]\\])+\]"
_LEADING_LOOKBEHIND = re.compile(r"^((?:\(\?[aiLmsux]+\))?)\(\?<!(" + _CLASS + r")\)")
_TRAILING_LOOKAHEAD = re.compile(r"\(\?!(" + _CLASS + r")\)$")
_TRAILING_POSITIVE = re.compile(r"\(\?=(" + _CLASS + r")(\|\$)?\)$")
_LOOKAROUND = re.compile(r"\(\?<?[=!]|\\[1-9]")
HS_RELAX_ABOVE = 16  # bounded repeats wider than this are given to Hyperscan unbounded
HS_CACHE_KEEP = 8  # compiled databases kept in cache_dir/secrets/


def hyperscan_expression(regex: str) -> tuple[bytes, bool]:
    """The rule's regex as Hyperscan gets it, and whether it needs prefilter mode.

    Three rewrites, each keeping "every real match ends at a reported offset" (the window
    logic of `Scanner` needs nothing more):

    - repeats wider than 16 become `{m,}`: Hyperscan compiles wide bounded repeats slowly
      (seconds for a PEM body of up to 16000 characters); the exact bounds are `re`'s job;
    - a leading `(?<![X])` becomes `(?:^|[^X])`, a trailing `(?![X])` becomes `(?:[^X]|$)`
      and a trailing `(?=[X]|$)` becomes `(?:[X]|$)`: the same condition, consuming a
      character instead of asserting it, which
      Hyperscan supports exactly. Prefilter mode would drop the assertions and report every
      position of a run like `AKIAAKIA...` (the reported end moves by at most one byte);
    - whatever lookaround or back-reference remains is left to Hyperscan's prefilter mode.
    """
    expr = _BOUNDED.sub(lambda m: m.group(0) if int(m.group(2)) <= HS_RELAX_ABOVE else "{" + m.group(1) + ",}", regex)
    expr = _LEADING_LOOKBEHIND.sub(lambda m: f"{m.group(1)}(?:^|[^{m.group(2)[1:-1]}])", expr, count=1)
    expr = _TRAILING_LOOKAHEAD.sub(lambda m: f"(?:[^{m.group(1)[1:-1]}]|$)", expr, count=1)
    expr = _TRAILING_POSITIVE.sub(lambda m: f"(?:{m.group(1)}{m.group(2) or ''})", expr, count=1)
    return expr.encode("ascii"), _LOOKAROUND.search(expr) is not None


@dataclass
class _Plan:
    """What goes into the database: expressions, their flags, and which rule each announces."""

    exprs: list[bytes] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    rule: list[int] = field(default_factory=list)  # expression id -> rule index
    wide: list[bool] = field(default_factory=list)  # keyword trigger: window on both sides
    modes: dict[str, str] = field(default_factory=dict)  # rule id -> exact|prefilter|keywords|re


def _compiles(hs: Any, expr: bytes, flags: int) -> bool:
    try:
        hs.Database().compile(expressions=[expr], ids=[0], elements=1, flags=[flags])
    except Exception:  # hyperscan.error: unsupported construct, too large, ...
        return False
    return True


def _plan(hs: Any, rules: Sequence[Rule], check: bool) -> _Plan:
    plan = _Plan()
    for i, r in enumerate(rules):
        if r.paths:
            # Limited to a few named files (.pgpass, master.key, ...) whose patterns can be as
            # loose as "the whole file": they stay out of the database and run as `re`.
            plan.modes[r.id] = "re"
            continue
        expr, prefilter = hyperscan_expression(r.regex)
        flag = int(hs.HS_FLAG_PREFILTER) if prefilter else 0
        mode = "prefilter" if prefilter else "exact"
        if check and not _compiles(hs, expr, flag):
            flag = int(hs.HS_FLAG_PREFILTER)
            mode = "prefilter" if _compiles(hs, expr, flag) else "keywords" if r.keywords else "re"
        plan.modes[r.id] = mode
        if mode == "keywords":
            for k in r.keywords:
                plan.exprs.append(re.escape(k).encode("ascii"))
                plan.flags.append(int(hs.HS_FLAG_CASELESS))
                plan.rule.append(i)
                plan.wide.append(True)
        elif mode != "re":
            plan.exprs.append(expr)
            plan.flags.append(flag)
            plan.rule.append(i)
            plan.wide.append(False)
    return plan


def _hs_key(hs: Any, exprs: list[bytes], flags: list[int]) -> str:
    """Names a compiled database: the Hyperscan version and exactly what was compiled."""
    head = f"customhouse-hs-v1\x00{getattr(hs, '__version__', '')}".encode()
    return cache_key(head, b"".join(b"%d\x00%s\x01" % (f, e) for e, f in zip(exprs, flags, strict=True)))


PLAN_CACHE_REVISION = 1
HS_MODES = ("exact", "prefilter", "keywords", "re")


def _plan_file(hs: Any, ident: str, cache_dir: Path) -> Path:
    """Named by the rules (`ident`), the Hyperscan version and this module's code: a plan is
    what `_plan` made of the rules, so an upgraded or edited engine (its file's size and
    modification time, as Python's own bytecode cache checks its sources) plans again."""
    from customhouse import __version__

    try:
        st = os.stat(__file__)
        code = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:  # not a file (a zip import): the version must do
        code = ""
    head = f"customhouse-hsplan-v{PLAN_CACHE_REVISION}\x00{__version__}\x00{code}\x00{getattr(hs, '__version__', '')}"
    return cache_dir / "secrets" / f"hsplan-{cache_key(head.encode(), ident.encode('utf-8', 'surrogatepass'))}.json"


def _read_plan(path: Path, rules: Sequence[Rule]) -> _Plan | None:
    """The plan an earlier process made for the same rules (`_plan` rewrites ~300 regexes for
    Hyperscan on every start otherwise); anything unexpected in the file means no plan."""
    try:
        doc = json.loads(path.read_bytes())
        plan = _Plan(
            exprs=[e.encode("latin-1") for e in doc["exprs"]],
            flags=[int(f) for f in doc["flags"]],
            rule=[int(r) for r in doc["rule"]],
            wide=[bool(w) for w in doc["wide"]],
            modes={str(k): str(v) for k, v in doc["modes"].items()},
        )
    except Exception:  # missing, truncated, edited: plan again
        return None
    if not len(plan.flags) == len(plan.rule) == len(plan.wide) == len(plan.exprs):
        return None
    if any(not 0 <= r < len(rules) for r in plan.rule):
        return None
    if set(plan.modes) != {r.id for r in rules} or not set(plan.modes.values()) <= set(HS_MODES):
        return None
    return plan


def _write_plan(path: Path, plan: _Plan) -> None:
    body = {
        "exprs": [e.decode("latin-1") for e in plan.exprs],
        "flags": plan.flags,
        "rule": plan.rule,
        "wide": plan.wide,
        "modes": plan.modes,
    }
    write_cache_file(path, json.dumps(body, separators=(",", ":")).encode(), "hsplan-*.json", HS_CACHE_KEEP)


def _compile(hs: Any, exprs: list[bytes], flags: list[int], cache_dir: Path | None) -> Any:
    """Compile, or load what an earlier process compiled into `cache_dir/secrets/`."""
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / "secrets" / f"hyperscan-{_hs_key(hs, exprs, flags)[:32]}.db"
        try:
            return hs.loadb(cache_file.read_bytes(), mode=hs.HS_MODE_BLOCK)
        except Exception:  # missing, truncated, other CPU or library version: rebuild
            pass
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
    if cache_file is not None:
        # the few most recent databases (rule sets, single-match variants) are kept, not all
        write_cache_file(cache_file, hs.dumpb(db), "hyperscan-*.db", HS_CACHE_KEEP)
    return db


class _HsDatabase:
    """The compiled rules, shared by every scanner of the same rule set in this process.

    `single` is the same expressions with HS_FLAG_SINGLEMATCH (each reports once per buffer),
    compiled the first time a buffer overflows `MAX_HITS`: it says which rules match at all
    at Hyperscan speed, so crafted input costs the `re` work of those rules only.
    """

    def __init__(self, hs: Any, rules: Sequence[Rule], cache_dir: Path | None, ident: str = "") -> None:
        self.hs = hs
        self.cache_dir = cache_dir
        plan_file = _plan_file(hs, ident, cache_dir) if cache_dir is not None and ident else None
        cached = _read_plan(plan_file, rules) if plan_file is not None else None
        if cached is not None:
            try:
                self.plan, self.db = cached, _compile(hs, cached.exprs, cached.flags, cache_dir)
            except Exception:
                cached = None
        if cached is None:
            self.plan = _plan(hs, rules, check=False)
            try:
                self.db = _compile(hs, self.plan.exprs, self.plan.flags, cache_dir)
            except Exception:
                # Some expression is beyond this Hyperscan: find which, one by one (slow, rare).
                self.plan = _plan(hs, rules, check=True)
                self.db = _compile(hs, self.plan.exprs, self.plan.flags, cache_dir)
            if plan_file is not None:
                _write_plan(plan_file, self.plan)
        self.re_only = frozenset(i for i, r in enumerate(rules) if self.plan.modes[r.id] == "re")
        self._single: Any = None
        self._lock = threading.Lock()

    @property
    def single(self) -> Any:
        with self._lock:
            if self._single is None:
                flags = [f | int(self.hs.HS_FLAG_SINGLEMATCH) for f in self.plan.flags]
                self._single = _compile(self.hs, self.plan.exprs, flags, self.cache_dir)
            return self._single


_HS_LOCK = threading.Lock()
_HS_CACHE: dict[str, _HsDatabase] = {}


def hyperscan_database(rules: Sequence[Rule], cache_dir: Path | None = None) -> _HsDatabase:
    """The compiled database for `rules`: built once per process and rule set, and kept in
    `cache_dir/secrets/` (when given) so that the next process loads it instead of compiling."""
    hs = _hyperscan()
    if hs is None:
        raise RuntimeError("hyperscan is not available")
    key = "\x00".join(f"{r.id}\x01{r.regex}\x01{','.join(r.keywords)}\x01{','.join(r.paths)}" for r in rules)
    with _HS_LOCK:
        got = _HS_CACHE.get(key)
        if got is None:
            got = _HS_CACHE[key] = _HsDatabase(hs, rules, cache_dir, key)
        return got


class _HitsOverflow(Exception):
    pass


# ---------------------------------------------------------------------------- scanner


@dataclass
class _Candidate:
    rule: Rule
    start: int
    end: int
    match_start: int
    match_end: int
    validated: bool | None
    entropy: float


Matches = dict[int, Iterator[re.Match[bytes]]]  # rule index -> its regex matches, in order


@dataclass
class Scanner:
    """Compiled rules plus configuration; `scan()` is safe to call from several threads."""

    config: SecretConfig
    rules: tuple[Rule, ...]
    backend: str  # "hyperscan" | "re"
    _allow: re.Pattern[str] | None = field(repr=False, default=None)
    _rule_paths: dict[int, re.Pattern[str]] = field(repr=False, default_factory=dict)  # compiled when needed
    _allow_dirs: re.Pattern[str] | None = field(repr=False, default=None)
    _any_rule_path: re.Pattern[str] | None = field(repr=False, default=None)  # union of _rule_paths
    _unlimited: frozenset[int] = field(repr=False, default=frozenset())  # rules without `paths`
    _keywords: list[tuple[bytes, ...]] = field(repr=False, default_factory=list)
    _stopwords: tuple[str, ...] = field(repr=False, default=())
    _superseded_by: dict[str, frozenset[str]] = field(repr=False, default_factory=dict)
    _hs: _HsDatabase | None = field(repr=False, default=None)
    _local: threading.local = field(repr=False, default_factory=threading.local)

    @classmethod
    def create(cls, config: SecretConfig | None = None) -> Scanner:
        """Load and compile the rules once; reuse the scanner for every file."""
        cfg = config or SecretConfig()
        if cfg.max_file_bytes < 0 or cfg.max_matches_per_file < 1:
            raise UsageError("secret scanning limits must be positive (max_file_bytes, max_matches_per_file)")
        want = cfg.backend
        if want not in BACKENDS:
            raise UsageError(f"unknown secret scanning backend {want!r} (one of {', '.join(BACKENDS)})")
        if want == "auto":
            env = os.environ.get(ENV_BACKEND, "").strip().lower()
            if env and env not in BACKENDS:
                raise UsageError(f"${ENV_BACKEND}={env!r} is not one of {', '.join(BACKENDS)}")
            want = env or "auto"
        all_rules = load_rules(cfg.extra_rules_file, cfg.cache_dir)
        known = {r.id for r in all_rules}
        unknown = sorted(set(cfg.disabled_rules) - known)
        if unknown:
            raise UsageError(f"unknown secret rule id {unknown[0]!r} in disabled rules")
        disabled = set(cfg.disabled_rules)
        rules = tuple(r for r in all_rules if r.id not in disabled)

        hsdb: _HsDatabase | None = None
        if want in ("auto", "hyperscan"):
            if _hyperscan() is not None:
                hsdb = hyperscan_database(rules, Path(cfg.cache_dir) if cfg.cache_dir is not None else None)
            elif want == "hyperscan":
                raise UsageError("the hyperscan secret scanning backend was requested but hyperscan cannot be loaded")
        superseded: dict[str, set[str]] = {}
        for r in rules:
            for other in r.supersedes:
                superseded.setdefault(other, set()).add(r.id)
        limited = [i for i, r in enumerate(rules) if any(g.strip() for g in r.paths)]
        return cls(
            _allow_dirs=compile_dir_globs(cfg.allow_paths),
            _any_rule_path=compile_globs(g for i in limited for g in rules[i].paths),
            _unlimited=frozenset(range(len(rules))) - frozenset(limited),
            config=cfg,
            rules=rules,
            backend="hyperscan" if hsdb is not None else "re",
            _allow=compile_globs(cfg.allow_paths),
            _keywords=[tuple(k.encode("ascii") for k in r.keywords) for r in rules],
            _stopwords=tuple(s.lower() for s in cfg.stopwords if s),
            _superseded_by={k: frozenset(v) for k, v in superseded.items()},
            _hs=hsdb,
        )

    @property
    def hyperscan_modes(self) -> dict[str, str]:
        """How each rule reaches Hyperscan: exact, prefilter, keywords or re (empty for re)."""
        return dict(self._hs.plan.modes) if self._hs is not None else {}

    # ------------------------------------------------------------------ public API

    def path_allowed(self, path: str) -> bool:
        """True when `path` is excluded by the path allowlist (it is never scanned)."""
        return self._allow is not None and self._allow.fullmatch(normalize_path(path)) is not None

    def dir_allowed(self, path: str) -> bool:
        """True when every file below directory `path` is excluded by the path allowlist."""
        return self._allow_dirs is not None and self._allow_dirs.fullmatch(normalize_path(path)) is not None

    def binary_name(self, path: str) -> bool:
        """True when a file at `path` is named as a binary format (BINARY_NAME): tree walks and
        the image analyzer skip it unopened. Content given to `scan` is judged by its bytes."""
        return BINARY_NAME.search(path) is not None

    def skip_reason(self, path: str, size: int, head: bytes | None = None) -> str | None:
        """Why a file would not be scanned ("allowlisted-path", "too-large", "binary"), or None.

        Callers that stream files can ask before reading the content (without `head`).
        """
        if self.path_allowed(path):
            return "allowlisted-path"
        if size > self.config.max_file_bytes:
            return "too-large"
        if head is not None and is_binary(head):
            return "binary"
        return None

    def scan_file(self, file: str | Path, path: str | None = None) -> list[SecretMatch]:
        """Scan a file on the host (the size limit is checked before anything is read)."""
        p = Path(file)
        shown = str(p) if path is None else path
        if self.skip_reason(shown, p.stat().st_size) is not None:
            return []
        return self.scan(p.read_bytes(), shown)

    def scan(self, data: bytes, path: str = "") -> list[SecretMatch]:
        """Every finding in one file's content (`path` is what reports show and globs see)."""
        if self.skip_reason(path, len(data), data) is not None:
            return []
        return self.scan_unchecked(data, path)

    def scan_unchecked(self, data: bytes, path: str = "") -> list[SecretMatch]:
        """`scan` for a caller that has already applied `skip_reason` (path, size, binary)."""
        npath = normalize_path(path)
        active: frozenset[int] = self._unlimited
        if self._any_rule_path is not None and self._any_rule_path.fullmatch(npath):
            active = active | {i for i in self._limited() if self._rule_path(i).fullmatch(npath)}
        if not active:
            return []
        if self._hs is not None:
            try:
                matches = self._hyperscan_matches(data, active)
            except _HitsOverflow:
                matching = self._hyperscan_rules(data)
                matches = self._re_matches(data, sorted(i for i in active if i in matching or i in self._hs.re_only))
        else:
            matches = self._re_matches(data, sorted(active))
        if not matches:
            return []
        return self._finish(data, path, self._confirm(data, matches))

    def _limited(self) -> Iterable[int]:
        return (i for i in range(len(self.rules)) if i not in self._unlimited)

    def _rule_path(self, i: int) -> re.Pattern[str]:
        """Rule `i`'s `paths` globs, compiled the first time a file matches one of them."""
        pat = self._rule_paths.get(i)
        if pat is None:
            pat = self._rule_paths[i] = compile_globs(self.rules[i].paths) or re.compile("(?!)")
        return pat

    # ------------------------------------------------------------------ backends

    def _scratch(self, db: Any) -> Any:
        """Per-thread Hyperscan scratch space (one per database)."""
        cache: dict[int, Any] | None = getattr(self._local, "scratch", None)
        if cache is None:
            cache = self._local.scratch = {}
        s = cache.get(id(db))
        if s is None:
            s = cache[id(db)] = _hyperscan().Scratch(db)
        return s

    def _hyperscan_matches(self, data: bytes, active: frozenset[int]) -> Matches:
        assert self._hs is not None
        hsdb = self._hs
        hits: list[tuple[int, int]] = []
        append = hits.append

        def on_match(eid: int, _from: int, to: int, _flags: int, _ctx: object) -> bool:
            append((eid, to))
            return len(hits) >= MAX_HITS

        try:
            hsdb.db.scan(data, match_event_handler=on_match, scratch=self._scratch(hsdb.db))
        except hsdb.hs.ScanTerminated:
            raise _HitsOverflow() from None

        # Windows per rule: [end - width - MARGIN, end + MARGIN] for regex triggers (the match
        # ends at the hit, or one byte before it), [end - width - MARGIN, end + width + MARGIN]
        # for keyword triggers (the match contains the keyword).
        windows: dict[int, list[tuple[int, int]]] = {}
        n = len(data)
        plan = hsdb.plan
        for eid, end in hits:
            ri = plan.rule[eid]
            if ri not in active:
                continue
            w = self.rules[ri].max_width
            windows.setdefault(ri, []).append(
                (max(0, end - w - MARGIN), min(n, end + (w if plan.wide[eid] else 0) + MARGIN))
            )
        out: Matches = {}
        for ri in sorted(hsdb.re_only & active):
            out[ri] = self.rules[ri].pattern.finditer(data)
        for ri in sorted(windows):
            out[ri] = self._in_windows(data, ri, windows[ri])
        return out

    def _hyperscan_rules(self, data: bytes) -> set[int]:
        """The rules with at least one candidate in `data` (one report per expression)."""
        assert self._hs is not None
        hsdb = self._hs
        found: set[int] = set()

        def on_match(eid: int, _from: int, _to: int, _flags: int, _ctx: object) -> None:
            found.add(eid)

        hsdb.single.scan(data, match_event_handler=on_match, scratch=self._scratch(hsdb.single))
        return {hsdb.plan.rule[e] for e in found}

    def _in_windows(self, data: bytes, ri: int, spans: list[tuple[int, int]]) -> Iterator[re.Match[bytes]]:
        """The rule's matches inside the merged windows, as a whole-buffer finditer finds them.

        Every real match lies inside the window of the hit (or keyword) that announced it, at
        least MARGIN bytes from the window's artificial end; a match closer to that end is an
        artefact of the cut (`$`, `\b` or a lookahead satisfied by the window's end) and is
        dropped: if it is real, the window of its own hit reports it.
        """
        pat = self.rules[ri].pattern
        n = len(data)
        for lo, hi in _merge(spans):
            limit = hi - MARGIN if hi < n else n
            for m in pat.finditer(data, lo, hi):
                if m.end() > limit:
                    break
                yield m

    def _re_matches(self, data: bytes, active: Sequence[int]) -> Matches:
        """Keyword prefilter: a rule runs only around its keywords' occurrences (or over the
        whole buffer when they are so frequent that the windows would cover it anyway).

        Each distinct keyword costs one substring search of the lower-cased buffer (C speed,
        stopping at the first occurrence when present), plus one more per occurrence; this,
        not the regexes, is the backend's cost on large files.
        """
        lowered = data.lower()
        n = len(data)
        cap = n // (2 * MARGIN) + 1  # beyond this many occurrences the windows cover the buffer
        found: dict[bytes, list[int] | None] = {}  # keyword -> positions ([] absent, None dense)

        def positions(k: bytes) -> list[int] | None:
            if k in found:
                return found[k]
            out: list[int] | None = []
            i = lowered.find(k)
            while i >= 0 and out is not None:
                out.append(i)
                if len(out) > cap:
                    out = None
                else:
                    i = lowered.find(k, i + 1)
            found[k] = out
            return out

        result: Matches = {}
        for ri in active:
            kws = self._keywords[ri]
            pattern = self.rules[ri].pattern
            if not kws:  # limited by `paths` to a few named files
                result[ri] = pattern.finditer(data)
                continue
            reach = self.rules[ri].max_width + MARGIN
            spans: list[tuple[int, int]] = []
            whole = False
            for k in kws:
                pos = positions(k)
                if pos is None or len(spans) + len(pos) > n // (2 * reach):
                    whole = True
                    break
                spans += [(max(0, i + len(k) - reach), min(n, i + reach)) for i in pos]
            if whole:
                result[ri] = pattern.finditer(data)
            elif spans:
                result[ri] = self._in_windows(data, ri, spans)
        return result

    # ------------------------------------------------------------------ confirmation

    def _confirm(self, data: bytes, matches: Matches) -> list[_Candidate]:
        """Keyword, stopword, placeholder, allowlist and entropy checks; validators.

        Each rule contributes at most `max_matches_per_file` findings: its matches are
        consumed lazily, in order, so a file of a million tokens costs a thousand.
        """
        cap = self.config.max_matches_per_file
        out: list[_Candidate] = []
        for ri in sorted(matches):
            rule = self.rules[ri]
            kws = self._keywords[ri]
            kept = 0
            for m in matches[ri]:
                ms, me = m.span()
                if kws and not any(k in data[ms:me].lower() for k in kws):
                    continue
                s, e = m.span(rule.secret_group)
                if s < 0:
                    s, e = ms, me
                secret = data[s:e].decode("utf-8", "replace")
                low = secret.lower()
                if any(w in low for w in self._stopwords) or any(w in low for w in rule.allow_stopwords):
                    continue
                if is_placeholder(secret) or any(p.search(secret) for p in rule.allow_regexes):
                    continue
                ent = shannon_entropy(secret)
                if rule.entropy is not None and ent < effective_threshold(secret, rule.entropy):
                    continue
                validated = VALIDATORS[rule.validator](secret) if rule.validator else None
                out.append(_Candidate(rule, s, e, ms, me, validated, ent))
                kept += 1
                if kept >= cap:
                    break
        return self._resolve_overlaps(out)

    def _resolve_overlaps(self, cands: list[_Candidate]) -> list[_Candidate]:
        """Drop generic and superseded findings that cover the same bytes as a specific one."""
        cands.sort(key=lambda c: (c.start, c.end, c.rule.id))
        starts = [c.start for c in cands]
        drop: set[int] = set()
        for i, c in enumerate(cands):
            generic = c.rule.category == "generic"
            sup = self._superseded_by.get(c.rule.id, frozenset())
            if not generic and not sup:
                continue
            # An overlapping candidate starts before c.end and, being at most MAX_RULE_WIDTH
            # long, no earlier than c.start - MAX_RULE_WIDTH.
            for j in range(bisect_left(starts, c.start - MAX_RULE_WIDTH), bisect_right(starts, c.end - 1)):
                o = cands[j]
                if j == i or o.end <= c.start or o.start >= c.end:
                    continue
                if (generic and o.rule.category != "generic") or o.rule.id in sup:
                    drop.add(i)
                    break
        return [c for i, c in enumerate(cands) if i not in drop]

    def _finish(self, data: bytes, path: str, cands: list[_Candidate]) -> list[SecretMatch]:
        cands.sort(key=lambda c: (c.start, c.end, c.rule.id))
        if len(cands) > self.config.max_matches_per_file:
            cands = cands[: self.config.max_matches_per_file]
        out: list[SecretMatch] = []
        pos = 0  # newlines are counted incrementally: O(file) for all findings together
        line = 1
        line_start = 0
        col_pos = 0  # characters between line_start and col_pos are known: col_chars
        col_chars = 0
        for c in cands:
            nl = data.count(b"\n", pos, c.start)
            if nl:
                line += nl
                line_start = data.rfind(b"\n", pos, c.start) + 1
                col_pos, col_chars = line_start, 0
            pos = c.start
            col_chars += _chars(data, col_pos, c.start)
            col_pos = c.start
            inner = data.count(b"\n", c.start, c.end)
            if inner:
                end_line_start = data.rfind(b"\n", c.start, c.end) + 1
                end_col = _chars(data, end_line_start, c.end) + 1
            else:
                end_col = col_chars + _chars(data, c.start, c.end) + 1
            r = c.rule
            out.append(
                SecretMatch(
                    rule_id=r.id,
                    title=r.title,
                    severity=r.severity,
                    category=r.category,
                    provider=r.provider,
                    path=path,
                    line=line,
                    column=col_chars + 1,
                    end_line=line + inner,
                    end_column=end_col,
                    start=c.start,
                    end=c.end,
                    match_start=c.match_start,
                    match_end=c.match_end,
                    secret=data[c.start : c.end].decode("utf-8", "replace"),
                    match=data[c.match_start : c.match_end].decode("utf-8", "replace"),
                    validated=c.validated,
                    entropy=c.entropy,
                    fingerprint=fingerprint(r.id, data[c.start : c.end]),
                    secret_offset=len(data[c.match_start : c.start].decode("utf-8", "replace")),
                )
            )
        return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out
