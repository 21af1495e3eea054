"""The secret rules: loading and validating the data file, and the documentation table.

Rules are data (`customhouse/secrets/data/rules.yaml`, format in docs/secrets.md): one
mapping per rule with its id, title, provider, category, severity, regular expression,
keywords and test strings. Everything is checked when the file is loaded, so a broken rule
is one clear line (`SecretRulesError`, exit code 3) naming the file, the rule and the reason
instead of a crash or a silent miss in the middle of a scan:

- the id is unique and well formed; the severity, category and validator are known ones;
- the regex compiles (as a bytes pattern, the way both backends use it), cannot match the
  empty string and has a bounded width: no `*`, `+` or `{n,}`, because the engine confirms
  Hyperscan hits on a window of at most that width around them and because a bounded pattern
  is the first defence against catastrophic backtracking in the `re` fallback;
- the keywords are lower-case and non-empty (a finding's match must contain one of them);
- allowlist regexes compile; test strings only use known macros (customhouse.secrets.samples).

`python -m customhouse.secrets --markdown` prints the rule table of docs/secrets.md,
`--update-doc docs/secrets.md` rewrites it in place, `--count` prints rule counts by category
and provider.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import re
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from customhouse.errors import InputError
from customhouse.secrets.validators import VALIDATORS

_sre_parse: Any = importlib.import_module("re._parser")

SEVERITIES = ("critical", "high", "medium", "low", "info")
CATEGORIES: dict[str, str] = {
    "cloud": "Cloud providers",
    "source-control": "Source control and code hosting",
    "ci-cd": "CI/CD and developer platforms",
    "package-registry": "Package registries",
    "infrastructure": "Infrastructure, containers and secret stores",
    "communication": "Messaging, e-mail and webhooks",
    "payment": "Payments and commerce",
    "ai": "AI and machine-learning platforms",
    "observability": "Monitoring and observability",
    "saas": "SaaS and productivity APIs",
    "database": "Databases and connection strings",
    "private-key": "Private keys",
    "token": "Generic token formats",
    "credential-file": "Credential and configuration files",
    "generic": "Generic detectors",
}
MAX_RULE_WIDTH = 20_000  # longest text one rule may match (a PEM/PGP private key block fits)
MAX_RULES_FILE_BYTES = 8 << 20
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_RULE_KEYS = frozenset(
    {
        "id",
        "title",
        "provider",
        "category",
        "severity",
        "regex",
        "keywords",
        "entropy",
        "validator",
        "paths",
        "allowlist",
        "supersedes",
        "description",
        "references",
        "tests",
    }
)
DATA_FILE = "data/rules.yaml"


class SecretRulesError(InputError):
    """A rules file (built-in or `--secret-rules`) is malformed: one line, file, rule, reason."""


@dataclass(frozen=True)
class RuleTest:
    """One test string: a template (customhouse.secrets.samples) and the path to scan it as."""

    text: str
    path: str = ""
    validated: bool | None = None  # expected `validated` of the finding, when stated


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule. What costs time to build (the compiled regex, its width) is built on first use.

    A scan touches only the rules Hyperscan (or the keyword prefilter) announces, usually a
    handful per tree, so compiling all ~300 confirmation regexes up front was most of the
    start-up of `customhouse fs` and `config`; the regex text is checked when a rules file is
    validated (tests, user rule files, the first load of each built-in rules version).
    """

    id: str
    title: str
    provider: str
    category: str
    severity: str
    regex: str
    keywords: tuple[str, ...]
    entropy: float | None = None
    validator: str | None = None
    paths: tuple[str, ...] = ()
    allowlist_regexes: tuple[str, ...] = ()  # sources; `allow_regexes` compiles them
    allow_stopwords: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    description: str = ""
    references: tuple[str, ...] = ()
    positives: tuple[RuleTest, ...] = ()
    negatives: tuple[RuleTest, ...] = ()
    source: str = ""
    known_width: int = 0  # max_width when already known (validated load, rules cache), else 0

    def __repr__(self) -> str:
        return f"Rule({self.id!r})"

    @functools.cached_property
    def pattern(self) -> re.Pattern[bytes]:
        """The confirmation regex (rewritten by `literal_first` for `re`'s fast literal search)."""
        return re.compile(literal_first(self.regex).encode("ascii"))

    @functools.cached_property
    def max_width(self) -> int:
        """The longest text the regex can match: the window confirmed around a candidate."""
        return self.known_width or regex_width(self.regex.encode("ascii"))[1]

    @functools.cached_property
    def secret_group(self) -> int | str:
        """The group `scan` reports: `secret` when the regex names it, else 0 (the whole match)."""
        return "secret" if "secret" in self.pattern.groupindex else 0

    @functools.cached_property
    def allow_regexes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(a) for a in self.allowlist_regexes)

    def fingerprint_fields(self) -> tuple[object, ...]:
        """Everything that changes what the rule finds (cache keys of scan results)."""
        return (
            self.id,
            self.severity,
            self.regex,
            self.keywords,
            self.entropy,
            self.validator,
            self.paths,
            self.allowlist_regexes,
            self.allow_stopwords,
            self.supersedes,
            self.title,
            self.provider,
            self.category,
        )


