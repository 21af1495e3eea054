"""Distroless Debian images: one status file per package in `var/lib/dpkg/status.d/`, and often
no package manager at all. The stanzas are real (taken from the bookworm root filesystem's own
dpkg database) and the oracle is `dpkg-query` reading the same stanzas as a status file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from customhouse.analyzers.dpkg import parse_stanzas
from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry
from customhouse.settings import Settings
from tests.conftest import bookworm_rootfs

PICK = ("base-files", "libc6", "tzdata", "zlib1g", "libgcc-s1", "bash", "libtinfo6", "debianutils")


def _stanzas() -> dict[str, str]:
    text = (bookworm_rootfs() / "var/lib/dpkg/status").read_text()
    out = {}
    for block in text.split("\n\n"):
        fields = next(iter(parse_stanzas(block)), {})
        if fields.get("Package") in PICK:
            out[fields["Package"]] = block.strip() + "\n"
    return out


def _image(tmp: Path, with_os_release: bool) -> str:
    stanzas = _stanzas()
    root = bookworm_rootfs()
    entries = [dir_entry("var/lib/dpkg/status.d"), dir_entry("etc")]
    for name, block in sorted(stanzas.items()):
        entries.append(file_entry(f"var/lib/dpkg/status.d/{name}", block.encode()))
        entries.append(file_entry(f"var/lib/dpkg/status.d/{name}.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  x\n"))
    entries.append(file_entry("etc/debian_version", (root / "etc/debian_version").read_bytes()))
    if with_os_release:
        entries.append(file_entry("etc/os-release", (root / "usr/lib/os-release").read_bytes()))
    b = ImageBuilder(tmp / "b")
    b.add_layer_entries(entries, "COPY distroless base")
    b.write_oci_layout(tmp / "img")
    return f"oci-layout:{tmp / 'img'}"


def _oracle(tmp: Path) -> set[tuple[str, str, str, str]]:
    admin = tmp / "admin"
    (admin / "info").mkdir(parents=True)
    (admin / "status").write_text("\n".join(_stanzas().values()))
    (admin / "available").write_text("")
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admin}",
            "-W",
            "-f",
            r"${Package}\t${Version}\t${Architecture}\t${source:Package}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {tuple(line.split("\t")) for line in out.splitlines()}  # type: ignore[misc]


def test_status_d_packages_and_os(tmp_path: Path, settings: Settings) -> None:
    oracle = _oracle(tmp_path)
    assert len(oracle) == len(PICK)
    version = (bookworm_rootfs() / "etc/debian_version").read_text().strip()
    for with_os_release in (True, False):
        inv = catalog(_image(tmp_path / str(with_os_release), with_os_release), settings).inventory
        got = {(p.name, p.version, p.arch, p.source_name) for p in inv.packages}
        assert got == oracle
        assert all(p.path == f"var/lib/dpkg/status.d/{p.name}" for p in inv.packages)
        assert inv.os is not None
        assert (inv.os.family, inv.os.version, inv.os.distroless) == ("debian", version, True)
        assert all("distro=debian-" in p.purl for p in inv.packages)
