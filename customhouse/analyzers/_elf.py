"""Just enough ELF to find build metadata in binaries: headers, sections, virtual addresses.

Binary catalogers run on every executable in an image, and most executables are not the kind
they look for, so this reader is lazy on purpose: opening a file reads only the 64-byte
header; the program headers, the section-name table and the section table are each read on
first use, and looking up a section whose name is not in the name table reads no more than
that table. Nothing else is touched unless a caller asks for specific bytes. Every count and
offset comes from untrusted input and is checked against the file size before it is used to
read or allocate, so a hostile header cannot make us read past the file or build huge tables.

Both byte orders and both classes (32/64-bit) are handled, because images for s390x and ppc64
(big-endian) and for 386/arm (32-bit) carry the same metadata as amd64 ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Literal

MAGIC = b"\x7fELF"

PT_LOAD = 1
PF_X = 0x1
PF_W = 0x2
SHT_NOBITS = 8
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF

#: Section tables larger than this are refused: real binaries have a few dozen to a few
#: thousand sections (C++ with -ffunction-sections), never millions.
MAX_SECTIONS = 1 << 16
#: The section-name string table of real binaries is a few KB.
MAX_SHSTRTAB = 1 << 20


class ElfError(ValueError):
    """The file starts like ELF but its headers are inconsistent."""


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int


def is_elf(head: bytes) -> bool:
    return head[:4] == MAGIC


class ElfFile:
    """A parsed ELF header over a seekable file; see the module docstring for what is read when."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        f.seek(0, 2)
        self.file_size = f.tell()
        ident = self.read(0, 64)
        if len(ident) < 52 or ident[:4] != MAGIC:
            raise ElfError("not an ELF file")
        klass, data = ident[4], ident[5]
        if klass not in (1, 2) or data not in (1, 2):
            raise ElfError(f"unknown ELF class {klass} or byte order {data}")
        self.is64 = klass == 2
        self.little = data == 1
        self._e = "<" if self.little else ">"
        if self.is64:
            (self.type, self.machine, _v, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum,
             shstrndx) = struct.unpack(self._e + "HHIQQQIHHHHHH", ident[16:64])  # fmt: skip
        else:
            (self.type, self.machine, _v, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum,
             shstrndx) = struct.unpack(self._e + "HHIIIIIHHHHHH", ident[16:52])  # fmt: skip
        self.ptr_size = 8 if self.is64 else 4
        self._phoff, self._phentsize, self._phnum = phoff, phentsize, phnum
        self._shoff, self._shentsize, self._shnum, self._shstrndx = shoff, shentsize, shnum, shstrndx
        if shoff and (shnum == 0 or shstrndx == SHN_XINDEX or phnum == PN_XNUM):
            self._extended_numbering()
        self._segments: tuple[Segment, ...] | None = None
        self._sections: list[Section] | None = None
        self._names: bytes | None = None

    @property
    def byteorder(self) -> Literal["little", "big"]:
        return "little" if self.little else "big"

    # ------------------------------------------------------------------ raw access

    def read(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset`, never past the end of the file."""
        if offset < 0 or size <= 0 or offset >= self.file_size:
            return b""
        self._f.seek(offset)
        return self._f.read(min(size, self.file_size - offset))

    def uint(self, data: bytes, size: int | None = None) -> int:
        """An unsigned integer of `size` bytes (default: pointer size) in the file's byte order."""
        n = size or self.ptr_size
        if len(data) < n:
            raise ElfError("truncated integer")
        return int.from_bytes(data[:n], self.byteorder)

    # ------------------------------------------------------------------ headers

    def _extended_numbering(self) -> None:
        """Counts that overflow 16 bits live in section 0 (used by very large objects)."""
        entry = self._section_entry(0)
        if entry is None:
            raise ElfError("section 0 missing for extended numbering")
        _name, _type, _flags, _addr, _off, size, link, info = entry
        if self._shnum == 0:
            self._shnum = size
        if self._shstrndx == SHN_XINDEX:
            self._shstrndx = link
        if self._phnum == PN_XNUM:
            self._phnum = info

    def _section_entry(self, index: int) -> tuple[int, int, int, int, int, int, int, int] | None:
        want = 64 if self.is64 else 40
        if self._shentsize < want:
            raise ElfError(f"section header entries of {self._shentsize} bytes")
        raw = self.read(self._shoff + index * self._shentsize, want)
        if len(raw) < want:
            return None
        fmt = self._e + ("IIQQQQII" if self.is64 else "IIIIIIII")
        name, typ, flags, addr, off, size, link, info = struct.unpack(fmt, raw[: struct.calcsize(fmt)])
        return name, typ, flags, addr, off, size, link, info

    @property
    def segments(self) -> tuple[Segment, ...]:
        if self._segments is None:
            self._segments = self._read_segments()
        return self._segments

    def _read_segments(self) -> tuple[Segment, ...]:
        if not self._phoff or not self._phnum:
            return ()
        want = 56 if self.is64 else 32
        if self._phentsize < want:
            raise ElfError(f"program header entries of {self._phentsize} bytes")
        total = self._phnum * self._phentsize
        if self._phoff + total > self.file_size:
            raise ElfError("program headers extend past the end of the file")
        raw = self.read(self._phoff, total)
        fmt = struct.Struct(self._e + ("IIQQQQQQ" if self.is64 else "IIIIIIII"))
        out = []
        for i in range(self._phnum):
            if self.is64:
                typ, flags, off, vaddr, _paddr, filesz, memsz, _align = fmt.unpack_from(raw, i * self._phentsize)
            else:
                typ, off, vaddr, _paddr, filesz, memsz, flags, _align = fmt.unpack_from(raw, i * self._phentsize)
            out.append(Segment(typ, flags, off, vaddr, filesz, memsz))
        return tuple(out)

    @property
    def has_sections(self) -> bool:
        return bool(self._shoff and self._shnum)

    def _section_names(self) -> bytes:
        """The section-name string table, read through its own table entry only."""
        if self._names is None:
            names = b""
            if self.has_sections and 0 < self._shstrndx < self._shnum:
                entry = self._section_entry(self._shstrndx)
                if entry is None:
                    raise ElfError("section name table entry is past the end of the file")
                _n, typ, _f, _a, off, size, _l, _i = entry
                if typ != SHT_NOBITS:
                    names = self.read(off, min(size, MAX_SHSTRTAB))
            self._names = names
        return self._names

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = self._read_sections()
        return self._sections

    def _read_sections(self) -> list[Section]:
        """The section table with names; empty when the binary has none (sstrip, some packers)."""
        if not self._shoff or not self._shnum:
            return []
        if self._shnum > MAX_SECTIONS:
            raise ElfError(f"{self._shnum} sections")
        want = 64 if self.is64 else 40
        if self._shentsize < want:
            raise ElfError(f"section header entries of {self._shentsize} bytes")
        total = self._shnum * self._shentsize
        if self._shoff + total > self.file_size:
            raise ElfError("section headers extend past the end of the file")
        raw = self.read(self._shoff, total)
        fmt = struct.Struct(self._e + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII"))
        if self._shentsize == fmt.size:
            entries = list(fmt.iter_unpack(raw))
        else:
            entries = [fmt.unpack_from(raw, i * self._shentsize) for i in range(self._shnum)]
        names = self._section_names()
        out = []
        for name_off, typ, flags, addr, off, size, *_rest in entries:
            name = ""
            if names and name_off < len(names):
                end = names.find(b"\x00", name_off)
                name = names[name_off : end if end >= 0 else len(names)].decode("latin-1")
            out.append(Section(name, typ, flags, addr, off, size))
        return out

    def section(self, name: str) -> Section | None:
        """The first section called `name`. When the name is not in the name table at all (the
        common case for catalogers probing foreign binaries) the section table is never read."""
        if name and name.encode("latin-1") + b"\x00" not in self._section_names():
            return None
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_data(self, sec: Section, limit: int) -> bytes:
        """The section's bytes in the file; sections larger than `limit` are refused."""
        if sec.type == SHT_NOBITS:
            return b""
        if sec.size > limit:
            raise ElfError(f"section {sec.name} is {sec.size} bytes (limit {limit})")
        if sec.offset + sec.size > self.file_size:
            raise ElfError(f"section {sec.name} extends past the end of the file")
        return self.read(sec.offset, sec.size)

    # ------------------------------------------------------------------ virtual addresses

    def vaddr_to_offset(self, addr: int) -> tuple[int, int]:
        """File offset of `addr` and how many bytes of its segment follow it in the file."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= addr < seg.vaddr + seg.filesz:
                delta = addr - seg.vaddr
                return seg.offset + delta, seg.filesz - delta
        raise ElfError(f"address {addr:#x} is not backed by the file")

    def read_vaddr(self, addr: int, size: int) -> bytes:
        """`size` bytes at virtual address `addr`, all of which must be in one loaded segment."""
        off, avail = self.vaddr_to_offset(addr)
        if size > avail:
            raise ElfError(f"{size} bytes at {addr:#x} run past the end of their segment")
        data = self.read(off, size)
        if len(data) < size:
            raise ElfError(f"truncated data at {addr:#x}")
        return data
