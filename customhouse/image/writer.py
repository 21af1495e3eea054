"""Writing images: OCI layouts, OCI archives and docker-archives from root filesystems.

We need our own writer for three jobs: building real test and benchmark images from real root
filesystems without a Docker engine, publishing the vulnerability database as an OCI artifact,
and producing hostile layers that no well-behaved tool would write. Output is deterministic
(sorted entries, fixed timestamps), so the same input always gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customhouse.targets.base import MT_DOCKER_CONFIG, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_MANIFEST

EPOCH = 0
_LAYER_MT = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def tar_directory(root: Path, out: Path) -> None:
    """Deterministic tar of `root` (as a layer): sorted, mtime 0, numeric owners kept."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        inodes: dict[tuple[int, int], str] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                st = os.lstat(full)
                ti = tarfile.TarInfo(rel)
                ti.mode = stat.S_IMODE(st.st_mode)
                ti.uid, ti.gid = st.st_uid, st.st_gid
                ti.mtime = EPOCH
                key = (st.st_dev, st.st_ino)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in inodes:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = inodes[key]
                    tf.addfile(ti)
                    continue
                if stat.S_ISDIR(st.st_mode):
                    ti.type = tarfile.DIRTYPE
                    tf.addfile(ti)
                elif stat.S_ISLNK(st.st_mode):
                    ti.type = tarfile.SYMTYPE
                    ti.linkname = os.readlink(full)
                    tf.addfile(ti)
                elif stat.S_ISREG(st.st_mode):
                    ti.size = st.st_size
                    if st.st_nlink > 1:
                        inodes[key] = rel
                    with open(full, "rb") as f:
                        tf.addfile(ti, f)
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                    ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                    tf.addfile(ti)
                elif stat.S_ISFIFO(st.st_mode):
                    ti.type = tarfile.FIFOTYPE
                    tf.addfile(ti)


