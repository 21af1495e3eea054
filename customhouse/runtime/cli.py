"""`customhouse runtime replay FILE` and `customhouse runtime rules check FILE`.

`add_commands(subparsers)` registers the `runtime` family on the main parser; handlers return
exit codes and raise CustomhouseError subclasses, which the main CLI turns into one line and the
documented exit code. Importing this module is cheap (no YAML, no rule compilation).
`python -m customhouse.runtime.cli runtime ...` runs the same commands on their own.

Exit codes: 0 done (alerts or not), 1 an alert at or above `--fail-on`, 2 usage, 3 a malformed
rules or events file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError

PRIORITY_CHOICES = "emergency, alert, critical, error, warning, notice, informational, debug"


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument(
        "--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR or ~/.cache/customhouse)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    g.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def _rule_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rule options")
    g.add_argument(
        "-r",
        "--rules",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="rules file in Falco's format, loaded after the default ruleset (repeatable, in order)",
    )
    g.add_argument("--no-default-rules", action="store_true", help="do not load the built-in default ruleset")
    g.add_argument(
        "--min-priority",
        default="debug",
        metavar="PRIORITY",
        help=f"load only rules at or above this priority ({PRIORITY_CHOICES}; default debug)",
    )


def add_commands(sub: Any) -> None:
    """Register `runtime` and its actions on the main parser's subparsers object."""
    rt = sub.add_parser(
        "runtime",
        help="runtime detection: replay recorded events through Falco-compatible rules, check rule files",
        description="Runtime detection with Falco-compatible rules (docs/runtime-rules.md).",
    )
    rt.set_defaults(func=lambda _a: EXIT_USAGE)
    actions = rt.add_subparsers(dest="runtime_command", metavar="ACTION", required=True, parser_class=type(rt))
    from customhouse.runtime.respond_cli import add_release_command

    add_release_command(actions)

    p = actions.add_parser(
        "replay",
        help="evaluate a JSON-lines file of recorded events against the rules and print the alerts",
        description="Evaluate recorded events (JSON lines, docs/runtime-events.md) against the default ruleset "
        "and any --rules files; print one alert a line. FILE '-' reads standard input.",
        epilog="Exit codes: 0 done, 1 an alert at or above --fail-on, 2 usage, 3 malformed rules or events.",
    )
    p.set_defaults(func=cmd_replay)
    p.add_argument("file", metavar="FILE", help="events file (JSON lines), or - for standard input")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text", help="alert format (default: text)")
    p.add_argument("-o", "--output", type=Path, help="write alerts to this file instead of stdout")
    _rule_opts(p)
    g = p.add_argument_group("replay options")
    g.add_argument(
        "--filter",
        metavar="CONDITION",
        help="only events matching this condition (the rules' macros and lists may be used) are evaluated and recorded",
    )
    g.add_argument("--record", type=Path, metavar="FILE", help="write the replayed (filtered) events to FILE")
    g.add_argument(
        "--rule-matching",
        choices=("all", "first"),
        default="all",
        help="all: every matching rule alerts (default); first: only the first, as Falco does by default",
    )
    g.add_argument("--fail-on", metavar="PRIORITY", default="", help="exit 1 when an alert is at or above PRIORITY")
    g.add_argument("--hostname", help="hostname in JSON alerts (default: this machine's)")
    _common(p)

    w = actions.add_parser(
        "watch",
        help="watch live kernel events (audit, process connector) and alert on rule matches (root)",
        description="Run the runtime agent: audit and process-connector events from this machine's containers "
        "go through the default ruleset and any --rules files (docs/runtime-agent.md). Needs root. The audit "
        "status and rules are restored on exit (SIGTERM/SIGINT included).",
        epilog="Exit codes: 0 done, 2 usage, 3 malformed rules, 6 audit or netlink unavailable.",
    )
    w.set_defaults(func=cmd_watch)
    w.add_argument("-f", "--format", choices=("text", "json"), default="text", help="alert format (default: text)")
    w.add_argument("-o", "--output", type=Path, help="write alerts to this file (line-buffered) instead of stdout")
    _rule_opts(w)
    wg = w.add_argument_group("watch options")
    wg.add_argument("--record", type=Path, metavar="FILE", help="write every event to FILE (JSON lines, replay format)")
    wg.add_argument("--duration", type=float, metavar="SECONDS", help="stop after SECONDS (default: until signalled)")
    wg.add_argument("--responses", type=Path, metavar="FILE", help="response configuration (docs/runtime-responses.md)")
    wg.add_argument("--dry-run", action="store_true", help="responses are only logged, never carried out")
    wg.add_argument(
        "--audit-all-opens",
        action="store_true",
        help="audit every open (needed for sensitive-file read rules; noisier) instead of opens for writing only",
    )
    wg.add_argument("--hostname", help="hostname in JSON alerts (default: this machine's)")
    wg.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="SPEC",
        help="also send alerts and response records (Falco's JSON) to file:PATH, webhook:URL or "
        "syslog:ADDR (/dev/log or host:port); repeatable",
    )
    wg.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on GET /metrics at this port"
    )
    wg.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST", help="address for --metrics-port")
    wg.add_argument(
        "--block-drift",
        action="store_true",
        help="deny (fanotify) the exec of files changed after their container started, in every runc "
        "container; with --dry-run only report (docs/runtime-agent.md)",
    )
    wg.add_argument(
        "--batch-ms",
        type=float,
        default=20.0,
        metavar="MS",
        help="gather kernel messages this long before reading them: fewer wake-ups, at most this much "
        "alert latency (default 20; 0 reads each message at once)",
    )
    wg.add_argument(
        "--stats-file",
        type=Path,
        metavar="FILE",
        help="write the agent's counters (events, alerts, losses) as JSON on exit",
    )
    kg = w.add_argument_group("Kubernetes audit sources (rules with source: k8s_audit)")
    kg.add_argument(
        "--k8s-audit-log",
        type=Path,
        metavar="FILE",
        help="follow the API server's audit log (--audit-log-path): new lines, rotation and truncation handled",
    )
    kg.add_argument(
        "--k8s-audit-webhook",
        metavar="HOST:PORT",
        help="receive the API server's audit webhook (EventList POSTs) here; port 0 picks a free one "
        "(the URL is printed when watching starts)",
    )
    kg.add_argument(
        "--k8s-audit-tls-cert", type=Path, metavar="FILE", help="certificate (PEM) for HTTPS on the webhook"
    )
    kg.add_argument("--k8s-audit-tls-key", type=Path, metavar="FILE", help="its private key (PEM)")
    kg.add_argument(
        "--no-kernel",
        action="store_true",
        help="no audit or process-connector events: only the Kubernetes audit sources (root not needed)",
    )
    _common(w)

    rules = actions.add_parser("rules", help="work with rule files", description="Work with rule files.")
    rules.set_defaults(func=lambda _a: EXIT_USAGE)
    ractions = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True, parser_class=type(rt))
    c = ractions.add_parser(
        "check",
        help="validate rules files and list the rules that load, are skipped or disabled",
        description="Load the default ruleset (unless --no-default-rules) and FILEs, in order; report every rule "
        "and why any was skipped. A malformed file exits 3 naming the file, line and item.",
    )
    c.set_defaults(func=cmd_rules_check)
    c.add_argument("files", metavar="FILE", nargs="*", type=Path, help="rules files (Falco format)")
    c.add_argument("--no-default-rules", action="store_true", help="do not load the built-in default ruleset")
    c.add_argument("--min-priority", default="debug", metavar="PRIORITY", help="as for replay")
    c.add_argument("-f", "--format", choices=("text", "json"), default="text", help="report format (default: text)")
    c.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    c.add_argument("-v", "--verbose", action="store_true", help="also print each rule's expanded condition")
    _common(c)


