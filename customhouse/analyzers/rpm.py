"""rpm packages (RHEL and clones, Fedora, Amazon Linux, SUSE, Photon, Mariner) from the rpmdb.

All three on-disk backends are read by our own code from the bytes the walker hands over: no
librpm, no host files. rpm has stored its database in several places over the years and an
image can carry more than one (a stale BerkeleyDB file after a conversion to SQLite, a real
`/var/lib/rpm` next to `/usr/lib/sysimage/rpm`), so each file is parsed on its own and
`finalize` keeps only the one rpm itself would open: the `%_dbpath` the image's macro files
configure (resolved through the image's symlinks), else the usual directories in turn, and in
that directory the configured `%_db_backend`'s file, else the first of SQLite, ndb, BerkeleyDB
(rpm's own autodetection order). Reporting one database keeps packages from being counted twice.

`version` is `[epoch:]version-release` with the epoch prefix whenever the header carries an
EPOCH tag, since that is the EVR rpm compares. Advisories for RHEL-like systems are filed per
source rpm, so `source_name`/`source_version` come from SOURCERPM (`name-version-release.src.rpm`);
a source rpm has no epoch in its file name but shares the spec's epoch with every binary built
from it, so the binary's epoch is carried over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from customhouse.analyzers._rpmdb import header as hdr
from customhouse.analyzers._rpmdb.bdb import iter_bdb_blobs
from customhouse.analyzers._rpmdb.ndb import iter_ndb_blobs
from customhouse.analyzers._rpmdb.sqlite import iter_sqlite_blobs
from customhouse.analyzers.base import Analyzer, Blob, Found, register, resolve_in_image
from customhouse.image.fs import ImageFS
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Note, Package

#: Directories rpm has used for its database, in the order we try them without configuration.
DB_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm", "usr/share/rpm")
#: Backend file names in rpm's autodetection order.
BACKEND_FILES = {"sqlite": "rpmdb.sqlite", "ndb": "Packages.db", "bdb": "Packages"}
_BACKEND_OF = {v: k for k, v in BACKEND_FILES.items()}
DB_PATHS = frozenset(f"{d}/{f}" for d in DB_DIRS for f in BACKEND_FILES.values())

MACRO_FILES = ("usr/lib/rpm/macros", "etc/rpm/macros")
MACRO_PREFIXES = ("usr/lib/rpm/macros.d/macros.", "etc/rpm/macros.")
_VENDOR_MACROS = re.compile(r"^usr/lib/rpm/[^/]+/macros$")
_MACRO_LINE = re.compile(r"^%(_dbpath|_db_backend|_var|_usr|_prefix|_localstatedir|_sharedstatedir)[ \t]+(\S.*?)\s*$")
_MACRO_REF = re.compile(r"%\{\??([A-Za-z_][A-Za-z0-9_]*)\}|%([A-Za-z_][A-Za-z0-9_]*)")
_BUILTIN_DIRS = {
    "_var": "/var",
    "_usr": "/usr",
    "_prefix": "/usr",
    "_localstatedir": "/var",
    "_sharedstatedir": "/var/lib",
}
_SOURCERPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm$")
MAX_HEADER_WARNINGS = 10


def parse_sourcerpm(value: str) -> tuple[str, str] | None:
    """`bash-5.1.8-6.el9.src.rpm` -> ("bash", "5.1.8-6.el9"); None when it is not such a name."""
    m = _SOURCERPM.match(value)
    if not m:
        return None
    return m.group("name"), f"{m.group('version')}-{m.group('release')}"


def package_from_header(h: hdr.Header, path: str) -> Package | None:
    """The inventory record of one installed header; None for gpg-pubkey pseudo-packages."""
    name = h.string(hdr.TAG_NAME)
    version = h.string(hdr.TAG_VERSION)
    if not name or version is None:
        raise ValueError("rpm header: no NAME or VERSION tag")
    if name == "gpg-pubkey":
        return None
    release = h.string(hdr.TAG_RELEASE) or ""
    epoch = h.integer(hdr.TAG_EPOCH)
    vr = f"{version}-{release}" if release else version
    evr = f"{epoch}:{vr}" if epoch is not None else vr
    sourcerpm = h.string(hdr.TAG_SOURCERPM) or ""
    src_name = src_version = ""
    parsed = parse_sourcerpm(sourcerpm) if sourcerpm else None
    if parsed is not None:
        src_name = parsed[0]
        src_version = f"{epoch}:{parsed[1]}" if epoch is not None else parsed[1]
    meta: list[tuple[str, str]] = []
    if sourcerpm:
        meta.append(("sourcerpm", sourcerpm))
    for key, tag in (("vendor", hdr.TAG_VENDOR), ("modularitylabel", hdr.TAG_MODULARITYLABEL)):
        value = h.string(tag)
        if value:
            meta.append((key, value))
    size = h.integer(hdr.TAG_LONGSIZE)
    if size is None:
        size = h.integer(hdr.TAG_SIZE)
    if size is not None:
        meta.append(("size", str(size)))
    lic = (h.string(hdr.TAG_LICENSE) or "").strip()
    return Package(
        name=name,
        version=evr,
        type="rpm",
        path=path,
        arch=h.string(hdr.TAG_ARCH) or "",
        source_name=src_name,
        source_version=src_version,
        licenses=(normalize_license(lic),) if lic else (),
        found_by="rpm",
        metadata=tuple(sorted(meta)),
    )


def read_blobs(backend: str, blob: Blob) -> list[tuple[int, bytes]]:
    """(instance, header blob) pairs of one database file, in instance order."""
    if backend == "sqlite":
        pairs = list(iter_sqlite_blobs(blob.read()))
    else:
        with blob.open() as f:
            pairs = list(_iter_file(backend, f, blob.size))
    pairs.sort(key=lambda p: p[0])
    return pairs


def _iter_file(backend: str, f: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    if backend == "ndb":
        return iter_ndb_blobs(f, size)
    return iter_bdb_blobs(f)


def packages_from_blobs(pairs: Iterable[tuple[int, bytes]], path: str) -> tuple[list[Package], list[str]]:
    """Parse each header on its own: one damaged header costs a warning, not the database."""
    packages: list[Package] = []
    errors: list[str] = []
    for instance, blob in pairs:
        try:
            pkg = package_from_header(hdr.Header(blob), path)
        except ValueError as exc:
            errors.append(f"rpm: /{path}: package #{instance}: {exc}")
            continue
        if pkg is not None:
            packages.append(pkg)
    return packages, errors


def parse_macros(text: str) -> dict[str, str]:
    """The `%_dbpath` and `%_db_backend` a macro file sets, with directory macros expanded.

    Only plain one-line definitions count; anything still holding a macro after expansion
    (shell escapes, conditionals, macros we do not model) is dropped rather than guessed.
    """
    defs: dict[str, str] = {}
    for line in text.splitlines():
        m = _MACRO_LINE.match(line)
        if m and not m.group(2).endswith("\\"):
            defs[m.group(1)] = m.group(2)
    out: dict[str, str] = {}
    for key in ("_dbpath", "_db_backend"):
        if key in defs:
            value = expand_macros(defs[key], {**_BUILTIN_DIRS, **defs})
            if value is not None:
                out[key] = value
    return out


def expand_macros(value: str, defs: dict[str, str]) -> str | None:
    for _ in range(8):
        if "%" not in value:
            return value
        missing = False

        def sub(m: re.Match[str]) -> str:
            nonlocal missing
            name = m.group(1) or m.group(2)
            if name not in defs:
                missing = True
                return m.group(0)
            return defs[name]

        value = _MACRO_REF.sub(sub, value)
        if missing:
            return None
    return None if "%" in value else value


def _macro_rank(path: str) -> tuple[int, str]:
    """rpm's macro load order (later files override earlier ones)."""
    if path == "usr/lib/rpm/macros":
        return (0, path)
    if path.startswith("usr/lib/rpm/macros.d/"):
        return (1, path)
    if path.startswith("usr/lib/rpm/"):
        return (2, path)
    if path.startswith("etc/rpm/macros."):
        return (3, path)
    return (4, path)


