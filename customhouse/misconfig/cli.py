"""`customhouse config PATH` and `customhouse checks list|show|docs`: argument wiring only.

Kept out of customhouse/cli.py so the main CLI module stays small; registered from there with
`add_config_commands`. Heavy modules (the engine, parsers, renderers, regopy) load inside the
handlers, never while the parser is built, so `customhouse config --help` imports none of them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, InputError, UsageError

CONFIG_FORMATS = ("table", "json", "sarif", "junit", "markdown")
CONFIG_FILES = (
    "Dockerfiles, compose files, daemon.json, containerd config.toml, KubeletConfiguration files, Kubernetes manifests"
)
REGENERATE = ".venv/bin/customhouse checks docs > docs/checks.md"


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    g.add_argument(
        "--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR or ~/.cache/customhouse)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    g.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def _jobs_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a number of processes, 0 for every usable CPU")
    return n


def add_scanners_option(p: argparse.ArgumentParser) -> None:
    """`--scanners` of the commands that scan a tree (`config`, `k8s`)."""
    p.add_argument(
        "--scanners",
        default="misconfig,secret",
        metavar="LIST",
        help="misconfig, secret or both (default): secret also reports credentials in the scanned files",
    )


def scanners_arg(args: argparse.Namespace) -> set[str]:
    """The scanners `--scanners` asks for; a usage error for anything else (before any work)."""
    scanners = {x.strip() for x in args.scanners.split(",") if x.strip()}
    if not scanners or scanners - {"misconfig", "secret"}:
        raise UsageError(f"--scanners: {args.scanners!r}: use misconfig, secret or both")
    return scanners


def shown_checks(
    evaluated: dict[str, list[tuple[str, str]]], severity: dict[str, str], severities: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """The checks each file was evaluated against, as far as the report shows their severity
    (JUnit lists the ones a file passed)."""
    if not severities:
        return evaluated
    return {path: [(c, t) for c, t in ran if severity.get(c) in severities] for path, ran in evaluated.items()}


def add_jobs_option(
    p: argparse.ArgumentParser,
    help: str = "processes for the per-file work (default 0: every usable CPU; trees under "
    "48 files and scans with --policy use one)",
) -> None:
    """`--jobs` for the commands that scan a tree file by file (`config`, `k8s`, `fs`)."""
    p.add_argument("-j", "--jobs", type=_jobs_arg, default=0, metavar="N", help=help)


def add_misconfig_options(p: argparse.ArgumentParser) -> None:
    """Flags shared by `config`, `k8s` and `image --scanners misconfig`."""
    g = p.add_argument_group("misconfiguration options")
    g.add_argument(
        "--skip-check",
        action="append",
        default=[],
        metavar="ID[,ID...]",
        help="do not run these checks (repeatable); an unknown id is a usage error",
    )
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
        help="registries base images may come from (enables the Dockerfile registry check)",
    )
    g.add_argument("--no-pin-check", action="store_true", help="do not report unpinned package versions")
    g.add_argument(
        "--admin-ports",
        default="",
        metavar="PORT[,PORT...]",
        help="ports that count as remote administration (default: 22,23,2375,2376,3389,5900,5985,5986,6443,10250)",
    )
    g.add_argument(
        "--max-image-age",
        type=int,
        metavar="DAYS",
        help="report images created more than DAYS ago (default: 365)",
    )


def add_config_commands(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="scan Dockerfiles, compose files, daemon/containerd/kubelet configs and manifests under PATH",
        description="Scan a directory tree (or one file) for misconfigurations; file types are detected "
        "automatically. A file that cannot be read or parsed is skipped with a warning naming it. "
        "Exit codes: 0 clean, 1 an unsuppressed finding at or above --fail-on, 2 usage, "
        "3 PATH unreadable (or a single-file PATH that cannot be scanned), 6 internal error.",
        epilog="Checks: `customhouse checks list`, docs/checks.md. Suppression: docs/suppression.md.",
    )
    p.add_argument("path", metavar="PATH", type=Path)
    p.add_argument("-f", "--format", choices=CONFIG_FORMATS, default="table", help="report format (default: table)")
    p.add_argument(
        "--fail-on",
        default="",
        metavar="SEVERITY",
        help="exit 1 when an unsuppressed finding is at or above SEVERITY (critical, high, medium, low, info)",
    )
    p.add_argument("--severity", default="", help="report only these severities (comma list)")
    p.add_argument(
        "--ignore-file", type=Path, metavar="FILE", help="ignore file (default: ./.customhouseignore.yaml when present)"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and directories matching GLOB (repeatable): a name anywhere, or a path from PATH",
    )
    add_scanners_option(p)
    p.add_argument(
        "--enable-check",
        action="append",
        default=[],
        metavar="ID[,ID...]",
        help="also run these checks that are off by default (repeatable)",
    )
    add_misconfig_options(p)
    from customhouse.misconfig.k8s.posture_cli import add_pss_options

    add_pss_options(p)
    add_jobs_option(p)
    _common(p)
    p.set_defaults(func=cmd_config)

    c = sub.add_parser("checks", help="list and explain the built-in checks")
    csub = c.add_subparsers(dest="checks_command", metavar="ACTION", required=True, parser_class=type(c))
    ls = csub.add_parser("list", help="every check with its id, severity, file types and title")
    ls.add_argument("-f", "--format", choices=("table", "json"), default="table")
    ls.add_argument("--file-type", default="", metavar="TYPE", help="only checks for this file type (e.g. compose)")
    _common(ls)
    ls.set_defaults(func=cmd_checks_list)
    show = csub.add_parser("show", help="everything about one check")
    show.add_argument("check_id", metavar="ID")
    _common(show)
    show.set_defaults(func=cmd_checks_show)
    docs = csub.add_parser("docs", help="write the Markdown reference of all checks (docs/checks.md)")
    _common(docs)
    docs.set_defaults(func=cmd_checks_docs)


# ------------------------------------------------------------------ option parsing


def _split(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _skips(values: list[str]) -> tuple[str, ...]:
    """`--skip-check` values, comma lists and repeats merged. Ids of built-in checks are given
    their canonical spelling; a `CH-` id that names no check is a usage error (custom policy ids
    never start with `CH-`, so such an id is a typo that would silently skip nothing)."""
    out: list[str] = []
    for v in _split(values):
        builtin = _builtin(v)
        if builtin is None and v.upper().startswith("CH-"):
            raise UsageError(f"--skip-check: unknown check id {v} (see `customhouse checks list`)")
        out.append(builtin or v)
    return tuple(dict.fromkeys(out))


def _builtin(check_id: str) -> str | None:
    from customhouse.misconfig.engine import get_check_ci

    c = get_check_ci(check_id)
    return c.meta.id if c is not None else None


def resolve_check_ids(
    values: Sequence[str], flag: str, policies: Any = None, builtin_only: bool = False
) -> tuple[str, ...]:
    """Canonical ids for `values` (built-in checks, then the loaded custom policies, both
    case-insensitively); any other id is a usage error naming `flag`."""
    custom = {p.id.upper(): p.id for p in policies.policies} if policies is not None else {}
    out: list[str] = []
    unknown: list[str] = []
    for v in _split(values):
        found = _builtin(v) or (None if builtin_only else custom.get(v.upper()))
        if found is None:
            unknown.append(v)
        else:
            out.append(found)
    if unknown:
        raise UsageError(f"{flag}: unknown check id {', '.join(unknown)} (see `customhouse checks list`)")
    return tuple(dict.fromkeys(out))


def _fail_on(value: str) -> str:
    from customhouse.cli import _severities

    if not value:
        return ""
    names = _severities(value, "--fail-on")
    if len(names) != 1:
        raise UsageError(f"--fail-on: give one severity, not {value!r} (exit 1 at or above it)")
    return names[0]


def _ports(value: str) -> frozenset[int]:
    ports = set()
    for part in _split([value]):
        if not part.isdigit() or not 0 < int(part) < 65536:
            raise UsageError(f"--admin-ports: {part!r} is not a port number (1-65535)")
        ports.add(int(part))
    return frozenset(ports)


def misconfig_options(args: argparse.Namespace) -> Any:
    """The check `Options` the misconfiguration flags ask for (usage errors for bad values)."""
    from customhouse.misconfig.engine import Options

    kw: dict[str, Any] = {
        "registry_allowlist": tuple(_split([getattr(args, "registry_allowlist", "") or ""])),
        "pin_packages": not getattr(args, "no_pin_check", False),
    }
    admin = getattr(args, "admin_ports", "") or ""
    if admin:
        kw["admin_ports"] = _ports(admin)
    age = getattr(args, "max_image_age", None)
    if age is not None:
        if age < 1:
            raise UsageError(f"--max-image-age: {age} must be a number of days, 1 or more")
        kw["extra"] = {"max_image_age_days": age}
    if hasattr(args, "pss_level"):
        from customhouse.misconfig.k8s.posture_cli import pss_extra

        kw["extra"] = {**kw.get("extra", {}), **pss_extra(args)}
    return Options(**kw)


def load_policy_set(args: argparse.Namespace) -> Any:
    if not args.policy:
        return None
    from customhouse.misconfig.rego import load_policies

    return load_policies(args.policy[0] if len(args.policy) == 1 else args.policy)


@contextmanager
def _policy_set(args: argparse.Namespace) -> Iterator[Any]:
    """The loaded custom policies (or None), their worker process stopped on the way out."""
    policies = load_policy_set(args)
    try:
        yield policies
    finally:
        if policies is not None:
            policies.close()


def _emit(text: str, output: Path | None) -> None:
    from customhouse.cli import _emit as emit

    emit(text, output)


# ------------------------------------------------------------------ config


def worker_finish(fmt: str) -> Any:
    """What scan workers do with their findings for this report format (`scan_tree`): the
    JSON report's lines are encoded where the findings are made, on every CPU."""
    if fmt != "json":
        return None
    from customhouse.report.findings_json import encode_in_workers

    return encode_in_workers


