"""Gemspec analyzer against specifications RubyGems generated (Debian's default and bundled gems,
gems installed here with `gem install`); oracle: RubyGems itself loading each file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from customhouse.analyzers.base import BytesBlob, Dispatcher
from customhouse.analyzers.ruby import GemspecAnalyzer, parse_gemspec, ruby_strings
from customhouse.licenses import normalize_license
from customhouse.model import FileInfo
from customhouse.settings import Settings
from tests.lang.conftest import catalog_dir, need

# Where Debian's ruby keeps default gems, bundled gems and rubygems-integration gems.
DEBIAN_SPEC_DIRS = ("usr/lib/ruby/gems", "usr/share/rubygems-integration", "var/lib/gems")

# Loads each gemspec the way RubyGems does (evaluating it) and prints what it learned.
ORACLE = r"""
require "json"
out = ARGV.map do |f|
  s = Gem::Specification.load(f)
  {"file" => f, "name" => s.name, "version" => s.version.to_s, "licenses" => s.licenses,
   "platform" => s.platform.to_s}
end
puts JSON.generate(out)
"""


@pytest.fixture
def ruby_rootfs(tmp_path: Path, gem_home: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(gem_home, root)
    for rel in DEBIAN_SPEC_DIRS:
        for spec_dir in sorted(Path("/", rel).glob("**/specifications")):
            dst = root / spec_dir.relative_to("/")
            shutil.copytree(spec_dir, dst, dirs_exist_ok=True)
    return root


def _oracle(root: Path) -> dict[str, dict[str, Any]]:
    ruby = need("ruby")
    files = sorted(str(p) for p in root.rglob("*.gemspec"))
    proc = subprocess.run([ruby, "-e", ORACLE, *files], capture_output=True, text=True, check=True, timeout=120)
    return {str(Path(d["file"]).relative_to(root)): d for d in json.loads(proc.stdout)}


def test_gemspecs_match_rubygems(ruby_rootfs: Path, settings: Settings) -> None:
    oracle = _oracle(ruby_rootfs)
    assert any("/specifications/default/" in f for f in oracle), "Debian's ruby should provide default gems"
    pkgs, warnings = catalog_dir(ruby_rootfs, settings, ["gemspec"])
    assert not warnings
    ours = {p.path: p for p in pkgs}
    assert set(ours) == set(oracle)
    for path, want in oracle.items():
        p = ours[path]
        assert (p.name, p.version, p.type) == (want["name"], want["version"], "gem"), path
        assert p.licenses == tuple(dict.fromkeys(normalize_license(x) for x in want["licenses"])), path
        assert p.meta("platform") == ("" if want["platform"] == "ruby" else want["platform"]), path
        assert (p.meta("default_gem") == "true") == ("/specifications/default/" in path), path


def test_installed_gem_identity_and_purl(gem_home: Path, settings: Settings) -> None:
    pkgs, _ = catalog_dir(gem_home, settings, ["gemspec"])
    got = sorted((p.name, p.version, p.licenses, p.meta("platform"), p.purl) for p in pkgs)
    assert got == [
        ("customhouse-demo", "1.2.3", ("MIT", "Apache-2.0"), "", "pkg:gem/customhouse-demo@1.2.3"),
        (
            "customhouse-native",
            "0.4.0.pre1",
            ("BSD-2-Clause",),
            "x86_64-linux",
            "pkg:gem/customhouse-native@0.4.0.pre1",
        ),
    ]


# ---------------------------------------------------------------------------- unit behaviour


def test_older_and_hand_written_spellings() -> None:
    old = """# -*- encoding: utf-8 -*-
Gem::Specification.new do |s|
  s.name = %q{rack}
  s.version = Gem::Version.new(%q{1.1.0}) if true
  s.licenses = %w[MIT Ruby]
  s.description = %q{s.name = "not-this"}
end
"""
    p = parse_gemspec(old, "specifications/rack-1.1.0.gemspec", False)
    assert p is not None and (p.name, p.version, p.licenses) == ("rack", "1.1.0", ("MIT", "Ruby"))

    computed = """# stub: nokogiri 1.15.5 x86_64-linux lib
Gem::Specification.new do |spec|
  spec.name    = 'nokogiri'
  spec.version = Nokogiri::VERSION
  spec.license = 'MIT'
end
"""
    p = parse_gemspec(computed, "specifications/nokogiri-1.15.5-x86_64-linux.gemspec", False)
    assert p is not None
    assert (p.name, p.version, p.licenses, p.meta("platform")) == ("nokogiri", "1.15.5", ("MIT",), "x86_64-linux")


def test_strings_and_escapes() -> None:
    assert ruby_strings("[\"Andr\\u00E9\".freeze, 'it\\'s']") == ["André", "it's"]
    assert ruby_strings("%w(a b  c)") == ["a", "b", "c"]
    assert ruby_strings("Foo::VERSION") == []


def test_spec_without_identity() -> None:
    assert parse_gemspec("Gem::Specification.new do |s|\n  s.name = NAME\nend\n", "x.gemspec", False) is None


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/local/bundle/specifications/rake-13.0.6.gemspec", True),
        ("usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", True),
        ("specifications/default/json-2.6.1.gemspec", True),
        ("app/myapp.gemspec", False),
        ("usr/local/bundle/gems/rake-13.0.6/rake.gemspec", False),
        ("usr/local/bundle/specifications/other/x.gemspec", False),
    ],
)
def test_required(path: str, wanted: bool) -> None:
    a = GemspecAnalyzer()
    assert (a in Dispatcher([a]).wanting(FileInfo(path, "file", 10))) is wanted


def test_nul_separated_stub_extensions_and_garbage() -> None:
    a = GemspecAnalyzer()
    spec = (
        b"# stub: digest 3.1.0 ruby lib\n# stub: ext/a/extconf.rb\x00ext/b/extconf.rb\n\n"
        b"Gem::Specification.new do |s|\n"
    )
    res = a.analyze(FileInfo("specifications/digest-3.1.0.gemspec", "file", len(spec)), BytesBlob(spec))
    assert res is not None and [(p.name, p.version) for p in res.packages] == [("digest", "3.1.0")]
    assert a.analyze(FileInfo("specifications/x.gemspec", "file", 8), BytesBlob(b"\x00\x01\x02garbage")) is None
