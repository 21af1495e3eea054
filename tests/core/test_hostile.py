"""Hostile and broken images, through the real CLI: documented exit code, one line, no traceback,
and nothing written outside the cache directory.

Each case is a real image file crafted with our writer (or by hand where a well-behaved
writer refuses). The filesystem check snapshots everything around the run (the working
directory, HOME, TMPDIR and the directory holding the image) and compares it afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import zlib
from pathlib import Path

import pytest

from customhouse.image.writer import ImageBuilder, dir_entry, file_entry, link_entry
from tests.helpers import Run, assert_one_line_error, run_cli


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p == skip:
                continue
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, int(st.st_mtime_ns))
    return out


def _scan(tmp: Path, target: str, *extra: str) -> Run:
    """Run `customhouse sbom` with every writable location pointed inside `tmp`, then check it."""
    cache = tmp / "cache"
    home, work, tmpdir = tmp / "home", tmp / "work", tmp / "tmpdir"
    for d in (home, work, tmpdir):
        d.mkdir(exist_ok=True)
    before = _snapshot(tmp, cache)
    run = run_cli(
        "sbom",
        "-f",
        "json",
        target,
        *extra,
        cache_dir=cache,
        cwd=work,
        env={"HOME": str(home), "TMPDIR": str(tmpdir), "XDG_CACHE_HOME": str(home / ".cache")},
    )
    after = _snapshot(tmp, cache)
    assert after == before, f"files changed outside the cache dir: {set(after) ^ set(before)}"
    assert not (Path("/") / "customhouse-evil").exists()
    leftovers = [p for p in (cache / "tmp").rglob("*")] if (cache / "tmp").exists() else []
    assert leftovers == [], f"temporary files left in the cache: {leftovers}"
    return run


def _image(tmp: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]], compression: str = "gzip") -> str:
    b = ImageBuilder(tmp / "build")
    b.add_layer_entries(entries, "RUN hostile", compression=compression)
    b.write_oci_layout(tmp / "img")
    return f"oci-layout:{tmp / 'img'}"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../../../customhouse-evil", "escapes the image root"),
        ("etc/../../customhouse-evil", "escapes the image root"),
        ("/customhouse-evil", "absolute entry name"),
    ],
)
def test_traversal_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    target = _image(tmp_path, [file_entry("etc/ok", b"ok"), file_entry(name, b"pwned")])
    assert_one_line_error(_scan(tmp_path, target), 3, reason, "layer 1")


def test_hardlink_out_of_root_is_refused(tmp_path: Path) -> None:
    target = _image(tmp_path, [link_entry("etc/passwd-link", "../../../../etc/passwd", hard=True)])
    assert_one_line_error(_scan(tmp_path, target), 3, "escapes the image root")


def test_symlinks_out_of_root_resolve_inside_it(tmp_path: Path) -> None:
    """The host has /etc/os-release (Debian); the image's escaping link must not reach it."""
    assert Path("/etc/os-release").exists()
    target = _image(
        tmp_path,
        [
            dir_entry("etc"),
            link_entry("etc/os-release", "../../../../../etc/os-release-elsewhere"),
            link_entry("usr/lib/os-release", "/etc/os-release"),
        ],
    )
    run = _scan(tmp_path, target)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["os"] is None  # nothing of the host leaked in
    assert "Traceback" not in run.err


def test_symlink_loop_warns_and_completes(tmp_path: Path) -> None:
    target = _image(tmp_path, [link_entry("etc/os-release", "/etc/os-release")])
    run = _scan(tmp_path, target)
    assert run.code == 0
    assert "too many levels of symbolic links" in run.err and "Traceback" not in run.err


