"""Every local target form: docker save layouts (three generations), OCI layouts with indexes,
OCI archives, root directories, bare paths. Each is built as the real tools lay it out."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from customhouse.catalog import catalog
from customhouse.errors import InputError
from customhouse.image.writer import ImageBuilder, file_entry
from customhouse.settings import Settings
from tests.conftest import alpine_layer_tar
from tests.helpers import assert_one_line_error, run_cli


def _alpine(tmp: Path, version: str = "3.16.9", arch: str = "amd64", extra: bytes = b"") -> ImageBuilder:
    b = ImageBuilder(tmp / f"b-{version}-{arch}", architecture=arch)
    b.add_layer_tar(alpine_layer_tar(version), "ADD rootfs")
    if extra:
        b.add_layer_entries([file_entry("etc/extra", extra)], "RUN extra")
    return b


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def test_legacy_repositories_layout(tmp_path: Path, settings: Settings) -> None:
    """Pre-1.10 `docker save`: no manifest.json; layers chained by `parent` in <id>/json."""
    base = alpine_layer_tar("3.12.12").read_bytes()
    top = io.BytesIO()
    with tarfile.open(fileobj=top, mode="w") as t:
        _add(t, "etc/motd", b"legacy\n")
    ids = [hashlib.sha256(b"layer-a").hexdigest(), hashlib.sha256(b"layer-b").hexdigest()]
    out = tmp_path / "legacy.tar"
    with tarfile.open(out, "w") as tf:
        _add(tf, f"{ids[0]}/json", json.dumps({"id": ids[0], "os": "linux", "architecture": "amd64"}).encode())
        _add(tf, f"{ids[0]}/layer.tar", base)
        _add(
            tf,
            f"{ids[1]}/json",
            json.dumps({"id": ids[1], "parent": ids[0], "architecture": "amd64", "config": {"Cmd": ["sh"]}}).encode(),
        )
        _add(tf, f"{ids[1]}/layer.tar", top.getvalue())
        _add(tf, "repositories", json.dumps({"old/alpine": {"3.12": ids[1]}}).encode())
    analysis = catalog(f"docker-archive:{out}", settings)
    inv = analysis.inventory
    assert len(inv.packages) == 14 and inv.os is not None and inv.os.version == "3.12.12"
    assert inv.target.repo_tags == ("old/alpine:3.12",)
    assert [li.diff_id for li in inv.layers] == [
        "sha256:" + hashlib.sha256(base).hexdigest(),
        "sha256:" + hashlib.sha256(top.getvalue()).hexdigest(),
    ]
    assert "etc/motd" in analysis.fs


def test_docker25_archive_with_oci_blobs(tmp_path: Path, settings: Settings) -> None:
    """Docker 25+ `docker save`: an OCI layout plus manifest.json pointing into blobs/."""
    b = _alpine(tmp_path, extra=b"x")
    layout = tmp_path / "layout"
    b.write_oci_layout(layout)
    man_digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    man = json.loads((layout / "blobs/sha256" / man_digest).read_text())
    (layout / "manifest.json").write_text(
        json.dumps(
            [
                {
                    "Config": "blobs/sha256/" + man["config"]["digest"].split(":")[1],
                    "RepoTags": ["new/alpine:3.16"],
                    "Layers": ["blobs/sha256/" + layer["digest"].split(":")[1] for layer in man["layers"]],
                }
            ]
        )
    )
    out = tmp_path / "docker25.tar"
    with tarfile.open(out, "w") as tf:
        for p in sorted(layout.rglob("*")):
            if p.is_file():
                tf.add(p, arcname=str(p.relative_to(layout)))
    inv = catalog(f"docker-archive:{out}", settings).inventory
    assert len(inv.packages) == 14 and inv.target.repo_tags == ("new/alpine:3.16",)
    # the layer blobs are gzip here: still read (sniffed), and their digests known
    assert all(li.digest.startswith("sha256:") for li in inv.layers)


def test_archive_with_several_images_needs_a_reference(tmp_path: Path, settings: Settings) -> None:
    a, c = _alpine(tmp_path, "3.12.12"), _alpine(tmp_path, "3.20.3")
    a.write_docker_archive(tmp_path / "a.tar", "x/a:1")
    c.write_docker_archive(tmp_path / "c.tar", "x/c:2")
    merged = tmp_path / "both.tar"
    manifests = []
    with tarfile.open(merged, "w") as out:
        for src in ("a.tar", "c.tar"):
            with tarfile.open(tmp_path / src) as tf:
                for m in tf.getmembers():
                    if m.name == "manifest.json":
                        manifests += json.loads(tf.extractfile(m).read())  # type: ignore[union-attr]
                    elif m.name != "repositories" and m.name not in out.getnames():
                        out.addfile(m, tf.extractfile(m) if m.isfile() else None)
        _add(out, "manifest.json", json.dumps(manifests).encode())
    with pytest.raises(InputError, match="holds 2 images"):
        catalog(f"docker-archive:{merged}", settings)
    assert catalog(f"docker-archive:{merged}:x/c:2", settings).inventory.os.version == "3.20.3"  # type: ignore[union-attr]
    assert catalog(f"docker-archive:{merged}:@0", settings).inventory.os.version == "3.12.12"  # type: ignore[union-attr]
    run = run_cli("sbom", f"docker-archive:{merged}", cache_dir=tmp_path / "c")
    assert_one_line_error(run, 3, "x/a:1", "x/c:2")


def _multiarch_layout(tmp: Path) -> Path:
    """One tag, an image index with amd64 and arm64/v8 images (like a buildx push)."""
    layout = tmp / "multi"
    amd, arm = _alpine(tmp, "3.20.3", "amd64"), _alpine(tmp, "3.12.12", "arm64")
    amd.write_oci_layout(layout, "amd")
    arm.write_oci_layout(layout, "arm")
    index = json.loads((layout / "index.json").read_text())
    descs = index["manifests"]
    for d in descs:
        d.pop("annotations")
    descs[1]["platform"]["variant"] = "v8"
    nested = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
    ).encode()
    digest = hashlib.sha256(nested).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(nested)
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "digest": f"sha256:{digest}",
                        "size": len(nested),
                        "annotations": {"org.opencontainers.image.ref.name": "3"},
                    }
                ],
            }
        )
    )
    return layout


def test_platform_selection_from_nested_index(tmp_path: Path, settings: Settings) -> None:
    from dataclasses import replace

    layout = _multiarch_layout(tmp_path)
    assert catalog(f"oci-layout:{layout}", settings).inventory.os.version == "3.20.3"  # type: ignore[union-attr]
    arm = catalog(f"oci-layout:{layout}:3", replace(settings, platform="linux/arm64")).inventory
    assert arm.os.version == "3.12.12" and arm.target.architecture == "arm64"  # type: ignore[union-attr]
    assert (
        catalog(f"oci-layout:{layout}", replace(settings, platform="linux/arm64/v8")).inventory.target.architecture
        == "arm64"
    )
    with pytest.raises(InputError, match="linux/amd64, linux/arm64/v8"):
        catalog(f"oci-layout:{layout}", replace(settings, platform="linux/s390x"))
    run = run_cli("sbom", "--platform", "linux/riscv64", f"oci-layout:{layout}", cache_dir=tmp_path / "c")
    assert_one_line_error(run, 3, "no image for platform linux/riscv64")


def test_skopeo_written_layout_and_archive(tmp_path: Path, settings: Settings) -> None:
    """Layouts written by skopeo (a real third-party writer), not only by our own writer."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed")
    b = _alpine(tmp_path, "3.20.3", extra=b"y")
    src = tmp_path / "src"
    b.write_oci_layout(src, "t")
    for dest, target in (
        (f"oci:{tmp_path / 'sk'}:t", f"oci-layout:{tmp_path / 'sk'}:t"),
        (f"oci-archive:{tmp_path / 'sk.tar'}:t", f"oci-archive:{tmp_path / 'sk.tar'}"),
        (f"docker-archive:{tmp_path / 'sk-docker.tar'}:sk/alpine:t", f"docker-archive:{tmp_path / 'sk-docker.tar'}"),
    ):
        subprocess.run(["skopeo", "copy", "-q", f"oci:{src}:t", dest], check=True, capture_output=True)
        inv = catalog(target, settings).inventory
        assert len(inv.packages) == 14 and inv.os.version == "3.20.3", target  # type: ignore[union-attr]
        assert len(inv.layers) == 2


