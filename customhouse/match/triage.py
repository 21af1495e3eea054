"""The steps every scanner's findings go through after the scan: ignore file, filters, gate.

Order matters and is documented (docs/suppression.md): the ignore file (the user's own risk
acceptance) suppresses, then the display filters (`--severity`, `--ignore-unfixed`,
`--only-kev`) drop, then `--fail-on` decides the exit code. Suppressed findings are kept, with
the reason; filtered ones are gone.

This module stays free of heavy imports: `fs` and `config` start here on every run, and most
runs have no ignore file, so `customhouse.match.ignore` (and its YAML reader) is imported only
when one is found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date

    from customhouse.match.ignore import IgnoreRule
    from customhouse.report.findings import Finding

DEFAULT_IGNORE_FILE = ".customhouseignore.yaml"


def ignore_rules(explicit: Path | None) -> list[IgnoreRule]:
    """The entries of the ignore file in force: `explicit`, else ./.customhouseignore.yaml when
    present, else none. Commands read it before they scan, so a broken file fails fast (exit 3)
    instead of after minutes of work."""
    path = explicit
    if path is None and Path(DEFAULT_IGNORE_FILE).is_file():
        path = Path(DEFAULT_IGNORE_FILE)
    if path is None:
        return []
    from customhouse.match.ignore import load_ignore_file

    return load_ignore_file(path)


def apply_ignore_rules(
    findings: Sequence[Finding], rules: Sequence[IgnoreRule], today: date | None = None
) -> tuple[list[Finding], list[str]]:
    """`findings` with the ignore entries applied, and a warning per expired entry."""
    if not rules:
        return list(findings), []
    from datetime import date

    from customhouse.match.ignore import apply_ignores

    return apply_ignores(findings, rules, today or date.today())


def triage(
    findings: Sequence[Finding],
    ignore_file: Path | None,
    severities: Sequence[str] = (),
    ignore_unfixed: bool = False,
    only_kev: bool = False,
    today: date | None = None,
) -> tuple[list[Finding], list[str]]:
    """The ignore file (the given one, else ./.customhouseignore.yaml when present), then the
    display filters; returns the findings and the warnings (expired ignore entries)."""
    out, warnings = apply_ignore_rules(findings, ignore_rules(ignore_file), today)
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
