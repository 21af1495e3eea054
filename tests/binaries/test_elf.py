"""The minimal ELF reader against binutils' `readelf` on real binaries of both byte orders and
both classes: Go cross-compiled for 386 (32-bit LE), mips (32-bit BE), s390x (64-bit BE) and
amd64, a C program from Debian, and the Rust fixture with its added section."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from customhouse.analyzers._elf import PT_LOAD, ElfError, ElfFile


def _readelf_sections(path: Path) -> list[tuple[str, int, int, int]]:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*\[\s*(\d+)\]\s(.*)$", line)
        if not m:
            continue
        idx, rest = int(m.group(1)), m.group(2).split()
        name = "" if idx == 0 else rest.pop(0)
        _type, addr, off, size = rest[0], rest[1], rest[2], rest[3]
        rows.append((name, int(addr, 16), int(off, 16), int(size, 16)))
    return rows


def _readelf_loads(path: Path) -> list[tuple[int, int, int, int, str]]:
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["LOAD"]:
            off, vaddr, _paddr, filesz, memsz = (int(x, 16) for x in parts[1:6])
            flags = "".join(parts[6:-1])
            rows.append((off, vaddr, filesz, memsz, flags))
    return rows


def _binaries(go_bins: Path, rust_bins: Path) -> dict[str, tuple[Path, bool, bool]]:
    """name -> (path, 64-bit, little-endian)"""
    return {
        "go-amd64": (go_bins / "static", True, True),
        "go-386": (go_bins / "386", False, True),
        "go-mips": (go_bins / "mips", False, False),
        "go-s390x": (go_bins / "s390x", True, False),
        "c-pie": (Path(shutil.which("objcopy") or "/usr/bin/objcopy"), True, True),
        "rust": (rust_bins / "chfixture", True, True),
    }


@pytest.mark.parametrize("which", ["go-amd64", "go-386", "go-mips", "go-s390x", "c-pie", "rust"])
def test_headers_match_readelf(go_bins: Path, rust_bins: Path, which: str) -> None:
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed (apt-get install binutils)")
    path, is64, little = _binaries(go_bins, rust_bins)[which]
    with open(path, "rb") as f:
        elf = ElfFile(f)
        assert (elf.is64, elf.little) == (is64, little)
        assert [(s.name, s.addr, s.offset, s.size) for s in elf.sections] == _readelf_sections(path)
        flags = {
            seg.vaddr: ("R" if seg.flags & 4 else "") + ("W" if seg.flags & 2 else "") + ("E" if seg.flags & 1 else "")
            for seg in elf.segments
            if seg.type == PT_LOAD
        }
        loads = [(s.offset, s.vaddr, s.filesz, s.memsz, flags[s.vaddr]) for s in elf.segments if s.type == PT_LOAD]
        assert loads == _readelf_loads(path)


@pytest.mark.parametrize("arch", ["static", "386", "mips", "s390x"])
def test_virtual_addresses_resolve_to_section_bytes(go_bins: Path, arch: str) -> None:
    with open(go_bins / arch, "rb") as f:
        elf = ElfFile(f)
        sec = elf.section(".go.buildinfo")
        assert sec is not None and sec.addr
        assert elf.read_vaddr(sec.addr, sec.size) == elf.section_data(sec, 1 << 20)
        assert elf.read_vaddr(sec.addr, 14) == b"\xff Go buildinf:"
        with pytest.raises(ElfError):
            elf.read_vaddr(0x10, 4)  # below every segment
        with pytest.raises(ElfError):
            elf.section_data(sec, sec.size - 1)  # over the caller's limit


def test_hostile_headers_are_refused(go_bins: Path, tmp_path: Path) -> None:
    data = bytearray((go_bins / "static").read_bytes())
    # Program header count far beyond the file.
    bad = bytearray(data)
    bad[56:58] = (0xFFF0).to_bytes(2, "little")
    with pytest.raises(ElfError, match="program headers"):
        _ = ElfFile(_bytes(bad)).segments
    # Section table pointing past the end: refused when the table is needed, not before.
    bad = bytearray(data)
    bad[40:48] = (len(data) + 4096).to_bytes(8, "little")
    elf = ElfFile(_bytes(bad))
    with pytest.raises(ElfError, match="section headers"):
        _ = elf.sections
    # A header cut short.
    with pytest.raises(ElfError):
        ElfFile(_bytes(data[:40]))
    # Unknown class byte.
    bad = bytearray(data)
    bad[4] = 7
    with pytest.raises(ElfError, match="class"):
        ElfFile(_bytes(bad))


def _bytes(data: bytes | bytearray) -> io.BytesIO:
    return io.BytesIO(bytes(data))