def tar_entries(out: Path, entries: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """A layer from explicit entries (tests use it for whiteouts and hostile names)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            ti.mtime = ti.mtime or EPOCH
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)


def file_entry(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    return ti, data


def link_entry(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    ti.linkname = target
    ti.mode = 0o777
    return ti, None


def dir_entry(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = mode
    return ti, None


@dataclass
class _Layer:
    tar: Path  # uncompressed
    blob: Path  # as stored
    diff_id: str
    digest: str
    size: int
    media_type: str
    created_by: str


@dataclass
class ImageBuilder:
    """Accumulates layers (as files in a staging directory) and writes them in any layout."""

    workdir: Path
    architecture: str = "amd64"
    os: str = "linux"
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[_Layer] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def add_layer_tar(self, tar_path: Path, created_by: str = "", compression: str = "gzip") -> None:
        """Add an uncompressed layer tar; it is compressed here as asked (gzip, zstd, none)."""
        n = len(self.layers)
        staged = self.workdir / f"layer{n}.tar"
        if tar_path.resolve() != staged.resolve():
            shutil.copyfile(tar_path, staged)
        diff_id = _sha256_file(staged)
        if compression == "gzip":
            blob = self.workdir / f"layer{n}.tar.gz"
            with open(staged, "rb") as src, open(blob, "wb") as raw:
                # mtime=0 and no filename: deterministic output.
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
                    shutil.copyfileobj(src, gz, 1 << 20)
        elif compression == "zstd":
            import zstandard

            blob = self.workdir / f"layer{n}.tar.zst"
            with open(staged, "rb") as src, open(blob, "wb") as dst:
                zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
        elif compression == "none":
            blob = staged
        else:
            raise ValueError(f"unknown compression {compression}")
        self.layers.append(
            _Layer(staged, blob, diff_id, _sha256_file(blob), blob.stat().st_size, _LAYER_MT[compression], created_by)
        )
        self.history.append({"created": "1970-01-01T00:00:00Z", "created_by": created_by or f"layer {n}"})

    def add_layer_dir(self, root: Path, created_by: str = "", compression: str = "gzip") -> None:
        tmp = self.workdir / f"dir{len(self.layers)}.tar"
        tar_directory(root, tmp)
        self.add_layer_tar(tmp, created_by, compression)
        tmp.unlink()

    def add_layer_entries(
        self, entries: Iterable[tuple[tarfile.TarInfo, bytes | None]], created_by: str = "", compression: str = "gzip"
    ) -> None:
        tmp = self.workdir / f"entries{len(self.layers)}.tar"
        tar_entries(tmp, entries)
        self.add_layer_tar(tmp, created_by, compression)
        tmp.unlink()

    def config_json(self) -> bytes:
        doc = {
            "architecture": self.architecture,
            "os": self.os,
            "created": "1970-01-01T00:00:00Z",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": [ly.diff_id for ly in self.layers]},
            "history": self.history,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def manifest_json(self, docker: bool = False) -> tuple[bytes, bytes]:
        cfg = self.config_json()
        mt_cfg = MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG
        layers = []
        for ly in self.layers:
            mt = ly.media_type
            if docker:
                mt = {
                    _LAYER_MT["gzip"]: "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    _LAYER_MT["none"]: "application/vnd.docker.image.rootfs.diff.tar",
                }.get(mt, mt)
            layers.append({"mediaType": mt, "digest": ly.digest, "size": ly.size})
        man = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json" if docker else MT_OCI_MANIFEST,
            "config": {"mediaType": mt_cfg, "digest": "sha256:" + hashlib.sha256(cfg).hexdigest(), "size": len(cfg)},
            "layers": layers,
        }
        return json.dumps(man, sort_keys=True, separators=(",", ":")).encode(), cfg

    # ------------------------------------------------------------------ layouts

    def write_oci_layout(self, out: Path, tag: str = "latest") -> str:
        """Write (or add to) an OCI layout directory; returns the manifest digest."""
        blobs = out / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        man, cfg = self.manifest_json()
        for data in (man, cfg):
            (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        for ly in self.layers:
            dst = blobs / ly.digest.split(":", 1)[1]
            if not dst.exists():
                shutil.copyfile(ly.blob, dst)
        digest = "sha256:" + hashlib.sha256(man).hexdigest()
        index_path = out / "index.json"
        index: dict[str, Any] = (
            json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
        )
        index["mediaType"] = MT_OCI_INDEX
        index["manifests"] = [
            m
            for m in index["manifests"]
            if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag
        ]
        index["manifests"].append(
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": digest,
                "size": len(man),
                "annotations": {"org.opencontainers.image.ref.name": tag},
                "platform": {"architecture": self.architecture, "os": self.os},
            }
        )
        index_path.write_text(json.dumps(index, sort_keys=True, indent=1))
        return digest

    def write_oci_archive(self, out: Path, tag: str = "latest") -> None:
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            self.write_oci_layout(Path(tmp), tag)
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
                for p in sorted(Path(tmp).rglob("*")):
                    ti = tf.gettarinfo(str(p), arcname=str(p.relative_to(tmp)))
                    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = EPOCH, 0, 0, "", ""
                    if p.is_file():
                        with open(p, "rb") as f:
                            tf.addfile(ti, f)
                    else:
                        tf.addfile(ti)

    def write_docker_archive(self, out: Path, tag: str = "customhouse/test:latest", compress: bool = False) -> None:
        """What `docker save` (Docker 1.10-24) writes: `<id>/layer.tar`, config, manifest.json."""
        cfg = self.config_json()
        cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
        layer_names = []
        opener: Any = gzip.open if compress else open
        with opener(out, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:

            def add(name: str, data: bytes) -> None:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime = len(data), EPOCH
                tf.addfile(ti, io.BytesIO(data))

            for ly in self.layers:
                lid = ly.diff_id.split(":", 1)[1]
                d = tarfile.TarInfo(lid)
                d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                tf.addfile(d)
                add(f"{lid}/VERSION", b"1.0")
                ti = tf.gettarinfo(str(ly.tar), arcname=f"{lid}/layer.tar")
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = EPOCH, 0, 0, "", ""
                with open(ly.tar, "rb") as f:
                    tf.addfile(ti, f)
                layer_names.append(f"{lid}/layer.tar")
            add(cfg_name, cfg)
            manifest = [{"Config": cfg_name, "RepoTags": [tag] if tag else None, "Layers": layer_names}]
            add("manifest.json", json.dumps(manifest).encode())
            if tag:
                repo, _, t = tag.rpartition(":")
                top = self.layers[-1].diff_id.split(":", 1)[1] if self.layers else ""
                add("repositories", json.dumps({repo: {t: top}}).encode())
