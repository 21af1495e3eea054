"""Text inside Java archives: members of jars (and of jars nested in wars) are scanned in
`customhouse fs` trees and in image layers; binary members are not inflated and hostile
archives are bounded."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from customhouse.analyzers.java import ARCHIVE_SUFFIXES as JAVA_ARCHIVE_SUFFIXES
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry
from customhouse.secrets.archives import ARCHIVE_SUFFIXES, archive_members
from tests.conftest import alpine_layer_tar
from tests.secrets.targets.conftest import cli, token

PROPS, NESTED, IN_CLASS = token(31), token(32), token(33)
LIMIT = 32 << 20


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _war() -> bytes:
    inner = _zip(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
            "config/app.yml": f"github:\n  token: {NESTED}\n".encode(),
        }
    )
    return _zip(
        {
            "WEB-INF/classes/application.properties": f"server.port=8080\ngithub.token={PROPS}\n".encode(),
            "WEB-INF/classes/App.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + f"TOKEN={IN_CLASS}".encode(),
            "WEB-INF/lib/inner.jar": inner,
        }
    )


EXPECTED = {
    ("app.war!/WEB-INF/classes/application.properties", 2),
    ("app.war!/WEB-INF/lib/inner.jar!/config/app.yml", 2),
}


def test_fs_scans_the_text_members_of_java_archives(tmp_path: Path, cli_cache: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "app.war").write_bytes(_war())
    (root / "notes.zip").write_bytes(_zip({"a.properties": f"t={PROPS}\n".encode()}))  # not a Java archive
    run = cli("fs", str(root), "-f", "json", cache=cli_cache)
    assert run.code == 0, run.err
    found = {(f["location"]["path"], f["location"]["line"]) for f in json.loads(run.out)["findings"]}
    assert found == EXPECTED  # the class file is never inflated, the .zip is binary
    for raw in (PROPS, NESTED, IN_CLASS):
        assert raw not in run.out


def test_image_layers_scan_the_text_members_of_java_archives(tmp_path: Path, cli_cache: Path) -> None:
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), created_by="ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /")
    b.add_layer_entries([dir_entry("srv"), file_entry("srv/app.war", _war())], created_by="COPY app.war /srv/")
    b.config = {"Cmd": ["/bin/sh"]}
    b.write_docker_archive(tmp_path / "image.tar")
    run = cli(
        "image", f"docker-archive:{tmp_path / 'image.tar'}", "--scanners", "secret", "-f", "json", cache=cli_cache
    )
    assert run.code == 0, run.err
    secrets = [f for f in json.loads(run.out)["findings"] if f["kind"] == "secret"]
    found = {(f["location"]["path"], f["location"]["line"], f["location"]["layer_index"]) for f in secrets}
    assert found == {(f"srv/{p}", line, 1) for p, line in EXPECTED}
    assert all(f["secret"]["origin"] == "layer-file" for f in secrets)
    for raw in (PROPS, NESTED, IN_CLASS):
        assert raw not in run.out


def test_hostile_archives_are_bounded() -> None:
    # A member claiming to inflate more than 100:1 past 1 MiB is not inflated (a likely bomb).
    bomb = _zip({"big.properties": b"x" * (8 << 20) + f"\nt={PROPS}\n".encode()})
    assert list(archive_members(bomb, "bomb.jar", LIMIT)) == []
    # A member larger than the size limit is skipped by its declared size.
    assert list(archive_members(_war(), "app.war", 16)) == []
    # Truncated or garbage archives yield nothing and raise nothing.
    war = _war()
    for broken in (war[: len(war) // 2], war[:100], b"PK\x03\x04" + b"\xff" * 4096):
        assert list(archive_members(broken, "broken.jar", LIMIT)) == []
    # Nesting stops three archives deep.
    deep = _zip({"c.properties": f"t={PROPS}\n".encode()})
    for i in range(2):
        deep = _zip({f"l{i}.jar": deep})
    assert [n for n, _ in archive_members(deep, "d.jar", LIMIT)] == ["d.jar!/l1.jar!/l0.jar!/c.properties"]
    deeper = _zip({"l2.jar": deep})
    assert list(archive_members(deeper, "e.jar", LIMIT)) == []


def test_archive_suffixes_are_the_java_catalogers() -> None:
    assert ARCHIVE_SUFFIXES == JAVA_ARCHIVE_SUFFIXES
