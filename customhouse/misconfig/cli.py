"""`customhouse config PATH` and `customhouse checks list|show|docs`: argument wiring only.

Kept out of customhouse/cli.py so the main CLI module stays small; registered from there with
`add_config_commands`. Heavy modules (the engine, parsers, renderers) load inside handlers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, UsageError

CONFIG_FORMATS = ("table", "json", "sarif", "junit", "markdown")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    g.add_argument(
        "--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR or ~/.cache/customhouse)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    g.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def add_misconfig_options(p: argparse.ArgumentParser) -> None:
    """Flags shared by `config`, `k8s` and `image --scanners misconfig`."""
    g = p.add_argument_group("misconfiguration options")
    g.add_argument("--skip-check", action="append", default=[], metavar="ID[,ID...]", help="do not run these checks")
    g.add_argument(
        "--policy",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="custom Rego policies (repeatable); see docs/custom-policies.md",
    )
    g.add_argument(
        "--registry-allowlist",
        default="",
        metavar="REG[,REG...]",
        help="registries base images may come from (enables CH-DF registry check)",
    )
    g.add_argument("--no-pin-check", action="store_true", help="do not report unpinned package versions")


def add_config_commands(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="scan Dockerfiles, compose files, daemon/containerd/kubelet configs and manifests under PATH",
        description="Scan a directory tree (or one file) for misconfigurations; file types are detected "
        "automatically. Exit 1 when a finding is at or above --fail-on.",
    )
    p.add_argument("path", metavar="PATH", type=Path)
    p.add_argument("-f", "--format", choices=CONFIG_FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--fail-on", default="", metavar="SEVERITY", help="exit 1 at or above this severity")
    p.add_argument("--severity", default="", help="report only these severities (comma list)")
    p.add_argument(
        "--ignore-file", type=Path, metavar="FILE", help="ignore file (default: ./.customhouseignore.yaml when present)"
    )
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    add_misconfig_options(p)
    _common(p)
    p.set_defaults(func=cmd_config)

    c = sub.add_parser("checks", help="list and explain the built-in checks")
    csub = c.add_subparsers(dest="checks_command", metavar="ACTION", required=True, parser_class=type(c))
    ls = csub.add_parser("list", help="every check with its id, severity and title")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("--file-type", default="", help="only checks for this file type")
    _common(ls)
    ls.set_defaults(func=cmd_checks_list)
    show = csub.add_parser("show", help="everything about one check")
    show.add_argument("check_id", metavar="ID")
    _common(show)
    show.set_defaults(func=cmd_checks_show)
    docs = csub.add_parser("docs", help="write the Markdown reference of all checks (docs/checks.md)")
    _common(docs)
    docs.set_defaults(func=cmd_checks_docs)


def _skips(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return tuple(out)


def misconfig_options(args: argparse.Namespace) -> Any:
    from customhouse.misconfig.engine import Options

    allow = tuple(x.strip() for x in (args.registry_allowlist or "").split(",") if x.strip())
    return Options(registry_allowlist=allow, pin_packages=not args.no_pin_check)


def load_policy_set(args: argparse.Namespace) -> Any:
    if not args.policy:
        return None
    from customhouse.misconfig.rego import load_policies

    return load_policies(args.policy[0] if len(args.policy) == 1 else args.policy)


def _emit(text: str, output: Path | None) -> None:
    from customhouse.cli import _emit as emit

    emit(text, output)


def cmd_config(args: argparse.Namespace) -> int:
    from datetime import date

    from customhouse.cli import _severities, _warn
    from customhouse.misconfig.runner import scan_tree
    from customhouse.model import TargetInfo
    from customhouse.report import finding_renderer
    from customhouse.report.scan_report import ScanReport
    from customhouse.vulnscan import DEFAULT_IGNORE_FILE, filter_findings, gate

    severities = _severities(args.severity) if args.severity else ()
    if args.fail_on:
        _severities(args.fail_on, "--fail-on")
    skip = _skips(args.skip_check)
    unknown = [s for s in skip if not _known_check(s)]
    if unknown:
        raise UsageError(f"--skip-check: unknown check id {', '.join(unknown)} (see `customhouse checks list`)")
    result = scan_tree(args.path, misconfig_options(args), skip, policies=load_policy_set(args), exclude=args.exclude)
    findings = result.findings
    warnings = list(result.warnings)
    ignore = args.ignore_file or (Path(DEFAULT_IGNORE_FILE) if Path(DEFAULT_IGNORE_FILE).is_file() else None)
    if ignore is not None:
        from customhouse.match.ignore import apply_ignores, load_ignore_file

        findings, expired = apply_ignores(findings, load_ignore_file(ignore), date.today())
        warnings.extend(expired)
    findings = filter_findings(findings, severities, False, False)
    if not args.quiet:
        for w in warnings:
            _warn(w)
    report = ScanReport(
        target=TargetInfo(name=str(args.path), kind="config"),
        os=None,
        findings=tuple(findings),
        warnings=tuple(warnings),
        fail_on=args.fail_on,
    )
    _emit(finding_renderer(args.format)(report), args.output)
    return EXIT_FINDINGS if gate(findings, args.fail_on) else EXIT_OK


def _known_check(check_id: str) -> bool:
    from customhouse.misconfig.engine import get_check

    return get_check(check_id) is not None or not check_id.startswith("CH-")


def cmd_checks_list(args: argparse.Namespace) -> int:
    import json

    from customhouse.misconfig.engine import all_checks

    checks = [c.meta for c in all_checks() if not args.file_type or args.file_type in c.meta.file_types]
    if args.format == "json":
        rows = [
            {
                "id": m.id,
                "title": m.title,
                "severity": m.severity,
                "file_types": list(m.file_types),
                "frameworks": dict(m.frameworks.pairs()),
                "enabled_by_default": m.enabled_by_default,
            }
            for m in checks
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    width = max((len(m.id) for m in checks), default=10)
    for m in checks:
        sys.stdout.write(f"{m.id:<{width}}  {m.severity:<8}  {','.join(m.file_types):<14}  {m.title}\n")
    return EXIT_OK


def cmd_checks_show(args: argparse.Namespace) -> int:
    from customhouse.misconfig.engine import get_check

    c = get_check(args.check_id)
    if c is None:
        raise UsageError(f"unknown check {args.check_id!r} (see `customhouse checks list`)")
    sys.stdout.write(render_check(c.meta, heading="#"))
    return EXIT_OK


def render_check(m: Any, heading: str = "###") -> str:
    lines = [f"{heading} {m.id}: {m.title}", ""]
    lines.append(f"- Severity: {m.severity}")
    lines.append(f"- Applies to: {', '.join(m.file_types)}")
    if not m.enabled_by_default:
        lines.append("- Off by default")
    for name, value in m.frameworks.pairs():
        lines.append(f"- {name}: {value}")
    lines += ["", m.description, "", f"**Why:** {m.rationale}", "", f"**Fix:** {m.remediation}", ""]
    if m.references:
        lines.append("References: " + ", ".join(m.references))
        lines.append("")
    return "\n".join(lines) + "\n"


def checks_markdown() -> str:
    """docs/checks.md, generated from the checks themselves (a test keeps it current)."""
    from customhouse.misconfig.engine import all_checks

    checks = [c.meta for c in all_checks()]
    out = [
        "# Checks",
        "",
        "Generated by `customhouse checks docs` from the checks' own metadata; do not edit by hand.",
        "",
        "| id | severity | applies to | title |",
        "|---|---|---|---|",
    ]
    out += [f"| [{m.id}](#{m.id.lower()}) | {m.severity} | {', '.join(m.file_types)} | {m.title} |" for m in checks]
    out.append("")
    for m in checks:
        out.append(render_check(m))
    return "\n".join(out).rstrip() + "\n"


def cmd_checks_docs(args: argparse.Namespace) -> int:
    _emit(checks_markdown(), args.output)
    return EXIT_OK
