"""One pass over one layer: entries in, per-analyzer facts out.

The walker is the only code that reads layer tars or root filesystems. It validates every
entry name (no traversal out of the root, no absolute names, bounded lengths and counts),
records each entry in the layer's file list, translates whiteouts, and hands each wanted
file's content to the analyzers that asked for it. Nothing is extracted to the host.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from customhouse.analyzers.base import AnalyzerError, Dispatcher
from customhouse.errors import HostileInputError, InputError, LimitExceededError
from customhouse.image.tarstream import TarReader
from customhouse.model import AnalysisResult, FileInfo, FileKind, Package
from customhouse.settings import Settings

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass
class LayerResult:
    """Everything learned from one layer; cached by diff_id (files) and analyzer (results)."""

    diff_id: str
    files: list[FileInfo] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # paths removed from lower layers
    opaque_dirs: list[str] = field(default_factory=list)  # dirs whose lower content is hidden
    results: dict[str, list[tuple[str, AnalysisResult]]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # per analyzer ("" = walker)

    def add_warning(self, who: str, msg: str) -> None:
        self.warnings.setdefault(who, []).append(msg)


class StreamBlob:
    """A `Blob` over a tar member or a file on disk, read at most once from its source."""

    def __init__(self, source: IO[bytes], size: int, settings: Settings) -> None:
        self._source = source
        self._size = size
        self._settings = settings
        self._data: bytes | None = None
        self._spool: IO[bytes] | None = None
        self._head = b""  # bytes already taken from the source by head()

    @property
    def size(self) -> int:
        return self._size

    def head(self, n: int) -> bytes:
        if self._data is not None:
            return self._data[:n]
        if self._spool is not None:
            self._spool.seek(0)
            return self._spool.read(n)
        while len(self._head) < min(n, self._size):
            more = self._source.read(min(n, self._size) - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def read(self) -> bytes:
        if self._data is None:
            if self._spool is not None:
                self._spool.seek(0)
                self._data = self._spool.read()
            else:
                self._data = self._head + self._source.read()
                self._head = b""
        return self._data

    def open(self) -> IO[bytes]:
        if self._data is not None:
            return io.BytesIO(self._data)
        if self._size <= self._settings.limits.max_member_spool:
            return io.BytesIO(self.read())
        if self._spool is None:
            spool = self._settings.spooled()
            spool.write(self._head)
            self._head = b""
            while chunk := self._source.read(1 << 20):
                spool.write(chunk)
            self._spool = spool
        self._spool.seek(0)
        return cast(IO[bytes], _Unclosable(self._spool))

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class _Unclosable(io.RawIOBase):
    """Lets several analyzers `with blob.open()` the same spooled file in turn."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._inner.seek(pos, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        return self._inner.read(size)

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        b[: len(data)] = data
        return len(data)


def clean_path(name: str, where: str, limit: int) -> str:
    """Canonicalize an entry name; refuse names that leave the root or are absurd."""
    if len(name) > limit:
        raise HostileInputError(f"{where}: entry name longer than {limit} bytes")
    if name.startswith("./"):
        name = name[2:]
    # Fast path: most names are already canonical (no "//", no "." or ".." parts).
    if "\x00" not in name and not name.startswith("/") and "//" not in name and "/." not in "/" + name:
        return name.rstrip("/")
    if "\x00" in name:
        raise HostileInputError(f"{where}: entry name contains a NUL byte")
    if name.startswith("/"):
        raise HostileInputError(f"{where}: absolute entry name {name!r} (layers must use relative paths)")
    norm = posixpath.normpath(name) if name else "."
    if norm == ".." or norm.startswith("../"):
        raise HostileInputError(f"{where}: entry {name!r} escapes the image root")
    return "" if norm == "." else norm


