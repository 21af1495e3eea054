"""Real binaries and archives for the binary catalogers, built once per machine.

Nothing here is hand-written binary data: Go binaries come from the installed Go toolchain
compiling a module whose dependencies are the real sources Debian ships (golang-*-dev), old
(pre-1.18) Go binaries are esbuild releases from the npm registry, the Rust binary is compiled
by cargo against crate sources Debian ships (librust-*-dev), and the Java archives are Debian's
jars packed with the JDK's `jar` tool. Each builder skips its tests, naming the missing
package, when a tool or package is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.conftest import cached_build

GOCODE = Path("/usr/share/gocode/src")
CARGO_REGISTRY = Path("/usr/share/cargo/registry")

#: Module path -> (Debian source package, packages we import from it).
GO_DEPS = {
    "github.com/google/uuid": ("golang-github-google-uuid-dev", ["github.com/google/uuid"]),
    "github.com/mattn/go-runewidth": ("golang-github-mattn-go-runewidth-dev", ["github.com/mattn/go-runewidth"]),
    "github.com/pkg/errors": ("golang-github-pkg-errors-dev", ["github.com/pkg/errors"]),
    "github.com/rivo/uniseg": ("golang-github-rivo-uniseg-dev", ["github.com/rivo/uniseg"]),
    "golang.org/x/text": ("golang-golang-x-text-dev", ["golang.org/x/text/transform", "golang.org/x/text/width"]),
}
#: The go.mod requires this (old) x/text and a `replace` moves it to the version Debian ships.
GO_TEXT_REQUIRED = "v0.3.0"
GO_MAIN_MODULE = "example.com/customhouse/gofixture"
GO_LDFLAGS_VERSION = "v1.4.2"

GO_MAIN = """package main

import (
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/mattn/go-runewidth"
	"github.com/pkg/errors"
	"golang.org/x/text/width"
)

var version = "dev"

func main() {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("customhouse"))
	w := runewidth.StringWidth("\u30b3\u30f3\u30c6\u30ca")
	folded := width.Fold.String("\uff21\uff22\uff23")
	err := errors.Wrap(os.ErrNotExist, "probe")
	fmt.Println(version, id, w, folded, err)
}
"""

#: name -> (environment, extra `go build` flags). All share the module above.
GO_VARIANTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "dynamic": ({"CGO_ENABLED": "1"}, ["-ldflags", f"-X main.version={GO_LDFLAGS_VERSION}"]),
    "stripped": ({"CGO_ENABLED": "1"}, ["-ldflags", f"-s -w -X main.version={GO_LDFLAGS_VERSION}"]),
    "pie": ({"CGO_ENABLED": "1"}, ["-buildmode=pie"]),
    "static": ({"CGO_ENABLED": "0"}, ["-trimpath"]),
    "386": ({"CGO_ENABLED": "0", "GOARCH": "386"}, []),
    "s390x": ({"CGO_ENABLED": "0", "GOARCH": "s390x"}, []),
    "mips": ({"CGO_ENABLED": "0", "GOARCH": "mips"}, []),
}

#: esbuild 0.14.10 was released with Go 1.17.5: the pre-1.18 pointer layout, in three flavours.
ESBUILD_VERSION = "0.14.10"
ESBUILD_PACKAGES = {"amd64": "esbuild-linux-64", "386": "esbuild-linux-32", "s390x": "esbuild-linux-s390x"}

RUST_CRATES = ("itoa", "num-traits", "autocfg")  # autocfg: num-traits' build-script dependency


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed ({hint})")
    return path


def debian_version(package: str) -> str:
    """Upstream version of an installed Debian package (`0.7.0-1` -> `0.7.0`), "" if absent."""
    p = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Version}", package], capture_output=True, text=True, check=False
    )
    if p.returncode != 0 or "installed" not in p.stdout:
        return ""
    version = p.stdout.split("\t", 1)[1]
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def go_dep_versions() -> dict[str, str]:
    """Module path -> Go version (`v0.7.0`) of the Debian source package installed for it."""
    out = {}
    missing = []
    for mod, (deb, _pkgs) in GO_DEPS.items():
        v = debian_version(deb)
        if not v:
            missing.append(deb)
        out[mod] = "v" + v
    if missing:
        pytest.skip(f"Go dependency sources not installed: apt-get install {' '.join(missing)}")
    return out


def _go_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GOFLAGS": "-mod=vendor", "GOPROXY": "off", "GOTOOLCHAIN": "local", "GO111MODULE": "on"})
    env.update({"GOSUMDB": "off", "GOOS": "linux"})
    env.update(extra)
    return env


def _go_directive(gomod: Path) -> str:
    """`; go 1.18` for vendor/modules.txt: the language version the module's sources need."""
    if gomod.exists():
        m = re.search(r"^go\s+(\S+)", gomod.read_text(), re.M)
        if m:
            return f"; go {m.group(1)}"
    return ""


