"""CISA Known Exploited Vulnerabilities catalog (JSON) -> `kev`.

Exploitation in the wild is the strongest single signal for what to fix first, so findings
carry it; the catalog is small (about 1,400 entries) and keyed by CVE id.
"""

from __future__ import annotations

import json
from pathlib import Path

from customhouse.vulndb.feeds import FeedStats, Malformed, Sink, ident, is_cve, text

MAX_KEV_BYTES = 256 << 20


def read_kev(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    try:
        if path.stat().st_size > MAX_KEV_BYTES:
            stats.skip("file too large", str(path))
            return
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        stats.skip(f"unreadable KEV JSON ({type(exc).__name__})", str(path))
        return
    items = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        stats.skip("not a KEV catalog (no vulnerabilities list)", str(path))
        return
    for i, item in enumerate(items):
        where = f"{path.name}[{i}]"
        try:
            if not isinstance(item, dict):
                raise Malformed("entry is not an object")
            cve = ident(item.get("cveID"), "cveID")
            if not is_cve(cve):
                raise Malformed("cveID is not a CVE id")
            sink.kev(
                cve,
                text(item.get("vulnerabilityName"), 512),
                text(item.get("dateAdded"), 32),
                text(item.get("dueDate"), 32),
                text(item.get("knownRansomwareCampaignUse"), 32),
            )
            stats.records += 1
        except Malformed as exc:
            stats.skip(str(exc), where)
