"""Baseline on a real distribution image: debootstrap's bookworm minbase."""

from __future__ import annotations

import pytest

from customhouse.analyzers.base import select
from customhouse.catalog import catalog
from customhouse.misconfig.engine import Options
from customhouse.misconfig.imageconfig import image_document, scan_image_config
from customhouse.settings import Settings
from tests.conftest import bookworm_images

# What `find / -xdev -perm /6000 -type f` lists in a bookworm minbase root filesystem.
BOOKWORM_SETUID = {
    "usr/bin/chage": "2755",
    "usr/bin/chfn": "4755",
    "usr/bin/chsh": "4755",
    "usr/bin/expiry": "2755",
    "usr/bin/gpasswd": "4755",
    "usr/bin/mount": "4755",
    "usr/bin/newgrp": "4755",
    "usr/bin/passwd": "4755",
    "usr/bin/su": "4755",
    "usr/bin/umount": "4755",
    "usr/sbin/unix_chkpwd": "2755",
}


@pytest.mark.slow
@pytest.mark.parametrize("form", ["docker-archive.tar", "oci"])
def test_bookworm_minbase_baseline(settings: Settings, form: str) -> None:
    images = bookworm_images()
    spec = f"docker-archive:{images / form}" if form.endswith(".tar") else f"oci-layout:{images / form}"
    analysis = catalog(spec, settings, dispatcher=select())
    findings = scan_image_config(analysis, Options(extra={"now": "2024-06-01"}))
    by_id: dict[str, list[str]] = {}
    for f in findings:
        by_id.setdefault(f.id, []).append(f.location.path)
    # Root by default, no health check, and the distribution's setuid/setgid programs; nothing else
    # (no world-writable files outside /tmp, no caches: debootstrap cleans /var/cache/apt).
    assert sorted(by_id) == ["CH-IC-001", "CH-IC-006", "CH-IC-009"]
    setuid = {f.location.path: dict(f.misconfiguration.extra)["mode"] for f in findings if f.id == "CH-IC-006"}  # type: ignore[union-attr]
    assert setuid == BOOKWORM_SETUID
    assert all(f.location.layer_index == 0 and f.location.layer_digest for f in findings if f.id == "CH-IC-006")
    data = image_document(analysis).data
    assert data.accounts is not None and {a.name for a in data.accounts} >= {"root", "nobody", "_apt"}
    assert [a.name for a in data.accounts if a.uid == 0] == ["root"]
    assert data.empty_passwords == () and data.privilege_rules == ()
