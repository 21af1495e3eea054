"""The layer cache: a second scan re-reads nothing it already analyzed.

"Re-reads nothing" is proved, not timed: after the first scan the layer blobs are overwritten
with garbage. A scan that read them would fail its digest check (shown with --no-cache);
a scan served from the cache gives the same inventory.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from customhouse.catalog import catalog
from customhouse.errors import DigestMismatchError
from customhouse.image.cache import LayerCache
from customhouse.image.writer import ImageBuilder, file_entry
from customhouse.settings import Settings
from tests.conftest import alpine_layer_tar


def _corrupt_blobs(layout: Path, keep: set[str] | None = None) -> None:
    index = (layout / "index.json").read_text()
    for blob in (layout / "blobs" / "sha256").iterdir():
        if blob.name in index or (keep and blob.name in keep):
            continue
        size = blob.stat().st_size
        if size > 4096:  # layers, not the small manifest/config documents
            blob.write_bytes(b"\x1f\x8b" + b"garbage" * (size // 7))


def _build(tmp: Path, name: str, extra: bool) -> Path:
    b = ImageBuilder(tmp / f"build-{name}")
    b.add_layer_tar(alpine_layer_tar("3.12.12"), "ADD base")
    if extra:
        b.add_layer_entries([file_entry("opt/app/VERSION", b"1.2.3\n" * 2000)], "COPY app /opt/app")
    out = tmp / name
    b.write_oci_layout(out)
    return out


def test_second_scan_reads_no_layer(tmp_path: Path, settings: Settings) -> None:
    img = _build(tmp_path, "a", extra=True)
    first = catalog(f"oci-layout:{img}", settings)
    assert first.cache_hits == 0
    _corrupt_blobs(img)
    with pytest.raises(DigestMismatchError):
        catalog(f"oci-layout:{img}", replace(settings, use_cache=False))
    second = catalog(f"oci-layout:{img}", settings)
    assert second.cache_hits == 2
    assert second.inventory == first.inventory
    assert sorted(f.path for f, _ in second.fs) == sorted(f.path for f, _ in first.fs)


def test_images_sharing_a_base_layer_share_its_cache(tmp_path: Path, settings: Settings) -> None:
    base_only = _build(tmp_path, "base", extra=False)
    both = _build(tmp_path, "both", extra=True)
    catalog(f"oci-layout:{base_only}", settings)
    # Corrupt only the shared base layer in the second image: it must come from the cache,
    # while the new top layer is read (and verified) for real.
    base_digest = next(p.name for p in (base_only / "blobs" / "sha256").iterdir() if p.stat().st_size > 1_000_000)
    target = both / "blobs" / "sha256" / base_digest
    target.write_bytes(b"\x1f\x8b" + b"x" * 100)
    analysis = catalog(f"oci-layout:{both}", settings)
    assert analysis.cache_hits == 1
    assert len(analysis.inventory.packages) == 14
    assert "opt/app/VERSION" in analysis.fs


def test_new_analyzer_only_fills_what_is_missing(tmp_path: Path, settings: Settings) -> None:
    img = _build(tmp_path, "a", extra=False)
    only_os = catalog(f"oci-layout:{img}", settings, analyzers=["os"])
    assert only_os.inventory.packages == () and only_os.inventory.os is not None
    full = catalog(f"oci-layout:{img}", settings, analyzers=["os", "apk"])
    fresh = catalog(f"oci-layout:{img}", replace(settings, use_cache=False), analyzers=["os", "apk"])
    assert full.inventory == fresh.inventory and len(full.inventory.packages) == 14
    db = sqlite3.connect(settings.cache_dir / "layers.db")
    rows = {r[0] for r in db.execute("SELECT analyzer FROM layer_results")}
    assert {"os", "apk"} <= rows
    # And now everything is cached: a scan with both analyzers reads nothing.
    _corrupt_blobs(img)
    assert catalog(f"oci-layout:{img}", settings, analyzers=["os", "apk"]).inventory == fresh.inventory


def test_corrupt_cache_is_moved_aside_and_rebuilt(tmp_path: Path, settings: Settings) -> None:
    img = _build(tmp_path, "a", extra=False)
    settings.cache_dir.mkdir(parents=True)
    db = settings.cache_dir / "layers.db"
    db.write_bytes(b"this is not a sqlite database" * 100)
    inv = catalog(f"oci-layout:{img}", settings).inventory
    assert len(inv.packages) == 14
    aside = list(settings.cache_dir.glob("layers.db.corrupt-*"))
    assert aside and aside[0].read_bytes().startswith(b"this is not a sqlite database")
    # The rebuilt cache works.
    _corrupt_blobs(img)
    assert catalog(f"oci-layout:{img}", settings).inventory == inv


def test_tampered_cache_entry_is_a_miss_not_a_crash(tmp_path: Path, settings: Settings) -> None:
    img = _build(tmp_path, "a", extra=False)
    inv = catalog(f"oci-layout:{img}", settings).inventory
    con = sqlite3.connect(settings.cache_dir / "layers.db")
    con.execute("UPDATE layer_results SET data = x'00ff00ff'")
    con.commit()
    con.close()
    assert catalog(f"oci-layout:{img}", settings).inventory == inv
    LayerCache(settings.cache_dir).clear()
    shutil.rmtree(settings.cache_dir)
