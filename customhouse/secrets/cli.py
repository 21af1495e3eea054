"""`customhouse fs PATH`: secrets in a directory tree (docs/secrets.md, "Targets").

The command's options are defined in `customhouse.cli` (`_add_fs_command`): importing this
package loads the rule engine, and building the parser must stay light.

Exit codes as every command (CONVENTIONS.md): 0 clean, 1 an unsuppressed finding at or above
`--fail-on`, 2 usage, 3 PATH unreadable, 6 internal error.
"""

from __future__ import annotations

import argparse

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, InputError, UsageError


def cmd_fs(args: argparse.Namespace) -> int:
    from customhouse.cli import _emit, _severities, _warn
    from customhouse.match.triage import apply_ignore_rules, filter_findings, gate, ignore_rules
    from customhouse.model import TargetInfo
    from customhouse.report import finding_renderer
    from customhouse.report.scan_report import ScanReport
    from customhouse.secrets.targets import get_scanner, scan_directory

    scanners = tuple(s.strip() for s in args.scanners.split(",") if s.strip())
    bad = [s for s in scanners if s != "secret"]
    if bad or not scanners:
        raise UsageError(f"--scanners: fs runs only the secret scanner, not {', '.join(bad) or repr(args.scanners)}")
    severities = _severities(args.severity) if args.severity else ()
    fail_on = ""
    if args.fail_on:
        names = _severities(args.fail_on, "--fail-on")
        if len(names) != 1:
            raise UsageError(f"--fail-on: give one severity, not {args.fail_on!r} (exit 1 at or above it)")
        fail_on = names[0]
    if not args.path.exists() and not args.path.is_symlink():
        raise InputError(f"{args.path}: no such file or directory")
    rules = ignore_rules(args.ignore_file)

    cache_dir = args.cache_dir
    if cache_dir is None:
        from customhouse.cachedir import default_cache_dir

        cache_dir = default_cache_dir()
    scanner = get_scanner(cache_dir)
    result = scan_directory(args.path, scanner, args.respect_gitignore, tuple(args.exclude), jobs=args.jobs)
    findings, expired = apply_ignore_rules(result.findings, rules)
    warnings = list(result.warnings) + list(expired)
    findings = filter_findings(findings, severities, False, False)
    if not args.quiet:
        for w in warnings:
            _warn(w)
    report = ScanReport(
        target=TargetInfo(name=str(args.path), kind="fs"),
        os=None,
        findings=tuple(findings),
        warnings=tuple(warnings),
        fail_on=fail_on,
    )
    _emit(finding_renderer(args.format)(report), args.output)
    return EXIT_FINDINGS if gate(findings, fail_on) else EXIT_OK
