"""Build the vulnerability database from a mirror directory of feed files, atomically.

Mirror layout (what `db update` writes under `<cache>/vulndb/feeds`, what `db build --from DIR`
reads, and what `db build --from URL` expects to find under the URL):

    osv/<Ecosystem>/all.zip  or  osv/<Ecosystem>-all.zip    OSV bulk exports (any *.zip under osv/)
    osv/**/*.json, formats/osv-*.json                        loose OSV records
    alpine/secdb/<branch>/<repo>.json                        Alpine secdb (any */secdb/<branch>/*.json)
    debian/tracker.json[.gz], *debian*tracker*.json          Debian security tracker export
    debian/DSA-list, debian/DLA-list, *debian-DSA-list*      DSA/DLA announcement lists
    nvd/*.json[.gz], nvd-*.json                              NVD CVE API 2.0 response pages
    kev/*.json, *known_exploited*.json                       CISA KEV catalog
    epss/*.csv[.gz], *epss*.csv[.gz]                         FIRST EPSS scores

Other files are ignored, so `../shared/data` (which also holds images and root filesystems)
builds as it is. A `<file>.meta.json` sidecar written by the downloader supplies the URL,
fetch time and SHA-256 that `db status` shows; without one, the path and modification time.

Feeds are applied in a fixed order: distro feeds, then OSV, then NVD. A vulnerability id that
several feeds name gets one `vulnerabilities` row whose fields are filled by every feed in turn,
a later non-empty value replacing an earlier one, so NVD's description and severity win for
CVE ids while a distro-only id keeps what its feed said. `affected` rows are never merged:
the same package and id from two feeds gives two rows (with their own `source`), and the
matcher reports the id once. Severity words in `affected.severity` and
`vulnerabilities.severity` are critical, high, medium, low, plus `negligible` (Ubuntu) and
`unimportant` (Debian) kept as the distributions say them.

Atomicity: the database is written to a temporary file in the target's directory with the
journal and fsync off (a crash loses only the temporary file), then fsynced and renamed over
the target with `os.replace`. A lock file serialises builders of the same target; whoever holds
it removes temporary files left by builders that were killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from customhouse import __version__
from customhouse.errors import DatabaseError, InputError
from customhouse.log import get_logger
from customhouse.vulndb.feeds import Affected, FeedStats, Vuln
from customhouse.vulndb.schema import DDL, META_BUILDER, META_BUILT, META_SCHEMA, SCHEMA_VERSION

log = get_logger(__name__)

BATCH = 50_000
EOL_FILE = Path(__file__).resolve().parent.parent / "data" / "eol.json"
SIDECAR = ".meta.json"
Progress = Callable[[str, int, int], None]

# Processing order of feed kinds; see the module docstring for why it matters.
KIND_ORDER = ("alpine", "debian-tracker", "debian-dsa", "debian-dla", "osv-zip", "osv-json", "nvd", "kev", "epss")
_BRANCH_DIR = re.compile(r"v\d+\.\d+|edge")


@dataclass(frozen=True, slots=True)
class FeedFile:
    kind: str
    source: str
    path: Path
    rel: str


def classify(rel: str) -> tuple[str, str] | None:
    """(kind, source name) of a mirror file by its relative path, or None to ignore it."""
    p = PurePosixPath(rel)
    parts = [x.lower() for x in p.parts]
    if not parts:
        return None
    name = parts[-1]
    if any(x.startswith(".") for x in parts) or name.endswith((SIDECAR, ".part", ".tmp")):
        return None
    dirs = parts[:-1]
    if name.endswith(".zip"):
        if "osv" in dirs or name.endswith("all.zip"):
            if name == "all.zip" and len(p.parts) >= 2:
                eco = p.parts[-2]
            elif name.endswith("-all.zip"):
                eco = p.name[: -len("-all.zip")]
            else:
                eco = p.name[: -len(".zip")]
            return "osv-zip", f"osv:{eco}"
        return None
    is_json = name.endswith((".json", ".json.gz"))
    if is_json and len(dirs) >= 2 and dirs[-2] == "secdb" and _BRANCH_DIR.fullmatch(dirs[-1]):
        return "alpine", "alpine-secdb"
    if is_json and "tracker" in name and ("debian" in name or "debian" in dirs):
        return "debian-tracker", "debian-tracker"
    if (
        name in ("dsa-list", "dla-list")
        or name.startswith(("debian-dsa-list", "debian-dla-list"))
        or (name == "list" and dirs and dirs[-1] in ("dsa", "dla"))
    ):
        kind = "debian-dla" if "dla" in (name if name != "list" else dirs[-1]) else "debian-dsa"
        return kind, kind
    if is_json and (dirs[:1] == ["nvd"] or name.startswith("nvd")):
        return ("nvd", "nvd") if name != "state.json" else None
    if is_json and (dirs[:1] == ["kev"] or "known_exploited" in name):
        return "kev", "kev"
    if is_json and (dirs[:1] == ["osv"] or name.startswith("osv-")):
        return "osv-json", "osv:records"
    if name.endswith((".csv", ".csv.gz")) and (dirs[:1] == ["epss"] or "epss" in name):
        return "epss", "epss"
    return None


def discover(root: Path) -> list[FeedFile]:
    """Every feed file under `root`, in processing order."""
    found: list[FeedFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            rel = path.relative_to(root).as_posix()
            got = classify(rel)
            if got is not None and path.is_file():
                found.append(FeedFile(got[0], got[1], path, rel))
    found.sort(key=lambda f: (KIND_ORDER.index(f.kind), f.source.lower(), f.rel))
    return found


# ------------------------------------------------------------------ the writer


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_ddl() -> tuple[list[str], list[str]]:
    """(table statements, index statements): indexes are built after the bulk load, which is
    several times faster than maintaining them row by row."""
    tables: list[str] = []
    indexes: list[str] = []
    for stmt in DDL.split(";"):
        body = "\n".join(line.split("--")[0] for line in stmt.splitlines()).strip()
        if not body:
            continue
        (indexes if body.upper().startswith("CREATE INDEX") else tables).append(body)
    return tables, indexes


@contextlib.contextmanager
def db_lock(target: Path) -> Iterator[None]:
    """Exclusive right to replace `target`; stale temporary files are removed under it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    fh = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseError(
                f"{target}: another customhouse process is writing this database; wait for it to finish"
            ) from None
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        yield
    finally:
        fh.close()


