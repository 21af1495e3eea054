"""Command line: parse arguments, wire stages, map errors to exit codes. Nothing else.

Built on argparse rather than click: a warm scan of a cached image takes well under 100 ms,
and importing click alone cost 26 ms of it (docs/benchmarks.md). Every heavy import happens
inside a command, so `--help` stays fast. Exit codes follow CONVENTIONS.md (docs/cli.md):
0 clean, 1 findings at or above --fail-on, 2 usage, 3 input, 4 database, 5 network, 6 internal.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, CustomhouseError, UsageError

SBOM_FORMATS = ("cyclonedx-json", "spdx-json", "json", "table")
IMAGE_FORMATS = ("table", "json", "sarif", "cyclonedx-json", "spdx-json", "junit", "markdown")
FS_FORMATS = ("table", "json", "sarif", "junit")
INVENTORY_ONLY = ("spdx-json", "table", "json", "cyclonedx-json")
TARGET_HELP = (
    "docker-archive:PATH, oci-archive:PATH, oci-layout:DIR, dir:PATH, registry:REF, sbom:FILE, "
    "or a bare image reference or path"
)


class _Parser(argparse.ArgumentParser):
    """argparse with our exit code for usage errors and a one-line message."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        """argparse's formatter, told the width. Left to itself it imports `shutil` (with bz2 and
        lzma: 4 ms of every run) to ask the terminal, since `add_argument` formats each option's
        metavar to check it; the width is the same, found the way `shutil` finds it."""
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"customhouse: error: {message}\n")
        sys.exit(EXIT_USAGE)


@functools.cache
def _help_width() -> int:
    """`shutil.get_terminal_size().columns - 2`, as argparse computes it: $COLUMNS, else the
    terminal on stdout, else 80."""
    columns = 0
    with contextlib.suppress(ValueError):
        columns = int(os.environ.get("COLUMNS", "0"))
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def _warn(msg: str) -> None:
    sys.stderr.write(f"customhouse: warning: {msg}\n")


# ------------------------------------------------------------------ option groups


def _common(p: argparse.ArgumentParser) -> None:
    """Flags that mean the same on every subcommand (CONVENTIONS.md)."""
    g = p.add_argument_group("common options")
    g.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    g.add_argument(
        "--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR or ~/.cache/customhouse)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    g.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def _image_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image options")
    g.add_argument(
        "--platform", default="", help="os/arch[/variant] to pick from multi-platform images (default: this machine's)"
    )
    g.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP and unverified TLS to registries (localhost)"
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the layer cache")
    g.add_argument("--offline", action="store_true", help="never fetch feeds (a registry target is still pulled)")
    g.add_argument("--max-layer-size", type=int, metavar="BYTES", help="refuse layers larger than this, uncompressed")
    g.add_argument(
        "--max-ratio", type=int, metavar="N", help="refuse layers that decompress more than N:1 (bomb guard)"
    )


def _settings(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from customhouse.cachedir import default_cache_dir
    from customhouse.settings import Limits, Settings

    limits = Limits()
    if getattr(args, "max_layer_size", None):
        limits = replace(limits, max_layer_bytes=int(args.max_layer_size))
    if getattr(args, "max_ratio", None):
        limits = replace(limits, max_ratio=int(args.max_ratio))
    return Settings(
        cache_dir=args.cache_dir or default_cache_dir(),
        limits=limits,
        platform=getattr(args, "platform", "") or "",
        insecure=bool(getattr(args, "insecure", False)),
        offline=bool(getattr(args, "offline", False)),
        use_cache=not getattr(args, "no_cache", False),
        progress=sys.stderr.isatty() and not args.quiet,
    )


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, output)


def _catalog(args: argparse.Namespace, dispatcher: Any = None) -> Any:
    from customhouse.catalog import catalog

    settings = _settings(args)
    if not settings.progress:
        analysis = catalog(args.target, settings, dispatcher=dispatcher)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from customhouse.console import stderr_console

        prog = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=stderr_console(),
            transient=True,
        )
        task = prog.add_task("reading", total=1)

        def update(desc: str, done: int, total: int) -> None:
            prog.update(task, description=desc, completed=done, total=max(total, 1))

        with prog:
            analysis = catalog(args.target, settings, progress=update, dispatcher=dispatcher)
    if not args.quiet:
        for w in analysis.inventory.warnings:
            _warn(w)
    return analysis


# ------------------------------------------------------------------ commands


def cmd_sbom(args: argparse.Namespace) -> int:
    analysis = _catalog(args)
    from customhouse.report import inventory_renderer

    _emit(inventory_renderer(args.format)(analysis), args.output)
    return EXIT_OK


def _scanners(value: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    known = {"vuln", "misconfig", "secret"}
    bad = [n for n in names if n not in known]
    if bad:
        raise UsageError(
            f"--scanners: unknown or not yet available: {', '.join(bad)} (available: vuln, misconfig, secret)"
        )
    return names


def _severities(value: str, flag: str = "--severity") -> tuple[str, ...]:
    from customhouse.report.findings import SEVERITIES

    names = tuple(s.strip().lower() for s in value.split(",") if s.strip())
    bad = [n for n in names if n not in SEVERITIES]
    if bad:
        raise UsageError(f"{flag}: unknown severity {', '.join(bad)} (use {', '.join(SEVERITIES)})")
    return names


def cmd_image(args: argparse.Namespace) -> int:
    """The main job: catalog the image, then every selected scanner, one report."""
    scanners = _scanners(args.scanners)
    severities = _severities(args.severity) if args.severity else ()
    if args.fail_on and args.fail_on != "kev":
        _severities(args.fail_on, "--fail-on")
    if args.format in ("spdx-json",) or not scanners:
        analysis = _catalog(args)
        from customhouse.report import inventory_renderer

        _emit(inventory_renderer(args.format if args.format in INVENTORY_ONLY else "json")(analysis), args.output)
        return EXIT_OK
    settings = _settings(args)
    db_path = None
    if "vuln" in scanners:
        from customhouse.vulndb.db import default_db_path

        db_path = args.db or default_db_path(settings.cache_dir)
        if not db_path.is_file():  # fail before the (possibly long) image read
            from customhouse.errors import DatabaseError
            from customhouse.vulndb.db import HINT

            raise DatabaseError(f"{db_path}: vulnerability database not found; {HINT}")
    secret_scanner = dispatcher = None
    if "secret" in scanners:  # every file of every layer: only when asked for
        from customhouse.analyzers import load_all
        from customhouse.analyzers.base import Dispatcher, registered
        from customhouse.analyzers.secrets import secrets_analyzer
        from customhouse.secrets.targets import get_scanner

        secret_scanner = get_scanner(settings.cache_dir)
        load_all()
        dispatcher = Dispatcher([*registered().values(), secrets_analyzer(secret_scanner)])
    analysis = _catalog(args, dispatcher)
    from customhouse.match.triage import gate, triage
    from customhouse.report import finding_renderer
    from customhouse.report.scan_report import ScanReport
    from customhouse.vulnscan import VulnOptions, scan_vulnerabilities

    findings: list[Any] = []
    warnings: list[str] = []
    db_meta = None
    if db_path is not None:
        opts = VulnOptions(db_path=db_path, vex=tuple(args.vex or ()), max_db_age_days=args.max_db_age)
        vs = scan_vulnerabilities(analysis, opts)
        findings += vs.findings
        warnings += vs.warnings
        db_meta = vs.db
    if "misconfig" in scanners:
        from customhouse.misconfig.cli import _skips, load_policy_set, misconfig_options
        from customhouse.misconfig.imageconfig import scan_image_config

        findings += scan_image_config(
            analysis, misconfig_options(args), _skips(args.skip_check), policies=load_policy_set(args)
        )
    inv = analysis.inventory
    if secret_scanner is not None:
        from customhouse.secrets.targets import image_config_findings, layer_findings, scrub_findings, scrub_inventory

        in_config, raw = image_config_findings(analysis, secret_scanner)
        findings = scrub_findings(findings, raw) + layer_findings(analysis, scrub=raw) + in_config
        inv = scrub_inventory(inv, raw)
    findings, more = triage(findings, args.ignore_file, severities, args.ignore_unfixed, args.only_kev)
    warnings += more
    if not args.quiet:
        for w in warnings:
            _warn(w)
    report = ScanReport(
        target=inv.target,
        os=inv.os,
        findings=tuple(findings),
        inventory=inv,
        db=db_meta,
        warnings=tuple(inv.warnings) + tuple(warnings),
        fail_on=args.fail_on if args.fail_on != "kev" else "",
    )
    _emit(finding_renderer(args.format)(report), args.output)
    return EXIT_FINDINGS if gate(findings, args.fail_on or "") else EXIT_OK


def cmd_cache_clean(args: argparse.Namespace) -> int:
    from customhouse.cachedir import default_cache_dir
    from customhouse.image.cache import LayerCache

    c = LayerCache(args.cache_dir or default_cache_dir())
    c.clear()
    c.close()
    sys.stderr.write(f"customhouse: cleared {c.path}\n")
    return EXIT_OK


#: Commands whose parser can be built alone (`build_parser(only=...)`), by the group they share.
STANDALONE = {"fs": "fs", "config": "config", "checks": "config", "k8s": "k8s", "rbac": "k8s", "netpol": "k8s"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` (a key of STANDALONE) just that command and the
    ones defined beside it. `fs`, `config` and `k8s` are timed against other scanners, and
    building every subcommand (importing their modules, ~30 parsers) cost 40-60 ms of each
    run; the command's own parser, help and errors are the same either way."""
    from customhouse import __version__, _native

    parser = _Parser(
        prog="customhouse",
        description="Inspect what is inside container images (SBOM) and what is wrong with them.",
        epilog="Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage, 3 input, 4 database, "
        "5 network, 6 internal.",
    )
    parser.add_argument("--version", action="version", version=f"customhouse {__version__} ({_native.status()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str, desc: str = "") -> _Parser:
        p: _Parser = sub.add_parser(name, help=help_, description=desc or help_)
        p.set_defaults(func=func)
        return p

    group = STANDALONE.get(only or "")
    if group == "fs":
        _add_fs_command(command)
        return parser
    if group == "config":
        from customhouse.misconfig.cli import add_config_commands

        add_config_commands(sub)
        return parser
    if group == "k8s":
        from customhouse.misconfig.k8s.cli import add_k8s_commands

        add_k8s_commands(sub)
        return parser

    p = command(
        "image",
        cmd_image,
        "scan an image: its packages and their vulnerabilities (secrets and misconfigurations next)",
    )
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    p.add_argument("-f", "--format", choices=IMAGE_FORMATS, default="table", help="report format (default: table)")
    _common(p)
    _image_opts(p)
    g = p.add_argument_group("vulnerability options")
    g.add_argument("--scanners", default="vuln", help="comma list of scanners (default: vuln; '' = packages only)")
    g.add_argument("--db", type=Path, help="vulnerability database (default: CACHE_DIR/db/customhouse.db)")
    g.add_argument(
        "--max-db-age",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="warn when the database is older than this (default 7; 0 disables)",
    )
    g.add_argument("--severity", default="", help="report only these severities (comma list)")
    g.add_argument("--ignore-unfixed", action="store_true", help="drop findings without a fixed version")
    g.add_argument("--only-kev", action="store_true", help="report only known-exploited vulnerabilities (CISA KEV)")
    g.add_argument(
        "--fail-on",
        default="",
        metavar="SEVERITY|kev",
        help="exit 1 when an unsuppressed finding is at or above SEVERITY, or (kev) known-exploited",
    )
    g.add_argument(
        "--vex",
        type=Path,
        action="append",
        metavar="FILE",
        help="OpenVEX, CycloneDX VEX or CSAF VEX document (repeatable)",
    )
    g.add_argument(
        "--ignore-file", type=Path, metavar="FILE", help="ignore file (default: ./.customhouseignore.yaml when present)"
    )
    from customhouse.misconfig.cli import add_misconfig_options

    add_misconfig_options(p)

    p = command("sbom", cmd_sbom, "catalog every package in TARGET and write an SBOM")
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    p.add_argument("-f", "--format", choices=SBOM_FORMATS, default="table", help="SBOM format (default: table)")
    _common(p)
    _image_opts(p)

    from customhouse.misconfig.cli import add_config_commands
    from customhouse.vulndb.cli import add_db_commands

    add_db_commands(sub)
    add_config_commands(sub)
    from customhouse.misconfig.k8s.cli import add_k8s_commands

    add_k8s_commands(sub)
    from customhouse.runtime.cli import add_commands as add_runtime_commands

    add_runtime_commands(sub)
    _add_fs_command(command)

    p = command("cache", lambda a: EXIT_USAGE, "inspect or clear the layer cache")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True, parser_class=_Parser)
    c = csub.add_parser("clean", help="delete every cached layer analysis")
    c.set_defaults(func=cmd_cache_clean)
    _common(c)
    return parser