# ---------------------------------------------------------------------------- loading


def builtin_rules_bytes() -> bytes:
    """The shipped rules file (next to this module; through importlib.resources when the package
    is not a directory, e.g. a zip, which costs more to import than the whole rest of loading)."""
    here = Path(__file__).with_name("data") / "rules.yaml"
    try:
        return here.read_bytes()
    except OSError:
        from importlib import resources

        return resources.files("customhouse.secrets").joinpath(DATA_FILE).read_bytes()


BUILTIN_SOURCE = "customhouse/secrets/" + DATA_FILE


@functools.lru_cache(maxsize=4)
def load_builtin_rules(cache_dir: str | Path | None = None, validate: bool = False) -> tuple[Rule, ...]:
    """The rules shipped with the package (once per process and cache directory; immutable).

    Start-up of every scanning command goes through here, so the shipped file is not
    validated on each load: the test suite validates it, and so does the first load of each
    version of it when there is a cache directory, after which the parsed rules are read from
    `cache_dir/secrets/rules-<hash>.json` (JSON: a damaged entry is ignored and rebuilt).
    Without a cache directory the file is parsed but its regexes are left to first use.
    """
    raw = builtin_rules_bytes()
    if validate:
        return parse_rules(raw, BUILTIN_SOURCE)
    if cache_dir is None:
        return parse_rules(raw, BUILTIN_SOURCE, validate=False)
    cache_file = _rules_cache_file(Path(cache_dir), raw)
    cached = _read_rules_cache(cache_file)
    if cached is not None:
        return cached
    rules = parse_rules(raw, BUILTIN_SOURCE)
    _write_rules_cache(cache_file, rules)
    return rules


