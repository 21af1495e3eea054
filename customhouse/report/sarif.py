"""SARIF 2.1.0, shaped for GitHub code scanning (the consumer most users upload it to).

One rule per finding id (a vulnerability id for vulnerabilities), one result per affected
package. GitHub's ingestion adds constraints the schema does not state, and each is met here
on purpose: exactly one run; every rule has short and full descriptions, help text and a
`security-severity` that is a numeric string; every result has a non-empty message, a
`ruleIndex` that points at its rule, and a location with a relative `artifactLocation.uri`
and a `region.startLine` (an image's files are not in the repository, so the line is 1 when
the finding has none); `partialFingerprints` carries our fingerprint, including as
`primaryLocationLineHash`, the one key GitHub reads, so alerts stay the same alert across
runs even though no source line hashes are available for files inside an image.

Suppressed findings are kept as results with a SARIF `suppressions` entry (the standard way
to say "found, and accepted"), so the log still shows what was dismissed and by whom.

Misconfigurations are about lines of files in the repository, which is what SARIF was made
for: rules carry the check's own description, rationale and remediation and its framework
controls as tags; results carry the offending lines as the region's snippet and, when the
check knows the exact replacement, a SARIF `fix` that replaces those lines, which GitHub and
editors can offer to apply.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

from customhouse.report.findings import Finding, severity_rank
from customhouse.report.jsonlayout import dump_json
from customhouse.report.sbom_common import image_identity
from customhouse.report.scan_report import ScanReport, fixed_in, help_url, primary_cvss, severity_score, tool_version

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
MAX_RULE_ID = 255  # GitHub rejects longer rule ids
MAX_DESCRIPTION = 1000  # GitHub truncates full descriptions beyond this
MAX_TAGS = 20  # GitHub rejects a rule with more tags
FINGERPRINT_KEY = "customhouse/v1"
_SEMVER = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# Pascal-case rule names per kind (SARIF asks for an identifier-like name, not the message).
RULE_NAME = {
    "vulnerability": "VulnerablePackage",
    "secret": "ExposedSecret",
    "misconfiguration": "Misconfiguration",
    "runtime": "RuntimeEvent",
}


def level(severity: str) -> str:
    """CONVENTIONS.md mapping; an unknown severity is a warning, neither alarm nor noise."""
    return LEVEL.get(severity, "warning")


def rule_id(fid: str) -> str:
    if len(fid) <= MAX_RULE_ID:
        return fid
    digest = hashlib.sha256(fid.encode()).hexdigest()[:16]
    return fid[: MAX_RULE_ID - 17] + "-" + digest


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def artifact_uri(path: str) -> str:
    """A relative URI reference for a path in the image (or the repository).

    Every character outside the unreserved set and `/` is percent-encoded: a colon in the
    first segment (`alpine:3.19`) would otherwise make it an absolute URI with a scheme.
    """
    return quote(path.lstrip("/"), safe="/-._~!$&'()*+,;=@") or "."


def _pascal(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name[:1].isalpha() else ""


def _rule(fid: str, findings: list[Finding]) -> dict[str, Any]:
    worst = max(findings, key=lambda f: (severity_rank(f.severity), severity_score(f)))
    title = worst.title or worst.id
    full = worst.message or title
    detail = worst.misconfiguration
    name = RULE_NAME.get(worst.kind, "Finding")
    if detail is not None:
        # A check describes itself; a finding's message describes one place.
        full = detail.description or title
        name = _pascal(title)[:100] or name
    rule: dict[str, Any] = {
        "id": rule_id(fid),
        "name": name,
        "shortDescription": {"text": _clip(title)},
        "fullDescription": {"text": _clip(full)},
        "defaultConfiguration": {"level": level(worst.severity)},
    }
    url = help_url(worst)
    if url:
        rule["helpUri"] = url
    text, markdown = _misconfig_help(worst) if detail is not None else _help(worst, findings)
    rule["help"] = {"text": text, "markdown": markdown}
    tags = ["security", worst.kind, worst.severity]
    if worst.vulnerability is not None:
        tags += sorted({f.vulnerability.package_type for f in findings if f.vulnerability})
    if detail is not None:
        tags += sorted({f.misconfiguration.file_type for f in findings if f.misconfiguration})
        if detail.check_source.startswith("rego:"):
            tags.append("custom-policy")
        # The control, not just the framework: "CIS Docker Benchmark 4.1" is what auditors search.
        tags += [f"{fw} {c}" for fw, c in worst.frameworks]
    tags += sorted({fw for f in findings for fw, _c in f.frameworks})
    props: dict[str, Any] = {
        "tags": list(dict.fromkeys(t for t in tags if t))[:MAX_TAGS],
        "precision": "very-high",
        "security-severity": f"{severity_score(worst):.1f}",
    }
    rule["properties"] = props
    return rule


def _help(f: Finding, findings: list[Finding]) -> tuple[str, str]:
    """Rule help: what the issue is, how bad by which source, and what fixes it, per package."""
    v = f.vulnerability
    lines_t = [f"{f.id}: {f.title or f.message}"]
    lines_m = [f"**{f.id}**: {f.title or f.message}", ""]
    if v is not None:
        if len(v.aliases) > 1:
            aliases = ", ".join(a for a in v.aliases if a != f.id)
            lines_t.append(f"Also known as: {aliases}")
            lines_m.append(f"Also known as: {aliases}")
        src = f" ({v.severity_source})" if v.severity_source else ""
        lines_t.append(f"Severity: {f.severity}{src}")
        lines_m.append(f"Severity: {f.severity}{src}")
        c = primary_cvss(v)
        if c is not None:
            lines_t.append(f"CVSS {c.version}: {c.score:.1f} {c.vector} ({c.source})")
            lines_m.append(f"CVSS {c.version}: {c.score:.1f} `{c.vector}` ({c.source})")
        lines_m += ["", "| Package | Installed | Fixed in |", "| --- | --- | --- |"]
        for g in findings:
            gv = g.vulnerability
            if gv is None:
                continue
            lines_t.append(f"{gv.package_name} {gv.package_version}: fixed in {fixed_in(gv)}")
            lines_m.append(f"| {_md(gv.package_name)} | {_md(gv.package_version)} | {_md(fixed_in(gv))} |")
    elif f.fix:
        lines_t.append(f"Fix: {f.fix}")
        lines_m.append(f"Fix: {_md(f.fix)}")
    refs = [r for r in f.references if r.startswith(("https://", "http://"))]
    if refs:
        lines_t.append("References: " + " ".join(refs))
        lines_m += ["", *[f"- <{r}>" for r in refs]]
    return "\n".join(lines_t), "\n".join(lines_m)


def _misconfig_help(f: Finding) -> tuple[str, str]:
    """Rule help for a check: what it looks for, why it matters, how to fix it, where it maps."""
    d = f.misconfiguration
    assert d is not None
    # `rationale` and `remediation` are read when the detail carries them; until then the
    # finding's fix (the check's remediation unless the check said something more specific).
    rationale = str(getattr(d, "rationale", "") or "")
    remediation = str(getattr(d, "remediation", "") or f.fix)
    lines_t = [f"{f.id}: {f.title}"]
    lines_m = [f"**{f.id}**: {_md(f.title)}", ""]
    if d.description and d.description != f.title:
        lines_t.append(d.description)
        lines_m += [d.description, ""]
    if rationale:
        lines_t.append(f"Why: {rationale}")
        lines_m += [f"**Why:** {rationale}", ""]
    if remediation:
        lines_t.append(f"Fix: {remediation}")
        lines_m += [f"**Fix:** {remediation}", ""]
    lines_t.append(f"Severity: {f.severity}. Applies to: {d.file_type}.")
    lines_m.append(f"Severity: {f.severity} · applies to: {d.file_type}")
    if d.check_source.startswith("rego:"):
        lines_t.append(f"Custom policy: {d.check_source.removeprefix('rego:')}")
        lines_m.append(f"Custom policy: `{d.check_source.removeprefix('rego:')}`")
    if f.frameworks:
        lines_t.append("Frameworks: " + "; ".join(f"{fw} {c}" for fw, c in f.frameworks))
        lines_m += ["", "| Framework | Control |", "| --- | --- |"]
        lines_m += [f"| {_md(fw)} | {_md(c)} |" for fw, c in f.frameworks]
    refs = [r for r in f.references if r.startswith(("https://", "http://"))]
    if refs:
        lines_t.append("References: " + " ".join(refs))
        lines_m += ["", *[f"- <{r}>" for r in refs]]
    return "\n".join(lines_t), "\n".join(lines_m).rstrip()


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _message(f: Finding) -> str:
    v = f.vulnerability
    if v is None:
        return f.message or f.title or f.id
    text = f"Package {v.package_name} {v.package_version} is affected by {f.id} ({f.severity})"
    if f.title:
        text += f": {f.title.rstrip('.')}"
    text += "."
    if v.fixed_version:
        text += f" Fixed in {v.fixed_version}."
    elif v.fix_state != "fixed":
        text += f" Fix: {fixed_in(v)}."
    return text


def _location(f: Finding, report: ScanReport) -> dict[str, Any]:
    loc = f.location
    region: dict[str, Any] = {"startLine": loc.line if loc.line > 0 else 1}
    if loc.column > 0:
        region["startColumn"] = loc.column
    if loc.end_line >= region["startLine"]:
        region["endLine"] = loc.end_line
    d = f.misconfiguration
    if d is not None and d.snippet and loc.line > 0:
        region["snippet"] = {"text": d.snippet}
    out: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(loc.path or report.label(f))},
            "region": region,
        }
    }
    logical = []
    v = f.vulnerability
    if v is not None:
        logical.append({"name": v.package_name, "fullyQualifiedName": v.purl or v.package_name, "kind": "package"})
    elif loc.resource_kind or loc.resource_name:
        parts = [p for p in (loc.resource_kind, loc.resource_namespace, loc.resource_name) if p]
        logical.append({"name": loc.resource_name or loc.resource_kind, "fullyQualifiedName": "/".join(parts)})
    if logical:
        out["logicalLocations"] = logical
    return out


def _result(f: Finding, index: int, report: ScanReport) -> dict[str, Any]:
    fp = f.fingerprint
    res: dict[str, Any] = {
        "ruleId": rule_id(f.id),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": _message(f)},
        "locations": [_location(f, report)],
        "partialFingerprints": {
            FINGERPRINT_KEY: fp,
            "primaryLocationLineHash": fp.removeprefix("sha256:")[:16] + ":1",
        },
    }
    if f.suppressed is not None:
        s = f.suppressed
        just = s.reason + (f" ({s.justification})" if s.justification else "")
        res["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": just, "properties": {"source": s.source}}
        ]
    props: dict[str, Any] = {"severity": f.severity}
    v = f.vulnerability
    if v is not None:
        props.update(
            {
                "purl": v.purl,
                "installedVersion": v.package_version,
                "fixedVersion": v.fixed_version,
                "fixState": v.fix_state,
            }
        )
        if v.epss is not None:
            props["epss"] = v.epss
        if v.kev:
            props["kev"] = True
        if v.risk:
            props["risk"] = v.risk
    if f.location.layer_digest:
        props["layerDigest"] = f.location.layer_digest
    d = f.misconfiguration
    if d is not None:
        props.update({"fileType": d.file_type, "checkSource": d.check_source})
        if f.location.json_path:
            props["jsonPath"] = f.location.json_path
        fix = _fix(f, report)
        if fix is not None:
            res["fixes"] = [fix]
    res["properties"] = props
    return res


def _fix(f: Finding, report: ScanReport) -> dict[str, Any] | None:
    """A SARIF fix replacing the finding's lines with the check's replacement.

    The snippet is the whole lines `line`..`end_line` (what `Violation.snippet` defaults to);
    when its line count says otherwise the exact region is unknown and no fix is offered,
    because a fix applied to the wrong columns corrupts the file.
    """
    d = f.misconfiguration
    loc = f.location
    if d is None or not d.replacement or not d.snippet or loc.line <= 0:
        return None
    end = max(loc.end_line, loc.line)
    lines = d.snippet.split("\n")
    if len(lines) != end - loc.line + 1:
        return None
    region = {"startLine": loc.line, "startColumn": 1, "endLine": end, "endColumn": len(lines[-1]) + 1}
    return {
        "description": {"text": f.fix or f"Replace with: {d.replacement}"},
        "artifactChanges": [
            {
                "artifactLocation": {"uri": artifact_uri(loc.path or report.label(f))},
                "replacements": [{"deletedRegion": region, "insertedContent": {"text": d.replacement}}],
            }
        ],
    }


def sarif_dict(report: ScanReport) -> dict[str, Any]:
    findings = report.ordered()
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.id, []).append(f)
    ids = sorted(by_rule)
    index = {fid: i for i, fid in enumerate(ids)}
    rules = [_rule(fid, by_rule[fid]) for fid in ids]
    results = [_result(f, index[f.id], report) for f in findings]

    invocation: dict[str, Any] = {"executionSuccessful": True}
    if report.generated_at:
        invocation["endTimeUtc"] = report.generated_at
    if report.warnings:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": w}} for w in sorted(set(report.warnings))
        ]
    t = report.target
    ident = image_identity(t)
    run_props: dict[str, Any] = {"target": t.name, "targetKind": t.kind}
    if t.image_id:
        run_props["imageId"] = t.image_id
    if t.repo_digests:
        run_props["repoDigests"] = list(t.repo_digests)
    if ident.purl:
        run_props["imagePurl"] = ident.purl
    if report.os is not None:
        run_props["os"] = f"{report.os.family} {report.os.version}".strip()
    if report.db is not None:
        run_props["db"] = dict(sorted(report.db.items()))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "customhouse",
                "version": tool_version(),
                **({"semanticVersion": tool_version()} if _SEMVER.fullmatch(tool_version()) else {}),
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": run_props,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_sarif(report: ScanReport) -> str:
    return dump_json(sarif_dict(report), inline_depth=5)
