"""CycloneDX 1.6 JSON, written directly as JSON rather than through cyclonedx-python-lib.

The library's model and serializer cost ~200 ms to import and ~150 ms to render 500 packages;
building the dicts here costs ~10 ms for both (numbers and the script that measures them:
tests/sbom/bench_cyclonedx.py). A warm scan must finish in well under 0.2 s, so the library
is only used by the tests, to validate what we write against the official 1.6 schema.

Deterministic by construction (CONVENTIONS.md): no `metadata.timestamp` and no `serialNumber`
(both optional; the spec asks serial numbers to differ between runs, which would break
byte-identical output), packages in the inventory's sorted order, bom-refs derived from purl
and path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from customhouse.model import Inventory, Package
from customhouse.report import sbom_common as sc
from customhouse.report.jsonlayout import dump_json

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis
    from customhouse.report.findings import Finding
    from customhouse.report.scan_report import ScanReport

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"


def render(analysis: ImageAnalysis) -> str:
    return dump_json(bom_dict(analysis.inventory))


def bom_dict(inv: Inventory) -> dict[str, Any]:
    ident = sc.image_identity(inv.target)
    image_ref = "image:" + (ident.version or sc.short_hash(ident.name))
    image: dict[str, Any] = {"type": "container", "bom-ref": image_ref, "name": ident.name}
    if ident.version:
        image["version"] = ident.version
    if ident.purl:
        image["purl"] = ident.purl
    image["properties"] = _props(sc.image_properties(inv.target, inv.layers))

    components: list[dict[str, Any]] = []
    refs: list[str] = []
    if inv.os is not None:
        os_ref = f"os:{inv.os.family}@{inv.os.version}"
        os_comp: dict[str, Any] = {"type": "operating-system", "bom-ref": os_ref, "name": inv.os.family}
        if inv.os.version:
            os_comp["version"] = inv.os.version
        if inv.os.name:
            os_comp["description"] = inv.os.name
        os_comp["properties"] = _props(sc.os_properties(inv.os))
        components.append(os_comp)
        refs.append(os_ref)
    used: set[str] = set(refs) | {image_ref}
    for p in inv.packages:
        comp = _component(p, used)
        components.append(comp)
        refs.append(comp["bom-ref"])

    return {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": sc.TOOL, "version": sc.tool_version()}]},
            "component": image,
        },
        "components": components,
        "dependencies": [{"ref": image_ref, "dependsOn": refs}],
    }


def _component(p: Package, used: set[str]) -> dict[str, Any]:
    ref = _bom_ref(p)
    n = 2
    while ref in used:  # only for duplicate packages; inventory order keeps it deterministic
        ref = f"{_bom_ref(p)}-{n}"
        n += 1
    used.add(ref)
    comp: dict[str, Any] = {"type": "library", "bom-ref": ref}
    supplier = sc.supplier_of(p)
    if supplier:
        comp["supplier"] = {"name": supplier}
    group, name = sc.display_name(p)
    if group:
        comp["group"] = group
    comp["name"] = name
    if p.version:
        comp["version"] = p.version
    lic = licenses(p.licenses)
    if lic:
        comp["licenses"] = lic
    if p.purl:
        comp["purl"] = p.purl
    props = sc.package_properties(p)
    if props:
        comp["properties"] = _props(props)
    return comp


def _bom_ref(p: Package) -> str:
    """The purl (readable in dependency graphs) tagged with a digest of purl and path.

    The purl alone is not unique: the same library vendored at two paths is two components.
    """
    key = sc.package_key(p)
    if not p.purl:
        return f"pkg-{p.type}-{p.name}@{p.version}#{key}"
    return f"{p.purl}#package-id={key}"


def licenses(values: tuple[str, ...]) -> list[dict[str, Any]]:
    """CycloneDX's license choice: a list of id/name objects, or exactly one expression.

    The schema forbids mixing the two, so licenses of which one is an expression are joined
    into one AND-expression (`sbom_common.conjunction`) when every part is SPDX; if any part
    is a free-text name (which an expression cannot hold) all parts are written as license
    objects, the expression as a name, so no text is lost.
    """
    entries = [e for e in (sc.classify_license(v) for v in values) if e is not None]
    if not entries:
        return []
    has_expr = any(e.kind == "expression" for e in entries)
    if has_expr and all(e.kind != "name" for e in entries):
        return [{"expression": sc.conjunction(entries, str)}]
    return [{"license": {"id": e.value} if e.kind == "id" else {"name": e.value}} for e in entries]


def _props(props: list[sc.Property]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in props]


# ----------------------------------------------------------------- vulnerabilities (VEX/VDR)

# Rating methods by CVSS version (the schema's `scoreMethod` enumeration).
_CVSS_METHOD = {"2.0": "CVSSv2", "3.0": "CVSSv3", "3.1": "CVSSv31", "4.0": "CVSSv4"}
# VEX justifications (OpenVEX and CSAF share their names) -> CycloneDX `impactAnalysisJustification`.
_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def render_cyclonedx(report: ScanReport) -> str:
    """The scanned inventory plus a `vulnerabilities` list: a CycloneDX VDR, with VEX
    analysis for what VEX documents or the ignore file suppressed."""
    return dump_json(bom_with_vulnerabilities(report))


def bom_with_vulnerabilities(report: ScanReport) -> dict[str, Any]:
    """`bom_dict` of the report's inventory, extended; components are added for affected
    packages the inventory lacks (or all of them, for a report without an inventory)."""
    inv = report.inventory or Inventory(target=report.target, os=report.os, packages=())
    bom = bom_dict(inv)
    if report.generated_at:
        bom["metadata"] = {"timestamp": report.generated_at, **bom["metadata"]}
    components: list[dict[str, Any]] = bom["components"]
    refs = _package_refs(inv, components)
    used = {c["bom-ref"] for c in components} | {bom["metadata"]["component"]["bom-ref"]}
    added: list[str] = []

    def ref_of(f: Finding) -> str:
        v = f.vulnerability
        assert v is not None
        for key in _lookup_keys(v.package_type, v.package_name, v.package_version, f.location.path, v.purl):
            if key in refs:
                return refs[key]
        p = Package(name=v.package_name, version=v.package_version, type=v.package_type, purl=v.purl)
        p = replace(p, path=f.location.path)
        comp = _component(p, used)
        components.append(comp)
        added.append(comp["bom-ref"])
        for key in _lookup_keys(p.type, p.name, p.version, p.path, p.purl):
            refs.setdefault(key, comp["bom-ref"])
        ref: str = comp["bom-ref"]
        return ref

    groups: dict[tuple[str, tuple[str, ...]], list[tuple[Finding, str]]] = {}
    for f in report.ordered():
        if f.vulnerability is None:
            continue
        groups.setdefault((f.id, _analysis_key(f)), []).append((f, ref_of(f)))
    if added:
        bom["dependencies"][0]["dependsOn"] = [*bom["dependencies"][0]["dependsOn"], *added]
    vulns = []
    seen: dict[str, int] = {}
    for (vid, _a), items in sorted(groups.items()):
        n = seen[vid] = seen.get(vid, 0) + 1
        vulns.append(_vulnerability(vid if n == 1 else f"{vid}:{n}", items))
    bom["vulnerabilities"] = vulns
    return bom


def _lookup_keys(ptype: str, name: str, version: str, path: str, purl: str) -> list[tuple[str, ...]]:
    """From most to least precise: a finding names its package by purl and file path."""
    keys: list[tuple[str, ...]] = []
    if purl:
        keys += [("purl", purl, path), ("purl", purl)]
    keys += [("pkg", ptype, name, version, path), ("pkg", ptype, name, version)]
    return keys


def _package_refs(inv: Inventory, components: list[dict[str, Any]]) -> dict[tuple[str, ...], str]:
    # bom_dict writes the OS component first, then one component per package in order.
    pkg_comps = components[1:] if inv.os is not None else components
    refs: dict[tuple[str, ...], str] = {}
    for p, comp in zip(inv.packages, pkg_comps, strict=True):
        for key in _lookup_keys(p.type, p.name, p.version, p.path, p.purl):
            refs.setdefault(key, comp["bom-ref"])
    return refs


def _analysis_key(f: Finding) -> tuple[str, ...]:
    s = f.suppressed
    return () if s is None else (s.source, s.status, s.justification, s.reason)


def _source(vid: str) -> dict[str, str]:
    from customhouse.report.scan_report import advisory_url

    up = vid.upper()
    name = "NVD" if up.startswith("CVE-") else "GitHub Advisories" if up.startswith("GHSA-") else "OSV"
    return {"name": name, "url": advisory_url(vid)}


def _vulnerability(bom_ref: str, items: list[tuple[Finding, str]]) -> dict[str, Any]:
    from customhouse.report.scan_report import cwes

    first = items[0][0]
    v = first.vulnerability
    assert v is not None
    out: dict[str, Any] = {"bom-ref": "vuln:" + bom_ref, "id": first.id, "source": _source(first.id)}
    aliases = sorted({a for f, _r in items for a in (f.vulnerability.aliases if f.vulnerability else ())} - {first.id})
    if aliases:
        out["references"] = [{"id": a, "source": _source(a)} for a in aliases]
    out["ratings"] = _ratings(items)
    cwe = sorted({c for f, _r in items for c in cwes(f)})
    if cwe:
        out["cwes"] = cwe
    if first.title or first.message:
        out["description"] = first.title or first.message
    if first.title and first.message and first.title != first.message:
        out["detail"] = first.message
    fixes = sorted(
        {
            f"Upgrade {f.vulnerability.package_name} to {f.vulnerability.fixed_version}"
            for f, _r in items
            if f.vulnerability and f.vulnerability.fixed_version
        }
    )
    if fixes:
        out["recommendation"] = "; ".join(fixes)
    urls = sorted({r for f, _r in items for r in f.references if r.startswith(("https://", "http://"))})
    if urls:
        out["advisories"] = [{"url": u} for u in urls]
    analysis = _analysis(first)
    if analysis:
        out["analysis"] = analysis
    status = "unaffected" if analysis.get("state") in ("not_affected", "resolved", "false_positive") else "affected"
    affects: dict[str, set[str]] = {}
    for f, ref in items:
        if f.vulnerability is not None:
            affects.setdefault(ref, set()).add(f.vulnerability.package_version)
    out["affects"] = [
        {"ref": ref, "versions": [{"version": ver, "status": status} for ver in sorted(vers) if ver]}
        for ref, vers in sorted(affects.items())
    ]
    for a in out["affects"]:
        if not a["versions"]:
            del a["versions"]
    props = _vuln_properties(items)
    if props:
        out["properties"] = props
    return out


def _ratings(items: list[tuple[Finding, str]]) -> list[dict[str, Any]]:
    """Every CVSS rating we hold, plus the severity we report under its own source.

    The reported severity may come from a distribution that publishes no score (Debian's
    `low` for an NVD 9.8): it is written as a rating with method `other`, so a reader sees
    both the score and the severity customhouse actually used.
    """
    seen: set[tuple[Any, ...]] = set()
    out: list[dict[str, Any]] = []
    for f, _r in items:
        v = f.vulnerability
        if v is None:
            continue
        for c in v.cvss:
            key = ("cvss", c.source, c.version, c.vector, c.score)
            if key in seen:
                continue
            seen.add(key)
            r: dict[str, Any] = {"source": {"name": c.source}, "score": c.score, "severity": _cdx_severity(c.severity)}
            r["method"] = _CVSS_METHOD.get(c.version, "other")
            if c.vector:
                r["vector"] = c.vector
            out.append(r)
        skey = ("severity", v.severity_source, f.severity)
        scored = any(c.source == v.severity_source and c.severity == f.severity for c in v.cvss)
        if skey not in seen and not scored:
            seen.add(skey)
            r = {"severity": _cdx_severity(f.severity), "method": "other"}
            if v.severity_source:
                r = {"source": {"name": v.severity_source}, **r}
            out.append(r)
    return out


def _cdx_severity(s: str) -> str:
    return s if s in ("critical", "high", "medium", "low", "info", "none", "unknown") else "unknown"


def _analysis(f: Finding) -> dict[str, Any]:
    """VEX analysis for a suppressed finding.

    VEX statuses map to CycloneDX states; an ignore-file entry is an accepted risk, which
    CycloneDX has no state for, so it carries only the detail (who ignored it and why)
    rather than a claim such as `not_affected` that nobody made.
    """
    from customhouse.match.vex import CDX_JUSTIFICATIONS, CDX_STATES

    s = f.suppressed
    if s is None:
        return {}
    state = {"not_affected": "not_affected", "fixed": "resolved", "false_positive": "false_positive"}.get(s.status)
    if state is None and s.status in CDX_STATES:
        state = s.status
    out: dict[str, Any] = {}
    if state:
        out["state"] = state
    just = _JUSTIFICATION.get(s.justification, s.justification)
    if state == "not_affected" and just in CDX_JUSTIFICATIONS:
        out["justification"] = just
    detail = f"{s.source}: {s.reason}" if s.reason else s.source
    if s.expires:
        detail += f" (until {s.expires})"
    out["detail"] = detail
    return out


def _vuln_properties(items: list[tuple[Finding, str]]) -> list[dict[str, str]]:
    props: list[sc.Property] = []
    f0 = items[0][0]
    v = f0.vulnerability
    assert v is not None
    if v.epss is not None:
        props.append((sc.NS + "epss", f"{v.epss:g}"))
    if v.epss_percentile is not None:
        props.append((sc.NS + "epss_percentile", f"{v.epss_percentile:g}"))
    if v.kev:
        props.append((sc.NS + "kev", "true"))
        if v.kev_due_date:
            props.append((sc.NS + "kev_due_date", v.kev_due_date))
    risk = max((f.vulnerability.risk for f, _r in items if f.vulnerability), default=0.0)
    if risk:
        props.append((sc.NS + "risk", f"{risk:g}"))
    states = sorted({f.vulnerability.fix_state for f, _r in items if f.vulnerability})
    props.extend((sc.NS + "fix_state", s) for s in states)
    props.extend((sc.NS + "fingerprint", f.fingerprint) for f, _r in items)
    if f0.suppressed is not None:
        props.append((sc.NS + "suppressed:source", f0.suppressed.source))
    return _props(props)
