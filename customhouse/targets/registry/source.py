"""`registry:REF` (and bare references): an image read straight from a registry.

Resolution mirrors the layout sources: the manifest named by the tag or digest, then (for a
multi-platform image) the manifest picked for Settings.platform, then the config. Those small
documents are fetched whole and verified before use; layers are not fetched here at all but
handed to the image stage as lazy streams, so a layer the cache already knows costs nothing.
"""

from __future__ import annotations

from functools import partial
from typing import IO, Any

import httpx

from customhouse.errors import InputError, NetworkError
from customhouse.settings import Settings, host_platform
from customhouse.targets.base import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_DOCKER_CONFIG,
    MT_OCI_CONFIG,
    ImageSource,
    LayerRef,
    diff_ids_of,
    history_for_layers,
    load_json,
    pick_from_index,
    target_info_from_config,
)
from customhouse.targets.registry.client import SCHEMA1_TYPES, Manifest, RegistryClient, schema1_error
from customhouse.targets.registry.credentials import lookup_credentials
from customhouse.targets.registry.progress import Downloads
from customhouse.targets.registry.reference import Reference, check_digest, parse_reference

MAX_INDEX_DEPTH = 8
CONFIG_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})


class RegistrySource(ImageSource):
    """An image in a registry; close() it to release the connection pool and progress bars."""

    def __init__(self, ref: str, settings: Settings, spec: str) -> None:
        self.ref: Reference = parse_reference(ref)
        self.settings = settings
        self.label = str(self.ref)
        creds = lookup_credentials(self.ref.registry, settings)
        self.client = RegistryClient(self.ref.registry, self.ref.api_host, settings, creds)
        self._downloads = Downloads(settings.progress)
        try:
            self._load(spec)
        except httpx.HTTPError as exc:  # anything the client did not already translate
            self.close()
            raise NetworkError(f"{self.label}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
        except BaseException:
            self.close()
            raise

    def _load(self, spec: str) -> None:
        ref, client = self.ref, self.client
        limit = self.settings.limits.max_json_bytes
        platform = self.settings.platform or host_platform()
        top = client.manifest(ref.repository, ref.reference, ref.digest, limit)
        self.manifest_digest = top.digest
        current, doc = top, self._document(top, ref.reference)
        for _ in range(MAX_INDEX_DEPTH):
            media_type = str(doc.get("mediaType") or current.media_type)
            if media_type in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
                where = f"{self.label}: index {current.digest}"
                desc = pick_from_index(doc, platform, where)
                digest = str(desc.get("digest", ""))
                check_digest(digest, where)
                current = client.manifest(ref.repository, digest, digest, limit)
                doc = self._document(current, digest)
                continue
            if media_type not in MANIFEST_TYPES:
                raise InputError(f"{self.label}: unsupported manifest media type {media_type or '(none)'}")
            break
        else:
            raise InputError(f"{self.label}: image indexes nested more than {MAX_INDEX_DEPTH} deep")
        self.image_manifest_digest = current.digest
        self.config = self._config(doc, limit)
        self.layers = self._layers(doc)
        tags = (ref.familiar().partition("@")[0],) if ref.tag else ()
        self.info = target_info_from_config(
            spec,
            "registry",
            self.config,
            str(doc["config"]["digest"]),
            repo_tags=tags,
            repo_digests=(f"{ref.familiar_name}@{top.digest}",),
        )

    def _document(self, manifest: Manifest, reference: str) -> dict[str, Any]:
        where = f"{self.label}: manifest {reference}"
        if manifest.media_type in SCHEMA1_TYPES:
            raise schema1_error(self.label)
        doc = load_json(manifest.data, where, self.settings.limits.max_json_bytes)
        if not isinstance(doc, dict):
            raise InputError(f"{where}: not a JSON object")
        if doc.get("schemaVersion") == 1 or str(doc.get("mediaType", "")) in SCHEMA1_TYPES:
            raise schema1_error(self.label)
        return doc

    def _config(self, manifest: dict[str, Any], limit: int) -> dict[str, Any]:
        desc = manifest.get("config")
        if not isinstance(desc, dict):
            raise InputError(f"{self.label}: manifest has no config descriptor")
        media_type = str(desc.get("mediaType", ""))
        if media_type not in CONFIG_TYPES:
            raise InputError(f"{self.label}: not a container image (config media type {media_type or '(none)'})")
        digest = str(desc.get("digest", ""))
        check_digest(digest, f"{self.label}: config")
        data = self.client.blob_bytes(self.ref.repository, digest, limit, "config")
        config = load_json(data, f"{self.label}: config {digest}", limit)
        if not isinstance(config, dict):
            raise InputError(f"{self.label}: config {digest} is not a JSON object")
        return config

    def _layers(self, manifest: dict[str, Any]) -> list[LayerRef]:
        descs = manifest.get("layers")
        if not isinstance(descs, list):
            raise InputError(f"{self.label}: manifest has no layers list")
        diff_ids = diff_ids_of(self.config, f"{self.label}: config")
        if len(diff_ids) != len(descs):
            raise InputError(
                f"{self.label}: manifest has {len(descs)} layers but the config has {len(diff_ids)} diff_ids"
            )
        history = history_for_layers(self.config, len(descs))
        layers: list[LayerRef] = []
        for i, (desc, diff_id) in enumerate(zip(descs, diff_ids, strict=True)):
            if not isinstance(desc, dict):
                raise InputError(f"{self.label}: layer descriptor {i} is not an object")
            digest = str(desc.get("digest", ""))
            check_digest(digest, f"{self.label}: layer {i + 1}")
            size = desc.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InputError(f"{self.label}: layer {i + 1} has no valid size")
            h = history[i]
            layers.append(
                LayerRef(
                    index=i,
                    digest=digest,
                    diff_id=diff_id,
                    media_type=str(desc.get("mediaType", "")),
                    size=size,
                    open=partial(self._open_layer, i, len(descs), digest, size),
                    source=f"{self.ref.name}@{digest}",
                    created_by=str(h.get("created_by", "")),
                    created=str(h.get("created", "")),
                    comment=str(h.get("comment", "")),
                    remote=True,
                )
            )
        return layers

    def _open_layer(self, index: int, count: int, digest: str, size: int) -> IO[bytes]:
        where = f"{self.ref.name}@{digest}"
        task = self._downloads.task(f"layer {index + 1}/{count} {digest.partition(':')[2][:12]}", size)
        stream = self.client.open_blob(self.ref.repository, digest, size, where, task)
        return stream  # type: ignore[return-value]  # a RawIOBase is a binary IO

    def close(self) -> None:
        self._downloads.close()
        self.client.close()
