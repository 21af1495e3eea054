"""What every finding renderer is fed: one scan's findings plus the context a reader needs.

Renderers are pure functions of a `ScanReport`, so the CLI decides everything that varies
between runs (a timestamp, the `--fail-on` threshold) and puts it here; two renders of the
same report are byte-identical. The helpers below are the parts several formats must agree
on (which findings count, how they are ordered and grouped, which CVSS score stands for a
vulnerability), kept in one place so the table, SARIF and JUnit never disagree about a count.

Only the standard library and our light model modules are imported: every scan pays for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from customhouse.model import Inventory, OSInfo, TargetInfo
from customhouse.report.findings import (
    CVSS,
    SEVERITIES,
    Finding,
    VulnerabilityDetail,
    fingerprint,
    severity_rank,
    sort_key,
)

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class ScanReport:
    """One scan, ready to render.

    `db` describes the vulnerability database used (`schema_version`, `built_at`, `age_days`),
    or None when no database was involved. `fail_on` is the `--fail-on` severity: formats that
    have a pass/fail notion (JUnit) fail exactly the findings the exit code counts; "" fails
    every unsuppressed finding. `generated_at` is written only when the caller sets it (an
    RFC 3339 time): reports carry no clock time unless asked (CONVENTIONS.md).
    """

    target: TargetInfo
    os: OSInfo | None
    findings: tuple[Finding, ...]
    inventory: Inventory | None = None
    db: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    schema_version: str = SCHEMA_VERSION
    fail_on: str = ""
    generated_at: str = ""
    # Misconfiguration scans: document (as `misconfig_file` names it) -> (check id, title) of
    # every check that ran on it, so JUnit can list the checks that passed. Optional: without
    # it only checks with findings appear.
    evaluated_checks: Mapping[str, Sequence[tuple[str, str]]] | None = None

    def ordered(self) -> list[Finding]:
        """All findings, fingerprinted and in the one deterministic report order."""
        return ordered(self.findings)

    def label(self, f: Finding) -> str:
        """The target a finding is grouped under: its own, else the scanned one."""
        return f.target or self.target.name


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """`sort_findings` order, ties broken by fingerprint so equal keys cannot swap places."""
    done = [f if f.fingerprint else replace(f, fingerprint=fingerprint(f)) for f in findings]
    return sorted(done, key=lambda f: (*sort_key(f), f.fingerprint))  # one pass, not two stable ones


def visible(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.suppressed is None]


def fails(f: Finding, fail_on: str) -> bool:
    """Whether `f` counts against `--fail-on` (suppressed findings never do)."""
    if f.suppressed is not None:
        return False
    return not fail_on or severity_rank(f.severity) >= severity_rank(fail_on)


def summary(findings: Sequence[Finding]) -> dict[str, Any]:
    """Counts for report headers; suppressed findings are counted apart, never in the totals."""
    by_sev = dict.fromkeys(SEVERITIES, 0)
    sup_by_sev = dict.fromkeys(SEVERITIES, 0)
    by_source: dict[str, int] = {}
    fixable = 0
    for f in findings:
        if f.suppressed is None:
            by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
            if f.vulnerability is not None and f.vulnerability.fix_state == "fixed":
                fixable += 1
        else:
            sup_by_sev[f.severity] = sup_by_sev.get(f.severity, 0) + 1
            kind = f.suppressed.source.partition(":")[0]
            by_source[kind] = by_source.get(kind, 0) + 1
    return {
        "total": sum(by_sev.values()),
        "by_severity": by_sev,
        "fixable": fixable,
        "suppressed": sum(sup_by_sev.values()),
        "suppressed_by_severity": sup_by_sev,
        "suppressed_by_source": dict(sorted(by_source.items())),
    }


PackageKey = tuple[str, str, str, str, str]  # (type, name, version, path, purl)


def package_key(f: Finding) -> PackageKey:
    """Which package (or, for other kinds, which place) a finding belongs to."""
    v = f.vulnerability
    if v is not None:
        return (v.package_type, v.package_name, v.package_version, f.location.path, v.purl)
    loc = f.location
    where = "/".join(x for x in (loc.resource_kind, loc.resource_namespace, loc.resource_name) if x)
    return ("", where or loc.path, "", loc.path, "")


def group(report: ScanReport, findings: Iterable[Finding]) -> list[tuple[str, list[tuple[PackageKey, list[Finding]]]]]:
    """Findings by target, then by package, both sorted; findings keep report order inside.

    Packages are ordered worst first (highest severity among their findings), then by name,
    so the package a reader should look at first is on top of its target.
    """
    targets: dict[str, dict[PackageKey, list[Finding]]] = {}
    for f in findings:
        targets.setdefault(report.label(f), {}).setdefault(package_key(f), []).append(f)
    out = []
    for name in sorted(targets):
        pkgs = targets[name]
        keys = sorted(pkgs, key=lambda k: (-max(severity_rank(f.severity) for f in pkgs[k]), k))
        out.append((name, [(k, pkgs[k]) for k in keys]))
    return out


# ----------------------------------------------------------------- misconfigurations


def is_misconfig(f: Finding) -> bool:
    return f.kind == "misconfiguration"


def misconfig_file(f: Finding, report: ScanReport) -> str:
    """The document a misconfiguration is in, as reports group it: its file, or for an image's
    configuration (which is no file, and whose findings may name files inside the image) the
    image itself."""
    d = f.misconfiguration
    if d is not None and d.file_type == "image-config":
        return report.label(f)
    return f.location.path or report.label(f)


def resource_label(f: Finding) -> str:
    """`Deployment shop/api`: the resource a finding in a Kubernetes manifest is about."""
    loc = f.location
    name = "/".join(x for x in (loc.resource_namespace, loc.resource_name) if x)
    return " ".join(x for x in (loc.resource_kind, name) if x)


def lines_label(f: Finding) -> str:
    """`12` or `12-14`; "" for a finding about a whole file."""
    loc = f.location
    if loc.line <= 0:
        return ""
    return f"{loc.line}-{loc.end_line}" if loc.end_line > loc.line else str(loc.line)


MisconfigGroup = tuple[str, str, list[tuple[str, list[Finding]]]]  # (file, file type, [(resource, findings)])


def misconfig_groups(report: ScanReport, findings: Iterable[Finding]) -> list[MisconfigGroup]:
    """Misconfiguration findings by file, then by resource (Kubernetes manifests; "" otherwise).

    Files are ordered worst first, then by path; inside a file, findings follow the file from
    top to bottom, which is how someone fixing it reads it.
    """
    files: dict[str, dict[str, list[Finding]]] = {}
    types: dict[str, str] = {}
    for f in findings:
        if not is_misconfig(f):
            continue
        name = misconfig_file(f, report)
        files.setdefault(name, {}).setdefault(resource_label(f), []).append(f)
        if f.misconfiguration is not None:
            types.setdefault(name, f.misconfiguration.file_type)

    def worst(resources: dict[str, list[Finding]]) -> int:
        return max(severity_rank(f.severity) for fs in resources.values() for f in fs)

    out: list[MisconfigGroup] = []
    for name in sorted(files, key=lambda n: (-worst(files[n]), n)):
        resources = files[name]
        groups = [
            (res, sorted(fs, key=lambda f: (f.location.line, f.location.column, f.id, f.message, f.fingerprint)))
            for res, fs in sorted(resources.items(), key=lambda kv: (min(f.location.line for f in kv[1]), kv[0]))
        ]
        out.append((name, types.get(name, ""), groups))
    return out


def short_fix(text: str, limit: int = 100) -> str:
    """The first sentence of a fix, for narrow cells; full text stays in JSON and SARIF."""
    t = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", t)
    first = t[: m.start()] if m else t
    return first if len(first) <= limit else first[: limit - 1] + "…"


# ----------------------------------------------------------------------------- CVSS

_CVSS_VERSION_RANK = {"4.0": 4, "3.1": 3, "3.0": 2, "2.0": 1}


def primary_cvss(v: VulnerabilityDetail) -> CVSS | None:
    """The score that stands for the vulnerability: the severity source's own, else NVD's,
    newest CVSS version first. Picking by source keeps score and severity from disagreeing
    where we can (a distribution's rating usually comes with its own vector, or none)."""
    if not v.cvss:
        return None
    return max(
        v.cvss,
        key=lambda c: (
            c.source == v.severity_source,
            c.source == "nvd",
            _CVSS_VERSION_RANK.get(c.version, 0),
            c.score,
            c.vector,
        ),
    )


# A score per severity for when no CVSS score agrees with the severity we report: the middle
# of the band GitHub maps back to the same severity (over 9.0 critical, 7.0-8.9 high, ...).
SEVERITY_SCORE = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 2.0, "info": 0.0, "unknown": 0.0}