def test_gzipped_docker_archive_and_bare_paths(tmp_path: Path, settings: Settings) -> None:
    b = _alpine(tmp_path)
    b.write_docker_archive(tmp_path / "img.tar.gz", "z/alpine:1", compress=True)
    b.write_oci_layout(tmp_path / "layout")
    b.write_oci_archive(tmp_path / "oci.tar")
    for bare, kind in (
        (tmp_path / "img.tar.gz", "docker-archive"),
        (tmp_path / "layout", "oci-layout"),
        (tmp_path / "oci.tar", "oci-archive"),
    ):
        inv = catalog(str(bare), settings).inventory
        assert inv.target.kind == kind and len(inv.packages) == 14
    # The spooled, decompressed copy of the gzipped archive lives in the cache and is gone after.
    assert not any((settings.cache_dir / "tmp").iterdir())


def test_shared_data_docker_save_archive(settings: Settings) -> None:
    from tests.conftest import shared

    inv = catalog(f"docker-archive:{shared('images/alpine-3.10-docker-archive.tar.gz')}", settings).inventory
    assert inv.os is not None and inv.os.family == "alpine" and inv.os.version.startswith("3.10")
    assert {p.name for p in inv.packages} >= {"musl", "busybox", "apk-tools", "alpine-baselayout"}