@register
class RpmAnalyzer(Analyzer):
    name = "rpm"
    version = 1
    paths = frozenset({*DB_PATHS, *MACRO_FILES})
    prefixes = MACRO_PREFIXES
    basenames = frozenset({"macros"})
    max_size = 1 << 30

    def required(self, info: FileInfo) -> bool:
        p = info.path
        if p in DB_PATHS or p in MACRO_FILES or p.startswith(MACRO_PREFIXES):
            return True
        return bool(_VENDOR_MACROS.match(p))

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        if info.path not in DB_PATHS:
            if blob.size > 1 << 20:
                return None
            found = parse_macros(blob.read().decode("utf-8", "replace"))
            return AnalysisResult(notes=(Note("rpm-macros", found),)) if found else None
        backend = _BACKEND_OF[info.basename]
        pairs = read_blobs(backend, blob)
        packages, errors = packages_from_blobs(pairs, info.path)
        notes = [Note("rpmdb", {"backend": backend, "headers": len(pairs)})]
        if errors:
            shown = errors[:MAX_HEADER_WARNINGS]
            if len(errors) > len(shown):
                shown.append(f"rpm: /{info.path}: {len(errors) - len(shown)} more damaged headers")
            notes.extend(Note("header-error", {"message": m}) for m in shown)
        return AnalysisResult(packages=tuple(packages), notes=tuple(notes))

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        macros: dict[str, str] = {}
        for f in sorted((f for f in found if f.path not in DB_PATHS), key=lambda f: _macro_rank(f.path)):
            for n in f.result.notes:
                if n.kind == "rpm-macros":
                    macros.update({str(k): str(v) for k, v in n.data.items()})
        dbs = {f.path: f for f in found if f.path in DB_PATHS}
        warnings: list[Note] = []
        chosen = self._choose(dbs, macros, fs, warnings)
        if chosen is None:
            return AnalysisResult(notes=tuple(warnings))
        for n in chosen.result.notes:
            if n.kind == "header-error":
                warnings.append(Note("warning", {"message": str(n.data.get("message", ""))}))
        return AnalysisResult(packages=chosen.result.packages, notes=tuple(warnings))

    @staticmethod
    def _choose(
        dbs: dict[str, Found], macros: dict[str, str], fs: ImageFS | None, warnings: list[Note]
    ) -> Found | None:
        if not dbs:
            return None
        dirs: list[str] = []
        configured = macros.get("_dbpath", "").strip("/")
        if configured:
            dirs.append(configured)
        dirs.extend(d for d in DB_DIRS if d not in dirs)
        order = list(BACKEND_FILES)
        backend = macros.get("_db_backend", "")
        if backend in BACKEND_FILES:
            order.remove(backend)
            order.insert(0, backend)
        for d in dirs:
            real = resolve_in_image(fs, d, "rpm", warnings)
            if real is None:
                continue
            for b in order:
                hit = dbs.get(f"{real}/{BACKEND_FILES[b]}")
                if hit is not None:
                    return hit
        # A database in a directory no candidate leads to (e.g. behind a dangling symlink).
        return dbs[min(dbs, key=lambda p: (DB_DIRS.index(p.rpartition("/")[0]), p))]