class Walker:
    """Runs the analyzers of a `Dispatcher` over entries of one layer or root filesystem."""

    def __init__(self, dispatcher: Dispatcher, settings: Settings) -> None:
        self.dispatcher = dispatcher
        self.settings = settings

    # ------------------------------------------------------------------ tar layers

    def walk_tar(
        self, stream: IO[bytes], diff_id: str, where: str, seekable: bool = False, end: int | None = None
    ) -> LayerResult:
        lr = LayerResult(diff_id=diff_id)
        limits = self.settings.limits
        seen: dict[str, FileInfo] = {}
        hardlinks: list[FileInfo] = []
        count = 0
        reader = TarReader(stream, where, seekable=seekable, end=end)
        for ti in reader:
            count += 1
            if count > limits.max_entries:
                raise LimitExceededError(f"{where}: more than {limits.max_entries} entries in one layer")
            path = clean_path(ti.name, where, limits.max_path_len)
            if not path:
                continue
            base = path.rpartition("/")[2]
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(lr, path, base)
                continue
            kind = ti.kind
            if kind is None:
                lr.add_warning("", f"{where}: skipped entry {path!r} of unsupported tar type {ti.typeflag!r}")
                continue
            linkname = ti.linkname
            if kind == "hardlink":
                linkname = clean_path(linkname, where, limits.max_path_len)
                if not linkname:
                    raise HostileInputError(f"{where}: hardlink {path!r} points at the image root")
            info = FileInfo(path, kind, ti.size, ti.mode, ti.uid, ti.gid, linkname)  # type: ignore[arg-type]
            lr.files.append(info)
            if kind == "hardlink":
                hardlinks.append(info)
                continue
            seen[path] = info
            if kind != "file" or ti.sparse:
                continue
            wanting = self.dispatcher.wanting(info)
            if wanting:
                self._analyze(lr, info, StreamBlob(reader, info.size, self.settings), wanting, where)  # type: ignore[arg-type]
        self._hardlink_results(lr, seen, hardlinks)
        return lr

    def _whiteout(self, lr: LayerResult, path: str, base: str) -> None:
        parent = path.rpartition("/")[0]
        if base == OPAQUE_MARKER:
            lr.opaque_dirs.append(parent)
        elif base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the image
        else:
            target = base[len(WHITEOUT_PREFIX) :]
            lr.whiteouts.append(f"{parent}/{target}" if parent else target)

    def _analyze(self, lr: LayerResult, info: FileInfo, blob: StreamBlob, wanting: list[Any], where: str) -> None:
        try:
            for analyzer in wanting:
                try:
                    res = analyzer.analyze(info, blob)
                except (InputError, HostileInputError):
                    raise
                except (
                    AnalyzerError,
                    ValueError,
                    KeyError,
                    IndexError,
                    TypeError,
                    UnicodeError,
                    EOFError,
                    OSError,
                ) as exc:
                    if self.settings.strict_analyzers:
                        raise
                    lr.add_warning(analyzer.name, f"{analyzer.name}: cannot parse /{info.path} in {where}: {exc}")
                    continue
                if res:
                    lr.results.setdefault(analyzer.name, []).append((info.path, res))
        finally:
            blob.close()

    def _hardlink_results(self, lr: LayerResult, seen: dict[str, FileInfo], hardlinks: list[FileInfo]) -> None:
        """A hardlink shares its target's content: reuse the target's facts under the link's path."""
        if not hardlinks:
            return
        by_path: dict[str, dict[str, AnalysisResult]] = {}
        for name, items in lr.results.items():
            for p, res in items:
                by_path.setdefault(p, {})[name] = res
        for link in hardlinks:
            target = seen.get(link.linkname)
            if target is None or target.kind != "file":
                continue
            pseudo = FileInfo(link.path, "file", target.size, target.mode, target.uid, target.gid)
            for analyzer in self.dispatcher.wanting(pseudo):
                r = by_path.get(link.linkname, {}).get(analyzer.name)
                if r is None:
                    continue
                moved = AnalysisResult(
                    packages=tuple(_repath(p, link.linkname, link.path) for p in r.packages), os=r.os, notes=r.notes
                )
                lr.results.setdefault(analyzer.name, []).append((link.path, moved))

    # ------------------------------------------------------------------ directories

    def walk_dir(self, root: Path, where: str) -> LayerResult:
        """Walk an unpacked root filesystem without following symlinks or opening specials."""
        lr = LayerResult(diff_id="")
        limits = self.settings.limits
        count = 0
        root_fd_path = str(root)
        stack = [""]
        while stack:
            rel = stack.pop()
            full = os.path.join(root_fd_path, rel) if rel else root_fd_path
            try:
                entries = sorted(os.scandir(full), key=lambda e: e.name)
            except OSError as exc:
                lr.add_warning("", f"{where}: cannot list /{rel}: {exc.strerror}")
                continue
            for entry in entries:
                count += 1
                if count > limits.max_entries:
                    raise LimitExceededError(f"{where}: more than {limits.max_entries} entries")
                path = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    lr.add_warning("", f"{where}: cannot stat /{path}: {exc.strerror}")
                    continue
                info = _info_from_stat(path, st, entry.path)
                lr.files.append(info)
                if info.kind == "dir":
                    stack.append(path)
                    continue
                if info.kind != "file":
                    continue
                wanting = self.dispatcher.wanting(info)
                if not wanting:
                    continue
                try:
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError as exc:
                    lr.add_warning("", f"{where}: cannot read /{path}: {exc.strerror}")
                    continue
                with os.fdopen(fd, "rb") as f:
                    self._analyze(lr, info, StreamBlob(f, info.size, self.settings), wanting, where)
        return lr


def _info_from_stat(path: str, st: os.stat_result, full: str) -> FileInfo:
    mode = st.st_mode
    kind: FileKind
    linkname = ""
    if stat.S_ISREG(mode):
        kind = "file"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISLNK(mode):
        kind = "symlink"
        try:
            linkname = os.readlink(full)
        except OSError:
            linkname = ""
    elif stat.S_ISCHR(mode):
        kind = "char"
    elif stat.S_ISBLK(mode):
        kind = "block"
    else:
        kind = "fifo"
    return FileInfo(path, kind, st.st_size if kind == "file" else 0, stat.S_IMODE(mode), st.st_uid, st.st_gid, linkname)


def _repath(p: Package, old: str, new: str) -> Package:
    from dataclasses import replace

    if p.path == old:
        return replace(p, path=new)
    if p.path.startswith(old + "!/"):  # inside an archive: outer.jar!/inner.jar
        return replace(p, path=new + p.path[len(old) :])
    return p
