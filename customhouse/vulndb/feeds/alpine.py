"""Alpine secdb (https://secdb.alpinelinux.org/<branch>/<repo>.json).

Each document lists, for one branch and repository, the packages (by origin, i.e. the aport
name, which is what `apk`'s database records as the origin of every subpackage) and their
`secfixes`: `{fixed version: [ids fixed in it]}`. That is one range per id: introduced 0,
fixed at that version, branch key `alpine:3.20` from `distroversion` (`v3.20`; `edge` is kept as
`alpine:edge`).

The secfixes entries are maintained by hand in APKBUILD comments, so they are parsed
leniently: an entry may carry several ids (`CVE-2018-3639 XSA-263`: every CVE gets its own
row, because Xen advisories fix several CVEs at once; the other ids become aliases of each
CVE, or, without a CVE, the first is the row's id), parenthesised remarks (`(AoE)`), placeholders (`CVE-????-?????`)
and typos (`CVE_2019-2426`). Version `0` is Alpine's documented marker for "this id never
affected our package" and yields no row; so does an entry whose remark says it is not
applicable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from customhouse.vulndb.feeds import Affected, FeedStats, Malformed, Sink, Vuln, fixed_range, version_text

MAX_SECDB_BYTES = 256 << 20
_BRANCH = re.compile(r"v?(\d+\.\d+)|(edge)")
_CVE_PREFIX = re.compile(r"CVE[-_](\d{4})-(\d{4,})")
_OTHER_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+")
_REMARK = re.compile(r"\([^)]*\)?")
_NOT_APPLICABLE = re.compile(r"not (actually )?(applicable|affected)", re.IGNORECASE)


def branch_key(distroversion: str) -> str | None:
    m = _BRANCH.fullmatch(distroversion.strip())
    if not m:
        return None
    return f"alpine:{m.group(1) or m.group(2)}"


def parse_entry(entry: str) -> tuple[list[str], list[str]]:
    """(ids that get a row, their aliases) for one secfixes entry; ([], []) when not applicable."""
    if _NOT_APPLICABLE.search(entry):
        return [], []
    cves: list[str] = []
    others: list[str] = []
    for token in _REMARK.sub(" ", entry).split():
        m = _CVE_PREFIX.match(token)
        if m:
            cves.append(f"CVE-{m.group(1)}-{m.group(2)}")
        elif not token.upper().startswith("CVE") and _OTHER_ID.fullmatch(token):
            others.append(token)
    cves, others = list(dict.fromkeys(cves)), list(dict.fromkeys(others))
    if cves:
        return cves, others
    return others[:1], others[1:]


def read_secdb(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    """One secdb document; a record is one (package, id) fix, a skip is one unusable entry."""
    try:
        if path.stat().st_size > MAX_SECDB_BYTES:
            stats.skip("file too large", str(path))
            return
        doc: Any = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        stats.skip(f"unreadable secdb JSON ({type(exc).__name__})", str(path))
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        stats.skip("not a secdb document (no packages list)", str(path))
        return
    version_field = doc.get("distroversion")
    key = branch_key(version_field) if isinstance(version_field, str) else None
    if key is None:
        key = branch_key(path.parent.name)
    if key is None:
        stats.skip("no usable distroversion", str(path))
        return
    seen_vulns: set[str] = set()
    for item in doc["packages"]:
        pkg = item.get("pkg") if isinstance(item, dict) else None
        name = pkg.get("name") if isinstance(pkg, dict) else None
        if not isinstance(pkg, dict) or not isinstance(name, str) or not name.strip():
            stats.skip("package entry without a name", str(path))
            continue
        secfixes = pkg.get("secfixes")
        if secfixes is None:
            continue
        if not isinstance(secfixes, dict):
            stats.skip("secfixes is not an object", f"{key}/{name}")
            continue
        rows: list[Affected] = []
        seen_rows: set[tuple[str, str]] = set()
        for fixed, entries in secfixes.items():
            where = f"{key}/{name}/{fixed}"
            try:
                if not isinstance(entries, list):
                    raise Malformed("secfixes value is not a list")
                version = version_text(fixed)
            except Malformed as exc:
                stats.skip(str(exc), where)
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    stats.skip("secfixes entry is not a string", where)
                    continue
                ids, aliases = parse_entry(entry)
                if not ids:
                    stats.notes["entry without a usable id"] += 1
                    continue
                if version == "0":
                    stats.notes["not affected (version 0)"] += 1
                    continue
                for vid in ids:
                    if (vid, version) in seen_rows:
                        continue
                    seen_rows.add((vid, version))
                    rows.append(Affected(vid, key, name.strip(), fixed_range(version), "fixed", version, "", source))
                    if vid not in seen_vulns:
                        seen_vulns.add(vid)
                        sink.vuln(Vuln(id=vid, source=source))
                    if aliases:
                        sink.aliases(vid, aliases)
                    stats.records += 1
        if rows:
            sink.affected(rows)