def test_device_nodes_are_inert(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dev/sda")
    dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 0
    target = _image(tmp_path, [(dev, None), file_entry("etc/alpine-release", b"3.20.3\n")])
    run = _scan(tmp_path, target)
    assert run.code == 0, run.err
    assert json.loads(run.out)["os"]["version"] == "3.20.3"


def _bomb_layer(path: Path, size: int) -> None:
    """A gzip-compressed tar holding one file of `size` zero bytes (~1000:1 compression)."""
    ti = tarfile.TarInfo("zeros")
    ti.size = size
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        f.write(comp.compress(ti.tobuf(format=tarfile.PAX_FORMAT)))
        for _ in range(size // len(chunk)):
            f.write(comp.compress(chunk))
        f.write(comp.compress(b"\0" * 1024))  # end-of-archive blocks
        f.write(comp.flush())


def _oci_with_raw_layer(tmp: Path, blob: Path, diff_id: str) -> str:
    """An OCI layout around a pre-made layer blob (our writer would compress it itself)."""
    layout = tmp / "img"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    data = blob.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    cfg = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    (blobs / hashlib.sha256(cfg).hexdigest()).write_bytes(cfg)
    man = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(cfg).hexdigest(),
                "size": len(cfg),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + digest,
                    "size": len(data),
                }
            ],
        }
    ).encode()
    (blobs / hashlib.sha256(man).hexdigest()).write_bytes(man)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + hashlib.sha256(man).hexdigest(),
                        "size": len(man),
                    }
                ],
            }
        )
    )
    blob.unlink()
    return f"oci-layout:{layout}"


def test_gzip_bomb_is_stopped_by_the_ratio_guard(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gz"
    _bomb_layer(bomb, 1 << 30)  # 1 GiB of zeros in ~1 MB
    assert bomb.stat().st_size < 2 << 20
    target = _oci_with_raw_layer(tmp_path, bomb, "sha256:" + "0" * 64)
    assert_one_line_error(_scan(tmp_path, target, "--max-ratio", "100"), 3, "decompression ratio exceeds 100:1")


def test_layer_size_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "big.gz"
    _bomb_layer(bomb, 64 << 20)
    target = _oci_with_raw_layer(tmp_path, bomb, "sha256:" + "0" * 64)
    assert_one_line_error(_scan(tmp_path, target, "--max-layer-size", str(8 << 20)), 3, "--max-layer-size")


def test_truncated_gzip_layer(tmp_path: Path) -> None:
    """docker-archive layers carry no blob digest, so the decoder itself must notice."""
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries([file_entry("etc/data", os.urandom(200_000))], "RUN x", compression="none")
    archive = tmp_path / "img.tar"
    b.write_docker_archive(archive)
    # Replace layer.tar by a truncated gzip of it, inside a rewritten archive.
    with tarfile.open(archive) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]  # type: ignore[union-attr]
    out = tmp_path / "truncated.tar"
    with tarfile.open(out, "w") as dst:
        for m, data in members:
            if data is not None and m.name.endswith("layer.tar"):
                data = gzip.compress(data)[:-5000]
                m.size = len(data)
            dst.addfile(m, None if data is None else __import__("io").BytesIO(data))
    archive.unlink()
    assert_one_line_error(_scan(tmp_path, f"docker-archive:{out}"), 3, "truncated")


def test_blob_digest_mismatch(tmp_path: Path) -> None:
    target = _image(tmp_path, [file_entry("etc/alpine-release", b"3.20.3\n")], compression="none")
    layout = Path(target.split(":", 1)[1])
    blob = max((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(blob.read_bytes())
    data[600] ^= 0xFF  # flip one byte of file content: still a valid tar
    blob.write_bytes(bytes(data))
    assert_one_line_error(_scan(tmp_path, target), 3, "digest", "expected sha256:")


def test_invalid_manifest_json(tmp_path: Path) -> None:
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries([file_entry("etc/x", b"x")], "RUN x")
    archive = tmp_path / "img.tar"
    b.write_docker_archive(archive)
    with tarfile.open(archive) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]  # type: ignore[union-attr]
    out = tmp_path / "broken.tar"
    import io

    with tarfile.open(out, "w") as dst:
        for m, data in members:
            if m.name == "manifest.json":
                data = b'[{"Config": "abc.json", "Layers": [}'
                m.size = len(data)
            dst.addfile(m, None if data is None else io.BytesIO(data))
    archive.unlink()
    assert_one_line_error(_scan(tmp_path, f"docker-archive:{out}"), 3, "manifest.json", "invalid JSON")


def test_not_an_archive_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    assert_one_line_error(_scan(tmp_path, f"docker-archive:{junk}"), 3, str(junk))
    assert_one_line_error(_scan(tmp_path, f"oci-layout:{tmp_path / 'nope'}"), 3, "not a directory")
