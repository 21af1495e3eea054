"""JUnit XML, for CI systems that show test results but not security reports.

One testsuite per target, one testcase per package (per place, for findings that are not
about a package). Misconfigurations get one testsuite per file and one testcase per check, so
a CI's test view reads like a linter's: which checks failed on which file; when the scan says
which checks ran (`ScanReport.evaluated_checks`), the ones that found nothing are passing
testcases. A testcase fails when it has findings the exit code counts (at or above
`--fail-on`, or every unsuppressed finding when no threshold was given), so the CI's red
tests are exactly the reason the job failed. A testcase has one `failure` listing all its
failing findings: several failure elements are valid, but common consumers show only the
first. Findings below the threshold and suppressed ones are listed in `system-out`, so the
report still shows everything that was found.

The shape is the one Jenkins, GitLab and Ant's JUnit task read (the Jenkins xunit
`junit-10.xsd`, checked by the tests). No durations and no timestamp unless the caller
sets one, so the same scan gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from customhouse.report.findings import Finding, severity_rank
from customhouse.report.scan_report import (
    PackageKey,
    ScanReport,
    fails,
    fixed_in,
    group,
    is_misconfig,
    lines_label,
    misconfig_groups,
    resource_label,
    short_fix,
)

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

# Characters XML 1.0 cannot carry at all (not even escaped); advisory text sometimes has them.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _case_name(key: PackageKey) -> str:
    ptype, name, version, path, _purl = key
    if not ptype:  # not a package: the place is the name
        return name or path or "(target)"
    return f"{name}@{version}" + (f" ({path})" if path else "")


def _line(f: Finding) -> str:
    v = f.vulnerability
    text = f"{f.id} [{f.severity}] {f.title or f.message}".rstrip()
    if v is not None:
        fix = f"fixed in {v.fixed_version}" if v.fixed_version else fixed_in(v)
        text += f" (installed {v.package_version}, {fix})"
    if f.suppressed is not None:
        text += f" [suppressed by {f.suppressed.source}: {f.suppressed.reason}]"
    return text


@dataclass
class _Suite:
    name: str
    target: str = ""  # the scanned target, when the suite is one of its files
    cases: list[tuple[str, list[Finding]]] = field(default_factory=list)  # (testcase name, findings)
    props: list[tuple[str, str]] = field(default_factory=list)


def _misconfig_where(f: Finding) -> str:
    line = lines_label(f)
    if line:
        return ("lines " if "-" in line else "line ") + line
    return f.location.json_path if f.location.json_path not in ("", "$") else "whole file"


def _misconfig_line(f: Finding) -> str:
    """`line 4: service web runs privileged [high] (fix: ...)`: the place first, as in a linter."""
    resource = resource_label(f)
    text = f"{_misconfig_where(f)}: " + (f"{resource}: " if resource else "") + f"{f.message or f.title} [{f.severity}]"
    if f.fix:
        text += f" (fix: {short_fix(f.fix)})"
    if f.suppressed is not None:
        text += f" [suppressed by {f.suppressed.source}: {f.suppressed.reason}]"
    return text


def _misconfig_suites(report: ScanReport, findings: list[Finding]) -> list[_Suite]:
    """One suite per file, one testcase per check: a check is the unit a CI reader fixes or
    accepts. Checks that ran on a file without findings pass (when the scan says which ran)."""
    evaluated = report.evaluated_checks or {}
    out: list[_Suite] = []
    seen: set[str] = set()
    for path, file_type, resources in misconfig_groups(report, findings):
        seen.add(path)
        by_check: dict[str, list[Finding]] = {}
        for _res, fs in resources:
            for f in fs:
                by_check.setdefault(f.id, []).append(f)
        titles = {cid: fs[0].title for cid, fs in by_check.items()}
        for cid, title in evaluated.get(path, ()):
            titles.setdefault(cid, title)
            by_check.setdefault(cid, [])
        order = sorted(
            by_check, key=lambda c: (not by_check[c], min((f.location.line for f in by_check[c]), default=0), c)
        )
        target = report.label(resources[0][1][0])
        suite = _Suite(path, target, [(_check_case(cid, titles[cid]), by_check[cid]) for cid in order])
        suite.props.append(("customhouse.file_type", file_type))
        out.append(suite)
    for path in sorted(set(evaluated) - seen):  # files every check passed on
        cases: list[tuple[str, list[Finding]]] = [(_check_case(c, t), []) for c, t in sorted(evaluated[path])]
        out.append(_Suite(path, report.target.name, cases))
    return out


def _check_case(check_id: str, title: str) -> str:
    return f"{check_id}: {title}" if title else check_id


def render_junit(report: ScanReport) -> str:
    import xml.etree.ElementTree as ET

    findings = report.ordered()
    misconfigs = [f for f in findings if is_misconfig(f)]
    grouped = group(report, [f for f in findings if not is_misconfig(f)])
    if report.inventory is not None:
        grouped = _with_clean_packages(report, grouped)
    suites: dict[str, _Suite] = {}
    for target, packages in grouped:
        bucket = suites.setdefault(target, _Suite(target))
        bucket.cases += [(_case_name(key), fs) for key, fs in packages]
        if report.os is not None and target == report.target.name:
            bucket.props.append(("customhouse.os", f"{report.os.family} {report.os.version}".strip()))
    for ms in _misconfig_suites(report, misconfigs):
        # An image's configuration findings join the image's own suite.
        bucket = suites.setdefault(ms.name, _Suite(ms.name, ms.target))
        bucket.cases += ms.cases
        bucket.props += ms.props

    root = ET.Element("testsuites", {"name": "customhouse"})
    total_tests = total_failures = 0
    for name, suite_data in suites.items():
        suite = ET.SubElement(root, "testsuite", {"name": _x(name)})
        props = ET.SubElement(suite, "properties")
        _prop(props, "customhouse.target", suite_data.target or name)
        if suite_data.target and suite_data.target != name:
            _prop(props, "customhouse.file", name)
        _prop(props, "customhouse.fail_on", report.fail_on or "any")
        for k, v in suite_data.props:
            _prop(props, k, v)
        if report.db is not None:
            for k, val in sorted(report.db.items()):
                _prop(props, f"customhouse.db.{k}", str(val))
        failures = 0
        for case_name, fs in suite_data.cases:
            case = ET.SubElement(suite, "testcase", {"name": _x(case_name), "classname": _x(name), "time": "0"})
            bad = [f for f in fs if fails(f, report.fail_on)]
            rest = [f for f in fs if not fails(f, report.fail_on)]
            if bad:
                failures += 1
                worst = max(bad, key=lambda f: severity_rank(f.severity)).severity
                ids = ", ".join(dict.fromkeys(f.id for f in bad))
                noun = "finding" if len(bad) == 1 else "findings"
                fail = ET.SubElement(case, "failure", {"message": _x(f"{len(bad)} {noun}: {ids}"), "type": worst})
                fail.text = _x("\n".join(_any_line(f) for f in bad))
            if rest:
                out = ET.SubElement(case, "system-out")
                out.text = _x("\n".join(_any_line(f) for f in rest))
        suite.set("tests", str(len(suite_data.cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        suite.set("time", "0")
        if report.generated_at:
            suite.set("timestamp", report.generated_at)
        total_tests += len(suite_data.cases)
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("time", "0")
    if report.warnings:
        # Scan warnings belong to no testcase; they go to the first suite's system-err.
        host = root.find("testsuite")
        if host is None:
            host = ET.SubElement(root, "testsuite", {"name": _x(report.target.name), "tests": "0"})
            for a in ("failures", "errors", "skipped"):
                host.set(a, "0")
        err = ET.SubElement(host, "system-err")
        err.text = _x("\n".join(sorted(set(report.warnings))))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _any_line(f: Finding) -> str:
    return _misconfig_line(f) if is_misconfig(f) else _line(f)


def _with_clean_packages(
    report: ScanReport, grouped: list[tuple[str, list[tuple[PackageKey, list[Finding]]]]]
) -> list[tuple[str, list[tuple[PackageKey, list[Finding]]]]]:
    """Every cataloged package is a test that ran: packages without findings pass, under
    the scanned target (a finding names its package by purl even when its path differs)."""
    assert report.inventory is not None
    found = {k for _t, pkgs in grouped for k, _fs in pkgs}
    by_purl = {k[4] for k in found if k[4]}
    clean = sorted(
        {
            (p.type, p.name, p.version, p.path, p.purl)
            for p in report.inventory.packages
            if (p.type, p.name, p.version, p.path, p.purl) not in found and not (p.purl and p.purl in by_purl)
        }
    )
    if not clean:
        return grouped
    suites = dict(grouped)
    suites.setdefault(report.target.name, []).extend((k, []) for k in clean)
    return sorted(suites.items())


def _prop(parent: Element, name: str, value: str) -> None:
    import xml.etree.ElementTree as ET

    ET.SubElement(parent, "property", {"name": name, "value": _x(value)})
