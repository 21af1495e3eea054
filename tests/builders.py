"""Builders of real fixtures shared by tests and benchmarks (debootstrap root filesystems, images).

Everything is cached in the test cache (see conftest.cached_build) so a machine builds each
fixture once; benchmarks import these too so they measure the very same inputs the tests check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def debian_mirror(suite: str = "bookworm") -> str:
    """The Debian mirror this machine's apt uses for `suite` (never hard-coded: CI machines differ)."""
    candidates: list[str] = []
    files: list[Path] = []
    for p in APT_SOURCES:
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(sorted(p.glob("*.list")) + sorted(p.glob("*.sources")))
    for f in files:
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith("#"):
                        k, _, v = line.partition(":")
                        fields[k.strip().lower()] = v.strip()
                suites = fields.get("suites", "").split()
                if suite in suites and "deb" in fields.get("types", "deb").split():
                    candidates.extend(fields.get("uris", "").split())
        else:
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri_idx = 2 if parts[1].startswith("[") else 1
                    if len(parts) > uri_idx + 1 and parts[uri_idx + 1] == suite:
                        candidates.append(parts[uri_idx])
    for uri in candidates:
        if "security" not in uri:
            return uri.rstrip("/")
    raise RuntimeError(f"no apt source for Debian {suite} found in /etc/apt")


def debootstrap(dst: Path, suite: str = "bookworm", variant: str = "minbase", include: str = "") -> None:
    """A real Debian root filesystem from this machine's mirror (needs root and debootstrap)."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    cmd = ["debootstrap", f"--variant={variant}"]
    if include:
        cmd.append(f"--include={include}")
    cmd += [suite, str(dst), debian_mirror(suite)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Drop what varies between runs and is not part of an image's package state.
    for p in ("var/cache/apt/archives", "var/lib/apt/lists"):
        d = dst / p
        if d.is_dir():
            for child in d.iterdir():
                if child.is_file() and child.name not in ("lock",):
                    child.unlink()
