"""`customhouse rbac who-can` and `customhouse rbac paths`: RBAC questions asked of a manifest tree.

Both commands read every Kubernetes manifest under PATH the way `customhouse config` finds them
(the runner's `iter_documents`: its file walk, type detection, size limit and parser; unreadable
or invalid files become warnings naming the file) and answer from the RBAC model in rbac.py.
They are queries, not scans: the exit code is 0 whatever the answer, unless `paths
--fail-on-path` asks for 1 when a path exists. Imports stay inside the handlers so that
`customhouse --help` does not load YAML or rich.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK, UsageError

if TYPE_CHECKING:
    from customhouse.misconfig.engine import Document
    from customhouse.misconfig.k8s.rbac import EscalationPath, Grant

FORMATS = ("table", "json")
SCHEMA_VERSION = 1
WIDTH = 160


def add_commands(sub: Any) -> None:
    """Register this family's subcommands on the top-level parser."""
    from customhouse.misconfig.cli import _common

    p = sub.add_parser(
        "rbac",
        help="query Kubernetes RBAC in manifests: who can do what, escalation paths to cluster-admin",
        description="Answer RBAC questions from the Roles, ClusterRoles and bindings under a manifest tree.",
    )
    rsub = p.add_subparsers(dest="rbac_command", metavar="ACTION", required=True, parser_class=type(p))

    w = rsub.add_parser(
        "who-can",
        help="subjects allowed VERB on RESOURCE, with the binding, role and rule granting it",
        description="List every subject a binding allows VERB on RESOURCE (e.g. `get secrets`, `create pods/exec`, "
        "`update deployments.apps`, `get /metrics`), with the binding, role and rule behind each answer.",
    )
    w.add_argument("verb", metavar="VERB")
    w.add_argument(
        "resource",
        metavar="RESOURCE",
        help="resource[.group][/subresource], or a non-resource URL starting with /",
    )
    w.add_argument("path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="manifests (default: .)")
    w.add_argument("-n", "--namespace", default=None, help="only grants that apply in this namespace")
    w.add_argument("--name", default=None, help="the object name (rules restricted by resourceNames)")
    w.add_argument("--api-group", default=None, help="API group of RESOURCE (overrides RESOURCE's .group)")
    w.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default: table)")
    w.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    _common(w)
    w.set_defaults(func=cmd_who_can)

    pa = rsub.add_parser(
        "paths",
        help="escalation paths to cluster-admin (or to a subject), shortest first",
        description="For every subject of the tree's bindings, the shortest chain of grants that makes it "
        "cluster-admin (or the --to subject): each hop names the binding, role and rule enabling it.",
    )
    pa.add_argument("path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="manifests (default: .)")
    pa.add_argument(
        "--to",
        default="cluster-admin",
        metavar="TARGET",
        help="cluster-admin (default) or a subject: user:NAME, group:NAME, sa:NAMESPACE/NAME",
    )
    pa.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="SUBJECT",
        help="start only from these subjects (repeatable; default: every subject of a binding)",
    )
    pa.add_argument("--max-depth", type=int, default=None, metavar="N", help="longest path searched (default: 8)")
    pa.add_argument(
        "--include-defaults",
        action="store_true",
        help="also start from subjects bound only by cluster-default bindings (kubernetes.io/bootstrapping)",
    )
    pa.add_argument("--fail-on-path", action="store_true", help="exit 1 when any subject has a path")
    pa.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default: table)")
    pa.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    _common(pa)
    pa.set_defaults(func=cmd_paths)


# --------------------------------------------------------------------------------------------
# loading


def load_manifests(root: Path, exclude: list[str] | tuple[str, ...] = ()) -> tuple[list[Document], list[str]]:
    """Every Kubernetes manifest under `root`, parsed; warnings name the files that could not be."""
    from customhouse.misconfig.runner import ScanResult, iter_documents

    sink = ScanResult()
    docs = list(iter_documents(root, sink, exclude=exclude, file_types=("kubernetes",)))
    return docs, sink.warnings


