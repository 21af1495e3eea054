"""What syft and trivy find in the same real artifacts, we find too (as a directory and as an image).

The only deliberate exceptions are `package.json` files that packages ship as test fixtures
(`node_modules/resolve/test/resolver/.../package.json`): both peers report those as installed
packages; we do not (see customhouse/analyzers/npm.py). The test checks that exactly those, and
nothing else, are missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customhouse.analyzers.npm import is_package_position
from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder
from customhouse.purl import pep503
from customhouse.settings import Settings
from tests.lang.conftest import find_files
from tests.lang.test_dotnet import DEPS

pytestmark = pytest.mark.peer

Key = tuple[str, str, str]  # (purl type, comparable name, version)
LANG_TYPES = frozenset({"pypi", "npm", "gem", "composer", "nuget"})
SYFT_TYPES = {"python": "pypi", "npm": "npm", "gem": "gem", "php-composer": "composer", "dotnet": "nuget"}
TRIVY_TYPES = {
    "python-pkg": "pypi",
    "node-pkg": "npm",
    "npm": "npm",
    "yarn": "npm",
    "pnpm": "npm",
    "gemspec": "gem",
    "composer": "composer",
    "composer-vendor": "composer",
    "dotnet-core": "nuget",
}


def _key(t: str, name: str, version: str) -> Key:
    if t == "pypi":
        name = pep503(name)
    elif t == "nuget":
        name = name.lower()
    return (t, name, version)


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed")
    return found


def _json(cmd: list[str]) -> Any:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def syft(target: str, tmp: Path) -> set[Key]:
    env_cfg = ["--config", str(tmp / "syft-none.yaml")]
    (tmp / "syft-none.yaml").write_text("check-for-app-update: false\n")
    doc = _json([_tool("syft"), "scan", target, "-o", "json", "-q", *env_cfg])
    out = set()
    for a in doc["artifacts"]:
        t = SYFT_TYPES.get(a["type"])
        if t:
            out.add(_key(t, a["name"], a["version"]))
    return out


def trivy(mode: str, target: str, tmp: Path) -> set[Key]:
    cmd = [_tool("trivy"), mode, "--scanners", "license", "--format", "json", "--list-all-pkgs"]
    cmd += ["--skip-db-update", "--offline-scan", "--cache-dir", str(tmp / "trivy-cache"), "--quiet"]
    cmd += ["--input", target] if mode == "image" else [target]
    doc = _json(cmd)
    out = set()
    for r in doc.get("Results") or []:
        t = TRIVY_TYPES.get(r.get("Type", ""))
        if t is None:
            continue
        for p in r.get("Packages") or []:
            out.add(_key(t, p["Name"], p["Version"]))
    return out


@pytest.fixture(scope="module")
def combined_root(
    pip_rootfs: Path,
    npm_fixture: Path,
    gem_home: Path,
    composer_fixture: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    root = tmp_path_factory.mktemp("peers") / "root"
    shutil.copytree(pip_rootfs, root, symlinks=True)
    shutil.copytree(npm_fixture / "project", root / "app", symlinks=True)
    shutil.copytree(gem_home, root, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(composer_fixture / "app", root / "srv" / "php", symlinks=True)
    (root / "opt" / "web").mkdir(parents=True)
    (root / "opt" / "web" / "WebApp.deps.json").write_text(json.dumps(DEPS))
    return root


def _decoys(root: Path) -> set[Key]:
    """Named package.json files at non-package positions below node_modules (test fixtures).

    syft reports the ones without a version too, as version `UNKNOWN`.
    """
    out = set()
    for f in find_files(root / "app" / "node_modules", "package.json"):
        doc = json.loads(f.read_text())
        if not is_package_position(f.relative_to(root).as_posix()) and doc.get("name"):
            out.add(_key("npm", doc["name"], doc.get("version") or "UNKNOWN"))
    return out


def _ours(spec: str, tmp: Path) -> set[Key]:
    inv = catalog(spec, Settings(cache_dir=tmp / "cache", strict_analyzers=True)).inventory
    return {_key(p.type, p.name, p.version) for p in inv.packages if p.type in LANG_TYPES}


def _check(peer: set[Key], ours: set[Key], allowed: set[Key], who: str, kinds: set[str]) -> None:
    assert {k[0] for k in peer} >= kinds, f"{who} found too little to compare"
    missing = peer - ours
    assert missing <= allowed, f"{who} reports what we miss: {sorted(missing - allowed)}"


def test_superset_of_peers_on_directory(combined_root: Path, tmp_path: Path) -> None:
    ours = _ours(f"dir:{combined_root}", tmp_path)
    allowed = _decoys(combined_root)
    _check(syft(f"dir:{combined_root}", tmp_path), ours, allowed, "syft dir", {"pypi", "npm", "gem", "composer"})
    # trivy's filesystem mode reads lock files only (no site-packages, no gemspecs).
    _check(trivy("fs", str(combined_root), tmp_path), ours, allowed, "trivy fs", {"npm", "composer"})


def test_superset_of_peers_on_image(combined_root: Path, tmp_path: Path) -> None:
    b = ImageBuilder(tmp_path / "work")
    b.add_layer_dir(combined_root)
    image = tmp_path / "image.tar"
    b.write_docker_archive(image)
    ours = _ours(f"docker-archive:{image}", tmp_path)
    allowed = _decoys(combined_root)
    syft_found = syft(f"docker-archive:{image}", tmp_path)
    _check(syft_found, ours, allowed, "syft image", {"pypi", "npm", "gem", "composer"})
    trivy_found = trivy("image", str(image), tmp_path)
    _check(trivy_found, ours, allowed, "trivy image", {"pypi", "npm", "gem", "composer"})
    # The exception is real: the peers do report the fixtures we skip.
    assert allowed and allowed <= (syft_found | trivy_found)
