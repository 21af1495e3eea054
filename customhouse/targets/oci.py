"""`oci-layout:DIR[:REF]` and `oci-archive:PATH[:REF]`: the OCI image layout, on disk or in a tar.

Both resolve the same way: `index.json` -> (nested indexes, picked by platform or by the
`org.opencontainers.image.ref.name` annotation) -> manifest -> config and layers, with every
small document verified against its digest before it is trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from customhouse.errors import InputError
from customhouse.settings import Settings, host_platform
from customhouse.targets.base import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    ImageSource,
    LayerRef,
    TarIndex,
    diff_ids_of,
    history_for_layers,
    load_json,
    pick_from_index,
    target_info_from_config,
    verify_digest,
)

REF_ANNOTATION = "org.opencontainers.image.ref.name"


class _Blobs:
    """Blob access by digest, over a directory or a tar index."""

    def __init__(self, label: str, root: Path | None = None, tar: TarIndex | None = None) -> None:
        self.label = label
        self.root = root
        self.tar = tar

    def _rel(self, digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        if not algo or not hexpart or "/" in hexpart or ".." in hexpart or "/" in algo:
            raise InputError(f"{self.label}: invalid digest {digest!r}")
        return f"blobs/{algo}/{hexpart}"

    def exists(self, digest: str) -> bool:
        rel = self._rel(digest)
        if self.tar is not None:
            return self.tar.has(rel)
        assert self.root is not None
        return (self.root / rel).is_file()

    def size(self, digest: str) -> int:
        rel = self._rel(digest)
        if self.tar is not None:
            return self.tar.size(rel)
        assert self.root is not None
        return (self.root / rel).stat().st_size

    def read_small(self, name: str, limit: int) -> bytes:
        if self.tar is not None:
            return self.tar.read(name, limit)
        assert self.root is not None
        p = self.root / name
        try:
            if p.stat().st_size > limit:
                raise InputError(f"{self.label}: {name} exceeds the {limit}-byte limit")
            return p.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{self.label}: {name} not found") from None

    def document(self, desc: dict[str, Any], limit: int) -> dict[str, Any]:
        digest = str(desc.get("digest", ""))
        rel = self._rel(digest)
        if not self.exists(digest):
            raise InputError(f"{self.label}: blob {digest} referenced but missing")
        data = self.read_small(rel, limit)
        verify_digest(data, digest, f"{self.label}: {rel}")
        obj = load_json(data, f"{self.label}: {rel}", limit)
        if not isinstance(obj, dict):
            raise InputError(f"{self.label}: {rel} is not a JSON object")
        return obj

    def opener(self, digest: str) -> Callable[[], IO[bytes]]:
        rel = self._rel(digest)
        if self.tar is not None:
            tar = self.tar
            return lambda: tar.open(rel)
        assert self.root is not None
        path = self.root / rel
        return lambda: open(path, "rb")


class OCILayout(ImageSource):
    def __init__(self, kind: str, path: Path, ref: str, settings: Settings, name: str) -> None:
        self.label = str(path)
        self._tar: TarIndex | None = None
        if kind == "oci-archive":
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            self._tar = TarIndex(path, settings, self.label)
            blobs = _Blobs(self.label, tar=self._tar)
        else:
            if not path.is_dir():
                raise InputError(f"{path}: not a directory (an OCI layout has index.json and blobs/)")
            blobs = _Blobs(self.label, root=path)
        try:
            self._load(kind, blobs, ref, settings, name)
        except BaseException:
            self.close()
            raise

    def _load(self, kind: str, blobs: _Blobs, ref: str, settings: Settings, name: str) -> None:
        lim = settings.limits.max_json_bytes
        layout = blobs.read_small("oci-layout", lim) if _has(blobs, "oci-layout") else b""
        if layout:
            ver = load_json(layout, f"{self.label}: oci-layout", lim)
            if not isinstance(ver, dict) or "imageLayoutVersion" not in ver:
                raise InputError(f"{self.label}: oci-layout file lacks imageLayoutVersion")
        index = load_json(blobs.read_small("index.json", lim), f"{self.label}: index.json", lim)
        if not isinstance(index, dict):
            raise InputError(f"{self.label}: index.json is not a JSON object")
        platform = settings.platform or host_platform()
        self._platform = platform
        desc = self._select_top(index, ref)
        digest_path = [str(desc.get("digest", ""))]
        manifest: dict[str, Any] | None = None
        for _ in range(8):  # indexes may nest; bound the depth
            doc = blobs.document(desc, lim)
            mt = str(doc.get("mediaType") or desc.get("mediaType") or "")
            if mt in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
                desc = pick_from_index(doc, platform, f"{self.label}: {desc.get('digest')}")
                digest_path.append(str(desc.get("digest", "")))
                continue
            if mt and mt not in MANIFEST_TYPES:
                raise InputError(f"{self.label}: unsupported manifest media type {mt}")
            manifest = doc
            break
        if manifest is None:
            raise InputError(f"{self.label}: image indexes nested too deeply")
        cfg_desc = manifest.get("config")
        if not isinstance(cfg_desc, dict):
            raise InputError(f"{self.label}: manifest has no config descriptor")
        self.config = blobs.document(cfg_desc, lim)
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise InputError(f"{self.label}: manifest has no layers list")
        diff_ids = diff_ids_of(self.config, f"{self.label}: config")
        if len(diff_ids) != len(layers):
            raise InputError(f"{self.label}: manifest has {len(layers)} layers but config has {len(diff_ids)} diff_ids")
        hist = history_for_layers(self.config, len(layers))
        self.layers = []
        for i, (ld, diff_id) in enumerate(zip(layers, diff_ids, strict=True)):
            if not isinstance(ld, dict):
                raise InputError(f"{self.label}: layer descriptor {i} is not an object")
            d = str(ld.get("digest", ""))
            if not blobs.exists(d):
                raise InputError(f"{self.label}: layer blob {d} is missing")
            h = hist[i]
            self.layers.append(
                LayerRef(
                    index=i,
                    digest=d,
                    diff_id=diff_id,
                    media_type=str(ld.get("mediaType", "")),
                    size=int(ld["size"]) if isinstance(ld.get("size"), int) else blobs.size(d),
                    open=blobs.opener(d),
                    source=f"{self.label}:{d}",
                    created_by=str(h.get("created_by", "")),
                    created=str(h.get("created", "")),
                    comment=str(h.get("comment", "")),
                )
            )
        tags: tuple[str, ...] = ()
        ann = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else None
        top_ann = self._top_annotations
        refname = (top_ann or {}).get(REF_ANNOTATION) or (ann or {}).get(REF_ANNOTATION)
        if refname:
            tags = (str(refname),)
        self.info = target_info_from_config(
            name, kind, self.config, str(cfg_desc.get("digest", "")), repo_tags=tags, repo_digests=(digest_path[0],)
        )

    def _select_top(self, index: dict[str, Any], ref: str) -> dict[str, Any]:
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            raise InputError(f"{self.label}: index.json lists no manifests")
        descs = [m for m in manifests if isinstance(m, dict)]
        self._top_annotations: dict[str, Any] | None = None
        if ref:
            for m in descs:
                ann = m.get("annotations") or {}
                if ann.get(REF_ANNOTATION) == ref or m.get("digest") == ref:
                    self._top_annotations = ann
                    return m
            refs = [str((m.get("annotations") or {}).get(REF_ANNOTATION, m.get("digest"))) for m in descs]
            raise InputError(f"{self.label}: no image named {ref!r} in index.json (has: {', '.join(refs)})")
        if len(descs) == 1:
            self._top_annotations = descs[0].get("annotations") or None
            return descs[0]
        # Several top-level entries: treat index.json itself as an index (platform pick).
        wrapper = {"manifests": descs}
        chosen = pick_from_index(wrapper, self._platform, f"{self.label}: index.json")
        self._top_annotations = chosen.get("annotations") or None
        return chosen

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def _has(blobs: _Blobs, name: str) -> bool:
    if blobs.tar is not None:
        return blobs.tar.has(name)
    assert blobs.root is not None
    return (blobs.root / name).is_file()
