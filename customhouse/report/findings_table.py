"""Findings as terminal tables: one per target, rows grouped by package, for people to read.

Never parsed (the JSON is the contract), so the layout may change. It must stay readable in
120 columns, which is why the fixed version and the fix state share a column (a version when
there is one, else why there is none) and severity sits over its source on two short lines.
Suppressed findings are left out, but a footer counts them so nothing disappears unnoticed.

Misconfigurations get one table per file (per resource, in a Kubernetes manifest), rows in
file order, because whoever reads them is about to edit that file top to bottom: line, check,
severity, what is wrong (title over this place's message) and the first sentence of the fix.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from customhouse.report.findings import Finding
from customhouse.report.scan_report import (
    PackageKey,
    ScanReport,
    fixed_in,
    group,
    is_misconfig,
    lines_label,
    misconfig_groups,
    short_fix,
    summary,
    visible,
)

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

WIDTH = 120
MAX_ALIASES = 2
MAX_TITLE = 90


def _epss(v: float | None) -> str:
    if v is None:
        return ""
    pct = v * 100
    return "<0.1%" if 0 < pct < 0.1 else f"{pct:.1f}%"


def _ids(f: Finding) -> str:
    aliases = [a for a in (f.vulnerability.aliases if f.vulnerability else ()) if a != f.id]
    lines = [f.id, *aliases[:MAX_ALIASES]]
    if len(aliases) > MAX_ALIASES:
        lines.append(f"+{len(aliases) - MAX_ALIASES} more")
    return "\n".join(lines)


def _title(f: Finding) -> str:
    t = " ".join((f.title or f.message).split())
    return t if len(t) <= MAX_TITLE else t[: MAX_TITLE - 1] + "…"


def _plain(s: str) -> Text:
    """Cell text taken literally: advisory titles contain brackets rich would read as markup."""
    from rich.text import Text

    return Text(s)


def _vuln_table(title: str, packages: list[tuple[PackageKey, list[Finding]]]) -> Table:
    """Columns sized to fit 120 characters with a title column of ~25; EPSS, KEV and risk
    columns appear only when some finding has the data, giving their room to the title."""
    from rich import box
    from rich.table import Table

    rows = [f for _k, fs in packages for f in fs]
    has_epss = any(f.vulnerability and f.vulnerability.epss is not None for f in rows)
    has_kev = any(f.vulnerability and f.vulnerability.kev for f in rows)
    has_risk = any(f.vulnerability and f.vulnerability.risk for f in rows)
    t = Table(title=_plain(title), title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    t.add_column("Package", overflow="fold", max_width=18)
    t.add_column("Installed", overflow="fold", max_width=14)
    t.add_column("Fixed in", overflow="fold", max_width=14)
    t.add_column("Vulnerability", overflow="fold", max_width=19)
    t.add_column("Severity", overflow="fold", max_width=8)
    if has_epss:
        t.add_column("EPSS", justify="right", max_width=5)
    if has_kev:
        t.add_column("KEV", max_width=3)
    if has_risk:
        t.add_column("Risk", justify="right", max_width=4)
    t.add_column("Title", overflow="fold", ratio=1)
    for _key, findings in packages:
        for i, f in enumerate(findings):
            v = f.vulnerability
            if v is None:
                continue
            sev = f.severity + (f"\n({v.severity_source})" if v.severity_source else "")
            cells = [
                v.package_name if i == 0 else "",
                v.package_version if i == 0 else "",
                fixed_in(v),
                _ids(f),
                sev,
            ]
            if has_epss:
                cells.append(_epss(v.epss))
            if has_kev:
                cells.append("yes" if v.kev else "")
            if has_risk:
                cells.append(f"{v.risk:.1f}" if v.risk else "")
            cells.append(_title(f))
            t.add_row(*map(_plain, cells), end_section=i == len(findings) - 1)
    return t


def _other_table(title: str, findings: list[Finding]) -> Table:
    from rich import box
    from rich.table import Table

    t = Table(title=_plain(title), title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    t.add_column("ID", overflow="fold", max_width=28)
    t.add_column("Kind", max_width=16)
    t.add_column("Severity", max_width=8)
    t.add_column("Where", overflow="fold", max_width=36)
    t.add_column("Title", overflow="fold", ratio=1)
    for f in findings:
        loc = f.location
        where = "/".join(x for x in (loc.resource_kind, loc.resource_namespace, loc.resource_name) if x)
        if loc.path:
            where = (where + " " if where else "") + loc.path + (f":{loc.line}" if loc.line else "")
        t.add_row(*map(_plain, (f.id, f.kind, f.severity, where, _title(f))))
    return t


_REMOVAL = {"whiteout": "deleted", "opaque": "hidden by an opaque directory", "overwritten": "overwritten"}
MAX_REMOVED_BY = 60


def secret_layers(f: Finding) -> list[str]:
    """Which layer of an image holds a secret and, when a later layer deleted or overwrote the
    file, that the secret is still there for anyone who pulls the image, and how it was hidden
    (empty outside image layers)."""
    d = f.secret
    if d is None or d.added_in_layer < 0:
        return []
    added = d.added_in_layer + 1
    if d.removed_in_layer < 0:
        return [f"in layer {added}"]
    lines = [f"removed in layer {d.removed_in_layer + 1}, still extractable from layer {added}"]
    how = _REMOVAL.get(d.removal, "removed")
    by = " ".join(d.removed_by.split())
    if len(by) > MAX_REMOVED_BY:
        by = by[: MAX_REMOVED_BY - 1] + "…"
    lines.append(f"({how} by {by})" if by else f"({how})")
    return lines


def _secret_table(title: str, findings: list[Finding]) -> Table:
    """Secrets: where (file and line, the image config's JSON path, or a manifest's resource),
    then the rule's title with the redacted secret and, for image layers, the layer that still
    holds it. The layer note gets a wide column: it is the line people must not miss."""
    from rich import box
    from rich.table import Table

    t = Table(title=_plain(title), title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False, expand=True)
    t.add_column("Rule", overflow="fold", max_width=26)
    t.add_column("Severity", max_width=8)
    t.add_column("Where", overflow="fold", max_width=30)
    t.add_column("Issue", overflow="fold", ratio=1)
    for f in findings:
        loc = f.location
        where = (loc.path + (f":{loc.line}" if loc.line else "")) if loc.path else loc.json_path
        resource = "/".join(x for x in (loc.resource_kind, loc.resource_namespace, loc.resource_name) if x)
        if resource:
            where = f"{where}\n{resource}" + (f" {loc.json_path}" if loc.path and loc.json_path else "")
        issue = " ".join(f.title.split())
        if f.secret is not None and f.secret.secret:
            issue += f" [{f.secret.secret}]"
        issue = "\n".join([issue, *secret_layers(f)])
        t.add_row(*map(_plain, (f.id, f.severity, where or "-", issue)))
    return t


def _issue(f: Finding) -> str:
    """Title, then the message when it says more than the title (it usually names the place)."""
    title = " ".join(f.title.split())
    msg = " ".join(f.message.split())
    if not msg or msg == title:
        return title or msg
    return f"{title}\n{msg}" if title else msg


def _misconfig_table(title: str, findings: list[Finding]) -> Table:
    """Line and check id stay narrow so the issue and the fix get the width; a finding about
    the whole file has no line, one about an image's configuration shows its JSON path."""
    from rich import box
    from rich.table import Table

    wheres = [
        lines_label(f) or (f.location.json_path if f.location.json_path not in ("", "$") else "") for f in findings
    ]
    by_path = any(w and not w[0].isdigit() for w in wheres)
    t = Table(title=_plain(title), title_justify="left", box=box.SIMPLE_HEAD, padding=0, pad_edge=False, expand=True)
    t.add_column("Where" if by_path else "Line", overflow="fold", max_width=28 if by_path else 9)
    t.add_column("Check", overflow="fold", max_width=16)
    t.add_column("Severity", max_width=8)
    t.add_column("Issue", overflow="fold", ratio=3)
    t.add_column("Fix", overflow="fold", ratio=2)
    for f, where in zip(findings, wheres, strict=True):
        t.add_row(*map(_plain, (where or "-", f.id, f.severity, _issue(f), short_fix(f.fix))))
    return t


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {n}" for k, n in counts.items() if n)


