"""`customhouse netpol [PATH]`: the NetworkPolicy connectivity matrix of a manifest tree, and its findings.

The matrix answers "who can reach whom" for review and for diffing between releases (JSON is
the contract, Graphviz dot is for pictures, the table is for people); the CH-K8S-NP findings ride
along with the shared ignore file, `--severity` and `--fail-on`, so the command also works as a
CI gate. Everything heavy (YAML, rich, the checks) loads inside the handler.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customhouse.errors import EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from customhouse.misconfig.engine import Document
    from customhouse.misconfig.k8s.netpol import Analysis
    from customhouse.report.findings import Finding

NETPOL_FORMATS = ("table", "json", "dot")
CHECK_PREFIX = "CH-K8S-NP-"
GRID_MAX = 12  # up to this many workloads the table shows a grid; beyond, a list of pairs
WIDTH = 120


def add_commands(sub: Any) -> None:
    """Register `netpol` on the top-level parser."""
    from customhouse.misconfig.cli import _common

    p = sub.add_parser(
        "netpol",
        help="NetworkPolicy connectivity matrix and findings for the Kubernetes manifests under PATH",
        description="Evaluate the NetworkPolicies of a manifest tree exactly as Kubernetes defines them: "
        "which workloads (and which outside addresses) may connect to which, on which ports, plus "
        "CH-K8S-NP findings. Exit 1 when a finding is at or above --fail-on.",
    )
    p.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="file or directory (default: .)"
    )
    p.add_argument("-f", "--format", choices=NETPOL_FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--fail-on", default="", metavar="SEVERITY", help="exit 1 at or above this severity")
    p.add_argument("--severity", default="", help="report only findings of these severities (comma list)")
    p.add_argument(
        "--ignore-file", type=Path, metavar="FILE", help="ignore file (default: ./.customhouseignore.yaml when present)"
    )
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    _common(p)
    p.set_defaults(func=cmd_netpol)


def load_documents(root: Path, exclude: Sequence[str] = ()) -> tuple[list[Document], list[str]]:
    """Every Kubernetes manifest under `root` (parsed), and a warning per file that could not be read.

    File detection and parsing are the scanner's own (`customhouse config` finds the same
    manifests); only files that turn out to be Kubernetes manifests are kept.
    """
    from customhouse.misconfig.runner import ScanResult, iter_documents

    sink = ScanResult()
    docs = list(iter_documents(root, sink, exclude=exclude, file_types=("kubernetes",)))
    return docs, sink.warnings


def netpol_findings(tree: Document, target: str = "") -> list[Finding]:
    """The CH-K8S-NP findings of a tree document, each attributed to (and inline-suppressible in)
    the manifest it points at."""
    from customhouse.misconfig.engine import Options, checks_for
    from customhouse.misconfig.k8s.netpol import tree_documents
    from customhouse.misconfig.runner import to_finding

    files = {d.path: d for d in tree_documents(tree)}
    out = []
    for c in checks_for("kubernetes-tree"):
        if not c.meta.id.startswith(CHECK_PREFIX):
            continue
        for v in c.run(tree, Options()):
            out.append(to_finding(files.get(v.path, tree), c, v, target))
    return out


def cmd_netpol(args: argparse.Namespace) -> int:

    from customhouse.cli import _emit, _severities, _warn
    from customhouse.match.triage import gate, triage
    from customhouse.misconfig.checks.k8s_netpol import analysis
    from customhouse.misconfig.k8s.netpol import matrix_dict, to_dot
    from customhouse.misconfig.k8s.objects import tree_document
    from customhouse.report.findings_json import finding_dict
    from customhouse.report.jsonlayout import dump_json
    from customhouse.report.scan_report import ordered, summary

    severities = _severities(args.severity) if args.severity else ()
    if args.fail_on:
        _severities(args.fail_on, "--fail-on")
    docs, warnings = load_documents(args.path, args.exclude)
    root = str(args.path)
    tree = tree_document(root, docs)
    a = analysis(tree)
    findings = netpol_findings(tree, root)
    findings, expired = triage(findings, args.ignore_file, severities)
    warnings.extend(expired)
    findings = ordered(findings)
    warnings.extend(a.warnings)
    if not docs:
        warnings.append(f"{root}: no Kubernetes manifests found")
    if not args.quiet:
        for w in warnings:
            _warn(w)
    if args.format == "json":
        data = matrix_dict(a, root)
        data["findings_summary"] = summary(findings)
        data["findings"] = [finding_dict(f) for f in findings]
        data["warnings"] = warnings
        text = dump_json(data, inline_depth=2)
    elif args.format == "dot":
        text = to_dot(a)
    else:
        text = render_table(a, findings, root, warnings)
    _emit(text, args.output)
    return EXIT_FINDINGS if gate(findings, args.fail_on) else EXIT_OK


# --------------------------------------------------------------------------------------------
# the table


def _isolation(a: Analysis, i: int, direction: str) -> str:
    pols = a.in_policies[i] if direction == "ingress" else a.eg_policies[i]
    if not pols:
        return "open (no policy)"
    return f"isolated ({len(pols)} polic{'y' if len(pols) == 1 else 'ies'})"


def render_table(a: Analysis, findings: Sequence[Finding], root: str, warnings: Sequence[str] = ()) -> str:
    """Workloads, the matrix (a grid when small, pairs otherwise), outside access, findings."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from customhouse.misconfig.k8s.netpol import describe_addresses
    from customhouse.model import TargetInfo
    from customhouse.report.findings_table import render_table as render_findings
    from customhouse.report.scan_report import ScanReport

    buf = io.StringIO()
    console = Console(file=buf, width=WIDTH, force_terminal=False, color_system=None, emoji=False)
    ws = a.workloads

    t = Table(title=Text(f"Workloads under {root}"), title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("#", "Workload", "Ingress", "Egress"):
        t.add_column(col, overflow="fold")
    for i, w in enumerate(ws):
        host = " (hostNetwork: policies may not apply)" if w.host_network else ""
        t.add_row(str(i + 1), Text(w.id + host), _isolation(a, i, "ingress"), _isolation(a, i, "egress"))
    console.print(t)

    conns = a.connections()
    pods = {(c.src, c.dst): c.ports.label() for c in conns if c.src != "external" and c.dst != "external"}
    if ws and len(ws) <= GRID_MAX:
        console.print(Text("Connectivity: the row's pods may connect to the column's on these ports (empty = denied)"))
        g = Table(box=box.SIMPLE_HEAD)
        g.add_column("from \\ to", overflow="fold")
        for i in range(len(ws)):
            g.add_column(str(i + 1), overflow="fold")
        for i, wa in enumerate(ws):
            g.add_row(f"{i + 1}", *(Text(pods.get((wa.id, wb.id), "")) for wb in ws))
        console.print(g)
    elif ws:
        lst = Table(title=Text("Allowed connections"), title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("From", "To", "Ports"):
            lst.add_column(col, overflow="fold")
        for (src, dst), label in pods.items():
            lst.add_row(Text(src), Text(dst), Text(label))
        console.print(lst)

    if ws:
        inbound: dict[str, list[str]] = {}
        outbound: dict[str, list[str]] = {}
        for c in conns:
            desc = (
                "all"
                if c.ports.is_all and _everything(c.addresses)
                else f"{describe_addresses(c.addresses)}: {c.ports.label()}"
            )
            if c.src == "external":
                inbound.setdefault(c.dst, []).append(desc)
            elif c.dst == "external":
                outbound.setdefault(c.src, []).append(desc)
        e = Table(title=Text("Outside the cluster (ipBlock)"), title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("#", "From outside", "To outside"):
            e.add_column(col, overflow="fold")
        for i, w in enumerate(ws):
            e.add_row(str(i + 1), Text("\n".join(inbound.get(w.id, []))), Text("\n".join(outbound.get(w.id, []))))
        console.print(e)

    report = ScanReport(
        target=TargetInfo(name=root, kind="netpol"), os=None, findings=tuple(findings), warnings=tuple(warnings)
    )
    head = "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
    return head + render_findings(report)


def _everything(addresses: Sequence[tuple[int, int, int]]) -> bool:
    from customhouse.misconfig.k8s.netpol import ALL_ADDRESSES

    return tuple(addresses) == ALL_ADDRESSES
