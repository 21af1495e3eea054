"""Real version strings from this machine and ../shared/data, for the differential tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ALPINE_VERSIONS, SHARED_DATA, alpine_rootfs, shared


def dpkg_installed() -> list[str]:
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query not installed")
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}\\n"], capture_output=True, text=True, check=True)
    return sorted(set(out.stdout.split()))


def _osv_events(zip_path: Path) -> list[str]:
    found: set[str] = set()
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if not name.endswith(".json"):
                continue
            doc = json.loads(zf.read(name))
            for affected in doc.get("affected", []):
                found.update(affected.get("versions", []))
                for rng in affected.get("ranges", []):
                    for event in rng.get("events", []):
                        found.update(str(v) for v in event.values())
    return sorted(found)


@cache
def osv_versions(ecosystem: str) -> list[str]:
    return _osv_events(shared(f"osv/{ecosystem}-all.zip"))


@cache
def alpine_versions() -> list[str]:
    """Fixed versions from every secdb branch plus the installed packages of every minirootfs."""
    secdb = shared("alpine/secdb")
    found: set[str] = set()
    for path in sorted(secdb.glob("*/*.json")):
        for pkg in json.loads(path.read_text())["packages"]:
            found.update(pkg["pkg"].get("secfixes", {}))
    for release in ALPINE_VERSIONS:
        if (SHARED_DATA / f"alpine/minirootfs/alpine-minirootfs-{release}-x86_64.tar.gz").exists():
            db = alpine_rootfs(release) / "lib/apk/db/installed"
            found.update(line[2:] for line in db.read_text().splitlines() if line.startswith("V:"))
    return sorted(found)
