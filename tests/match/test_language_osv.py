"""Go binaries and Python packages in real images, matched against the real Go and PyPI OSV
exports in ../shared/data.

The expected sets come from an evaluator written here, independently of customhouse: the
OSV schema's evaluation rules over `packaging.version` (PyPI) and a plain SemVer ordering
(Go advisories use SemVer without the `v`). Both read the zips directly, not our database.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder
from customhouse.match.matcher import match
from customhouse.settings import Settings
from customhouse.vulndb.db import VulnDB
from tests.conftest import alpine_layer_tar, cached_build, shared
from tests.match.conftest import shared_db

OLD_PYPI = ("django==3.2", "urllib3==1.26.4", "werkzeug==2.0.0", "jinja2==2.11.2", "requests==2.25.0")


def _osv(zip_name: str) -> list[dict[str, Any]]:
    with zipfile.ZipFile(shared(f"osv/{zip_name}")) as z:
        return [json.loads(z.read(n)) for n in z.namelist() if n.endswith(".json")]


def _affected(v: Any, events: list[dict[str, str]], key: Any) -> bool:
    """The OSV schema's algorithm, verbatim in spirit: sort events, walk them."""
    evs = []
    for e in events:
        ((kind, ver),) = e.items()
        evs.append((kind, ver))
    evs.sort(key=lambda kv: (0,) if kv[1] == "0" else (1, key(kv[1])))
    hit = False
    for kind, ver in evs:
        if kind == "introduced" and (ver == "0" or v >= key(ver)):
            hit = True
        elif (kind == "fixed" and v >= key(ver)) or (kind == "last_affected" and v > key(ver)):
            hit = False
    return hit


def _truth(records: list[dict[str, Any]], installed: dict[str, str], norm: Any, key: Any) -> set[tuple[str, str]]:
    out = set()
    for rec in records:
        if rec.get("withdrawn"):
            continue
        for aff in rec.get("affected", ()):
            name = norm(aff["package"]["name"])
            if name not in installed:
                continue
            ver = installed[name]
            hit = ver in aff.get("versions", ())
            for rng in aff.get("ranges", ()):
                if rng["type"] in ("ECOSYSTEM", "SEMVER") and _affected(key(ver), rng["events"], key):
                    hit = True
            if hit:
                out.add((name, rec["id"]))
    return out


def _ours(findings: list[Any], ids_of_interest: set[str]) -> set[tuple[str, str]]:
    out = set()
    for f in findings:
        v = f.vulnerability
        for i in {f.id, *v.aliases}:
            if i in ids_of_interest:
                out.add((v.package_name.lower(), i))
    return out


def _pip_site() -> Path:
    def build(dst: Path) -> None:
        site = dst / "usr/lib/python3.11/site-packages"
        site.mkdir(parents=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--target",
                str(site),
                *OLD_PYPI,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )

    try:
        return cached_build("match-old-pypi-v1", build)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot install old PyPI packages: {exc.stderr[-500:]!r}")


def test_python_packages_in_an_image(tmp_path: Path, settings: Settings) -> None:
    site = _pip_site()
    b = ImageBuilder(tmp_path / "b")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), "ADD alpine")
    b.add_layer_dir(site, "RUN pip install ...")
    b.write_oci_layout(tmp_path / "img")
    inv = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory
    installed = {p.name.lower().replace("_", "-"): p.version for p in inv.packages if p.type == "pypi"}
    assert set(installed) == {spec.split("==")[0] for spec in OLD_PYPI}
    records = _osv("PyPI-all.zip")

    def key(v: str) -> Any:
        try:
            return Version(v)
        except InvalidVersion:
            return Version("0")

    truth = _truth(records, installed, lambda n: n.lower().replace("_", "-").replace(".", "-"), key)
    assert len(truth) >= 10, truth
    result = match(inv.packages, inv.os, VulnDB(shared_db()))
    ours = _ours(result.findings, {r["id"] for r in records})
    assert ours == truth, (sorted(truth - ours)[:10], sorted(ours - truth)[:10])
    for f in result.findings:
        if f.vulnerability and f.vulnerability.package_type == "pypi":
            assert f.location.layer_index == 1 and f.location.path.endswith("METADATA")


def _semver_key(v: str) -> tuple[Any, ...]:
    core, _, pre = v.lstrip("v").partition("-")
    nums = tuple(int(x) for x in core.split("+")[0].split("."))
    # a prerelease sorts before its release; pseudo-versions are prereleases in SemVer terms
    # SemVer precedence: numeric identifiers sort below alphanumeric ones.
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (*nums, 0 if pre else 1, ids)


def test_go_binary_in_an_image(tmp_path: Path, settings: Settings) -> None:
    from bench.fixtures import go_binary

    if shutil.which("go") is None:
        pytest.skip("go not installed")
    app = tmp_path / "app" / "usr/local/bin"
    app.mkdir(parents=True)
    shutil.copy(go_binary(), app / "server")
    b = ImageBuilder(tmp_path / "b")
    b.add_layer_tar(alpine_layer_tar("3.20.3"), "ADD alpine")
    b.add_layer_dir(tmp_path / "app", "COPY server")
    b.write_oci_layout(tmp_path / "img")
    inv = catalog(f"oci-layout:{tmp_path / 'img'}", settings).inventory
    installed = {p.name: p.version.lstrip("v") for p in inv.packages if p.type == "golang" and p.version}
    assert "stdlib" in installed
    records = _osv("Go-all.zip")
    truth = _truth(records, installed, lambda n: n, _semver_key)
    assert len(truth) >= 20, truth  # an old toolchain: the standard library has many fixed issues
    result = match(inv.packages, inv.os, VulnDB(shared_db()))
    ours = _ours(result.findings, {r["id"] for r in records})
    assert ours == truth, (sorted(truth - ours)[:10], sorted(ours - truth)[:10])
