"""What every image source provides: a config, ordered layers, and a way to read each layer.

Sources differ only in where bytes come from (a tar on disk, a directory, a registry); the
image stage sees the same `ImageSource` for all of them. A source never decompresses or
parses layers itself: it returns the raw blob stream and the digests that must verify it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from customhouse.errors import DigestMismatchError, InputError
from customhouse.model import LayerInfo, TargetInfo
from customhouse.settings import Settings

# Media types we accept for image manifests, indexes and layers.
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})
MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One layer: its identities and how to open its raw (possibly compressed) bytes."""

    index: int
    digest: str  # blob digest as stored; "" when the source does not know it
    diff_id: str  # uncompressed digest from the config; "" when unknown (legacy archives)
    media_type: str
    size: int
    open: Callable[[], IO[bytes]]
    source: str  # where, for error messages (file path or URL)
    created_by: str = ""
    created: str = ""
    comment: str = ""
    # True when `open` fetches over the network: a digest mismatch is then a registry fault (exit 5).
    remote: bool = False

    def info(self, diff_id: str | None = None) -> LayerInfo:
        return LayerInfo(
            index=self.index,
            digest=self.digest,
            diff_id=diff_id if diff_id is not None else self.diff_id,
            size=self.size,
            media_type=self.media_type,
            created_by=self.created_by,
            created=self.created,
            comment=self.comment,
        )


class ImageSource(ABC):
    """An image: target metadata, the image config, and its layers bottom-up."""

    info: TargetInfo
    config: dict[str, Any]
    layers: list[LayerRef]

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release temporary files and connections."""


class RootfsSource(ABC):
    """A root filesystem that is already unpacked (`dir:`): no layers, no cache key."""

    info: TargetInfo
    root: Path

    @abstractmethod
    def close(self) -> None: ...


# ---------------------------------------------------------------------------- helpers


def load_json(data: bytes, where: str, limit: int) -> Any:
    """Parse a JSON document named `where`, refusing oversize or malformed input with exit 3."""
    if len(data) > limit:
        raise InputError(f"{where}: JSON document of {len(data)} bytes exceeds the {limit}-byte limit")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: invalid JSON ({exc})") from None


def verify_digest(data: bytes, digest: str, where: str) -> None:
    algo, _, expected = digest.partition(":")
    if algo not in ("sha256", "sha512") or not expected:
        raise InputError(f"{where}: unsupported digest {digest!r}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != expected:
        raise DigestMismatchError(f"{where}: content has digest {algo}:{actual}, expected {digest}")


def history_for_layers(config: dict[str, Any], n_layers: int) -> list[dict[str, Any]]:
    """Pair layers with the history entries that made them (skipping `empty_layer` ones).

    When the history does not line up (hand-made images), fall back to no history rather
    than to a wrong `created_by`, which would send a user to the wrong Dockerfile line.
    """
    hist = config.get("history")
    if not isinstance(hist, list):
        return [{} for _ in range(n_layers)]
    real = [h for h in hist if isinstance(h, dict) and not h.get("empty_layer")]
    if len(real) != n_layers:
        return [{} for _ in range(n_layers)]
    return real


def target_info_from_config(name: str, kind: str, config: dict[str, Any], image_id: str, **kw: Any) -> TargetInfo:
    cfg = config.get("config") if isinstance(config.get("config"), dict) else {}
    raw_hist = config.get("history")
    hist = raw_hist if isinstance(raw_hist, list) else []
    return TargetInfo(
        name=name,
        kind=kind,
        image_id=image_id,
        architecture=str(config.get("architecture", "")),
        os=str(config.get("os", "")),
        created=str(config.get("created", "")),
        config=cfg or {},
        history=tuple(h for h in hist if isinstance(h, dict)),
        **kw,
    )


def diff_ids_of(config: dict[str, Any], where: str) -> list[str]:
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids", []), list):
        raise InputError(f"{where}: image config has no rootfs.diff_ids list")
    ids = [str(d) for d in rootfs.get("diff_ids", [])]
    for d in ids:
        if not d.startswith(("sha256:", "sha512:")):
            raise InputError(f"{where}: invalid diff_id {d!r} in image config")
    return ids


def platform_matches(platform: dict[str, Any] | None, wanted: str) -> bool:
    """`wanted` is os/arch[/variant]; a missing variant in `wanted` matches any variant."""
    if not isinstance(platform, dict):
        return False
    parts = wanted.split("/")
    if len(parts) < 2:
        return False
    if platform.get("os") != parts[0] or platform.get("architecture") != parts[1]:
        return False
    return len(parts) < 3 or platform.get("variant", "") == parts[2]


def pick_from_index(index: dict[str, Any], platform: str, where: str) -> dict[str, Any]:
    """Choose the manifest descriptor for `platform` from an image index / manifest list."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise InputError(f"{where}: image index lists no manifests")
    images = [
        m
        for m in manifests
        if isinstance(m, dict)
        and m.get("mediaType", MT_OCI_MANIFEST) in (MANIFEST_TYPES | INDEX_TYPES)
        and not _is_attestation(m)
    ]
    for m in images:
        if platform_matches(m.get("platform"), platform):
            return m
    if len(images) == 1 and not isinstance(images[0].get("platform"), dict):
        return images[0]
    offered = sorted(
        "/".join(x for x in (p.get("os", "?"), p.get("architecture", "?"), p.get("variant", "")) if x)
        for m in images
        if isinstance((p := m.get("platform")), dict)
    )
    raise InputError(f"{where}: no image for platform {platform} (index offers: {', '.join(offered) or 'none'})")


