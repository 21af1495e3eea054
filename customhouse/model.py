"""The facts every stage passes on: files, layers, packages, operating systems.

All records are frozen: a fact, once found, is never edited in place; later stages derive new
records with `dataclasses.replace`. That keeps cached per-layer results safe to share between
images and makes every report a pure function of its inputs. Only the numerous records (files,
packages) use slots: slots double what creating a class costs at start-up and save nothing on
a handful of objects.

The `to_dict`/`from_dict` pairs define the cache and JSON-report encoding in one place, so the
cache never pickles (a cache file must not be able to run code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

FileKind = Literal["file", "dir", "symlink", "hardlink", "char", "block", "fifo"]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of a layer (or of a root filesystem) as the walker saw it.

    `path` is canonical: relative to the image root, no leading slash, no `.`/`..` parts.
    For links `linkname` is the raw target as stored, because symlink targets are resolved
    against the merged filesystem later, not against the layer they came in.
    """

    path: str
    kind: FileKind
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""

    @property
    def is_executable(self) -> bool:
        return self.kind == "file" and bool(self.mode & 0o111)

    @property
    def basename(self) -> str:
        return self.path.rpartition("/")[2]


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the image describes it, plus the history entry that produced it."""

    index: int
    digest: str  # digest of the blob as stored (compressed), "" for a root filesystem
    diff_id: str  # digest of the uncompressed tar; the cache key
    size: int = 0
    media_type: str = ""
    created_by: str = ""
    created: str = ""
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class OSInfo:
    """The distribution an image is built on; `family` drives which advisories apply."""

    family: str  # debian, ubuntu, alpine, rhel, centos, rocky, almalinux, fedora, ...
    version: str  # VERSION_ID or the precise release file content (e.g. 3.10.3)
    name: str = ""  # PRETTY_NAME
    codename: str = ""
    id_like: tuple[str, ...] = ()
    source: str = ""  # file it was read from
    distroless: bool = False

    @property
    def release(self) -> str:
        """Major(.minor) used to pick an advisory branch: alpine 3.10.3 -> 3.10, debian 12.5 -> 12."""
        parts = self.version.split(".")
        if self.family == "alpine":
            return ".".join(parts[:2])
        if self.family in {"debian", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"}:
            return parts[0]
        return self.version

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["id_like"] = list(self.id_like)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OSInfo:
        return cls(**{**d, "id_like": tuple(d.get("id_like", ()))})


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package, whatever its ecosystem.

    `version` is the ecosystem's native full version (dpkg `1:2.3-4`, rpm `1:2.3-4.el9` with
    the epoch prefix only when present), because that is what version comparators take.
    `path` is the file the fact came from (status database, METADATA, jar, binary).
    """

    name: str
    version: str
    type: str  # purl type: deb, apk, rpm, pypi, npm, golang, maven, gem, cargo, composer, nuget
    purl: str = ""
    path: str = ""
    arch: str = ""
    source_name: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()
    found_by: str = ""
    layer_index: int = -1
    layer_diff_id: str = ""
    layer_digest: str = ""
    created_by: str = ""
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes two sightings the same package (used to find the introducing layer)."""
        return (self.type, self.name, self.version, self.arch, self.path)

    def meta(self, key: str, default: str = "") -> str:
        for k, v in self.metadata:
            if k == key:
                return v
        return default

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "licenses":
                v = list(v)
            elif f.name == "metadata":
                v = dict(v)
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Package:
        kw = dict(d)
        kw["licenses"] = tuple(kw.get("licenses", ()))
        kw["metadata"] = tuple(sorted((str(k), str(v)) for k, v in dict(kw.get("metadata", {})).items()))
        return cls(**kw)


@dataclass(frozen=True)
class Note:
    """Analyzer-private intermediate data (e.g. a license read from a copyright file).

    Notes are cached with the layer and handed back to the analyzer's `finalize`, which turns
    them into package attributes; they never reach reports directly.
    """

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    """What one analyzer learned from one file."""

    packages: tuple[Package, ...] = ()
    os: OSInfo | None = None
    notes: tuple[Note, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.packages or self.os or self.notes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.packages:
            d["p"] = [p.to_dict() for p in self.packages]
        if self.os:
            d["o"] = self.os.to_dict()
        if self.notes:
            d["n"] = [[n.kind, dict(n.data)] for n in self.notes]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisResult:
        return cls(
            packages=tuple(Package.from_dict(p) for p in d.get("p", ())),
            os=OSInfo.from_dict(d["o"]) if d.get("o") else None,
            notes=tuple(Note(k, v) for k, v in d.get("n", ())),
        )


@dataclass(frozen=True)
class TargetInfo:
    """What was scanned, for report headers and SBOM metadata."""

    name: str  # as the user wrote it
    kind: str  # docker-archive, oci-archive, oci-layout, dir, registry, sbom
    image_id: str = ""  # config digest
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    architecture: str = ""
    os: str = ""
    created: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # the image config's `config` object
    # The image config's `history`, empty-layer entries included: ARG/ENV/USER steps leave no
    # layer, so `LayerInfo.created_by` alone cannot show what a build leaked (image-config checks).
    history: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "image_id": self.image_id,
            "repo_tags": list(self.repo_tags),
            "repo_digests": list(self.repo_digests),
            "architecture": self.architecture,
            "os": self.os,
            "created": self.created,
        }


@dataclass(frozen=True)
class Inventory:
    """Everything cataloged in a target: the input of SBOM writers and of matching."""

    target: TargetInfo
    os: OSInfo | None
    packages: tuple[Package, ...]
    layers: tuple[LayerInfo, ...] = ()
    warnings: tuple[str, ...] = ()

    def with_packages(self, packages: Iterable[Package]) -> Inventory:
        return replace(self, packages=tuple(sort_packages(packages)))


def sort_packages(packages: Iterable[Package]) -> list[Package]:
    """The one deterministic order for packages in every report."""
    return sorted(packages, key=lambda p: (p.type, p.name, p.version, p.arch, p.path))