def _warner(args: argparse.Namespace) -> Any:
    def warn(msg: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"customhouse: warning: {msg}\n")

    return warn


def _load(args: argparse.Namespace, files: list[Path], rule_matching: str = "all") -> Any:
    from customhouse.runtime.rules import load_rules
    from customhouse.runtime.rules.engine import priority_level

    try:
        priority_level(args.min_priority)
    except ValueError as exc:
        raise UsageError(f"--min-priority: {exc}") from None
    if args.no_default_rules and not files:
        raise UsageError("--no-default-rules needs at least one rules file")
    return load_rules(
        files,
        default=not args.no_default_rules,
        min_priority=args.min_priority,
        rule_matching=rule_matching,
        warn=_warner(args),
    )


def _filter(ruleset: Any, text: str) -> Any:
    """A predicate per source for --filter; fields a source lacks make it false for that source."""
    from customhouse.runtime.rules.compiler import CompileError
    from customhouse.runtime.rules.fields import UnknownFieldError
    from customhouse.runtime.rules.parser import ParseError, parse_condition

    try:
        node = ruleset.compiler.expand(parse_condition(text))
    except ParseError as exc:
        raise UsageError(f"--filter: {exc.message} at character {exc.pos + 1}") from None
    except CompileError as exc:
        raise UsageError(f"--filter: {exc.message}") from None
    preds: dict[str, Any] = {}
    unknown: list[str] = []
    for source in ("syscall", "k8s_audit"):
        try:
            preds[source] = ruleset.compiler.predicate(node, source)
        except UnknownFieldError as exc:
            preds[source] = _never
            unknown.append(str(exc))
        except CompileError as exc:
            raise UsageError(f"--filter: {exc.message}") from None
    if len(unknown) == len(preds):
        raise UsageError(f"--filter: {unknown[0]}")
    return preds


