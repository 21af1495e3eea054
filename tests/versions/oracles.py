"""The real implementations, driven in batches: one process (or one shell loop) per batch of pairs.

Every oracle returns one verdict per pair: "<", "=", ">" or "E" (the tool rejects a version of
the pair). Tools that are missing skip the calling test with the reason; tools that need a build
step (node's semver package, the Cargo semver crate, Go's x/mod/semver, Maven's
ComparableVersion) are built once per machine through tests.conftest.cached_build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import alpine_rootfs, cached_build

Pair = tuple[str, str]

NODE_SEMVER = "7.8.6"
MAVEN_JAR = Path("/usr/share/maven/lib/maven-artifact-3.x.jar")
CARGO_REGISTRY = Path("/usr/share/cargo/registry")
GOCODE = Path("/usr/share/gocode")
COMPOSER_SEMVER = Path("/usr/share/php/Composer/Semver/autoload.php")


def need(tool: str, hint: str) -> str:
    path = shutil.which(tool) or (str(Path.home() / ".cargo/bin" / tool) if tool in ("cargo", "rustc") else None)
    if not path or not Path(path).exists():
        pytest.skip(f"{tool} not installed ({hint})")
    return path


def run(cmd: Sequence[str | Path], stdin: str | bytes = "", timeout: int = 300, **kw: object) -> str:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([str(c) for c in cmd], input=data, capture_output=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    return str(p.stdout.decode())


def _verdicts(out: str, n: int) -> list[str]:
    lines = out.split()
    assert len(lines) == n, f"oracle answered {len(lines)} of {n} pairs"
    return lines


# dpkg ---------------------------------------------------------------------------------------

_DPKG_LOOP = r"""
err=$(mktemp)
while IFS= read -r -d '' a && IFS= read -r -d '' b; do
  dpkg --compare-versions -- "$a" lt "$b" 2>"$err"; rc=$?
  if [ -s "$err" ] || [ $rc -gt 1 ]; then echo E
  elif [ $rc -eq 0 ]; then echo '<'
  elif dpkg --compare-versions -- "$a" eq "$b" 2>/dev/null; then echo '='
  else echo '>'; fi
