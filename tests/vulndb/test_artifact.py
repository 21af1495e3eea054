"""`db push` / `db pull` against real registries (distribution's docker-registry), open and htpasswd."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from customhouse.errors import (
    EXIT_NETWORK,
    EXIT_OK,
    DatabaseError,
    InputError,
    NetworkError,
    RegistryDigestMismatchError,
)
from customhouse.settings import Settings
from customhouse.targets.registry.client import RegistryClient
from customhouse.targets.registry.credentials import Credentials
from customhouse.vulndb import artifact
from customhouse.vulndb.cli import run
from customhouse.vulndb.db import VulnDB
from tests.registry.conftest import (
    HTPASSWD,
    PASSWORD,
    REGISTRY_BIN,
    USER,
    Registry,
    _start_registry,
    basic_auth_entry,
    write_config,
)
from tests.vulndb.conftest import SharedDB, copy_db


@dataclass
class DBRegistries:
    open: Registry
    basic: Registry


@pytest.fixture(scope="module")
def regs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DBRegistries]:
    if not REGISTRY_BIN or not HTPASSWD:
        pytest.skip("docker-registry and htpasswd (apache2-utils) are needed")
    base = tmp_path_factory.mktemp("db-registries")
    htpasswd = base / "htpasswd"
    htpasswd.write_bytes(subprocess.run([HTPASSWD, "-Bbn", USER, PASSWORD], capture_output=True, check=True).stdout)
    started = [_start_registry("open", base, None)]
    try:
        started.append(_start_registry("basic", base, {"htpasswd": {"realm": "db-realm", "path": str(htpasswd)}}))
        yield DBRegistries(*started)
    finally:
        for reg in started:
            reg.proc.terminate()
            reg.proc.wait(10)


def _settings(tmp_path: Path, creds: bool = False) -> Settings:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir(exist_ok=True)
    if creds:
        write_config(config, {"auths": {}})
    return Settings(cache_dir=tmp_path / "cache", insecure=True, docker_config=config)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_pull_round_trip(regs: DBRegistries, shared_db: SharedDB, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ref = f"{regs.open.host}/security/customhouse-db:1"
    pushed = artifact.push(ref, shared_db.path, settings)
    assert pushed.digest.startswith("sha256:") and 0 < pushed.size < shared_db.path.stat().st_size / 2
    # The manifest is the documented artifact, as the registry stores it.
    manifest = httpx.get(
        f"http://{regs.open.host}/v2/security/customhouse-db/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    assert manifest["artifactType"] == artifact.ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == artifact.CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [artifact.LAYER_MEDIA_TYPE]
    assert manifest["annotations"][artifact.ANN_SCHEMA] == "1"
    with VulnDB(shared_db.path) as db:
        assert manifest["annotations"][artifact.ANN_BUILT] == db.meta["built_at"]
    # Pull over an existing (different) database: replaced whole, identical to what was pushed.
    target = tmp_path / "elsewhere" / "customhouse.db"
    target.parent.mkdir()
    target.write_bytes(b"an old database")
    info = artifact.pull(ref, target, settings)
    assert _sha(target) == _sha(shared_db.path)
    assert info["digest"] == manifest["layers"][0]["digest"]
    assert not list(target.parent.glob(".*.tmp"))
    # By digest too, and through the CLI.
    target2 = tmp_path / "by-digest.db"
    args = ["db", "pull", f"{regs.open.host}/security/customhouse-db@{pushed.digest}", "--db", str(target2)]
    assert run([*args, "--insecure", "--cache-dir", str(tmp_path / "cache"), "-q"]) == EXIT_OK
    assert _sha(target2) == _sha(shared_db.path)


def test_chunked_upload(regs: DBRegistries, shared_db: SharedDB, tmp_path: Path) -> None:
    """Blobs larger than the chunk size go up in PATCH chunks; the registry reassembles them."""
    settings = _settings(tmp_path)
    ref = f"{regs.open.host}/security/chunked:latest"
    pushed = artifact.push(ref, shared_db.path, settings, chunk_size=256 << 10)
    assert pushed.size > 4 * (256 << 10)  # several chunks
    target = tmp_path / "pulled.db"
    artifact.pull(ref, target, settings)
    assert _sha(target) == _sha(shared_db.path)
    # Pushing again is idempotent (the blobs are found and not uploaded again).
    again = artifact.push(ref, shared_db.path, settings, chunk_size=256 << 10)
    assert again.digest == pushed.digest


def test_basic_auth_push_pull(regs: DBRegistries, shared_db: SharedDB, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.docker_config is not None
    ref = f"{regs.basic.host}/private/db:v1"
    with pytest.raises(NetworkError, match="access denied"):
        artifact.push(ref, shared_db.path, settings)
    write_config(settings.docker_config, {"auths": {regs.basic.host: basic_auth_entry()}})
    artifact.push(ref, shared_db.path, settings)
    target = tmp_path / "pulled.db"
    artifact.pull(ref, target, settings)
    assert _sha(target) == _sha(shared_db.path)
    write_config(settings.docker_config, {"auths": {regs.basic.host: basic_auth_entry(password="wrong")}})
    with pytest.raises(NetworkError, match="access denied"):
        artifact.pull(ref, tmp_path / "nope.db", settings)


def _push_raw(
    work: Path, host: str, repo: str, tag: str, config: dict[str, object], layer: bytes, layer_type: str
) -> None:
    """An artifact made by hand, to see what pull does with things our push never makes."""
    settings = Settings(insecure=True)
    client = RegistryClient(host, host, settings, Credentials())
    try:
        blobs = []
        for data, media in ((json.dumps(config).encode(), artifact.CONFIG_MEDIA_TYPE), (layer, layer_type)):
            path = work / f"blob-{hashlib.sha256(data).hexdigest()}"
            path.write_bytes(data)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            client.upload_blob(repo, path, digest)
            path.unlink()
            blobs.append({"mediaType": media, "digest": digest, "size": len(data)})
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
        manifest.update({"config": blobs[0], "layers": [blobs[1]]})
        client.put_manifest(repo, tag, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    finally:
        client.close()


def test_pull_refuses_other_schema_without_touching_the_database(
    regs: DBRegistries, shared_db: SharedDB, tmp_path: Path
) -> None:
    import zstandard

    layer = zstandard.ZstdCompressor().compress(shared_db.path.read_bytes())
    config = {"schema_version": 999, "sqlite_sha256": _sha(shared_db.path)}
    _push_raw(tmp_path, regs.open.host, "security/future", "v999", config, layer, artifact.LAYER_MEDIA_TYPE)
    target = copy_db(shared_db.path, tmp_path / "db.sqlite")
    before = _sha(target)
    with pytest.raises(DatabaseError, match="schema 999 but this customhouse needs 1"):
        artifact.pull(f"{regs.open.host}/security/future:v999", target, _settings(tmp_path))
    assert _sha(target) == before


def test_pull_refuses_what_is_not_a_database(regs: DBRegistries, shared_db: SharedDB, tmp_path: Path) -> None:
    config = {"schema_version": 1, "sqlite_sha256": hashlib.sha256(b"hello").hexdigest()}
    import zstandard

    hello = zstandard.ZstdCompressor().compress(b"hello")
    _push_raw(tmp_path, regs.open.host, "security/notdb", "v1", config, hello, "text/plain")
    target = copy_db(shared_db.path, tmp_path / "db.sqlite")
    with pytest.raises(InputError, match="unexpected layer media type"):
        artifact.pull(f"{regs.open.host}/security/notdb:v1", target, _settings(tmp_path))
    # A valid artifact whose content is not a database: verified, opened, refused.
    layer = zstandard.ZstdCompressor().compress(b"hello")
    _push_raw(tmp_path, regs.open.host, "security/notdb", "v2", config, layer, artifact.LAYER_MEDIA_TYPE)
    with pytest.raises(DatabaseError, match="db update"):
        artifact.pull(f"{regs.open.host}/security/notdb:v2", target, _settings(tmp_path))
    assert _sha(target) == _sha(shared_db.path)
    assert not list(tmp_path.glob(".*.tmp"))


def test_tampered_blob_is_a_network_error(
    regs: DBRegistries, shared_db: SharedDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    ref = f"{regs.open.host}/security/tamper:v1"
    artifact.push(ref, shared_db.path, settings)
    manifest = httpx.get(
        f"http://{regs.open.host}/v2/security/tamper/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    blob = regs.open.blob_path(manifest["layers"][0]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    target = copy_db(shared_db.path, tmp_path / "db" / "customhouse.db")
    before = _sha(target)
    try:
        with pytest.raises(RegistryDigestMismatchError, match="blob has digest"):
            artifact.pull(ref, target, settings)
        capsys.readouterr()
        code = run(["db", "pull", ref, "--db", str(target), "--insecure", "--cache-dir", str(tmp_path / "c")])
        err = capsys.readouterr().err
        assert code == EXIT_NETWORK and err.count("\n") == 1 and manifest["layers"][0]["digest"] in err
    finally:
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
    assert _sha(target) == before
    assert not list(target.parent.glob(".*.tmp"))


def test_push_needs_a_valid_database_and_a_tag(regs: DBRegistries, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database")
    with pytest.raises(DatabaseError):
        artifact.push(f"{regs.open.host}/security/bad:v1", bad, _settings(tmp_path))
    from customhouse.errors import UsageError

    with pytest.raises(UsageError):
        artifact.push(f"{regs.open.host}/security/bad@sha256:{'a' * 64}", bad, _settings(tmp_path))
