"""End to end: the real binaries and archives in an image, through `catalog()`.

What this adds to the unit tests: the walker hands executables and archives to the right
analyzers (and only those), PURLs are completed centrally from our names, paths are image
paths, layer attribution works, and analyzer warnings (the zip bomb) reach the inventory.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder
from customhouse.settings import Settings
from tests.binaries import fixtures

ANALYZERS = ["gobinary", "rustbinary", "java"]


def _install(src: Path, dst: Path, mode: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def test_catalog_of_an_image_with_binaries_and_archives(
    tmp_path: Path, settings: Settings, go_bins: Path, rust_bins: Path, java_dir: Path, esbuild_bins: Path
) -> None:
    base = tmp_path / "base"
    _install(go_bins / "dynamic", base / "usr/local/bin/gofixture", 0o755)
    _install(go_bins / "nosections-pie", base / "usr/local/bin/gofixture-sstripped", 0o755)
    _install(rust_bins / "chfixture", base / "usr/local/bin/chfixture", 0o755)
    _install(rust_bins / "chfixture-plain", base / "usr/local/bin/chfixture-plain", 0o755)
    (base / "usr/local/bin/entrypoint.sh").write_text('#!/bin/sh\nexec /usr/local/bin/gofixture "$@"\n')
    (base / "usr/local/bin/entrypoint.sh").chmod(0o755)
    # A Go binary without the execute bit is not looked at (executables only).
    _install(go_bins / "static", base / "usr/share/doc/gofixture.bin", 0o644)
    app = tmp_path / "app"
    _install(java_dir / "shop.ear", app / "opt/app/shop.ear", 0o644)
    _install(java_dir / "boot.jar", app / "opt/app/boot.jar", 0o644)
    _install(java_dir / "bomb.war", app / "opt/app/bomb.war", 0o644)
    _install(esbuild_bins / "esbuild-amd64", app / "opt/node/esbuild", 0o755)
    b = ImageBuilder(tmp_path / "build")
    b.add_layer_dir(base, "COPY binaries /usr/local/bin")
    b.add_layer_dir(app, "COPY app /opt")
    img = tmp_path / "img"
    b.write_oci_layout(img)

    inv = catalog(f"oci-layout:{img}", settings, analyzers=ANALYZERS).inventory
    by_purl = {p.purl: p for p in inv.packages}
    by_path: dict[str, set[str]] = {}
    for p in inv.packages:
        by_path.setdefault(p.path, set()).add(p.purl)

    goversion = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    text_v = fixtures.go_dep_versions()["golang.org/x/text"]
    gofix = by_path["usr/local/bin/gofixture"]
    assert f"pkg:golang/golang.org/x/text@{text_v}" in gofix
    assert f"pkg:golang/stdlib@v{goversion.removeprefix('go')}" in gofix
    assert f"pkg:golang/example.com/customhouse/gofixture@{fixtures.GO_LDFLAGS_VERSION}" in gofix
    assert "pkg:golang/github.com/pkg/errors" in gofix  # directory replacement: no version
    # The sstripped PIE yields the same modules (its main module has no version flag).
    strip = {p.split("@")[0] for p in by_path["usr/local/bin/gofixture-sstripped"]}
    assert strip == {p.split("@")[0] for p in gofix}
    assert "usr/share/doc/gofixture.bin" not in by_path
    assert "usr/local/bin/entrypoint.sh" not in by_path
    assert "usr/local/bin/chfixture-plain" not in by_path

    assert by_path["usr/local/bin/chfixture"] == {
        "pkg:cargo/chfixture@0.3.1",
        "pkg:cargo/helper@0.1.0",
        "pkg:cargo/itoa@1.0.1",
        "pkg:cargo/num-traits@0.2.15",
    }

    esb = by_path["opt/node/esbuild"]
    assert "pkg:golang/stdlib@v1.17.5" in esb and "pkg:golang/github.com/evanw/esbuild" in esb

    guava = by_purl["pkg:maven/com.google.guava/guava@31.1-jre"]
    assert guava.path == "opt/app/shop.ear!/shop.war!/WEB-INF/lib/guava.jar"
    assert guava.found_by == "java" and guava.layer_index == 1 and guava.created_by == "COPY app /opt"
    assert by_purl["pkg:maven/org.fusesource.jansi/jansi@2.4.0"].path == "opt/app/shop.ear!/lib/jansi.jar"
    assert by_purl["pkg:maven/org.fusesource.jansi/jansi@2.4.0"].licenses == ("Apache-2.0",)
    slf4j = [p for p in inv.packages if p.name == "org.slf4j:slf4j-api"]
    assert [p.path for p in slf4j] == ["opt/app/boot.jar!/BOOT-INF/lib/slf4j-api.jar"]
    assert by_purl["pkg:maven/commons-io/commons-io@2.11.0"].layer_index == 1
    assert {p.path for p in inv.packages if p.purl == "pkg:maven/commons-io/commons-io@2.11.0"} >= {
        "opt/app/bomb.war!/WEB-INF/lib/commons-io.jar",
        "opt/app/shop.ear!/shop.war!/WEB-INF/lib/commons-io.jar",
    }
    assert any("bomb.jar" in w and "zip bomb" in w for w in inv.warnings)
    # Binaries are attributed to the layer that added them.
    assert {p.layer_index for p in inv.packages if p.path.startswith("usr/local/bin/")} == {0}