done
rm -f "$err"
"""


def dpkg(pairs: Sequence[Pair]) -> list[str]:
    """`dpkg --compare-versions`; any warning about a version (dpkg still compares) counts as E."""
    need("dpkg", "Debian's dpkg")
    data = "".join(f"{a}\0{b}\0" for a, b in pairs)
    return _verdicts(run(["bash", "-c", _DPKG_LOOP], data), len(pairs))


# rpm ----------------------------------------------------------------------------------------

_RPM_LUA = """
local function unhex(h) return (h:gsub('..', function(x) return string.char(tonumber(x, 16)) end)) end
local out = {}
for line in io.lines('%s') do
  local a, b = line:match('^(%%x*) (%%x*)$')
  local ok, r = pcall(rpm.vercmp, unhex(a), unhex(b))
  if not ok then out[#out + 1] = 'E' elseif r < 0 then out[#out + 1] = '<'
  elseif r > 0 then out[#out + 1] = '>' else out[#out + 1] = '=' end
end
print(table.concat(out, ' '))
"""


def rpm(pairs: Sequence[Pair]) -> list[str]:
    """rpm 4.18's own `rpm.vercmp` (rpmverCmp on parsed EVRs), all pairs in one `rpm --eval`."""
    need("rpm", "apt-get install rpm")
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs"
        pairs_file.write_text("".join(f"{a.encode().hex()} {b.encode().hex()}\n" for a, b in pairs))
        script = Path(tmp) / "cmp.lua"
        script.write_text(_RPM_LUA % pairs_file)
        out = run(["rpm", "--eval", f"%{{lua: dofile('{script}')}}"])
    return _verdicts(out, len(pairs))


# apk ----------------------------------------------------------------------------------------

ALPINE = "3.20.3"
_APK_LOOP = 'while read -r a b; do /sbin/apk version -t -- "$a" "$b"; done'


def apk_root() -> Path:
    if os.geteuid() != 0:
        pytest.skip("chroot into the Alpine root needs root")
    return alpine_rootfs(ALPINE)


def apk_invalid(versions: Sequence[str]) -> set[str]:
    """The versions `apk version -c` reports as invalid (one process for all)."""
    root = apk_root()
    if not versions:
        return set()
    # -c exits with the number of invalid versions, so the exit status is not an error here.
    p = subprocess.run(
        ["chroot", str(root), "/sbin/apk", "version", "-c", "--", *versions],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if p.returncode != 0 and not p.stdout:
        raise RuntimeError(f"apk version -c failed: {p.stderr.decode(errors='replace')}")
    return set(p.stdout.decode().split("\n")) - {""}


def apk(pairs: Sequence[Pair]) -> list[str]:
    """`apk version -t` in a shell loop inside the chroot; pairs must not contain white space."""
    root = apk_root()
    data = "".join(f"{a} {b}\n" for a, b in pairs)
    p = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-c", _APK_LOOP],
        input=data.encode(),
        capture_output=True,
        timeout=600,
        check=False,
    )
    return _verdicts(p.stdout.decode(), len(pairs))


# node semver --------------------------------------------------------------------------------

_NODE_SCRIPT = """
const semver = require(process.argv[1]);
const opts = { loose: process.argv[2] === 'loose' };
const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = pairs.map(([a, b]) => {
  let r;
  try { r = semver.compare(new semver.SemVer(a, opts), new semver.SemVer(b, opts)); } catch (e) { return 'E'; }
  return r < 0 ? '<' : r > 0 ? '>' : '=';
});
process.stdout.write(out.join(' '));
"""


def node_semver_dir() -> Path:
    need("node", "apt-get install nodejs npm")
    npm = need("npm", "apt-get install npm")

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        (dst / "package.json").write_text('{"name": "semver-oracle", "version": "1.0.0", "private": true}')
        run([npm, "install", "--silent", "--no-audit", "--no-fund", f"semver@{NODE_SEMVER}"], cwd=dst)

    try:
        return cached_build(f"versions-node-semver-{NODE_SEMVER}", build) / "node_modules" / "semver"
    except RuntimeError as e:
        pytest.skip(f"npm could not install semver: {e}")


def node_semver(pairs: Sequence[Pair], *, loose: bool) -> list[str]:
    mod = node_semver_dir()
    out = run(["node", "-e", _NODE_SCRIPT, str(mod), "loose" if loose else "strict"], json.dumps(pairs))
    return _verdicts(out, len(pairs))


# Cargo's semver crate -----------------------------------------------------------------------

_RUST_MAIN = """
use std::io::{self, BufRead, Write};
use semver::Version;

fn main() {
    let stdin = io::stdin();
    let mut out = String::new();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let mut it = line.splitn(2, '\\t');
        let (a, b) = (it.next().unwrap(), it.next().unwrap());
        let v = match (Version::parse(a), Version::parse(b)) {
            (Ok(x), Ok(y)) => match (x.major, x.minor, x.patch, &x.pre).cmp(&(y.major, y.minor, y.patch, &y.pre)) {
                std::cmp::Ordering::Less => "<",
                std::cmp::Ordering::Equal => "=",
                std::cmp::Ordering::Greater => ">",
            },
            _ => "E",
        };
        out.push_str(v);
        out.push('\\n');
    }
    io::stdout().write_all(out.as_bytes()).unwrap();
}
"""


def cargo_semver_bin() -> Path:
    cargo = need("cargo", "rustup or apt-get install cargo")
    crates = sorted(CARGO_REGISTRY.glob("semver-1.*"))
    if not crates:
        pytest.skip("Cargo's semver crate source not installed (apt-get install librust-semver-dev)")
    version = crates[-1].name.removeprefix("semver-")

    def build(dst: Path) -> None:
        src = dst / "src"
        (src / "src").mkdir(parents=True)
        (src / ".cargo").mkdir()
        (src / "Cargo.toml").write_text(
            f'[package]\nname = "semver-oracle"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f'[dependencies]\nsemver = "={version}"\n'
        )
        (src / "src" / "main.rs").write_text(_RUST_MAIN)
        (src / ".cargo" / "config.toml").write_text(
            f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{CARGO_REGISTRY}"\n\n'
            "[net]\noffline = true\n"
        )
        env = dict(os.environ, CARGO_TARGET_DIR=str(dst / "target"))
        run([cargo, "build", "--release", "-q"], cwd=src, env=env, timeout=600)

    return cached_build(f"versions-cargo-semver-{version}", build) / "target" / "release" / "semver-oracle"


def cargo_semver(pairs: Sequence[Pair]) -> list[str]:
    """The `semver` crate (Debian's librust-semver-dev): Version::parse, ordered by precedence."""
    binary = cargo_semver_bin()
    data = "".join(f"{a}\t{b}\n" for a, b in pairs)
    return _verdicts(run([binary], data), len(pairs))


# Go -----------------------------------------------------------------------------------------

_GO_MAIN = """package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/semver"
)

func main() {
	var pairs [][2]string
	if err := json.NewDecoder(bufio.NewReader(os.Stdin)).Decode(&pairs); err != nil {
		panic(err)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for _, p := range pairs {
		if !semver.IsValid(p[0]) || !semver.IsValid(p[1]) {
			fmt.Fprintln(w, "E")
			continue
		}
		switch semver.Compare(p[0], p[1]) {
		case -1:
			fmt.Fprintln(w, "<")
		case 0:
			fmt.Fprintln(w, "=")
		default:
			fmt.Fprintln(w, ">")
		}
	}
}
"""


def go_semver_bin() -> Path:
    go = need("go", "apt-get install golang-go")
    if not (GOCODE / "src/golang.org/x/mod/semver/semver.go").exists():
        pytest.skip("golang.org/x/mod not installed (apt-get install golang-golang-x-mod-dev)")

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        (dst / "main.go").write_text(_GO_MAIN)
        env = dict(
            os.environ,
            GO111MODULE="off",
            GOPATH=str(GOCODE),
            GOFLAGS="",
            GOPROXY="off",
            GOTOOLCHAIN="local",
            GOCACHE=str(dst / "cache"),
        )
        run([go, "build", "-o", dst / "semver-oracle", dst / "main.go"], cwd=dst, env=env, timeout=600)
        shutil.rmtree(dst / "cache", ignore_errors=True)

    return cached_build("versions-go-semver-v1", build) / "semver-oracle"


def go_semver(pairs: Sequence[Pair]) -> list[str]:
    """golang.org/x/mod/semver (Debian's golang-golang-x-mod-dev); E when either is not IsValid."""
    binary = go_semver_bin()
    return _verdicts(run([binary], json.dumps(pairs)), len(pairs))


# Maven --------------------------------------------------------------------------------------

_JAVA_MAIN = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenOracle {
    static String unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return new String(b, StandardCharsets.UTF_8);
    }
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] p = line.split(" ", -1);
            int r = new ComparableVersion(unhex(p[0])).compareTo(new ComparableVersion(unhex(p[1])));
            out.append(r < 0 ? "<" : r > 0 ? ">" : "=").append('\\n');
        }
        System.out.print(out);
    }
}
"""


def maven_classes() -> Path:
    javac = need("javac", "apt-get install openjdk-17-jdk-headless")
    if not MAVEN_JAR.exists():
        pytest.skip(f"{MAVEN_JAR} missing (apt-get install maven)")

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        (dst / "MavenOracle.java").write_text(_JAVA_MAIN)
        run([javac, "-cp", MAVEN_JAR, "-d", dst, dst / "MavenOracle.java"], cwd=dst)

    return cached_build("versions-maven-oracle-v1", build)


def maven(pairs: Sequence[Pair]) -> list[str]:
    """Debian's maven-artifact (Maven 3.8.7) ComparableVersion.compareTo."""
    classes = maven_classes()
    data = "".join(f"{a.encode().hex()} {b.encode().hex()}\n" for a, b in pairs)
    out = run(["java", "-cp", f"{classes}:{MAVEN_JAR}", "MavenOracle"], data)
    return _verdicts(out, len(pairs))


