"""A forward-only tar reader for layer streams.

Why not `tarfile`: in stream mode it re-slices its whole read buffer for every 512-byte header,
which made header parsing 70 % of a cold scan, and it keeps every member in a list. Layers
need far less than tarfile offers: headers (ustar, GNU long names, PAX records incl. global
ones, base-256 numbers) and each member's bytes once, in order. Everything here is bounded:
metadata records have a size cap, and any inconsistency is an `InputError` naming the layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from customhouse.errors import HostileInputError, InputError

BLOCK = 512
CHUNK = 1 << 20
MAX_META = 1 << 20  # PAX records and GNU long names larger than this are refused
_ZERO = bytes(BLOCK)

# typeflag -> our kind; anything else is skipped with a warning by the caller.
KINDS = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "char",
    b"4": "block",
    b"5": "dir",
    b"6": "fifo",
    b"D": "dir",  # GNU dump directory: a directory with a listing as data
}


@dataclass(slots=True)
class TarEntry:
    name: str
    kind: str | None
    size: int  # bytes of data that follow the header (0 for links and specials)
    mode: int
    uid: int
    gid: int
    linkname: str
    typeflag: bytes
    sparse: bool = False


def _num(field: bytes, what: str, where: str) -> int:
    """Octal ASCII, or GNU base-256 when the high bit of the first byte is set."""
    try:  # the common case, kept cheap: "0000644\0" or "0000644 "
        return int(field.rstrip(b"\x00 ") or b"0", 8)
    except ValueError:
        pass
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:  # negative base-256: only meaningful for mtime; clamp
            return 0
        return value | ((field[0] & 0x3F) << (8 * (len(field) - 1)))
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InputError(f"{where}: corrupt tar header (bad {what} field {field!r})") from None


def _str(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes, where: str) -> dict[str, str]:
    """Parse `LEN key=value\\n` records; LEN counts the whole record including itself."""
    out: dict[str, str] = {}
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:  # padding after the last record
            break
        sp = data.find(b" ", pos, pos + 24)
        if sp == -1:
            raise InputError(f"{where}: corrupt PAX header (no record length)")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise InputError(f"{where}: corrupt PAX header (bad record length)") from None
        end = pos + length
        if length <= 0 or end > n or data[end - 1 : end] != b"\n":
            raise InputError(f"{where}: corrupt PAX header (record overruns its block)")
        key, eq, value = data[sp + 1 : end - 1].partition(b"=")
        if not eq:
            raise InputError(f"{where}: corrupt PAX header (record without '=')")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos = end
    return out


class TarReader:
    """Iterate entries of a tar stream; between iterations, unread member data is skipped."""

    def __init__(self, stream: IO[bytes], where: str, seekable: bool = False, end: int | None = None) -> None:
        self._s = stream
        self._where = where
        self._seekable = seekable  # archives on disk: skip member data by seeking
        self._end = end  # size of a seekable stream: seeking past it means a truncated tar
        self._left = 0  # unread data bytes of the current entry
        self._pad = 0  # padding after the current entry's data
        self._global: dict[str, str] = {}
        # Streams are consumed in whole chunks: headers are sliced out of the chunk and skipped
        # data is never copied, which is most of what a layer is.
        self._chunk = b""
        self._pos = 0

    def _take(self, n: int, eof_ok: bool = False) -> bytes:
        """Exactly `n` bytes (or b"" at a clean end of stream when `eof_ok`)."""
        if self._seekable:
            data = self._s.read(n)
        else:
            pos = self._pos
            if pos + n <= len(self._chunk):
                self._pos = pos + n
                return self._chunk[pos : pos + n]
            parts = [self._chunk[pos:]]
            got = len(parts[0])
            while got < n:
                chunk = self._s.read(CHUNK)
                if not chunk:
                    break
                take = min(n - got, len(chunk))
                parts.append(chunk[:take])
                got += take
                self._chunk, self._pos = chunk, take
            if got < n:
                self._chunk, self._pos = b"", 0
            data = b"".join(parts)
        if len(data) != n and not (eof_ok and not data):
            raise InputError(f"{self._where}: layer tar is truncated")
        return data

    def _read_exact(self, n: int) -> bytes:
        return self._take(n)

    def _skip(self, n: int) -> None:
        if self._seekable:
            pos = self._s.seek(n, 1)
            if self._end is not None and pos > self._end:
                raise InputError(f"{self._where}: layer tar is truncated")
            return
        while n > 0:
            avail = len(self._chunk) - self._pos
            if avail <= 0:
                self._chunk, self._pos = self._s.read(CHUNK), 0
                if not self._chunk:
                    raise InputError(f"{self._where}: layer tar is truncated")
                continue
            k = n if n < avail else avail
            self._pos += k
            n -= k

    def read(self, n: int = -1) -> bytes:
        """Read from the current entry's data (never past it)."""
        if n < 0 or n > self._left:
            n = self._left
        if n == 0:
            return b""
        data = self._take(n)
        self._left -= len(data)
        return data

    def _finish_entry(self) -> None:
        if self._left or self._pad:
            self._skip(self._left + self._pad)
            self._left = self._pad = 0

    def _meta_data(self, size: int) -> bytes:
        if size > MAX_META:
            raise HostileInputError(f"{self._where}: tar metadata record of {size} bytes exceeds {MAX_META}")
        data = self._read_exact(size)
        pad = -size % BLOCK
        if pad:
            self._skip(pad)
        return data

    def __iter__(self) -> Iterator[TarEntry]:
        where = self._where
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        while True:
            self._finish_entry()
            hdr = self._take(BLOCK, eof_ok=True)
            if not hdr:
                return  # EOF without end-of-archive blocks: accepted, as GNU tar does
            if hdr == _ZERO:
                return  # end of archive; trailing bytes are drained by the caller
            # Five octal fields per header: parsed inline in the common case (a function call
            # each was a tenth of a cold scan); anything unusual goes through _num.
            try:
                stored = int(hdr[148:156].rstrip(b"\x00 ") or b"0", 8)
                size = int(hdr[124:136].rstrip(b"\x00 ") or b"0", 8)
                mode = int(hdr[100:108].rstrip(b"\x00 ") or b"0", 8) & 0o7777
                uid = int(hdr[108:116].rstrip(b"\x00 ") or b"0", 8)
                gid = int(hdr[116:124].rstrip(b"\x00 ") or b"0", 8)
            except ValueError:
                stored = _num(hdr[148:156], "checksum", where)
                size = _num(hdr[124:136], "size", where)
                mode = _num(hdr[100:108], "mode", where) & 0o7777
                uid = _num(hdr[108:116], "uid", where)
                gid = _num(hdr[116:124], "gid", where)
            computed = sum(hdr) - sum(hdr[148:156]) + 8 * 32
            if stored != computed:
                signed = (
                    sum(b - 256 if b > 127 else b for b in hdr)
                    - sum(b - 256 if b > 127 else b for b in hdr[148:156])
                    + 8 * 32
                )
                if stored != signed:
                    raise InputError(f"{where}: corrupt tar header (checksum mismatch)")
            typeflag = hdr[156:157]
            if typeflag in (b"x", b"g", b"L", b"K"):
                data = self._meta_data(size)
                if typeflag == b"x":
                    pax.update(_pax(data, where))
                elif typeflag == b"g":
                    self._global.update(_pax(data, where))
                elif typeflag == b"L":
                    long_name = data.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
                else:
                    long_link = data.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
                continue
            name = _str(hdr[0:100])
            if hdr[257:263] == b"ustar\x00":
                prefix = _str(hdr[345:500])
                if prefix:
                    name = f"{prefix}/{name}"
            linkname = _str(hdr[157:257]) if hdr[157] else ""
            merged = {**self._global, **pax} if self._global else pax
            if long_name is not None:
                name = long_name
            if long_link is not None:
                linkname = long_link
            if merged:
                name = merged.get("path", name)
                linkname = merged.get("linkpath", linkname)
                if "size" in merged:
                    try:
                        size = int(merged["size"])
                    except ValueError:
                        raise InputError(f"{where}: corrupt PAX size {merged['size']!r}") from None
            if merged:
                if merged.get("uid", "").isdigit():
                    uid = int(merged["uid"])
                if merged.get("gid", "").isdigit():
                    gid = int(merged["gid"])
            sparse = typeflag == b"S" or "GNU.sparse.major" in merged or "GNU.sparse.size" in merged
            if typeflag == b"S" and hdr[482]:
                raise InputError(f"{where}: old-format GNU sparse entry {name!r} with extension headers is unsupported")
            kind = "file" if typeflag == b"S" else KINDS.get(typeflag)
            # As tar itself: data follows regular files and entries of unknown type (and GNU
            # dump directories, whose data is a listing); links and specials carry none.
            data_size = size if (kind == "file" or kind is None or typeflag == b"D") else 0
            if data_size < 0:
                raise InputError(f"{where}: corrupt tar header (negative size)")
            long_name = long_link = None
            pax = {}
            self._left = data_size
            self._pad = -data_size % BLOCK
            yield TarEntry(name, kind, data_size if kind == "file" else 0, mode, uid, gid, linkname, typeflag, sparse)
