"""`customhouse db update|build|status|push|pull`: argparse wiring and the handlers.

`add_db_commands(subparsers)` is what the main CLI calls; handlers return exit codes and raise
CustomhouseError subclasses for failures, which the main CLI turns into one line and the
documented exit code. `python -m customhouse.vulndb.cli ...` runs the same commands on their
own (tests use it to kill a real build half-way).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_OK, EXIT_USAGE

_EPILOG = (
    "Feed URLs can also be set with CUSTOMHOUSE_OSV_URL, CUSTOMHOUSE_ALPINE_URL, CUSTOMHOUSE_DEBIAN_URL, "
    "CUSTOMHOUSE_NVD_URL, CUSTOMHOUSE_KEV_URL, CUSTOMHOUSE_EPSS_URL; the NVD API key with NVD_API_KEY."
)
_LAYOUT = (
    "Layout of DIR (or URL, which must serve index.json or directory listings): "
    "osv/<Ecosystem>/all.zip or osv/<Ecosystem>-all.zip, alpine/secdb/<branch>/<repo>.json, "
    "debian/tracker.json, debian/DSA-list, nvd/*.json[.gz], kev/known_exploited_vulnerabilities.json, "
    "epss/*.csv[.gz]; samples named formats/osv-*.json, formats/nvd-*.json, formats/epss*.csv, "
    "formats/debian-security-tracker*.json, formats/debian-DSA-list* are read too. Other files are ignored."
)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--db", type=Path, help="database file (default: <cache-dir>/db/customhouse.db)")
    g.add_argument(
        "--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR or ~/.cache/customhouse)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    g.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def _registry(p: argparse.ArgumentParser) -> None:
    p.add_argument("reference", metavar="REF", help="registry reference, e.g. registry.example.com/security/db:1")
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP and unverified TLS to the registry")


def add_db_commands(subparsers: Any) -> None:
    """Register `db` and its actions on the main parser's subparsers object."""
    db = subparsers.add_parser(
        "db",
        help="download, build, inspect and publish the vulnerability database",
        description="Download, build, inspect and publish the vulnerability database.",
    )
    db.set_defaults(func=lambda _a: EXIT_USAGE)
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True, parser_class=type(db))

    p = actions.add_parser(
        "update",
        help="download the feeds and rebuild the database",
        description="Download every feed into the cache (only what changed), then rebuild the database atomically. "
        "A feed that cannot be downloaded aborts the update (exit 5) and the current database stays.",
        epilog=_EPILOG,
    )
    p.set_defaults(func=cmd_update)
    p.add_argument(
        "--sources",
        default="osv,alpine,debian,nvd,kev,epss",
        help="comma-separated feeds to download (default: all); feeds downloaded before stay in the build",
    )
    p.add_argument(
        "--osv-ecosystems", help="comma-separated OSV ecosystems (default: the distros and languages we scan)"
    )
    p.add_argument("--alpine-branches", help="comma-separated secdb branches (default: v3.10 .. v3.22, edge)")
    p.add_argument("--osv-url", help="OSV export URL template with {ecosystem}")
    p.add_argument("--alpine-url", help="Alpine secdb URL template with {branch} and {repo}")
    p.add_argument("--debian-url", help="Debian security tracker JSON URL")
    p.add_argument("--nvd-url", help="NVD CVE API 2.0 URL")
    p.add_argument("--nvd-api-key", help="NVD API key (default: $NVD_API_KEY); raises the rate limit tenfold")
    p.add_argument("--nvd-page-size", type=int, default=2000, help="CVEs per NVD request (max 2000)")
    p.add_argument(
        "--nvd-request-delay", type=float, help="seconds between NVD requests (default: 6, or 0.6 with an API key)"
    )
    p.add_argument("--kev-url", help="CISA KEV JSON URL")
    p.add_argument("--epss-url", help="FIRST EPSS CSV(.gz) URL")
    p.add_argument("--retries", type=int, default=4, help="retries per download on network errors, 429 and 5xx")
    _common(p)

    p = actions.add_parser(
        "build",
        help="build the database from a local or HTTP mirror of the feeds",
        description="Build the database from feed files in DIR, or under URL. " + _LAYOUT,
    )
    p.set_defaults(func=cmd_build)
    p.add_argument("--from", dest="source", required=True, metavar="DIR|URL", help="feed mirror to build from")
    _common(p)

    p = actions.add_parser("status", help="show what the database holds and how old it is")
    p.set_defaults(func=cmd_status)
    p.add_argument("-f", "--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    _common(p)

    p = actions.add_parser("push", help="publish the database to a registry as an OCI artifact")
    p.set_defaults(func=cmd_push)
    _registry(p)
    _common(p)

    p = actions.add_parser("pull", help="replace the database with one published in a registry")
    p.set_defaults(func=cmd_pull)
    _registry(p)
    _common(p)


# ------------------------------------------------------------------ helpers


def _settings(args: argparse.Namespace) -> Any:
    from customhouse.cachedir import default_cache_dir
    from customhouse.settings import Settings

    return Settings(
        cache_dir=args.cache_dir or default_cache_dir(),
        insecure=bool(getattr(args, "insecure", False)),
        progress=sys.stderr.isatty() and not args.quiet,
    )


def _db_path(args: argparse.Namespace, settings: Any) -> Path:
    from customhouse.vulndb.db import default_db_path

    return Path(args.db) if args.db else default_db_path(settings.cache_dir)


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        sys.stderr.write(f"customhouse: {line}\n")


def _report(args: argparse.Namespace, report: Any) -> None:
    lines = report.lines()
    _say(args, lines[0])
    if args.quiet:
        return
    for s in report.sources:
        tail = f"; {s.summary()}" if s.skipped else ""
        sys.stderr.write(f"  {s.name}: {s.records} records{tail}\n")
    for s in report.sources:
        if s.skipped:
            first = next(iter(s.examples.items()), None)
            example = f" (first: {first[1]}: {first[0]})" if first else ""
            sys.stderr.write(f"customhouse: warning: {s.name}: {s.summary()}{example}\n")


class _BuildProgress:
    """A files-done bar while building, on terminals only."""

    def __init__(self, enabled: bool) -> None:
        self._prog: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            from customhouse.console import stderr_console

            self._prog = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=stderr_console(),
                transient=True,
            )
            self._task = self._prog.add_task("building", total=1)
            self._prog.start()

    def __call__(self, desc: str, done: int, total: int) -> None:
        if self._prog is not None:
            self._prog.update(self._task, description=desc[:60], completed=done, total=max(total, 1))

    def close(self) -> None:
        if self._prog is not None:
            self._prog.stop()


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, output)


