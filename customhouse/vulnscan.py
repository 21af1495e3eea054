"""Inventory -> vulnerability findings: match, then VEX.

Order matters and is documented (docs/suppression.md): match, then VEX (the supplier's
statement about exploitability); the ignore file and the display filters that follow are
shared by every scanner and live in `customhouse.match.triage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.report.findings import Finding

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis


@dataclass(frozen=True)
class VulnOptions:
    db_path: Path
    vex: tuple[Path, ...] = ()
    max_db_age_days: float = 7.0
    today: date | None = None


@dataclass
class VulnScan:
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)
    db: dict[str, Any] = field(default_factory=dict)


def scan_vulnerabilities(analysis: ImageAnalysis, opts: VulnOptions) -> VulnScan:
    from customhouse.match.matcher import eol_warning, match
    from customhouse.vulndb.build import check_age
    from customhouse.vulndb.db import VulnDB

    inv = analysis.inventory
    today = opts.today or date.today()
    warnings: list[str] = []
    with VulnDB(opts.db_path) as db:
        stale = check_age(db, opts.max_db_age_days)
        if stale:
            warnings.append(stale)
        eol = eol_warning(inv.os, db, today)
        if eol:
            warnings.append(eol)
        result = match(inv.packages, inv.os, db, target=inv.target.name)
        age = db.age_days()
        meta = {
            "schema_version": db.meta.get("schema_version", ""),
            "built_at": db.meta.get("built_at", ""),
            "age_days": round(age, 2) if age is not None else None,
        }
    warnings.extend(result.warnings)
    findings = result.findings
    if opts.vex:
        from customhouse.match.vex import apply_vex, load_vex

        statements: list[Any] = []
        for path in opts.vex:
            doc = load_vex(path)
            statements.extend(doc.statements)
            warnings.extend(doc.warnings)
        findings = apply_vex(findings, statements, target=inv.target, inventory=inv)
    return VulnScan(findings, warnings, meta)
