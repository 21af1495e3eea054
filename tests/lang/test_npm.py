"""npm analyzer against a real `npm install` (oracle: `npm ls --all --json --long`) and against
lock files written by real npm (v1, v2, v3), yarn (classic, berry) and pnpm (v5, v6, v9) for the
same package.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from customhouse.analyzers.base import AnalyzerError, BytesBlob
from customhouse.analyzers.npm import (
    NpmAnalyzer,
    is_package_position,
    load_pnpm_yaml,
    owning_lock_dir,
    parse_package_json,
    parse_package_lock,
    parse_pnpm_lock,
    parse_yarn_lock,
)
from customhouse.licenses import normalize_license
from customhouse.model import FileInfo, Package
from customhouse.settings import Settings
from tests.lang.conftest import catalog_dir, find_files

LOCK_VARIANTS = {
    "npm-v1": ("package-lock.json", parse_package_lock),
    "npm-v2": ("package-lock.json", parse_package_lock),
    "npm-v3": ("package-lock.json", parse_package_lock),
    "yarn-v1": ("yarn.lock", parse_yarn_lock),
    "yarn-berry": ("yarn.lock", parse_yarn_lock),
    "pnpm-v5": ("pnpm-lock.yaml", parse_pnpm_lock),
    "pnpm-v6": ("pnpm-lock.yaml", parse_pnpm_lock),
    "pnpm-v9": ("pnpm-lock.yaml", parse_pnpm_lock),
}
# Lock formats that record dev-ness (yarn.lock does not).
DEV_AWARE = {"npm-v1", "npm-v2", "npm-v3", "pnpm-v5", "pnpm-v6", "pnpm-v9"}


def _oracle_sets(oracle: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """All installed (name, version) pairs, and those npm installs only for development."""
    every = {(d["name"], d["version"]) for d in oracle["all"]}
    prod = {(d["name"], d["version"]) for d in oracle["prod"]}
    return every, every - prod


def test_node_modules_matches_npm_ls(npm_fixture: Path, npm_oracle: dict[str, Any], settings: Settings) -> None:
    pkgs, warnings = catalog_dir(npm_fixture / "project", settings, ["npm"])
    assert not warnings
    installed = {(p.name, p.version, p.path) for p in pkgs if p.path.startswith("node_modules/")}
    expected = {(d["name"], d["version"], d["path"]) for d in npm_oracle["all"]}
    assert installed == expected
    # The nested copy and the alias are both there, under the real package name.
    assert ("ms", "2.1.2", "node_modules/debug/node_modules/ms/package.json") in installed
    assert ("ms", "2.1.3", "node_modules/my-ms/package.json") in installed
    # The application itself, from its own package.json.
    root = [p for p in pkgs if p.path == "package.json"]
    assert [(p.name, p.version, p.licenses, p.meta("private")) for p in root] == [
        ("customhouse-npm-fixture", "1.0.0", ("Apache-2.0",), "true")
    ]


def test_installed_packages_take_dev_flag_and_lock_entries_are_not_doubled(
    npm_fixture: Path, npm_oracle: dict[str, Any], settings: Settings
) -> None:
    pkgs, _ = catalog_dir(npm_fixture / "project", settings, ["npm"])
    # Everything in package-lock.json is installed, so no lock entry may be reported twice.
    assert [p for p in pkgs if p.path == "package-lock.json"] == []
    dev = {p.path for p in pkgs if p.meta("dev") == "true"}
    assert dev == {d["path"] for d in npm_oracle["all"] if d["dev"]}
    assert "node_modules/js-tokens/package.json" not in dev  # dev *and* prod: ships in production


def test_lock_entries_appear_when_not_installed(npm_fixture: Path, tmp_path: Path, settings: Settings) -> None:
    project = tmp_path / "app"
    shutil.copytree(npm_fixture / "project", project, symlinks=True)
    shutil.rmtree(project / "node_modules" / "is-number")
    shutil.rmtree(project / "node_modules" / "debug" / "node_modules")
    pkgs, _ = catalog_dir(project, settings, ["npm"])
    from_lock = sorted((p.name, p.version, p.meta("dev")) for p in pkgs if p.path == "package-lock.json")
    assert from_lock == [("is-number", "7.0.0", "true"), ("ms", "2.1.2", "")]
    assert all(p.meta("lockfile") == "package-lock-v3" for p in pkgs if p.path == "package-lock.json")


def test_licenses_agree_with_what_npm_recorded(npm_fixture: Path, settings: Settings) -> None:
    """npm copies each package's `license` into the v3 lock: an independent reading of the same files."""
    lock = json.loads((npm_fixture / "project" / "package-lock.json").read_text())
    pkgs, _ = catalog_dir(npm_fixture / "project", settings, ["npm"])
    by_path = {p.path: p for p in pkgs}
    checked = 0
    for key, entry in lock["packages"].items():
        if not key or "license" not in entry:
            continue
        p = by_path[f"{key}/package.json"]
        assert p.licenses == (normalize_license(entry["license"]),), key
        checked += 1
    assert checked >= 20


