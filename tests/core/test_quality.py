"""Quality bars of the foundation, against the real package managers as oracles."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from packageurl import PackageURL

from customhouse.catalog import catalog
from customhouse.report import inventory_renderer
from customhouse.settings import Settings
from tests.conftest import ALPINE_VERSIONS, alpine_layer_tar, alpine_rootfs, bookworm_images, bookworm_rootfs


def test_bookworm_dpkg_list_equals_dpkg_query(settings: Settings) -> None:
    """Run dpkg-query inside the debootstrap root (chroot): name, version, arch and source must match."""
    root = bookworm_rootfs()
    fmt = r"${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n"
    out = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", fmt], check=True, capture_output=True, text=True
    )
    oracle = set()
    for line in out.stdout.splitlines():
        name, version, arch, src, src_ver, status = line.split("\t")
        if status.strip() in ("ii", "iU", "iF", "iW", "it"):
            oracle.add((name, version, arch, src, src_ver))
    assert len(oracle) > 80
    images = bookworm_images()
    for target in (f"dir:{root}", f"docker-archive:{images / 'docker-archive.tar'}", f"oci-layout:{images / 'oci'}"):
        inv = catalog(target, settings).inventory
        ours = {(p.name, p.version, p.arch, p.source_name, p.source_version) for p in inv.packages if p.type == "deb"}
        assert ours == oracle, target
        assert inv.os is not None and inv.os.family == "debian" and inv.os.codename == "bookworm"
        for p in inv.packages:
            purl = PackageURL.from_string(p.purl)
            assert (purl.type, purl.namespace, purl.name, purl.version) == ("deb", "debian", p.name, p.version)
            assert purl.qualifiers["distro"].startswith("debian-12.")  # type: ignore[index]


@pytest.mark.parametrize("version", ALPINE_VERSIONS)
def test_alpine_apk_list_equals_apk_info(version: str, settings: Settings, tmp_path: Path) -> None:
    """`apk info -v` run by Alpine's own apk, chrooted into the root filesystem, is the oracle."""
    root = alpine_rootfs(version)
    out = subprocess.run(["chroot", str(root), "/sbin/apk", "info", "-v"], check=True, capture_output=True, text=True)
    oracle = {line.strip() for line in out.stdout.splitlines() if line.strip()}
    assert len(oracle) >= 10
    from customhouse.image.writer import ImageBuilder

    b = ImageBuilder(tmp_path / "b")
    b.add_layer_tar(alpine_layer_tar(version), "ADD rootfs")
    b.write_docker_archive(tmp_path / "img.tar", f"alpine:{version}")
    for target in (f"dir:{root}", f"docker-archive:{tmp_path / 'img.tar'}"):
        inv = catalog(target, settings).inventory
        assert {f"{p.name}-{p.version}" for p in inv.packages} == oracle
        assert inv.os is not None and inv.os.version == version


def _sbom_without_target(doc: str) -> dict:  # type: ignore[type-arg]
    d = json.loads(doc)
    d.pop("target", None)
    return d


def test_same_image_in_every_format_gives_identical_sboms(settings: Settings, tmp_path: Path) -> None:
    """docker-archive, OCI layout, OCI archive and a real registry (pushed by skopeo)."""
    from dataclasses import replace

    from tests.registry.conftest import _start_registry, skopeo_push

    images = bookworm_images()
    render = inventory_renderer("json")
    reg = _start_registry("plain", tmp_path, None)
    try:
        skopeo_push(images / "oci", "minbase", f"{reg.host}/quality/bookworm:minbase")
        # A cache per target: each form must be read for real, not served from another's cache.
        outs = [
            _sbom_without_target(render(catalog(t, replace(settings, insecure=True, cache_dir=tmp_path / f"c{i}"))))
            for i, t in enumerate(
                (
                    f"docker-archive:{images / 'docker-archive.tar'}",
                    f"oci-layout:{images / 'oci'}",
                    f"oci-archive:{images / 'oci-archive.tar'}",
                    f"registry:{reg.host}/quality/bookworm:minbase",
                )
            )
        ]
    finally:
        reg.proc.kill()
        reg.proc.wait()
    # Layer blob digests legitimately differ (docker-archive stores layers uncompressed);
    # everything derived from content must not.
    for o in outs:
        for layer in o["layers"]:
            layer.pop("digest"), layer.pop("media_type"), layer.pop("size")
        for p in o["packages"]:
            p.pop("layer_digest")
    assert outs[0] == outs[1] == outs[2] == outs[3]
    assert len(outs[0]["packages"]) > 80
