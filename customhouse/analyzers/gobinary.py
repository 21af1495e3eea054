"""Go modules compiled into executables, read from the build information the Go linker embeds.

Since Go 1.13 the linker writes a small block that starts with the magic `\\xff Go buildinf:`
into the data segment (ELF section `.go.buildinfo`): the toolchain version and the module
information `go version -m` prints. It comes in two layouts, both decoded here:

* Go 1.18 and later ("inline"): the 32-byte header is followed by the two strings, each
  prefixed by its length as an unsigned varint.
* Go 1.13-1.17 ("pointer"): the header holds the pointer size and byte order, then two
  addresses of Go string headers (data pointer, length) that must be followed through the
  program headers. Those binaries are still common in old images and vendor bundles.

What is reported, and why:

* one `golang` package per `dep` line, named by module path; a `=>` replacement by another
  module wins (that is the code that was compiled). A replacement by a local directory has no
  version we could know, so the original module path is kept with an empty version, and the
  directory is recorded in metadata: matching it against the original module's advisories
  would be a guess either way (govulncheck skips such modules too);
* the main module (`mod` line) with `metadata["main"] = "true"`. Go stamps it `(devel)` unless
  it was built from a tagged VCS checkout (1.24+); `(devel)` is no version, so like Trivy we
  fall back to a `-X …version=` linker flag when one is present (recorded as `version_source`),
  then (like syft) to the pseudo-version Go itself would give the VCS stamp
  (`v0.0.0-<commit time>-<12 hex of vcs.revision>`, `+dirty` when modified), and otherwise
  report no version, keeping `(devel)` in `metadata["main_version"]`. Build
  settings (`vcs.revision`, `GOOS`, `-ldflags`, …) go into its metadata as `build:<key>`;
* the standard library as the package `stdlib` with the toolchain version in Go's semver form
  (`go1.19.8` -> `v1.19.8`), because the runtime and standard library are compiled in and
  carry their own advisories (the Go vulnerability database lists them under `stdlib`).
  A development toolchain (`devel go1.22-…`) has no release version, so no `stdlib` is reported.

Only ELF is parsed. The first four bytes reject everything else; for ELF files with a section
table the absence of `.go.buildinfo` rejects non-Go binaries after reading the header, the
section table and its name table (a few KB). Binaries with no section table at all (sstrip)
are searched for the magic, 16-byte aligned, in their writable segments, bounded.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import IO, Literal

from customhouse.analyzers._elf import PF_W, PF_X, PT_LOAD, ElfError, ElfFile, is_elf
from customhouse.analyzers.base import Analyzer, AnalyzerError, Blob, register
from customhouse.model import AnalysisResult, FileInfo, Package

BUILDINFO_MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ALIGN = 16
FLAG_BIG_ENDIAN = 0x1
FLAG_INLINE = 0x2
#: The module information of the largest real binaries is a few hundred KB.
MAX_STRING = 8 << 20
#: How much of each writable segment is searched when there is no section table.
MAX_SCAN = 32 << 20
SCAN_CHUNK = 1 << 20
#: `runtime/debug` wraps the module information in these 16-byte sentinels.
_SENTINEL_LEN = 16


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str = ""
    sum: str = ""
    replace: Module | None = None


@dataclass(slots=True)
class BuildInfo:
    go_version: str
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------- locating the block


def _uvarint(data: bytes) -> tuple[int, int]:
    """Go's unsigned varint: (value, bytes used); (0, 0) when truncated or over 64 bits."""
    value = shift = 0
    for i, b in enumerate(data[:10]):
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
    return 0, 0


def _find_magic(elf: ElfFile) -> int | None:
    """File offset of the build-info header, or None when this is not a Go 1.13+ binary."""
    if elf.has_sections:
        sec = elf.section(".go.buildinfo")
        if sec is None:
            return None
        if sec.offset + sec.size > elf.file_size:
            raise AnalyzerError("truncated binary: .go.buildinfo runs past the end of the file")
        head = elf.read(sec.offset, min(sec.size, 64 << 10))
        pos = 0
        while (pos := head.find(BUILDINFO_MAGIC, pos)) >= 0:
            if (sec.addr + pos) % ALIGN == 0 or sec.addr == 0:
                return sec.offset + pos
            pos += 1
        return None
    for seg in elf.segments:
        if seg.type != PT_LOAD or seg.flags & (PF_X | PF_W) != PF_W:
            continue
        end = seg.offset + min(seg.filesz, MAX_SCAN)
        start = seg.offset
        while start < end:
            # Overlap chunks by the magic's length so a match across a boundary is not missed.
            chunk = elf.read(start, min(SCAN_CHUNK + len(BUILDINFO_MAGIC), end - start))
            pos = 0
            while (pos := chunk.find(BUILDINFO_MAGIC, pos)) >= 0:
                if (seg.vaddr + start - seg.offset + pos) % ALIGN == 0:
                    return start + pos
                pos += 1
            start += SCAN_CHUNK
    return None


