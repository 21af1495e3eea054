"""rpm's own "ndb" package store, `Packages.db` (openSUSE/SLE 15 since 2020, some Fedora spins).

Layout (all integers little-endian): a 32-byte header (magic `RpmP`, version 0, generation,
number of 4 KiB slot pages, next package index) shares the first slot page with the slots;
every 16-byte slot is magic `Slot`, package index, block offset and block count, where a block
is 16 bytes and offset 0 marks a free slot. Each package blob lives at its block offset as
magic `BlbS`, package index, generation and length, the header blob, zero padding, and a tail
of Adler-32 (over everything before the tail), length again and magic `BlbE`.

rpm trusts none of this when it reads and neither do we: slots must point behind the slot area
and inside the file, blobs must carry their slot's index and a matching length and tail. Like
rpm when it fetches a package, we do not recompute the Adler-32 (rpm only does in `--verifydb`):
a package rpm would list is listed, and a damaged header still fails its own checks. Reads go
through a seekable file, one blob at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

HEADER_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_HEAD_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"
PAGE_SIZE = 4096
SLOT_SIZE = 16
BLOCK_SIZE = 16
HEADER_SIZE = 32
BLOB_HEAD = 16
BLOB_TAIL = 12
#: rpm grows the slot area a page at a time; far more pages than any real system has.
MAX_SLOT_PAGES = 4096
MAX_BLOB = 0x10000000 + 0x100000


def iter_ndb_blobs(f: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    """(package index, header blob) for every used slot, in slot order."""
    f.seek(0)
    header = f.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE or header[:4] != HEADER_MAGIC:
        raise ValueError("Packages.db: not an rpm ndb package database (bad magic)")
    version, _generation, slot_pages, _next = struct.unpack_from("<4I", header, 4)
    if version != 0:
        raise ValueError(f"Packages.db: unsupported version {version}")
    if slot_pages == 0 or slot_pages > MAX_SLOT_PAGES:
        raise ValueError(f"Packages.db: {slot_pages} slot pages")
    if size % BLOCK_SIZE:
        raise ValueError(f"Packages.db: size {size} is not a multiple of {BLOCK_SIZE}")
    if slot_pages * PAGE_SIZE > size:
        raise ValueError(f"Packages.db: {slot_pages} slot pages do not fit in {size} bytes (truncated database)")
    file_blocks = size // BLOCK_SIZE
    first_blob_block = slot_pages * PAGE_SIZE // BLOCK_SIZE
    f.seek(0)
    slot_area = f.read(slot_pages * PAGE_SIZE)
    if len(slot_area) != slot_pages * PAGE_SIZE:
        raise ValueError("Packages.db: slot area is truncated")
    slots: list[tuple[int, int, int]] = []
    for off in range(HEADER_SIZE, len(slot_area), SLOT_SIZE):
        if slot_area[off : off + 4] != SLOT_MAGIC:
            raise ValueError(f"Packages.db: slot at byte {off} has a bad magic")
        pkgidx, blkoff, blkcnt = struct.unpack_from("<3I", slot_area, off + 4)
        if blkoff == 0:
            continue  # free slot
        if pkgidx == 0 or blkcnt == 0 or blkoff < first_blob_block or blkoff + blkcnt > file_blocks:
            raise ValueError(f"Packages.db: slot for package {pkgidx} points at blocks {blkoff}+{blkcnt}")
        slots.append((pkgidx, blkoff, blkcnt))
    for pkgidx, blkoff, blkcnt in slots:
        yield pkgidx, _read_blob(f, pkgidx, blkoff, blkcnt)


def _read_blob(f: IO[bytes], pkgidx: int, blkoff: int, blkcnt: int) -> bytes:
    span = blkcnt * BLOCK_SIZE
    if span < BLOB_HEAD + BLOB_TAIL or span > MAX_BLOB:
        raise ValueError(f"Packages.db: blob of package {pkgidx} spans {span} bytes")
    f.seek(blkoff * BLOCK_SIZE)
    raw = f.read(span)
    if len(raw) != span:
        raise ValueError(f"Packages.db: blob of package {pkgidx} is truncated")
    magic, idx, _gen, length = struct.unpack_from("<4sIII", raw, 0)
    if magic != BLOB_HEAD_MAGIC or idx != pkgidx:
        raise ValueError(f"Packages.db: slot of package {pkgidx} does not point at its blob")
    if (BLOB_HEAD + length + BLOB_TAIL + BLOCK_SIZE - 1) // BLOCK_SIZE != blkcnt:
        raise ValueError(f"Packages.db: blob of package {pkgidx} has length {length} for {blkcnt} blocks")
    _adler, tail_len, tail_magic = struct.unpack_from("<II4s", raw, span - BLOB_TAIL)
    if tail_magic != BLOB_TAIL_MAGIC or tail_len != length:
        raise ValueError(f"Packages.db: blob of package {pkgidx} has a bad tail")
    return raw[BLOB_HEAD : BLOB_HEAD + length]