def test_fixture_package_json_inside_packages_is_skipped(npm_fixture: Path, settings: Settings) -> None:
    project = npm_fixture / "project"
    decoys = []
    for f in find_files(project / "node_modules", "package.json"):
        rel = f.relative_to(project).as_posix()
        doc = json.loads(f.read_text())
        if not is_package_position(rel) and doc.get("name") and doc.get("version"):
            decoys.append(rel)
    assert decoys, "resolve@1.22.8 ships named test fixtures; the fixture should contain some"
    pkgs, _ = catalog_dir(project, settings, ["npm"])
    assert not {p.path for p in pkgs} & set(decoys)


@pytest.mark.parametrize("variant", sorted(LOCK_VARIANTS))
def test_lock_files_match_the_installed_tree(variant: str, npm_fixture: Path, npm_oracle: dict[str, Any]) -> None:
    filename, parse = LOCK_VARIANTS[variant]
    path = npm_fixture / "locks" / variant / filename
    pkgs = [p for p in parse(path.read_bytes(), filename) if p.meta("root") != "true"]
    every, dev_only = _oracle_sets(npm_oracle)
    assert {(p.name, p.version) for p in pkgs} == every
    assert len(pkgs) == len({(p.name, p.version) for p in pkgs}), "duplicates within one lock file"
    flagged = {(p.name, p.version) for p in pkgs if p.meta("dev") == "true"}
    assert flagged == (dev_only if variant in DEV_AWARE else set())
    kind = "package-lock-" + variant[4:] if variant.startswith("npm-") else variant
    assert {p.meta("lockfile") for p in pkgs} == {kind}


