"""Markdown for pull-request comments: a summary table, then one section per package (or,
for misconfigurations, per file: a PR comment is read next to the diff, file by file).

Written for GitHub-flavoured Markdown as a PR comment shows it: table cells escaped (a `|` in
an advisory title would split the row), ids linked to their advisories, and the whole body
kept under GitHub's comment size limit by dropping the least severe packages first and
saying how many were left out, rather than letting the API reject the comment.
"""

from __future__ import annotations

from customhouse.report.findings import SEVERITIES, Finding
from customhouse.report.scan_report import (
    MisconfigGroup,
    PackageKey,
    ScanReport,
    advisory_url,
    fixed_in,
    group,
    help_url,
    is_misconfig,
    lines_label,
    misconfig_groups,
    short_fix,
    summary,
    visible,
)

# GitHub rejects comments over 65,536 characters; leave room for text a CI step adds.
MAX_CHARS = 60_000


def _cell(text: str) -> str:
    """Text safe inside a table cell: one line, pipes and HTML-ish brackets escaped."""
    text = " ".join(text.split())
    for ch in "\\|*_`[]":
        text = text.replace(ch, "\\" + ch)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Inline code that survives backticks inside (versions never have them; names might)."""
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _link(f: Finding) -> str:
    url = advisory_url(f.id) if f.kind == "vulnerability" else help_url(f)
    label = _cell(f.id)
    return f"[{label}]({url})" if url else label


def _epss(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def _heading(key: PackageKey) -> str:
    ptype, name, version, path, _purl = key
    if not ptype:
        return f"#### {_cell(name or path)}"
    where = f" — {_code(path)}" if path else ""
    return f"#### {_code(name)} {_code(version)} ({ptype}){where}"


def _section(key: PackageKey, findings: list[Finding]) -> str:
    lines = [_heading(key), ""]
    if key[0]:
        lines += [
            "| Vulnerability | Severity | Fixed in | EPSS | KEV | Title |",
            "| --- | --- | --- | ---: | :-: | --- |",
        ]
        for f in findings:
            v = f.vulnerability
            if v is None:
                continue
            aliases = [a for a in v.aliases if a != f.id]
            ident = _link(f) + (f"<br>{_cell(', '.join(aliases))}" if aliases else "")
            sev = f.severity + (f" ({_cell(v.severity_source)})" if v.severity_source else "")
            lines.append(
                f"| {ident} | {sev} | {_cell(fixed_in(v))} | {_epss(v.epss)} | {'yes' if v.kev else ''}"
                f" | {_cell(f.title or f.message)} |"
            )
    else:
        lines += ["| ID | Severity | Location | Title |", "| --- | --- | --- | --- |"]
        for f in findings:
            loc = f.location.path + (f":{f.location.line}" if f.location.line else "")
            lines.append(f"| {_link(f)} | {f.severity} | {_cell(loc)} | {_cell(f.title or f.message)} |")
    return "\n".join(lines) + "\n"


def _file_section(group: MisconfigGroup) -> str:
    """One file: its findings in file order, the resource column only for manifests."""
    path, file_type, resources = group
    has_resource = any(res for res, _fs in resources)
    lines = [f"#### {_code(path)}" + (f" ({_cell(file_type)})" if file_type else ""), ""]
    head = ["Line", "Check", "Severity", "Issue", "Fix"]
    if has_resource:
        head.insert(0, "Resource")
    lines += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for res, fs in resources:
        for f in fs:
            where = lines_label(f) or (_code(f.location.json_path) if f.location.json_path not in ("", "$") else "file")
            issue = f"**{_cell(f.title)}**" if f.title else ""
            if f.message and f.message != f.title:
                issue += ("<br>" if issue else "") + _cell(f.message)
            cells = [where, _link(f), f.severity, issue, _cell(short_fix(f.fix, 160))]
            if has_resource:
                cells.insert(0, _cell(res))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(report: ScanReport) -> str:
    findings = report.ordered()
    s = summary(findings)
    head = [f"## customhouse: {_cell(report.target.name)}", ""]
    facts = []
    if report.os is not None:
        facts.append(f"OS: {_cell(report.os.family)} {_cell(report.os.version)}")
    if report.inventory is not None:
        facts.append(f"{len(report.inventory.packages)} packages scanned")
    if report.db is not None and report.db.get("built_at"):
        facts.append(f"vulnerability database built {_cell(str(report.db['built_at']))}")
    if facts:
        head += [" · ".join(facts), ""]
    if s["total"] == 0:
        head.append("**No findings.**")
    else:
        head.append(f"**{s['total']} finding{'s' if s['total'] != 1 else ''}**")
    if s["suppressed"]:
        head[-1] += f" ({s['suppressed']} suppressed, not listed)"
    head.append("")
    if s["total"] or s["suppressed"]:
        head += ["| Severity | Findings | Suppressed |", "| --- | ---: | ---: |"]
        for sev in SEVERITIES:
            n, sup = s["by_severity"][sev], s["suppressed_by_severity"][sev]
            if n or sup:
                head.append(f"| {sev} | {n} | {sup} |")
        head.append("")
    tail = [f"> warning: {_cell(w)}" for w in sorted(set(report.warnings))]
    tail = [*tail, ""] if tail else []

    body: list[str] = []
    size = sum(len(x) + 1 for x in head + tail)
    shown = visible(findings)
    sections: list[tuple[str, str]] = []  # (target, section text)
    for t, pkgs in group(report, [f for f in shown if not is_misconfig(f)]):
        sections += [(t, _section(k, fs)) for k, fs in pkgs]
    for g in misconfig_groups(report, shown):
        first = g[2][0][1][0]  # every finding of a file belongs to the same target
        sections.append((report.label(first), _file_section(g)))
    sections.sort(key=lambda s: s[0])  # stable: per target, packages then files, each worst first
    targets = {t for t, _s in sections}
    omitted = 0
    current = ""
    for i, (target, text) in enumerate(sections):
        chunk = ""
        if len(targets) > 1 and target != current:
            chunk += f"### {_cell(target)}\n\n"
        chunk += text
        if size + len(chunk) + 200 > MAX_CHARS:
            omitted = len(sections) - i
            break
        current = target
        body.append(chunk)
        size += len(chunk) + 1
    if omitted:
        noun = "package" if all(not is_misconfig(f) for f in shown) else "section"
        body.append(
            f"_{omitted} more {noun}{'s' if omitted != 1 else ''} not shown (comment size limit);"
            " see the JSON or SARIF report for all findings._\n"
        )
    return "\n".join(head) + "\n" + "\n".join(body) + ("\n" + "\n".join(tail) if tail else "")