def _inline_string(elf: ElfFile, off: int) -> tuple[bytes, int]:
    length, n = _uvarint(elf.read(off, 10))
    if n == 0:
        raise AnalyzerError("corrupt Go build info (bad string length)")
    if length > MAX_STRING:
        raise AnalyzerError(f"Go build info string of {length} bytes")
    data = elf.read(off + n, length)
    if len(data) < length:
        raise AnalyzerError("Go build info string runs past the end of the file")
    return data, off + n + length


def _pointer_string(elf: ElfFile, addr: int, ptr_size: int, order: Literal["little", "big"]) -> bytes:
    """Follow a pointer to a Go string header {data, len} and read the string."""
    hdr = elf.read_vaddr(addr, 2 * ptr_size)
    data_addr = int.from_bytes(hdr[:ptr_size], order)
    length = int.from_bytes(hdr[ptr_size:], order)
    if length == 0:
        return b""
    if length > MAX_STRING:
        raise AnalyzerError(f"Go build info string of {length} bytes")
    return elf.read_vaddr(data_addr, length)


def raw_build_info(elf: ElfFile) -> tuple[bytes, bytes] | None:
    """(toolchain version, module information with sentinels) or None for non-Go binaries."""
    off = _find_magic(elf)
    if off is None:
        return None
    header = elf.read(off, HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise AnalyzerError("truncated Go build info header")
    ptr_size, flags = header[14], header[15]
    if flags & FLAG_INLINE:
        version, nxt = _inline_string(elf, off + HEADER_SIZE)
        modinfo, _ = _inline_string(elf, nxt)
        return version, modinfo
    if ptr_size not in (4, 8):
        raise AnalyzerError(f"Go build info with pointer size {ptr_size}")
    order: Literal["little", "big"] = "big" if flags & FLAG_BIG_ENDIAN else "little"
    ver_addr = int.from_bytes(header[16 : 16 + ptr_size], order)
    mod_addr = int.from_bytes(header[16 + ptr_size : 16 + 2 * ptr_size], order)
    try:
        version = _pointer_string(elf, ver_addr, ptr_size, order)
        modinfo = _pointer_string(elf, mod_addr, ptr_size, order)
    except ElfError as exc:
        raise AnalyzerError(f"Go build info points outside the file: {exc}") from None
    return version, modinfo


# ---------------------------------------------------------------------- decoding

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


def go_unquote(s: str) -> tuple[str, str]:
    """Decode a Go double-quoted string literal at the start of `s`: (value, rest after it)."""
    if not s.startswith('"'):
        raise ValueError("not a quoted string")
    out: list[str] = []
    raw_bytes = bytearray()  # \xNN escapes are bytes, decoded together as UTF-8
    i = 1
    while i < len(s):
        c = s[i]
        if c == '"':
            if raw_bytes:
                out.append(raw_bytes.decode("utf-8", "replace"))
            return "".join(out), s[i + 1 :]
        if c != "\\":
            if raw_bytes:
                out.append(raw_bytes.decode("utf-8", "replace"))
                raw_bytes.clear()
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(s):
            break
        e = s[i + 1]
        if e == "x":
            raw_bytes.append(int(s[i + 2 : i + 4], 16))
            i += 4
            continue
        if raw_bytes:
            out.append(raw_bytes.decode("utf-8", "replace"))
            raw_bytes.clear()
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "uU":
            width = 4 if e == "u" else 8
            out.append(chr(int(s[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif e in "01234567":
            raw_bytes.append(int(s[i + 1 : i + 4], 8))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e}")
    raise ValueError("unterminated quoted string")


def _build_setting(text: str) -> tuple[str, str]:
    """`key=value` where either side may be Go-quoted (keys with `=`, values with spaces)."""
    if text.startswith('"'):
        key, rest = go_unquote(text)
        if not rest.startswith("="):
            raise ValueError(f"bad build setting {text!r}")
        rest = rest[1:]
    else:
        key, sep, rest = text.partition("=")
        if not sep:
            raise ValueError(f"bad build setting {text!r}")
    if rest.startswith('"'):
        value, tail = go_unquote(rest)
        if tail:
            raise ValueError(f"bad build setting {text!r}")
    else:
        value = rest
    return key, value


def strip_sentinels(modinfo: bytes) -> str:
    """Drop the sentinels `runtime/debug` wraps around the text; binaries without module info
    (GOPATH builds) have an empty string."""
    if len(modinfo) >= 2 * _SENTINEL_LEN + 1 and modinfo[-_SENTINEL_LEN - 1] == 0x0A:
        return modinfo[_SENTINEL_LEN:-_SENTINEL_LEN].decode("utf-8", "replace")
    return ""


def _module(fields: list[str]) -> Module:
    return Module(
        path=fields[0], version=fields[1] if len(fields) > 1 else "", sum=fields[2] if len(fields) > 2 else ""
    )


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """The text `go version -m` prints, one tab-separated record per line."""
    bi = BuildInfo(go_version=go_version)
    last: str = ""  # "mod" or "dep": what a following "=>" line replaces
    for line in text.split("\n"):
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        if kind == "path":
            bi.path = rest
        elif kind == "mod":
            bi.main = _module(rest.split("\t"))
            last = "mod"
        elif kind == "dep":
            bi.deps.append(_module(rest.split("\t")))
            last = "dep"
        elif kind == "=>":
            repl = _module(rest.split("\t"))
            if last == "dep" and bi.deps:
                d = bi.deps[-1]
                bi.deps[-1] = Module(d.path, d.version, d.sum, repl)
            elif last == "mod" and bi.main is not None:
                m = bi.main
                bi.main = Module(m.path, m.version, m.sum, repl)
            last = ""
        elif kind == "build":
            bi.settings.append(_build_setting(rest))
    return bi


def read_build_info(f: IO[bytes]) -> BuildInfo | None:
    """Build info of a Go ELF binary, None for anything else; reads as little as it can."""
    f.seek(0)
    if not is_elf(f.read(4)):
        return None
    try:
        elf = ElfFile(f)
        raw = raw_build_info(elf)
    except ElfError as exc:
        raise AnalyzerError(f"malformed ELF: {exc}") from None
    if raw is None:
        return None
    version, modinfo = raw
    return parse_modinfo(version.decode("utf-8", "replace"), strip_sentinels(modinfo))


# ---------------------------------------------------------------------- packages

_GO_RELEASE = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?$")
_VERSIONISH = re.compile(r"^v?\d+(\.\d+){0,3}([-+][0-9A-Za-z.+-]+)?$")
_VERSION_VARS = frozenset({"version", "gitversion", "buildversion", "appversion", "releaseversion"})


def go_semver(go_version: str) -> str:
    """`go1.19.8` -> `v1.19.8`, `go1.21rc2` -> `v1.21.0-rc.2`, `go1.20` -> `v1.20.0`;
    "" for development or vendor-patched toolchains whose version names no release."""
    tag = go_version.split(" ", 1)[0]
    m = _GO_RELEASE.match(tag)
    if not m:
        return ""
    major, minor, patch, pre, pre_n = m.groups()
    minor = minor or "0"
    patch = patch or "0"
    # Before Go 1.21 the first release of a line was "go1.N" (= v1.N.0) and prereleases
    # "go1.NbetaM"/"go1.NrcM"; since 1.21 the first release is "go1.N.0", same mapping.
    out = f"v{major}.{minor}.{patch}"
    if pre:
        out += f"-{pre}.{pre_n}"
    return out


def ldflags_version(ldflags: str, main_path: str) -> str:
    """A version set with `-X pkg.version=…` for the main module, if the flags hold one.

    Only variables named like a version, in package `main`, inside the main module or in a
    package named `version`, and only values that look like versions: anything looser turns
    commit hashes and dates into versions."""
    try:
        words = shlex.split(ldflags)
    except ValueError:
        return ""
    for i, w in enumerate(words):
        if w in ("-X", "--X") and i + 1 < len(words):
            assign = words[i + 1]
        elif w.startswith(("-X=", "--X=")):
            assign = w.split("=", 1)[1]
        else:
            continue
        name, sep, value = assign.partition("=")
        if not sep:
            continue
        pkg, _, var = name.rpartition(".")
        if var.lower() not in _VERSION_VARS:
            continue
        in_scope = (
            pkg == "main"
            or (main_path and (pkg == main_path or pkg.startswith(main_path + "/")))
            or pkg.rsplit("/", 1)[-1] == "version"
        )
        value = value.strip()
        if in_scope and _VERSIONISH.match(value):
            return value if value.startswith("v") else "v" + value
    return ""


def _is_local(path: str) -> bool:
    """Go's rule for a replacement that is a directory rather than a module."""
    return path.startswith(("./", "../", "/")) or path in (".", "..") or (len(path) > 1 and path[1] == ":")


def vcs_pseudo_version(settings: dict[str, str]) -> str:
    """Go's pseudo-version for an untagged commit, from the `vcs.revision`/`vcs.time` stamps."""
    rev = settings.get("vcs.revision", "")
    when = settings.get("vcs.time", "")
    if len(rev) < 12 or not re.fullmatch(r"[0-9a-f]+", rev):
        return ""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z", when)
    if not m:
        return ""
    version = f"v0.0.0-{''.join(m.groups())}-{rev[:12]}"
    return version + "+dirty" if settings.get("vcs.modified") == "true" else version


def packages_from(bi: BuildInfo, where: str, found_by: str) -> list[Package]:
    out: list[Package] = []
    for d in bi.deps:
        meta: list[tuple[str, str]] = []
        name, version, digest = d.path, d.version, d.sum
        if d.replace is not None:
            r = d.replace
            if _is_local(r.path):
                meta.append(("replaced_by", r.path))
                meta.append(("original_version", d.version))
                version, digest = "", ""
            else:
                meta.append(("replaces", f"{d.path}@{d.version}" if d.version else d.path))
                name, version, digest = r.path, r.version, r.sum
        if digest:
            meta.append(("h1", digest))
        out.append(
            Package(
                name=name, version=version, type="golang", path=where, found_by=found_by, metadata=tuple(sorted(meta))
            )
        )
    settings = dict(bi.settings)
    if bi.main is not None and bi.main.path:
        main = bi.main
        meta = [("main", "true"), ("go_version", bi.go_version)]
        if bi.path:
            meta.append(("main_package", bi.path))
        version = main.version
        if version in ("", "(devel)"):
            meta.append(("main_version", main.version))
            version = ldflags_version(settings.get("-ldflags", ""), main.path)
            if version:
                meta.append(("version_source", "ldflags"))
            else:
                version = vcs_pseudo_version(settings)
                if version:
                    meta.append(("version_source", "vcs"))
        if main.sum:
            meta.append(("h1", main.sum))
        meta.extend((f"build:{k}", v) for k, v in bi.settings)
        out.append(
            Package(
                name=main.path,
                version=version,
                type="golang",
                path=where,
                found_by=found_by,
                metadata=tuple(sorted(dict(meta).items())),
            )
        )
    std = go_semver(bi.go_version)
    if std:
        meta = [("go_version", bi.go_version)]
        for k in ("GOOS", "GOARCH", "CGO_ENABLED"):
            if k in settings:
                meta.append((f"build:{k}", settings[k]))
        out.append(
            Package(
                name="stdlib", version=std, type="golang", path=where, found_by=found_by, metadata=tuple(sorted(meta))
            )
        )
    return out


@register
class GoBinaryAnalyzer(Analyzer):
    name = "gobinary"
    version = 2
    executables = True
    # Go binaries of 100-300 MB exist (kubelet, cloud CLIs); larger ones are spooled to disk.
    max_size = 1 << 30

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        if blob.head(4) != b"\x7fELF":
            return None  # scripts and other formats: no need to buffer the rest
        f = blob.open()
        try:
            bi = read_build_info(f)
        finally:
            f.close()
        if bi is None:
            return None
        pkgs = packages_from(bi, info.path, self.name)
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None