def _comparable(node: Any) -> Any:
    """Mappings and scalars only: sequences, and the empty values YAML spells several ways, dropped."""
    if isinstance(node, dict):
        out = {k: _comparable(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v not in ({}, "", None) and not isinstance(v, list)}
    if isinstance(node, str) and node.startswith("["):
        return None
    return node


@pytest.mark.parametrize("variant", ["pnpm-v5", "pnpm-v6", "pnpm-v9"])
def test_pnpm_yaml_subset_agrees_with_pyyaml(variant: str, npm_fixture: Path) -> None:
    text = (npm_fixture / "locks" / variant / "pnpm-lock.yaml").read_text()
    ours = load_pnpm_yaml(text)
    reference = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar a string, as ours
    assert _comparable(ours) == _comparable(reference)
    assert ours["packages"]


def test_pnpm_yaml_subset_details() -> None:
    text = """lockfileVersion: '9.0'
packages:
  'it''s@1.0.0':
    resolution: {integrity: sha512-x, tarball: 'https://example.invalid/a.tgz'}
    cpu: [x64]
    os:
      - linux
      - darwin
    deprecated: |
      multi
      line
    hasBin: true
  "quoted@2.0.0": {}
"""
    doc = load_pnpm_yaml(text)
    assert doc == {
        "lockfileVersion": "9.0",
        "packages": {
            "it's@1.0.0": {
                "resolution": {"integrity": "sha512-x", "tarball": "https://example.invalid/a.tgz"},
                "cpu": "[x64]",
                "os": {},
                "deprecated": "",
                "hasBin": "true",
            },
            "quoted@2.0.0": {},
        },
    }
    two_docs = "lockfileVersion: '9.0'\nimporters:\n  .:\n    configDependencies: {}\n---\n" + text
    assert "it's@1.0.0" in load_pnpm_yaml(two_docs)["packages"]
    with pytest.raises(AnalyzerError):
        load_pnpm_yaml("lockfileVersion: '9.0'\npackages:\n  just a line\n")


def test_npm_v2_lock_carries_licenses_and_root(npm_fixture: Path) -> None:
    raw = (npm_fixture / "locks" / "npm-v2" / "package-lock.json").read_bytes()
    lock = json.loads(raw)
    pkgs = parse_package_lock(raw, "package-lock.json")
    roots = [p for p in pkgs if p.meta("root") == "true"]
    assert [(p.name, p.version) for p in roots] == [("customhouse-npm-fixture", "1.0.0")]
    chalk = next(p for p in pkgs if p.name == "chalk" and p.version == "4.1.2")
    assert chalk.licenses == (lock["packages"]["node_modules/chalk"]["license"],)
    assert chalk.meta("integrity") == lock["packages"]["node_modules/chalk"]["integrity"]


def test_catalog_of_all_lock_variants_reports_each_project(npm_fixture: Path, settings: Settings) -> None:
    """Each variant directory is its own project: none of its entries is swallowed by another's."""
    pkgs, warnings = catalog_dir(npm_fixture / "locks", settings, ["npm"])
    assert not warnings
    per_dir: dict[str, set[tuple[str, str]]] = {}
    for p in pkgs:
        if p.path.rpartition("/")[2] != "package.json":
            per_dir.setdefault(p.path.split("/")[0], set()).add((p.name, p.version))
    assert set(per_dir) == set(LOCK_VARIANTS)
    sizes = {len(v - {("customhouse-npm-fixture", "1.0.0")}) for v in per_dir.values()}
    assert len(sizes) == 1


# ---------------------------------------------------------------------------- unit behaviour


def _pkg_json(doc: dict[str, Any]) -> Package | None:
    return parse_package_json(json.dumps(doc).encode(), "node_modules/x/package.json")


def test_license_forms() -> None:
    def lic(doc: dict[str, Any]) -> tuple[str, ...]:
        p = _pkg_json({"name": "x", "version": "1.0.0", **doc})
        assert p is not None
        return p.licenses

    assert lic({"license": "MIT"}) == ("MIT",)
    assert lic({"license": "(MIT OR Apache-2.0)"}) == ("MIT OR Apache-2.0",)
    assert lic({"license": {"type": "BSD-3-Clause", "url": "https://example.org"}}) == ("BSD-3-Clause",)
    assert lic({"licenses": [{"type": "MIT"}, {"type": "GPL-2.0"}]}) == ("MIT", "GPL-2.0-only")
    assert lic({"licenses": ["apache 2.0"]}) == ("Apache-2.0",)
    assert lic({"license": ["ISC", "isc"]}) == ("ISC",)
    assert lic({}) == ()


def test_package_json_without_identity_or_malformed() -> None:
    assert _pkg_json({"name": "x"}) is None
    assert _pkg_json({"version": "1.0.0", "type": "module"}) is None
    assert _pkg_json({"name": "x", "version": 3}) is None
    with pytest.raises(ValueError):
        parse_package_json(b"{not json", "package.json")
    with pytest.raises(AnalyzerError):
        parse_package_json(b"[1, 2]", "package.json")
    with pytest.raises(AnalyzerError):
        parse_pnpm_lock(b"packages: [unclosed", "pnpm-lock.yaml")


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("app/package.json", True),
        ("usr/share/nodejs/debug/package.json", True),
        ("app/node_modules/ms/package.json", True),
        ("app/node_modules/@babel/core/package.json", True),
        ("app/node_modules/a/node_modules/@s/b/package.json", True),
        ("app/node_modules/.pnpm/ms@2.1.3/node_modules/ms/package.json", True),
        ("app/node_modules/resolve/test/resolver/baz/package.json", False),
        ("app/node_modules/ms/lib/package.json", False),
        ("app/node_modules/.cache/package.json", False),
        ("app/node_modules/@babel/package.json", False),
        ("app/package-lock.json", True),
        ("app/yarn.lock", True),
        ("app/node_modules/foo/yarn.lock", False),
        ("app/node_modules/.package-lock.json", False),  # not even a candidate basename
    ],
)
def test_required(path: str, wanted: bool) -> None:
    from customhouse.analyzers.base import Dispatcher

    analyzer = NpmAnalyzer()
    info = FileInfo(path, "file", size=100)
    assert (analyzer in Dispatcher([analyzer]).wanting(info)) is wanted


def test_owning_lock_dir() -> None:
    locks = {"app", "app/tools/nested", ""}
    assert owning_lock_dir("app/node_modules/a/node_modules/b/package.json", locks) == "app"
    assert owning_lock_dir("app/packages/a/node_modules/b/package.json", locks) == "app"
    assert owning_lock_dir("app/tools/nested/node_modules/b/package.json", locks) == "app/tools/nested"
    assert owning_lock_dir("usr/lib/node_modules/npm/package.json", locks) == ""
    assert owning_lock_dir("usr/lib/node_modules/npm/package.json", {"app"}) is None


