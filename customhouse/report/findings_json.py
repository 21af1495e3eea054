"""customhouse's findings JSON: the machine-readable report every other tool can rely on.

The shape is a contract (docs/report-formats.md): versioned by `schema_version`, fields only
ever added, every field always present (empty rather than missing) so consumers need no
"is it there" checks. Suppressed findings stay in, with their suppression, because a report
that silently drops them cannot be audited; they are counted apart in `summary`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from json.encoder import encode_basestring_ascii as _plain  # what json.dumps writes for a str
from typing import Any

from customhouse.report.findings import Finding, Location, MisconfigDetail
from customhouse.report.jsonlayout import EncodedItems, dump_json, encode
from customhouse.report.scan_report import ScanReport, summary, tool_version


def finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    # (framework, control) pairs read better as objects than as two-element arrays.
    d["frameworks"] = [{"framework": a, "control": b} for a, b in f.frameworks]
    if f.misconfiguration is not None:
        # Check-specific facts are looked up by name (`extra.pss_check`), so an object.
        d["misconfiguration"]["extra"] = dict(f.misconfiguration.extra)
    return d


_LINE = "_json_line"
_NAMES: dict[type, tuple[str, ...]] = {}


def _flat(obj: Any) -> dict[str, Any]:
    """A dataclass whose fields are JSON leaves or tuples of them, as a dict (tuples encode as arrays)."""
    names = _NAMES.get(obj.__class__)
    if names is None:
        names = _NAMES[obj.__class__] = tuple(f.name for f in fields(obj))
    return {n: getattr(obj, n) for n in names}


def _line_dict(f: Finding) -> dict[str, Any]:
    """`finding_dict` for encoding only: the same JSON text, built without the generic walk (a
    third of the encoding time of a finding). Tests hold the two to the same text."""
    d = _flat(f)
    d["location"] = _flat(f.location)
    d["frameworks"] = [{"framework": a, "control": b} for a, b in f.frameworks]
    if f.suppressed is not None:
        d["suppressed"] = _flat(f.suppressed)
    if f.misconfiguration is not None:
        m = d["misconfiguration"] = _flat(f.misconfiguration)
        m["extra"] = dict(f.misconfiguration.extra)
    if f.secret is not None:
        d["secret"] = _flat(f.secret)
    if f.vulnerability is not None:
        d["vulnerability"] = v = _flat(f.vulnerability)
        v["cvss"] = [_flat(c) for c in f.vulnerability.cvss]
    return d


# Values that recur from finding to finding (a check's title, description, fix, references and
# frameworks; the scan's target; a file's path; the empty tail of a location) encoded once.
# Keyed by the value, and only values of exact types whose equal values encode alike: a string
# keeps its hash, so a lookup costs less than encoding it again.
_TEXT: dict[str, str] = {}
_LISTS: dict[tuple[str, ...], str] = {}
_FRAMEWORKS: dict[tuple[tuple[str, str], ...], str] = {}
_TAILS: dict[tuple[str | int, ...], str] = {}
_CACHE_MAX = 8192


def _once(cache: dict[Any, str], value: Any, make: Callable[[Any], str]) -> str:
    """`make(value)`, remembered in `cache` (up to _CACHE_MAX entries)."""
    got = cache.get(value)
    if got is None:
        got = make(value)
        if len(cache) < _CACHE_MAX:
            cache[value] = got
    return got


def _framework_list(value: tuple[tuple[str, str], ...]) -> str:
    return encode([{"framework": a, "control": b} for a, b in value])


def _location_tail(loc: Location) -> str:
    """The location's fields after `end_line`, with the brace that closes it."""
    key = (
        loc.layer_digest,
        loc.layer_index,
        loc.created_by,
        loc.resource_kind,
        loc.resource_namespace,
        loc.resource_name,
        loc.json_path,
    )
    return _once(_TAILS, key, _tail_text)


def _tail_text(key: tuple[str | int, ...]) -> str:
    return ", " + encode(dict(zip(_TAIL_KEYS, key, strict=True)))[1:]


_TAIL_KEYS = (
    "layer_digest",
    "layer_index",
    "created_by",
    "resource_kind",
    "resource_namespace",
    "resource_name",
    "json_path",
)


