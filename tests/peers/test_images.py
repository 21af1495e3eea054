"""On the same images, our package set is a superset of what trivy and syft report.

Images: the bookworm minbase image with a Go binary (the benchmark image), the Alpine `docker
save` archive from ../shared/data, and a polyglot image (Alpine base; Go, Rust/cargo-auditable
and Java archives; a pip site-packages; an npm project) built from the other test fixtures.

Packages are compared by PURL (type, namespace/name, version). Where the peers name the same
thing differently, the rules below decide, each for a reason written in docs/benchmarks.md:

* versions: Go's leading `v` is ignored (syft writes `1.19.8` for `v1.19.8`); a peer package
  without a version (`""`, `(devel)`) matches ours of the same name whatever our version is
  (we derive versions they do not, e.g. Go pseudo-versions from VCS stamps);
* Go modules replaced by a local directory: syft names the directory (`./third_party/errors`),
  we keep the module path and record the directory in `replaced_by`;
* Java: syft names an archive it cannot identify after the archive file itself
  (`boot/boot`, `wagon-http-shaded/...`); it matches if we report a package found in that file;
* npm: `package.json` files that `resolve` ships as test fixtures
  (`node_modules/resolve/test/...`) are reported by both peers and deliberately not by us.
* trivy is run with /opt/java skipped: without its Java DB (downloaded from the internet) it
  refuses to scan jars at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packageurl import PackageURL

from bench._common import PEER_FLAGS_TRIVY
from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder
from customhouse.settings import Settings
from tests.conftest import alpine_layer_tar, cached_build, shared

pytestmark = pytest.mark.peer


@dataclass(frozen=True)
class Peer:
    type: str
    name: str
    version: str
    path: str


def _tool(name: str) -> str:
    p = Path(sys.executable).parent / name
    found = str(p) if p.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def _peer_packages(doc: dict, path_props: tuple[str, ...]) -> list[Peer]:  # type: ignore[type-arg]
    out: list[Peer] = []

    def walk(components: list[dict]) -> None:  # type: ignore[type-arg]
        for c in components:
            if c.get("purl") and c.get("type") != "operating-system":
                try:
                    p = PackageURL.from_string(c["purl"])
                except ValueError:
                    continue
                props = {x.get("name"): x.get("value", "") for x in c.get("properties", [])}
                path = next((props[k] for k in path_props if props.get(k)), "")
                name = f"{p.namespace}/{p.name}" if p.namespace else p.name
                version = p.version or ""
                if p.type == "deb" and (p.qualifiers or {}).get("epoch"):
                    version = f"{p.qualifiers['epoch']}:{version}"  # type: ignore[index]
                out.append(Peer(p.type, name, version, path.lstrip("/")))
            walk(c.get("components", []))

    walk(doc.get("components", []))
    return out


def _norm(t: str, name: str, version: str) -> tuple[str, str, str]:
    if t == "pypi":
        name = name.lower().replace("_", "-").replace(".", "-")
    if t == "golang":
        version = version.removeprefix("v")
    return t, name.lower(), version


def _missing(ours_inv: object, peers: list[Peer]) -> list[Peer]:
    from customhouse.model import Inventory

    assert isinstance(ours_inv, Inventory)
    ours = list(ours_inv.packages)
    keys = set()
    names: dict[tuple[str, str], list[object]] = {}
    for p in ours:
        purl = PackageURL.from_string(p.purl)
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        k = _norm(purl.type, name, purl.version or "")
        keys.add(k)
        names.setdefault(k[:2], []).append(p)
    missing = []
    for peer in peers:
        k = _norm(peer.type, peer.name, peer.version)
        if k in keys:
            continue
        if peer.version in ("", "(devel)") and k[:2] in names:
            continue
        if (
            peer.type == "golang"
            and peer.name.startswith(("./", "../", "/"))
            and any(p.meta("replaced_by") == peer.name for p in ours if p.type == "golang")
        ):
            continue
        if peer.type == "maven" and _maven_same_archive(peer, ours):
            continue
        if peer.type == "npm" and "node_modules/resolve/test/" in peer.path:
            continue
        missing.append(peer)
    return missing


def _maven_same_archive(peer: Peer, ours: list) -> bool:  # type: ignore[type-arg]
    """syft names archives it cannot identify from the file name or a mis-split manifest header
    (`inject/inject`, `...geronimo-annotation_1.3_spec/3_spec;singleton=true`): it is the same
    package when we report one from that archive (or one nested in it) with the same version,
    or from a nested archive whose file name is what syft used as the name."""
    stem = peer.name.rsplit("/", 1)[-1]
    for p in ours:
        if p.type != "maven":
            continue
        in_file = p.path == peer.path or p.path.startswith(peer.path + "!/")
        if in_file and (not peer.version or p.version == peer.version):
            return True
        if any(Path(seg).stem == stem for seg in p.path.split("!/")):
            return True
    return False


def _compare(archive: Path, settings: Settings, tmp_path: Path, trivy_extra: tuple[str, ...] = ()) -> None:
    ours = catalog(f"docker-archive:{archive}", settings).inventory
    assert ours.packages
    trivy_out, syft_out = tmp_path / "trivy.json", tmp_path / "syft.json"
    subprocess.run(
        [
            _tool("trivy"),
            "image",
            "--input",
            str(archive),
            "--format",
            "cyclonedx",
            "-o",
            str(trivy_out),
            "--cache-dir",
            str(tmp_path / "trivy-cache"),
            *PEER_FLAGS_TRIVY,
            *trivy_extra,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [_tool("syft"), f"docker-archive:{archive}", "-o", f"cyclonedx-json={syft_out}", "-q"],
        check=True,
        capture_output=True,
        env=dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false"),
    )
    trivy = _peer_packages(json.loads(trivy_out.read_text()), ("aquasecurity:trivy:FilePath",))
    syft = _peer_packages(json.loads(syft_out.read_text()), ("syft:location:0:path",))
    assert trivy and syft
    assert _missing(ours, trivy) == []
    assert _missing(ours, syft) == []


def test_bookworm_with_go_binary(settings: Settings, tmp_path: Path) -> None:
    from bench.fixtures import bookworm_go_archive

    _compare(bookworm_go_archive(), settings, tmp_path)


def test_alpine_docker_save_archive(settings: Settings, tmp_path: Path) -> None:
    src = shared("images/alpine-3.10-docker-archive.tar.gz")

    def build(dst: Path) -> None:  # syft reads only uncompressed archives
        import gzip

        with gzip.open(src) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)

    _compare(cached_build("alpine-3.10-docker-archive.tar", build), settings, tmp_path)


def _polyglot() -> Path:
    from tests.binaries import fixtures as bf
    from tests.lang.conftest import _build_npm, _build_pip_site, build_or_skip

    go = bf.go_binaries()
    rust = bf.rust_binaries()
    java = bf.java_archives()
    pip = build_or_skip("lang-pip-rootfs-v1", _build_pip_site)
    npm = build_or_skip("lang-npm-v1", _build_npm)

    def build(dst: Path) -> None:
        work = dst.with_name(dst.name + ".work")
        shutil.rmtree(work, ignore_errors=True)
        app = work / "app"
        (app / "usr/local/bin").mkdir(parents=True)
        shutil.copy(go / "static", app / "usr/local/bin/goapp")
        shutil.copy(rust / "chfixture", app / "usr/local/bin/rustapp")
        (app / "opt/java").mkdir(parents=True)
        for name in ("shop.ear", "boot.jar"):
            shutil.copy(java / name, app / "opt/java" / name)
        for jar in sorted(Path("/usr/share/maven/lib").glob("*.jar"))[:12]:
            shutil.copy(jar, app / "opt/java" / jar.name)
        shutil.copytree(pip, app / "pyroot", symlinks=True)
        shutil.copytree(npm / "project", app / "srv/node", symlinks=True)
        b = ImageBuilder(work / "b")
        b.add_layer_tar(alpine_layer_tar("3.20.3"), "ADD alpine")
        b.add_layer_dir(app, "COPY app /")
        b.write_docker_archive(dst, "customhouse-test/polyglot:1")
        shutil.rmtree(work)

    return cached_build("peers-polyglot-v1.tar", build)


def test_polyglot_image(settings: Settings, tmp_path: Path) -> None:
    _compare(_polyglot(), settings, tmp_path, trivy_extra=("--skip-dirs", "/opt/java"))