def test_workspace_monorepo_lock_and_installed(tmp_path: Path, settings: Settings) -> None:
    """npm workspaces: one root lock; a workspace may get its own nested node_modules."""
    root = tmp_path / "repo"
    files = {
        "package.json": {"name": "mono", "version": "0.1.0", "workspaces": ["packages/*"]},
        "packages/a/package.json": {"name": "a", "version": "1.0.0"},
        "packages/a/node_modules/ms/package.json": {"name": "ms", "version": "2.0.0"},
        "node_modules/ms/package.json": {"name": "ms", "version": "2.1.3"},
        "package-lock.json": {
            "name": "mono",
            "version": "0.1.0",
            "lockfileVersion": 3,
            "packages": {
                "": {"name": "mono", "version": "0.1.0"},
                "node_modules/a": {"resolved": "packages/a", "link": True},
                "node_modules/ms": {"version": "2.1.3"},
                "node_modules/left-pad": {"version": "1.3.0", "dev": True},
                "packages/a": {"name": "a", "version": "1.0.0"},
                "packages/a/node_modules/ms": {"version": "2.0.0", "dev": True},
            },
        },
    }
    for rel, doc in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(doc))
    pkgs, _ = catalog_dir(root, settings, ["npm"])
    got = sorted((p.path, p.name, p.version, p.meta("dev")) for p in pkgs)
    assert got == [
        ("node_modules/ms/package.json", "ms", "2.1.3", ""),
        ("package-lock.json", "left-pad", "1.3.0", "true"),  # locked, not installed
        ("package.json", "mono", "0.1.0", ""),
        ("packages/a/node_modules/ms/package.json", "ms", "2.0.0", "true"),
        ("packages/a/package.json", "a", "1.0.0", ""),
    ]


def test_yarn_and_pnpm_edge_forms() -> None:
    yarn_v1 = b"""# yarn lockfile v1

"string-width-cjs@npm:string-width@^4.2.0":
  version "4.2.3"
  resolved "https://registry.npmjs.org/string-width/-/string-width-4.2.3.tgz"

local@file:../local:
  version "0.0.1"
"""
    pkgs = parse_yarn_lock(yarn_v1, "yarn.lock")
    assert [(p.name, p.version) for p in pkgs] == [("string-width", "4.2.3")]

    berry = b"""__metadata:
  version: 6

"resolve@npm:^1.20.0":
  version: 1.22.1
  resolution: "resolve@npm:1.22.1"

"resolve@patch:resolve@npm%3A^1.20.0#~builtin<compat/resolve>":
  version: 1.22.1
  resolution: "resolve@patch:resolve@npm%3A1.22.1#~builtin<compat/resolve>::version=1.22.1&hash=07638b"

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
"""
    pkgs = parse_yarn_lock(berry, "yarn.lock")
    assert [(p.name, p.version, p.meta("lockfile")) for p in pkgs] == [("resolve", "1.22.1", "yarn-berry")]

    pnpm_v5_peers = b"""lockfileVersion: 5.4
packages:
  /react-dom/17.0.2_react@17.0.2:
    resolution: {integrity: sha512-abc}
    dev: true
  /react/17.0.2:
    resolution: {integrity: sha512-def}
    dev: false
  github.com/user/repo/0123abcd:
    resolution: {tarball: https://codeload.github.com/user/repo/tar.gz/0123abcd}
    name: forked
    version: 2.0.0
"""
    pkgs = parse_pnpm_lock(pnpm_v5_peers, "pnpm-lock.yaml")
    assert sorted((p.name, p.version, p.meta("dev")) for p in pkgs) == [
        ("forked", "2.0.0", ""),
        ("react", "17.0.2", ""),
        ("react-dom", "17.0.2", "true"),
    ]


def test_malformed_file_becomes_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "app" / "node_modules" / "good").mkdir(parents=True)
    (root / "app" / "node_modules" / "good" / "package.json").write_text('{"name": "good", "version": "1.0.0"}')
    (root / "app" / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": ')
    settings = Settings(cache_dir=tmp_path / "cache", strict_analyzers=False)
    pkgs, warnings = catalog_dir(root, settings, ["npm"])
    assert [(p.name, p.version) for p in pkgs] == [("good", "1.0.0")]
    assert len(warnings) == 1 and "/app/package-lock.json" in warnings[0]


def test_analyze_reads_through_blob() -> None:
    res = NpmAnalyzer().analyze(
        FileInfo("node_modules/@s/x/package.json", "file", 40),
        BytesBlob(b'{"name": "@s/x", "version": "2.0.0", "license": "MIT"}'),
    )
    assert res is not None
    assert [(p.name, p.version, p.type, p.licenses) for p in res.packages] == [("@s/x", "2.0.0", "npm", ("MIT",))]
