"""Debian matching on the real bookworm image: backports respected, fix states reported, the
distribution's own data first.

The feed documents are written here in the Debian security tracker's JSON format and OSV's
(as the tracker and osv.dev publish them), about real source packages of the image at versions
chosen around the installed ones; the oracle for "is the installed version below the fix" is
`dpkg --compare-versions` itself.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

from customhouse.catalog import catalog
from customhouse.match.matcher import match
from customhouse.settings import Settings
from customhouse.vulndb.build import build_database
from customhouse.vulndb.db import VulnDB
from tests.conftest import bookworm_images


def _lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def test_backports_fix_states_and_distro_first(tmp_path: Path, settings: Settings) -> None:
    inv = catalog(f"docker-archive:{bookworm_images() / 'docker-archive.tar'}", settings).inventory
    src = {p.source_name: p.source_version for p in inv.packages}
    glibc, bash = src["glibc"], src["bash"]
    newer = glibc + "+fix1"  # sorts after the installed version
    assert _lt(glibc, newer)
    tracker = {
        "glibc": {
            # Backported: fixed in bookworm at exactly the installed version -> not vulnerable.
            "CVE-2099-0001": {
                "releases": {"bookworm": {"status": "resolved", "fixed_version": glibc, "urgency": "high"}}
            },
            # Fixed in a later bookworm update -> vulnerable, fixed, severity from the tracker.
            "CVE-2099-0002": {
                "releases": {"bookworm": {"status": "resolved", "fixed_version": newer, "urgency": "medium**"}}
            },
            # Not affected in bookworm at all ("0") -> nothing.
            "CVE-2099-0003": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "low"}}},
        },
        "systemd": {
            "CVE-2099-0004": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}},
            "CVE-2099-0005": {
                "releases": {
                    "bookworm": {
                        "status": "open",
                        "urgency": "unimportant",
                        "nodsa": "minor issue",
                        "nodsa_reason": "ignored",
                    }
                }
            },
        },
        "tar": {
            "CVE-2099-0006": {"releases": {"bookworm": {"status": "open", "urgency": "end-of-life"}}},
            # Another release's data must not leak into bookworm.
            "CVE-2099-0007": {"releases": {"bullseye": {"status": "open", "urgency": "high"}}},
        },
    }
    feeds = tmp_path / "feeds"
    (feeds / "debian").mkdir(parents=True)
    (feeds / "debian" / "tracker.json").write_text(json.dumps(tracker))
    # An OSV copy that states an older, broader fix range for the backported CVE: it must not
    # bring the finding back, because Debian's own tracker says the installed version is fixed.
    osv = {
        "id": "DSA-9999-1",
        "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2099-0001"],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": newer}]}],
            },
            {
                "package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": bash + "+fix"}]}],
            },
        ],
    }
    (feeds / "osv").mkdir()
    with zipfile.ZipFile(feeds / "osv" / "Debian-all.zip", "w") as z:
        z.writestr("DSA-9999-1.json", json.dumps(osv))
    db_path = tmp_path / "db" / "customhouse.db"
    build_database(feeds, db_path)
    result = match(inv.packages, inv.os, VulnDB(db_path))
    got = {}
    for f in result.findings:
        v = f.vulnerability
        assert v is not None
        got.setdefault((v.source_package or v.package_name, f.id), set()).add(
            (v.fix_state, v.fixed_version, f.severity)
        )
    assert ("glibc", "CVE-2099-0001") not in got  # backport: the tracker says fixed at the installed version
    assert not any(k[1] in ("CVE-2099-0003", "CVE-2099-0007") for k in got)
    assert got[("glibc", "CVE-2099-0002")] == {("fixed", newer, "medium")}
    assert got[("systemd", "CVE-2099-0004")] == {("not_fixed", "", "low")}
    assert got[("systemd", "CVE-2099-0005")] == {("will_not_fix", "", "low")}  # unimportant -> low
    assert got[("tar", "CVE-2099-0006")] == {("end_of_life", "", "unknown")}
    # bash: only OSV knows, and dpkg says the installed version is below its fix -> reported.
    assert _lt(bash, bash + "+fix")
    assert got[("bash", "CVE-2099-0001")] == {("fixed", bash + "+fix", "unknown")}
    # Every binary package of an affected source package gets the finding (libc6, libc-bin ...).
    glibc_bins = {p.name for p in inv.packages if p.source_name == "glibc"}
    assert {f.vulnerability.package_name for f in result.findings if f.id == "CVE-2099-0002"} == glibc_bins
    assert len(glibc_bins) >= 2