def temp_path(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.{what}-{os.getpid()}.tmp")


def fsync_and_replace(tmp: Path, target: Path) -> None:
    """Make `tmp` durable, then atomically put it at `target` (and make the rename durable)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    dfd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


_UPSERT_VULN = """
INSERT INTO vulnerabilities (id, source, summary, details, published, modified, severity, severity_source,
                             references_json, cvss_json)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
  source = CASE WHEN excluded.summary <> '' OR excluded.details <> '' THEN excluded.source ELSE source END,
  summary = CASE WHEN excluded.summary <> '' THEN excluded.summary ELSE summary END,
  details = CASE WHEN excluded.details <> '' THEN excluded.details ELSE details END,
  published = CASE WHEN excluded.published <> '' THEN excluded.published ELSE published END,
  modified = CASE WHEN excluded.modified <> '' THEN excluded.modified ELSE modified END,
  severity_source = CASE WHEN excluded.severity <> '' THEN excluded.severity_source ELSE severity_source END,
  severity = CASE WHEN excluded.severity <> '' THEN excluded.severity ELSE severity END,
  references_json = CASE WHEN excluded.references_json <> '[]' THEN excluded.references_json
                         ELSE references_json END,
  cvss_json = CASE WHEN excluded.cvss_json <> '[]' THEN excluded.cvss_json ELSE cvss_json END
"""


class DatabaseWriter:
    """A `Sink` that bulk-loads rows into a fresh database file (the temporary one).

    Rows are buffered and written with executemany in large batches inside one transaction;
    the buffers are flushed in arrival order so the fill-in semantics of the vulnerability
    upsert follow the feed order.

    `affected` rows first go to a staging file next to the database and are copied into the
    real table at the end sorted by (ecosystem, package): a scan's lookups then read a few
    contiguous pages per package instead of rows scattered over the whole table (twice as
    fast in the matching benchmark), and the same feeds give the same file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stage = path.with_name(path.name + ".stage.tmp")
        for old in (path, self.stage):
            if old.exists():
                old.unlink()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("ATTACH DATABASE ? AS stage", (str(self.stage),))
        for schema in ("main", "stage"):
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "cache_size=-131072"):
                self.db.execute(f"PRAGMA {schema}.{pragma}")
        self.db.execute("PRAGMA temp_store=MEMORY")
        tables, self._indexes = _split_ddl()
        for stmt in tables:
            self.db.execute(stmt)
            if stmt.startswith("CREATE TABLE affected"):
                self.db.execute(stmt.replace("CREATE TABLE affected", "CREATE TABLE stage.affected", 1))
        self.db.execute("BEGIN")
        self._vulns: list[tuple[Any, ...]] = []
        self._aliases: list[tuple[str, str]] = []
        self._affected: list[tuple[str, ...]] = []
        self._cvss: list[tuple[Any, ...]] = []
        self._kev: list[tuple[str, ...]] = []
        self._epss: list[tuple[Any, ...]] = []
        self._pending = 0
        self._ids: set[str] = set()

    # Sink --------------------------------------------------------------

    def vuln(self, v: Vuln) -> None:
        bare = not (v.summary or v.details or v.published or v.modified or v.severity or v.references or v.cvss)
        if bare and v.id in self._ids:
            return  # a distro feed naming an id it has nothing to say about: one row is enough
        self._ids.add(v.id)
        refs = json.dumps(v.references, separators=(",", ":")) if v.references else "[]"
        cvss = json.dumps([list(c) for c in v.cvss], separators=(",", ":")) if v.cvss else "[]"
        self._vulns.append(
            (v.id, v.source, v.summary, v.details, v.published, v.modified, v.severity, v.severity_source, refs, cvss)
        )
        self._tick(1)

    def aliases(self, vuln_id: str, aliases: list[str]) -> None:
        self._aliases.extend((vuln_id, a) for a in aliases if a != vuln_id)
        self._tick(len(aliases))

    def affected(self, rows: list[Affected]) -> None:
        self._affected.extend(
            (r.vuln_id, r.ecosystem, r.package, r.ranges, r.fix_state, r.fixed_version, r.severity, r.source)
            for r in rows
        )
        self._tick(len(rows))

    def cvss(self, cve: str, source: str, version: str, vector: str, score: float) -> None:
        self._cvss.append((cve, source, version, vector, score))
        self._tick(1)

    def kev(self, cve: str, name: str, date_added: str, due_date: str, ransomware: str) -> None:
        self._kev.append((cve, name, date_added, due_date, ransomware))
        self._tick(1)

    def epss(self, cve: str, score: float, percentile: float, date: str) -> None:
        self._epss.append((cve, score, percentile, date))
        self._tick(1)

    # --------------------------------------------------------------------

    def _tick(self, n: int) -> None:
        self._pending += n
        if self._pending >= BATCH:
            self.flush()

    def flush(self) -> None:
        db = self.db
        if self._vulns:
            db.executemany(_UPSERT_VULN, self._vulns)
        if self._aliases:
            db.executemany("INSERT OR IGNORE INTO aliases (id, alias) VALUES (?, ?)", self._aliases)
        if self._affected:
            db.executemany("INSERT INTO stage.affected VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._affected)
        if self._cvss:
            db.executemany("INSERT OR REPLACE INTO cvss VALUES (?, ?, ?, ?, ?)", self._cvss)
        if self._kev:
            db.executemany("INSERT OR REPLACE INTO kev VALUES (?, ?, ?, ?, ?)", self._kev)
        if self._epss:
            db.executemany("INSERT OR REPLACE INTO epss VALUES (?, ?, ?, ?)", self._epss)
        for buf in (self._vulns, self._aliases, self._affected, self._cvss, self._kev, self._epss):
            buf.clear()
        self._pending = 0

    def finish(self, sources: list[FeedStats], meta: dict[str, str], eol: list[tuple[str, str, str]]) -> None:
        """Indexes, metadata, statistics; then close the file (the caller renames it)."""
        self.flush()
        db = self.db
        # The sort may not fit in memory: let it spill into the database's own directory.
        db.execute("PRAGMA temp_store=FILE")
        db.execute(f"PRAGMA temp_store_directory = {_sql_text(str(self.path.parent))}")
        try:
            db.execute(
                "INSERT INTO main.affected SELECT * FROM stage.affected "
                "ORDER BY ecosystem, package, vuln_id, source, ranges"
            )
            db.execute("COMMIT")
        finally:
            db.execute("PRAGMA temp_store_directory = ''")  # process-wide setting: put it back
        db.execute("DETACH DATABASE stage")
        self.stage.unlink()
        db.execute("BEGIN")
        for stmt in self._indexes:
            db.execute(stmt)
        db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        db.executemany(
            "INSERT OR REPLACE INTO sources (name, url, fetched_at, records, skipped, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(s.name, s.url, s.fetched_at, s.records, s.skipped, s.sha256) for s in sources],
        )
        db.executemany("INSERT OR REPLACE INTO eol (distro, release, eol_date) VALUES (?, ?, ?)", eol)
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.close()

    def abort(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        for path in (self.path, self.stage):
            with contextlib.suppress(OSError):
                path.unlink()


def _sql_text(value: str) -> str:
    """A SQL string literal (PRAGMA arguments cannot be bound parameters)."""
    return "'" + value.replace("'", "''") + "'"


def load_eol(path: Path = EOL_FILE) -> list[tuple[str, str, str]]:
    try:
        doc = json.loads(path.read_text())
        rows = [
            (str(distro), str(release), str(date))
            for distro, info in doc["distros"].items()
            for release, date in info["releases"].items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatabaseError(f"{path}: unreadable end-of-life table ({exc})") from None
    return rows


# ------------------------------------------------------------------ building


@dataclass
class BuildReport:
    path: Path
    sources: list[FeedStats]
    counts: dict[str, int]
    seconds: float
    size: int
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return sum(s.skipped for s in self.sources)

    def lines(self) -> list[str]:
        """The end-of-build report: one line per source, skips with their reasons."""
        out = [
            f"built {self.path} in {self.seconds:.1f} s ({self.size / 1e6:.1f} MB): "
            f"{self.counts.get('vulnerabilities', 0)} vulnerabilities, {self.counts.get('affected', 0)} affected "
            f"packages, {self.counts.get('cvss', 0)} CVSS, {self.counts.get('kev', 0)} KEV, "
            f"{self.counts.get('epss', 0)} EPSS"
        ]
        for s in self.sources:
            tail = f", {s.summary()}" if s.skipped else ""
            out.append(f"  {s.name}: {s.records} records{tail}")
        return out


def _read_sidecar(path: Path) -> dict[str, Any]:
    side = path.with_name(path.name + SIDECAR)
    try:
        doc = json.loads(side.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _common_url(urls: list[str]) -> str:
    if len(urls) == 1:
        return urls[0]
    prefix = os.path.commonprefix(urls)  # noqa: RUF071 - URLs, not paths: a character prefix is wanted
    cut = max(prefix.rfind("/"), prefix.rfind("?"))
    return prefix[: cut + 1] if cut >= 0 else prefix


def _source_stats(name: str, files: list[FeedFile], root: Path) -> FeedStats:
    urls: list[str] = []
    times: list[str] = []
    hashes: list[tuple[str, str]] = []
    for f in files:
        side = _read_sidecar(f.path)
        urls.append(str(side.get("url") or f.path))
        fetched = side.get("fetched_at")
        if not isinstance(fetched, str) or not fetched:
            fetched = datetime.fromtimestamp(f.path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        times.append(fetched)
        digest = side.get("sha256")
        hashes.append((f.rel, digest if isinstance(digest, str) and digest else _sha256_file(f.path)))
    if len(files) == 1:
        sha = hashes[0][1]
        url = urls[0]
    else:
        sha = hashlib.sha256("".join(f"{h}  {r}\n" for r, h in sorted(hashes)).encode()).hexdigest()
        remote = all("://" in u for u in urls)
        url = _common_url(urls) if remote else str(root / os.path.commonpath([f.rel for f in files]))
    return FeedStats(name=name, url=url, fetched_at=max(times), sha256=sha)


def _read(f: FeedFile, writer: DatabaseWriter, stats: FeedStats, nvd_seen: set[str]) -> None:
    from customhouse.vulndb.feeds import alpine, debian, epss, kev, nvd, osv

    if f.kind == "osv-zip":
        osv.read_zip(f.path, f.source, writer, stats)
    elif f.kind == "osv-json":
        osv.read_json(f.path, f.source, writer, stats)
    elif f.kind == "alpine":
        alpine.read_secdb(f.path, f.source, writer, stats)
    elif f.kind == "debian-tracker":
        debian.read_tracker(f.path, f.source, writer, stats)
    elif f.kind in ("debian-dsa", "debian-dla"):
        debian.read_advisory_list(f.path, f.source, writer, stats)
    elif f.kind == "nvd":
        nvd.read_page(f.path, f.source, writer, stats, nvd_seen)
    elif f.kind == "kev":
        kev.read_kev(f.path, f.source, writer, stats)
    elif f.kind == "epss":
        epss.read_epss(f.path, f.source, writer, stats)


def _discard(writer: DatabaseWriter | None, tmp: Path) -> None:
    if writer is not None:
        writer.abort()
    with contextlib.suppress(OSError):
        tmp.unlink()


def build_database(src: Path, target: Path, progress: Progress | None = None) -> BuildReport:
    """Build `target` from the mirror directory `src`; the old `target` stays until the end.

    Raises InputError (exit 3) when `src` holds no feed file; malformed records never raise.
    """
    src = src.resolve()
    if not src.is_dir():
        raise InputError(f"{src}: not a directory (expected a feed mirror; see `customhouse db build --help`)")
    files = discover(src)
    if not files:
        raise InputError(
            f"{src}: no feed files found (expected e.g. osv/<Ecosystem>-all.zip, alpine/secdb/<branch>/main.json, "
            "kev/known_exploited_vulnerabilities.json)"
        )
    from customhouse.vulndb.feeds import nvd

    nvd_files = nvd.page_order([f.path for f in files if f.kind == "nvd"])
    nvd_rank = {p: i for i, p in enumerate(nvd_files)}
    files.sort(key=lambda f: (KIND_ORDER.index(f.kind), nvd_rank.get(f.path, 0), f.source.lower(), f.rel))
    by_source: dict[str, list[FeedFile]] = {}
    for f in files:
        by_source.setdefault(f.source, []).append(f)
    eol = load_eol()
    t0 = time.perf_counter()
    with db_lock(target):
        tmp = temp_path(target, "build")
        writer: DatabaseWriter | None = None
        try:
            writer = DatabaseWriter(tmp)
            stats = {name: _source_stats(name, group, src) for name, group in by_source.items()}
            nvd_seen: set[str] = set()
            for i, f in enumerate(files):
                if progress is not None:
                    progress(f"{f.source}: {f.rel}", i, len(files))
                log.debug("reading %s as %s", f.path, f.kind)
                _read(f, writer, stats[f.source], nvd_seen)
            if progress is not None:
                progress("sorting and indexing", len(files), len(files))
            ordered = list(stats.values())
            meta = {
                META_SCHEMA: str(SCHEMA_VERSION),
                META_BUILT: _now(),
                META_BUILDER: f"customhouse {__version__}",
            }
            writer.finish(ordered, meta, eol)
            fsync_and_replace(tmp, target)
        except (sqlite3.Error, OSError) as exc:
            _discard(writer, tmp)
            raise DatabaseError(
                f"{target}: cannot write the database ({_why(exc)}); the old one is unchanged"
            ) from None
        except BaseException:
            _discard(writer, tmp)
            raise
    with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as check:
        counts = {
            t: int(check.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("vulnerabilities", "affected", "aliases", "cvss", "kev", "epss")
        }
    check.close()
    notes: dict[str, int] = {}
    for s in ordered:
        for k, v in s.notes.items():
            notes[f"{s.name}: {k}"] = v
    return BuildReport(target, ordered, counts, time.perf_counter() - t0, target.stat().st_size, notes)


# ------------------------------------------------------------------ status


def status(db_path: Path) -> dict[str, Any]:
    """What `db status` prints; opening goes through the reader so a broken file says so."""
    from customhouse.vulndb.db import VulnDB

    with VulnDB(db_path) as db:
        age = db.age_days()
        return {
            "path": str(db_path),
            "schema_version": int(db.meta.get(META_SCHEMA, "0") or 0),
            "built_at": db.meta.get(META_BUILT, ""),
            "builder": db.meta.get(META_BUILDER, ""),
            "age_days": round(age, 3) if age is not None else None,
            "size_bytes": db_path.stat().st_size,
            "sources": db.sources(),
            "counts": db.counts(),
        }


def check_age(db: Any, max_age_days: float) -> str | None:
    """A one-line warning when the database `db` (a VulnDB) is older than `max_age_days`.

    Scanning with stale data silently misses everything published since, so the scan says so;
    None when the database is fresh enough (or the limit is 0 or negative: check disabled).
    """
    if max_age_days <= 0:
        return None
    age = db.age_days()
    if age is None:
        return f"{db.path}: vulnerability database has no build time; run `customhouse db update`"
    if age > max_age_days:
        return (
            f"{db.path}: vulnerability database is {age:.0f} days old (limit {max_age_days:g}); "
            "run `customhouse db update`"
        )
    return None
