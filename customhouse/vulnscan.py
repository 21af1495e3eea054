"""Inventory -> vulnerability findings, and the triage steps all scanners share.

Order matters and is documented (docs/suppression.md): match, then VEX (the supplier's
statement about exploitability), then the ignore file (the user's own risk acceptance, for
every scanner's findings), then the filters that only decide what is shown (`--severity`,
`--ignore-unfixed`, `--only-kev`). Suppressed findings are kept (JSON shows them with the
reason); filtered ones are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.report.findings import Finding

if TYPE_CHECKING:  # not imported at run time: `fs` and `config` use this module's filters only
    from customhouse.image.scan import ImageAnalysis

DEFAULT_IGNORE_FILE = ".customhouseignore.yaml"


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


def triage(
    findings: Sequence[Finding],
    ignore_file: Path | None,
    severities: Sequence[str] = (),
    ignore_unfixed: bool = False,
    only_kev: bool = False,
    today: date | None = None,
) -> tuple[list[Finding], list[str]]:
    """The steps every scanner's findings share: the ignore file (the given one, else
    ./.customhouseignore.yaml when present), then the display filters."""
    warnings: list[str] = []
    out = list(findings)
    ignore = ignore_file
    if ignore is None and Path(DEFAULT_IGNORE_FILE).is_file():
        ignore = Path(DEFAULT_IGNORE_FILE)
    if ignore is not None:
        from customhouse.match.ignore import apply_ignores, load_ignore_file

        out, expired = apply_ignores(out, load_ignore_file(ignore), today or date.today())
        warnings.extend(expired)
    return filter_findings(out, severities, ignore_unfixed, only_kev), warnings


def filter_findings(
    findings: Sequence[Finding], severities: Sequence[str], ignore_unfixed: bool, only_kev: bool
) -> list[Finding]:
    out = []
    for f in findings:
        v = f.vulnerability
        if severities and f.severity not in severities:
            continue
        if ignore_unfixed and v is not None and v.fix_state != "fixed":
            continue
        if only_kev and (v is None or not v.kev):
            continue
        out.append(f)
    return out


def gate(findings: Sequence[Finding], fail_on: str) -> bool:
    """True when the scan must exit 1: an unsuppressed finding at or above `fail_on`
    (a severity) or, with `kev`, any unsuppressed known-exploited vulnerability."""
    from customhouse.report.findings import severity_rank

    if not fail_on:
        return False
    for f in findings:
        if f.suppressed is not None:
            continue
        if fail_on == "kev":
            if f.vulnerability is not None and f.vulnerability.kev:
                return True
        elif severity_rank(f.severity) >= severity_rank(fail_on):
            return True
    return False