def severity_score(f: Finding) -> float:
    """A 0-10 number consistent with `f.severity`: the primary CVSS score when it falls in the
    same band, so tools that re-derive a severity from the number agree with ours."""
    c = primary_cvss(f.vulnerability) if f.vulnerability else None
    if c is not None and c.version != "2.0" and c.severity == f.severity:
        return c.score
    return SEVERITY_SCORE.get(f.severity, 0.0)


# ------------------------------------------------------------------------ references


def advisory_url(vuln_id: str) -> str:
    """A page that describes `vuln_id`, from the id's own namespace."""
    up = vuln_id.upper()
    if up.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{up}"
    if up.startswith("GHSA-"):
        return f"https://github.com/advisories/{vuln_id}"
    return f"https://osv.dev/vulnerability/{vuln_id}"


def help_url(f: Finding) -> str:
    """The first http(s) reference of a finding, else the advisory page for its id."""
    for r in f.references:
        if r.startswith(("https://", "http://")):
            return r
    return advisory_url(f.id) if f.kind == "vulnerability" else ""


FIX_STATE_LABEL = {
    "not_fixed": "no fix",
    "will_not_fix": "won't fix",
    "end_of_life": "end of life",
    "unknown": "unknown",
}


def fixed_in(v: VulnerabilityDetail) -> str:
    """The fixed version, or what the fix state says instead of one."""
    if v.fixed_version:
        return v.fixed_version
    return FIX_STATE_LABEL.get(v.fix_state, v.fix_state)


def cwes(f: Finding) -> list[int]:
    """CWE numbers a scanner attached as `("CWE", "CWE-79")` framework mappings."""
    out: set[int] = set()
    for framework, control in f.frameworks:
        if framework.upper() != "CWE":
            continue
        digits = control.upper().removeprefix("CWE-")
        if digits.isdigit():
            out.add(int(digits))
    return sorted(out)


def tool_version() -> str:
    from customhouse import __version__

    return __version__