def _exact(f: Finding, m: MisconfigDetail) -> bool:
    """Whether the records and every value the shortcut writes have the exact types it expects
    (no subclass of str or int, whose JSON may differ, or whose equal values may encode apart)."""
    loc = f.location
    strs = (
        f.id,
        f.kind,
        f.severity,
        f.title,
        f.message,
        f.target,
        f.fix,
        f.fingerprint,
        loc.path,
        loc.layer_digest,
        loc.created_by,
        loc.resource_kind,
        loc.resource_namespace,
        loc.resource_name,
        loc.json_path,
        m.file_type,
        m.snippet,
        m.replacement,
        m.check_source,
        m.description,
        *f.references,
    )
    return (
        type(f) is Finding  # a subclass may carry fields the shortcut does not write
        and type(loc) is Location
        and type(m) is MisconfigDetail
        and all(type(t) is str for t in strs)
        and all(type(i) is int for i in (loc.line, loc.column, loc.end_line, loc.layer_index))
        and type(f.references) is tuple
        and type(f.frameworks) is tuple
        and all(type(p) is tuple and len(p) == 2 and type(p[0]) is str and type(p[1]) is str for p in f.frameworks)
    )


def _misconfig_line(f: Finding) -> str | None:
    """`encode(_line_dict(f))` for a misconfiguration finding, or None for any other kind (and
    for values of types the shortcut does not write, `_exact`).

    Written field by field in the dataclasses' order, with the recurring values encoded once:
    a quarter of the time of the dict walk on the findings of 500 Dockerfiles. Tests hold it
    to the generic encoding (`finding_dict`) on every kind of finding and on odd text."""
    m, loc = f.misconfiguration, f.location
    if m is None or f.vulnerability is not None or f.secret is not None or not _exact(f, m):
        return None
    return "".join(
        (
            '{"id": ',
            _once(_TEXT, f.id, _plain),
            ', "kind": ',
            _once(_TEXT, f.kind, _plain),
            ', "severity": ',
            _once(_TEXT, f.severity, _plain),
            ', "title": ',
            _once(_TEXT, f.title, _plain),
            ', "message": ',
            _plain(f.message),
            ', "target": ',
            _once(_TEXT, f.target, _plain),
            ', "location": {"path": ',
            _once(_TEXT, loc.path, _plain),
            ', "line": ',
            str(loc.line),
            ', "column": ',
            str(loc.column),
            ', "end_line": ',
            str(loc.end_line),
            _location_tail(loc),
            ', "fix": ',
            _once(_TEXT, f.fix, _plain),
            ', "references": ',
            _once(_LISTS, f.references, encode),
            ', "frameworks": ',
            _once(_FRAMEWORKS, f.frameworks, _framework_list),
            ', "suppressed": ',
            "null" if f.suppressed is None else encode(_flat(f.suppressed)),
            ', "fingerprint": ',
            _plain(f.fingerprint),
            ', "vulnerability": null, "misconfiguration": {"file_type": ',
            _once(_TEXT, m.file_type, _plain),
            ', "snippet": ',
            _plain(m.snippet),
            ', "replacement": ',
            _plain(m.replacement),
            ', "check_source": ',
            _once(_TEXT, m.check_source, _plain),
            ', "description": ',
            _once(_TEXT, m.description, _plain),
            ', "extra": ',
            encode(dict(m.extra)) if m.extra else "{}",
            '}, "secret": null}',
        )
    )


def finding_line(f: Finding) -> str:
    """The finding as its line of the JSON report, remembered on the finding.

    Findings are immutable (a suppression or any other change makes a new one, without the
    line), so the line stays right for as long as the object lives. It is pickled with the
    finding: the worker processes of a tree scan encode their own findings before sending them
    back (`encode_in_workers`), and the parent, which writes the report alone while the other
    CPUs idle, only joins lines: a sixth of a `k8s` run on 2,000 manifests was this encoding."""
    line = f.__dict__.get(_LINE)
    if line is None:
        line = _misconfig_line(f)
        if line is None:
            line = encode(_line_dict(f))
        f.__dict__[_LINE] = line
    return line


def encode_in_workers(findings: list[Finding]) -> None:
    """For `runner.scan_tree(worker_finish=...)`: encode each finding where it was found."""
    for f in findings:
        finding_line(f)


def report_dict(report: ScanReport, encoded: bool = False) -> dict[str, Any]:
    """The report as a document; with `encoded`, each finding is its `finding_line` already."""
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
            "findings": EncodedItems(map(finding_line, findings)) if encoded else list(map(finding_dict, findings)),
            "warnings": sorted(set(report.warnings)),
        }
    )
    return doc


def render_json(report: ScanReport) -> str:
    """Top-level keys pretty-printed, one finding per line: readable, diffable, and written by
    the C encoder (the indenting encoder is pure Python and several times slower)."""
    return dump_json(report_dict(report, encoded=True), inline_depth=2)
