"""Feed parsers: each turns one upstream format into rows of the schema in `vulndb/schema.py`.

Every parser has the same contract: it reads one file (or one archive), hands what it
understood to a `Sink`, and counts what it could not understand in `FeedStats` instead of
raising. Upstream feeds are large, hand-maintained and occasionally wrong; one bad advisory
must cost that advisory, never the database build. Whole-file problems (unreadable, not the
expected format) are counted as one skip with the reason, so `db build` still finishes and
says what was left out.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

# Upper bounds on what one record may contribute; real advisories stay far below them.
MAX_RECORD_BYTES = 16 << 20  # one OSV JSON document
MAX_TEXT = 64 << 10  # characters of a summary or details field kept
MAX_SUMMARY = 1024
MAX_REFERENCES = 256
MAX_ALIASES = 512
MAX_ID = 128
MAX_VERSION = 256
MAX_NAME = 512


@dataclass(slots=True)
class Vuln:
    """One row of `vulnerabilities`; empty fields never overwrite what another feed stored."""

    id: str
    source: str
    summary: str = ""
    details: str = ""
    published: str = ""
    modified: str = ""
    severity: str = ""
    severity_source: str = ""
    references: list[str] = field(default_factory=list)
    cvss: list[tuple[str, str, float, str]] = field(default_factory=list)  # (version, vector, score, source)


@dataclass(slots=True)
class Affected:
    """One row of `affected`; `ranges` is the JSON text described in schema.py."""

    vuln_id: str
    ecosystem: str
    package: str
    ranges: str
    fix_state: str
    fixed_version: str
    severity: str
    source: str


class Sink(Protocol):
    """Where parsers put rows (the database writer, or a list in tests)."""

    def vuln(self, v: Vuln) -> None: ...

    def aliases(self, vuln_id: str, aliases: list[str]) -> None: ...

    def affected(self, rows: list[Affected]) -> None: ...

    def cvss(self, cve: str, source: str, version: str, vector: str, score: float) -> None: ...

    def kev(self, cve: str, name: str, date_added: str, due_date: str, ransomware: str) -> None: ...

    def epss(self, cve: str, score: float, percentile: float, date: str) -> None: ...


@dataclass
class FeedStats:
    """What one source contributed: shown by `db status` and at the end of `db build`."""

    name: str
    url: str
    fetched_at: str = ""
    sha256: str = ""
    records: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first record it hit
    notes: Counter[str] = field(default_factory=Counter)  # not errors: withdrawn, unmapped ecosystems ...

    def skip(self, reason: str, where: str = "") -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        if where and reason not in self.examples:
            self.examples[reason] = where[:200]

    def summary(self) -> str:
        """`3 skipped (2 bad JSON, 1 wrong type)`, or '' when nothing was skipped."""
        if not self.skipped:
            return ""
        parts = ", ".join(f"{n} {r}" for r, n in self.reasons.most_common(4))
        return f"{self.skipped} skipped ({parts})"


class Malformed(Exception):
    """Raised inside a parser for one record; the parser catches it and counts a skip."""


# ------------------------------------------------------------------ field helpers

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_WS = re.compile(r"\s+")


def is_cve(text: str) -> bool:
    return _CVE.fullmatch(text) is not None


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A string field, or '' when absent; a present non-string is malformed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"expected a string, got {type(value).__name__}")
    return value[:limit]


def ident(value: Any, what: str = "id") -> str:
    """An advisory or alias id: a short string without whitespace."""
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a string")
    out = value.strip()
    if not out or len(out) > MAX_ID or _WS.search(out):
        raise Malformed(f"{what} is empty, too long or has spaces")
    return out


def version_text(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_VERSION:
        raise Malformed("version is not a short non-empty string")
    return value


def str_list(value: Any, limit: int, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a list")
    out: list[str] = []
    for item in value[:limit]:
        if not isinstance(item, str):
            raise Malformed(f"{what} holds a {type(item).__name__}")
        out.append(item)
    return out


_SEVERITY_WORDS = {
    "critical": "critical",
    "high": "high",
    "important": "high",  # Red Hat's word
    "medium": "medium",
    "moderate": "medium",  # GitHub's and Red Hat's word
    "low": "low",
    "negligible": "negligible",  # Ubuntu
    "unimportant": "unimportant",  # Debian
}


def severity_word(value: Any) -> str:
    """A feed's textual severity in our vocabulary (see schema notes in build.py), or ''."""
    if not isinstance(value, str):
        return ""
    return _SEVERITY_WORDS.get(value.strip().rstrip("*").strip().lower(), "")


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _encode(value: str) -> str:
    return str(_ENCODER.encode(value))


@lru_cache(maxsize=1 << 16)
def fixed_range(version: str) -> str:
    """The `ranges` JSON of a distro fix (introduced 0, fixed `version`).

    Distro feeds produce this one shape hundreds of thousands of times, mostly with versions
    seen before, so it is built from a template and cached instead of serialised each time.
    """
    return (
        '{"ranges":[{"type":"ECOSYSTEM","events":[["introduced","0"],["fixed",'
        + _encode(version)
        + ']]}],"versions":[]}'
    )


# Every version affected, no fix (yet): Debian "open", distro OSV entries without a fix.
OPEN_RANGE = '{"ranges":[{"type":"ECOSYSTEM","events":[["introduced","0"]]}],"versions":[]}'
