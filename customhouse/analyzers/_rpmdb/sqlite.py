"""rpm's SQLite backend (`rpmdb.sqlite`): table `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`.

The file is opened from memory with `sqlite3.Connection.deserialize`, so nothing is written
anywhere (no temporary copy, no journal, no WAL or shared-memory file next to it). rpm keeps
its database in WAL mode; SQLite cannot open an in-memory image whose header says WAL, so the
two header bytes that say so are set back to the rollback-journal value on our private copy.
Pages the last writer left only in `rpmdb.sqlite-wal` are not seen; rpm checkpoints on close,
so images built by dnf/zypper/microdnf have none.

A hostile image could name a view `Packages` with a recursive query, or make the B-tree walk
long: the schema must say `Packages` is a table, and a progress handler aborts any statement
that runs longer than a budget of virtual-machine steps proportional to the file size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

MAGIC = b"SQLite format 3\x00"
_WAL_MODE = 2
_LEGACY_MODE = 1


def iter_sqlite_blobs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(hnum, header blob) for every row of `Packages`, in hnum order."""
    if not data.startswith(MAGIC):
        raise ValueError("rpmdb.sqlite: not an SQLite 3 database (bad magic)")
    if len(data) < 100:
        raise ValueError("rpmdb.sqlite: truncated SQLite header")
    image: bytes | bytearray = data
    if data[18] == _WAL_MODE or data[19] == _WAL_MODE:
        image = bytearray(data)
        image[18] = image[19] = _LEGACY_MODE
    conn = sqlite3.connect(":memory:")
    budget = [max(1_000, len(data) // 16)]

    def progress() -> int:
        budget[0] -= 1
        return 1 if budget[0] <= 0 else 0

    try:
        try:
            conn.deserialize(image)
            # Every 1000 virtual-machine instructions costs one unit of the budget.
            conn.set_progress_handler(progress, 1000)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")
            kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if kind is None:
                raise ValueError("rpmdb.sqlite: no Packages table")
            if kind[0] != "table":
                raise ValueError(f"rpmdb.sqlite: Packages is a {kind[0]}, not a table")
            rows = conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")
            for hnum, blob in rows:
                if not isinstance(hnum, int) or not isinstance(blob, bytes):
                    raise ValueError(f"rpmdb.sqlite: row {hnum!r} does not hold a header blob")
                yield hnum, blob
        except sqlite3.DatabaseError as exc:
            if "interrupted" in str(exc):
                raise ValueError("rpmdb.sqlite: reading took too long (malformed or hostile database)") from None
            raise ValueError(f"rpmdb.sqlite: {exc}") from None
    finally:
        conn.close()
