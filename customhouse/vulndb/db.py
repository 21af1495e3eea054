"""Read side of the vulnerability database: opened read-only, schema checked, errors explained.

Every failure to use the database is a `DatabaseError` (exit 4) whose message says what to do
(`customhouse db update`), because a missing or corrupt database is the one error a user of a
scanner meets first and must be able to fix without reading code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from customhouse.errors import DatabaseError
from customhouse.vulndb.schema import META_BUILT, META_SCHEMA, SCHEMA_VERSION

HINT = "run `customhouse db update` (or `customhouse db build --from DIR` offline)"


def default_db_path(cache_dir: Path) -> Path:
    return cache_dir / "db" / "customhouse.db"


_OPEN = '{"ranges":[{"type":"ECOSYSTEM","events":[["introduced","0"]]}],"versions":[]}'
_FIXED_PREFIXES = (
    '{"ranges":[{"type":"ECOSYSTEM","events":[["introduced","0"],["fixed",',
    '{"ranges":[{"type":"SEMVER","events":[["introduced","0"],["fixed",',
)
_FIXED_SUFFIX = ']]}],"versions":[]}'
# The SQL that sorts rows into open / simple fixed / other without decoding JSON in Python.
_CLASSIFY = (
    "CASE WHEN ranges = ? THEN '' WHEN fixed_version != '' AND (ranges = ? || json_quote(fixed_version) || ? "
    "OR ranges = ? || json_quote(fixed_version) || ?) THEN NULL ELSE ranges END"
)
_CLASSIFY_ARGS = (_OPEN, _FIXED_PREFIXES[0], _FIXED_SUFFIX, _FIXED_PREFIXES[1], _FIXED_SUFFIX)


def _fixed_json(version: str) -> str:
    return _FIXED_PREFIXES[0] + json.dumps(version) + _FIXED_SUFFIX


class AffectedRow:
    """One advisory row; `ranges` JSON is decoded only when the row is not one of the two
    shapes distro feeds write by the hundred thousand (open, or introduced 0 / fixed X),
    which matching evaluates from `fixed_version` directly."""

    __slots__ = (
        "_ranges",
        "ecosystem",
        "fix_state",
        "fixed_version",
        "package",
        "ranges_json",
        "severity",
        "source",
        "vuln_id",
    )

    def __init__(
        self,
        vuln_id: str,
        ecosystem: str,
        package: str,
        ranges_json: str | None,
        fix_state: str,
        fixed_version: str,
        severity: str,
        source: str,
    ) -> None:
        self.vuln_id = vuln_id
        self.ecosystem = ecosystem
        self.package = package
        self.ranges_json = ranges_json
        self.fix_state = fix_state
        self.fixed_version = fixed_version
        self.severity = severity
        self.source = source
        self._ranges: dict[str, Any] | None = None

    @property
    def ranges(self) -> dict[str, Any]:
        if self._ranges is None:
            # "" and None were classified by SQL (see VulnDB.affected): rebuild their JSON.
            text = self.ranges_json
            if text is None:
                text = _fixed_json(self.fixed_version)
            elif text == "":
                text = _OPEN
            try:
                self._ranges = json.loads(text)
            except ValueError:
                raise DatabaseError(f"corrupt range data for {self.vuln_id}; {HINT}") from None
            if not isinstance(self._ranges, dict):
                raise DatabaseError(f"corrupt range data for {self.vuln_id}; {HINT}")
        return self._ranges

    @property
    def simple(self) -> str | None:
        """The open range gives "" (every version affected), the introduced-0/fixed-X shape its
        fixed version, anything else None (evaluate the full ranges).

        `VulnDB.affected` classifies rows in SQL: `ranges_json` is "" for open ranges and None
        for the simple fixed shape, so the common rows never reach the JSON decoder."""
        text = self.ranges_json
        if text is None:
            return self.fixed_version
        if text in ("", _OPEN):
            return ""
        return None


@dataclass(frozen=True)
class VulnRecord:
    id: str
    source: str
    summary: str
    details: str
    published: str
    modified: str
    severity: str
    severity_source: str
    references: tuple[str, ...]
    cvss: tuple[tuple[str, str, float, str], ...]  # (version, vector, score, source)


class VulnDB:
    """A read-only connection; cheap to open, every query indexed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise DatabaseError(f"{path}: vulnerability database not found; {HINT}")
        try:
            # immutable=1: no locks, no journal, nothing written next to the file.
            self._db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self._db.execute("SELECT 1 FROM affected LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(
                f"{path}: vulnerability database is corrupt or not a database ({exc}); {HINT}"
            ) from None
        version = rows.get(META_SCHEMA, "")
        if version != str(SCHEMA_VERSION):
            raise DatabaseError(
                f"{path}: database schema {version or '?'} but this customhouse needs {SCHEMA_VERSION}; {HINT}"
            )
        self.meta: dict[str, str] = rows

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: vulnerability database is corrupt ({exc}); {HINT}") from None

    # ------------------------------------------------------------------ queries

    @property
    def built_at(self) -> datetime | None:
        raw = self.meta.get(META_BUILT, "")
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None

    def age_days(self) -> float | None:
        built = self.built_at
        if built is None:
            return None
        if built.tzinfo is None:
            built = built.replace(tzinfo=UTC)
        return (datetime.now(UTC) - built).total_seconds() / 86400

    def affected(self, ecosystem: str, packages: Iterable[str]) -> list[AffectedRow]:
        names = sorted(set(packages))
        if not names:
            return []
        marks = ",".join("?" * len(names))
        rows = self._query(
            f"SELECT vuln_id, ecosystem, package, {_CLASSIFY}, fix_state, fixed_version, severity, source "
            f"FROM affected WHERE ecosystem = ? AND package IN ({marks})",
            [*_CLASSIFY_ARGS, ecosystem, *names],
        )
        return [AffectedRow(*r) for r in rows]

    def ecosystems(self) -> set[str]:
        return {r[0] for r in self._query("SELECT DISTINCT ecosystem FROM affected")}

    def vulnerabilities(self, ids: Iterable[str]) -> dict[str, VulnRecord]:
        out: dict[str, VulnRecord] = {}
        for chunk in _chunks(sorted(set(ids)), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._query(
                "SELECT id, source, summary, details, published, modified, severity, severity_source, "
                f"references_json, cvss_json FROM vulnerabilities WHERE id IN ({marks})",
                chunk,
            ):
                try:
                    refs = tuple(json.loads(r[8]))
                    cvss = tuple((str(v), str(vec), float(s), str(src)) for v, vec, s, src in json.loads(r[9]))
                except (ValueError, TypeError):
                    raise DatabaseError(f"{self.path}: corrupt record {r[0]}; {HINT}") from None
                out[r[0]] = VulnRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], refs, cvss)
        return out

    def aliases(self, ids: Iterable[str]) -> dict[str, set[str]]:
        """Direct aliases of each id, in both directions (the table stores each pair once)."""
        out: dict[str, set[str]] = {}
        for chunk in _chunks(sorted(set(ids)), 400):
            marks = ",".join("?" * len(chunk))
            for a, b in self._query(
                f"SELECT id, alias FROM aliases WHERE id IN ({marks}) UNION SELECT alias, id FROM aliases "
                f"WHERE alias IN ({marks})",
                [*chunk, *chunk],
            ):
                out.setdefault(a, set()).add(b)
        return out

    def cvss(self, cves: Iterable[str]) -> dict[str, list[tuple[str, str, float, str]]]:
        out: dict[str, list[tuple[str, str, float, str]]] = {}
        for chunk in _chunks(sorted(set(cves)), 500):
            marks = ",".join("?" * len(chunk))
            for cve, source, version, vector, score in self._query(
                f"SELECT cve, source, version, vector, score FROM cvss WHERE cve IN ({marks})", chunk
            ):
                out.setdefault(cve, []).append((version, vector, float(score), source))
        return out

    def kev(self, cves: Iterable[str]) -> dict[str, tuple[str, str, str, str]]:
        """cve -> (name, date_added, due_date, ransomware use)."""
        out = {}
        for chunk in _chunks(sorted(set(cves)), 500):
            marks = ",".join("?" * len(chunk))
            for cve, name, added, due, ransom in self._query(
                f"SELECT cve, name, date_added, due_date, ransomware FROM kev WHERE cve IN ({marks})", chunk
            ):
                out[cve] = (name, added, due, ransom)
        return out

    def epss(self, cves: Iterable[str]) -> dict[str, tuple[float, float]]:
        out = {}
        for chunk in _chunks(sorted(set(cves)), 500):
            marks = ",".join("?" * len(chunk))
            for cve, score, pct in self._query(
                f"SELECT cve, score, percentile FROM epss WHERE cve IN ({marks})", chunk
            ):
                out[cve] = (float(score), float(pct))
        return out

    def eol(self, distro: str, release: str) -> str:
        rows = self._query("SELECT eol_date FROM eol WHERE distro = ? AND release = ?", (distro, release))
        return str(rows[0][0]) if rows else ""

    def sources(self) -> list[dict[str, Any]]:
        cols = ("name", "url", "fetched_at", "records", "skipped", "sha256")
        return [
            dict(zip(cols, r, strict=True)) for r in self._query(f"SELECT {', '.join(cols)} FROM sources ORDER BY name")
        ]

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("vulnerabilities", "affected", "aliases", "cvss", "kev", "epss"):
            out[table] = int(self._query(f"SELECT count(*) FROM {table}")[0][0])
        return out


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
