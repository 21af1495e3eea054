"""The analyzer contract and registry.

An analyzer declares, as data, which files it needs (exact paths, basenames, suffixes,
executables); the walker reads each layer once and hands each wanted file to every analyzer
that asked for it. Declaring instead of probing lets the registry build lookup tables, so a
layer with 100,000 files costs a few dictionary lookups per file rather than one Python call
per file per analyzer.

Analyzers never open tar streams or the host filesystem themselves: they get a `Blob`, read
it, and return an `AnalysisResult`. Results are cached per layer, keyed by the analyzer's
`name` and `version`, so bump `version` whenever the output for the same input changes.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, Protocol

from customhouse.model import AnalysisResult, FileInfo, Note, Package

if TYPE_CHECKING:
    from customhouse.image.fs import ImageFS


class Blob(Protocol):
    """The content of one file, readable while the walker sits on it.

    `read()` returns the whole content (analyzers declare `max_size` so this stays bounded);
    `open()` gives a seekable file for formats that need random access (ELF, zip) and may be
    backed by a temporary file inside the cache directory for large members.
    """

    @property
    def size(self) -> int: ...

    def head(self, n: int) -> bytes:
        """The first `n` bytes, without reading (or spooling) the rest: for magic-byte checks."""
        ...

    def read(self) -> bytes: ...

    def open(self) -> IO[bytes]: ...


class BytesBlob:
    """A `Blob` over bytes already in memory: nested archives and tests use it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def head(self, n: int) -> bytes:
        return self._data[:n]

    def read(self) -> bytes:
        return self._data

    def open(self) -> IO[bytes]:
        return io.BytesIO(self._data)


class AnalyzerError(Exception):
    """An analyzer could not make sense of a file; the scan goes on and reports a warning."""


@dataclass(frozen=True, slots=True)
class Found:
    """One surviving per-file result, as handed to `Analyzer.finalize`."""

    path: str
    layer_index: int
    result: AnalysisResult


