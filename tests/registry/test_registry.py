"""The registry target against real distribution registries (see conftest.py).

Every successful pull is checked against the same image read from the OCI layout it was
pushed from: the package lists must be identical, so any byte the client got wrong (or any
layer it skipped) shows up as a difference, and every layer's digest is verified on the way.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from customhouse.catalog import catalog
from customhouse.errors import (
    EXIT_INPUT,
    EXIT_NETWORK,
    InputError,
    NetworkError,
    RegistryDigestMismatchError,
)
from customhouse.model import Package
from customhouse.settings import Settings
from customhouse.targets import open_target
from customhouse.targets.registry.source import RegistrySource
from tests.registry.conftest import (
    PASSWORD,
    REFRESH_TOKEN,
    USER,
    FaultProxy,
    Registries,
    TokenService,
    basic_auth_entry,
    layout_digest,
    write_config,
)
from tests.registry.test_credentials import make_helper

pytestmark = pytest.mark.slow
CLI = Path(sys.executable).with_name("customhouse")


def local_packages(layout: Path, tag: str, settings: Settings) -> tuple[Package, ...]:
    packages = catalog(f"oci-layout:{layout}:{tag}", settings).inventory.packages
    assert len(packages) > 10  # an Alpine minirootfs: a real, non-trivial package list
    return packages


def remote_packages(ref: str, settings: Settings) -> tuple[Package, ...]:
    return catalog(f"registry:{ref}", settings).inventory.packages


# ---------------------------------------------------------------------------- pulls


@pytest.mark.parametrize(
    ("tag", "media_type", "magic"),
    [
        ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip", b"\x1f\x8b"),
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd", b"\x28\xb5\x2f\xfd"),
        ("plain", "application/vnd.oci.image.layer.v1.tar", b"./\x00"),
    ],
)
def test_pull_matches_layout(
    registries: Registries, layout: Path, rsettings: Settings, tag: str, media_type: str, magic: bytes
) -> None:
    ref = f"{registries.open.host}/test/{tag}:v1"
    assert remote_packages(ref, rsettings) == local_packages(layout, tag, rsettings)
    with RegistrySource(ref, rsettings, f"registry:{ref}") as src:
        (layer,) = src.layers
        assert layer.media_type == media_type and layer.remote
        stream = layer.open()
        try:
            assert stream.read(len(magic)) == magic  # the raw blob, not decompressed
            assert not stream.seekable()
        finally:
            stream.close()
        local = open_target(f"oci-layout:{layout}:{tag}", rsettings)
        try:
            assert src.info.image_id == local.info.image_id  # type: ignore[union-attr]
            assert layer.digest == local.layers[0].digest  # type: ignore[union-attr]
        finally:
            local.close()
        manifest = layout_digest(layout, tag)
        assert src.info.kind == "registry"
        assert src.info.repo_tags == (ref,)
        assert src.info.repo_digests == (f"{registries.open.host}/test/{tag}@{manifest}",)
        assert src.client.head_manifest("test/" + tag, "v1")[0] == manifest


def test_pull_by_digest(registries: Registries, layout: Path, rsettings: Settings) -> None:
    digest = layout_digest(layout, "zstd")
    ref = f"{registries.open.host}/test/zstd@{digest}"
    analysis = catalog(f"registry:{ref}", rsettings)
    assert analysis.inventory.packages == local_packages(layout, "zstd", rsettings)
    assert analysis.inventory.target.repo_tags == ()
    assert analysis.inventory.target.repo_digests == (ref,)
    other = "sha256:" + "0" * 64
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{registries.open.host}/test/zstd@{other}", rsettings)
    assert info.value.exit_code == EXIT_NETWORK
    assert f"manifest unknown: the registry has no manifest {other}" in info.value.message


def test_bare_reference_is_a_registry_target(registries: Registries, layout: Path, rsettings: Settings) -> None:
    ref = f"{registries.open.host}/test/gzip:v1"
    assert catalog(ref, rsettings).inventory.packages == local_packages(layout, "gzip", rsettings)


@pytest.mark.parametrize(
    ("platform", "part", "version"),
    [("linux/amd64", "multi-amd64", "3.20.3"), ("linux/arm64", "multi-arm64", "3.16.9")],
)
def test_platform_selection(
    registries: Registries, layout: Path, rsettings: Settings, platform: str, part: str, version: str
) -> None:
    s = replace(rsettings, platform=platform)
    ref = f"{registries.open.host}/test/multi:v1"
    analysis = catalog(f"registry:{ref}", s)
    inv = analysis.inventory
    assert inv.os is not None and inv.os.version == version
    assert inv.target.architecture == platform.split("/")[1]
    assert inv.packages == local_packages(layout, part, s)
    assert inv.packages == local_packages(layout, "multi", s)  # the layout's own index, same pick
    # RepoDigests name the index that was pulled, as Docker records it.
    assert inv.target.repo_digests == (f"{registries.open.host}/test/multi@{layout_digest(layout, 'multi')}",)


def test_platform_not_offered(registries: Registries, rsettings: Settings) -> None:
    with pytest.raises(InputError) as info:
        catalog(f"registry:{registries.open.host}/test/multi:v1", replace(rsettings, platform="linux/s390x"))
    assert "no image for platform linux/s390x (index offers: linux/amd64, linux/arm64)" in info.value.message


def test_schema1_refused(registries: Registries, rsettings: Settings) -> None:
    if not registries.schema1_pushed:
        pytest.skip("this registry build does not accept schema 1 pushes")
    with pytest.raises(InputError) as info:
        catalog(f"registry:{registries.open.host}/test/schema1:v1", rsettings)
    assert info.value.exit_code == EXIT_INPUT
    assert "schema 1" in info.value.message


def test_unknown_repository(registries: Registries, rsettings: Settings) -> None:
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{registries.open.host}/test/nothing:v1", rsettings)
    assert info.value.message == (
        f"{registries.open.host}/test/nothing: manifest unknown: the registry has no manifest v1 in this repository"
    )


def test_plain_http_needs_insecure(registries: Registries, rsettings: Settings) -> None:
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{registries.open.host}/test/gzip:v1", replace(rsettings, insecure=False))
    assert "TLS connection failed" in info.value.message and "--insecure" in info.value.message


# ---------------------------------------------------------------------------- auth


def test_basic_auth(registries: Registries, layout: Path, rsettings: Settings, docker_config: Path) -> None:
    ref = f"{registries.basic.host}/private/alpine:v1"
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{ref}", rsettings)
    msg = info.value.message
    assert info.value.exit_code == EXIT_NETWORK
    assert msg.startswith(f"{registries.basic.host}/private/alpine: access denied (HTTP 401")
    assert f"without credentials (none for {registries.basic.host} in {docker_config}" in msg

    write_config(docker_config, {"auths": {registries.basic.host: basic_auth_entry(USER, "wrong")}})
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{ref}", rsettings)
    assert "access denied (HTTP 401" in info.value.message
    assert f"with credentials from {docker_config}" in info.value.message

    write_config(docker_config, {"auths": {registries.basic.host: basic_auth_entry()}})
    assert remote_packages(ref, rsettings) == local_packages(layout, "gzip", rsettings)


def test_token_auth(
    registries: Registries, layout: Path, rsettings: Settings, docker_config: Path, token_service: TokenService
) -> None:
    ref = f"{registries.token.host}/secure/alpine:v1"
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{ref}", rsettings)
    assert info.value.message.startswith(f"{registries.token.host}/secure/alpine: access denied (HTTP 401")
    assert "without credentials" in info.value.message

    write_config(docker_config, {"auths": {registries.token.host: {"username": USER, "password": "nope"}}})
    with pytest.raises(NetworkError) as info:
        catalog(f"registry:{ref}", rsettings)
    assert f"access denied by the token service {token_service.realm} (HTTP 401)" in info.value.message
    assert f"with credentials from {docker_config}" in info.value.message

    # The URL form of the key, as older `docker login` versions wrote it.
    write_config(
        docker_config, {"auths": {f"http://{registries.token.host}/v2/": {"username": USER, "password": PASSWORD}}}
    )
    token_service.log.clear()
    with RegistrySource(ref, rsettings, f"registry:{ref}") as src:
        assert src.client.auth.challenge is not None and src.client.auth.challenge.scheme == "bearer"
    assert remote_packages(ref, rsettings) == local_packages(layout, "gzip", rsettings)
    # One token per pull, with the basic credentials, for exactly the pull scope: cached per scope.
    wanted = {"method": "GET", "scopes": ["repository:secure/alpine:pull"], "basic": True}
    assert token_service.log == [wanted, wanted]


def test_identity_token(
    registries: Registries, layout: Path, rsettings: Settings, docker_config: Path, token_service: TokenService
) -> None:
    write_config(docker_config, {"auths": {registries.token.host: {"identitytoken": REFRESH_TOKEN}}})
    token_service.log.clear()
    ref = f"{registries.token.host}/secure/alpine:v1"
    assert remote_packages(ref, rsettings) == local_packages(layout, "gzip", rsettings)
    assert token_service.log == [
        {"method": "POST", "grant": "refresh_token", "scopes": ["repository:secure/alpine:pull"]}
    ]


def test_credential_helpers(
    registries: Registries,
    layout: Path,
    rsettings: Settings,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = tmp_path / "helper.log"
    make_helper(tmp_path / "bin", "chtest", registries.basic.host, USER, PASSWORD, log)
    make_helper(tmp_path / "bin", "chstore", registries.token.host, USER, PASSWORD, log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    write_config(
        docker_config,
        {"credsStore": "chstore", "credHelpers": {registries.basic.host: "chtest", registries.open.host: "gone"}},
    )
    expected = local_packages(layout, "gzip", rsettings)
    assert remote_packages(f"{registries.basic.host}/private/alpine:v1", rsettings) == expected
    assert remote_packages(f"{registries.token.host}/secure/alpine:v1", rsettings) == expected
    assert log.read_text().splitlines() == [f"get {registries.basic.host}", f"get {registries.token.host}"]
    # A helper that is not installed costs a warning, and the anonymous pull still works.
    with caplog.at_level(logging.WARNING):
        assert remote_packages(f"{registries.open.host}/test/gzip:v1", rsettings) == expected
    assert f"docker-credential-gone is not on PATH; continuing without credentials for {registries.open.host}" in (
        caplog.text
    )


# ---------------------------------------------------------------------------- integrity and faults


def _corrupt(path: Path, offset: int, n: int = 16) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        data = f.read(n)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


def test_tampered_compressed_blob(registries: Registries, rsettings: Settings) -> None:
    """A flipped run of bytes in a stored gzip layer breaks decompression first; the error
    must still name the digest mismatch (the registry's fault), not a corrupt image."""
    ref = f"{registries.open.host}/test/tamper-gz:v1"
    with RegistrySource(ref, rsettings, ref) as src:
        (layer,) = src.layers
    blob = registries.open.blob_path(layer.digest)
    _corrupt(blob, blob.stat().st_size // 2)
    with pytest.raises(RegistryDigestMismatchError) as info:
        catalog(f"registry:{ref}", rsettings)
    assert info.value.exit_code == EXIT_NETWORK
    assert f"expected {layer.digest}" in info.value.message


def test_tampered_uncompressed_blob(registries: Registries, rsettings: Settings) -> None:
    """Damage inside a file's data in an uncompressed layer leaves the tar readable: only the
    digest can catch it."""
    import tarfile

    ref = f"{registries.open.host}/test/tamper-raw:v1"
    with RegistrySource(ref, rsettings, ref) as src:
        (layer,) = src.layers
    blob = registries.open.blob_path(layer.digest)
    with tarfile.open(blob) as tf:
        member = next(m for m in tf.getmembers() if m.isfile() and m.size > 4096)
    _corrupt(blob, member.offset_data + 1000)
    proc = subprocess.run(
        [str(CLI), "sbom", f"registry:{ref}", "--insecure", "--no-cache", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(rsettings),
        check=False,
    )
    assert proc.returncode == EXIT_NETWORK
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "blob has digest sha256:" in lines[0] and f"expected {layer.digest}" in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize("status", ["503 Service Unavailable", "429 Too Many Requests"])
def test_retry_after_server_refusal(proxy: FaultProxy, layout: Path, rsettings: Settings, status: str) -> None:
    proxy.plan.fail_manifest = 2
    proxy.plan.fail_status = status
    assert remote_packages(f"{proxy.host}/test/gzip:v1", rsettings) == local_packages(layout, "gzip", rsettings)
    manifests = [e for e in proxy.plan.log if "/manifests/" in e["path"]]
    assert len(manifests) == 3  # two refusals, then the answer


def test_blob_redirect(proxy: FaultProxy, registries: Registries, layout: Path, rsettings: Settings) -> None:
    """Registries hand blobs off to storage elsewhere with a redirect; the pull follows it."""
    proxy.plan.redirect_blobs = f"http://{registries.open.host}"
    assert remote_packages(f"{proxy.host}/test/zstd:v1", rsettings) == local_packages(layout, "zstd", rsettings)
    blob_gets = [e for e in proxy.plan.log if "/blobs/" in e["path"]]
    assert len(blob_gets) == 2  # config and layer each came through the redirect, not the proxy


@pytest.mark.parametrize("strip_range", [False, True])
def test_resume_after_dropped_connection(
    proxy: FaultProxy, layout: Path, rsettings: Settings, strip_range: bool
) -> None:
    """The proxy cuts the first blob download after 1 MB. The stream reconnects with a Range
    request; when the server ignores it (strip_range), the stream skips what it already had."""
    expected = local_packages(layout, "gzip", rsettings)
    proxy.plan.cut_blob_after = 1_000_000
    proxy.plan.strip_range = strip_range
    ref = f"{proxy.host}/test/gzip:v1"
    with RegistrySource(ref, rsettings, ref) as src:
        (layer,) = src.layers
        stream = layer.open()
        data = stream.read()
        stream.close()
    assert len(data) == layer.size and layer.size > 2_000_000
    blob_gets = [e for e in proxy.plan.log if e["path"].endswith(f"/blobs/{layer.digest}")]
    assert len(blob_gets) == 2
    assert blob_gets[0]["range"] == ""
    resumed_at = int(blob_gets[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < 1_000_000  # resumed where the cut happened (less the response head)
    # The same through the whole pipeline, whose digest checks prove the bytes are right.
    proxy.plan.cut_blob_after = 1_000_000
    assert remote_packages(ref, rsettings) == expected


# ---------------------------------------------------------------------------- command line


def _cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["CUSTOMHOUSE_CACHE_DIR"] = str(settings.cache_dir)
    assert settings.docker_config is not None
    env["DOCKER_CONFIG"] = str(settings.docker_config.parent)
    return env


def test_cli_sbom(registries: Registries, layout: Path, rsettings: Settings) -> None:
    ref = f"{registries.open.host}/test/gzip:v1"
    proc = subprocess.run(
        [str(CLI), "sbom", f"registry:{ref}", "--insecure", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(rsettings),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    expected = local_packages(layout, "gzip", rsettings)
    assert [(p["name"], p["version"], p["purl"]) for p in doc["packages"]] == [
        (p.name, p.version, p.purl) for p in expected
    ]
    assert doc["target"]["kind"] == "registry" and doc["target"]["repo_tags"] == [ref]
    assert "layer 1/1" not in proc.stderr  # no progress bar when stderr is not a terminal

    denied = subprocess.run(
        [str(CLI), "sbom", f"registry:{registries.basic.host}/private/alpine:v1", "--insecure"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(rsettings),
        check=False,
    )
    assert denied.returncode == EXIT_NETWORK
    assert denied.stderr.count("\n") == 1 and "access denied" in denied.stderr and denied.stdout == ""


def test_cli_progress_on_terminal(proxy: FaultProxy, rsettings: Settings, tmp_path: Path) -> None:
    """With stderr on a terminal, a byte-count bar for the layer is drawn there (the proxy
    stalls the download half-way so the bar is on screen long enough to be drawn)."""
    proxy.plan.stall_blob = (1_000_000, 0.6)
    out = tmp_path / "sbom.json"
    pid, fd = pty.fork()
    if pid == 0:  # child: stderr (and stdin/stdout) on the pty; the report goes to a file
        try:
            env = _cli_env(rsettings)
            env["COLUMNS"] = "120"
            os.execve(
                str(CLI),
                [
                    str(CLI),
                    "sbom",
                    f"registry:{proxy.host}/test/gzip:v1",
                    "--insecure",
                    "--no-cache",
                    "-f",
                    "json",
                    "-o",
                    str(out),
                ],
                env,
            )
        finally:
            os._exit(127)
    screen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, screen.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    # Our bar (layer, digest prefix, bytes of total), drawn while the download is half done.
    assert re.search(r"layer 1/1 [0-9a-f]{12} .*\b[0-9.]+/3\.5 MB", text), text
    assert len(json.loads(out.read_text())["packages"]) > 10