def cmd_config(args: argparse.Namespace) -> int:
    from customhouse.cli import _severities, _warn
    from customhouse.match.triage import apply_ignore_rules, filter_findings, gate, ignore_rules
    from customhouse.misconfig.runner import collector_paused, scan_tree
    from customhouse.model import TargetInfo
    from customhouse.report import finding_renderer
    from customhouse.report.scan_report import ScanReport

    # Every usage error before any work (and before a policy worker is started).
    scanners = scanners_arg(args)
    severities = _severities(args.severity) if args.severity else ()
    fail_on = _fail_on(args.fail_on)
    options = misconfig_options(args)
    enable = resolve_check_ids(args.enable_check, "--enable-check", builtin_only=True)
    skip = _skips(args.skip_check)
    if not args.policy:
        skip = resolve_check_ids(skip, "--skip-check")
    if not args.path.exists():
        raise InputError(f"{args.path}: no such file or directory")
    # The ignore file is read before the scan, so a broken one fails fast (exit 3).
    rules = ignore_rules(args.ignore_file)

    with _policy_set(args) as policies, collector_paused():
        if policies is not None:
            skip = resolve_check_ids(skip, "--skip-check", policies)
        result = scan_tree(
            args.path,
            options,
            skip,
            policies=policies,
            exclude=args.exclude,
            enable=enable,
            secrets="secret" in scanners,
            misconfig="misconfig" in scanners,
            jobs=args.jobs,
            cache_dir=args.cache_dir,
            worker_finish=worker_finish(args.format),
            one_shot=True,
        )

    warnings = list(result.warnings)
    if args.path.is_file() and not result.scanned:
        # One file was asked for and nothing could be scanned: an input error, not a clean scan.
        if warnings:
            raise InputError(_name_path(warnings[0], args.path))
        raise InputError(f"{args.path}: not a file type customhouse config reads ({CONFIG_FILES})")
    if not result.scanned and not result.skipped:
        warnings.append(f"{args.path}: no files to scan found ({CONFIG_FILES})")

    # As `match.triage.triage` does for every scanner: the ignore file, then the display filters.
    findings, expired = apply_ignore_rules(result.findings, rules)
    warnings += expired
    findings = filter_findings(findings, severities, False, False)
    if not args.quiet:
        for w in warnings:
            _warn(w)
    evaluated = shown_checks(result.evaluated, result.check_severity, severities)
    report = ScanReport(
        target=TargetInfo(name=str(args.path), kind="config"),
        os=None,
        findings=tuple(findings),
        warnings=tuple(warnings),
        fail_on=fail_on,
        evaluated_checks=evaluated,
    )
    _emit(finding_renderer(args.format)(report), args.output)
    return EXIT_FINDINGS if gate(findings, fail_on) else EXIT_OK