def _is_attestation(desc: dict[str, Any]) -> bool:
    ann = desc.get("annotations") or {}
    return isinstance(ann, dict) and "vnd.docker.reference.type" in ann


# ------------------------------------------------------------------ tar random access


class _Window(io.RawIOBase):
    """A read-only view of `size` bytes at `offset` of an open file (no copy, no extract)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._f = open(path, "rb")
        self._f.seek(offset)
        self._start = offset
        self._size = size
        self._left = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size - self._left

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._size - self._left, 2: self._size}[whence]
        new = max(0, min(self._size, base + pos))
        self._f.seek(self._start + new)
        self._left = self._size - new
        return new

    def readinto(self, b: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(b)[: min(len(b), self._left)]
        n = self._f.readinto(view)
        if not n:
            return 0
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    kind: str
    size: int
    offset: int  # of the data in the (uncompressed) archive file
    linkname: str


class TarIndex:
    """Member offsets of an uncompressed tar, for reading members without extracting them.

    Archives given compressed (`docker save | gzip`) are first decompressed into a spool file
    inside the cache directory: their manifest usually sits at the end, so one forward pass
    cannot know which layers it needs, and re-decompressing per member would cost more.
    """

    def __init__(self, path: Path, settings: Settings, label: str) -> None:
        self.label = label
        self._spool: IO[bytes] | None = None
        self.path = self._uncompressed(path, settings)
        self.members: dict[str, _Member] = {}
        from customhouse.image.tarstream import TarReader

        try:
            with open(self.path, "rb") as f:
                end = os.fstat(f.fileno()).st_size
                for e in TarReader(f, label, seekable=True):
                    offset = f.tell()
                    if e.kind == "file" and offset + e.size > end:
                        raise InputError(f"{label}: member {e.name!r} runs past the end of the archive")
                    name = _clean_member(e.name)
                    if name and e.kind in ("file", "symlink", "hardlink"):
                        self.members[name] = _Member(e.name, e.kind, e.size, offset, e.linkname)
        except InputError as exc:
            self.close()
            raise InputError(
                f"{label}: not a readable tar archive ({exc.message.removeprefix(label + ': ')})"
            ) from None
        except OSError as exc:
            self.close()
            raise InputError(f"{label}: cannot read ({exc.strerror})") from None

    def _uncompressed(self, path: Path, settings: Settings) -> Path:
        from customhouse.image.stream import open_decompressed, sniff_compression

        with open(path, "rb") as f:
            kind = sniff_compression(f.read(6))
        if kind == "none":
            return path
        spool = settings.spool_file(suffix=".tar")
        self._spool = spool
        with open(path, "rb") as raw:
            stream = open_decompressed(raw, kind, where=self.label, limits=settings.limits)
            while chunk := stream.read(1 << 20):
                spool.write(chunk)
        spool.flush()
        return Path(spool.name)

    def has(self, name: str) -> bool:
        return _clean_member(name) in self.members

    def _resolve(self, name: str, depth: int = 0) -> _Member:
        ti = self.members.get(_clean_member(name))
        if ti is None:
            raise InputError(f"{self.label}: archive has no member {name!r}")
        if ti.kind != "file":
            if depth > 16:
                raise InputError(f"{self.label}: link loop at member {name!r}")
            target = ti.linkname if ti.kind == "hardlink" else os.path.join(os.path.dirname(ti.name), ti.linkname)
            return self._resolve(os.path.normpath(target), depth + 1)
        return ti

    def size(self, name: str) -> int:
        return self._resolve(name).size

    def open(self, name: str) -> IO[bytes]:
        ti = self._resolve(name)
        return io.BufferedReader(_Window(self.path, ti.offset, ti.size), buffer_size=1 << 20)

    def read(self, name: str, limit: int) -> bytes:
        ti = self._resolve(name)
        if ti.size > limit:
            raise InputError(f"{self.label}: member {name!r} of {ti.size} bytes exceeds the {limit}-byte limit")
        with self.open(name) as f:
            return f.read()

    def names(self) -> Iterator[str]:
        return iter(self.members)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def _clean_member(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/").rstrip("/")
