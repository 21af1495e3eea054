"""Real inputs for the SBOM tests: the Alpine docker archive from ../shared/data, a
multi-layer image built here, and the SBOMs syft and trivy write for the Alpine image."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from customhouse.catalog import catalog
from customhouse.image.scan import ImageAnalysis
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry
from customhouse.settings import Settings
from tests.conftest import ROOT, alpine_layer_tar, cached_build, shared

VENV_BIN = ROOT / ".venv" / "bin"
MULTI_TAG = "customhouse/sbom-multi:1.0"

# A package added on top of Alpine's own database in a later layer, so it must be attributed
# to that layer; and a dpkg status file in a third layer (two package ecosystems, three layers).
EXTRA_APK = """C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaaa=
P:hello-sbom
V:2.12.1-r3
A:x86_64
S:12345
I:45678
T:Test package added by a later layer
U:https://example.org/hello
L:GPL-3.0-or-later
o:hello
m:Test Maintainer <test@example.org>
t:1700000000

"""
DPKG_STATUS = """Package: tzdata
Status: install ok installed
Priority: required
Section: localization
Installed-Size: 3000
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data

Package: libzstd1
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 900
Maintainer: RPM packaging team <team+pkg-rpm@tracker.debian.org>
Architecture: amd64
Multi-Arch: same
Source: libzstd
Version: 1.5.4+dfsg2-5
Description: fast lossless compression algorithm

"""


def scan(spec: str, cache_dir: Path) -> ImageAnalysis:
    return catalog(spec, Settings(cache_dir=cache_dir, strict_analyzers=True))


@pytest.fixture(scope="session")
def alpine_archive() -> Path:
    """The shared Alpine 3.10 `docker save`, decompressed (syft reads only plain tars)."""
    src = shared("images/alpine-3.10-docker-archive.tar.gz")

    def build(dst: Path) -> None:
        with gzip.open(src, "rb") as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)

    return cached_build("alpine-3.10-docker-archive.tar", build)


@pytest.fixture(scope="session")
def multilayer_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout: Alpine 3.20 minirootfs, then an apk added, then a dpkg database."""
    base = alpine_layer_tar("3.20.3")

    def build(dst: Path) -> None:
        with tarfile.open(base) as tf:
            member = tf.extractfile("./lib/apk/db/installed")
            assert member is not None
            installed = member.read().decode()
        work = tmp_path_factory.mktemp("multi-build")
        b = ImageBuilder(work)
        b.add_layer_tar(base, created_by="ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /")
        b.add_layer_entries(
            [file_entry("lib/apk/db/installed", (installed + EXTRA_APK).encode())],
            created_by="RUN apk add hello-sbom",
        )
        b.add_layer_entries(
            [
                dir_entry("var/lib/dpkg"),
                file_entry("var/lib/dpkg/status", DPKG_STATUS.encode()),
            ],
            created_by="COPY dpkg-status /var/lib/dpkg/status",
            compression="zstd",
        )
        b.write_oci_layout(dst, tag=MULTI_TAG)

    return cached_build("sbom-multilayer-oci-v1", build)


@dataclass(frozen=True)
class PeerSboms:
    syft_cdx: Path
    syft_spdx: Path
    trivy_cdx: Path
    trivy_spdx: Path


@pytest.fixture(scope="session")
def peer_sboms(alpine_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> PeerSboms:
    """What syft and trivy, run offline, write for the Alpine image."""
    syft, trivy = VENV_BIN / "syft", VENV_BIN / "trivy"
    if not (syft.exists() and trivy.exists()):
        pytest.skip("syft and trivy are not installed in .venv/bin")
    out = tmp_path_factory.mktemp("peer")
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    subprocess.run(
        [
            str(syft),
            f"docker-archive:{alpine_archive}",
            "-q",
            "-o",
            f"cyclonedx-json={out / 'syft.cdx.json'}",
            "-o",
            f"spdx-json={out / 'syft.spdx.json'}",
        ],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
    )
    offline = ["--skip-db-update", "--offline-scan", "--skip-check-update", "--skip-version-check"]
    for fmt, name in (("cyclonedx", "trivy.cdx.json"), ("spdx-json", "trivy.spdx.json")):
        subprocess.run(
            [
                str(trivy),
                "image",
                "--input",
                str(alpine_archive),
                "--format",
                fmt,
                "--output",
                str(out / name),
                *offline,
                "--disable-telemetry",
                "--cache-dir",
                str(out / "trivy-cache"),
                "-q",
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
    return PeerSboms(out / "syft.cdx.json", out / "syft.spdx.json", out / "trivy.cdx.json", out / "trivy.spdx.json")