def _name_path(warning: str, path: Path) -> str:
    """A runner warning about a single-file scan, naming the file as the user gave it."""
    return str(path) + warning[len(path.name) :] if warning.startswith(path.name) else warning


# ------------------------------------------------------------------ checks list|show|docs


def _file_type(value: str) -> str:
    from customhouse.misconfig.engine import FILE_TYPES, all_checks

    known = list(FILE_TYPES) + sorted({t for c in all_checks() for t in c.meta.file_types} - set(FILE_TYPES))
    if value and value not in known:
        raise UsageError(f"--file-type: unknown file type {value!r} (one of {', '.join(known)})")
    return value


def cmd_checks_list(args: argparse.Namespace) -> int:
    import json

    from customhouse.misconfig.engine import all_checks, options_used

    file_type = _file_type(args.file_type)
    checks = [c for c in all_checks() if not file_type or file_type in c.meta.file_types]
    if args.format == "json":
        rows = [
            {
                "id": c.meta.id,
                "title": c.meta.title,
                "severity": c.meta.severity,
                "file_types": list(c.meta.file_types),
                "frameworks": dict(c.meta.frameworks.pairs()),
                "enabled_by_default": c.meta.enabled_by_default,
                "options": [o for o in options_used(c) if _public_option(o)],
            }
            for c in checks
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    width = max([len(c.meta.id) for c in checks] + [2])
    types = max([len(",".join(c.meta.file_types)) for c in checks] + [9])
    out = [f"{'ID':<{width}}  {'SEVERITY':<8}  {'FILE TYPE':<{types}}  TITLE"]
    for c in checks:
        m = c.meta
        off = "" if m.enabled_by_default else " (off by default)"
        out.append(f"{m.id:<{width}}  {m.severity:<8}  {','.join(m.file_types):<{types}}  {m.title}{off}")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def cmd_checks_show(args: argparse.Namespace) -> int:
    from customhouse.misconfig.engine import get_check_ci

    c = get_check_ci(args.check_id)
    if c is None:
        raise UsageError(f"unknown check {args.check_id!r} (see `customhouse checks list`)")
    sys.stdout.write(render_check(c, heading="#", anchors=False))
    return EXIT_OK


def _public_option(name: str) -> bool:
    from customhouse.misconfig.engine import OPTIONS

    return not any(o.name == name and o.internal for o in OPTIONS)


def _paragraphs(text: str) -> list[str]:
    """Hard-wrapped prose as one line per paragraph (blank lines separate paragraphs), so a
    wrapped line starting with `-` or `#` cannot turn into Markdown structure."""
    out, cur = [], []
    for line in text.splitlines():
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to `-`."""
    import re

    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _heading(m: Any) -> str:
    return f"{m.id}: {m.title}"


def _mitre(technique: str, link: bool) -> str:
    if not link:
        return technique
    parts = []
    for t in (x.strip() for x in technique.split(",")):
        url = "https://attack.mitre.org/techniques/" + t.replace(".", "/") + "/"
        parts.append(f"[{t}]({url})" if t.upper().startswith("T") else t)
    return ", ".join(parts)


def render_check(c: Any, heading: str = "###", anchors: bool = True) -> str:
    """One check as Markdown: what `checks show` prints and docs/checks.md is made of."""
    from customhouse.misconfig.engine import OPTIONS, options_used

    m = c.meta
    lines = [f"{heading} {_heading(m)}", ""]
    lines.append(f"- **Severity:** {m.severity}")
    lines.append(f"- **File types:** {', '.join(f'`{t}`' for t in m.file_types)}")
    frameworks = [
        f"{name} {_mitre(value, anchors) if name == 'MITRE ATT&CK' else value}" for name, value in m.frameworks.pairs()
    ]
    if frameworks:
        lines.append(f"- **Frameworks:** {'; '.join(frameworks)}")
    info = {o.name: o for o in OPTIONS}
    opts = []
    for name in options_used(c):
        o = info.get(name)
        if o is None or o.internal:
            continue
        how = f"`{o.flag}`" if o.flag else f"`Options.extra['{o.name}']` (library only)"
        opts.append(f"{how} (default: {o.default})")
    if opts:
        lines.append(f"- **Options:** {'; '.join(opts)}")
    if not m.enabled_by_default:
        lines.append(f"- **Off by default:** run it with `--enable-check {m.id}`")
    lines.append("")
    for p in _paragraphs(m.description):
        lines += [p, ""]
    for label, text in (("Rationale", m.rationale), ("Remediation", m.remediation)):
        paras = _paragraphs(text)
        if paras:
            lines += [f"**{label}:** {paras[0]}", ""]
            for p in paras[1:]:
                lines += [p, ""]
    if m.references:
        lines += ["**References:**", ""]
        lines += [f"- <{r}>" if anchors and r.startswith(("http://", "https://")) else f"- {r}" for r in m.references]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


_INDEX_FRAMEWORKS = (
    ("cis_docker", "CIS Docker"),
    ("cis_kubernetes", "CIS Kubernetes"),
    ("nist_800_190", "NIST SP 800-190"),
    ("mitre_attack", "MITRE ATT&CK"),
    ("pss", "Pod Security Standards"),
)


def checks_markdown() -> str:
    """docs/checks.md, generated from the checks themselves (a test keeps it current)."""
    from customhouse.misconfig.engine import FILE_TYPES, OPTIONS, all_checks, options_used

    checks = all_checks()
    by_type: dict[str, list[Any]] = {}
    for c in checks:
        for t in c.meta.file_types:
            by_type.setdefault(t, []).append(c)
    types = [t for t in FILE_TYPES if t in by_type] + sorted(t for t in by_type if t not in FILE_TYPES)
    names = {t: FILE_TYPES.get(t, t) for t in types}
    out = [
        "# Checks",
        "",
        "<!-- Generated by `customhouse checks docs` from the checks' own metadata "
        "(customhouse/misconfig/checks/). Do not edit by hand: change the check, then run",
        f"     {REGENERATE} -->",
        "",
        f"The {len(checks)} built-in misconfiguration checks, for {len(types)} file types. `customhouse config PATH` "
        "runs them on the files of a directory tree (file types are recognised by name and content); "
        "`customhouse image TARGET --scanners misconfig` runs the image-configuration checks on an image. "
        "The same list is printed by `customhouse checks list`, and one check by `customhouse checks show ID`.",
        "",
        "A check's id is stable and never reused. To turn a check off use `--skip-check ID`; to accept "
        "one finding, an inline `# customhouse:ignore=ID reason` comment or an entry in the ignore file "
        "(see [suppression.md](suppression.md#misconfigurations)). Severities decide `--fail-on` and the "
        "SARIF level (critical and high: error, medium: warning, low and info: note). Your own checks "
        "can be written in Rego: [custom-policies.md](custom-policies.md).",
        "",
        "## Index",
        "",
    ]
    for t in types:
        group = by_type[t]
        cols = [(k, label) for k, label in _INDEX_FRAMEWORKS if any(getattr(c.meta.frameworks, k) for c in group)]
        out += [f"### {names[t]}", ""]
        out.append("| ID | Severity | Title | " + " | ".join(label for _, label in cols) + " |")
        out.append("|---|---|---|" + "---|" * len(cols))
        for c in group:
            m = c.meta
            title = _cell(m.title) + ("" if m.enabled_by_default else " (off by default)")
            fw = [_cell(getattr(m.frameworks, k)) or "" for k, _ in cols]
            out.append(f"| [{m.id}](#{slug(_heading(m))}) | {m.severity} | {title} | " + " | ".join(fw) + " |")
        out.append("")
    used: dict[str, list[str]] = {}
    for c in checks:
        for name in options_used(c):
            used.setdefault(name, []).append(c.meta.id)
    public = [o for o in OPTIONS if not o.internal]
    out += [
        "## Options",
        "",
        "Settings that change what some checks report. They apply to `customhouse config` and "
        "`customhouse image --scanners misconfig` alike.",
        "",
        "| Flag | Default | Meaning | Checks |",
        "|---|---|---|---|",
    ]
    for o in public:
        flag = f"`{o.flag}`" if o.flag else f"library only: `Options.extra['{o.name}']`"
        ids = ", ".join(f"[{i}](#{slug(_heading(_meta(checks, i)))})" for i in used.get(o.name, [])) or "none yet"
        out.append(f"| {flag} | {_cell(o.default)} | {_cell(o.description)} | {ids} |")
    out.append("")
    for t in types:
        own = [c for c in by_type[t] if c.meta.file_types[0] == t]
        if not own:
            continue
        out += [f"## {names[t]}", ""]
        for c in own:
            out.append(render_check(c))
    return "\n".join(out).rstrip() + "\n"


def _meta(checks: list[Any], check_id: str) -> Any:
    return next(c.meta for c in checks if c.meta.id == check_id)


def cmd_checks_docs(args: argparse.Namespace) -> int:
    _emit(checks_markdown(), args.output)
    return EXIT_OK
