"""Benchmark inputs, built from real root filesystems and cached like the test fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from customhouse.image.writer import ImageBuilder
from tests.conftest import bookworm_rootfs, cached_build

GO_MAIN = """package main

import (
\t"encoding/json"
\t"fmt"
\t"net/http"
\t"os"
)

func main() {
\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
\t\t_ = json.NewEncoder(w).Encode(map[string]string{"ok": "yes"})
\t})
\tfmt.Fprintln(os.Stderr, "listening on :8080")
\t_ = http.ListenAndServe(":8080", nil)
}
"""


def go_binary() -> Path:
    """A real Go binary (stdlib only: the module proxy is unreachable here), built once."""

    def build(dst: Path) -> None:
        src = dst.with_name(dst.name + ".src")
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        (src / "main.go").write_text(GO_MAIN)
        (src / "go.mod").write_text("module example.com/benchapp\n\ngo 1.19\n")
        env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
        subprocess.run(["go", "build", "-o", str(dst), "."], cwd=src, env=env, check=True)
        shutil.rmtree(src)

    return cached_build("bench-go-app", build)


def bookworm_go_archive() -> Path:
    """docker-archive: the bookworm minbase root filesystem plus a layer with a Go binary."""
    root = bookworm_rootfs()
    app = go_binary()

    def build(dst: Path) -> None:
        work = dst.with_name(dst.name + ".work")
        shutil.rmtree(work, ignore_errors=True)
        b = ImageBuilder(work)
        b.config = {"Entrypoint": ["/usr/local/bin/app"], "User": "65532"}
        b.add_layer_dir(root, "debootstrap --variant=minbase bookworm")
        layer = work / "app"
        (layer / "usr/local/bin").mkdir(parents=True)
        shutil.copy2(app, layer / "usr/local/bin/app")
        b.add_layer_dir(layer, "COPY app /usr/local/bin/app")
        b.write_docker_archive(dst, "customhouse-bench/bookworm-go:1")
        shutil.rmtree(work)

    return cached_build("bench-bookworm-go.tar", build)


def big_layer_image(gib: float = 1.0) -> Path:
    """A directory with `docker-archive.tar` (layers uncompressed) and `oci/` (layers gzipped) of
    an image whose second layer holds `gib` GiB of incompressible data: the memory bar."""

    def build(dst: Path) -> None:
        work = dst.with_name(dst.name + ".work")
        shutil.rmtree(work, ignore_errors=True)
        data = work / "data"
        (data / "srv/blobs").mkdir(parents=True)
        total = int(gib * (1 << 30))
        chunk = 8 << 20
        n = 0
        while n * chunk < total:
            with open(data / "srv/blobs" / f"blob{n:04d}.bin", "wb") as f:
                f.write(os.urandom(chunk))
            n += 1
        b = ImageBuilder(work / "b")
        b.add_layer_dir(bookworm_rootfs(), "debootstrap")
        b.add_layer_dir(data, "COPY blobs /srv/blobs")
        dst.mkdir()
        b.write_docker_archive(dst / "docker-archive.tar", "customhouse-bench/big:1")
        b.write_oci_layout(dst / "oci", "big")
        shutil.rmtree(work)

    return cached_build(f"bench-big-layer-{gib}g", build)
