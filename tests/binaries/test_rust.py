"""cargo-auditable data in a real Rust binary.

cargo-auditable cannot be installed here (crates.io is unreachable and Debian 12 does not
package it), so the fixture compiles a real crate with cargo against Debian's crate sources
and embeds the `.dep-v0` section the way the tool would: zlib-compressed JSON following the
published schema, computed from `cargo metadata`, added with `objcopy --add-section`.
Oracles: that JSON, `objcopy --dump-section` (what is really in the binary), and the crate
versions of the Debian crate sources the build used.
"""

from __future__ import annotations

import json
import subprocess
import tracemalloc
import zlib
from pathlib import Path

import pytest

from customhouse.analyzers.base import AnalyzerError, BytesBlob
from customhouse.analyzers.rust import RustAuditableAnalyzer, packages_from
from customhouse.model import FileInfo, Package
from tests.binaries import fixtures
from tests.binaries.conftest import CountingBlob


def _analyze(path: Path, name: str = "usr/local/bin/chfixture") -> list[Package] | None:
    data = path.read_bytes()
    res = RustAuditableAnalyzer().analyze(FileInfo(name, "file", len(data), 0o755), BytesBlob(data))
    return None if res is None else list(res.packages)


def _expected(doc: dict[str, list[dict[str, object]]]) -> set[tuple[str, str]]:
    """The documented rule: the root, plus every runtime crate (local path crates included)."""
    out = set()
    for p in doc["packages"]:
        if p.get("root") or p.get("kind", "runtime") == "runtime":
            out.add((str(p["name"]), str(p["version"])))
    return out


def test_section_holds_what_was_embedded(rust_bins: Path, tmp_path: Path) -> None:
    dumped = tmp_path / "dep"
    subprocess.run(
        ["objcopy", "--dump-section", f".dep-v0={dumped}", str(rust_bins / "chfixture"), str(tmp_path / "junk")],
        check=True,
        capture_output=True,
    )
    assert dumped.read_bytes() == (rust_bins / "dep-v0.zlib").read_bytes()
    # The binary is still a working program after the section was added.
    out = subprocess.run([str(rust_bins / "chfixture")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "hello from helper 4242 1"


def test_crates_reported_by_the_documented_rule(rust_bins: Path) -> None:
    doc = json.loads((rust_bins / "dep-v0.json").read_bytes())
    pkgs = _analyze(rust_bins / "chfixture")
    assert pkgs is not None
    got = {(p.name, p.version) for p in pkgs}
    assert got == _expected(doc)
    # Against the crate sources the build really used (Debian's registry directory).
    for crate in ("itoa", "num-traits"):
        (src,) = fixtures.CARGO_REGISTRY.glob(f"{crate}-[0-9]*")
        assert (crate, src.name[len(crate) + 1 :]) in got
    by_name = {p.name: p for p in pkgs}
    assert by_name["helper"].meta("source") == "local"  # a path crate: listed, marked unmatchable
    assert "autocfg" not in by_name  # num-traits' build-script dependency
    root = by_name["chfixture"]
    assert root.version == "0.3.1" and root.meta("root") == "true"
    assert root.meta("skipped_build_deps") == "1" and root.meta("local_deps") == "1"
    for p in pkgs:
        assert p.type == "cargo" and p.path == "usr/local/bin/chfixture" and p.found_by == "rustbinary"
    assert by_name["itoa"].meta("source") == "crates.io"


def test_binary_without_audit_data_is_rejected_reading_little(rust_bins: Path) -> None:
    data = (rust_bins / "chfixture-plain").read_bytes()
    blob = CountingBlob(data)
    assert RustAuditableAnalyzer().analyze(FileInfo("x", "file", len(data), 0o755), blob) is None
    assert blob.bytes_read < 8192 < len(data) // 10


def test_decompression_bomb_in_the_section_is_refused(rust_bins: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zlib"
    comp = zlib.compressobj(9)
    with open(bomb, "wb") as f:
        f.write(comp.compress(b'{"packages":['))
        zeros = bytes(1 << 20)
        for _ in range(200):
            f.write(comp.compress(zeros))
        f.write(comp.flush())
    assert bomb.stat().st_size < 1 << 20
    binary = tmp_path / "bombed"
    fixtures.add_section(rust_bins / "chfixture-plain", binary, bomb)
    tracemalloc.start()
    try:
        with pytest.raises(AnalyzerError, match="more than"):
            _analyze(binary)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20  # bounded by the JSON cap, not by the 200 MB the section inflates to


def test_git_registries_and_local_are_reported_build_is_not() -> None:
    entries: list[dict[str, object]] = [
        {"name": "app", "version": "1.0.0", "source": "local", "root": True, "dependencies": [1, 2, 3, 4]},
        {"name": "fork", "version": "0.2.0", "source": "git"},
        {"name": "internal", "version": "3.1.4", "source": "registry"},
        {"name": "ws-member", "version": "0.1.0", "source": "local"},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
    ]
    pkgs = {p.name: p for p in packages_from(entries, "bin/app", "rustbinary")}
    assert set(pkgs) == {"app", "fork", "internal", "ws-member"}
    assert pkgs["fork"].meta("source") == "git"
    assert pkgs["ws-member"].meta("source") == "local"
    assert pkgs["app"].meta("root") == "true"


def test_malformed_json_is_an_analyzer_error(rust_bins: Path, tmp_path: Path) -> None:
    payload = tmp_path / "bad.zlib"
    payload.write_bytes(zlib.compress(b'{"packages":[{"name":"x"}]}'))
    binary = tmp_path / "bad"
    fixtures.add_section(rust_bins / "chfixture-plain", binary, payload)
    with pytest.raises(AnalyzerError, match="without name or version"):
        _analyze(binary)