def _add_fs_command(command: Callable[..., _Parser]) -> None:
    """`customhouse fs PATH` (customhouse/secrets/cli.py). Defined here, not there: importing the
    `customhouse.secrets` package loads the rule engine and PyYAML, and `--help` must stay instant."""

    def cmd_fs(args: argparse.Namespace) -> int:
        from customhouse.secrets.cli import cmd_fs as run_fs

        return run_fs(args)

    p = command(
        "fs",
        cmd_fs,
        "scan a directory tree (or one file) for secrets",
        "Scan every regular file under PATH for secrets (tokens, keys, passwords). Symlinks are not followed, "
        "FIFOs and devices never opened; binary, oversized and allowlisted files are skipped (docs/secrets.md). "
        "Secrets are redacted in every report. Exit codes: 0 clean, 1 an unsuppressed finding at or above "
        "--fail-on, 2 usage, 3 PATH unreadable, 6 internal error.",
    )
    p.add_argument("path", metavar="PATH", type=Path)
    p.add_argument("-f", "--format", choices=FS_FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--scanners", default="secret", help="comma list of scanners (fs runs only 'secret', the default)")
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
    p.add_argument("--respect-gitignore", action="store_true", help="skip what the tree's .gitignore files ignore")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and directories matching GLOB (repeatable): a name anywhere, or a path from PATH",
    )
    from customhouse.misconfig.cli import add_jobs_option

    add_jobs_option(
        p, "processes reading and scanning files (default 0: every usable CPU; trees under 1,000 files use one)"
    )
    _common(p)


