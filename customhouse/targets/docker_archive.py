"""`docker-archive:PATH[:REF]`: what `docker save` writes, plain or compressed.

Three layouts exist in the wild and all are read: `manifest.json` with `<id>/layer.tar`
(Docker 1.10-24), `manifest.json` with `blobs/sha256/...` (Docker 25+, an OCI layout inside),
and the old `repositories` + `<id>/json` chain without a manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from customhouse.errors import InputError
from customhouse.image.stream import sniff_compression
from customhouse.settings import Settings
from customhouse.targets.base import (
    ImageSource,
    LayerRef,
    TarIndex,
    diff_ids_of,
    history_for_layers,
    load_json,
    target_info_from_config,
    verify_digest,
)


class DockerArchive(ImageSource):
    def __init__(self, path: Path, ref: str, settings: Settings, name: str) -> None:
        self.label = str(path)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        self.tar = TarIndex(path, settings, self.label)
        try:
            self._load(ref, settings, name)
        except BaseException:
            self.tar.close()
            raise

    def _load(self, ref: str, settings: Settings, name: str) -> None:
        lim = settings.limits.max_json_bytes
        if self.tar.has("manifest.json"):
            manifest = load_json(self.tar.read("manifest.json", lim), f"{self.label}: manifest.json", lim)
            entry = self._pick(manifest, ref)
            cfg_name = entry.get("Config")
            if not isinstance(cfg_name, str):
                raise InputError(f"{self.label}: manifest.json entry has no Config")
            cfg_bytes = self.tar.read(cfg_name, lim)
            image_id = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
            if cfg_name.startswith("blobs/"):
                verify_digest(cfg_bytes, cfg_name.split("/", 1)[1].replace("/", ":", 1), f"{self.label}: {cfg_name}")
            self.config = _as_dict(load_json(cfg_bytes, f"{self.label}: {cfg_name}", lim), f"{self.label}: {cfg_name}")
            layer_names = entry.get("Layers")
            if not isinstance(layer_names, list) or not all(isinstance(x, str) for x in layer_names):
                raise InputError(f"{self.label}: manifest.json entry has no Layers list")
            diff_ids = diff_ids_of(self.config, f"{self.label}: {cfg_name}")
            if len(diff_ids) != len(layer_names):
                raise InputError(
                    f"{self.label}: manifest lists {len(layer_names)} layers "
                    f"but the config has {len(diff_ids)} diff_ids"
                )
            tags = tuple(t for t in entry.get("RepoTags") or () if isinstance(t, str))
            sources = entry.get("LayerSources") if isinstance(entry.get("LayerSources"), dict) else {}
        else:
            layer_names, diff_ids, image_id, tags = self._legacy(ref, lim)
            sources = {}
        hist = history_for_layers(self.config, len(layer_names))
        self.layers = []
        for i, (lname, diff_id) in enumerate(zip(layer_names, diff_ids, strict=True)):
            if not self.tar.has(lname):
                raise InputError(f"{self.label}: layer {lname!r} named in the manifest is missing")
            blob_digest = ""
            media_type = "application/vnd.docker.image.rootfs.diff.tar"
            if lname.startswith("blobs/"):
                blob_digest = lname.split("/", 1)[1].replace("/", ":", 1)
            src = sources.get(diff_id) if isinstance(sources, dict) else None
            if isinstance(src, dict):
                media_type = str(src.get("mediaType", media_type))
            h = hist[i]
            self.layers.append(
                LayerRef(
                    index=i,
                    digest=blob_digest,
                    diff_id=diff_id,
                    media_type=media_type,
                    size=self.tar.size(lname),
                    open=lambda n=lname: self.tar.open(n),  # type: ignore[misc]
                    source=f"{self.label}:{lname}",
                    created_by=str(h.get("created_by", "")),
                    created=str(h.get("created", "")),
                    comment=str(h.get("comment", "")),
                )
            )
        self.info = target_info_from_config(name, "docker-archive", self.config, image_id, repo_tags=tags)

    def _pick(self, manifest: Any, ref: str) -> dict[str, Any]:
        if not isinstance(manifest, list) or not manifest or not all(isinstance(m, dict) for m in manifest):
            raise InputError(f"{self.label}: manifest.json is not a non-empty list of images")
        if not ref:
            if len(manifest) > 1:
                tags = [t for m in manifest for t in (m.get("RepoTags") or [])]
                raise InputError(
                    f"{self.label}: archive holds {len(manifest)} images; pick one with "
                    f"docker-archive:{self.label}:REF (tags: {', '.join(tags) or 'none'}) or :@INDEX"
                )
            return dict(manifest[0])
        if ref.startswith("@") and ref[1:].isdigit():
            idx = int(ref[1:])
            if idx >= len(manifest):
                raise InputError(f"{self.label}: archive has no image #{idx}")
            return dict(manifest[idx])
        for m in manifest:
            tags = m.get("RepoTags") or []
            if ref in tags or (":" not in ref and f"{ref}:latest" in tags):
                return dict(m)
        raise InputError(f"{self.label}: no image tagged {ref!r} in the archive")

    def _legacy(self, ref: str, lim: int) -> tuple[list[str], list[str], str, tuple[str, ...]]:
        """Pre-1.10 layout: follow `parent` links from the tagged top layer down."""
        if not self.tar.has("repositories"):
            raise InputError(f"{self.label}: neither manifest.json nor repositories found (not a docker save archive)")
        repos = load_json(self.tar.read("repositories", lim), f"{self.label}: repositories", lim)
        if not isinstance(repos, dict) or not repos:
            raise InputError(f"{self.label}: repositories file is empty or malformed")
        tops: list[tuple[str, str]] = [
            (f"{r}:{t}", str(i)) for r, tags in repos.items() if isinstance(tags, dict) for t, i in tags.items()
        ]
        if ref:
            chosen = [x for x in tops if x[0] == ref or x[0] == f"{ref}:latest"]
        else:
            chosen = tops[:1] if len({i for _, i in tops}) == 1 else tops
        if len(chosen) != 1:
            raise InputError(
                f"{self.label}: pick one image with docker-archive:PATH:REF ({', '.join(t for t, _ in tops)})"
            )
        tag, top = chosen[0]
        chain: list[str] = []
        layer_id: str | None = top
        while layer_id:
            if layer_id in chain or len(chain) > 512:
                raise InputError(f"{self.label}: parent chain of layer {layer_id} loops")
            chain.append(layer_id)
            meta = load_json(self.tar.read(f"{layer_id}/json", lim), f"{self.label}: {layer_id}/json", lim)
            if not isinstance(meta, dict):
                raise InputError(f"{self.label}: {layer_id}/json is not an object")
            if layer_id == top:
                self.config = meta
            layer_id = meta.get("parent") or None
        chain.reverse()
        names = [f"{c}/layer.tar" for c in chain]
        ids: list[str] = []
        for n in names:  # no diff_ids in v1 metadata: hash the (uncompressed) layer tars
            h = hashlib.sha256()
            with self.tar.open(n) as f:
                head = f.read(6)
                if sniff_compression(head) != "none":
                    ids.append("")  # unknown without decompressing: no cache key, verified by nothing
                    continue
                h.update(head)
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            ids.append("sha256:" + h.hexdigest())
        self.config.setdefault("rootfs", {"type": "layers", "diff_ids": ids})
        return names, ids, "sha256:" + top, (tag,)

    def close(self) -> None:
        self.tar.close()


def _as_dict(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: image config is not a JSON object")
    return obj
