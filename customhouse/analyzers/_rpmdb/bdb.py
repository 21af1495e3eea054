"""Berkeley DB hash databases, as rpm up to 4.15 stored `Packages` (RHEL/CentOS <= 8, old SUSE).

Only what rpm's Packages file uses is read: a hash database (meta page 0, bucket pages found
through the meta page's `spares` table, bucket overflow chains through `next_pgno`) whose items
are either on the page (H_KEYDATA) or in chains of overflow pages (H_OFFPAGE) for the large
header blobs. The byte order is the writer's and is told by the magic number; checksummed
files (32-byte page headers) are read too. Encrypted files, duplicates and external blobs never
occur in an rpm database and are refused.

The file comes from an untrusted image: pages are read one at a time from a seekable file,
every page number is bounded by the meta page's `last_pgno`, a page seen twice means a loop, and
the number of page reads is capped by the number of pages, so a crafted file cannot make the
walk hang or read outside it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162
P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASHMETA = 8
P_HASH = 13
H_KEYDATA = 1
H_DUPLICATE = 2
H_OFFPAGE = 3
H_OFFDUP = 4
H_BLOB = 5
PAGE_HEADER = 26
CHKSUM_PAGE_HEADER = 32  # page header followed by a 4-byte checksum, padded
DBMETA_CHKSUM = 0x01
#: Larger items than rpm could ever store (a header is at most 256 MiB) are corruption.
MAX_ITEM = 0x10000000 + 0x100000


def is_bdb_hash(head: bytes) -> bool:
    if len(head) < 16:
        return False
    return HASH_MAGIC in (struct.unpack_from("<I", head, 12)[0], struct.unpack_from(">I", head, 12)[0])


class _HashFile:
    """Page access with the invariants checked once per page."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        f.seek(0)
        meta = f.read(512)
        if len(meta) < 224:
            raise ValueError("Berkeley DB: file too short for a meta page")
        le_magic = struct.unpack_from("<I", meta, 12)[0]
        be_magic = struct.unpack_from(">I", meta, 12)[0]
        if le_magic == HASH_MAGIC:
            self.order = "<"
        elif be_magic == HASH_MAGIC:
            self.order = ">"
        elif BTREE_MAGIC in (le_magic, be_magic):
            raise ValueError("Berkeley DB: a btree database, rpm's Packages is a hash database")
        else:
            raise ValueError("Berkeley DB: not a hash database (bad magic)")
        o = self.order
        version, pagesize = struct.unpack_from(o + "II", meta, 16)
        if not 8 <= version <= 10:
            raise ValueError(f"Berkeley DB: unsupported hash version {version}")
        if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
            raise ValueError(f"Berkeley DB: invalid page size {pagesize}")
        encrypt_alg, page_type, metaflags = meta[24], meta[25], meta[26]
        if encrypt_alg:
            raise ValueError("Berkeley DB: encrypted databases are not supported")
        if page_type != P_HASHMETA:
            raise ValueError(f"Berkeley DB: meta page has type {page_type}, expected a hash meta page")
        self.pagesize = pagesize
        self.overhead = CHKSUM_PAGE_HEADER if metaflags & DBMETA_CHKSUM else PAGE_HEADER
        self.last_pgno = struct.unpack_from(o + "I", meta, 32)[0]
        self.max_bucket = struct.unpack_from(o + "I", meta, 72)[0]
        self.spares: tuple[int, ...] = struct.unpack_from(o + "32I", meta, 96)
        if self.max_bucket > self.last_pgno or self.max_bucket.bit_length() >= len(self.spares):
            raise ValueError(f"Berkeley DB: {self.max_bucket + 1} buckets cannot fit in {self.last_pgno + 1} pages")
        # Each page is read at most once as a bucket page and once as an overflow page.
        self.reads_left = 2 * (self.last_pgno + 1) + 1

    def page(self, pgno: int) -> bytes:
        if pgno == 0 or pgno > self.last_pgno:
            raise ValueError(f"Berkeley DB: page number {pgno} outside 1..{self.last_pgno}")
        self.reads_left -= 1
        if self.reads_left < 0:
            raise ValueError("Berkeley DB: more page reads than pages (page loop)")
        self.f.seek(pgno * self.pagesize)
        data = self.f.read(self.pagesize)
        if len(data) != self.pagesize:
            raise ValueError(f"Berkeley DB: page {pgno} is past the end of the file (truncated database)")
        return data

    def u16(self, page: bytes, off: int) -> int:
        value: int = struct.unpack_from(self.order + "H", page, off)[0]
        return value

    def u32(self, page: bytes, off: int) -> int:
        value: int = struct.unpack_from(self.order + "I", page, off)[0]
        return value

    def bucket_page(self, bucket: int) -> int:
        return bucket + self.spares[bucket.bit_length()]

    def overflow(self, pgno: int, length: int) -> bytes:
        """Concatenate an overflow chain holding exactly `length` bytes."""
        if length == 0 or length > MAX_ITEM:
            raise ValueError(f"Berkeley DB: overflow item of {length} bytes")
        out = bytearray()
        seen: set[int] = set()
        while len(out) < length:
            if pgno in seen:
                raise ValueError(f"Berkeley DB: overflow chain loops at page {pgno}")
            seen.add(pgno)
            page = self.page(pgno)
            if page[25] != P_OVERFLOW:
                raise ValueError(f"Berkeley DB: page {pgno} in an overflow chain has type {page[25]}")
            chunk = self.u16(page, 22)
            if chunk == 0 or chunk > self.pagesize - self.overhead or chunk > length - len(out):
                raise ValueError(f"Berkeley DB: overflow page {pgno} claims {chunk} bytes")
            out += page[self.overhead : self.overhead + chunk]
            pgno = self.u32(page, 16)
        return bytes(out)

    def item(self, page: bytes, pgno: int, offsets: list[int], i: int) -> bytes:
        off = offsets[i]
        end = self.pagesize if i == 0 else offsets[i - 1]
        floor = self.overhead + 2 * len(offsets)
        if off < floor or off >= end or end > self.pagesize:
            raise ValueError(f"Berkeley DB: item {i} of page {pgno} has bad bounds {off}..{end}")
        kind = page[off]
        if kind == H_KEYDATA:
            return page[off + 1 : end]
        if kind == H_OFFPAGE:
            if end - off < 12:
                raise ValueError(f"Berkeley DB: short off-page reference on page {pgno}")
            return self.overflow(self.u32(page, off + 4), self.u32(page, off + 8))
        if kind in (H_DUPLICATE, H_OFFDUP):
            raise ValueError(f"Berkeley DB: duplicate items on page {pgno} (not an rpm Packages database)")
        if kind == H_BLOB:
            raise ValueError(f"Berkeley DB: external blob item on page {pgno} is not supported")
        raise ValueError(f"Berkeley DB: unknown item type {kind} on page {pgno}")


