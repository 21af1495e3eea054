"""`db push REF` / `db pull REF`: the database as an OCI artifact in any registry.

Air-gapped and CI users cannot reach the feeds, but they can reach a registry; so one machine
builds the database and pushes it, and the others pull it with the credentials they already
have for images (Docker's config, credential helpers). The artifact is an OCI image manifest:

    artifactType  application/vnd.customhouse.db.v1
    config        application/vnd.customhouse.db.config.v1+json
                  {"schema_version", "built_at", "builder", "sqlite_sha256", "sqlite_size"}
    layer         application/vnd.customhouse.db.layer.v1.sqlite+zstd  (the SQLite file, zstd)
    annotations   io.customhouse.db.schema-version, io.customhouse.db.built-at,
                  org.opencontainers.image.created

Pull refuses anything else: another media type (not our artifact), another schema version (this
customhouse could not read it: exit 4 before downloading the layer). The layer is verified
three times: the registry blob digest after download, the SHA-256 of the decompressed file
against the config, and by opening it with the reader, and only then renamed over the current
database, under the same lock `db build` takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customhouse.errors import DatabaseError, InputError, UsageError
from customhouse.settings import Settings
from customhouse.targets.base import MT_OCI_MANIFEST
from customhouse.targets.registry.client import RegistryClient
from customhouse.targets.registry.credentials import lookup_credentials
from customhouse.targets.registry.progress import Downloads
from customhouse.targets.registry.reference import Reference, parse_reference
from customhouse.vulndb.build import db_lock, fsync_and_replace, temp_path
from customhouse.vulndb.schema import META_BUILDER, META_BUILT, SCHEMA_VERSION

ARTIFACT_TYPE = "application/vnd.customhouse.db.v1"
CONFIG_MEDIA_TYPE = "application/vnd.customhouse.db.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.customhouse.db.layer.v1.sqlite+zstd"
ANN_SCHEMA = "io.customhouse.db.schema-version"
ANN_BUILT = "io.customhouse.db.built-at"
ANN_CREATED = "org.opencontainers.image.created"
ANN_TITLE = "org.opencontainers.image.title"
ZSTD_LEVEL = 10
CHUNK = 1 << 20
MAX_CONFIG = 1 << 20


@dataclass(frozen=True, slots=True)
class PushResult:
    reference: str
    digest: str
    size: int  # compressed layer bytes


def _client(ref: Reference, settings: Settings) -> RegistryClient:
    creds = lookup_credentials(ref.registry, settings)
    return RegistryClient(ref.registry, ref.api_host, settings, creds)


def _compress(src: Path, dst: Path) -> tuple[str, str]:
    """zstd-compress `src` into `dst`; returns (sha256 of src, sha256 of dst)."""
    import zstandard

    raw_hash, out_hash = hashlib.sha256(), hashlib.sha256()
    cobj = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1).compressobj(size=src.stat().st_size)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            raw_hash.update(chunk)
            data = cobj.compress(chunk)
            out_hash.update(data)
            fout.write(data)
        data = cobj.flush()
        out_hash.update(data)
        fout.write(data)
    return raw_hash.hexdigest(), out_hash.hexdigest()


def push(reference: str, db_path: Path, settings: Settings, chunk_size: int | None = None) -> PushResult:
    """Publish `db_path` under `reference` (a tag; digests are what registries compute)."""
    from customhouse.vulndb.db import VulnDB

    ref = parse_reference(reference)
    if ref.digest:
        raise UsageError(f"{reference}: push to a tag, not a digest (the registry computes the digest)")
    with VulnDB(db_path) as db:  # refuse to publish a database this version cannot read
        built = db.meta.get(META_BUILT, "")
        builder = db.meta.get(META_BUILDER, "")
    tag = ref.tag or "latest"
    with settings.spool_file(".db.zst") as spool:
        layer_path = Path(spool.name)
        raw_sha, layer_sha = _compress(db_path, layer_path)
        layer_size = layer_path.stat().st_size
        config = json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "built_at": built,
                "builder": builder,
                "sqlite_sha256": raw_sha,
                "sqlite_size": db_path.stat().st_size,
            },
            sort_keys=True,
        ).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        layer_digest = "sha256:" + layer_sha
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": layer_digest,
                    "size": layer_size,
                    "annotations": {ANN_TITLE: "customhouse.db.zst"},
                }
            ],
            "annotations": {ANN_SCHEMA: str(SCHEMA_VERSION), ANN_BUILT: built, ANN_CREATED: built},
        }
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        client = _client(ref, settings)
        try:
            with settings.spool_file(".json") as cfg:
                Path(cfg.name).write_bytes(config)
                client.upload_blob(ref.repository, Path(cfg.name), config_digest)
            kwargs = {"chunk_size": chunk_size} if chunk_size else {}
            client.upload_blob(ref.repository, layer_path, layer_digest, **kwargs)
            digest = client.put_manifest(ref.repository, tag, data, MT_OCI_MANIFEST)
        finally:
            client.close()
    return PushResult(f"{ref.name}:{tag}", digest, layer_size)


def _manifest(client: RegistryClient, ref: Reference, settings: Settings) -> dict[str, Any]:
    limit = settings.limits.max_json_bytes
    got = client.manifest(ref.repository, ref.reference, ref.digest, limit)
    where = f"{ref}"
    try:
        doc = json.loads(got.data)
    except ValueError:
        raise InputError(f"{where}: manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: manifest is not a JSON object")
    config = doc.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if doc.get("mediaType", got.media_type) != MT_OCI_MANIFEST or config_type != CONFIG_MEDIA_TYPE:
        raise InputError(
            f"{where}: not a customhouse vulnerability database (config media type {config_type or '(none)'})"
        )
    annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
    schema = str((annotations or {}).get(ANN_SCHEMA, ""))
    if schema and schema != str(SCHEMA_VERSION):
        raise DatabaseError(
            f"{where}: database schema {schema} but this customhouse needs {SCHEMA_VERSION}; "
            "push a database built by this version, or run `customhouse db update`"
        )
    return doc


def pull(reference: str, db_path: Path, settings: Settings) -> dict[str, Any]:
    """Fetch the artifact at `reference`, verify it, and atomically replace `db_path`."""
    try:
        return _pull(reference, db_path, settings)
    except OSError as exc:  # not writable, disk full: the old database is still in place
        raise DatabaseError(f"{exc.filename or db_path}: cannot write the database ({exc.strerror})") from None


def _pull(reference: str, db_path: Path, settings: Settings) -> dict[str, Any]:
    import zstandard

    from customhouse.vulndb.db import VulnDB

    ref = parse_reference(reference)
    client = _client(ref, settings)
    bars = Downloads(settings.progress)
    try:
        doc = _manifest(client, ref, settings)
        config_digest = str(doc["config"].get("digest", ""))
        config_raw = client.blob_bytes(ref.repository, config_digest, MAX_CONFIG, "config")
        try:
            config = json.loads(config_raw)
            expected_sha = str(config["sqlite_sha256"])
            schema = int(config["schema_version"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{ref}: database config {config_digest} is malformed") from None
        if schema != SCHEMA_VERSION:
            raise DatabaseError(
                f"{ref}: database schema {schema} but this customhouse needs {SCHEMA_VERSION}; "
                "push a database built by this version, or run `customhouse db update`"
            )
        layers = doc.get("layers")
        if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
            raise InputError(f"{ref}: a database artifact has exactly one layer")
        layer = layers[0]
        if layer.get("mediaType") != LAYER_MEDIA_TYPE:
            raise InputError(f"{ref}: unexpected layer media type {layer.get('mediaType')!r}")
        digest, size = str(layer.get("digest", "")), layer.get("size")
        if not isinstance(size, int) or size < 0:
            raise InputError(f"{ref}: layer has no valid size")
        with db_lock(db_path):
            packed, tmp = temp_path(db_path, "pull-zst"), temp_path(db_path, "pull")
            try:
                # Whole blob first: its digest is checked at the end of the stream, and a
                # tampered blob must be reported as such, not as a zstd error half-way.
                task = bars.task(f"database {digest.partition(':')[2][:12]}", size)
                stream = client.open_blob(ref.repository, digest, size, f"{ref.name}@{digest}", task)
                with stream, open(packed, "wb") as out:
                    while chunk := stream.read(CHUNK):
                        out.write(chunk)
                got = hashlib.sha256()
                dctx = zstandard.ZstdDecompressor().decompressobj()
                with open(packed, "rb") as fin, open(tmp, "wb") as out:
                    while chunk := fin.read(CHUNK):
                        try:
                            plain = dctx.decompress(chunk)
                        except zstandard.ZstdError as exc:
                            raise InputError(f"{ref}: database layer is not valid zstd ({exc})") from None
                        got.update(plain)
                        out.write(plain)
                if got.hexdigest() != expected_sha:
                    raise InputError(
                        f"{ref}: decompressed database has sha256 {got.hexdigest()}, the artifact says {expected_sha}"
                    )
                with VulnDB(tmp) as check:
                    meta = dict(check.meta)
                fsync_and_replace(tmp, db_path)
            finally:
                for leftover in (packed, tmp):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
    finally:
        bars.close()
        client.close()
    return {"reference": str(ref), "path": str(db_path), "built_at": meta.get(META_BUILT, ""), "digest": digest}