class Analyzer(ABC):
    """Base class: subclass, fill the class variables, implement `analyze`, decorate with `@register`."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    #: Exact canonical paths (no leading slash).
    paths: ClassVar[frozenset[str]] = frozenset()
    #: File names wanted wherever they are.
    basenames: ClassVar[frozenset[str]] = frozenset()
    #: Path prefixes (e.g. "var/lib/dpkg/status.d/"); keep them specific, every file is tested.
    prefixes: ClassVar[tuple[str, ...]] = ()
    #: Name endings wanted wherever they are (e.g. ".jar").
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Regular files with an execute bit (binaries that may embed build metadata).
    executables: ClassVar[bool] = False
    #: Larger files are skipped with a debug note rather than read.
    max_size: ClassVar[int] = 64 << 20
    #: Kinds of entries handed over; symlinks and hardlinks are resolved by the merge step.
    kinds: ClassVar[frozenset[str]] = frozenset({"file"})

    def required(self, info: FileInfo) -> bool:
        """Refine a cheap table match (e.g. `package.json` only below `node_modules/`)."""
        return True

    @abstractmethod
    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        """Turn one file into facts; raise `AnalyzerError` (or ValueError) on malformed input."""

    def finalize(self, found: Sequence[Found], fs: ImageFS | None) -> AnalysisResult:
        """Combine the per-file results that survive in the final filesystem.

        The default keeps every package as found (layer attribution is already done by the
        merge); analyzers that need cross-file work (licenses, OS precedence, de-duplication)
        override it. `fs` is None when the input is not a filesystem (e.g. an SBOM).
        """
        packages: list[Package] = []
        for f in found:
            packages.extend(f.result.packages)
        return AnalysisResult(packages=tuple(packages))


def resolve_in_image(fs: ImageFS | None, path: str, who: str, warnings: list[Note]) -> str | None:
    """`path` with the image's symlinks resolved (inside the image only), or None after
    recording a warning when they loop; without a filesystem (SBOM input) `path` as given."""
    if fs is None:
        return path
    from customhouse.image.fs import SymlinkLoopError

    try:
        return fs.resolve(path)
    except SymlinkLoopError as exc:
        warnings.append(Note("warning", {"message": f"{who}: {exc}"}))
        return None


_REGISTRY: dict[str, Analyzer] = {}


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Class decorator: one instance per analyzer, registered under its unique name."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"analyzer {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def registered() -> dict[str, Analyzer]:
    return dict(_REGISTRY)


class Dispatcher:
    """Lookup tables from file attributes to the analyzers that want the file.

    Can be created lazily from a loader and known versions: a fully cached image needs only
    the versions (its cache key), so the analyzer modules are imported only when a layer is
    actually read.
    """

    def __init__(
        self,
        analyzers: Iterable[Analyzer] | None = None,
        *,
        loader: Callable[[], Iterable[Analyzer]] | None = None,
        versions: dict[str, int] | None = None,
    ) -> None:
        self._loader = loader
        self._versions = versions
        self._analyzers: tuple[Analyzer, ...] | None = None
        if analyzers is not None:
            self._build(analyzers)

    def _build(self, analyzers: Iterable[Analyzer]) -> None:
        self._analyzers = tuple(sorted(analyzers, key=lambda a: a.name))
        self._by_path: dict[str, list[Analyzer]] = {}
        self._by_base: dict[str, list[Analyzer]] = {}
        self._suffixes: list[tuple[str, Analyzer]] = []
        self._exec: list[Analyzer] = []
        self._prefixes: list[tuple[str, Analyzer]] = []
        for a in self._analyzers:
            for pre in a.prefixes:
                self._prefixes.append((pre, a))
            for p in a.paths:
                self._by_path.setdefault(p, []).append(a)
            for b in a.basenames:
                self._by_base.setdefault(b, []).append(a)
            for s in a.suffixes:
                self._suffixes.append((s, a))
            if a.executables:
                self._exec.append(a)
        self._suffix_tuple = tuple(s for s, _ in self._suffixes)
        self._prefix_tuple = tuple(p for p, _ in self._prefixes)

    @property
    def analyzers(self) -> tuple[Analyzer, ...]:
        if self._analyzers is None:
            assert self._loader is not None
            self._build(self._loader())
            assert self._analyzers is not None
            if self._versions is not None and self._versions != {a.name: a.version for a in self._analyzers}:
                raise RuntimeError("analyzer versions changed while running; rerun the scan")
        return self._analyzers

    @property
    def versions(self) -> dict[str, int]:
        if self._versions is None:
            self._versions = {a.name: a.version for a in self.analyzers}
        return self._versions

    def wanting(self, info: FileInfo) -> list[Analyzer]:
        """Analyzers that want this entry, in name order, each at most once."""
        if self._analyzers is None:
            self.analyzers  # noqa: B018 - builds the tables
        path = info.path
        base = path.rpartition("/")[2]
        hits: list[Analyzer] = []
        hits.extend(self._by_path.get(path, ()))
        hits.extend(self._by_base.get(base, ()))
        if self._prefix_tuple and path.startswith(self._prefix_tuple):
            hits.extend(a for p, a in self._prefixes if path.startswith(p))
        if self._suffix_tuple and base.endswith(self._suffix_tuple):
            hits.extend(a for s, a in self._suffixes if base.endswith(s))
        if self._exec and info.kind == "file" and info.mode & 0o111:
            hits.extend(self._exec)
        if not hits:
            return hits
        out: list[Analyzer] = []
        for a in hits:
            if a not in out and info.kind in a.kinds and info.size <= a.max_size and a.required(info):
                out.append(a)
        if len(out) > 1:
            out.sort(key=lambda a: a.name)
        return out


def _pick(names: Iterable[str] | None) -> list[Analyzer]:
    from customhouse.analyzers import load_all

    load_all()
    pool = registered()
    if names is not None:
        wanted = set(names)
        unknown = wanted - pool.keys()
        if unknown:
            raise KeyError(f"unknown analyzers: {', '.join(sorted(unknown))}")
        pool = {k: v for k, v in pool.items() if k in wanted}
    return list(pool.values())


def select(names: Iterable[str] | None = None, cache_dir: Path | None = None) -> Dispatcher:
    """A dispatcher over the registered analyzers (all, or the named ones).

    With a `cache_dir`, versions come from a snapshot keyed by the analyzer sources, and the
    analyzer modules are imported only if a layer must be read.
    """
    chosen = list(names) if names is not None else None
    if cache_dir is None:
        return Dispatcher(_pick(chosen))
    from customhouse.analyzers import registered_versions

    versions = registered_versions(cache_dir)
    if chosen is not None:
        unknown = set(chosen) - versions.keys()
        if unknown:
            raise KeyError(f"unknown analyzers: {', '.join(sorted(unknown))}")
        versions = {k: v for k, v in versions.items() if k in chosen}
    return Dispatcher(loader=lambda: _pick(chosen), versions=versions)