def iter_hash(f: IO[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of a Berkeley DB hash database, bucket by bucket."""
    db = _HashFile(f)
    seen: set[int] = set()
    for bucket in range(db.max_bucket + 1):
        pgno = db.bucket_page(bucket)
        first = True
        while pgno:
            if pgno in seen:
                raise ValueError(f"Berkeley DB: bucket chain loops at page {pgno}")
            seen.add(pgno)
            page = db.page(pgno)
            if first and page[25] == 0 and not any(page[8:26]):
                break  # a bucket page allocated by a split but never written: empty bucket
            first = False
            if db.u32(page, 8) != pgno:
                raise ValueError(f"Berkeley DB: page {pgno} says it is page {db.u32(page, 8)}")
            if page[25] not in (P_HASH, P_HASH_UNSORTED):
                raise ValueError(f"Berkeley DB: bucket page {pgno} has type {page[25]}")
            n = db.u16(page, 20)
            if n % 2 or db.overhead + 2 * n > db.pagesize:
                raise ValueError(f"Berkeley DB: page {pgno} claims {n} items")
            offsets = [db.u16(page, db.overhead + 2 * i) for i in range(n)]
            for i in range(0, n, 2):
                yield db.item(page, pgno, offsets, i), db.item(page, pgno, offsets, i + 1)
            pgno = db.u32(page, 16)


def iter_bdb_blobs(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(instance number, header blob) from an rpm `Packages` hash database.

    Keys are 4-byte instance numbers in the writer's byte order (the database's own); key 0
    holds rpm's next-instance counter, not a package.
    """
    order = "<"
    f.seek(0)
    head = f.read(16)
    if len(head) == 16 and struct.unpack_from(">I", head, 12)[0] == HASH_MAGIC:
        order = ">"
    for key, value in iter_hash(f):
        if len(key) != 4:
            raise ValueError(f"rpm Packages: key of {len(key)} bytes, expected a 4-byte instance number")
        instance: int = struct.unpack(order + "I", key)[0]
        if instance == 0:
            continue
        yield instance, value
