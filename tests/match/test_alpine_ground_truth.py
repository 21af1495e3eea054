"""Alpine matching against ground truth decided by Alpine's own `apk version -t`.

For every Alpine root filesystem in ../shared/data and the secdb of its branch: a package is
vulnerable to an id listed in secdb exactly when its installed version is lower than the
secdb fixed version for that branch, as `apk` (chrooted into the same root) decides. Our
findings must equal that set: precision 1.0 and recall 1.0.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from customhouse.catalog import catalog
from customhouse.match.matcher import match
from customhouse.settings import Settings
from customhouse.vulndb.db import VulnDB
from tests.conftest import ALPINE_VERSIONS, alpine_rootfs, shared
from tests.match.conftest import shared_db


def _apk_lt(root: Path, pairs: list[tuple[str, str]]) -> list[bool]:
    """One chrooted shell runs every comparison: `apk version -t A B` prints <, = or >."""
    script = "".join(f"/sbin/apk version -t '{a}' '{b}'\n" for a, b in pairs)
    out = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-s"], input=script, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out) == len(pairs)
    return [o == "<" for o in out]


def _installed(root: Path) -> list[tuple[str, str, str]]:
    out = []
    rec: dict[str, str] = {}
    for line in [*(root / "lib/apk/db/installed").read_text().splitlines(), ""]:
        if not line:
            if rec.get("P"):
                out.append((rec["P"], rec["V"], rec.get("o", rec["P"])))
            rec = {}
        elif line[1:2] == ":":
            rec.setdefault(line[0], line[2:])
    return out


@pytest.mark.parametrize("version", ALPINE_VERSIONS)
def test_precision_and_recall_are_one(version: str, settings: Settings) -> None:
    root = alpine_rootfs(version)
    branch = "v" + ".".join(version.split(".")[:2])
    secfixes: dict[str, dict[str, list[str]]] = {}
    for repo in ("main", "community"):
        doc = json.loads(shared(f"alpine/secdb/{branch}/{repo}.json").read_text())
        for entry in doc["packages"]:
            pkg = entry["pkg"]
            for fixed, ids in (pkg.get("secfixes") or {}).items():
                secfixes.setdefault(pkg["name"], {}).setdefault(fixed, []).extend(ids or [])
    pairs, meta = [], []
    for name, installed, origin in _installed(root):
        for fixed, ids in secfixes.get(origin, {}).items():
            pairs.append((installed, fixed))
            meta.append((name, ids))
    truth = {
        (name, vid.split()[0])
        for (name, ids), lt in zip(meta, _apk_lt(root, pairs), strict=True)
        if lt
        for vid in ids
        if vid
    }
    assert truth, "the oldest Alpine roots must have known vulnerabilities"
    db = VulnDB(shared_db())
    inv = catalog(f"dir:{root}", settings).inventory
    result = match(inv.packages, inv.os, db)
    assert not result.not_comparable
    secdb_ids = {i.split()[0] for _, ids in meta for i in ids if i}
    ours = set()
    for f in result.findings:
        v = f.vulnerability
        assert v is not None and v.ecosystem == f"alpine:{branch[1:]}"
        known = {f.id, *v.aliases} & secdb_ids
        # A finding secdb does not list for this package counts against precision.
        ours.update((v.package_name, vid) for vid in (known or {f.id}))
        assert v.fix_state == "fixed" and v.fixed_version
    missing, extra = truth - ours, ours - truth
    precision = 1 - len(extra) / max(len(ours), 1)
    recall = 1 - len(missing) / len(truth)
    assert (precision, recall) == (1.0, 1.0), (sorted(missing)[:10], sorted(extra)[:10])