def load_rules_file(path: str | Path) -> tuple[Rule, ...]:
    """A user's rules file, always validated in full: a bad rule is one line naming it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_RULES_FILE_BYTES:
            raise SecretRulesError(f"{p}: rules file is {size} bytes, more than the {MAX_RULES_FILE_BYTES} allowed")
        raw = p.read_bytes()
    except OSError as e:
        raise SecretRulesError(f"{p}: cannot read rules file: {e.strerror or e}") from None
    return parse_rules(raw, str(p))


def load_rules(
    extra: str | Path | None = None, cache_dir: str | Path | None = None, validate: bool = False
) -> tuple[Rule, ...]:
    """The built-in rules plus those of `extra`, whose ids must not collide with them."""
    rules = load_builtin_rules(str(cache_dir) if cache_dir is not None else None, validate)
    if extra is None:
        return rules
    more = load_rules_file(extra)
    known = {r.id for r in rules}
    for r in more:
        if r.id in known:
            raise SecretRulesError(f"{r.source}: rule {r.id}: id already used by the built-in rules")
    allr = rules + more
    _check_supersedes(allr)
    return allr


# ---------------------------------------------------------------------------- rules cache

#: Bump when the cached record of a rule changes shape or meaning.
RULES_CACHE_REVISION = 1
RULES_CACHE_KEEP = 4  # cached rule files kept in cache_dir/secrets/ (other versions, checkouts)
_T = TypeVar("_T")
_TUPLE_FIELDS = ("keywords", "paths", "allowlist_regexes", "allow_stopwords", "supersedes", "references")
_STR_FIELDS = ("id", "title", "provider", "category", "severity", "regex", "description")


def cache_key(*parts: bytes) -> str:
    """A name for a cache entry derived from exactly `parts`: CRC-32, Adler-32 and the length.

    Not a cryptographic hash, on purpose: the cache holds what this program derived from its
    own rules file (or from rule files the user already trusts with the scan), so there is no
    adversary to resist, only accidental collisions between versions, which 64 bits of two
    different checksums plus the length make negligible. `zlib` is already loaded; OpenSSL's
    SHA-256 was the cost of importing `hashlib` (3 ms) on every start-up."""
    crc, adler, size = 0, 1, 0
    for p in parts:
        crc, adler, size = zlib.crc32(p, crc), zlib.adler32(p, adler), size + len(p) + 1
        crc, adler = zlib.crc32(b"\x00", crc), zlib.adler32(b"\x00", adler)
    return f"{crc:08x}{adler:08x}{size:x}"


def _rules_cache_file(cache_dir: Path, raw: bytes) -> Path:
    from customhouse import __version__

    key = cache_key(f"customhouse-secret-rules-v{RULES_CACHE_REVISION}".encode(), __version__.encode(), raw)
    return cache_dir / "secrets" / f"rules-{key}.json"


def _record(r: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {k: getattr(r, k) for k in (*_STR_FIELDS, *_TUPLE_FIELDS)}
    d.update(entropy=r.entropy, validator=r.validator, known_width=r.max_width)
    d["tests"] = [[[t.text, t.path, t.validated] for t in ts] for ts in (r.positives, r.negatives)]
    return d


def _from_record(d: dict[str, Any], source: str) -> Rule:
    """A rule from its cached record; anything unexpected raises (the entry is then rebuilt)."""
    if not all(isinstance(d[k], str) for k in _STR_FIELDS):
        raise TypeError("string field")
    fields: dict[str, Any] = {k: d[k] for k in _STR_FIELDS}
    for k in _TUPLE_FIELDS:
        fields[k] = tuple(d[k])
        if not all(isinstance(x, str) for x in fields[k]):
            raise TypeError("list field")
    entropy, validator, width = d["entropy"], d["validator"], d["known_width"]
    if not (entropy is None or isinstance(entropy, float)) or not (validator is None or validator in VALIDATORS):
        raise TypeError("entropy or validator")
    if not isinstance(width, int) or not 0 < width <= MAX_RULE_WIDTH:
        raise TypeError("width")
    pos, neg = (tuple(_built(RuleTest, text=str(t), path=str(p), validated=v if isinstance(v, bool) else None)
                      for t, p, v in ts) for ts in d["tests"])  # fmt: skip
    fields.update(entropy=entropy, validator=validator, known_width=width, positives=pos, negatives=neg, source=source)
    return _built(Rule, **fields)


def _built(cls: type[_T], **values: Any) -> _T:
    """An instance of frozen dataclass `cls` with every field given, as `copy` and `pickle`
    restore one: its `__dict__` set at once. The generated `__init__` goes through
    `object.__setattr__` once per field, and ~300 rules with ~1,000 test strings made that
    most of reading the rules cache, which every scanning command does on start."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _read_rules_cache(path: Path) -> tuple[Rule, ...] | None:
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("key") != path.stem:
            return None
        return tuple(_from_record(d, BUILTIN_SOURCE) for d in doc["rules"])
    except Exception:  # missing, truncated, edited, another format: parse the rules file again
        return None