def _write_go_module(src: Path, versions: dict[str, str]) -> None:
    src.mkdir(parents=True)
    (src / "main.go").write_text(GO_MAIN)
    requires = "\n".join(
        f"\t{m} {GO_TEXT_REQUIRED if m == 'golang.org/x/text' else versions[m]}"
        for m in sorted(GO_DEPS)
        if m != "github.com/rivo/uniseg"
    )
    (src / "go.mod").write_text(
        f"module {GO_MAIN_MODULE}\n\ngo 1.19\n\nrequire (\n{requires}\n)\n\n"
        f"require github.com/rivo/uniseg {versions['github.com/rivo/uniseg']} // indirect\n\n"
        f"replace golang.org/x/text {GO_TEXT_REQUIRED} => golang.org/x/text {versions['golang.org/x/text']}\n\n"
        "replace github.com/pkg/errors => ./third_party/errors\n"
    )
    lines = []
    for mod in sorted(GO_DEPS):
        _deb, pkgs = GO_DEPS[mod]
        for pkg in pkgs:
            dst = src / "vendor" / pkg
            dst.mkdir(parents=True, exist_ok=True)
            for f in sorted((GOCODE / pkg).glob("*.go")):
                if not f.name.endswith("_test.go"):
                    shutil.copyfile(f, dst / f.name)
        if mod == "golang.org/x/text":
            lines.append(f"# {mod} {GO_TEXT_REQUIRED} => {mod} {versions[mod]}")
        elif mod == "github.com/pkg/errors":
            lines.append(f"# {mod} {versions[mod]} => ./third_party/errors")
        else:
            lines.append(f"# {mod} {versions[mod]}")
        lines.append("## explicit" + _go_directive(GOCODE / mod / "go.mod"))
        lines.extend(pkgs)
    lines.append("# github.com/pkg/errors => ./third_party/errors")
    lines.append(f"# golang.org/x/text {GO_TEXT_REQUIRED} => golang.org/x/text {versions['golang.org/x/text']}")
    (src / "vendor" / "modules.txt").write_text("\n".join(lines) + "\n")
    # The directory replacement: a local copy of the same (real) sources.
    fork = src / "third_party" / "errors"
    fork.mkdir(parents=True)
    for f in (src / "vendor" / "github.com/pkg/errors").glob("*.go"):
        shutil.copyfile(f, fork / f.name)
    (fork / "go.mod").write_text("module github.com/pkg/errors\n")


def _git_commit(src: Path) -> None:
    """A git checkout, so the toolchain stamps vcs.* build settings as it does in CI builds."""
    env = dict(os.environ)
    env.update(
        {
            "GIT_AUTHOR_NAME": "fixture",
            "GIT_AUTHOR_EMAIL": "fixture@example.com",
            "GIT_COMMITTER_NAME": "fixture",
            "GIT_COMMITTER_EMAIL": "fixture@example.com",
            "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
            "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
        }
    )
    for cmd in (["init", "-q", "."], ["add", "-A"], ["commit", "-q", "-m", "fixture"]):
        subprocess.run(["git", *cmd], cwd=src, env=env, check=True, capture_output=True)


def strip_section_headers(src: Path, dst: Path) -> None:
    """What sstrip does to the header: no section table at all (the loader never needs one)."""
    data = bytearray(src.read_bytes())
    is64 = data[4] == 2
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    shoff, shnum, shstrndx = (40, 60, 62) if is64 else (32, 48, 50)
    data[shoff : shoff + (8 if is64 else 4)] = (0).to_bytes(8 if is64 else 4, order)
    data[shnum : shnum + 2] = (0).to_bytes(2, order)
    data[shstrndx : shstrndx + 2] = (0).to_bytes(2, order)
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)


def go_binaries() -> Path:
    """Directory with one binary per GO_VARIANTS entry, plus `nosections-*` copies of two."""
    _require("go", "apt-get install golang-go")
    _require("git", "apt-get install git")
    versions = go_dep_versions()
    key = "-".join(f"{m.rsplit('/', 1)[-1]}{v}" for m, v in sorted(versions.items()))

    def build(dst: Path) -> None:
        src = dst / "src"
        _write_go_module(src, versions)
        _git_commit(src)
        for name, (env, flags) in GO_VARIANTS.items():
            out = dst / name
            cmd = ["go", "build", *flags, "-o", str(out), "."]
            p = subprocess.run(cmd, cwd=src, env=_go_env(env), capture_output=True, text=True, check=False)
            if p.returncode != 0:
                raise RuntimeError(f"go build {name} failed: {p.stderr}")
        for name in ("static", "pie"):
            strip_section_headers(dst / name, dst / f"nosections-{name}")

    return cached_build(f"binaries-go-v1-{key}", build)