def _debug_log(exc: BaseException) -> Path | None:
    import time
    import traceback

    from customhouse.cachedir import default_cache_dir

    try:
        d = default_cache_dir() / "logs"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        p.write_text("".join(traceback.format_exception(exc)))
        return p
    except OSError:
        return None


def run(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and turn every outcome into an exit code (never a traceback)."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv[:1] and argv[0] in STANDALONE else None).parse_args(argv)
    if args.cache_dir is None and os.environ.get("CUSTOMHOUSE_CACHE_DIR"):
        args.cache_dir = Path(os.environ["CUSTOMHOUSE_CACHE_DIR"])
    from customhouse import log

    log.configure(args.quiet, args.debug)
    try:
        return _dispatch(args)
    finally:
        log.reset()


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except CustomhouseError as exc:
        sys.stderr.write(f"customhouse: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("customhouse: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: one line, full detail in the crash log
        where = _debug_log(exc)
        tail = f"; details in {where}" if where else ""
        sys.stderr.write(f"customhouse: internal error: {type(exc).__name__}: {exc}{tail}\n")
        return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> None:
    """The program's entry point. A scanning command run as the program (`argv` not given) ends
    with `os._exit` once its output is flushed: the interpreter's teardown frees every module
    and object one by one, 13-25 ms that `fs`, `config` and `k8s` would spend after their work
    is done (about a tenth of an `fs` run on a root filesystem). Those commands leave nothing
    for exit handlers: files are closed, worker pools joined and no thread runs by then. Other
    commands, and callers passing `argv`, exit normally.

    The program also keeps its dataclasses' compiled methods between runs (`codecache`)."""
    if argv is None:
        from customhouse import codecache
        from customhouse.cachedir import default_cache_dir

        try:
            codecache.install(default_cache_dir())
        except RuntimeError:  # no home directory to find a cache in: compile as usual
            pass
    code = run(argv)
    if argv is None:
        codecache.save()
    if argv is None and sys.argv[1:2] and sys.argv[1] in STANDALONE:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:  # None when the descriptor was closed at start (`>&-`)
                    stream.flush()
            except (OSError, ValueError):  # a closed pipe: what was written is all the reader wanted
                pass
        os._exit(code)
    sys.exit(code)