def write_cache_file(path: Path, data: bytes, siblings: str, keep: int) -> None:
    """Put `data` at `path` atomically (a reader sees the old file or the whole new one) and keep
    only the `keep` newest files matching `siblings` next to it. A read-only or full cache
    directory is not an error: it only costs the next process the work again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        old = sorted(path.parent.glob(siblings), key=lambda f: f.stat().st_mtime, reverse=True)
        for stale in old[keep:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


def _write_rules_cache(path: Path, rules: Sequence[Rule]) -> None:
    body = json.dumps({"key": path.stem, "rules": [_record(r) for r in rules]}, separators=(",", ":"))
    write_cache_file(path, body.encode(), "rules-*.json", RULES_CACHE_KEEP)


# ---------------------------------------------------------------------------- parsing


def parse_rules(raw: bytes, source: str, validate: bool = True) -> tuple[Rule, ...]:
    """Parse a rules file. With `validate`, every regex is compiled and measured and every test
    string expanded, so a broken rule fails here; without, only the structure is checked and
    the regexes are compiled on first use (the shipped file, which the test suite validates)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(raw, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SecretRulesError(f"{source}: invalid YAML{where}: {problem}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise SecretRulesError(f"{source}: expected a mapping with a 'rules' list")
    if doc.get("version", 1) != 1:
        raise SecretRulesError(f"{source}: unsupported rules file version {doc.get('version')!r}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(doc["rules"]):
        rule = _parse_rule(item, source, i, validate)
        if rule.id in seen:
            raise SecretRulesError(f"{source}: rule {rule.id}: duplicate id")
        seen.add(rule.id)
        rules.append(rule)
    out = tuple(rules)
    _check_supersedes(out, partial=True)
    return out


def _check_supersedes(rules: Iterable[Rule], partial: bool = False) -> None:
    rs = list(rules)
    ids = {r.id for r in rs}
    for r in rs:
        for other in r.supersedes:
            if other not in ids and not partial:
                raise SecretRulesError(f"{r.source}: rule {r.id}: supersedes unknown rule {other}")


def _fail(source: str, rid: str, reason: str) -> SecretRulesError:
    return SecretRulesError(f"{source}: rule {rid}: {reason}")


def _str(item: Mapping[str, Any], key: str, source: str, rid: str, required: bool = True) -> str:
    v = item.get(key)
    if v is None:
        if required:
            raise _fail(source, rid, f"missing field '{key}'")
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        raise _fail(source, rid, f"field '{key}' must be a non-empty string")
    return v


def _str_list(item: Mapping[str, Any], key: str, source: str, rid: str, value: Any = None) -> tuple[str, ...]:
    v = item.get(key) if value is None else value
    if v is None:
        return ()
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _fail(source, rid, f"field '{key}' must be a list of non-empty strings")
    return tuple(v)


_LOOKBEHIND = re.compile(r"\(\?<!((?:\[(?:\\.|[^\]\\])*\]|\\.|[^()\[\\])+)\)")
_LITERAL_UNIT = re.compile(r"[A-Za-z0-9_:@/ #-]|\\[.$+*?{}()\[\]|^/\\-]")


def _group_end(regex: str, start: int) -> int | None:
    """Index of the `)` closing the group opened at `start`, None on a top-level `|` inside."""
    depth = 0
    i = start
    in_class = False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        elif c == "|" and depth == 1:
            return None
        i += 1
    return None


def literal_first(regex: str) -> str:
    """`(?<!X)(?P<secret>LIT...` rewritten as `(?P<secret>LIT(?<!XLIT)...`: the same matches.

    Python's `re` finds a literal prefix with a fast search but tries every position of the
    text when a pattern starts with an assertion, so the natural way to write "a token not
    glued to a longer word" runs ~50 times slower than the rewritten form. Only the exact
    shape above is rewritten (the group must not hold a top-level alternative, the literal
    must not be quantified); anything else is returned unchanged.
    """
    m = _LOOKBEHIND.match(regex)
    if not m or "|" in m.group(1):
        return regex
    rest = regex[m.end() :]
    group = ""
    if rest.startswith("(?P<secret>"):
        end = _group_end(regex, m.end())
        if end is None:
            return regex
        group, rest = "(?P<secret>", rest[len("(?P<secret>") :]
    elif _group_end("(" + rest + ")", 0) is None:
        return regex  # a top-level alternative: the assertion guards only the first branch
    units: list[str] = []
    pos = 0
    while (u := _LITERAL_UNIT.match(rest, pos)) is not None:
        units.append(u.group(0))
        pos = u.end()
    if units and pos < len(rest) and rest[pos] in "{*+?":
        pos -= len(units.pop())
    if not units:
        return regex
    lit = "".join(units)
    return f"{group}{lit}(?<!{m.group(1)}{lit}){rest[pos:]}"


def regex_width(pattern: bytes) -> tuple[int, int]:
    lo, hi = _sre_parse.parse(pattern).getwidth()
    return int(lo), int(hi)


def _parse_rule(item: Any, source: str, index: int, validate: bool = True) -> Rule:
    rid = f"#{index + 1}"
    if not isinstance(item, dict):
        raise _fail(source, rid, "expected a mapping")
    if isinstance(item.get("id"), str) and item["id"]:
        rid = item["id"]
    unknown = sorted(set(item) - _RULE_KEYS)
    if unknown:
        raise _fail(source, rid, f"unknown field '{unknown[0]}'")
    rid = _str(item, "id", source, rid)
    if not _ID.match(rid):
        raise _fail(source, rid, "id must be lower-case letters, digits and dashes (2-64 characters)")
    title = _str(item, "title", source, rid)
    provider = _str(item, "provider", source, rid)
    category = _str(item, "category", source, rid)
    if category not in CATEGORIES:
        raise _fail(source, rid, f"unknown category '{category}' (one of {', '.join(CATEGORIES)})")
    severity = _str(item, "severity", source, rid)
    if severity not in SEVERITIES:
        raise _fail(source, rid, f"unknown severity '{severity}' (one of {', '.join(SEVERITIES)})")

    regex = _str(item, "regex", source, rid)
    if not regex.isascii():
        raise _fail(source, rid, "regex must be ASCII (write other bytes as \\xHH)")
    pattern: re.Pattern[bytes] | None = None
    hi = 0
    if validate:
        try:
            lo, hi = regex_width(regex.encode("ascii"))
            pattern = re.compile(literal_first(regex).encode("ascii"))
        except re.error as e:
            raise _fail(source, rid, f"regex does not compile: {e}") from None
        if lo == 0:
            raise _fail(source, rid, "regex can match the empty string")
        if hi > MAX_RULE_WIDTH:
            raise _fail(
                source,
                rid,
                f"regex can match more than {MAX_RULE_WIDTH} bytes; "
                "bound every repetition ({m,n}, not * + or {n,})",
            )

    keywords = _str_list(item, "keywords", source, rid)
    paths = _str_list(item, "paths", source, rid)
    if not keywords and not paths:
        raise _fail(source, rid, "missing field 'keywords' (at least one, unless the rule is limited by 'paths')")
    for k in keywords:
        if k != k.lower() or not k.isascii() or not k.strip():
            raise _fail(source, rid, f"keyword {k!r} must be lower-case ASCII")

    entropy = item.get("entropy")
    if entropy is not None and (
        isinstance(entropy, bool) or not isinstance(entropy, int | float) or not 0 < entropy <= 8
    ):
        raise _fail(source, rid, "entropy must be a number of bits per character in (0, 8]")
    validator = item.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise _fail(source, rid, f"unknown validator {validator!r} (one of {', '.join(sorted(VALIDATORS))})")

    allow = item.get("allowlist") or {}
    if not isinstance(allow, dict) or set(allow) - {"regexes", "stopwords"}:
        raise _fail(source, rid, "allowlist must be a mapping with 'regexes' and/or 'stopwords'")
    allow_regexes = _str_list(item, "allowlist.regexes", source, rid, value=allow.get("regexes") or [])
    for a in allow_regexes if validate else ():
        try:
            re.compile(a)
        except re.error as e:
            raise _fail(source, rid, f"allowlist regex {a!r} does not compile: {e}") from None
    stopwords = tuple(
        s.lower() for s in _str_list(item, "allowlist.stopwords", source, rid, allow.get("stopwords") or [])
    )

    positives, negatives = _parse_tests(item.get("tests"), source, rid, validate)
    rule = Rule(
        id=rid,
        title=title,
        provider=provider,
        category=category,
        severity=severity,
        regex=regex,
        keywords=keywords,
        entropy=float(entropy) if entropy is not None else None,
        validator=validator,
        paths=paths,
        allowlist_regexes=allow_regexes,
        allow_stopwords=stopwords,
        supersedes=_str_list(item, "supersedes", source, rid),
        description=_str(item, "description", source, rid, required=False).strip(),
        references=_str_list(item, "references", source, rid),
        positives=positives,
        negatives=negatives,
        source=source,
        known_width=hi,
    )
    if pattern is not None:
        rule.__dict__["pattern"] = pattern  # compiled to validate it: keep it (cached_property slot)
    return rule


def _parse_tests(
    tests: Any, source: str, rid: str, validate: bool = True
) -> tuple[tuple[RuleTest, ...], tuple[RuleTest, ...]]:
    if tests is None:
        return (), ()
    if not isinstance(tests, dict) or set(tests) - {"positive", "negative"}:
        raise _fail(source, rid, "tests must be a mapping with 'positive' and 'negative' lists")
    out: list[tuple[RuleTest, ...]] = []
    for kind in ("positive", "negative"):
        items = tests.get(kind) or []
        if not isinstance(items, list):
            raise _fail(source, rid, f"tests.{kind} must be a list")
        parsed: list[RuleTest] = []
        for n, t in enumerate(items):
            if isinstance(t, str):
                t = {"text": t}
            if not isinstance(t, dict) or not isinstance(t.get("text"), str) or set(t) - {"text", "path", "validated"}:
                raise _fail(source, rid, f"tests.{kind}[{n}] must be a string or a mapping with text, path, validated")
            validated = t.get("validated")
            if validated is not None and not isinstance(validated, bool):
                raise _fail(source, rid, f"tests.{kind}[{n}].validated must be true or false")
            if validate:
                from customhouse.secrets import samples

                try:
                    samples.split_expected(samples.expand(t["text"], "check"))
                except samples.SampleError as e:
                    raise _fail(source, rid, f"tests.{kind}[{n}]: {e}") from None
            parsed.append(RuleTest(text=t["text"], path=str(t.get("path") or ""), validated=validated))
        out.append(tuple(parsed))
    return out[0], out[1]


# ---------------------------------------------------------------------------- documentation


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def markdown_table(rules: Iterable[Rule]) -> str:
    """The rule table of docs/secrets.md (tests/secrets checks that the doc is up to date)."""
    rs = sorted(rules, key=lambda r: (list(CATEGORIES).index(r.category), r.provider.lower(), r.id))
    by_cat = Counter(r.category for r in rs)
    lines = ["| category | rules |", "|---|---|"]
    lines += [f"| {CATEGORIES[c]} | {by_cat[c]} |" for c in CATEGORIES if by_cat[c]]
    lines.append(f"| **total** | **{len(rs)}** |")
    lines.append("")
    lines.append("| id | provider | title | severity | keywords | checks |")
    lines.append("|---|---|---|---|---|---|")
    for r in rs:
        checks = []
        if r.validator:
            checks.append(f"validator `{r.validator}`")
        if r.entropy is not None:
            checks.append(f"entropy ≥ {r.entropy:g}")
        if r.paths:
            checks.append("paths " + ", ".join(f"`{p}`" for p in r.paths))
        kws = ", ".join(f"`{_cell(k)}`" for k in r.keywords)
        lines.append(
            f"| `{r.id}` | {_cell(r.provider)} | {_cell(r.title)} | {r.severity} | {kws} | {'; '.join(checks)} |"
        )
    return "\n".join(lines) + "\n"


DOC_BEGIN = "<!-- BEGIN GENERATED RULE TABLE: python -m customhouse.secrets --update-doc docs/secrets.md -->"
DOC_END = "<!-- END GENERATED RULE TABLE -->"


def update_doc(text: str, table: str) -> str:
    """`text` with the part between the generated-table markers replaced by `table`."""
    start = text.find(DOC_BEGIN)
    end = text.find(DOC_END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {DOC_BEGIN!r} ... {DOC_END!r} section")
    return text[: start + len(DOC_BEGIN)] + "\n\n" + table + "\n" + text[end:]


def counts(rules: Iterable[Rule]) -> str:
    rs = list(rules)
    out = [f"{len(rs)} rules"]
    out += [f"  {c}: {n}" for c, n in sorted(Counter(r.category for r in rs).items())]
    out.append(f"{len({r.provider for r in rs})} providers")
    out += [f"  {p}: {n}" for p, n in sorted(Counter(r.provider for r in rs).items())]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m customhouse.secrets", description=__doc__.splitlines()[0])
    ap.add_argument("--rules", help="an extra rules file to load with the built-in ones")
    ap.add_argument("--markdown", action="store_true", help="print the rule table of docs/secrets.md")
    ap.add_argument("--count", action="store_true", help="print rule counts by category and provider")
    ap.add_argument("--update-doc", metavar="FILE", help="rewrite the generated rule table in FILE (docs/secrets.md)")
    args = ap.parse_args(argv)
    try:
        rules = load_rules(args.rules, validate=True)
    except SecretRulesError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    if args.update_doc:
        doc = Path(args.update_doc)
        doc.write_text(update_doc(doc.read_text(), markdown_table(rules)))
    if args.markdown:
        sys.stdout.write(markdown_table(rules))
    if args.count or not (args.markdown or args.update_doc):
        sys.stdout.write(counts(rules))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
