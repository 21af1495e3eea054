"""Layer semantics on real multi-layer images: whiteouts, opaque dirs, origin layers, links.

Expected values come from the OCI image-layer specification (whiteouts hide lower-layer
entries only; an opaque marker hides a directory's lower content; entries of the same layer
are never hidden) and from the Alpine database itself.
"""

from __future__ import annotations

from pathlib import Path

from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry, link_entry
from customhouse.settings import Settings
from tests.conftest import alpine_layer_tar, alpine_rootfs

EXTRA_APK = """C:Q1xxxxxxxxxxxxxxxxxxxxxxxxxxxxx=
P:customhouse-extra
V:1.0-r0
A:x86_64
L:MIT
o:customhouse-extra-src

"""


def _apk_db(version: str) -> bytes:
    return (alpine_rootfs(version) / "lib/apk/db/installed").read_bytes()


def _apk_names(db: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    name = ""
    for line in db.decode().splitlines():
        if line.startswith("P:"):
            name = line[2:]
        elif line.startswith("V:"):
            out.append((name, line[2:]))
    return sorted(out)


def test_origin_layer_and_created_by(tmp_path: Path, settings: Settings) -> None:
    """Packages keep the layer that first installed them, even after later layers rewrite the db."""
    db = _apk_db("3.20.3")
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), "ADD alpine-minirootfs /")
    b.add_layer_entries([file_entry("etc/motd", b"hello\n")], "RUN echo hello > /etc/motd")
    b.add_layer_entries([file_entry("lib/apk/db/installed", db + EXTRA_APK.encode())], "RUN apk add customhouse-extra")
    b.write_oci_layout(tmp_path / "img")
    inv = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory
    by_name = {p.name: p for p in inv.packages}
    assert sorted((p.name, p.version) for p in inv.packages if p.name != "customhouse-extra") == _apk_names(db)
    extra = by_name["customhouse-extra"]
    assert extra.layer_index == 2
    assert extra.created_by == "RUN apk add customhouse-extra"
    assert extra.source_name == "customhouse-extra-src"
    assert extra.layer_diff_id == inv.layers[2].diff_id
    musl = by_name["musl"]
    assert musl.layer_index == 0
    assert musl.created_by == "ADD alpine-minirootfs /"
    assert inv.os is not None and inv.os.family == "alpine" and inv.os.version == "3.20.3"


def test_upgrade_moves_origin_to_upgrading_layer(tmp_path: Path, settings: Settings) -> None:
    db = _apk_db("3.20.3").decode()
    first_v = next(line for line in db.splitlines() if line.startswith("V:"))
    upgraded = db.replace(first_v, "V:99.0-r0", 1)
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), "base")
    b.add_layer_entries([file_entry("lib/apk/db/installed", upgraded.encode())], "RUN apk upgrade")
    b.write_oci_layout(tmp_path / "img")
    pkgs = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory.packages
    layers = {p.version: p.layer_index for p in pkgs}
    assert layers["99.0-r0"] == 1
    assert {i for v, i in layers.items() if v != "99.0-r0"} == {0}


def test_whiteout_of_database_removes_packages(tmp_path: Path, settings: Settings) -> None:
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), "base")
    b.add_layer_entries([file_entry("lib/apk/db/.wh.installed", b"")], "RUN rm /lib/apk/db/installed")
    b.write_oci_layout(tmp_path / "img")
    analysis = catalog(f"oci-layout:{tmp_path / 'img'}", settings)
    assert analysis.inventory.packages == ()
    removal = analysis.fs.removals_of("lib/apk/db/installed", 0)
    assert removal is not None and removal.removed_in == 1 and removal.how == "whiteout"


def test_whiteouts_opaque_dirs_and_same_layer_entries(tmp_path: Path, settings: Settings) -> None:
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries(
        [
            dir_entry("a"),
            file_entry("a/keep", b"1"),
            file_entry("a/gone", b"2"),
            dir_entry("d"),
            file_entry("d/x", b"x"),
            dir_entry("d/sub"),
            file_entry("d/sub/y", b"y"),
            dir_entry("tree"),
            file_entry("tree/deep/z", b"z"),
        ],
        "layer 1",
    )
    b.add_layer_entries(
        [
            file_entry("a/.wh.gone", b""),
            file_entry("d/.wh..wh..opq", b""),
            file_entry("d/new", b"n"),
            file_entry(".wh.tree", b""),
            # A whiteout never hides an entry of its own layer, whatever the order.
            file_entry("same", b"s"),
            file_entry(".wh.same", b""),
        ],
        "layer 2",
    )
    b.add_layer_entries([file_entry("a/gone", b"back")], "layer 3")
    b.write_oci_layout(tmp_path / "img")
    fs = catalog(f"oci-layout:{tmp_path / 'img'}", settings).fs
    assert "a/keep" in fs
    assert fs.get("a/gone") is not None and fs.get("a/gone")[1] == 2  # type: ignore[index]
    assert "d/x" not in fs and "d/sub/y" not in fs and "d/sub" not in fs
    assert "d" in fs and "d/new" in fs
    assert "tree" not in fs and "tree/deep/z" not in fs
    assert "same" in fs
    hows = {(r.path, r.how, r.added_in, r.removed_in) for r in fs.removals}
    assert ("a/gone", "whiteout", 0, 1) in hows
    assert ("d/x", "opaque", 0, 1) in hows
    assert ("d/sub/y", "opaque", 0, 1) in hows
    assert ("tree/deep/z", "whiteout", 0, 1) in hows
    assert ("a/gone", "overwritten", 0, 2) not in hows  # it was already gone


