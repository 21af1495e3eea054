"""Per-layer analysis cache: SQLite in the cache directory, keyed by diff_id and analyzer version.

Two images that share a base layer share its entries, and adding an analyzer later only
re-reads layers for that analyzer. Entries are zlib-compressed JSON, never pickles, so a
tampered cache file can at worst make us re-analyze. A corrupt database is moved aside (not
deleted) and rebuilt; a cache failure never fails a scan.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.image import WALKER_VERSION
from customhouse.log import get_logger
from customhouse.model import AnalysisResult, FileInfo, OSInfo, Package

if TYPE_CHECKING:
    from customhouse.image.walker import LayerResult

log = get_logger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layer_files (
    diff_id TEXT NOT NULL, walker INTEGER NOT NULL, data BLOB NOT NULL, stored REAL NOT NULL,
    PRIMARY KEY (diff_id, walker));
CREATE TABLE IF NOT EXISTS layer_results (
    diff_id TEXT NOT NULL, analyzer TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL,
    stored REAL NOT NULL, PRIMARY KEY (diff_id, analyzer, version));
CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, data BLOB NOT NULL, stored REAL NOT NULL);
"""


def _pack(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def _files_to_rows(lr: LayerResult) -> dict[str, Any]:
    return {
        "f": [[f.path, f.kind, f.size, f.mode, f.uid, f.gid, f.linkname] for f in lr.files],
        "w": lr.whiteouts,
        "o": lr.opaque_dirs,
        "x": lr.warnings.get("", []),
    }


class LayerCache:
    """Opened lazily; every method degrades to a miss (with a debug log) on SQLite trouble."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / "layers.db"
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self._quarantine(exc)
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc2:
                log.warning("layer cache %s unusable (%s); scanning without cache", self.path, exc2)
                self._broken = True
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            db.execute("DELETE FROM layer_files")
            db.execute("DELETE FROM layer_results")
            db.execute("DELETE FROM images")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        db.execute("SELECT count(*) FROM layer_files").fetchone()  # touch pages: detect corruption now
        return db

    def _quarantine(self, exc: Exception) -> None:
        aside = self.path.with_name(f"layers.db.corrupt-{int(time.time())}")
        log.warning("layer cache %s is corrupt (%s); moved to %s and starting afresh", self.path, exc, aside.name)
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.rename(Path(str(aside) + suffix))

    def load(self, diff_id: str, versions: dict[str, int]) -> tuple[LayerResult | None, set[str]]:
        """Return the cached layer (files plus whatever analyzers are cached) and the missing analyzers."""
        db = self._conn()
        missing = set(versions)
        if db is None or not diff_id:
            return None, missing
        try:
            row = db.execute(
                "SELECT data FROM layer_files WHERE diff_id=? AND walker=?", (diff_id, WALKER_VERSION)
            ).fetchone()
            if row is None:
                return None, missing
            from customhouse.image.walker import LayerResult

            files = _unpack(row[0])
            lr = LayerResult(
                diff_id=diff_id,
                files=[FileInfo(p, k, s, m, u, g, ln) for p, k, s, m, u, g, ln in files["f"]],
                whiteouts=list(files["w"]),
                opaque_dirs=list(files["o"]),
            )
            if files.get("x"):
                lr.warnings[""] = list(files["x"])
            for name, version in versions.items():
                r = db.execute(
                    "SELECT data FROM layer_results WHERE diff_id=? AND analyzer=? AND version=?",
                    (diff_id, name, version),
                ).fetchone()
                if r is None:
                    continue
                data = _unpack(r[0])
                lr.results[name] = [(p, AnalysisResult.from_dict(d)) for p, d in data["r"]]
                if data.get("x"):
                    lr.warnings[name] = list(data["x"])
                missing.discard(name)
            return lr, missing
        except (sqlite3.DatabaseError, zlib.error, ValueError, KeyError, TypeError) as exc:
            log.debug("layer cache read failed for %s: %s", diff_id, exc)
            return None, set(versions)

    def store(self, lr: LayerResult, analyzers: dict[str, int]) -> None:
        db = self._conn()
        if db is None or not lr.diff_id:
            return
        now = time.time()
        try:
            db.execute("BEGIN")
            db.execute(
                "INSERT OR REPLACE INTO layer_files VALUES (?,?,?,?)",
                (lr.diff_id, WALKER_VERSION, _pack(_files_to_rows(lr)), now),
            )
            for name, version in analyzers.items():
                data = {
                    "r": [[p, r.to_dict()] for p, r in lr.results.get(name, [])],
                    "x": lr.warnings.get(name, []),
                }
                db.execute(
                    "INSERT OR REPLACE INTO layer_results VALUES (?,?,?,?,?)",
                    (lr.diff_id, name, version, _pack(data), now),
                )
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            log.debug("layer cache write failed for %s: %s", lr.diff_id, exc)
            try:
                db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def load_image(self, key: str) -> tuple[OSInfo | None, list[Package], tuple[str, ...]] | None:
        """The finished inventory of an image whose layers and analyzers are all known."""
        db = self._conn()
        if db is None:
            return None
        try:
            row = db.execute("SELECT data FROM images WHERE key=?", (key,)).fetchone()
            if row is None:
                return None
            data = _unpack(row[0])
            os_info = OSInfo.from_dict(data["os"]) if data.get("os") else None
            return os_info, [Package.from_dict(p) for p in data["packages"]], tuple(data.get("warnings", ()))
        except (sqlite3.DatabaseError, zlib.error, ValueError, KeyError, TypeError) as exc:
            log.debug("image cache read failed for %s: %s", key, exc)
            return None

    def store_image(
        self, key: str, os_info: OSInfo | None, packages: Iterable[Package], warnings: Iterable[str]
    ) -> None:
        db = self._conn()
        if db is None:
            return
        data = {
            "os": os_info.to_dict() if os_info else None,
            "packages": [p.to_dict() for p in packages],
            "warnings": list(warnings),
        }
        try:
            db.execute("INSERT OR REPLACE INTO images VALUES (?,?,?)", (key, _pack(data), time.time()))
        except sqlite3.DatabaseError as exc:
            log.debug("image cache write failed for %s: %s", key, exc)

    def clear(self) -> None:
        db = self._conn()
        if db is not None:
            db.execute("DELETE FROM layer_files")
            db.execute("DELETE FROM layer_results")
            db.execute("DELETE FROM images")
            db.execute("VACUUM")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
