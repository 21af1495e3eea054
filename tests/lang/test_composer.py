"""Composer analyzer against a project installed by real Composer 2 (from local path repositories,
no Packagist needed); oracle: `composer show`, `composer show --no-dev`, `--locked`, `composer
licenses`. Composer 1's array-form installed.json cannot be produced here (Debian ships Composer 2)
and is written from its documented format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from customhouse.analyzers.base import AnalyzerError, Dispatcher
from customhouse.analyzers.composer import ComposerAnalyzer, parse_installed, parse_lock
from customhouse.licenses import normalize_license
from customhouse.model import FileInfo
from customhouse.settings import Settings
from tests.lang.conftest import catalog_dir


@pytest.fixture(scope="module")
def oracle(composer_fixture: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((composer_fixture / "composer-oracle.json").read_text())
    return data


def _nv(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["name"], e["version"]) for e in entries}


def test_installed_project_matches_composer_show(
    composer_fixture: Path, oracle: dict[str, Any], settings: Settings
) -> None:
    pkgs, warnings = catalog_dir(composer_fixture / "app", settings, ["composer"])
    assert not warnings
    assert {p.path for p in pkgs} == {"vendor/composer/installed.json"}  # lock entries all installed
    assert {(p.name, p.version) for p in pkgs} == _nv(oracle["installed"])
    dev = {(p.name, p.version) for p in pkgs if p.meta("dev") == "true"}
    assert dev == _nv(oracle["installed"]) - _nv(oracle["no_dev"])
    licenses = oracle["licenses"]["dependencies"]
    for p in pkgs:
        assert p.licenses == tuple(normalize_license(x) for x in licenses[p.name]["license"]), p.name
    purls = {p.name: p.purl for p in pkgs}
    assert purls["acme/test-kit"] == "pkg:composer/acme/test-kit@v0.9.1"


def test_lock_alone_matches_composer_show_locked(
    composer_fixture: Path, oracle: dict[str, Any], tmp_path: Path, settings: Settings
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(composer_fixture / "app" / "composer.lock", app)
    pkgs, _ = catalog_dir(tmp_path, settings, ["composer"])
    assert {(p.name, p.version) for p in pkgs} == _nv(oracle["locked"])
    assert {p.path for p in pkgs} == {"app/composer.lock"}
    dev = {(p.name, p.version) for p in pkgs if p.meta("dev") == "true"}
    assert dev == _nv(oracle["installed"]) - _nv(oracle["no_dev"])
    lock = json.loads((app / "composer.lock").read_text())
    util = next(p for p in pkgs if p.name == "acme/util")
    want_ref = next(e for e in lock["packages"] if e["name"] == "acme/util")["dist"]["reference"]
    assert util.meta("dist_reference") == want_ref
    bundle = next(p for p in pkgs if p.name == "acme/bundle")
    assert bundle.meta("type") == "metapackage"


def test_composer1_array_form() -> None:
    """Composer 1 wrote installed.json as a bare array of package objects, with no dev information."""
    doc = [
        {
            "name": "monolog/monolog",
            "version": "1.25.1",
            "version_normalized": "1.25.1.0",
            "source": {"type": "git", "url": "https://example.invalid/monolog.git", "reference": "70e65a5"},
            "type": "library",
            "license": ["MIT"],
        },
        {"name": "psr/log", "version": "1.1.0", "license": "MIT"},
        {"name": "broken"},
        "not an object",
    ]
    pkgs = parse_installed(json.dumps(doc).encode(), "vendor/composer/installed.json")
    assert [(p.name, p.version, p.licenses, p.meta("dev")) for p in pkgs] == [
        ("monolog/monolog", "1.25.1", ("MIT",), ""),
        ("psr/log", "1.1.0", ("MIT",), ""),
    ]
    assert pkgs[0].meta("version_normalized") == "1.25.1.0"
    assert pkgs[0].meta("source_reference") == "70e65a5"


def test_malformed() -> None:
    with pytest.raises(ValueError):
        parse_lock(b"{", "composer.lock")
    with pytest.raises(AnalyzerError):
        parse_installed(b'{"dev": true}', "vendor/composer/installed.json")
    with pytest.raises(AnalyzerError):
        parse_lock(b"[]", "composer.lock")
    assert parse_lock(b'{"packages": "nope", "packages-dev": [{"name": "a/b", "version": "1"}]}', "composer.lock")[
        0
    ].meta("dev") == ("true")


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("app/vendor/composer/installed.json", True),
        ("app/lib/composer/installed.json", True),  # a custom vendor-dir
        ("composer/installed.json", False),
        ("app/installed.json", False),
        ("app/composer.lock", True),
        ("app/vendor/acme/log/composer.lock", False),
    ],
)
def test_required(path: str, wanted: bool) -> None:
    a = ComposerAnalyzer()
    assert (a in Dispatcher([a]).wanting(FileInfo(path, "file", 10))) is wanted
