"""NVD CVE API 2.0 pages (https://services.nvd.nist.gov/rest/json/cves/2.0) -> text and CVSS.

NVD contributes descriptions, references and CVSS v2/v3.0/v3.1/v4.0 metrics (one row per
metric source: NVD's own "Primary" score and each CNA's "Secondary" one). It never contributes
`affected` rows: its CPE configurations name products, not packages, and matching packages to
CPEs by name is the fuzzy guesswork this scanner leaves out on purpose.

A mirror holds one full download plus incremental pages (`lastModStartDate` windows) fetched
later, so the same CVE can appear several times. Pages are read newest first and a CVE is
taken from the first page that has it, which makes the newest version win in one pass.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from customhouse.vulndb.feeds import (
    MAX_REFERENCES,
    FeedStats,
    Malformed,
    Sink,
    Vuln,
    dedupe,
    ident,
    is_cve,
    severity_word,
    text,
)
from customhouse.vulndb.feeds.cvss import rating, score_vector

MAX_PAGE_BYTES = 1 << 30
_METRICS = (("cvssMetricV31", "3.1"), ("cvssMetricV30", "3.0"), ("cvssMetricV40", "4.0"), ("cvssMetricV2", "2.0"))
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")


def page_order(paths: list[Path]) -> list[Path]:
    """Newest first: by the fetch time in the file name (`delta-20250101T000000Z-000000.json.gz`)."""

    def key(p: Path) -> tuple[str, bool, str]:
        m = _STAMP.search(p.name)
        return (m.group(1) if m else "", p.name.startswith("delta"), p.name)

    return sorted(paths, key=key, reverse=True)


def nvd_time(value: Any) -> str:
    """NVD times are UTC without an offset; say so, so they compare with the other feeds'."""
    t = text(value, 64)
    if t and not t.endswith("Z") and "+" not in t[10:]:
        t += "Z"
    return t


def _metrics(cve: dict[str, Any]) -> tuple[list[tuple[str, str, float, str]], str]:
    """All (version, vector, score, source) metrics, and the severity of the preferred one."""
    metrics = cve.get("metrics")
    if metrics is None:
        return [], ""
    if not isinstance(metrics, dict):
        raise Malformed("metrics is not an object")
    out: list[tuple[str, str, float, str]] = []
    ranked: list[tuple[int, int, str]] = []
    for order, (key, default_version) in enumerate(_METRICS):
        entries = metrics.get(key) or []
        if not isinstance(entries, list):
            raise Malformed(f"{key} is not a list")
        for entry in entries:
            data = entry.get("cvssData") if isinstance(entry, dict) else None
            if not isinstance(data, dict):
                continue
            vector = data.get("vectorString")
            if not isinstance(vector, str) or not vector:
                continue
            version = data.get("version") if isinstance(data.get("version"), str) else default_version
            score = data.get("baseScore")
            if not isinstance(score, int | float) or isinstance(score, bool):
                scored = score_vector(vector)
                if scored is None:
                    continue
                score = scored[1]
            source = entry.get("source") if isinstance(entry.get("source"), str) else "nvd"
            out.append((str(version), vector.strip(), float(score), str(source)[:128]))
            word = severity_word(data.get("baseSeverity") or entry.get("baseSeverity")) or rating(
                float(score), str(version)
            )
            primary = 0 if entry.get("type") == "Primary" else 1
            ranked.append((primary, order, word))
    ranked.sort()
    return out, ranked[0][2] if ranked else ""


def parse_cve(cve: Any, source: str) -> Vuln:
    if not isinstance(cve, dict):
        raise Malformed("cve is not an object")
    vid = ident(cve.get("id"))
    if not is_cve(vid):
        raise Malformed("id is not a CVE id")
    description = ""
    descs = cve.get("descriptions") or []
    if not isinstance(descs, list):
        raise Malformed("descriptions is not a list")
    for d in descs:
        if isinstance(d, dict) and d.get("lang") == "en":
            description = text(d.get("value"))
            break
    refs: list[str] = []
    raw_refs = cve.get("references") or []
    if not isinstance(raw_refs, list):
        raise Malformed("references is not a list")
    for r in raw_refs[:MAX_REFERENCES]:
        url = r.get("url") if isinstance(r, dict) else None
        if isinstance(url, str) and url:
            refs.append(url[:2048])
    cvss, severity = _metrics(cve)
    return Vuln(
        id=vid,
        source=source,
        details=description,
        published=nvd_time(cve.get("published")),
        modified=nvd_time(cve.get("lastModified")),
        severity=severity,
        severity_source=source if severity else "",
        references=dedupe(refs),
        cvss=cvss,
    )


def read_page(path: Path, source: str, sink: Sink, stats: FeedStats, seen: set[str]) -> None:
    """One API response page; CVEs already taken from a newer page are passed over."""
    try:
        if path.stat().st_size > MAX_PAGE_BYTES:
            stats.skip("file too large", str(path))
            return
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        doc = json.loads(raw)
    except (OSError, EOFError, ValueError, RecursionError) as exc:
        stats.skip(f"unreadable NVD page ({type(exc).__name__})", str(path))
        return
    items = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        stats.skip("not an NVD CVE API 2.0 page (no vulnerabilities list)", str(path))
        return
    for i, item in enumerate(items):
        where = f"{path.name}[{i}]"
        try:
            cve = item.get("cve") if isinstance(item, dict) else None
            if not isinstance(cve, dict):
                raise Malformed("entry has no cve object")
            vid = ident(cve.get("id"))
            if vid in seen:
                continue
            seen.add(vid)
            if cve.get("vulnStatus") == "Rejected":
                stats.notes["rejected"] += 1
                continue
            vuln = parse_cve(cve, source)
        except Malformed as exc:
            stats.skip(str(exc), where)
            continue
        except (TypeError, ValueError, AttributeError) as exc:
            stats.skip(f"unexpected structure ({type(exc).__name__})", where)
            continue
        sink.vuln(vuln)
        for version, vector, score, metric_source in vuln.cvss:
            sink.cvss(vuln.id, metric_source, version, vector, score)
        stats.records += 1
