"""rpm header blobs, as every rpmdb backend stores them.

A stored header is `il` (index entry count) and `dl` (data length) as big-endian 32-bit
integers, then `il` 16-byte index entries (tag, type, offset, count), then the `dl`-byte data
store the entries point into. Installed headers usually start with an immutable region entry
(the signed part of the package) followed by entries rpm added at install time; those later
"dribble" entries win over region entries with the same tag, as they do for rpm itself.

Everything here comes from an untrusted image, so every offset and count is checked against
the blob before it is used and a bad blob raises `ValueError` naming the defect: a header that
lies must cost a warning, never an out-of-range read or a long loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Tag data types.
NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(10)
_MAX_TYPE = I18NSTRING
_INT_FORMATS = {CHAR: "B", INT8: "B", INT16: ">H", INT32: ">I", INT64: ">Q"}
_ALIGN = {INT16: 2, INT32: 4, INT64: 8}
_STRING_TYPES = frozenset({STRING, STRING_ARRAY, I18NSTRING})

# Tags the cataloger reads.
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
TAG_LONGSIZE = 5009
TAG_MODULARITYLABEL = 5096

#: rpm refuses headers beyond these (HEADER_TAGS_MAX, HEADER_DATA_MAX); so do we.
MAX_ENTRIES = 0xFFFF
MAX_DATA = 0x0FFFFFFF
_ENTRY = struct.Struct(">IIiI")


@dataclass(frozen=True, slots=True)
class Entry:
    tag: int
    type: int
    offset: int
    count: int


class Header:
    """A validated header blob; typed getters decode one tag at a time, on demand."""

    __slots__ = ("_data", "_entries")

    def __init__(self, blob: bytes) -> None:
        if len(blob) < 8:
            raise ValueError(f"rpm header: {len(blob)} bytes, too short for the 8-byte preamble")
        il, dl = struct.unpack_from(">II", blob, 0)
        if il == 0 or il > MAX_ENTRIES:
            raise ValueError(f"rpm header: {il} index entries (allowed 1..{MAX_ENTRIES})")
        if dl > MAX_DATA:
            raise ValueError(f"rpm header: data store of {dl} bytes exceeds {MAX_DATA}")
        need = 8 + 16 * il + dl
        if len(blob) != need:
            raise ValueError(
                f"rpm header: claims {il} entries and {dl} data bytes ({need} bytes) but the blob has {len(blob)}"
            )
        data_start = 8 + 16 * il
        self._data = bytes(blob[data_start:])
        entries: dict[int, Entry] = {}
        for i in range(il):
            tag, typ, offset, count = _ENTRY.unpack_from(blob, 8 + 16 * i)
            if typ > _MAX_TYPE:
                raise ValueError(f"rpm header: entry {i} (tag {tag}) has unknown type {typ}")
            if count < 1 or count > dl:
                raise ValueError(f"rpm header: entry {i} (tag {tag}) has count {count} for {dl} data bytes")
            if offset < 0 or offset >= dl:
                raise ValueError(f"rpm header: entry {i} (tag {tag}) points at offset {offset} outside {dl} bytes")
            align = _ALIGN.get(typ, 1)
            if offset % align:
                raise ValueError(f"rpm header: entry {i} (tag {tag}) offset {offset} is not {align}-byte aligned")
            if typ in _INT_FORMATS or typ == BIN:
                width = 1 if typ == BIN else struct.calcsize(_INT_FORMATS[typ])
                if offset + width * count > dl:
                    raise ValueError(f"rpm header: entry {i} (tag {tag}) runs past the data store")
            if typ == STRING and count != 1:
                raise ValueError(f"rpm header: STRING entry {i} (tag {tag}) has count {count}")
            # Later entries (install-time dribbles) replace earlier region entries.
            entries[tag] = Entry(tag, typ, offset, count)
        self._entries = entries

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    @property
    def tags(self) -> frozenset[int]:
        return frozenset(self._entries)

    def _strings(self, e: Entry, limit: int) -> list[str]:
        """Up to `limit` NUL-terminated strings from the entry, each checked to end inside the store."""
        out: list[str] = []
        pos = e.offset
        data = self._data
        end_of_store = len(data)
        for _ in range(min(e.count, limit)):
            if pos >= end_of_store:
                raise ValueError(f"rpm header: tag {e.tag} string {len(out)} starts past the data store")
            nul = data.find(b"\0", pos)
            if nul < 0:
                raise ValueError(f"rpm header: tag {e.tag} string is not NUL-terminated inside the data store")
            out.append(data[pos:nul].decode("utf-8", "replace"))
            pos = nul + 1
        return out

    def string(self, tag: int) -> str | None:
        """A STRING, or the first (untranslated) value of an I18NSTRING or STRING_ARRAY."""
        e = self._entries.get(tag)
        if e is None:
            return None
        if e.type not in _STRING_TYPES:
            raise ValueError(f"rpm header: tag {tag} has type {e.type}, expected a string")
        return self._strings(e, 1)[0]

    def strings(self, tag: int) -> list[str]:
        e = self._entries.get(tag)
        if e is None:
            return []
        if e.type not in _STRING_TYPES:
            raise ValueError(f"rpm header: tag {tag} has type {e.type}, expected strings")
        return self._strings(e, e.count)

    def integer(self, tag: int) -> int | None:
        """The first value of a numeric tag."""
        e = self._entries.get(tag)
        if e is None:
            return None
        fmt = _INT_FORMATS.get(e.type)
        if fmt is None:
            raise ValueError(f"rpm header: tag {tag} has type {e.type}, expected an integer")
        value: int = struct.unpack_from(fmt, self._data, e.offset)[0]
        return value