def _model(args: argparse.Namespace) -> tuple[Any, list[str]]:
    from customhouse.cli import _warn
    from customhouse.misconfig.k8s.rbac import RbacModel

    docs, warnings = load_manifests(args.path, args.exclude)
    model = RbacModel.from_documents(docs)
    warnings += model.warnings
    if not args.quiet:
        for w in warnings:
            _warn(w)
    return model, warnings


def _emit(text: str, output: Path | None) -> None:
    from customhouse.cli import _emit as emit

    emit(text, output)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2) + "\n"


def _t(text: str) -> Any:
    """Plain text for a table cell: rule text like `verbs=[get]` is not rich markup."""
    from rich.text import Text

    return Text(text)


def _render(*renderables: Any) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=WIDTH, force_terminal=False, color_system=None, emoji=False)
    for r in renderables:
        console.print(r, highlight=False)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# who-can


def parse_resource(spec: str, api_group: str | None = None) -> tuple[str, str, str]:
    """(group, resource, subresource) from `resource[.group][/subresource]`.

    Without a group, well-known resources get theirs (deployments -> apps) and others the core
    group; `*` alone means rules written for every API group.
    """
    from customhouse.misconfig.k8s.rbac import WELL_KNOWN_GROUPS

    if not spec:
        raise UsageError("RESOURCE must not be empty")
    if spec.startswith("/"):
        return "", spec, ""
    base, _, sub = spec.partition("/")
    resource, dot, group = base.partition(".")
    if not resource:
        raise UsageError(f"RESOURCE {spec!r}: expected resource[.group][/subresource]")
    if api_group is not None:
        group = api_group
    elif not dot:
        group = "*" if resource == "*" else WELL_KNOWN_GROUPS.get(resource, "")
    return group, resource, sub


def _scope(grant: Grant) -> str:
    from customhouse.misconfig.k8s.rbac import ALL_NAMESPACES, CLUSTER

    if grant.scope == CLUSTER:
        return "cluster"
    return "all-namespaces" if grant.scope == ALL_NAMESPACES else grant.scope


def cmd_who_can(args: argparse.Namespace) -> int:
    group, resource, sub = parse_resource(args.resource, args.api_group)
    model, warnings = _model(args)
    results = model.who_can(args.verb, resource, group, sub, args.namespace, args.name)
    query = {
        "verb": args.verb,
        "resource": resource,
        "subresource": sub,
        "api_group": group,
        "namespace": args.namespace,
        "name": args.name,
        "non_resource_url": resource.startswith("/"),
    }
    if args.format == "json":
        rows = [
            {
                "subject": g.subject.as_dict(),
                "subject_ref": g.subject.ref,
                "scope": _scope(g),
                "resource_names": list(names),
                "cluster_default": bool(g.binding is not None and g.binding.bootstrap),
                "grant": g.as_dict(),
            }
            for g, names in results
        ]
        out = {"schema_version": SCHEMA_VERSION, "query": query, "results": rows, "warnings": warnings}
        _emit(_json(out), args.output)
        return EXIT_OK
    from rich.table import Table

    what = f"{args.verb} {args.resource}" + (f" in namespace {args.namespace}" if args.namespace else "")
    table = Table(title=f"who can {what}", title_justify="left")
    for col in ("Subject", "Scope", "Binding", "Role", "Rule", "Names"):
        table.add_column(col, overflow="fold")
    for g, names in results:
        binding = f"{g.binding.ref}\n{g.subject_source}" if g.binding is not None else "-"
        cells = (
            g.subject.ref,
            _scope(g),
            binding,
            f"{g.role.ref}\n{g.role.source}",
            f"{g.rule.text()}\n{g.rule.source}",
            ",".join(names) if names else "any",
        )
        table.add_row(*map(_t, cells))
    count = len({g.subject for g, _ in results})
    summary = f"{count} subject{'s' if count != 1 else ''} ({len(results)} grant{'s' if len(results) != 1 else ''})"
    _emit(_render(table, summary) if results else f"nobody can {what}\n", args.output)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# paths