# ------------------------------------------------------------------ handlers


def cmd_update(args: argparse.Namespace) -> int:
    from customhouse.errors import UsageError
    from customhouse.vulndb import update as up

    settings = _settings(args)
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    unknown = [s for s in sources if s not in up.SOURCES]
    if unknown:
        raise UsageError(f"--sources: unknown feed {unknown[0]!r} (known: {', '.join(up.SOURCES)})")
    urls = up.resolve_urls(
        {
            "osv": args.osv_url,
            "alpine": args.alpine_url,
            "debian": args.debian_url,
            "nvd": args.nvd_url,
            "kev": args.kev_url,
            "epss": args.epss_url,
        }
    )
    opts = up.UpdateOptions(
        sources=sources,
        urls=urls,
        nvd_api_key=up.nvd_api_key(args.nvd_api_key),
        nvd_page_size=args.nvd_page_size,
        nvd_delay=args.nvd_request_delay,
        attempts=max(0, args.retries) + 1,
    )
    if args.osv_ecosystems:
        opts.osv_ecosystems = tuple(e.strip() for e in args.osv_ecosystems.split(",") if e.strip())
    if args.alpine_branches:
        opts.alpine_branches = tuple(b.strip() for b in args.alpine_branches.split(",") if b.strip())
    progress = _BuildProgress(settings.progress)
    try:
        report = up.update(settings, _db_path(args, settings), opts, progress)
    finally:
        progress.close()
    _report(args, report)
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from customhouse.vulndb.update import build_from

    settings = _settings(args)
    progress = _BuildProgress(settings.progress)
    try:
        report = build_from(args.source, _db_path(args, settings), settings, progress)
    finally:
        progress.close()
    _report(args, report)
    return EXIT_OK


def _age(days: float | None) -> str:
    if days is None:
        return "unknown age"
    if days < 1:
        return f"{days * 24:.1f} hours ago"
    return f"{days:.1f} days ago"


def format_status(info: dict[str, Any]) -> str:
    """The table form of `db status`."""
    lines = [
        f"database  {info['path']}",
        f"schema    {info['schema_version']}",
        f"built     {info['built_at'] or '?'} ({_age(info['age_days'])})",
        f"builder   {info['builder'] or '?'}",
        f"size      {info['size_bytes'] / 1e6:.1f} MB",
        "",
    ]
    rows = [("SOURCE", "RECORDS", "SKIPPED", "FETCHED", "URL")]
    rows += [(s["name"], str(s["records"]), str(s["skipped"]), s["fetched_at"], s["url"]) for s in info["sources"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(
            "  ".join(
                [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]), r[4]]
            )
        )
    lines.append("")
    width = max(len(k) for k in info["counts"])
    lines.append(f"{'TABLE'.ljust(width)}  ROWS")
    lines.extend(f"{k.ljust(width)}  {v}" for k, v in info["counts"].items())
    return "\n".join(lines) + "\n"


def cmd_status(args: argparse.Namespace) -> int:
    from customhouse.vulndb.build import status

    settings = _settings(args)
    info = status(_db_path(args, settings))
    text = json.dumps(info, indent=2, sort_keys=True) + "\n" if args.format == "json" else format_status(info)
    _emit(text, args.output)
    return EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    from customhouse.vulndb.artifact import push

    settings = _settings(args)
    result = push(args.reference, _db_path(args, settings), settings)
    _say(args, f"pushed {result.reference}@{result.digest} ({result.size / 1e6:.1f} MB compressed)")
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from customhouse.vulndb.artifact import pull

    settings = _settings(args)
    info = pull(args.reference, _db_path(args, settings), settings)
    _say(args, f"pulled {info['reference']} (built {info['built_at'] or '?'}) into {info['path']}")
    return EXIT_OK


# ------------------------------------------------------------------ standalone


def run(argv: list[str] | None = None) -> int:
    """The same as `customhouse db ...`: one parser, one error mapping (customhouse.cli)."""
    from customhouse.cli import run as cli_run

    return cli_run(argv)


if __name__ == "__main__":
    sys.exit(run())