def esbuild_binaries() -> Path:
    """esbuild 0.14.10 (Go 1.17.5) for amd64, 386 and s390x, fetched with npm."""
    npm = _require("npm", "apt-get install npm")

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        for arch, pkg in ESBUILD_PACKAGES.items():
            p = subprocess.run(
                [npm, "pack", f"{pkg}@{ESBUILD_VERSION}", "--pack-destination", str(dst)],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if p.returncode != 0:
                raise RuntimeError(f"npm pack {pkg} failed: {p.stderr[-500:]}")
            tgz = dst / f"{pkg}-{ESBUILD_VERSION}.tgz"
            with tarfile.open(tgz) as tf:
                member = tf.extractfile("package/bin/esbuild")
                assert member is not None
                (dst / f"esbuild-{arch}").write_bytes(member.read())
            (dst / f"esbuild-{arch}").chmod(0o755)
            tgz.unlink()

    try:
        return cached_build(f"binaries-esbuild-{ESBUILD_VERSION}", build)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"old-format Go binaries unavailable (npm registry unreachable?): {exc}")


# ---------------------------------------------------------------------- Rust


def auditable_json_from_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The `.dep-v0` document cargo-auditable would embed, per its published schema.

    Computed from `cargo metadata` like the tool does: every package reachable from the root
    through normal or build edges (dev-dependencies never reach a binary); `kind` is `build`
    unless the package is reachable through normal edges alone; `source` is `crates.io`,
    `local` (path) or `git`; `dependencies` are indices into the sorted package list."""
    pkgs = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    root: str = metadata["resolve"]["root"]

    def edges(node_id: str, kinds: set[str | None]) -> Iterable[str]:
        for d in nodes[node_id]["deps"]:
            if any(k["kind"] in kinds for k in d["dep_kinds"]):
                yield d["pkg"]

    def reach(kinds: set[str | None]) -> set[str]:
        seen = {root}
        todo = [root]
        while todo:
            for nxt in edges(todo.pop(), kinds):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    runtime = reach({None})
    everything = reach({None, "build"})
    order = sorted(everything, key=lambda i: (pkgs[i]["name"], pkgs[i]["version"]))
    index = {pid: n for n, pid in enumerate(order)}
    out = []
    for pid in order:
        p = pkgs[pid]
        src = p.get("source") or ""
        source = "local" if not src else "crates.io" if "crates.io-index" in src else src.split("+", 1)[0]
        entry: dict[str, object] = {"name": p["name"], "version": p["version"], "source": source}
        if pid not in runtime:
            entry["kind"] = "build"
        deps = sorted(index[d] for d in edges(pid, {None, "build"}))
        if deps:
            entry["dependencies"] = deps
        if pid == root:
            entry["root"] = True
        out.append(entry)
    return {"packages": out}


def rust_binaries() -> Path:
    """`chfixture` compiled by cargo against Debian's crate sources, with and without `.dep-v0`."""
    cargo = _require("cargo", "rustup or apt-get install cargo")
    _require("objcopy", "apt-get install binutils")
    missing = [c for c in RUST_CRATES if not any(CARGO_REGISTRY.glob(f"{c}-*"))]
    if missing:
        pytest.skip(f"crate sources not installed: apt-get install {' '.join(f'librust-{c}-dev' for c in missing)}")

    def build(dst: Path) -> None:
        src = dst / "src"
        (src / "src").mkdir(parents=True)
        (src / "helper" / "src").mkdir(parents=True)
        (src / ".cargo").mkdir()
        (src / "Cargo.toml").write_text(
            '[package]\nname = "chfixture"\nversion = "0.3.1"\nedition = "2021"\n\n[dependencies]\n'
            'helper = { path = "helper" }\nitoa = "1"\n'
            'num-traits = { version = "0.2", default-features = false, features = ["std"] }\n'
        )
        (src / "helper" / "Cargo.toml").write_text('[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n')
        (src / "helper" / "src" / "lib.rs").write_text('pub fn greet() -> &\'static str { "hello from helper" }\n')
        (src / "src" / "main.rs").write_text(
            "use num_traits::Float;\nfn main() {\n    let mut buf = itoa::Buffer::new();\n"
            '    println!("{} {} {}", helper::greet(), buf.format(4242u32), Float::floor(2.0f64.sqrt()));\n}\n'
        )
        (src / ".cargo" / "config.toml").write_text(
            f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{CARGO_REGISTRY}"\n\n'
            "[net]\noffline = true\n"
        )
        env = dict(os.environ, CARGO_TARGET_DIR=str(dst / "target"))
        p = subprocess.run(
            [cargo, "build", "--release", "-q"], cwd=src, env=env, capture_output=True, text=True, check=False
        )
        if p.returncode != 0:
            raise RuntimeError(f"cargo build failed: {p.stderr}")
        meta = subprocess.run(
            [cargo, "metadata", "--format-version", "1", "-q"], cwd=src, env=env, capture_output=True, check=True
        )
        doc = auditable_json_from_metadata(json.loads(meta.stdout))
        raw = json.dumps(doc, separators=(",", ":")).encode()
        (dst / "dep-v0.json").write_bytes(raw)
        (dst / "dep-v0.zlib").write_bytes(zlib.compress(raw, 9))
        plain = dst / "chfixture-plain"
        shutil.copyfile(dst / "target" / "release" / "chfixture", plain)
        plain.chmod(0o755)
        add_section(plain, dst / "chfixture", dst / "dep-v0.zlib")
        shutil.rmtree(dst / "target")

    return cached_build("binaries-rust-v1", build)