def _principal(spec: str, flag: str) -> Any:
    from customhouse.misconfig.k8s.rbac import Principal

    try:
        return Principal.parse(spec)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def cmd_paths(args: argparse.Namespace) -> int:
    from customhouse.misconfig.k8s.rbac import DEFAULT_MAX_DEPTH, pnode

    depth = DEFAULT_MAX_DEPTH if args.max_depth is None else args.max_depth
    if depth < 1 or depth > 64:
        raise UsageError("--max-depth must be between 1 and 64")
    target = args.to.strip()
    target_principal = None if target == "cluster-admin" else _principal(target, "--to")
    starts = [_principal(s, "--from") for s in args.sources]
    model, warnings = _model(args)
    asked = (*starts, target_principal) if target_principal is not None else tuple(starts)
    graph = model.escalation_graph(depth, extra=asked)
    if not starts:
        starts = model.principals(include_defaults=args.include_defaults)
    if target_principal is None:
        goals = graph.cluster_admin_nodes()
        target_name = "cluster-admin"
    else:
        goals = {pnode(target_principal): (f"the target {target_principal.ref}", None)}
        target_name = target_principal.ref
        starts = [s for s in starts if s != target_principal]
    found = [p for s in starts if (p := graph.path(s, goals)) is not None]
    found.sort(key=lambda p: (p.length, p.start))
    if args.format == "json":
        out = {
            "schema_version": SCHEMA_VERSION,
            "target": target_name,
            "max_depth": depth,
            "subjects_checked": len(starts),
            "paths": [p.as_dict() for p in found],
            "warnings": warnings,
        }
        _emit(_json(out), args.output)
    else:
        _emit(_paths_table(found, target_name, len(starts)), args.output)
    escalations = [p for p in found if p.hops]
    return EXIT_FINDINGS if args.fail_on_path and escalations else EXIT_OK


def _paths_table(paths: list[EscalationPath], target: str, checked: int) -> str:
    from rich.table import Table

    items: list[Any] = []
    direct = [p for p in paths if not p.hops]
    if direct:
        t = Table(title=f"already {target}", title_justify="left")
        t.add_column("Subject", overflow="fold")
        t.add_column("Why", overflow="fold")
        for p in direct:
            t.add_row(_t(p.start.ref), _t(p.reason))
        items.append(t)
    for p in paths:
        if not p.hops:
            continue
        steps = f"{p.length} step{'s' if p.length != 1 else ''}"
        t = Table(title=f"{p.start.ref} -> {target} ({steps})", title_justify="left", show_lines=True)
        for col in ("#", "From", "Can", "Becomes", "Granted by"):
            t.add_column(col, overflow="fold")
        for i, h in enumerate(p.hops, 1):
            can = h.action + (f"\n({h.via})" if h.via else "")
            granted = "\n".join(
                f"{g.binding.ref if g.binding is not None else 'a binding it creates'} -> {g.role.ref}: "
                f"{g.rule.text()} [{g.rule.source}]"
                for g in h.grants
            )
            t.add_row(*map(_t, (str(i), h.src, can, h.dst, granted)))
        if p.end_grant is not None:
            end = (p.end_grant.binding.ref if p.end_grant.binding else "") + f" -> {p.end_grant.role.ref}: "
            end += f"{p.end_grant.rule.text()} [{p.end_grant.rule.source}]"
            t.add_row(*map(_t, ("", p.end, f"is {target}", "", end)))
        else:
            t.add_row(*map(_t, ("", p.end, f"is {p.reason}", "", "")))
        items.append(t)
    n = len([p for p in paths if p.hops])
    items.append(
        f"{n} subject{'s' if n != 1 else ''} with a path to {target}, {len(direct)} already there "
        f"({checked} subject{'s' if checked != 1 else ''} checked)"
    )
    return _render(*items)
