"""Go build info: our decoder against `go version -m` on binaries the real toolchain built.

Oracles: `go version -m` (the toolchain's own reader) for every record; `go env GOVERSION` for
the stdlib version; the installed Debian golang-*-dev versions for the dependency versions
(the fixture vendors exactly those sources); `git rev-parse HEAD` for vcs.revision.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from customhouse.analyzers._elf import ElfFile
from customhouse.analyzers.base import AnalyzerError, BytesBlob
from customhouse.analyzers.gobinary import (
    BuildInfo,
    GoBinaryAnalyzer,
    Module,
    go_semver,
    go_unquote,
    ldflags_version,
    packages_from,
    read_build_info,
)
from customhouse.model import FileInfo, Package
from tests.binaries import fixtures
from tests.binaries.conftest import CountingBlob

NEW_FORMAT = [*fixtures.GO_VARIANTS, "nosections-static"]


def _render(bi: BuildInfo) -> list[tuple[str, ...]]:
    """Our decoded build info as the records `go version -m` prints (its quoting rule included)."""

    def mod(word: str, m: Module) -> list[tuple[str, ...]]:
        if m.replace is None:
            return [(word, m.path, m.version, m.sum)]
        return [(word, m.path, m.version), ("=>", m.replace.path, m.replace.version, m.replace.sum)]

    out: list[tuple[str, ...]] = []
    if bi.path:
        out.append(("path", bi.path))
    if bi.main:
        out.extend(mod("mod", bi.main))
    for d in bi.deps:
        out.extend(mod("dep", d))
    for k, v in bi.settings:
        key = json.dumps(k) if not k or any(c in k for c in '= \t\r\n"`') else k
        val = json.dumps(v) if any(c in v for c in ' \t\r\n"`') else v
        out.append(("build", f"{key}={val}"))
    return [_trim(r) for r in out]


def _trim(row: tuple[str, ...]) -> tuple[str, ...]:
    while len(row) > 1 and row[-1] == "":
        row = row[:-1]
    return row


def _decode(path: Path) -> BuildInfo:
    with open(path, "rb") as f:
        bi = read_build_info(f)
    assert bi is not None, path
    return bi


def _analyze(path: Path, name: str = "usr/bin/app") -> list[Package]:
    data = path.read_bytes()
    res = GoBinaryAnalyzer().analyze(FileInfo(name, "file", len(data), 0o755), BytesBlob(data))
    assert res is not None
    return list(res.packages)


@pytest.mark.parametrize("variant", NEW_FORMAT)
def test_records_match_go_version_m(go_bins: Path, variant: str) -> None:
    binary = go_bins / variant
    with open(binary, "rb") as f:  # the fixture is what its name says
        elf = ElfFile(f)
        if variant == "pie":
            assert elf.type == 3  # ET_DYN
        if variant == "stripped":
            assert elf.section(".symtab") is None and elf.section(".go.buildinfo") is not None
    version, records = fixtures.go_version_m(binary)
    bi = _decode(binary)
    assert bi.go_version == version
    assert _render(bi) == [_trim(r) for r in records]


@pytest.mark.parametrize("arch", list(fixtures.ESBUILD_PACKAGES))
def test_pre_118_pointer_format_matches_go_version_m(esbuild_bins: Path, arch: str) -> None:
    binary = esbuild_bins / f"esbuild-{arch}"
    with open(binary, "rb") as f:
        elf = ElfFile(f)
        sec = elf.section(".go.buildinfo")
        assert sec is not None
        flags = elf.read(sec.offset, 16)[15]
    assert not flags & 0x2, "fixture is expected to use the pre-1.18 pointer layout"
    version, records = fixtures.go_version_m(binary)
    assert version.startswith("go1.17")
    bi = _decode(binary)
    assert bi.go_version == version
    assert _render(bi) == [_trim(r) for r in records]
    pkgs = {p.name: p for p in _analyze(binary)}
    assert pkgs["stdlib"].version == "v" + version.removeprefix("go")
    assert pkgs["github.com/evanw/esbuild"].meta("main") == "true"
    assert pkgs["github.com/evanw/esbuild"].meta("main_version") == "(devel)"


def test_packages_of_the_fixture(go_bins: Path) -> None:
    expected_versions = fixtures.go_dep_versions()
    goversion = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=go_bins / "src", capture_output=True, text=True, check=True
    ).stdout.strip()
    pkgs = {p.name: p for p in _analyze(go_bins / "dynamic", "usr/local/bin/gofixture")}
    assert set(pkgs) == {*fixtures.GO_DEPS, fixtures.GO_MAIN_MODULE, "stdlib"}
    for p in pkgs.values():
        assert p.type == "golang" and p.path == "usr/local/bin/gofixture" and p.found_by == "gobinary"
    for mod in ("github.com/google/uuid", "github.com/mattn/go-runewidth", "github.com/rivo/uniseg"):
        assert pkgs[mod].version == expected_versions[mod]
    # Module replacement: the replacing version is what was compiled.
    text = pkgs["golang.org/x/text"]
    assert text.version == expected_versions["golang.org/x/text"] != fixtures.GO_TEXT_REQUIRED
    assert text.meta("replaces") == f"golang.org/x/text@{fixtures.GO_TEXT_REQUIRED}"
    # Directory replacement: no knowable version, the directory is recorded.
    errs = pkgs["github.com/pkg/errors"]
    assert errs.version == ""
    assert errs.meta("replaced_by") == "./third_party/errors"
    assert errs.meta("original_version") == expected_versions["github.com/pkg/errors"]
    main = pkgs[fixtures.GO_MAIN_MODULE]
    assert main.meta("main") == "true" and main.meta("main_version") == "(devel)"
    assert main.version == fixtures.GO_LDFLAGS_VERSION and main.meta("version_source") == "ldflags"
    assert main.meta("build:vcs.revision") == head
    assert main.meta("build:GOARCH") == "amd64" and main.meta("build:GOOS") == "linux"
    assert pkgs["stdlib"].version == "v" + goversion.removeprefix("go")
    assert pkgs["stdlib"].meta("go_version") == goversion


def test_main_module_without_version_flag_gets_the_vcs_pseudo_version(go_bins: Path) -> None:
    """Go's pseudo-version of the commit the binary was built from (as syft reports it): the
    commit time and hash come from git itself, not from the binary."""
    pkgs = {p.name: p for p in _analyze(go_bins / "static")}
    main = pkgs[fixtures.GO_MAIN_MODULE]
    env = dict(os.environ, TZ="UTC")
    log = subprocess.run(
        ["git", "-C", str(go_bins / "src"), "log", "-1", "--format=%cd %H", "--date=format-local:%Y%m%d%H%M%S"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.split()
    assert main.version == f"v0.0.0-{log[0]}-{log[1][:12]}"
    assert main.meta("version_source") == "vcs"
    assert main.meta("main_version") == "(devel)"
    assert main.meta("build:-trimpath") == "true"


def test_main_module_without_any_version_stamp_has_no_version() -> None:
    from customhouse.analyzers.gobinary import vcs_pseudo_version

    assert vcs_pseudo_version({}) == ""
    assert vcs_pseudo_version({"vcs.revision": "abc", "vcs.time": "2024-01-02T03:04:05Z"}) == ""
    assert vcs_pseudo_version({"vcs.revision": "0123456789abcdef", "vcs.time": "yesterday"}) == ""
    dirty = {"vcs.revision": "0123456789abcdef", "vcs.time": "2024-01-02T03:04:05Z", "vcs.modified": "true"}
    assert vcs_pseudo_version(dirty) == "v0.0.0-20240102030405-0123456789ab+dirty"


@pytest.mark.parametrize(("variant", "arch"), [("386", "386"), ("s390x", "s390x"), ("mips", "mips")])
def test_cross_compiled_binaries_give_the_same_modules(go_bins: Path, variant: str, arch: str) -> None:
    native = {(p.name, p.version) for p in _analyze(go_bins / "static")}
    cross = _analyze(go_bins / variant)
    assert {(p.name, p.version) for p in cross} == native
    assert {p.name: p for p in cross}[fixtures.GO_MAIN_MODULE].meta("build:GOARCH") == arch


@pytest.mark.parametrize("variant", ["static", "pie"])
def test_binary_without_section_table_is_found_by_scanning(go_bins: Path, variant: str) -> None:
    stripped = go_bins / f"nosections-{variant}"
    with open(stripped, "rb") as f:
        assert ElfFile(f).sections == []
    assert _decode(stripped) == _decode(go_bins / variant)
    if variant == "static":  # Go's own reader also copes with this one (buildinfo opens the data segment)
        assert fixtures.go_version_m(stripped)[0] == _decode(stripped).go_version
    # And the result is still a working program.
    out = subprocess.run([str(stripped)], capture_output=True, text=True, check=True).stdout
    assert "probe: file does not exist" in out


def test_non_go_binaries_are_rejected_reading_little(go_bins: Path, rust_bins: Path) -> None:
    for path in (Path("/usr/bin/objcopy"), rust_bins / "chfixture-plain"):
        data = path.read_bytes()
        blob = CountingBlob(data)
        assert GoBinaryAnalyzer().analyze(FileInfo("x", "file", len(data), 0o755), blob) is None
        with open(path, "rb") as f:
            names = ElfFile(f).section(".shstrtab")
        assert names is not None
        # The magic (checked by head(), then again by the ELF reader), the ELF header, the name
        # table's own entry and the name table: nothing else.
        assert blob.bytes_read <= 4 + 4 + 64 + 64 + names.size, (path, blob.bytes_read, len(data))
    script = b"#!/bin/sh\n" + b"echo hello\n" * 100_000
    blob = CountingBlob(script)
    assert GoBinaryAnalyzer().analyze(FileInfo("run.sh", "file", len(script), 0o755), blob) is None
    assert blob.bytes_read == 4


def test_truncated_build_info_is_an_analyzer_error(go_bins: Path) -> None:
    data = (go_bins / "static").read_bytes()
    with open(go_bins / "static", "rb") as f:
        sec = ElfFile(f).section(".go.buildinfo")
    assert sec is not None
    # Claim a module info string far longer than the file.
    corrupt = bytearray(data)
    corrupt[sec.offset + 32] = 0x05  # version length
    corrupt[sec.offset + 32 + 1 + 5 : sec.offset + 32 + 1 + 5 + 4] = b"\xff\xff\xff\x7f"
    with pytest.raises(AnalyzerError):
        GoBinaryAnalyzer().analyze(FileInfo("x", "file", len(corrupt), 0o755), BytesBlob(bytes(corrupt)))
    # Cut the file inside .go.buildinfo (Go's linker writes the section table near the start).
    cut = data[: sec.offset + 8]
    with pytest.raises(AnalyzerError):
        GoBinaryAnalyzer().analyze(FileInfo("x", "file", len(cut), 0o755), BytesBlob(cut))


@pytest.mark.parametrize(
    ("tag", "semver"),
    [
        ("go1.19.8", "v1.19.8"),
        ("go1.20", "v1.20.0"),
        ("go1.21.0", "v1.21.0"),
        ("go1.21rc2", "v1.21.0-rc.2"),
        ("go1.18beta1", "v1.18.0-beta.1"),
        ("go1.21.0 X:boringcrypto", "v1.21.0"),
        ("devel go1.22-3f8f929d60 Tue Aug 1 00:00:00 2023 +0000", ""),
        ("go1.9.2rc2", "v1.9.2-rc.2"),
    ],
)
def test_go_semver(tag: str, semver: str) -> None:
    assert go_semver(tag) == semver


@pytest.mark.parametrize(
    ("flags", "version"),
    [
        ("-s -w -X main.version=1.2.3", "v1.2.3"),
        ("-X 'main.Version=v2.0.0-rc.1'", "v2.0.0-rc.1"),
        ("-X=example.com/app/internal/build.Version=0.9.0", "v0.9.0"),
        ("-X k8s.io/component-base/version.gitVersion=v1.28.3", "v1.28.3"),
        ("-X main.version=abc1234", ""),  # a commit hash is not a version
        ("-X main.commit=1.2.3", ""),  # not a version variable
        ("-X other.org/lib.version=1.0.0", ""),  # another module's version
        ("-X 'main.version=1.0", ""),  # unbalanced quote
    ],
)
def test_ldflags_version(flags: str, version: str) -> None:
    assert ldflags_version(flags, "example.com/app") == version


def test_go_unquote() -> None:
    assert go_unquote('"-X main.v=1 -s"=rest') == ("-X main.v=1 -s", "=rest")
    assert go_unquote(r'"a\tb\"c\\d\u00e9\xc3\xa9"') == ('a\tb"c\\d\u00e9\u00e9', "")
    with pytest.raises(ValueError):
        go_unquote('"unterminated')


def test_build_info_without_modules_reports_only_stdlib() -> None:
    bi = BuildInfo(go_version="go1.16.15", path="command-line-arguments")
    pkgs = packages_from(bi, "bin/x", "gobinary")
    assert [(p.name, p.version) for p in pkgs] == [("stdlib", "v1.16.15")]