# RubyGems -----------------------------------------------------------------------------------

_RUBY_SCRIPT = """
require 'json'
out = JSON.parse($stdin.read).map do |a, b|
  if Gem::Version.correct?(a) && Gem::Version.correct?(b)
    %w[< = >][(Gem::Version.new(a) <=> Gem::Version.new(b)) + 1]
  else
    'E'
  end
end
print out.join(' ')
"""


def rubygems(pairs: Sequence[Pair]) -> list[str]:
    """The machine's RubyGems (ruby 3.1's rubygems 3.3): Gem::Version#<=>."""
    ruby = need("ruby", "apt-get install ruby")
    return _verdicts(run([ruby, "-e", _RUBY_SCRIPT], json.dumps(pairs)), len(pairs))


# Composer -----------------------------------------------------------------------------------

_PHP_SCRIPT = """<?php
require '%s';
$parser = new Composer\\Semver\\VersionParser();
$norm = function ($v) use ($parser) {
    try { $n = $parser->normalize($v); } catch (\\Exception $e) { return null; }
    return strpos($n, 'dev-') === 0 ? null : $n;
};
$out = [];
foreach (json_decode(file_get_contents('php://stdin'), true) as [$a, $b]) {
    $na = $norm($a); $nb = $norm($b);
    if ($na === null || $nb === null) { $out[] = 'E'; continue; }
    $out[] = ['<', '=', '>'][version_compare($na, $nb) + 1];
}
echo implode(' ', $out);
"""


def composer(pairs: Sequence[Pair]) -> list[str]:
    """Debian's composer/semver VersionParser::normalize, then PHP's version_compare."""
    php = need("php", "apt-get install php-cli")
    if not COMPOSER_SEMVER.exists():
        pytest.skip("composer/semver not installed (apt-get install composer)")
    with tempfile.NamedTemporaryFile("w", suffix=".php", delete=False) as f:
        f.write(_PHP_SCRIPT % COMPOSER_SEMVER)
    try:
        out = run([php, f.name], json.dumps(pairs))
    finally:
        os.unlink(f.name)
    return _verdicts(out, len(pairs))