def test_os_release_symlink_is_resolved_inside_the_image(tmp_path: Path, settings: Settings) -> None:
    """etc/os-release -> ../usr/lib/os-release (as on Debian); a decoy at the host path must not matter."""
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries(
        [
            dir_entry("etc"),
            dir_entry("usr/lib"),
            file_entry("usr/lib/os-release", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'),
            link_entry("etc/os-release", "../usr/lib/os-release"),
            file_entry("etc/debian_version", b"12.7\n"),
        ],
        "base",
    )
    b.write_oci_layout(tmp_path / "img")
    inv = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory
    assert inv.os is not None
    assert (inv.os.family, inv.os.version, inv.os.source) == ("debian", "12.7", "usr/lib/os-release")


def test_symlink_escaping_root_is_clamped_and_loops_warn(tmp_path: Path, settings: Settings) -> None:
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries(
        [
            dir_entry("etc"),
            # ../../../../ beyond the root stays at the root, like a chroot.
            link_entry("etc/os-release", "../../../../../../etc/alpine-os"),
            file_entry("etc/alpine-os", b"ID=alpine\nVERSION_ID=3.20.3\n"),
            link_entry("usr/lib/os-release", "loop-b"),
            link_entry("usr/lib/loop-b", "os-release"),
        ],
        "base",
    )
    b.write_oci_layout(tmp_path / "img")
    analysis = catalog(f"oci-layout:{tmp_path / 'img'}", settings)
    fs = analysis.fs
    assert fs.resolve("etc/os-release") == "etc/alpine-os"
    assert fs.resolve("/usr/lib/../../../etc/alpine-os") == "etc/alpine-os"
    inv = analysis.inventory
    # the OS analyzer only reads etc/os-release / usr/lib/os-release by name; the escaping
    # link resolves to a file it did not read, so it falls through to the loop and warns.
    assert any("too many levels of symbolic links" in w for w in inv.warnings)


def test_hardlinked_database_is_cataloged(tmp_path: Path, settings: Settings) -> None:
    db = _apk_db("3.16.9")
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries(
        [
            dir_entry("lib/apk/db"),
            file_entry("lib/apk/db/installed", db),
            link_entry("lib/apk/db/installed.bak", "lib/apk/db/installed", hard=True),
        ],
        "base",
    )
    b.write_oci_layout(tmp_path / "img")
    fs = catalog(f"oci-layout:{tmp_path / 'img'}", settings).fs
    entry = fs.get("lib/apk/db/installed.bak")
    assert entry is not None and entry[0].kind == "hardlink" and entry[0].linkname == "lib/apk/db/installed"


def test_hardlink_to_wanted_path_gets_targets_facts(tmp_path: Path, settings: Settings) -> None:
    """The tar stream cannot be rewound, so a hardlink's facts are the facts of its target."""
    db = _apk_db("3.16.9")
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries(
        [
            dir_entry("lib/apk/db"),
            file_entry("var/backup/installed", db),
            link_entry("lib/apk/db/installed", "var/backup/installed", hard=True),
        ],
        "base",
    )
    b.write_oci_layout(tmp_path / "img")
    # var/backup/installed is not a path the apk analyzer wants, so nothing was read for it:
    # the link's facts must then be empty rather than invented.
    inv = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory
    assert inv.packages == ()
    b2 = ImageBuilder(tmp_path / "build2")
    b2.add_layer_entries(
        [
            file_entry("usr/lib/os-release", b"ID=alpine\nVERSION_ID=3.16.9\n"),
            link_entry("etc/os-release", "usr/lib/os-release", hard=True),
        ],
        "base",
    )
    b2.write_oci_layout(tmp_path / "img2")
    found = catalog(f"oci-layout:{tmp_path / 'img2'}", settings).found["os"]
    by_path = {f.path: f.result.os for f in found}
    assert by_path["etc/os-release"] is not None and by_path["etc/os-release"].version == "3.16.9"
    assert by_path["etc/os-release"] == by_path["usr/lib/os-release"]


def test_device_nodes_and_fifos_are_recorded_never_read(tmp_path: Path, settings: Settings) -> None:
    import tarfile

    dev = tarfile.TarInfo("dev/console")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 5, 1
    fifo = tarfile.TarInfo("lib/apk/db/installed")  # a FIFO where a database is expected
    fifo.type = tarfile.FIFOTYPE
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_entries([(dev, None), (fifo, None)], "base")
    b.write_oci_layout(tmp_path / "img")
    analysis = catalog(f"oci-layout:{tmp_path / 'img'}", settings)
    assert analysis.fs.get("dev/console")[0].kind == "char"  # type: ignore[index]
    assert analysis.fs.get("lib/apk/db/installed")[0].kind == "fifo"  # type: ignore[index]
    assert analysis.inventory.packages == ()
