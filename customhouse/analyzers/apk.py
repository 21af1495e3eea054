"""Alpine (and Wolfi/Chainguard) packages from `lib/apk/db/installed`.

The origin (`o:`) is the aports source package the binary package was built from; Alpine's
security database is keyed by it, so it becomes `source_name`. Licenses in the database are
already SPDX expressions on current releases (`GPL-2.0-only`), older ones use free text.
"""

from __future__ import annotations

from collections.abc import Iterator

from customhouse.analyzers.base import Analyzer, Blob, register
from customhouse.licenses import normalize_license
from customhouse.model import AnalysisResult, FileInfo, Package

INSTALLED = "lib/apk/db/installed"


def parse_installed(text: str) -> Iterator[dict[str, str]]:
    """Records of `K:value` lines separated by blank lines; only the first of each key counts
    (F:/R: file lines repeat and are not needed for the inventory)."""
    rec: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            if rec:
                yield rec
            rec = {}
            continue
        if len(line) < 2 or line[1] != ":":
            continue
        key = line[0]
        if key not in rec:
            rec[key] = line[2:]
    if rec:
        yield rec


def split_license(value: str) -> tuple[str, ...]:
    """`MIT AND BSD-2-Clause`, `GPL-2.0-or-later OR MIT`, or old space-separated lists."""
    value = value.strip()
    if not value:
        return ()
    if " AND " in value or " OR " in value or " WITH " in value:
        return (value,)
    parts = value.split()
    return tuple(dict.fromkeys(normalize_license(p) for p in parts))


@register
class ApkAnalyzer(Analyzer):
    name = "apk"
    version = 1
    paths = frozenset({INSTALLED})
    max_size = 256 << 20

    def analyze(self, info: FileInfo, blob: Blob) -> AnalysisResult | None:
        text = blob.read().decode("utf-8", "replace")
        pkgs: list[Package] = []
        for rec in parse_installed(text):
            name, version = rec.get("P", ""), rec.get("V", "")
            if not name or not version:
                continue
            meta = []
            if rec.get("c"):
                meta.append(("commit", rec["c"]))
            if rec.get("C"):
                meta.append(("checksum", rec["C"]))
            if rec.get("m"):
                meta.append(("maintainer", rec["m"]))
            if rec.get("U"):
                meta.append(("url", rec["U"]))
            pkgs.append(
                Package(
                    name=name,
                    version=version,
                    type="apk",
                    path=info.path,
                    arch=rec.get("A", ""),
                    source_name=rec.get("o", name),
                    source_version=version,
                    licenses=split_license(rec.get("L", "")),
                    found_by=self.name,
                    metadata=tuple(sorted(meta)),
                )
            )
        return AnalysisResult(packages=tuple(pkgs)) if pkgs else None
