"""End to end: a pip-installed site-packages and an npm project as layers of a real OCI image,
cataloged through `customhouse.catalog.catalog()` like the CLI does."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder, file_entry
from customhouse.purl import pep503
from customhouse.settings import Settings
from tests.lang.conftest import SITE


def test_image_with_python_and_npm_layers(
    pip_rootfs: Path, npm_fixture: Path, npm_oracle: dict[str, Any], tmp_path: Path, settings: Settings
) -> None:
    app_root = tmp_path / "layer-app"
    shutil.copytree(npm_fixture / "project", app_root / "app", symlinks=True)
    b = ImageBuilder(tmp_path / "work")
    b.add_layer_dir(pip_rootfs, created_by="RUN pip install ...")
    b.add_layer_dir(app_root, created_by="RUN npm ci")
    # A later layer deletes an installed dev package: the lock file still lists it.
    b.add_layer_entries([file_entry("app/node_modules/.wh.is-number", b"")], created_by="RUN rm -rf is-number")
    image = tmp_path / "image.tar"
    b.write_oci_archive(image)

    inv = catalog(f"oci-archive:{image}", settings).inventory
    assert not inv.warnings

    pypi = [p for p in inv.packages if p.type == "pypi"]
    dists = list(metadata.distributions(path=[str(pip_rootfs / SITE)]))
    assert {(p.name, p.version) for p in pypi} == {(d.metadata["Name"], d.version) for d in dists}
    for p in pypi:
        assert p.purl == f"pkg:pypi/{pep503(p.name)}@{p.version}"
        assert p.path.startswith(SITE + "/")
        assert (p.layer_index, p.created_by) == (0, "RUN pip install ...")

    npm = [p for p in inv.packages if p.type == "npm"]
    installed = {(p.name, p.version, p.path) for p in npm if "/node_modules/" in p.path}
    expected = {(d["name"], d["version"], "app/" + d["path"]) for d in npm_oracle["all"]}
    gone = ("is-number", "7.0.0", "app/node_modules/is-number/package.json")
    assert gone in expected
    assert installed == expected - {gone}
    assert all(p.layer_index == 1 for p in npm if "/node_modules/" in p.path)
    # The deleted package is still known from the lock file, as a dev dependency.
    from_lock = [(p.name, p.version, p.meta("dev"), p.layer_index) for p in npm if p.path == "app/package-lock.json"]
    assert from_lock == [("is-number", "7.0.0", "true", 1)]
    scoped = next(p for p in npm if p.name == "@babel/code-frame")
    assert scoped.purl == "pkg:npm/%40babel/code-frame@7.22.13"
    app = next(p for p in npm if p.path == "app/package.json")
    assert (app.name, app.purl) == ("customhouse-npm-fixture", "pkg:npm/customhouse-npm-fixture@1.0.0")