def _never(_e: Any) -> bool:
    return False


def cmd_replay(args: argparse.Namespace) -> int:
    from customhouse.runtime.events import EventWriter, read_events
    from customhouse.runtime.output import AlertWriter
    from customhouse.runtime.rules.engine import priority_level

    fail_level = None
    if args.fail_on:
        try:
            fail_level = priority_level(args.fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
    if args.file != "-" and not Path(args.file).is_file():
        raise UsageError(f"{args.file}: no such events file")
    ruleset = _load(args, list(args.rules), args.rule_matching)
    preds = _filter(ruleset, args.filter) if args.filter else None
    import gc

    gc.freeze()  # rules, fields and modules live for the whole run: keep them out of every collection
    engine = ruleset.engine
    worst = 99
    n = 0
    t0 = time.perf_counter()
    recorder = EventWriter(args.record) if args.record else None
    writer = AlertWriter(args.format, args.output, args.hostname)
    ok = False
    try:
        for e in read_events(args.file):
            if preds is not None and not preds[e.source](e):
                continue
            n += 1
            if recorder is not None:
                recorder.write(e)
            for a in engine.evaluate(e):
                writer.write(a)
                worst = min(worst, a.rule.priority)
        ok = True
    finally:
        if recorder is not None:
            recorder.close()
        if ok:
            writer.close()
        else:
            writer.abort()
    if not args.quiet:
        dt = time.perf_counter() - t0
        rec = f", recorded to {args.record}" if recorder is not None else ""
        sys.stderr.write(f"customhouse: replayed {n} events in {dt:.2f} s: {writer.count} alerts{rec}\n")
    if fail_level is not None and worst <= fail_level:
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    import json
    import os

    from customhouse.errors import CustomhouseError
    from customhouse.runtime.output import alert_json, alert_text

    if args.no_kernel and not (args.k8s_audit_log or args.k8s_audit_webhook):
        raise UsageError("--no-kernel needs a Kubernetes audit source (--k8s-audit-log or --k8s-audit-webhook)")
    if args.no_kernel and args.block_drift:
        raise UsageError("--block-drift needs the kernel sources (it cannot be used with --no-kernel)")
    if bool(args.k8s_audit_tls_cert) != bool(args.k8s_audit_tls_key):
        raise UsageError("--k8s-audit-tls-cert and --k8s-audit-tls-key go together")
    webhook_addr = _host_port(args.k8s_audit_webhook) if args.k8s_audit_webhook else None
    if os.geteuid() != 0 and not args.no_kernel:
        raise UsageError("runtime watch needs root (audit and the process connector are privileged)")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError("--metrics-port must be 0..65535")
    ruleset = _load(args, list(args.rules))
    from customhouse.runtime.agent import Agent
    from customhouse.runtime.events import EventWriter

    hostname = args.hostname
    if hostname is None:
        import socket

        hostname = socket.gethostname()
    fanout = _sinks(args.sink, hostname or "")
    out = sys.stdout if args.output is None else open(args.output, "a", encoding="utf-8", buffering=1)
    recorder = EventWriter(args.record) if args.record else None
    responder = None
    try:
        import importlib

        respond: Any = importlib.import_module("customhouse.runtime.respond")
    except ImportError:  # responses not installed: log-only
        respond = None
    if respond is not None:
        try:
            config = respond.load_response_config(args.responses) if args.responses else None
        except (OSError, ValueError) as exc:
            raise UsageError(f"--responses: {exc}") from None
        responder = respond.Responder(config, dry_run=True if args.dry_run else None, hostname=hostname or "",
                                      emit=fanout.emit if fanout is not None else None)  # fmt: skip
    warn = _warner(args)

    def sink(alert: Any) -> None:
        doc = alert_json(alert, hostname) if args.format == "json" or fanout is not None else None
        line = doc if args.format == "json" else alert_text(alert)
        out.write((json.dumps(line, separators=(",", ":")) if args.format == "json" else str(line)) + "\n")
        out.flush()
        if fanout is not None and doc is not None:
            fanout.emit(doc)  # never raises: a failing sink is counted (customhouse_sink_errors_total)
        if responder is not None:
            try:
                for res in responder.handle(alert, alert.event) or []:
                    if res.action != "log" or not res.ok:  # the alert itself is the log line
                        warn(f"response: {res}")
            except Exception as exc:  # a failed response must not stop detection
                warn(f"response to {alert.rule.name!r} failed: {exc}")

    def record(e: Any) -> None:
        if recorder is not None:
            recorder.write(e)

    if not 0 <= args.batch_ms <= 1000:
        raise UsageError("--batch-ms must be 0..1000")
    k8s_sources, webhook = _k8s_audit_sources(args, webhook_addr)
    agent = Agent(ruleset.engine, sink, record if recorder else None, all_opens=args.audit_all_opens,
                  batch_window=args.batch_ms / 1000, k8s_sources=k8s_sources,
                  kernel=not args.no_kernel)  # fmt: skip

    def ready() -> None:
        if not args.quiet:
            what = [] if args.no_kernel else ["audit", "process connector"]
            if args.k8s_audit_log:
                what.append(f"k8s audit log {args.k8s_audit_log}")
            if webhook is not None:
                what.append(f"k8s audit webhook {webhook.url}")
            sys.stderr.write(f"customhouse: watching ({' + '.join(what)})\n")
            sys.stderr.flush()

    guard = None
    if args.block_drift:
        from customhouse.runtime.execguard import Decision, ExecGuard, ExecGuardError
        from customhouse.runtime.sinks import METRICS

        def on_decision(d: Decision) -> None:
            verb = "would deny" if d.dry_run else "denied"
            warn(f"block_exec: {verb} exec of {d.path} (pid {d.pid}) in container {d.container_id}: "
                 "changed after the container started")  # fmt: skip
            result = "dry_run" if d.dry_run else "ok"
            METRICS.inc("customhouse_response_actions_total", {"action": "block_exec", "result": result})
            if fanout is not None and respond is not None:
                rule = "Executable not in image run in container"
                detail = f"{verb} exec of {d.path}"
                r = respond.ActionResult("block_exec", True, rule, d.container_id, d.pid, d.dry_run, detail, "", d.ts)
                fanout.emit(respond.result_doc(r, hostname or ""))

        try:
            guard = ExecGuard(on_decision, dry_run=args.dry_run).start()
        except ExecGuardError as exc:
            raise CustomhouseError(f"runtime watch --block-drift: {exc}") from None
    server = None
    if args.metrics_port is not None:
        from customhouse.runtime.sinks import MetricsServer

        try:
            server = MetricsServer(host=args.metrics_host, port=args.metrics_port).start()
        except OSError as exc:
            raise UsageError(f"--metrics-port {args.metrics_port}: {exc}") from None
    from customhouse.runtime.sources.audit import AuditError

    try:
        stats = agent.run(args.duration, ready)
    except AuditError as exc:
        raise CustomhouseError(f"runtime watch: {exc}") from None
    except OSError as exc:
        raise CustomhouseError(f"runtime watch: kernel interface unavailable: {exc}") from None
    finally:
        if webhook is not None:
            webhook.close()
        if guard is not None:
            guard.close()
        if server is not None:
            server.close()
        if fanout is not None:
            fanout.close()
        if args.stats_file is not None:
            args.stats_file.write_text(json.dumps(agent.stats.as_dict(), indent=2) + "\n")
        if recorder is not None:
            recorder.close()
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    if not args.quiet:
        sys.stderr.write(
            f"customhouse: watched {stats.events} events: {stats.alerts} alerts, {stats.bad_events} unparseable; "
            f"lost: {stats.kernel_lost()} by the kernel's audit, ENOBUFS audit {stats.audit_enobufs} "
            f"proc connector {stats.netlink_enobufs}\n"
        )
    return EXIT_OK


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--k8s-audit-webhook {value}: use HOST:PORT (port 0 picks a free one)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _k8s_audit_sources(args: argparse.Namespace, webhook_addr: tuple[str, int] | None) -> tuple[list[Any], Any]:
    """The Kubernetes audit sources asked for, as pollables for the agent's loop, and the webhook
    server (started; the caller closes it). The webhook's request threads only queue events
    (bounded: a flood is dropped and counted, never buffered without limit); the agent drains
    the queue in its loop, so the rules always run on the agent's thread."""
    import queue

    from customhouse.runtime.sources.k8s_audit import AuditLogTailer, AuditWebhookServer

    sources: list[Any] = []
    if args.k8s_audit_log is not None:
        if args.k8s_audit_log.exists() and not args.k8s_audit_log.is_file():
            raise UsageError(f"--k8s-audit-log {args.k8s_audit_log}: not a file")
        sources.append(AuditLogTailer(args.k8s_audit_log).poll)  # a log that appears later is picked up
    webhook = None
    if webhook_addr is not None:
        q: queue.Queue[Any] = queue.Queue(maxsize=10_000)

        def drain(limit: int = 1000) -> list[Any]:
            out: list[Any] = []
            while len(out) < limit:
                try:
                    out.append(q.get_nowait())
                except queue.Empty:
                    break
            return out

        cert, key = args.k8s_audit_tls_cert, args.k8s_audit_tls_key
        try:
            webhook = AuditWebhookServer(
                q.put_nowait, webhook_addr[0], webhook_addr[1],
                certfile=str(cert) if cert else None, keyfile=str(key) if key else None,
            ).start()  # fmt: skip
        except (OSError, ValueError) as exc:
            raise UsageError(f"--k8s-audit-webhook {args.k8s_audit_webhook}: {exc}") from None
        sources.append(drain)
    return sources, webhook


def _sinks(specs: list[str], hostname: str) -> Any:
    """`--sink` specs -> a FanOut (None without any). Bad specs are usage errors, before anything starts."""
    if not specs:
        return None
    from customhouse.errors import InputError
    from customhouse.runtime import sinks as sk

    out: list[Any] = []
    for spec in specs:
        kind, sep, arg = spec.partition(":")
        if not sep or not arg:
            raise UsageError(f"--sink {spec}: use file:PATH, webhook:URL or syslog:ADDR")
        try:
            if kind == "file":
                out.append(sk.FileSink(arg))
            elif kind == "webhook":
                out.append(sk.WebhookSink(arg))
            elif kind == "syslog":
                out.append(sk.SyslogSink(sk.parse_syslog_address(arg), hostname=hostname))
            else:
                raise UsageError(f"--sink {spec}: unknown kind {kind!r} (file, webhook, syslog)")
        except (InputError, OSError) as exc:
            raise UsageError(f"--sink {spec}: {exc}") from None
    return sk.FanOut(out)


def cmd_rules_check(args: argparse.Namespace) -> int:
    import json

    for f in args.files:
        if not f.is_file():
            raise UsageError(f"{f}: no such rules file")
    ruleset = _load(args, list(args.files))
    rules = ruleset.rules
    if args.format == "json":
        doc = {
            "files": ruleset.files,
            "lists": ruleset.lists,
            "macros": ruleset.macros,
            "rules": [
                {
                    "rule": r.name,
                    "priority": r.priority_name,
                    "source": r.source,
                    "tags": list(r.tags),
                    "event_types": sorted(r.evttypes) if r.evttypes is not None else None,
                    "where": r.where,
                    **({"condition": r.condition} if args.verbose else {}),
                }
                for r in rules
            ],
            "skipped": [{"rule": s.name, "where": s.where, "reason": s.reason} for s in ruleset.skipped],
            "disabled": ruleset.disabled,
        }
        text = json.dumps(doc, indent=2) + "\n"
    else:
        lines = [
            f"{len(ruleset.files)} file(s), {ruleset.lists} lists, {ruleset.macros} macros: "
            f"{len(rules)} rules loaded, {len(ruleset.skipped)} skipped, {len(ruleset.disabled)} disabled"
        ]
        for r in rules:
            types = ",".join(sorted(r.evttypes)) if r.evttypes is not None else "all"
            lines.append(f"  loaded    {r.name}  [{r.priority_name}, {r.source}, evt.type: {types}]  {r.where}")
            if args.verbose:
                lines.append(f"            {r.condition}")
        for s in ruleset.skipped:
            lines.append(f"  skipped   {s.name}  {s.where}: {s.reason}")
        for name in ruleset.disabled:
            lines.append(f"  disabled  {name}")
        text = "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Run the runtime commands on their own: `python -m customhouse.runtime.cli runtime ...`."""
    import os

    from customhouse import cli as main_cli
    from customhouse import log

    parser = main_cli._Parser(prog="customhouse")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=main_cli._Parser)
    add_commands(sub)
    args = parser.parse_args(argv)
    if args.cache_dir is None and os.environ.get("CUSTOMHOUSE_CACHE_DIR"):
        args.cache_dir = Path(os.environ["CUSTOMHOUSE_CACHE_DIR"])
    log.configure(args.quiet, args.debug)
    try:
        code = main_cli._dispatch(args)
    finally:
        log.reset()
    sys.exit(code)


if __name__ == "__main__":
    main()