def add_section(src: Path, dst: Path, payload: Path, name: str = ".dep-v0") -> None:
    subprocess.run(
        ["objcopy", "--add-section", f"{name}={payload}", "--set-section-flags", f"{name}=noload,readonly",
         str(src), str(dst)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    dst.chmod(0o755)


# ---------------------------------------------------------------------- Java

#: Real jars from Debian packages (maven's own lib dir and libjansi-java), by what they show.
JAR_SOURCES = {
    "guava.jar": Path("/usr/share/maven/lib/guava.jar"),  # one pom.properties
    "commons-io.jar": Path("/usr/share/maven/lib/commons-io.jar"),
    "wagon-http-shaded.jar": Path("/usr/share/maven/lib/wagon-http-shaded.jar"),  # five (shaded)
    "guice-no-aop.jar": Path("/usr/share/maven/lib/guice-no-aop.jar"),  # manifest only
    "javax.inject.jar": Path("/usr/share/maven/lib/javax.inject.jar"),  # manifest only
    "aopalliance.jar": Path("/usr/share/maven/lib/aopalliance.jar"),  # nothing but a file name
    "slf4j-api.jar": Path("/usr/share/maven/lib/slf4j-api.jar"),
    "plexus-utils.jar": Path("/usr/share/maven/lib/plexus-utils.jar"),
    "maven-slf4j-provider-3.x.jar": Path("/usr/share/maven/lib/maven-slf4j-provider-3.x.jar"),  # two
    "jansi.jar": Path("/usr/share/java/jansi.jar"),  # licenses in pom.xml and Bundle-License
    "commons-lang3.jar": Path("/usr/share/maven/lib/commons-lang3.jar"),
}
WAR_LIBS = ("guava.jar", "commons-io.jar", "wagon-http-shaded.jar", "guice-no-aop.jar", "javax.inject.jar")
EAR_LIBS = ("jansi.jar", "commons-lang3.jar")
BOOT_LIBS = ("slf4j-api.jar", "plexus-utils.jar", "maven-slf4j-provider-3.x.jar", "aopalliance.jar")
WAR_OWN = ("com.example.shop", "shop-web", "2.0.1")
NEST_LEVELS = 7  # nest0.jar holds nest1.jar ... holds nest6.jar
BOMB_BYTES = 200 << 20  # under MAX_NESTED_BYTES: only the ratio guard stops it


def jar_sources() -> dict[str, Path]:
    missing = [str(p) for p in JAR_SOURCES.values() if not p.exists()]
    if missing:
        pytest.skip(f"Debian jars missing ({', '.join(missing)}): apt-get install maven libjansi-java")
    return {k: v.resolve() for k, v in JAR_SOURCES.items()}


def _jar(jar: str, out: Path, staging: Path, store_only: bool = False) -> None:
    cmd = [jar, "--create", "--file", str(out)]
    if store_only:
        cmd.append("--no-compress")
    cmd += ["-C", str(staging), "."]
    subprocess.run(cmd, check=True, capture_output=True)


def _pom_properties(group: str, artifact: str, version: str) -> str:
    return f"#Generated by Maven\nversion={version}\ngroupId={group}\nartifactId={artifact}\n"


def java_archives() -> Path:
    """shop.war (WEB-INF/lib), shop.ear (the WAR + lib/), boot.jar (Spring Boot layout, stored),
    nest0.jar (archives nested NEST_LEVELS deep) and bomb.war (a nested zip bomb)."""
    jar = _require("jar", "apt-get install openjdk-17-jdk-headless")
    sources = jar_sources()

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        work = dst / "work"
        war = work / "war"
        (war / "WEB-INF" / "lib").mkdir(parents=True)
        (war / "WEB-INF" / "web.xml").write_text('<?xml version="1.0"?>\n<web-app version="3.1"/>\n')
        g, a, v = WAR_OWN
        own = war / "META-INF" / "maven" / g / a
        own.mkdir(parents=True)
        (own / "pom.properties").write_text(_pom_properties(g, a, v))
        for name in WAR_LIBS:
            shutil.copyfile(sources[name], war / "WEB-INF" / "lib" / name)
        _jar(jar, dst / "shop.war", war)

        ear = work / "ear"
        (ear / "lib").mkdir(parents=True)
        (ear / "META-INF").mkdir()
        (ear / "META-INF" / "application.xml").write_text('<?xml version="1.0"?>\n<application version="7"/>\n')
        shutil.copyfile(dst / "shop.war", ear / "shop.war")
        for name in EAR_LIBS:
            shutil.copyfile(sources[name], ear / "lib" / name)
        _jar(jar, dst / "shop.ear", ear)

        boot = work / "boot"
        (boot / "BOOT-INF" / "lib").mkdir(parents=True)
        (boot / "BOOT-INF" / "classes").mkdir(parents=True)
        (boot / "BOOT-INF" / "classes" / "application.properties").write_text("server.port=8080\n")
        for name in BOOT_LIBS:
            shutil.copyfile(sources[name], boot / "BOOT-INF" / "lib" / name)
        _jar(jar, dst / "boot.jar", boot, store_only=True)  # Spring Boot stores nested jars

        inner: Path | None = None
        for level in range(NEST_LEVELS - 1, -1, -1):
            stage = work / f"nest{level}"
            props = stage / "META-INF" / "maven" / "com.example.nest" / f"nest{level}"
            props.mkdir(parents=True)
            (props / "pom.properties").write_text(_pom_properties("com.example.nest", f"nest{level}", f"1.{level}"))
            if inner is not None:
                (stage / "lib").mkdir()
                shutil.copyfile(inner, stage / "lib" / inner.name)
            out = work / f"nest{level}.jar"
            _jar(jar, out, stage)
            inner = out
        assert inner is not None
        shutil.copyfile(inner, dst / "nest0.jar")

        # A WAR whose WEB-INF/lib/bomb.jar inflates to BOMB_BYTES of zeros, next to a real jar.
        with zipfile.ZipFile(dst / "bomb.war", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.write(sources["commons-io.jar"], "WEB-INF/lib/commons-io.jar")
            zi = zipfile.ZipInfo("WEB-INF/lib/bomb.jar")
            zi.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(zi, "w", force_zip64=True) as w:
                chunk = bytes(1 << 20)
                for _ in range(BOMB_BYTES >> 20):
                    w.write(chunk)
        shutil.rmtree(work)

    return cached_build("binaries-java-v3", build)


# ---------------------------------------------------------------------- oracles


def go_version_m(binary: Path) -> tuple[str, list[tuple[str, ...]]]:
    """`go version -m BINARY`: (toolchain version, records as tuples of their fields)."""
    p = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True)
    lines = p.stdout.splitlines()
    head = lines[0]
    assert head.startswith(f"{binary}: "), head
    records = [tuple(line[1:].split("\t")) for line in lines[1:] if line.startswith("\t") and line.strip()]
    return head.split(": ", 1)[1], records


def pom_properties_in(jar: Path) -> set[tuple[str, str]]:
    """(group:artifact, version) of every pom.properties in a jar, read with `unzip -p`."""
    _require("unzip", "apt-get install unzip")
    listing = subprocess.run(["unzip", "-Z1", str(jar)], capture_output=True, text=True, check=True).stdout
    out = set()
    for name in listing.splitlines():
        if re.fullmatch(r"META-INF/maven/[^/]+/[^/]+/pom\.properties", name):
            text = subprocess.run(["unzip", "-p", str(jar), name], capture_output=True, text=True, check=True).stdout
            kv = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
            out.add((f"{kv['groupId'].strip()}:{kv['artifactId'].strip()}", kv["version"].strip()))
    return out
