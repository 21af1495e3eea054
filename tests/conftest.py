"""Shared fixtures: real data from ../shared/data, real images built once per run.

Slow fixtures (extracted root filesystems, built images, debootstrap) are cached between runs
under $CUSTOMHOUSE_TEST_CACHE (default ~/.cache/customhouse-tests), keyed by their inputs, and
built at most once per run even under pytest-xdist (a file lock serialises builders).
"""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from customhouse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CUSTOMHOUSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
TEST_CACHE = Path(os.environ.get("CUSTOMHOUSE_TEST_CACHE", Path.home() / ".cache" / "customhouse-tests"))
ALPINE_VERSIONS = ("3.10.3", "3.12.12", "3.16.9", "3.20.3")


def shared(rel: str) -> Path:
    """A path in ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@contextmanager
def build_lock(name: str) -> Iterator[Path]:
    """Serialise builders of one cached fixture across xdist workers and concurrent runs."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    lock = TEST_CACHE / f".{name}.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield TEST_CACHE / name
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_build(name: str, build: Callable[[Path], None]) -> Path:
    """Build `name` into the test cache once; later calls (and later runs) reuse it."""
    with build_lock(name) as target:
        done = target.with_name(target.name + ".done")
        if done.exists() and target.exists():
            return target
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        tmp = target.with_name(target.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        build(tmp)
        tmp.rename(target)
        done.write_text("ok")
        return target


def alpine_tarball(version: str) -> Path:
    return shared(f"alpine/minirootfs/alpine-minirootfs-{version}-x86_64.tar.gz")


def alpine_rootfs(version: str) -> Path:
    """The Alpine mini root filesystem, extracted (as root: owners and modes kept)."""
    src = alpine_tarball(version)

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        with tarfile.open(src) as tf:
            tf.extractall(dst, filter="tar")

    return cached_build(f"alpine-rootfs-{version}", build)


def alpine_layer_tar(version: str) -> Path:
    """The minirootfs tarball, decompressed: it is a valid single layer as it stands."""
    src = alpine_tarball(version)

    def build(dst: Path) -> None:
        with gzip.open(src, "rb") as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)

    return cached_build(f"alpine-layer-{version}.tar", build)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private cache directory and analyzer errors raised, not warned."""
    return Settings(cache_dir=tmp_path / "cache", strict_analyzers=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not available: {SHARED_DATA}")
    return SHARED_DATA


def bookworm_rootfs() -> Path:
    """`debootstrap --variant=minbase bookworm` from this machine's mirror, built once per machine."""
    from tests.builders import debootstrap

    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("debootstrap needs root and the debootstrap package")
    return cached_build("bookworm-minbase", debootstrap)


def bookworm_images() -> Path:
    """The bookworm minbase root filesystem as a one-layer image, in docker-archive and OCI forms."""
    root = bookworm_rootfs()

    def build(dst: Path) -> None:
        from customhouse.image.writer import ImageBuilder

        dst.mkdir(parents=True)
        b = ImageBuilder(dst / "work")
        b.config = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]}
        b.add_layer_dir(root, "debootstrap --variant=minbase bookworm")
        b.write_docker_archive(dst / "docker-archive.tar", "customhouse-test/bookworm:minbase")
        b.write_oci_layout(dst / "oci", "minbase")
        b.write_oci_archive(dst / "oci-archive.tar", "minbase")
        shutil.rmtree(dst / "work")

    return cached_build("bookworm-images", build)


def shared_vulndb() -> Path:
    """A vulnerability database built from all of ../shared/data, once per builder version.

    Keyed by a hash of the builder's sources, so a changed feed parser rebuilds it.
    """
    import hashlib

    data = SHARED_DATA
    if not data.exists():
        pytest.skip(f"shared data not available: {data}")
    h = hashlib.sha256()
    for src in sorted((ROOT / "customhouse" / "vulndb").rglob("*.py")):
        h.update(src.read_bytes())
    h.update((ROOT / "customhouse" / "data" / "eol.json").read_bytes())

    def build(dst: Path) -> None:
        from customhouse.vulndb.build import build_database

        dst.mkdir(parents=True)
        build_database(data, dst / "customhouse.db")

    return cached_build(f"vulndb-shared-{h.hexdigest()[:16]}", build) / "customhouse.db"