def render_table(report: ScanReport) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=WIDTH, force_terminal=False, color_system=None, emoji=False)
    findings = report.ordered()
    shown = visible(findings)
    for target, packages in group(report, shown):
        title = target
        if report.os and target == report.target.name:
            title += f" ({report.os.family} {report.os.version})".replace(" )", ")")
        vulns = [(k, [f for f in fs if f.vulnerability is not None]) for k, fs in packages]
        vulns = [(k, fs) for k, fs in vulns if fs]
        others = [f for _k, fs in packages for f in fs if f.vulnerability is None and not is_misconfig(f)]
        if vulns:
            console.print(_vuln_table(title, vulns))
        secrets = [f for f in others if f.kind == "secret"]
        others = [f for f in others if f.kind != "secret"]
        if secrets:
            console.print(_secret_table(title, secrets))
        if others:
            console.print(_other_table(title, others))
        for path, file_type, resources in misconfig_groups(report, (f for _k, fs in packages for f in fs)):
            label = path + (f" ({file_type})" if file_type else "")
            for resource, fs in resources:
                console.print(_misconfig_table(label + (f" — {resource}" if resource else ""), fs))
    s = summary(findings)
    line = _n(s["total"], "finding")
    if s["total"]:
        line += f" ({_counts(s['by_severity'])})"
    console.print(line, highlight=False)
    if s["suppressed"]:
        sources = ", ".join(f"{n} by {src}" for src, n in s["suppressed_by_source"].items())
        console.print(f"{_n(s['suppressed'], 'suppressed finding')} not shown ({sources})", highlight=False)
    for w in report.warnings:
        console.print(f"warning: {w}", highlight=False, markup=False)
    # rich pads every line to the console width; trailing blanks only make diffs noisy.
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
