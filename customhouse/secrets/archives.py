"""Text inside the archives the Java cataloger opens: jar, war, ear and kin.

A Spring Boot jar carries its `application.properties`, a war its `WEB-INF/classes/*.yml`:
a credential there ships with the image as surely as one in a loose file, but the archive
as a whole is binary, which the engine skips. The image analyzer and `customhouse fs` hand
such an archive to `archive_members`, which yields the members that are text (and those of
archives nested in it) for the engine to scan, named `ARCHIVE!/MEMBER`
(`app.war!/WEB-INF/lib/x.jar!/config.yml`).

The archive is hostile input: the entry count is read from the end-of-central-directory
record before `zipfile` builds an object per entry, a member is refused by its declared size
and again by the bytes it actually inflates to, a member that claims to inflate more than
100:1 past 1 MiB is skipped as a likely zip bomb, all members of one top-level archive
share a budget of inflated bytes, and nesting stops three archives deep. Class files
and other members with a binary suffix are never inflated; the rest are sniffed like files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from customhouse.secrets.engine import SNIFF_BYTES, is_binary

if TYPE_CHECKING:
    import zipfile

#: The Java cataloger's archive suffixes (customhouse.analyzers.java.ARCHIVE_SUFFIXES).
ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".kar")
ZIP_MAGIC = b"PK\x03\x04"
MAX_ENTRIES = 100_000  # per archive; more is not a real jar
MAX_TOTAL_BYTES = 256 << 20  # inflated bytes read from one top-level archive, nested ones included
MAX_DEPTH = 3
MAX_RATIO = 100
RATIO_FLOOR = 1 << 20
#: Members never inflated: compiled code, images, native libraries, fonts.
BINARY_SUFFIXES = (
    ".class",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".so",
    ".dll",
    ".dylib",
    ".jnilib",
    ".ttf",
    ".otf",
    ".woff",
    ".woff2",
    ".bin",
    ".dat",
    ".ser",
)


def is_archive(path: str, head: bytes) -> bool:
    """A Java archive by name and by its first bytes."""
    return path.lower().endswith(ARCHIVE_SUFFIXES) and head.startswith(ZIP_MAGIC)


class _Budget:
    """Inflated bytes one top-level archive may still read (shared by its nested archives)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_TOTAL_BYTES


def archive_members(data: bytes, name: str, max_member: int) -> Iterator[tuple[str, bytes]]:
    """(`name!/member`, content) of every text member of the archive in `data`, nested archives
    included, in the archive's order. A malformed or refused archive yields what was read
    before the problem and stops: the engine reports secrets, the Java cataloger warns."""
    yield from _members(data, name, max_member, 0, _Budget())


def _entry_count(data: bytes) -> int:
    from customhouse.analyzers.java import zip_entry_count

    return zip_entry_count(io.BytesIO(data))


def _members(data: bytes, name: str, max_member: int, depth: int, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    import zipfile  # here: a tree without archives does not pay for zipfile and its imports

    try:
        if _entry_count(data) > MAX_ENTRIES:
            return
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # hostile or broken archive (BadZipFile, struct and zlib errors, ...)
        return
    with zf:
        for zi in zf.infolist():
            member = zi.filename
            low = member.lower()
            if member.endswith("/") or low.endswith(BINARY_SUFFIXES):
                continue
            nested = low.endswith(ARCHIVE_SUFFIXES)
            if nested and depth + 1 >= MAX_DEPTH:
                continue
            if zi.file_size > max_member or zi.file_size > budget.left:
                continue
            if zi.file_size > RATIO_FLOOR and zi.file_size > MAX_RATIO * max(zi.compress_size, 1):
                continue
            content = _inflate(zf, zi, min(max_member, budget.left))
            if content is None:
                continue
            budget.left -= len(content)
            shown = f"{name}!/{member}"
            if nested:
                if content.startswith(ZIP_MAGIC):
                    yield from _members(content, shown, max_member, depth + 1, budget)
                continue
            if not is_binary(content[:SNIFF_BYTES]):
                yield shown, content


def _inflate(zf: zipfile.ZipFile, zi: zipfile.ZipInfo, cap: int) -> bytes | None:
    """The member's bytes, or None when it inflates past `cap` (a lying header) or is broken."""
    buf = io.BytesIO()
    total = 0
    try:
        with zf.open(zi) as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > cap:
                    return None
                buf.write(chunk)
    except Exception:  # corrupt data (zlib.error, BadZipFile), unsupported compression, encryption
        return None
    return buf.getvalue()
