"""customhouse's findings JSON: the machine-readable report every other tool can rely on.

The shape is a contract (docs/report-formats.md): versioned by `schema_version`, fields only
ever added, every field always present (empty rather than missing) so consumers need no
"is it there" checks. Suppressed findings stay in, with their suppression, because a report
that silently drops them cannot be audited; they are counted apart in `summary`.
"""

from __future__ import annotations

from typing import Any

from customhouse.report.findings import Finding
from customhouse.report.jsonlayout import dump_json
from customhouse.report.scan_report import ScanReport, summary, tool_version


def finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    # (framework, control) pairs read better as objects than as two-element arrays.
    d["frameworks"] = [{"framework": a, "control": b} for a, b in f.frameworks]
    if f.misconfiguration is not None:
        # Check-specific facts are looked up by name (`extra.pss_check`), so an object.
        d["misconfiguration"]["extra"] = dict(f.misconfiguration.extra)
    return d


def report_dict(report: ScanReport) -> dict[str, Any]:
    findings = report.ordered()
    doc: dict[str, Any] = {
        "schema_version": report.schema_version,
        "tool": {"name": "customhouse", "version": tool_version()},
    }
    if report.generated_at:
        doc["generated_at"] = report.generated_at
    inv = report.inventory
    doc.update(
        {
            "target": report.target.to_dict(),
            "os": report.os.to_dict() if report.os else None,
            "db": dict(sorted(report.db.items())) if report.db is not None else None,
            "inventory": (
                {"package_count": len(inv.packages), "layers": [li.to_dict() for li in inv.layers]}
                if inv is not None
                else None
            ),
            "summary": summary(findings),
            "findings": [finding_dict(f) for f in findings],
            "warnings": sorted(set(report.warnings)),
        }
    )
    return doc


def render_json(report: ScanReport) -> str:
    """Top-level keys pretty-printed, one finding per line: readable, diffable, and written by
    the C encoder (the indenting encoder is pure Python and several times slower)."""
    return dump_json(report_dict(report), inline_depth=2)
